"""A label image to a tagged tetrahedral mesh (``geometry.kind: segmentation``).

1. Bone: the voxels whose label is in ``geometry.bone``, cavities filled, the largest 6-connected piece kept.
2. Surface: marching cubes (scikit-image) of the bone padded by one empty voxel, at level 0.5 in voxel
   coordinates, so where the bone reaches the image edge the surface closes on the plane half a voxel past
   the outer voxel centres; Taubin smoothing (``geometry.smoothing_iterations``, pass band 0.1: it does not
   shrink the surface as Laplacian smoothing does) and quadric decimation with volume preservation
   (pyvista/VTK) to a mean edge of ``mesh.size``; vertices within a quarter voxel of an image-edge plane are
   put back on it. The volume enclosed stays within 1 % of the voxel count x voxel volume and the surface
   within one voxel of the marching-cubes surface (tests/test_images_segmentation.py).
3. Volume mesh: gmsh fills the surface (world mm through the image affine) with tetrahedra under the
   case's size fields (bmes_fem.mesh.meshing.mesh_on_root), keeping the surface triangles.
4. Regions: a cell is ``cortical`` if the bone voxel nearest its centroid has a label in
   ``geometry.cortical``, else ``trabecular`` (a cortex thinner than the cells is resolved no better
   than the cells are).
5. Boundaries, first match wins: the rules of ``geometry.boundaries`` (bmes_fem.mesh.importers), then
   ``cut`` (the facet's three vertices on one image-edge plane: the bone leaves the field of view there),
   then ``articular`` (the facet's midpoint within one voxel (the largest voxel edge) of a voxel of the
   ``geometry.articular`` label), else ``periosteal``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mpi4py import MPI

from bmes_fem.config.geometry import SegmentationGeometry
from bmes_fem.errors import ConfigError, MeshError
from bmes_fem.imaging.volume import ImageVolume, read_volume
from bmes_fem.lazy import lazy_module
from bmes_fem.mesh.domain import Domain
from bmes_fem.mesh.importers import _group_tag, _node_index, _outward_normals, boundary_names, check_closed
from bmes_fem.mesh.meshing import BOUNDARY_TAGS, REGION_TAGS, MeshSizes, mesh_on_root

gmsh = lazy_module("gmsh")
ndimage = lazy_module("scipy.ndimage")
measure = lazy_module("skimage.measure")
pyvista = lazy_module("pyvista")

MM_PER_M = 1e3
TAUBIN_PASS_BAND = 0.1
CUT_EXTENSION_VOXELS = 4  # the bone continued this far past the image edge before it is cut there
EDGE_SNAP_VOXELS = 0.25  # vertices this close to an image-edge plane are put on it
MAX_DECIMATION = 0.95
ARTICULAR_REACH_VOXELS = 1.0  # a facet within this many (largest) voxel edges of the articular label is articular


def read_labels(geometry: SegmentationGeometry) -> ImageVolume:
    """The label image, checked: integer labels, every label the geometry names present (else the labels it has)."""
    labels = read_volume(geometry.labels, "label image")
    where = f"label image '{labels.path}'"
    if labels.values.dtype.kind == "f" and np.any(labels.values != np.round(labels.values)):
        index = np.argwhere(labels.values != np.round(labels.values))[0]
        raise ConfigError(f"{where}: {labels.describe_voxel(index)}; expected integer labels")
    present = set(np.unique(labels.values).astype(int).tolist())
    if not present & set(geometry.bone):
        raise ConfigError(
            f"{where} has no voxel with a bone label geometry.bone = {list(geometry.bone)} (its labels: {labels.labels_present()}); "
            "expected the label values of the bone"
        )
    for key, wanted in (("cortical", geometry.cortical), ("articular", () if geometry.articular is None else (geometry.articular,))):
        missing = [label for label in wanted if label not in present]
        if missing:
            raise ConfigError(f"{where} has no voxel with geometry.{key} label {missing} (its labels: {labels.labels_present()})")
    return labels


def bone_mask(labels: ImageVolume, bone: tuple[int, ...]) -> np.ndarray:
    """Voxels of the bone labels, cavities filled, only the largest 6-connected piece."""
    mask = ndimage.binary_fill_holes(np.isin(labels.values, bone))
    pieces, count = ndimage.label(mask)
    if count > 1:
        sizes = np.bincount(pieces.ravel())[1:]
        mask = pieces == 1 + int(np.argmax(sizes))
    return mask


def marching_cubes_surface(mask: np.ndarray, extend: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (n, 3, voxel coordinates) and triangles of the 0.5 level of the mask, continued ``extend`` voxels
    past the image edge by repeating its outer voxels, then padded by one empty voxel (a closed surface);
    triangles ordered counter-clockwise seen from outside (VTK's orientation; scikit-image's is the reverse)."""
    padded = np.pad(np.pad(mask.astype(np.float32), extend, mode="edge"), 1)
    vertices, triangles, _, _ = measure.marching_cubes(padded, 0.5, allow_degenerate=False)
    return vertices - (extend + 1.0), triangles[:, ::-1]


def _polydata(vertices: np.ndarray, triangles: np.ndarray):
    return pyvista.PolyData(vertices, np.hstack([np.full((len(triangles), 1), 3), triangles]).ravel())


def _mean_edge(vertices: np.ndarray, triangles: np.ndarray, scale: np.ndarray) -> float:
    corners = vertices[triangles] * scale
    return float(np.mean(np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2)))


def _edge_planes(shape: tuple[int, ...]):
    """(axis, voxel coordinate) of the six image-edge planes, half a voxel past the outer voxel centres."""
    return [(axis, plane) for axis, size in enumerate(shape) for plane in (-0.5, size - 0.5)]


def _put_on_edge_planes(vertices: np.ndarray, shape: tuple[int, ...], within: float) -> np.ndarray:
    """Vertices within ``within`` voxels of an image-edge plane moved onto it; none beyond the image."""
    vertices = vertices.copy()
    for axis, plane in _edge_planes(shape):
        vertices[np.abs(vertices[:, axis] - plane) < within, axis] = plane
    return np.clip(vertices, -0.5, np.array(shape, dtype=float) - 0.5)


def bone_surface(mask: np.ndarray, voxel_size_mm: np.ndarray, edge_mm: float, smoothing_iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed, decimated surface (vertices in voxel coordinates, triangles) of the bone mask (module docstring 2).

    Where the bone reaches the image edge, the surface is continued past it, smoothed, and cut by the edge
    plane (vtkClipClosedSurface), so the cut is a flat face with a sharp rim, the area of the bone's section."""
    vertices, triangles = marching_cubes_surface(mask, CUT_EXTENSION_VOXELS)
    surface = _polydata(vertices, triangles)
    if smoothing_iterations:
        surface = surface.smooth_taubin(n_iter=smoothing_iterations, pass_band=TAUBIN_PASS_BAND)
    for axis, plane in _edge_planes(mask.shape):
        if np.any(np.take(mask, 0 if plane < 0 else -1, axis=axis)):
            normal = np.eye(3)[axis] * (1.0 if plane < 0 else -1.0)
            surface = surface.clip_closed_surface(normal=normal, origin=np.where(np.eye(3)[axis] > 0, plane, 0.0))
    surface = surface.triangulate().clean()
    reduction = 1.0 - (_mean_edge(vertices, triangles, voxel_size_mm) / edge_mm) ** 2
    if reduction > 0:
        surface = surface.decimate(min(reduction, MAX_DECIMATION), volume_preservation=True)
    return _put_on_edge_planes(np.array(surface.points, dtype=float), mask.shape, EDGE_SNAP_VOXELS), surface.faces.reshape(-1, 4)[:, 1:]


def on_image_edge(vertices_ijk: np.ndarray, triangles: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per triangle: whether its three vertices lie on one image-edge plane (voxel coordinate -0.5 or n - 0.5)."""
    edge = np.zeros(len(triangles), dtype=bool)
    for axis, plane in _edge_planes(shape):
        edge |= np.all(np.isclose(vertices_ijk[triangles, axis], plane, atol=1e-6), axis=1)
    return edge


class _SegmentedBone:
    """What the gmsh callbacks on rank 0 share: the label image, the bone and the surface in voxel coordinates."""

    def __init__(self, geometry: SegmentationGeometry, edge_mm: float) -> None:
        self.geometry = geometry
        self.labels = read_labels(geometry)
        self.mask = bone_mask(self.labels, geometry.bone)
        self.vertices_ijk, self.triangles = bone_surface(self.mask, self.labels.voxel_size_mm(), edge_mm, geometry.smoothing_iterations)
        check_closed(self.triangles, f"{self.labels.path} (bone surface)")

    def build(self) -> None:
        """A discrete gmsh surface (world mm) and the volume it bounds (no physical group yet)."""
        points_mm = self.labels.world_mm(self.vertices_ijk.T).T
        surface = gmsh.model.addDiscreteEntity(2)
        gmsh.model.mesh.addNodes(2, surface, np.arange(1, len(points_mm) + 1), points_mm.ravel())
        gmsh.model.mesh.addElementsByType(surface, 2, [], (self.triangles + 1).ravel())
        gmsh.model.mesh.classifySurfaces(np.radians(40.0), True, True, np.pi)
        gmsh.model.mesh.createGeometry()
        surfaces = [tag for _, tag in gmsh.model.getEntities(2)]
        volume = gmsh.model.geo.addVolume([gmsh.model.geo.addSurfaceLoop(surfaces)])
        gmsh.model.geo.synchronize()
        self.volume = volume

    def tag(self) -> None:
        """After meshing: region and boundary physical groups (module docstring 4, 5)."""
        node_tags, coords, _ = gmsh.model.mesh.getNodes()
        index = _node_index(node_tags)
        points_mm = coords.reshape(-1, 3)
        tets = index[gmsh.model.mesh.getElementsByType(4)[1].reshape(-1, 4)]
        triangles = index[gmsh.model.mesh.getElementsByType(2)[1].reshape(-1, 3)]
        self._tag_regions(node_tags, points_mm, tets)
        self._tag_boundaries(node_tags, points_mm, triangles, tets)

    def _tag_regions(self, node_tags: np.ndarray, points_mm: np.ndarray, tets: np.ndarray) -> None:
        nearest_bone = ndimage.distance_transform_edt(~self.mask, return_distances=False, return_indices=True)
        ijk = np.rint(self.labels.index_of(points_mm[tets].mean(axis=1).T)).astype(int)
        for axis, size in enumerate(self.mask.shape):
            np.clip(ijk[axis], 0, size - 1, out=ijk[axis])
        bone_voxel = tuple(nearest_bone[(axis, *ijk)] for axis in range(3))
        cortical = np.isin(self.labels.values[bone_voxel], self.geometry.cortical)
        gmsh.model.mesh.removeElements(3, self.volume)  # its tetrahedra move to one entity per region
        for name, chosen in (("trabecular", ~cortical), ("cortical", cortical)):
            if chosen.any():
                entity = gmsh.model.addDiscreteEntity(3)
                gmsh.model.mesh.addElementsByType(entity, 4, [], node_tags[tets[chosen]].ravel())
                gmsh.model.addPhysicalGroup(3, [entity], REGION_TAGS[name], name)

    def _tag_boundaries(self, node_tags: np.ndarray, points_mm: np.ndarray, triangles: np.ndarray, tets: np.ndarray) -> None:
        geometry = self.geometry
        midpoints_mm = points_mm[triangles].mean(axis=1)
        names = boundary_names(geometry.boundaries, midpoints_mm / MM_PER_M, _outward_normals(points_mm, triangles, tets))
        free = names == "periosteal"
        ijk = self.labels.index_of(points_mm.T).T
        cut = free & on_image_edge(ijk, triangles, self.mask.shape)
        names[cut] = "cut"
        free &= ~cut
        if geometry.articular is not None:
            voxel_mm = self.labels.voxel_size_mm()
            distance_mm = ndimage.distance_transform_edt(self.labels.values != geometry.articular, sampling=voxel_mm)
            reach_mm = ndimage.map_coordinates(distance_mm, self.labels.index_of(midpoints_mm.T), order=1, mode="nearest")
            articular = free & (reach_mm <= ARTICULAR_REACH_VOXELS * voxel_mm.max())
            names[articular] = "articular"
        hints = {
            "cut": "the bone does not reach the image edge; give rules for geometry.boundaries.cut",
            "articular": f"no bone surface lies within one voxel of label {geometry.articular}; give rules for geometry.boundaries.articular",
        }
        for i, name in enumerate(geometry.boundary_names()):
            chosen = triangles[names == name]
            if not len(chosen):
                hint = hints.get(name, f"the rules of geometry.boundaries.{name} select no surface facet")
                raise MeshError(f"label image '{self.labels.path}': no '{name}' boundary: {hint}")
            entity = gmsh.model.addDiscreteEntity(2)
            gmsh.model.mesh.addElementsByType(entity, 2, [], node_tags[chosen].ravel())
            gmsh.model.addPhysicalGroup(2, [entity], _group_tag(name, BOUNDARY_TAGS, i), name)


def mesh_segmentation(comm: MPI.Comm, geometry: SegmentationGeometry, sizes: MeshSizes, *, save_path: Path | None = None) -> Domain:
    """The tagged tetrahedral mesh of the bone in the label image (module docstring), distributed (collective)."""
    if sizes.articular is not None:
        raise ConfigError(
            "mesh.articular_size refines under the 'articular' boundary, which geometry.kind = segmentation names only "
            "after meshing; remove mesh.articular_size (mesh.lesion_size refines around the lesion)"
        )
    bone: list[_SegmentedBone] = []

    def build() -> None:
        bone.append(_SegmentedBone(geometry, sizes.global_m * MM_PER_M))
        bone[0].build()

    return mesh_on_root(
        comm, str(geometry.labels), build, MeshSizes(sizes.global_m, sizes.zones), unit_to_m=1.0 / MM_PER_M,
        save_path=save_path, after_meshing=lambda: bone[0].tag(),
    )  # fmt: skip
