"""NIfTI lesion masks: a 3D voxel image and its affine (voxel indices to world mm), read with nibabel.

Checked, each naming the file: the image is 3D and numeric; every voxel is finite (the first bad voxel
is named); the affine is finite and non-singular (it is printed); the values are a soft mask in [0, 1]
(the share of each voxel in the lesion), or an integer label image of which the lesion's ``label`` is
taken (without ``label``, labels other than 0 and 1 are an error listing the labels present); at least
one voxel belongs to the lesion. Whether the mask meets the mesh is checked where both are known
(bmes_fem.physics.materials).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bmes_fem.errors import ConfigError
from bmes_fem.inputs.files import input_file
from bmes_fem.inputs.foreign import reading
from bmes_fem.lazy import lazy_module

nibabel = lazy_module("nibabel")

NIFTI = "a 3D NIfTI voxel mask (.nii or .nii.gz)"
SINGULAR_VOLUME_RATIO = 1e-9  # |det A| / product of the column lengths: below it the voxel axes are coplanar
LISTED_LABELS = 20  # labels named in an error at most


@dataclass(frozen=True)
class VoxelMask:
    """A lesion mask: per voxel the lesion's share in [0, 1], and the 4x4 affine voxel index -> world mm."""

    path: Path
    values: np.ndarray
    affine: np.ndarray

    def voxel_size_mm(self) -> np.ndarray:
        """Edge lengths of a voxel along its three index axes (the lengths of the affine's columns)."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def lesion_bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """World box (mm) of the centres of the voxels with a share > 0: the affine image of their index box."""
        inside = np.nonzero(self.values > 0)
        low, high = np.array([i.min() for i in inside]), np.array([i.max() for i in inside])
        corners = np.array([np.where(pick, high, low) for pick in itertools.product((0, 1), repeat=3)], dtype=float).T
        world = self.affine[:3, :3] @ corners + self.affine[:3, 3:]
        return world.min(axis=1), world.max(axis=1)


def _voxel(index: np.ndarray, data: np.ndarray) -> str:
    position = tuple(int(i) for i in index)
    return f"voxel {position} = {data[position].item()!r}"


def _labels(data: np.ndarray) -> str:
    labels = np.unique(data)
    listed = ", ".join(f"{v:g}" for v in labels[:LISTED_LABELS])
    return listed + (f", ... ({len(labels)} labels)" if len(labels) > LISTED_LABELS else "")


def _check_affine(affine: np.ndarray | None, where: str) -> np.ndarray:
    """The affine as a float 4x4 array; ConfigError unless it is finite and its voxel axes span space."""
    matrix = np.full((4, 4), np.nan) if affine is None else np.asarray(affine, dtype=float)
    axes = matrix[:3, :3]
    usable = np.all(np.isfinite(matrix)) and abs(np.linalg.det(axes)) > SINGULAR_VOLUME_RATIO * np.prod(np.linalg.norm(axes, axis=0))
    if not usable:
        printed = "[" + ", ".join("[" + ", ".join(f"{value:.6g}" for value in row) + "]" for row in matrix) + "]"
        raise ConfigError(f"{where} has the affine {printed}; expected a finite, non-singular voxel-to-world matrix (mm)")
    return matrix


def read_mask(path: str | Path, label: int | None = None) -> VoxelMask:
    """Read and check a lesion mask (module docstring); ``label``: the value marking the lesion in a label image."""
    path = input_file(path, "lesion mask", NIFTI)
    where = f"lesion mask '{path}'"
    with reading(path, "lesion mask", "by nibabel", NIFTI):
        image = nibabel.load(str(path))
        data = np.asarray(image.dataobj)
        affine = image.affine
    if data.ndim != 3:
        raise ConfigError(f"{where} has shape {data.shape}; expected {NIFTI}: one volume of three axes")
    if data.dtype.kind not in "biuf":
        raise ConfigError(f"{where} holds voxels of type {data.dtype}; expected {NIFTI} of numbers")
    affine = _check_affine(affine, where)
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise ConfigError(f"{where}: {_voxel(np.argwhere(~np.isfinite(data))[0], data)}; expected a finite number in every voxel")
    fractional = data != np.round(data) if data.dtype.kind == "f" else np.zeros(data.shape, dtype=bool)
    if label is not None:
        if fractional.any():
            raise ConfigError(f"{where}: label = {label} needs an integer label image, but {_voxel(np.argwhere(fractional)[0], data)}")
        values = (data == label).astype(float)
        if not values.any():
            raise ConfigError(f"{where} has no voxel with label {label} (its labels: {_labels(data)})")
        return VoxelMask(path, values, affine)
    outside = (data < 0) | (data > 1)
    if outside.any() and not fractional.any():
        raise ConfigError(
            f"{where} is an integer label image (labels {_labels(data)}); expected 0/1 or a soft mask in [0, 1], "
            f"or set this lesion's label to the value that marks it (e.g. label: {int(data[outside].flat[0])})"
        )
    if outside.any():
        raise ConfigError(f"{where}: {_voxel(np.argwhere(outside)[0], data)} lies outside [0, 1]; expected a soft mask in [0, 1]")
    values = data.astype(float)
    if not values.any():
        raise ConfigError(f"{where}: all {values.size} voxels are 0; expected at least one voxel in the lesion")
    return VoxelMask(path, values, affine)
