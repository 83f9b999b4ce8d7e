"""CT to material: calibration (given, fitted to rods), density relations and laws, the cell integration against
the closed-form cell averages of a power law on a linear density field, a DICOM series against its NIfTI, and
the errors of a CT without calibration, with a CT number out of range, or that misses the mesh."""

import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

# isort: split
import math

import nibabel
import numpy as np
import pydicom
import pytest
from conftest import box_domain
from mpi4py import MPI
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError
from bmes_fem.imaging.calibration import apparent_density, calibrate, modulus_MPa
from bmes_fem.imaging.material import ct_cell_material
from bmes_fem.imaging.volume import read_volume

SLOPE, INTERCEPT = 0.0008, -0.01  # g/cm^3 per HU, g/cm^3
GRADIENT_HU_PER_MM = np.array([15.0, 25.0, 35.0])  # subset sums distinct: no two vertices of a cell share a value
BASE_HU = 100.0
CT_AFFINE = np.diag([1.0, 1.0, 1.0, 1.0])
CT_AFFINE[:3, 3] = -4.0  # voxel centres from -4 mm to 27 mm: the 20 mm box inside


def _save(path, values, affine=CT_AFFINE):
    nibabel.save(nibabel.Nifti1Image(values, affine), path)
    return path


def _linear_ct(shape=(32, 32, 32)) -> np.ndarray:
    """HU = BASE_HU + g . x at voxel centres (x in mm)."""
    ijk = np.indices(shape, dtype=float).reshape(3, -1)
    world = CT_AFFINE[:3, :3] @ ijk + CT_AFFINE[:3, 3:]
    return (BASE_HU + GRADIENT_HU_PER_MM @ world).reshape(shape)


def _ct_config(path, **ct):
    calibration = {"kind": "linear", "slope_g_per_cm3_per_HU": SLOPE, "intercept_g_per_cm3": INTERCEPT}
    return parse_config({"lesions": [], "ct_material": {"image": str(path), "calibration": calibration, **ct}})


@pytest.fixture(scope="module")
def linear_ct(tmp_path_factory):
    comm = MPI.COMM_WORLD
    folder = comm.bcast(tmp_path_factory.mktemp("ct") if comm.rank == 0 else None)
    if comm.rank == 0:
        _save(folder / "ct.nii.gz", _linear_ct().astype(np.float32))
    comm.barrier()
    return folder / "ct.nii.gz"


def _power_average(vertex_values: np.ndarray, exponent: float) -> np.ndarray:
    """(1/|T|) int_T L^b dV for L linear on a tetrahedron with vertex values l_0..l_3 (distinct):
    3! times the divided difference of Phi(t) = t^(b+3) / ((b+1)(b+2)(b+3)) over the l_i."""
    phi = vertex_values ** (exponent + 3) / ((exponent + 1) * (exponent + 2) * (exponent + 3))
    total = np.zeros(len(vertex_values))
    for i in range(4):
        others = [j for j in range(4) if j != i]
        total += phi[:, i] / np.prod(vertex_values[:, i : i + 1] - vertex_values[:, others], axis=1)
    return 6.0 * total


@pytest.mark.mpi
@pytest.mark.parametrize("law", ["morgan2003_femoral_neck", "keller1994"])
def test_cell_moduli_are_the_cell_averages_of_the_law_on_a_linear_density(linear_ct, law):
    """rho_app is linear in x (HU linear, every relation affine), so E = a (c rho_app)^b has the closed-form cell
    average above; the integrated moduli match it within 1 %, where the modulus at the mean density (the centroid
    value of a linear field, what centroid sampling gives) is further off than the tolerance (E is convex)."""
    config = _ct_config(linear_ct, law=law)
    ct = config.ct_material
    domain = box_domain(n=3, length_m=0.02)
    material = ct_cell_material(domain, config)
    corners_mm = domain.mesh.geometry.x[domain.mesh.geometry.dofmaps[0][material.cells, :4]] * 1e3
    apparent = apparent_density(ct, SLOPE * (BASE_HU + corners_mm @ GRADIENT_HU_PER_MM) + INTERCEPT)
    coefficient, exponent, density = ct.power_law()
    scale = 1.0 if density == "apparent" else ct.ash_fraction
    exact_MPa = coefficient * scale**exponent * _power_average(apparent, exponent)
    assert np.abs(material.modulus_MPa / exact_MPa - 1).max() < 0.01
    at_mean_density = modulus_MPa(ct, apparent.mean(axis=1))
    assert np.abs(at_mean_density / exact_MPa - 1).max() > 0.01
    assert material.apparent_density_g_per_cm3 == pytest.approx(apparent.mean(axis=1), rel=1e-9)
    assert material.raised_share == 0.0


def test_integrate_density_takes_the_law_at_the_cell_mean_density(linear_ct):
    config = _ct_config(linear_ct, integrate="density")
    material = ct_cell_material(box_domain(n=2, length_m=0.02), config)
    assert material.modulus_MPa == pytest.approx(modulus_MPa(config.ct_material, material.apparent_density_g_per_cm3), rel=1e-12)


def test_density_relations_and_laws_in_closed_form(linear_ct):
    """Schileo 2008: rho_ash = 0.877 rho_QCT + 0.0789, rho_app = rho_ash / 0.598; Morgan 2003 neck 6850 rho_app^1.49;
    Keller 1994 10500 rho_ash^2.29; a user law; the minimum apparent density."""
    ct = _ct_config(linear_ct).ct_material
    rho_qct = np.array([0.1, 0.5])
    rho_app = (0.877 * rho_qct + 0.0789) / 0.598
    assert apparent_density(ct, rho_qct) == pytest.approx(rho_app, rel=1e-12)
    assert modulus_MPa(ct, rho_app) == pytest.approx(6850.0 * rho_app**1.49, rel=1e-12)
    keller = _ct_config(linear_ct, law="keller1994").ct_material
    assert modulus_MPa(keller, rho_app) == pytest.approx(10500.0 * (0.598 * rho_app) ** 2.29, rel=1e-12)
    user = _ct_config(linear_ct, law="power", coefficient_MPa=5000.0, exponent=2.0, law_density="ash").ct_material
    assert modulus_MPa(user, rho_app) == pytest.approx(5000.0 * (0.598 * rho_app) ** 2, rel=1e-12)
    assert apparent_density(ct, np.array([-0.5]))[0] == ct.minimum_apparent_density_g_per_cm3


def test_phantom_rods_fit_the_calibration(tmp_path):
    """Three rods at 0, 0.2, 0.6 g/cm^3 written with HU = (rho - c) / s: the fit returns s and c."""
    values = np.full((20, 10, 10), 40.0)
    densities = (0.0, 0.2, 0.6)
    for index, rho in enumerate(densities):
        values[2 + 6 * index : 6 + 6 * index, 2:8, :] = (rho - INTERCEPT) / SLOPE
    path = _save(tmp_path / "ct.nii.gz", values.astype(np.float32), np.diag([1.0, 1.0, 1.0, 1.0]))
    rods = [
        {"min": [f"{2 + 6 * i} mm", "3 mm", "0 mm"], "max": [f"{5 + 6 * i} mm", "6 mm", "9 mm"], "density_g_per_cm3": rho}
        for i, rho in enumerate(densities)
    ]
    config = parse_config({"lesions": [], "ct_material": {"image": str(path), "calibration": {"kind": "phantom", "rods": rods}}})
    calibration = calibrate(config.ct_material, read_volume(path, "CT image"))
    assert calibration.slope_g_per_cm3_per_HU == pytest.approx(SLOPE, rel=1e-6)
    assert calibration.intercept_g_per_cm3 == pytest.approx(INTERCEPT, abs=1e-7)
    assert calibration.rms_residual_g_per_cm3 < 1e-7
    rods[1] = {**rods[1], "min": ["50 mm", "50 mm", "50 mm"], "max": ["60 mm", "60 mm", "60 mm"]}
    with pytest.raises(ConfigError, match=r"ct_material.calibration.rods.1: the box \[50, 60\] x \[50, 60\] x \[50, 60\] mm holds no voxel centre"):
        parse_config({"lesions": [], "ct_material": {"image": str(path), "calibration": {"kind": "phantom", "rods": rods}}})
    background = [{**rod, "min": ["0 mm", "0 mm", "0 mm"], "max": ["1 mm", "1 mm", "9 mm"]} for rod in rods]  # 40 HU each
    with pytest.raises(ConfigError, match=r"ct_material.calibration.rods: every rod box of CT '.*ct.nii.gz' has the mean 40 HU"):
        parse_config({"lesions": [], "ct_material": {"image": str(path), "calibration": {"kind": "phantom", "rods": background}}})


def test_a_ct_without_calibration_is_refused(linear_ct):
    with pytest.raises(ConfigError, match=r"ct_material: the CT '.*ct.nii.gz' has no calibration; expected ct_material.calibration"):
        parse_config({"lesions": [], "ct_material": {"image": str(linear_ct)}})


@pytest.mark.mpi
def test_a_ct_number_out_of_range_in_the_bone_names_the_voxel(tmp_path_factory):
    comm = MPI.COMM_WORLD
    folder = comm.bcast(tmp_path_factory.mktemp("metal") if comm.rank == 0 else None)
    if comm.rank == 0:
        values = _linear_ct()
        values[14, 15, 16] = 5000.0  # a metal streak at (10, 11, 12) mm, inside the box
        _save(folder / "ct.nii.gz", values.astype(np.float32))
    comm.barrier()
    with pytest.raises(ConfigError, match=r"CT image '.*ct.nii.gz': voxel \(14, 15, 16\) = 5000.0 at \(10, 11, 12\) mm HU lies in the bone; expected CT numbers in \[-1100, 4000\] HU"):
        ct_cell_material(box_domain(n=3, length_m=0.02), _ct_config(folder / "ct.nii.gz"))


def test_a_ct_that_misses_the_mesh_is_refused(tmp_path):
    path = _save(tmp_path / "ct.nii.gz", _linear_ct((10, 10, 10)).astype(np.float32))  # centres -4 .. 5 mm: the box goes to 20
    with pytest.raises(ConfigError, match=r"CT image '.*ct.nii.gz' \(shape \(10, 10, 10\)\) does not cover the mesh: the trabecular vertex at"):
        ct_cell_material(box_domain(n=2, length_m=0.02), _ct_config(path))


def _write_dicom_series(folder, values_hu: np.ndarray, affine_ras: np.ndarray) -> None:
    """One CT slice per voxel index k (file names in reverse order): voxel axis 0 along the rows, axis 1 down the
    columns, positions and orientation in DICOM's LPS frame, stored as uint16 with RescaleIntercept -1024."""
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_ras
    column_spacing, row_spacing = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
    orientation = [*(lps[:3, 0] / column_spacing), *(lps[:3, 1] / row_spacing)]
    series = generate_uid()
    for k in range(values_hu.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"slice_{values_hu.shape[2] - k:03d}.dcm"
        dataset = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        dataset.SOPClassUID, dataset.SOPInstanceUID, dataset.SeriesInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, series
        dataset.Modality = "CT"
        dataset.ImagePositionPatient = [float(v) for v in lps[:3, :3] @ [0.0, 0.0, k] + lps[:3, 3]]
        dataset.ImageOrientationPatient = [float(v) for v in orientation]
        dataset.PixelSpacing = [float(row_spacing), float(column_spacing)]
        dataset.Rows, dataset.Columns = values_hu.shape[1], values_hu.shape[0]
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 0
        dataset.RescaleSlope, dataset.RescaleIntercept = 1, -1024
        dataset.PixelData = (values_hu[:, :, k].T + 1024).astype(np.uint16).tobytes()
        dataset.save_as(path, enforce_file_format=True)


def test_a_dicom_series_reads_as_the_same_volume_as_its_nifti(tmp_path):
    """An oblique series (rotated 20 deg about z, anisotropic voxels) written with pydicom: the volume read from
    the folder has the NIfTI's RAS+ affine and voxel values."""
    angle = math.radians(20.0)
    rotation = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.7, 0.8, 1.5])
    affine[:3, 3] = (-40.0, 25.0, -110.0)
    values = np.random.default_rng(3).integers(-1000, 2000, size=(12, 9, 7)).astype(np.int16)
    nifti = read_volume(_save(tmp_path / "ct.nii.gz", values, affine), "CT image")
    folder = tmp_path / "series"
    folder.mkdir()
    _write_dicom_series(folder, values, affine)
    (folder / "README.txt").write_text("not DICOM: passed over\n")
    dicom = read_volume(folder, "CT image")
    assert dicom.values.shape == nifti.values.shape
    np.testing.assert_array_equal(dicom.values, nifti.values)
    np.testing.assert_allclose(dicom.affine, nifti.affine, atol=1e-5)
