"""Image volumes: voxel values and the affine from voxel indices to RAS+ world mm, read from NIfTI or a DICOM series.

NIfTI (.nii, .nii.gz, nibabel): the affine is the file's (sform, else qform), scaled to mm by the header's
spatial unit (m, mm, um; 'unknown' is taken as mm); world axes RAS+ (+x towards the patient's right, +y
anterior, +z superior) by the format's convention.
DICOM (a folder of one series, pydicom): the patient frame is LPS+ (+x towards the patient's left, +y
posterior, +z superior). The LPS affine built from ImagePositionPatient, ImageOrientationPatient,
PixelSpacing and the slice positions becomes RAS+ by diag(-1, -1, 1): x_RAS = -x_LPS, y_RAS = -y_LPS.
Voxel axis 0 runs along a row (ImageOrientationPatient[:3], step PixelSpacing[1]), axis 1 down a column
(ImageOrientationPatient[3:], step PixelSpacing[0]), axis 2 across the slices, sorted along the slice
normal and evenly spaced; a stored value v becomes RescaleSlope v + RescaleIntercept (HU for CT).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bmes_fem.errors import ConfigError
from bmes_fem.inputs.files import input_file
from bmes_fem.inputs.foreign import reading
from bmes_fem.inputs.masks import _check_affine, _labels, _voxel
from bmes_fem.lazy import lazy_module

nibabel = lazy_module("nibabel")
pydicom = lazy_module("pydicom")
ndimage = lazy_module("scipy.ndimage")

NIFTI_OR_DICOM = "a 3D NIfTI image (.nii or .nii.gz) or a folder holding one DICOM series"
NIFTI_UNIT_TO_MM = {"meter": 1e3, "mm": 1.0, "micron": 1e-3}  # header xyzt_units; 'unknown' is read as mm
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
SAME_GRID_VOXEL_FRACTION = 0.01  # affines agree when every entry differs by less than this share of a voxel
SLICE_SPACING_TOLERANCE = 0.01
EDGE_TOLERANCE_VOXELS = 1e-6  # a mesh cut on the image's edge plane lies on it to round-off  # relative spread of the DICOM slice gaps accepted as one spacing


@dataclass(frozen=True)
class ImageVolume:
    """Voxel values (3D) and the 4x4 affine voxel index -> RAS+ world mm."""

    path: Path
    values: np.ndarray
    affine: np.ndarray

    def voxel_size_mm(self) -> np.ndarray:
        """Edge lengths of a voxel along its index axes (the lengths of the affine's columns)."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def voxel_volume_mm3(self) -> float:
        """|det A| of the affine's 3x3 part."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def world_mm(self, ijk: np.ndarray) -> np.ndarray:
        """World coordinates (3, N) of voxel coordinates ``ijk`` (3, N)."""
        return self.affine[:3, :3] @ ijk + self.affine[:3, 3:]

    def index_of(self, world_mm: np.ndarray) -> np.ndarray:
        """Continuous voxel coordinates (3, N) of world points (3, N): A^-1 x."""
        return np.linalg.solve(self.affine[:3, :3], world_mm - self.affine[:3, 3:])

    def voxel_centres_mm(self) -> np.ndarray:
        """World coordinates (3, n_voxels) of every voxel centre, in C order of ``values``."""
        return self.world_mm(np.indices(self.values.shape, dtype=float).reshape(3, -1))

    def describe_voxel(self, index) -> str:
        """'voxel (i, j, k) = value at (x, y, z) mm' for error messages."""
        world = self.world_mm(np.asarray(index, dtype=float).reshape(3, 1))[:, 0]
        return f"{_voxel(np.asarray(index), self.values)} at ({', '.join(f'{c:.4g}' for c in world)}) mm"

    def labels_present(self) -> str:
        """The distinct values, listed (at most 20)."""
        return _labels(self.values)


def read_volume(path: str | Path, what: str) -> ImageVolume:
    """A NIfTI file or a DICOM series folder as an ImageVolume (module docstring); ConfigError naming ``what`` and
    the path if it is not one readable 3D volume of finite numbers with a usable affine."""
    path = Path(path)
    if path.is_dir():
        values, affine = _read_dicom_series(path, what)
    else:
        path = input_file(path, what, NIFTI_OR_DICOM)
        with reading(path, what, "by nibabel", NIFTI_OR_DICOM):
            image = nibabel.load(str(path))
            values = np.asarray(image.dataobj)
            affine = image.affine.copy()
            spatial_unit = image.header.get_xyzt_units()[0] if hasattr(image.header, "get_xyzt_units") else "unknown"
        affine[:3] *= NIFTI_UNIT_TO_MM.get(spatial_unit, 1.0)
    where = f"{what} '{path}'"
    values = np.squeeze(values) if values.ndim > 3 else values
    if values.ndim != 3:
        raise ConfigError(f"{where} has shape {values.shape}; expected {NIFTI_OR_DICOM}: one volume of three axes")
    if values.dtype.kind not in "biuf":
        raise ConfigError(f"{where} holds voxels of type {values.dtype}; expected numbers")
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise ConfigError(f"{where}: {_voxel(np.argwhere(~np.isfinite(values))[0], values)}; expected a finite number in every voxel")
    return ImageVolume(path, values, _check_affine(affine, where))


def _dicom_slices(folder: Path, what: str) -> list:
    """The DICOM image datasets of ``folder`` (files pydicom cannot read as DICOM are passed over)."""
    slices = []
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            dataset = pydicom.dcmread(file)
        except (pydicom.errors.InvalidDicomError, OSError, EOFError):
            continue
        if "PixelData" in dataset:
            slices.append(dataset)
    if not slices:
        raise ConfigError(f"{what} '{folder}' is a folder without DICOM images; expected {NIFTI_OR_DICOM}")
    return slices


def _read_dicom_series(folder: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Voxel values (rescaled) and the RAS+ affine of the one DICOM series in ``folder``."""
    where = f"{what} '{folder}'"
    slices = _dicom_slices(folder, what)
    series = sorted({str(getattr(s, "SeriesInstanceUID", "")) for s in slices})
    if len(series) > 1:
        raise ConfigError(f"{where} holds {len(series)} DICOM series ({', '.join(series[:4])}); expected one series per folder")
    with reading(folder, what, "by pydicom", NIFTI_OR_DICOM):
        for dataset in slices:
            for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
                if keyword not in dataset:
                    raise ConfigError(f"{where}: slice '{dataset.filename}' has no {keyword}; expected a volume series (CT, MR)")
        orientation = np.array(slices[0].ImageOrientationPatient, dtype=float)
        row_dir, col_dir = orientation[:3], orientation[3:]
        normal = np.cross(row_dir, col_dir)
        for dataset in slices:
            if not np.allclose(np.array(dataset.ImageOrientationPatient, dtype=float), orientation, atol=1e-4):
                raise ConfigError(f"{where}: slice '{dataset.filename}' has another ImageOrientationPatient; expected one orientation")
        slices.sort(key=lambda s: float(np.dot(np.array(s.ImagePositionPatient, dtype=float), normal)))
        positions = np.array([np.array(s.ImagePositionPatient, dtype=float) for s in slices])
        pixels = [s.pixel_array.astype(float) * float(getattr(s, "RescaleSlope", 1.0)) + float(getattr(s, "RescaleIntercept", 0.0)) for s in slices]
        row_spacing, column_spacing = (float(v) for v in slices[0].PixelSpacing)
    if len(slices) < 2:
        raise ConfigError(f"{where} holds one slice; expected a volume of at least two slices")
    gaps = np.diff(positions @ normal)
    if gaps.min() <= 0 or np.ptp(gaps) > SLICE_SPACING_TOLERANCE * gaps.mean():
        raise ConfigError(
            f"{where}: slice gaps from {gaps.min():.4g} to {gaps.max():.4g} mm along the slice normal; "
            "expected evenly spaced slices at distinct positions"
        )
    lps = np.eye(4)
    lps[:3, 0] = row_dir * column_spacing
    lps[:3, 1] = col_dir * row_spacing
    lps[:3, 2] = (positions[-1] - positions[0]) / (len(slices) - 1)
    lps[:3, 3] = positions[0]
    values = np.stack([pixel.T for pixel in pixels], axis=2)
    return values, LPS_TO_RAS @ lps


def _matrix(affine: np.ndarray) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{v:.6g}" for v in row) + "]" for row in affine[:3]) + "]"


def check_same_grid(first: ImageVolume, second: ImageVolume, first_is: str, second_is: str) -> None:
    """ConfigError naming both files, shapes and affines unless they share one voxel grid (same shape, affines
    equal to 1 % of a voxel): the images of a case are registered and resampled onto one grid beforehand."""
    tolerance_mm = SAME_GRID_VOXEL_FRACTION * float(min(first.voxel_size_mm().min(), second.voxel_size_mm().min()))
    if first.values.shape == second.values.shape and np.allclose(first.affine, second.affine, rtol=0.0, atol=tolerance_mm):
        return
    raise ConfigError(
        f"{second_is} '{second.path}' (shape {second.values.shape}, affine {_matrix(second.affine)}) and {first_is} "
        f"'{first.path}' (shape {first.values.shape}, affine {_matrix(first.affine)}) are on different voxel grids; "
        "expected one grid (register and resample the images onto one, e.g. in 3D Slicer, before the run)"
    )


def sample_trilinear(volume: ImageVolume, world_mm: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of the voxel values at world points (3, N); points within half a voxel beyond
    the outer voxel centres take the nearest edge value."""
    return ndimage.map_coordinates(volume.values.astype(float), volume.index_of(world_mm), order=1, mode="nearest")


def outside_image(volume: ImageVolume, world_mm: np.ndarray) -> np.ndarray:
    """Whether each world point (3, N) lies beyond the image's extent (half a voxel past the outer centres)."""
    ijk = volume.index_of(world_mm)
    upper = np.array(volume.values.shape, dtype=float)[:, None] - 0.5 + EDGE_TOLERANCE_VOXELS
    return np.any((ijk < -0.5 - EDGE_TOLERANCE_VOXELS) | (ijk > upper), axis=0)
