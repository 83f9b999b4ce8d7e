"""A label image to a tagged mesh (geometry.kind: segmentation), and a whole case from images: the mesh keeps the
label's volume and surface, respects the affine, names its boundaries from the labels and the image edge; bad
label images, masks and grids are one error line naming the files."""

import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

# isort: split
import nibabel
import numpy as np
import pytest
import pyvista
import ufl
from dolfinx import fem
from dolfinx.mesh import entities_to_geometry
from mpi4py import MPI

from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError
from bmes_fem.imaging.segmentation import bone_mask, marching_cubes_surface
from bmes_fem.imaging.volume import read_volume
from bmes_fem.mesh.build import build_domain

VOXEL_MM = 1.0
SHAPE = (32, 40, 30)
# voxel axis 0 along -x, axis 1 along +z, axis 2 along +y: a flipped, permuted affine the mesh must follow
AFFINE = np.array([[-VOXEL_MM, 0, 0, 40.0], [0, 0, VOXEL_MM, -25.0], [0, VOXEL_MM, 0, -30.0], [0, 0, 0, 1]])
HEAD_CENTRE_MM = np.array([24.0, -10.0, -4.0])
HEAD_RADIUS_MM, SHAFT_RADIUS_MM = 12.0, 7.0
TRABECULAR, CORTICAL, CARTILAGE = 1, 2, 3


def _world_mm() -> np.ndarray:
    ijk = np.indices(SHAPE, dtype=float).reshape(3, -1)
    return (AFFINE[:3, :3] @ ijk + AFFINE[:3, 3:]).reshape(3, *SHAPE)


def _labels() -> np.ndarray:
    """A ball on a shaft that leaves the image through its inferior face (world z min = voxel axis 1 at 0), a 1.5 mm
    cortex and a 2 mm cartilage layer over the top of the ball."""
    x = _world_mm()
    to_head = x - HEAD_CENTRE_MM[:, None, None, None]
    head = np.linalg.norm(to_head, axis=0) - HEAD_RADIUS_MM
    shaft = np.where(to_head[2] < 0, np.hypot(to_head[0], to_head[1]) - SHAFT_RADIUS_MM, np.inf)
    distance = np.minimum(head, shaft)
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[distance < 0] = TRABECULAR
    labels[(distance < 0) & (distance > -1.5)] = CORTICAL
    labels[(distance >= 0) & (distance < 2.0) & (to_head[2] > 5.0)] = CARTILAGE
    return labels


def _save(path, values, affine=AFFINE):
    nibabel.save(nibabel.Nifti1Image(values, affine), path)
    return path


def _shared_folder(tmp_path_factory, name: str):
    """A folder every rank sees (rank 0's temporary folder)."""
    comm = MPI.COMM_WORLD
    return comm.bcast(tmp_path_factory.mktemp(name) if comm.rank == 0 else None)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """labels.nii.gz and an oedema mask (a 5 mm ball in the head) on one grid."""
    folder = _shared_folder(tmp_path_factory, "segmentation")
    if MPI.COMM_WORLD.rank == 0:
        _save(folder / "labels.nii.gz", _labels())
        lesion = np.linalg.norm(_world_mm() - (HEAD_CENTRE_MM + [0, 0, 4.0])[:, None, None, None], axis=0) < 5.0
        _save(folder / "mask.nii.gz", lesion.astype(np.uint8))
    MPI.COMM_WORLD.barrier()
    return folder


def _config(folder, **sections):
    geometry = {"kind": "segmentation", "labels": str(folder / "labels.nii.gz"), "bone": [1, 2], "cortical": [2], "articular": 3}
    return parse_config({"geometry": geometry, "mesh": {"size": "1.6 mm", "lesion_size": "1.6 mm"}, "lesions": [], **sections})


@pytest.fixture(scope="module")
def domain(images):
    return build_domain(_config(images))


def _integral(domain, measure) -> float:
    return MPI.COMM_WORLD.allreduce(fem.assemble_scalar(fem.form(fem.Constant(domain.mesh, 1.0) * measure)), op=MPI.SUM)


def _boundary_surface(domain) -> pyvista.PolyData:
    """The mesh's tagged boundary triangles [mm] (this rank's)."""
    corners = entities_to_geometry(domain.mesh, 2, domain.facet_tags.indices, False)
    points = domain.mesh.geometry.x[corners.ravel()] * 1e3
    return pyvista.PolyData(points, np.hstack([np.full((len(corners), 1), 3), np.arange(len(points)).reshape(-1, 3)]).ravel())


@pytest.mark.mpi
def test_the_mesh_holds_the_label_volume_within_one_percent(domain, images):
    """Mesh volume against voxel count x voxel volume of the bone labels (cavities filled, one piece)."""
    labels = read_volume(images / "labels.nii.gz", "label image")
    voxels_mm3 = np.count_nonzero(bone_mask(labels, (1, 2))) * labels.voxel_volume_mm3()
    mesh_mm3 = _integral(domain, ufl.dx(domain=domain.mesh)) * 1e9
    assert abs(mesh_mm3 / voxels_mm3 - 1.0) < 0.01
    assert mesh_mm3 != voxels_mm3


def test_the_mesh_surface_lies_within_one_voxel_of_the_marching_cubes_surface(domain, images):
    """Symmetric Hausdorff distance between the mesh boundary and the label's marching-cubes surface (world mm)."""
    labels = read_volume(images / "labels.nii.gz", "label image")
    vertices, triangles = marching_cubes_surface(bone_mask(labels, (1, 2)))
    reference = pyvista.PolyData(labels.world_mm(vertices.T).T, np.hstack([np.full((len(triangles), 1), 3), triangles]).ravel())
    boundary = _boundary_surface(domain)
    to_reference = np.abs(boundary.compute_implicit_distance(reference)["implicit_distance"]).max()
    to_mesh = np.abs(reference.compute_implicit_distance(boundary)["implicit_distance"]).max()
    assert max(to_reference, to_mesh) < VOXEL_MM
    assert to_mesh > 0.01 * VOXEL_MM  # smoothed and remeshed: not the staircase itself


@pytest.mark.mpi
def test_boundaries_and_regions_come_from_the_labels_and_the_image_edge(domain, images):
    """cut: the shaft's section on the image's inferior face (world z = -30.5 mm, the edge plane half a voxel below
    the outer voxel centres), of the area of the bone voxels in that layer; articular under the cartilage label;
    cortical cells where the cortex label is."""
    assert set(domain.boundaries) == {"articular", "cut", "periosteal"}
    assert set(domain.regions) == {"trabecular", "cortical"}
    ds = ufl.Measure("ds", domain=domain.mesh, subdomain_data=domain.facet_tags)
    cut_mm2 = _integral(domain, ds(domain.boundaries["cut"])) * 1e6
    layer_mm2 = np.count_nonzero(np.isin(_labels()[:, 0, :], (1, 2))) * VOXEL_MM**2
    assert cut_mm2 == pytest.approx(layer_mm2, rel=0.05)
    z_on_cut = fem.assemble_scalar(fem.form(ufl.SpatialCoordinate(domain.mesh)[2] * ds(domain.boundaries["cut"])))
    assert MPI.COMM_WORLD.allreduce(z_on_cut, op=MPI.SUM) * 1e6 / cut_mm2 == pytest.approx(-30.5e-3, rel=1e-9)
    cap_mm2 = 2 * np.pi * HEAD_RADIUS_MM**2 * (1 - 5.0 / HEAD_RADIUS_MM)  # the sphere above z = centre + 5 mm
    assert _integral(domain, ds(domain.boundaries["articular"])) * 1e6 == pytest.approx(cap_mm2, rel=0.1)
    dx = ufl.Measure("dx", domain=domain.mesh, subdomain_data=domain.cell_tags)
    cortex_mm3 = np.count_nonzero(_labels() == CORTICAL) * VOXEL_MM**3
    assert _integral(domain, dx(domain.regions["cortical"])) * 1e9 == pytest.approx(cortex_mm3, rel=0.1)


def test_a_label_image_without_bone_lists_its_labels(tmp_path):
    _save(tmp_path / "labels.nii.gz", np.where(_labels() > 0, 7, 0).astype(np.uint8))
    with pytest.raises(ConfigError, match=r"label image '.*labels.nii.gz' has no voxel with a bone label geometry.bone = \[1, 2\] \(its labels: 0, 7\)"):
        _config(tmp_path)


def test_images_on_two_grids_are_named_with_their_affines(images, tmp_path):
    shifted = AFFINE.copy()
    shifted[:3, 3] += 5.0
    mask = _save(tmp_path / "mask.nii.gz", np.asarray(nibabel.load(images / "mask.nii.gz").dataobj), shifted)
    with pytest.raises(ConfigError, match=r"lesions.0.mask '.*mask.nii.gz' \(shape \(32, 40, 30\), affine \[\[-1, 0, 0, 45\].*and label image '.*labels.nii.gz' \(shape \(32, 40, 30\), affine \[\[-1, 0, 0, 40\].*different voxel grids"):
        _config(images, lesions=[{"kind": "mask", "mask": str(mask)}])


def test_a_mask_outside_the_bone_is_refused(images, tmp_path):
    outside = np.zeros(SHAPE, dtype=np.uint8)
    outside[:3, -3:, :3] = 1  # a corner of the image, no bone there
    mask = _save(tmp_path / "mask.nii.gz", outside)
    with pytest.raises(ConfigError, match=r"lesions.0.mask '.*mask.nii.gz' has no lesion voxel in the bone \(labels \[1, 2\]\) of label image"):
        _config(images, lesions=[{"kind": "mask", "mask": str(mask)}])
