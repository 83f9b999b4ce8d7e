"""Lesion indicator from a NIfTI voxel mask: volume of an ellipsoid mask, affine, smoothing (against the closed
form of a blurred half-space), and the mask reaching the materials."""

import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

# isort: split
import math
from pathlib import Path

import nibabel
import numpy as np
import pytest
from scipy.special import erfc

from bmes_fem.errors import ConfigError
from bmes_fem.inputs.masks import VoxelMask, read_mask
from bmes_fem.physics.imaging import blurred_mask, mask_indicator

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
    return float(mask_indicator(read_mask(path), grid_mm * 1e-3, smoothing_width_m).sum()) * spacing_mm**3


@pytest.mark.parametrize("smoothing_width_m", [0.0, 0.001])
def test_chi_volume_matches_ellipsoid_within_one_voxel_layer(mask_path, smoothing_width_m):
    exact_mm3 = 4 / 3 * math.pi * np.prod(SEMI_AXES_MM)
    layer_mm3 = _ellipsoid_area_mm2(*SEMI_AXES_MM) * VOXEL_MM.max()
    assert abs(_chi_volume_mm3(mask_path, smoothing_width_m) - exact_mm3) < layer_mm3


def test_chi_is_one_inside_zero_outside_and_half_on_the_surface(mask_path):
    points_mm = np.array([CENTRE_MM, CENTRE_MM + [0, 0, 12.0], CENTRE_MM + [100.0, 0, 0], CENTRE_MM + [10.0, 0, 0]]).T
    chi = mask_indicator(read_mask(mask_path), points_mm * 1e-3, 0.001)
    assert chi[0] == pytest.approx(1.0, abs=1e-6)
    assert chi[1] == pytest.approx(0.0, abs=1e-6) and chi[2] == 0.0
    assert chi[3] == pytest.approx(0.5, abs=0.15)


def test_smoothing_widens_the_transition(mask_path):
    line_mm = CENTRE_MM[:, None] + np.outer([1.0, 0, 0], np.linspace(6.0, 14.0, 81))
    sharp = mask_indicator(read_mask(mask_path), line_mm * 1e-3, 0.0)
    smooth = mask_indicator(read_mask(mask_path), line_mm * 1e-3, 0.002)
    between = lambda chi: np.count_nonzero((chi > 0.05) & (chi < 0.95))  # noqa: E731
    assert between(smooth) > 3 * between(sharp)


HALF_SPACE_VOXEL_MM = (0.5, 0.8, 0.6)
HALF_SPACE_SHAPE = 64
PHI_MAX_SLOPE = math.exp(-0.5) / math.sqrt(2.0 * math.pi)  # max |d^2/dz^2 Phi(z)| = phi(1)


def _half_space_mask(axis: int) -> VoxelMask:
    """Voxels with index >= 32 along ``axis`` are lesion: a flat boundary at index 31.5, normal to that axis."""
    values = np.zeros((HALF_SPACE_SHAPE,) * 3)
    values[(slice(None),) * axis + (slice(HALF_SPACE_SHAPE // 2, None),)] = 1.0
    affine = np.diag([*HALF_SPACE_VOXEL_MM, 1.0])
    affine[:3, 3] = (-7.0, 3.0, 11.0)
    return VoxelMask(Path("half_space.nii"), values, affine)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_a_blurred_half_space_is_the_error_function_of_the_signed_distance(axis):
    """chi = erfc(-d / (sqrt(2) w)) / 2 at signed distance d into the lesion, with sigma = w / voxel size per axis,
    to the trilinear interpolation error h^2 / 8 max|chi''| = h^2 / 8 phi(1) / w^2 (h the voxel size along the normal)."""
    mask, width_mm = _half_space_mask(axis), 1.2
    h_mm = HALF_SPACE_VOXEL_MM[axis]
    distance_mm = np.linspace(-3.0 * width_mm, 3.0 * width_mm, 61) + 0.013
    ijk = np.full((3, distance_mm.size), 31.3)  # off the grid, more than 4 sigma from every edge
    ijk[axis] = HALF_SPACE_SHAPE / 2 - 0.5 + distance_mm / h_mm
    x_m = (mask.affine[:3, :3] @ ijk + mask.affine[:3, 3:]) * 1e-3
    chi = mask_indicator(mask, x_m, width_mm * 1e-3)
    exact = 0.5 * erfc(-distance_mm / (math.sqrt(2.0) * width_mm))
    bound = h_mm**2 / 8.0 * PHI_MAX_SLOPE / width_mm**2 + 1e-4  # + the sampled, truncated kernel's error
    assert np.abs(chi - exact).max() < bound
    assert np.abs(chi - exact).max() > 1e-6  # the points are off the grid: interpolation has an error


def test_blurring_keeps_the_mask_volume():
    """sum over voxels of G_w * m = sum of m for a soft mask whose support stays 4 sigma inside the image."""
    rng = np.random.default_rng(7)
    values = np.zeros((40, 36, 30))
    values[14:26, 12:24, 11:19] = rng.uniform(0.0, 1.0, (12, 12, 8))
    mask = VoxelMask(Path("blob.nii"), values, np.diag([*HALF_SPACE_VOXEL_MM, 1.0]))
    blurred = blurred_mask(mask, 0.0016)  # sigma = 3.2, 2, 2.7 voxels; 4 sigma fits in the margins
    assert blurred.sum() == pytest.approx(values.sum(), rel=1e-12)
    assert blurred.max() < values.max()  # it did blur


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

    with pytest.raises(ConfigError, match=r"lesions.0.*lesion mask '.*nowhere.nii.gz' does not exist, expected a 3D NIfTI"):
        parse_config({"lesions": [{"kind": "mask", "mask": str(tmp_path / "nowhere.nii.gz")}]})
