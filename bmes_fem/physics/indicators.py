"""Smooth indicators of shapes: chi(x) in [0, 1], about 1 inside, 0.5 on the surface, about 0 outside.

Each shape's indicator is the smooth step of a signed distance d (negative inside) over a width w,

    s(d) = (1 - tanh(d / w)) / 2          s = 0.5 on the surface, (1 - tanh 1) / 2 = 0.12 at d = w outside

- ellipsoid (centre c, semi-axes a, rotation Q): d = (r_e - 1) a_min, r_e = |diag(1/a) Q^T (x - c)| the
  ellipsoidal radius and a_min the smallest semi-axis (the distance along the smallest axis; exact for a ball);
- half-space through p with outward normal n (unit length): d = (x - p) . n;
- capsule, the points within r of the segment [P, Q]: d = |x - X| - r, X the point of [P, Q] nearest to x.

A region is a smooth union of parts minus a smooth union of spared parts: chi = U (1 - V), U the largest
indicator of the parts and V the largest of the spared parts (1 - V keeps what no spared part covers).
Points are arrays of shape (3, N) in metres; shapes are the config sections of bmes_fem.config.case
(``EllipsoidShape``, ``HalfSpaceShape``, ``CapsuleShape``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bmes_fem.config.case import CapsuleShape, EllipsoidShape, HalfSpaceShape


def smooth_step(scaled_distance: np.ndarray) -> np.ndarray:
    """s = (1 - tanh(d / w)) / 2 of the signed distance already divided by the width, d / w."""
    return 0.5 * (1.0 - np.tanh(scaled_distance))


def rotation_matrix(angles_rad: Sequence[float]) -> np.ndarray:
    """Intrinsic z-y'-x'' rotation (yaw, pitch, roll) taking a shape's axes to the bone frame."""
    yaw, pitch, roll = angles_rad
    cz, sz, cy, sy, cx, sx = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    return rz @ ry @ rx


def ellipsoid_indicator(x_m: np.ndarray, centre_m, semi_axes_m, rotation_rad, width_m: float) -> np.ndarray:
    """s((r_e - 1) a_min): 0.5 on the ellipsoid, 0.88 at a distance w inside and 0.12 at w outside along its
    smallest axis."""
    local = rotation_matrix(rotation_rad).T @ (x_m - np.asarray(centre_m)[:, None])
    radius = np.sqrt(np.sum((local / np.asarray(semi_axes_m)[:, None]) ** 2, axis=0))
    return smooth_step((radius - 1.0) * (min(semi_axes_m) / width_m))


def half_space_indicator(x_m: np.ndarray, point_m, normal, width_m: float) -> np.ndarray:
    """s((x - p) . n), n = normal / |normal|: 1 deep on the side n points away from."""
    unit_normal = np.asarray(normal, dtype=float) / np.linalg.norm(normal)
    distance_m = unit_normal @ (x_m - np.asarray(point_m)[:, None])
    return smooth_step(distance_m / width_m)


def capsule_indicator(x_m: np.ndarray, start_m, end_m, radius_m: float, width_m: float) -> np.ndarray:
    """s(|x - X| - r), X = P + t (Q - P) with t = clip((x - P) . (Q - P) / |Q - P|^2, 0, 1) the nearest point of [P, Q]."""
    start, axis = np.asarray(start_m), np.asarray(end_m) - np.asarray(start_m)
    relative = x_m - start[:, None]
    length_sq = float(axis @ axis)
    t = np.clip(axis @ relative / length_sq, 0.0, 1.0) if length_sq > 0.0 else np.zeros(x_m.shape[1])
    distance_m = np.linalg.norm(relative - np.outer(axis, t), axis=0)
    return smooth_step((distance_m - radius_m) / width_m)


def shape_indicator(shape: EllipsoidShape | HalfSpaceShape | CapsuleShape, x_m: np.ndarray, width_m: float) -> np.ndarray:
    """The indicator of one shape section at the points ``x_m``."""
    if isinstance(shape, EllipsoidShape):
        return ellipsoid_indicator(x_m, shape.centre, shape.semi_axes, shape.rotation, width_m)
    if isinstance(shape, HalfSpaceShape):
        return half_space_indicator(x_m, shape.point, shape.normal, width_m)
    return capsule_indicator(x_m, shape.start, shape.end, shape.radius, width_m)


def union_indicator(shapes: Sequence, x_m: np.ndarray, width_m: float) -> np.ndarray:
    """max over ``shapes`` of their indicators (0 for no shape)."""
    chi = np.zeros(x_m.shape[1])
    for shape in shapes:
        chi = np.maximum(chi, shape_indicator(shape, x_m, width_m))
    return chi


def region_indicator(parts: Sequence, spared: Sequence, x_m: np.ndarray, width_m: float) -> np.ndarray:
    """chi = U (1 - V): U = max over ``parts``, V = max over ``spared``, each with the width w."""
    return union_indicator(parts, x_m, width_m) * (1.0 - union_indicator(spared, x_m, width_m))
