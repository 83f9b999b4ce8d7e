"""Closed-form solutions used by the tests and benchmarks."""

from __future__ import annotations

import numpy as np


def uniform_steady_pressure(filtration: float, effective_capillary_pressure: float, venous_conductance: float, venous_pressure: float) -> float:
    """p0 = (L p_eff + G_v p_v) / (L + G_v): uniform coefficients, no-flux walls [Pa]."""
    return (filtration * effective_capillary_pressure + venous_conductance * venous_pressure) / (filtration + venous_conductance)


def robin_sphere_pressure(
    r: np.ndarray,
    *,
    radius: float,
    mobility: float,
    reaction: float,
    source_pressure: float,
    conductance: float,
    outside_pressure: float,
) -> np.ndarray:
    """Radial solution of -kappa lap p + beta (p - p_s) = 0 in a ball with -kappa dp/dr = h (p - p_b) at r = R.

    p(r) = p_s + A sinh(lambda r) / r,  lambda = sqrt(beta / kappa),
    A = h (p_b - p_s) R^2 / (kappa (lambda R cosh(lambda R) - sinh(lambda R)) + h R sinh(lambda R)).
    """
    lam = np.sqrt(reaction / mobility)
    lr = lam * radius
    amplitude = conductance * (outside_pressure - source_pressure) * radius**2 / (
        mobility * (lr * np.cosh(lr) - np.sinh(lr)) + conductance * radius * np.sinh(lr)
    )
    r = np.asarray(r, dtype=float)
    safe_r = np.where(r > 0, r, 1.0)
    return source_pressure + amplitude * np.where(r > 0, np.sinh(lam * safe_r) / safe_r, lam)


def free_expansion_volumetric_strain(biot_coefficient: float, pressure: float, youngs_modulus: float, poisson_ratio: float) -> float:
    """div u = alpha p / K_dr with K_dr = E / (3 (1 - 2 nu)): uniform pore pressure, traction-free body."""
    return biot_coefficient * pressure * 3.0 * (1.0 - 2.0 * poisson_ratio) / youngs_modulus


def observed_rate(sizes: np.ndarray, errors: np.ndarray) -> float:
    """Slope of the least-squares line through (log h, log e)."""
    return float(np.polyfit(np.log(sizes), np.log(errors), 1)[0])


def undrained_pressure(load: float, *, drained_modulus_m: float, storage: float, biot_coefficient: float) -> float:
    """p0 = alpha m q / (S + alpha^2 m): the pressure a sudden 1D load q raises before any drainage."""
    return biot_coefficient * drained_modulus_m * load / (storage + biot_coefficient**2 * drained_modulus_m)


def terzaghi(
    z: np.ndarray,
    t: float,
    *,
    height: float,
    load: float,
    drained_modulus_m: float,
    storage: float,
    biot_coefficient: float,
    mobility: float,
    terms: int = 400,
) -> tuple[np.ndarray, float]:
    """Terzaghi consolidation of a column (base z = 0 impermeable, top z = h drained, loaded by q at t = 0).

    m = 1 / (K + 4G/3), c = kappa / (S + alpha^2 m), p0 = alpha m q / (S + alpha^2 m);
    p(z, t) = (4 p0 / pi) sum_k (-1)^(k-1) / (2k-1) cos((2k-1) pi z / 2h) exp(-(2k-1)^2 pi^2 c t / 4h^2);
    settlement w(t) = -m q h + alpha m int_0^h p dz,  int_0^h p dz = (8 p0 h / pi^2) sum_k exp(...) / (2k-1)^2.
    Returns (p at z, top displacement w).
    """
    m = drained_modulus_m
    c = mobility / (storage + biot_coefficient**2 * m)
    p0 = undrained_pressure(load, drained_modulus_m=m, storage=storage, biot_coefficient=biot_coefficient)
    odd = 2 * np.arange(1, terms + 1) - 1
    decay = np.exp(-(odd**2) * np.pi**2 * c * t / (4 * height**2))
    signs = (-1.0) ** (np.arange(terms))
    z = np.atleast_1d(np.asarray(z, dtype=float))
    pressure = 4 * p0 / np.pi * np.sum(signs / odd * np.cos(np.outer(z, odd) * np.pi / (2 * height)) * decay, axis=1)
    integral = 8 * p0 * height / np.pi**2 * np.sum(decay / odd**2)
    return pressure, -m * load * height + biot_coefficient * m * integral
