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
