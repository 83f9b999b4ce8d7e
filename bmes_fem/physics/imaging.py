"""Lesion indicator chi from an image: a voxel mask (NIfTI, read with nibabel) sampled at points.

chi(x) = (G_w * 1_mask)(A^-1 x): the mask (voxels > 0) is blurred by a Gaussian of standard deviation w
(the smoothing width, per axis in voxels w / voxel size) and interpolated trilinearly at the voxel
coordinates A^-1 x, A the image affine (voxel indices to world mm). Blurring keeps the mask volume
(sum of chi over voxels) and puts chi = 0.5 on a flat mask boundary; w = 0 interpolates the bare mask.
Points outside the image get chi = 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bmes_fem.errors import ConfigError
from bmes_fem.lazy import lazy_module

nibabel = lazy_module("nibabel")

MM_PER_M = 1e3
GAUSSIAN_TRUNCATE = 4.0  # kernel half-width in standard deviations


def _gaussian_blur(image: np.ndarray, sigma_voxels: np.ndarray) -> np.ndarray:
    """Separable Gaussian blur with zero padding (sigma per axis, in voxels)."""
    for axis, sigma in enumerate(sigma_voxels):
        if sigma <= 0:
            continue
        half = int(np.ceil(GAUSSIAN_TRUNCATE * sigma))
        offsets = np.arange(-half, half + 1)
        weights = np.exp(-0.5 * (offsets / sigma) ** 2)
        weights /= weights.sum()
        padding = [(0, 0)] * image.ndim
        padding[axis] = (half, half)
        padded = np.pad(image, padding)
        n = image.shape[axis]
        image = sum(w * np.take(padded, np.arange(k, k + n), axis=axis) for k, w in enumerate(weights))
    return image


def _trilinear(image: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of ``image`` at continuous voxel indices ``ijk`` (3, N); 0 outside."""
    padded = np.pad(image, 1)
    position = ijk + 1.0
    base = np.floor(position).astype(np.int64)
    frac = position - base
    inside = np.all((base >= 0) & (base < np.array(padded.shape)[:, None] - 1), axis=0)
    base = np.where(inside, base, 0)
    values = np.zeros(ijk.shape[1])
    for corner in np.ndindex(2, 2, 2):
        c = np.array(corner)[:, None]
        weight = np.prod(np.where(c == 1, frac, 1.0 - frac), axis=0)
        values += weight * padded[tuple(base + c)]
    return np.where(inside, values, 0.0)


def load_mask(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """(mask as float 0/1 array, 4x4 affine voxel -> world mm) of a 3D NIfTI file; ConfigError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"lesion mask '{path}' does not exist (expected a NIfTI .nii or .nii.gz voxel mask)")
    try:
        image = nibabel.load(str(path))
        data = np.asarray(image.dataobj)
    except Exception as err:  # nibabel raises several types on unreadable files
        raise ConfigError(f"lesion mask '{path}' could not be read by nibabel: {err}") from err
    if data.ndim != 3:
        raise ConfigError(f"lesion mask '{path}' has shape {data.shape}; expected a 3D voxel mask")
    return (data > 0).astype(float), np.asarray(image.affine, dtype=float)


def mask_indicator(path: Path | str, x_m: np.ndarray, smoothing_width_m: float) -> np.ndarray:
    """chi at the points ``x_m`` (shape (3, N), metres) from the NIfTI mask at ``path`` (world in mm)."""
    if smoothing_width_m < 0:
        raise ConfigError(f"lesion mask smoothing width {smoothing_width_m} m must be >= 0")
    mask, affine = load_mask(path)
    voxel_mm = np.linalg.norm(affine[:3, :3], axis=0)
    chi_voxels = _gaussian_blur(mask, smoothing_width_m * MM_PER_M / voxel_mm)
    world_mm = np.vstack([np.asarray(x_m, dtype=float) * MM_PER_M, np.ones(x_m.shape[1])])
    ijk = (np.linalg.inv(affine) @ world_mm)[:3]
    return np.clip(_trilinear(chi_voxels, ijk), 0.0, 1.0)
