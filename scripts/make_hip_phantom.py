"""Write the synthetic hip phantom of examples/hip_phantom/: a label image, a CT-like volume and an MRI-like
oedema mask of a left proximal femur, on one 2 mm voxel grid (NIfTI, RAS+ world in mm).

Geometry (world RAS+ mm: +x towards the patient's right; a left hip, so +x is medial, +y anterior, +z
superior, as in the model's bone frame): a head sphere (radius 24 mm, centre HEAD_CENTRE_MM) and capsules
for the neck (radius 15 mm, along the neck axis of 130 deg neck-shaft angle and 12 deg anteversion) and
the shaft (radius 15 mm, vertical), joined by a smooth union (polynomial smooth minimum of the signed
distances, blend 8 mm). The field of view ends 112 mm below the head centre, so the shaft leaves the
image through its inferior face (the ``cut`` boundary).

Labels: 0 background, 1 trabecular bone, 2 cortex (the outer 2.5 mm of the bone, 1.5 mm under the
cartilage), 3 articular cartilage (a 2-voxel layer outside the bone over the head cap within 70 deg of
the superior pole: the ``articular`` boundary).

CT [HU] = equivalent density rho_QCT / 0.0008 g/cm^3 per HU, plus Gaussian noise (sigma 25 HU): soft tissue
40 HU; trabecular rho_QCT 0.15 g/cm^3 plus 0.22 g/cm^3 along the principal compressive group (a Gaussian
band of width 7 mm around the line from the loaded dome along the hip force into the medial neck); cortex
1.0 g/cm^3; three calibration rods (0.0, 0.2, 0.6 g/cm^3, 10 mm across) posterior to the femur, as a
K2HPO4 phantom under a patient; their box ROIs are in configs/hip_phantom.yaml.

Oedema mask (0/1): the voxels of the bone inside an ellipsoid under the loaded dome, centred 4, 4, 10 mm
from the head centre (semi-axes 10, 8, 8 mm), as the default case's lesion; 1 mm of bone below the
dome surface is left out, as an MRI-segmented oedema stops at the subchondral plate.

    .venv/bin/python scripts/make_hip_phantom.py [--out examples/hip_phantom] [--seed 23]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel
import numpy as np

VOXEL_MM = 2.0
SHAPE = (64, 56, 76)  # voxels along x (stored right-to-left: negative x step), y, z
HEAD_CENTRE_MM = np.array([-92.0, 14.0, 46.0])
HEAD_RADIUS_MM, NECK_RADIUS_MM, SHAFT_RADIUS_MM = 24.0, 15.0, 15.0
NECK_SHAFT_DEG, ANTEVERSION_DEG = 130.0, 12.0
NECK_LENGTH_MM = 48.0  # head centre to the shaft axis along the neck
BLEND_MM = 8.0
CORTEX_MM, SUBCHONDRAL_MM = 2.5, 1.5
ARTICULAR_HALF_ANGLE_DEG = 70.0
HIP_FORCE_DIRECTION = np.array([-0.2756, 0.0, -0.9613])  # the load of configs/hip_phantom.yaml (into the head)
HU_PER_G_CM3 = 1.0 / 0.0008
SOFT_TISSUE_HU, NOISE_HU = 40.0, 25.0
TRABECULAR_G_CM3, COMPRESSIVE_GROUP_G_CM3, COMPRESSIVE_GROUP_WIDTH_MM = 0.15, 0.22, 7.0
CORTEX_G_CM3 = 1.0
RODS = ((-112.0, 0.0), (-92.0, 0.2), (-72.0, 0.6))  # (x mm, rho_QCT g/cm^3); y, radius below
ROD_Y_MM, ROD_RADIUS_MM = -34.0, 5.0
LESION_OFFSET_MM, LESION_SEMI_AXES_MM = np.array([4.0, 4.0, 10.0]), np.array([10.0, 8.0, 8.0])
LABELS = {"trabecular": 1, "cortical": 2, "articular": 3}


def affine() -> np.ndarray:
    """Voxel (i, j, k) -> world RAS mm: i runs towards the patient's left (x decreasing), j anterior, k superior."""
    matrix = np.diag([-VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0])
    matrix[:3, 3] = (-30.0, -50.0, -66.0)  # world position of voxel (0, 0, 0)
    return matrix


def neck_axis() -> np.ndarray:
    """Unit vector from the neck towards the head centre (the model's FemoralHeadGeometry.neck_axis)."""
    ns, av = np.radians(NECK_SHAFT_DEG), np.radians(ANTEVERSION_DEG)
    return np.array([np.sin(ns) * np.cos(av), np.sin(ns) * np.sin(av), -np.cos(ns)])


def _capsule(x: np.ndarray, start: np.ndarray, end: np.ndarray, radius: float) -> np.ndarray:
    """Signed distance to the capsule of ``radius`` around the segment start-end."""
    axis = end - start
    t = np.clip(np.einsum("i...,i->...", x - start[:, None, None, None], axis) / (axis @ axis), 0.0, 1.0)
    nearest = start[:, None, None, None] + axis[:, None, None, None] * t
    return np.linalg.norm(x - nearest, axis=0) - radius


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: min(a, b) with a blend of width k where |a - b| < k."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def bone_distance_mm(x: np.ndarray) -> np.ndarray:
    """Signed distance-like function of the femur (< 0 inside) at world points x (3, ...)."""
    head = np.linalg.norm(x - HEAD_CENTRE_MM[:, None, None, None], axis=0) - HEAD_RADIUS_MM
    neck_end = HEAD_CENTRE_MM - NECK_LENGTH_MM * neck_axis()
    neck = _capsule(x, HEAD_CENTRE_MM, neck_end, NECK_RADIUS_MM)
    shaft = _capsule(x, neck_end + [0.0, 0.0, 15.0], neck_end + [0.0, 0.0, -200.0], SHAFT_RADIUS_MM)
    return _smooth_min(_smooth_min(head, neck, BLEND_MM), shaft, BLEND_MM)


def world_grid() -> np.ndarray:
    """World coordinates (mm) of every voxel centre, shape (3, *SHAPE)."""
    ijk = np.indices(SHAPE, dtype=float).reshape(3, -1)
    matrix = affine()
    return (matrix[:3, :3] @ ijk + matrix[:3, 3:]).reshape(3, *SHAPE)


def labels_and_density(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label image and rho_QCT [g/cm^3] (no noise) on the grid of world points x."""
    distance = bone_distance_mm(x)
    bone = distance < 0
    from_centre = x - HEAD_CENTRE_MM[:, None, None, None]
    polar = np.degrees(np.arccos(np.clip(from_centre[2] / np.maximum(np.linalg.norm(from_centre, axis=0), 1e-9), -1, 1)))
    cap = polar < ARTICULAR_HALF_ANGLE_DEG
    shell = np.where(cap, SUBCHONDRAL_MM, CORTEX_MM)
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[bone] = LABELS["trabecular"]
    labels[bone & (distance > -shell)] = LABELS["cortical"]
    labels[~bone & (distance < 2 * VOXEL_MM) & cap & (from_centre[2] > 0)] = LABELS["articular"]

    dome = HEAD_CENTRE_MM - 0.9 * HEAD_RADIUS_MM * HIP_FORCE_DIRECTION
    along = np.einsum("i...,i->...", x - dome[:, None, None, None], HIP_FORCE_DIRECTION)
    off_line = np.linalg.norm(x - dome[:, None, None, None] - np.multiply.outer(HIP_FORCE_DIRECTION, along), axis=0)
    group = np.exp(-0.5 * (off_line / COMPRESSIVE_GROUP_WIDTH_MM) ** 2) * np.clip(1.0 - along / 70.0, 0.0, 1.0) * (along > -5)
    density = np.zeros(SHAPE)
    density[labels == LABELS["trabecular"]] = (TRABECULAR_G_CM3 + COMPRESSIVE_GROUP_G_CM3 * group)[labels == LABELS["trabecular"]]
    density[labels == LABELS["cortical"]] = CORTEX_G_CM3
    for rod_x_mm, rod_g_cm3 in RODS:
        in_rod = np.hypot(x[0] - rod_x_mm, x[1] - ROD_Y_MM) < ROD_RADIUS_MM
        density[in_rod] = rod_g_cm3
    return labels, density


def ct_hu(labels: np.ndarray, density: np.ndarray, x: np.ndarray, seed: int) -> np.ndarray:
    """HU = rho_QCT / slope, soft tissue outside bone and rods, plus noise; int16 as a scanner stores it."""
    hu = density * HU_PER_G_CM3
    rods = np.zeros(SHAPE, dtype=bool)
    for rod_x_mm, _ in RODS:
        rods |= np.hypot(x[0] - rod_x_mm, x[1] - ROD_Y_MM) < ROD_RADIUS_MM
    hu[(labels == 0) & ~rods] = SOFT_TISSUE_HU
    hu[labels == LABELS["articular"]] = SOFT_TISSUE_HU
    hu += np.random.default_rng(seed).normal(0.0, NOISE_HU, SHAPE)
    return np.round(hu).astype(np.int16)


def oedema_mask(labels: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bone voxels in the lesion ellipsoid, at least 1 mm below the bone surface (0/1, uint8)."""
    centre = HEAD_CENTRE_MM + LESION_OFFSET_MM
    radius = np.sqrt(np.sum(((x - centre[:, None, None, None]) / LESION_SEMI_AXES_MM[:, None, None, None]) ** 2, axis=0))
    bone = (labels == LABELS["trabecular"]) | (labels == LABELS["cortical"])
    return (bone & (radius <= 1.0) & (bone_distance_mm(x) < -1.0)).astype(np.uint8)


def write_phantom(out: Path, seed: int) -> dict[str, Path]:
    """Write labels.nii.gz, ct.nii.gz and oedema_mask.nii.gz into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    x = world_grid()
    labels, density = labels_and_density(x)
    images = {"labels": labels, "ct": ct_hu(labels, density, x, seed), "oedema_mask": oedema_mask(labels, x)}
    paths = {}
    for name, data in images.items():
        image = nibabel.Nifti1Image(data, affine())
        image.header.set_xyzt_units("mm")
        image.set_qform(affine(), code=1)
        image.set_sform(affine(), code=1)
        paths[name] = out / f"{name}.nii.gz"
        nibabel.save(image, paths[name])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "examples" / "hip_phantom")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()
    for name, path in write_phantom(args.out, args.seed).items():
        print(f"{name}: {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
