"""Lesion indicator from a NIfTI voxel mask: volume of an ellipsoid mask, affine, smoothing, bad input."""

import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

# isort: split
import math

import nibabel
import numpy as np
import pytest

from bmes_fem.errors import ConfigError
from bmes_fem.physics.imaging import mask_indicator

VOXEL_MM = np.array([0.5, 0.6, 0.7])
ORIGIN_MM = np.array([-20.0, -15.0, -12.0])
CENTRE_MM = np.array([1.0, 2.0, 3.0])
SEMI_AXES_MM = np.array([10.0, 8.0, 6.0])


def _ellipsoid_area_mm2(a, b, c) -> float:
    """Knud Thomsen's approximation (error < 1.1 %)."""
    p = 1.6075
    return 4 * math.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3) ** (1 / p)


@pytest.fixture(scope="module")
def mask_path(tmp_path_factory):
    """An ellipsoid mask on an anisotropic grid with a translated, axis-permuted affine."""
    shape = (90, 80, 40)
    affine = np.zeros((4, 4))
    affine[:3, :3] = np.diag(VOXEL_MM)[:, [1, 0, 2]]  # voxel axis 0 runs along world y, axis 1 along world x
    affine[:3, 3] = ORIGIN_MM
    affine[3, 3] = 1.0
    voxel_mm = np.linalg.norm(affine[:3, :3], axis=0)
    ijk = np.indices(shape).reshape(3, -1)
    world_mm = affine[:3, :3] @ ijk + affine[:3, 3:]
    inside = np.sum(((world_mm - CENTRE_MM[:, None]) / SEMI_AXES_MM[:, None]) ** 2, axis=0) <= 1.0
    assert np.allclose(voxel_mm, VOXEL_MM[[1, 0, 2]])
    path = tmp_path_factory.mktemp("mask") / "ellipsoid.nii.gz"
    nibabel.save(nibabel.Nifti1Image(inside.reshape(shape).astype(np.uint8), affine), path)
    return path


def _chi_volume_mm3(path, smoothing_width_m: float, spacing_mm: float = 0.25) -> float:
    """int chi dV by the midpoint rule on a fine grid around the ellipsoid."""
    half = SEMI_AXES_MM + 4.0
    axes = [np.arange(c - h, c + h, spacing_mm) + spacing_mm / 2 for c, h in zip(CENTRE_MM, half, strict=True)]
    grid_mm = np.stack(np.meshgrid(*axes, indexing="ij")).reshape(3, -1)
    return float(mask_indicator(path, grid_mm * 1e-3, smoothing_width_m).sum()) * spacing_mm**3


@pytest.mark.parametrize("smoothing_width_m", [0.0, 0.001])
def test_chi_volume_matches_ellipsoid_within_one_voxel_layer(mask_path, smoothing_width_m):
    exact_mm3 = 4 / 3 * math.pi * np.prod(SEMI_AXES_MM)
    layer_mm3 = _ellipsoid_area_mm2(*SEMI_AXES_MM) * VOXEL_MM.max()
    assert abs(_chi_volume_mm3(mask_path, smoothing_width_m) - exact_mm3) < layer_mm3


def test_chi_is_one_inside_zero_outside_and_half_on_the_surface(mask_path):
    points_mm = np.array([CENTRE_MM, CENTRE_MM + [0, 0, 12.0], CENTRE_MM + [100.0, 0, 0], CENTRE_MM + [10.0, 0, 0]]).T
    chi = mask_indicator(mask_path, points_mm * 1e-3, 0.001)
    assert chi[0] == pytest.approx(1.0, abs=1e-6)
    assert chi[1] == pytest.approx(0.0, abs=1e-6) and chi[2] == 0.0
    assert chi[3] == pytest.approx(0.5, abs=0.15)


def test_smoothing_widens_the_transition(mask_path):
    line_mm = CENTRE_MM[:, None] + np.outer([1.0, 0, 0], np.linspace(6.0, 14.0, 81))
    sharp = mask_indicator(mask_path, line_mm * 1e-3, 0.0)
    smooth = mask_indicator(mask_path, line_mm * 1e-3, 0.002)
    between = lambda chi: np.count_nonzero((chi > 0.05) & (chi < 0.95))  # noqa: E731
    assert between(smooth) > 3 * between(sharp)


def test_bad_mask_input_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"lesion mask '.*missing\.nii' does not exist"):
        mask_indicator(tmp_path / "missing.nii", np.zeros((3, 1)), 0.0)
    flat = tmp_path / "flat.nii"
    nibabel.save(nibabel.Nifti1Image(np.ones((4, 4), dtype=np.uint8), np.eye(4)), flat)
    with pytest.raises(ConfigError, match=r"flat\.nii' has shape \(4, 4\); expected a 3D voxel mask"):
        mask_indicator(flat, np.zeros((3, 1)), 0.0)


def test_a_mask_lesion_in_the_config_sets_chi_on_the_mesh(mask_path):
    """lesions: [{kind: mask}] reaches the materials: the integral of chi over a box holding the
    ellipsoid equals the ellipsoid's volume within one voxel layer."""
    import ufl
    from conftest import box_domain
    from dolfinx import fem
    from mpi4py import MPI

    from bmes_fem.config.loader import parse_config
    from bmes_fem.physics.materials import build_tissue_fields

    config = parse_config({"lesions": [{"kind": "mask", "mask": str(mask_path), "smoothing_width": "0 mm"}]})
    domain = box_domain(n=24, length_m=0.04)
    domain.mesh.geometry.x[:] -= 0.02  # box [-20, 20]^3 mm around the mask's ellipsoid
    tissue = build_tissue_fields(domain, config, fem.functionspace(domain.mesh, ("Lagrange", 1)))
    volume_mm3 = MPI.COMM_WORLD.allreduce(fem.assemble_scalar(fem.form(tissue.chi * ufl.dx(domain=domain.mesh))), op=MPI.SUM) * 1e9
    exact_mm3 = 4.0 / 3.0 * np.pi * np.prod(SEMI_AXES_MM)
    assert abs(volume_mm3 - exact_mm3) < _ellipsoid_area_mm2(*SEMI_AXES_MM) * VOXEL_MM.max()


def test_a_mask_lesion_needs_an_existing_file(tmp_path):
    from bmes_fem.config.loader import parse_config
    from bmes_fem.errors import ConfigError

    with pytest.raises(ConfigError, match=r"lesions.0.*mask = .*nowhere.nii.gz is not a file"):
        parse_config({"lesions": [{"kind": "mask", "mask": str(tmp_path / "nowhere.nii.gz")}]})
