"""Results back in image space: a known field resampled to an image grid and read back with the input affine, the
excess fluid content against its definition, the Dice coefficient, the slice figure, and a whole case from images
(segmentation, CT material, mask lesion) writing its NIfTI results on the input grid."""

import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

# isort: split
import math
from types import SimpleNamespace

import nibabel
import numpy as np
import pytest
from conftest import box_domain
from dolfinx import fem
from mpi4py import MPI
from test_images_segmentation import AFFINE, HEAD_CENTRE_MM, SHAPE, _labels, _save, _shared_folder, _world_mm

from bmes_fem import run_case
from bmes_fem.config.loader import parse_config
from bmes_fem.imaging.figures import SliceImages, plot_lesion_slices
from bmes_fem.imaging.resample import ImageSampler, dice, write_nifti
from bmes_fem.imaging.volume import ImageVolume
from bmes_fem.output.images import IMAGE_FILES, SLICE_FIGURE, excess_fluid
from bmes_fem.physics.materials import build_tissue_fields


def _oblique_grid() -> ImageVolume:
    """A 1.3 mm grid rotated 30 deg about x, axis 0 flipped, reaching past the 20 mm box on every side."""
    angle = math.radians(30.0)
    rotation = np.array([[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([-1.3, 1.3, 1.3])
    affine[:3, 3] = (24.0, 2.0, -14.0)
    return ImageVolume(None, np.zeros((22, 26, 26)), affine)


def _circumradii_mm(domain) -> np.ndarray:
    """Circumradius of each owned tetrahedron [mm]."""
    mesh = domain.mesh
    n_owned = mesh.topology.index_map(3).size_local
    corners = mesh.geometry.x[mesh.geometry.dofmaps[0][:n_owned, :4]] * 1e3
    edges = corners[:, 1:] - corners[:, :1]
    centres = np.linalg.solve(2 * edges, np.sum(edges**2, axis=2)[..., None])[..., 0]
    return np.linalg.norm(centres, axis=1)


@pytest.mark.mpi
def test_a_known_field_resampled_and_read_back_matches_at_the_voxel_centres(tmp_path_factory):
    """f = |x|^2 (mm^2) interpolated in P1 on a 20 mm box, resampled onto an oblique grid, written as NIfTI and read
    back: at the voxel centres in the mesh, I_h f - f = R_T^2 - |x - c_T|^2 (c_T, R_T the containing cell's
    circumsphere) lies in [0, max R_T^2]; outside the mesh 0; the affine is the grid's. A linear field comes back
    to round-off."""
    comm = MPI.COMM_WORLD
    folder = _shared_folder(tmp_path_factory, "round_trip")
    domain = box_domain(n=4, length_m=0.02)
    grid = _oblique_grid()
    sampler = ImageSampler(domain, grid)
    space = fem.functionspace(domain.mesh, ("Lagrange", 1))
    quadratic, linear = fem.Function(space), fem.Function(space)
    quadratic.interpolate(lambda x: np.sum((x * 1e3) ** 2, axis=0))
    linear.interpolate(lambda x: 3.0 + x[0] * 1e3 - 2.0 * x[1] * 1e3 + 0.5 * x[2] * 1e3)
    images = sampler.function(quadratic), sampler.function(linear), sampler.inside()
    bound_mm2 = comm.allreduce(float(_circumradii_mm(domain).max()), op=MPI.MAX) ** 2
    if comm.rank == 0:
        write_nifti(folder / "quadratic.nii.gz", images[0], grid.affine)
        written = nibabel.load(folder / "quadratic.nii.gz")
        np.testing.assert_allclose(written.affine, grid.affine, atol=1e-5)
        read = np.asarray(written.dataobj, dtype=float).ravel()
        inside = images[2].ravel()
        x = grid.voxel_centres_mm()
        error = read[inside] - np.sum(x[:, inside] ** 2, axis=0)
        assert inside.sum() > 1000 and (~inside).sum() > 1000
        assert error.min() > -1e-3 and error.max() <= bound_mm2 * (1 + 1e-6)  # float32 storage: 1e-3 mm^2 at 400 mm^2
        assert error.max() > 0.1 * bound_mm2
        assert np.all(read[~inside] == 0.0)
        exact = 3.0 + x[0] - 2.0 * x[1] + 0.5 * x[2]
        np.testing.assert_allclose(images[1].ravel()[inside], exact[inside], atol=1e-10)


def test_excess_fluid_is_alpha_div_u_plus_storage_times_the_pressure_rise():
    """u = e x (div u = 3 e) and a uniform p: zeta - zeta_h = alpha 3 e + (1/M + c_vasc)(p - p0) in trabecular bone."""
    config = parse_config({"lesions": []})
    domain = box_domain(n=2)
    pressure_space = fem.functionspace(domain.mesh, ("Lagrange", 1))
    tissue = build_tissue_fields(domain, config, pressure_space)
    strain, rise_Pa = -1e-4, 1500.0
    displacement = fem.Function(fem.functionspace(domain.mesh, ("Lagrange", 2, (3,))))
    displacement.interpolate(lambda x: strain * x)
    pressure = fem.Function(pressure_space)
    pressure.x.array[:] = config.fluid.target_pressure + rise_Pa
    state = SimpleNamespace(domain=domain, tissue=tissue, displacement=displacement, pressure=pressure)
    trabecular = config.tissue.trabecular
    expected = trabecular.biot_coefficient * 3 * strain + (1 / trabecular.biot_modulus + config.fluid.vascular_storage) * rise_Pa
    values = excess_fluid(state, config.fluid.target_pressure).x.array
    np.testing.assert_allclose(values, expected, rtol=1e-10)
    assert expected > 0 > trabecular.biot_coefficient * 3 * strain  # the compression takes from the excess


def test_dice_is_twice_the_overlap_over_the_sizes():
    predicted = np.zeros((4, 4, 4), dtype=bool)
    reference = np.zeros_like(predicted)
    predicted[:2], reference[1:3] = True, True  # 32 and 32 voxels, 16 shared
    assert dice(predicted, reference) == pytest.approx(0.5)
    assert dice(reference, reference) == 1.0
    assert dice(np.zeros_like(predicted), np.zeros_like(predicted)) is None


def test_the_slice_figure_is_written(tmp_path):
    x = _world_mm()
    labels = _labels()
    lesion = np.linalg.norm(x - HEAD_CENTRE_MM[:, None, None, None], axis=0) < 5.0
    images = SliceImages(
        AFFINE, labels.astype(float), "label image", np.where(lesion, 1e-3, -1e-4), labels > 0, lesion,
        np.linalg.norm(x - (HEAD_CENTRE_MM + [0, 0, 8])[:, None, None, None], axis=0) < 3.0, "risk zone R >= 0.5",
    )  # fmt: skip
    path = plot_lesion_slices(images, tmp_path / "slices.png", "test")
    assert path.stat().st_size > 20_000


@pytest.fixture(scope="module")
def image_case(tmp_path_factory):
    """A case from images alone: labels, a CT (HU rising towards +z), an oedema ball; 4 mm cells."""
    comm = MPI.COMM_WORLD
    folder = _shared_folder(tmp_path_factory, "image_case")
    if comm.rank == 0:
        _save(folder / "labels.nii.gz", _labels())
        _save(folder / "ct.nii.gz", (300.0 + 10.0 * _world_mm()[2]).astype(np.float32))
        lesion = np.linalg.norm(_world_mm() - (HEAD_CENTRE_MM + [0, 0, 4.0])[:, None, None, None], axis=0) < 6.0
        _save(folder / "mask.nii.gz", lesion.astype(np.uint8))
    comm.barrier()
    centre_m = ((HEAD_CENTRE_MM + [0, 0, 4.0]) * 1e-3).tolist()
    config = parse_config({
        "case": "image_case",
        "geometry": {"kind": "segmentation", "labels": str(folder / "labels.nii.gz"), "bone": [1, 2], "cortical": [2], "articular": 3},
        "mesh": {"size": "4 mm", "lesion_size": "3 mm"},
        "ct_material": {"image": str(folder / "ct.nii.gz"), "calibration": {"kind": "linear", "slope_g_per_cm3_per_HU": 0.0008, "intercept_g_per_cm3": 0.0}},
        "lesions": [{"kind": "mask", "mask": str(folder / "mask.nii.gz"), "centre": centre_m, "semi_axes": [0.006] * 3}],
        "load": {"head_centre": (HEAD_CENTRE_MM * 1e-3).tolist()},
        "output": {"results_dir": str(folder / "results"), "figures": False},
    })  # fmt: skip
    return run_case(config), folder


@pytest.mark.mpi
def test_a_case_from_images_writes_its_results_on_the_input_grid(image_case):
    """Every image output has the label image's shape and affine; the pressure image holds the solved range in the
    bone and 0 outside; chi is ~1 at the mask's centre; summary.json has the Dice, the CT calibration and moduli."""
    result, folder = image_case
    summary = result.summary["images"]
    assert summary["grid_shape"] == list(SHAPE)
    assert 0.0 <= summary["dice_predicted_oedema_vs_mask"] <= 1.0
    assert summary["mask_volume_mm3"] == pytest.approx(np.count_nonzero(nibabel.load(folder / "mask.nii.gz").get_fdata()), rel=1e-12)
    ct = summary["ct_material"]
    assert ct["calibration_slope_g_per_cm3_per_HU"] == 0.0008
    assert 0 < ct["modulus_min_MPa"] < ct["modulus_mean_MPa"] < ct["modulus_max_MPa"]
    if MPI.COMM_WORLD.rank != 0:
        return
    images = {name: nibabel.load(result.case_dir / file) for name, file in IMAGE_FILES.items()}
    for image in images.values():
        assert image.shape == SHAPE
        np.testing.assert_allclose(image.affine, AFFINE, atol=1e-6)
    pressure = images["pressure_mmHg"].get_fdata()
    bone = pressure != 0
    pressure_summary = result.summary["pressure"]
    assert pressure[bone].min() >= pressure_summary["p_min_mmHg"] - 1e-3
    assert pressure[bone].max() <= pressure_summary["p_max_mmHg"] + 1e-3
    assert np.count_nonzero(bone) * 1.0 == pytest.approx(np.count_nonzero(np.isin(_labels(), (1, 2))), rel=0.05)
    centre = np.rint(np.linalg.solve(AFFINE[:3, :3], HEAD_CENTRE_MM + [0, 0, 4.0] - AFFINE[:3, 3])).astype(int)
    assert images["chi"].get_fdata()[tuple(centre)] > 0.9
    assert not (result.case_dir / SLICE_FIGURE).exists()  # output.figures: false
