"""CT numbers to bone density: the scanner calibration (given, or fitted to phantom rods) and the density relations.

rho_QCT = s HU + c  (equivalent mineral density of the calibration phantom, g/cm^3)
rho_ash = a rho_QCT + b  (Schileo et al. 2008 J Biomech 41:2483: a = 0.877, b = 0.0789 g/cm^3)
rho_app = rho_ash / f  (same paper: rho_ash / rho_app = f = 0.598 in human femoral bone)

A phantom calibration fits (s, c) by least squares to the mean HU of each rod's voxels (the voxels whose
centres lie in the rod's world box) against the rod's density. A CT number below HU_MIN or above HU_MAX
where the material reads it is not a calibrated bone value (air is -1000 HU, a 12-bit scanner stops at
3071 HU; metal and streaks exceed it) and is refused, naming the voxel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bmes_fem.config.images import CtMaterial, LinearCalibration
from bmes_fem.errors import ConfigError
from bmes_fem.imaging.volume import ImageVolume, read_volume

HU_MIN, HU_MAX = -1100.0, 4000.0
MM_PER_M = 1e3


@dataclass(frozen=True)
class DensityCalibration:
    """rho_QCT = slope HU + intercept [g/cm^3]; for a phantom fit also the rods' mean HU and the rms residual."""

    slope_g_per_cm3_per_HU: float
    intercept_g_per_cm3: float
    rod_mean_HU: tuple[float, ...] = ()
    rms_residual_g_per_cm3: float | None = None

    def density_qct(self, hu: np.ndarray) -> np.ndarray:
        return self.slope_g_per_cm3_per_HU * hu + self.intercept_g_per_cm3


def calibrate(ct: CtMaterial, volume: ImageVolume) -> DensityCalibration:
    """The calibration of ``ct`` (given, or fitted to its rods on ``volume``); ConfigError naming an empty rod box
    or a fit whose slope is not positive."""
    calibration = ct.calibration
    if isinstance(calibration, LinearCalibration):
        return DensityCalibration(calibration.slope_g_per_cm3_per_HU, calibration.intercept_g_per_cm3)
    centres_mm = volume.voxel_centres_mm()
    values = volume.values.ravel().astype(float)
    mean_hu = []
    for index, rod in enumerate(calibration.rods):
        low, high = np.asarray(rod.min)[:, None] * MM_PER_M, np.asarray(rod.max)[:, None] * MM_PER_M
        inside = np.all((centres_mm >= low) & (centres_mm <= high), axis=0)
        if not inside.any():
            box = " x ".join(f"[{lo:.4g}, {hi:.4g}]" for lo, hi in zip(low[:, 0], high[:, 0], strict=True))
            raise ConfigError(
                f"ct_material.calibration.rods.{index}: the box {box} mm holds no voxel centre of CT '{volume.path}'; "
                "expected a box inside the rod, in the image's world coordinates"
            )
        mean_hu.append(float(values[inside].mean()))
    density = np.array([rod.density_g_per_cm3 for rod in calibration.rods])
    if np.ptp(mean_hu) == 0:
        raise ConfigError(
            f"ct_material.calibration.rods: every rod box of CT '{volume.path}' has the mean {mean_hu[0]:g} HU; expected rods "
            "of different densities to differ in HU (is the image a CT in HU, and are the boxes on the rods?)"
        )
    slope, intercept = np.polyfit(mean_hu, density, 1)
    if not slope > 0:
        raise ConfigError(
            f"ct_material.calibration.rods: mean HU {[round(h, 1) for h in mean_hu]} against densities {density.tolist()} g/cm^3 "
            f"fit a slope of {slope:.4g} g/cm^3 per HU; expected denser rods to be brighter (check the boxes)"
        )
    residual = density - (slope * np.array(mean_hu) + intercept)
    return DensityCalibration(float(slope), float(intercept), tuple(mean_hu), float(np.sqrt(np.mean(residual**2))))


def read_ct(ct: CtMaterial) -> tuple[ImageVolume, DensityCalibration]:
    """The CT volume and its calibration, checked."""
    volume = read_volume(ct.image, "CT image")
    return volume, calibrate(ct, volume)


def apparent_density(ct: CtMaterial, density_qct: np.ndarray) -> np.ndarray:
    """rho_app = (a rho_QCT + b) / f [g/cm^3], at least ``ct.minimum_apparent_density_g_per_cm3``."""
    ash = ct.ash_slope * density_qct + ct.ash_intercept_g_per_cm3
    return np.maximum(ash / ct.ash_fraction, ct.minimum_apparent_density_g_per_cm3)


def modulus_MPa(ct: CtMaterial, apparent_g_per_cm3: np.ndarray) -> np.ndarray:
    """E = a rho^b [MPa] with rho the law's density: rho_app, or rho_ash = f rho_app."""
    coefficient_MPa, exponent, density = ct.power_law()
    rho = apparent_g_per_cm3 if density == "apparent" else ct.ash_fraction * apparent_g_per_cm3
    return coefficient_MPa * rho**exponent


def hu_out_of_range(volume: ImageVolume, voxels: np.ndarray) -> str | None:
    """A message naming the first of ``voxels`` (3, N integer indices) whose HU lies outside [HU_MIN, HU_MAX], or None."""
    hu = volume.values[tuple(voxels)]
    bad = np.flatnonzero((hu < HU_MIN) | (hu > HU_MAX))
    if not bad.size:
        return None
    return (
        f"CT image '{volume.path}': {volume.describe_voxel(voxels[:, bad[0]])} HU lies in the bone; expected CT numbers "
        f"in [{HU_MIN:g}, {HU_MAX:g}] HU (a metal artefact, or an image not in HU?)"
    )
