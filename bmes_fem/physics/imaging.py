"""Lesion indicator chi from an image: a voxel mask (bmes_fem.inputs.masks) blurred and sampled at points.

chi(x) = (G_w * m)(A^-1 x): the mask m (each voxel's share in the lesion, in [0, 1]) is blurred by a
Gaussian of standard deviation w (the smoothing width; per axis in voxels w / voxel size, truncated at
4 standard deviations, zero outside the image) and interpolated trilinearly at the voxel coordinates
A^-1 x, A the image affine (voxel indices to world mm). Blurring keeps the mask volume (sum over voxels)
and puts chi = erfc(-d / (sqrt(2) w)) / 2 at signed distance d from a flat mask boundary (0.5 on it);
w = 0 interpolates the bare mask. Points outside the image get chi = 0.
"""

from __future__ import annotations

import numpy as np

from bmes_fem.errors import ConfigError
from bmes_fem.inputs.masks import VoxelMask
from bmes_fem.lazy import lazy_module

ndimage = lazy_module("scipy.ndimage")

MM_PER_M = 1e3
GAUSSIAN_TRUNCATE = 4.0  # kernel half-width in standard deviations


def blurred_mask(mask: VoxelMask, smoothing_width_m: float) -> np.ndarray:
    """G_w * m on the voxel grid (sigma per axis w / voxel size, zero beyond the image)."""
    if smoothing_width_m < 0:
        raise ConfigError(f"lesion mask smoothing width {smoothing_width_m} m must be >= 0")
    sigma_voxels = smoothing_width_m * MM_PER_M / mask.voxel_size_mm()
    return ndimage.gaussian_filter(mask.values, sigma_voxels, mode="constant", cval=0.0, truncate=GAUSSIAN_TRUNCATE)


def mask_indicator(mask: VoxelMask, x_m: np.ndarray, smoothing_width_m: float) -> np.ndarray:
    """chi at the points ``x_m`` (shape (3, N), metres) of the mask (world in mm)."""
    world_mm = np.vstack([np.asarray(x_m, dtype=float) * MM_PER_M, np.ones(x_m.shape[1])])
    ijk = (np.linalg.inv(mask.affine) @ world_mm)[:3]
    chi = ndimage.map_coordinates(blurred_mask(mask, smoothing_width_m), ijk, order=1, mode="constant", cval=0.0)
    return np.clip(chi, 0.0, 1.0)
