"""Fields on the mesh resampled onto an image grid, written as NIfTI with the image's affine, and the Dice overlap.

A voxel takes the value of the field at its centre: the finite-element interpolant (P1 pressure and chi:
linear within the cell; DG1 excess fluid; DG0 risk index: the containing cell's value) evaluated in the
cell that contains the centre (the first rank's owned cell, for a centre on a face between ranks).
Voxels whose centre lies outside the mesh are 0: NaN would be the honest "no value", but 3D Slicer and
ITK-SNAP window and threshold NaN voxels inconsistently, and 0 is no value any written field takes in
bone (pressure ~25 mmHg; chi, risk and excess fluid are 0 in healthy unloaded bone, which reads the same).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dolfinx import fem, geometry
from mpi4py import MPI

from bmes_fem.imaging.volume import ImageVolume
from bmes_fem.lazy import lazy_module
from bmes_fem.mesh.domain import Domain

nibabel = lazy_module("nibabel")

MM_PER_M = 1e3


class ImageSampler:
    """The voxel centres of an image that lie in the mesh, each with the owned cell holding it on this rank (collective)."""

    def __init__(self, domain: Domain, volume: ImageVolume) -> None:
        mesh = domain.mesh
        self.comm, self.shape, self.affine = mesh.comm, volume.values.shape, volume.affine
        x_m = mesh.geometry.x
        lower = x_m.min(axis=0) if len(x_m) else np.full(3, np.inf)
        upper = x_m.max(axis=0) if len(x_m) else np.full(3, -np.inf)
        self.comm.Allreduce(MPI.IN_PLACE, lower, op=MPI.MIN)
        self.comm.Allreduce(MPI.IN_PLACE, upper, op=MPI.MAX)
        centres_m = volume.voxel_centres_mm().T / MM_PER_M
        candidates = np.flatnonzero(np.all((centres_m >= lower) & (centres_m <= upper), axis=1))
        points = np.ascontiguousarray(centres_m[candidates])
        n_owned = mesh.topology.index_map(mesh.topology.dim).size_local
        tree = geometry.bb_tree(mesh, mesh.topology.dim, entities=np.arange(n_owned, dtype=np.int32), padding=1e-12)
        colliding = geometry.compute_colliding_cells(mesh, geometry.compute_collisions_points(tree, points), points)
        found = np.flatnonzero(np.diff(colliding.offsets) > 0)
        self.voxels = candidates[found]  # flat voxel indices (C order) found on this rank
        self.points_m = points[found]
        self.cells = colliding.array[colliding.offsets[found]]

    def to_image(self, local_values: np.ndarray) -> np.ndarray | None:
        """The image (rank 0; None elsewhere) from this rank's values at its voxels: 0 outside the mesh; a voxel
        found on several ranks takes the lowest rank's value (collective)."""
        pieces = self.comm.gather((self.voxels, np.asarray(local_values, dtype=float)), root=0)
        if self.comm.rank != 0:
            return None
        voxels = np.concatenate([piece[0] for piece in pieces])
        values = np.concatenate([piece[1] for piece in pieces])
        unique, first = np.unique(voxels, return_index=True)
        image = np.zeros(int(np.prod(self.shape)))
        image[unique] = values[first]
        return image.reshape(self.shape)

    def function(self, function: fem.Function) -> np.ndarray | None:
        """A scalar finite-element function at the voxel centres, as an image on rank 0 (collective)."""
        values = function.eval(self.points_m, self.cells)[:, 0] if len(self.cells) else np.empty(0)
        return self.to_image(values)

    def cell_values(self, owned_cell_values: np.ndarray) -> np.ndarray | None:
        """Per-owned-cell values (NaN read as 0) at the voxel centres, as an image on rank 0 (collective)."""
        return self.to_image(np.nan_to_num(np.asarray(owned_cell_values, dtype=float)[self.cells], nan=0.0))

    def inside(self) -> np.ndarray | None:
        """The voxels whose centre lies in the mesh, as a boolean image on rank 0 (collective)."""
        image = self.to_image(np.ones(len(self.cells)))
        return None if image is None else image > 0


def write_nifti(path: Path, image: np.ndarray, affine: np.ndarray) -> None:
    """``image`` as float32 NIfTI with ``affine`` as both sform and qform (code 1, scanner), units mm."""
    nifti = nibabel.Nifti1Image(image.astype(np.float32), affine)
    nifti.set_sform(affine, code=1)
    nifti.set_qform(affine, code=1)
    nifti.header.set_xyzt_units("mm")
    nibabel.save(nifti, str(path))


def dice(predicted: np.ndarray, reference: np.ndarray) -> float | None:
    """2 |P & R| / (|P| + |R|) of two boolean images; None when both are empty."""
    total = int(np.count_nonzero(predicted)) + int(np.count_nonzero(reference))
    return None if total == 0 else 2.0 * np.count_nonzero(predicted & reference) / total
