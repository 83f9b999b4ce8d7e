"""Closed-form solutions used by the tests and benchmarks.

Conventions of the FE model: sigma = 2 G eps + lambda tr(eps) I - alpha p I (tension positive, compression
negative); fluid mass S dp/dt + alpha d(div u)/dt - div(kappa grad p) + beta p = sources, S = 1/M.
Any consistent units; in the model Pa, m, s, mobility kappa = k / mu in m^2/(Pa s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy.optimize import brentq


def uniform_steady_pressure(filtration: float, effective_capillary_pressure: float, venous_conductance: float, venous_pressure: float) -> float:
    """p0 = (L p_eff + G_v p_v) / (L + G_v): uniform coefficients, no-flux walls [Pa]."""
    return (filtration * effective_capillary_pressure + venous_conductance * venous_pressure) / (filtration + venous_conductance)


def excess_decay_time_s(storage: float, filtration: float, venous_conductance: float, *, capillary_reabsorption: bool) -> float:
    """tau = S / (G_v + L) with capillary reabsorption, S / G_v without [s]: the time constant of an excess pressure in a
    uniform no-flux region (an injection; towards p0 with reabsorption, towards p_v while p > p_eff without). S is the
    storage that multiplies dp/dt: 1/M + c_vasc held rigid, plus alpha^2 / K_dr free to swell."""
    return storage / (venous_conductance + (filtration if capillary_reabsorption else 0.0))


def filtration_only_relaxation(
    t_s: np.ndarray,
    *,
    initial_pressure: float,
    storage: float,
    filtration: float,
    effective_capillary_pressure: float,
    venous_conductance: float,
    venous_pressure: float,
) -> np.ndarray:
    """p(t) [Pa] of a uniform no-flux region, S dp/dt = L (p_eff - p)^+ - G_v (p - p_v), from p(0) = p_i (p_v < p_eff).

    Above p_eff only the veins drain: p = p_v + (p_i - p_v) exp(-t / tau_v), tau_v = S / G_v, until p = p_eff at
    t* = tau_v ln((p_i - p_v) / (p_eff - p_v)); then p = p0 + (p_eff - p0) exp(-(t - t*) / tau), tau = S / (L + G_v),
    p0 = `uniform_steady_pressure`. From p_i <= p_eff: the second law with t* = 0 and p_i for p_eff.
    """
    t_s = np.asarray(t_s, dtype=float)
    p_eff, p_v = effective_capillary_pressure, venous_pressure
    tau_v = excess_decay_time_s(storage, filtration, venous_conductance, capillary_reabsorption=False)
    tau = excess_decay_time_s(storage, filtration, venous_conductance, capillary_reabsorption=True)
    p0 = uniform_steady_pressure(filtration, p_eff, venous_conductance, p_v)
    crossing_s = tau_v * np.log((initial_pressure - p_v) / (p_eff - p_v)) if initial_pressure > p_eff else 0.0
    start = min(initial_pressure, p_eff)
    above = p_v + (initial_pressure - p_v) * np.exp(-t_s / tau_v)
    below = p0 + (start - p0) * np.exp(-(t_s - crossing_s) / tau)
    return np.where(t_s < crossing_s, above, below)


def filtration_only_column_pressure(
    z_m: np.ndarray,
    *,
    height: float,
    mobility: float,
    filtration: float,
    effective_capillary_pressure: float,
    venous_conductance: float,
    venous_pressure: float,
    outward_flux: float,
) -> np.ndarray:
    """Steady p(z) [Pa] in a column 0 <= z <= H with q_cap = L (p_eff - p)^+: no flux at z = 0, -kappa p'(H) = q_n at the
    top (q_n < 0 feeds it), uniform coefficients.

    kappa p'' = G_v (p - p_v) where p > p_eff (near the top), kappa p'' = (L + G_v)(p - p0) below; with
    a = sqrt(G_v / kappa), b = sqrt((L + G_v) / kappa) and the free boundary z* where p = p_eff (p and p' continuous):
    p = p0 + (p_eff - p0) cosh(b z) / cosh(b z*)                                  for z <= z*,
    p = p_v + (p_eff - p_v) cosh(a s) + (p_eff - p0)(b / a) tanh(b z*) sinh(a s),  s = z - z*, for z >= z*,
    z* from -kappa p'(H) = q_n (one root, as the problem has one solution; Brent's method). z* = H: the linear law holds throughout
    (p(H) <= p_eff); z* = 0 with p = p_v + (p(0) - p_v) cosh(a z) when the whole column is above p_eff.
    """
    z_m = np.asarray(z_m, dtype=float)
    p_eff, p_v, inflow = effective_capillary_pressure, venous_pressure, -outward_flux / mobility  # p'(H)
    p0 = uniform_steady_pressure(filtration, p_eff, venous_conductance, p_v)
    a, b = np.sqrt(venous_conductance / mobility), np.sqrt((filtration + venous_conductance) / mobility)

    def top_gradient(front: float) -> float:
        s = height - front
        return a * (p_eff - p_v) * np.sinh(a * s) + (p_eff - p0) * b * np.tanh(b * front) * np.cosh(a * s)

    if inflow <= top_gradient(height):
        return p0 + inflow / (b * np.sinh(b * height)) * np.cosh(b * z_m)
    if inflow >= top_gradient(0.0):
        return p_v + inflow / (a * np.sinh(a * height)) * np.cosh(a * z_m)
    front = brentq(lambda f: top_gradient(f) - inflow, 0.0, height, xtol=1e-15 * height, rtol=4 * np.finfo(float).eps)
    s = z_m - front
    above = p_v + (p_eff - p_v) * np.cosh(a * s) + (p_eff - p0) * b / a * np.tanh(b * front) * np.sinh(a * s)
    return np.where(z_m <= front, p0 + (p_eff - p0) * np.cosh(b * z_m) / np.cosh(b * front), above)


def _robin_sphere_coefficients(
    *, radius: float, mobility: float, reaction: float, source_pressure: float, conductance: float, outside_pressure: float
) -> tuple[float, float]:
    """(lambda [1/m], A [Pa m]) of p(r) = p_s + A sinh(lambda r) / r, see `robin_sphere_pressure`."""
    lam = np.sqrt(reaction / mobility)
    lr = lam * radius
    amplitude = conductance * (outside_pressure - source_pressure) * radius**2 / (
        mobility * (lr * np.cosh(lr) - np.sinh(lr)) + conductance * radius * np.sinh(lr)
    )
    return lam, amplitude


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
    lam, amplitude = _robin_sphere_coefficients(
        radius=radius, mobility=mobility, reaction=reaction, source_pressure=source_pressure,
        conductance=conductance, outside_pressure=outside_pressure,
    )
    r = np.asarray(r, dtype=float)
    safe_r = np.where(r > 0, r, 1.0)
    return source_pressure + amplitude * np.where(r > 0, np.sinh(lam * safe_r) / safe_r, lam)


def hollow_cylinder_drained_pressure(
    r: np.ndarray, *, inner_radius: float, outer_radius: float, mobility: float, reaction: float, source_pressure: float,
    wall_pressure: float,
) -> np.ndarray:  # fmt: skip
    """Radial solution of -kappa (p'' + p'/r) + beta (p - p_s) = 0 for a <= r <= b with p(a) = p_a (a drained tunnel's
    wall) and p'(b) = 0 (no flux through the outer wall): a core decompression tunnel on the axis of a cylinder.

    p(r) = p_s + (p_a - p_s) [I0(lambda r) K1(lambda b) + K0(lambda r) I1(lambda b)] / [I0(lambda a) K1(lambda b) + K0(lambda a) I1(lambda b)],
    lambda = sqrt(beta / kappa) (I0' = I1, K0' = -K1, so p'(b) = 0).
    """
    lam = np.sqrt(reaction / mobility)
    b = lam * outer_radius

    def shape(x):
        return special.i0(x) * special.k1(b) + special.k0(x) * special.i1(b)

    return source_pressure + (wall_pressure - source_pressure) * shape(lam * np.asarray(r, dtype=float)) / shape(lam * inner_radius)


def free_expansion_volumetric_strain(biot_coefficient: float, pressure: float, youngs_modulus: float, poisson_ratio: float) -> float:
    """div u = alpha p / K_dr with K_dr = E / (3 (1 - 2 nu)): uniform pore pressure, traction-free body."""
    return biot_coefficient * pressure * 3.0 * (1.0 - 2.0 * poisson_ratio) / youngs_modulus


def _sinh_moment(x: np.ndarray) -> np.ndarray:
    """phi(x) = (x cosh x - sinh x) / x^3 = 3 int_0^1 s^2 sinh(x s)/(x s) ds; Taylor series below x = 0.1."""
    x = np.abs(np.asarray(x, dtype=float))
    small = x < 0.1
    safe = np.where(small, 1.0, x)
    series = 1 / 3 + x**2 / 30 + x**4 / 840 + x**6 / 45360
    return np.where(small, series, (safe * np.cosh(safe) - np.sinh(safe)) / safe**3)


def free_expansion_sphere_displacement(
    r: np.ndarray,
    *,
    radius: float,
    youngs_modulus: float,
    poisson_ratio: float,
    biot_coefficient: float,
    mobility: float,
    reaction: float,
    source_pressure: float,
    conductance: float,
    outside_pressure: float,
) -> np.ndarray:
    """Radial displacement u_r [m] of a traction-free ball under the steady pressure of `robin_sphere_pressure`.

    Thermoelastic analogy (Timoshenko & Goodier 1970, Theory of Elasticity, 3rd ed., McGraw-Hill: solid sphere
    with a radial temperature, free surface) with beta T = alpha p / (3 K), K = E / (3 (1 - 2 nu)):
    u(r) = (1+nu)/(1-nu) (1/r^2) int_0^r beta T s^2 ds + 2 (1-2nu)/(1-nu) (r/R^3) int_0^R beta T s^2 ds
         = alpha r / (9 K (1 - nu)) [(1 + nu) pbar(r) + 2 (1 - 2 nu) pbar(R)],
    pbar(rho) = (3/rho^3) int_0^rho p s^2 ds = p_s + 3 A lambda phi(lambda rho), phi(x) = (x cosh x - sinh x)/x^3,
    from int_0^rho s sinh(lambda s) ds = (lambda rho cosh(lambda rho) - sinh(lambda rho)) / lambda^2.
    Uniform p (A = 0) gives u = alpha p r / (3 K), div u = alpha p / K.
    """
    lam, amplitude = _robin_sphere_coefficients(
        radius=radius, mobility=mobility, reaction=reaction, source_pressure=source_pressure,
        conductance=conductance, outside_pressure=outside_pressure,
    )
    r = np.asarray(r, dtype=float)
    nu = poisson_ratio
    bulk_modulus = youngs_modulus / (3 * (1 - 2 * nu))
    mean_inside = source_pressure + 3 * amplitude * lam * _sinh_moment(lam * r)
    mean_ball = source_pressure + 3 * amplitude * lam * _sinh_moment(lam * radius)
    return biot_coefficient * r / (9 * bulk_modulus * (1 - nu)) * ((1 + nu) * mean_inside + 2 * (1 - 2 * nu) * mean_ball)


def observed_rate(sizes: np.ndarray, errors: np.ndarray) -> float:
    """Slope of the least-squares line through (log h, log e)."""
    return float(np.polyfit(np.log(sizes), np.log(errors), 1)[0])


def rms_relative_error(computed: np.ndarray, exact: np.ndarray) -> float:
    """e = sqrt(sum (c - e)^2 / sum e^2) over the reference points (discrete relative l2 error)."""
    computed, exact = np.asarray(computed, dtype=float), np.asarray(exact, dtype=float)
    return float(np.sqrt(np.sum((computed - exact) ** 2) / np.sum(exact**2)))


@dataclass(frozen=True)
class BiotConstants:
    """Isotropic Biot constants (Detournay & Cheng 1993, Fundamentals of poroelasticity, Comprehensive Rock Engineering 2:113)."""

    drained_bulk_modulus: float  # K = E / (3 (1 - 2 nu)) [Pa]
    shear_modulus: float  # G = E / (2 (1 + nu)) [Pa]
    lame_lambda: float  # lambda = K - 2 G / 3 [Pa]
    poisson_ratio: float  # drained nu [-]
    biot_coefficient: float  # alpha [-]
    biot_modulus: float  # M = 1 / S [Pa]
    mobility: float  # kappa = k / mu [m^2/(Pa s)]
    undrained_bulk_modulus: float  # K_u = K + alpha^2 M [Pa]
    skempton_coefficient: float  # B = alpha M / K_u [-]
    undrained_poisson_ratio: float  # nu_u = (3 K_u - 2 G) / (2 (3 K_u + G)) [-]
    consolidation_coefficient_1d: float  # c_1D = kappa / (S + alpha^2 / (K + 4G/3)), Terzaghi's [m^2/s]
    consolidation_coefficient: float  # c = kappa M (K + 4G/3) / (K_u + 4G/3), equal to c_1D for S = 1/M [m^2/s]


def biot_constants(youngs_modulus: float, poisson_ratio: float, biot_coefficient: float, biot_modulus: float, mobility: float) -> BiotConstants:
    """Drained, undrained and diffusion constants from (E, nu, alpha, M, kappa) (Detournay & Cheng 1993).

    K = E / (3 (1 - 2 nu)), G = E / (2 (1 + nu)), K_u = K + alpha^2 M, B = alpha M / K_u,
    nu_u = (3 K_u - 2 G) / (2 (3 K_u + G)), c_1D = kappa / (1/M + alpha^2 / (K + 4G/3)),
    c = kappa M (K + 4G/3) / (K_u + 4G/3) (Detournay & Cheng 1993, Comprehensive Rock Engineering 2:113).
    """
    bulk = youngs_modulus / (3 * (1 - 2 * poisson_ratio))
    shear = youngs_modulus / (2 * (1 + poisson_ratio))
    undrained_bulk = bulk + biot_coefficient**2 * biot_modulus
    oedometric = bulk + 4 * shear / 3
    return BiotConstants(
        drained_bulk_modulus=bulk,
        shear_modulus=shear,
        lame_lambda=bulk - 2 * shear / 3,
        poisson_ratio=poisson_ratio,
        biot_coefficient=biot_coefficient,
        biot_modulus=biot_modulus,
        mobility=mobility,
        undrained_bulk_modulus=undrained_bulk,
        skempton_coefficient=biot_coefficient * biot_modulus / undrained_bulk,
        undrained_poisson_ratio=(3 * undrained_bulk - 2 * shear) / (2 * (3 * undrained_bulk + shear)),
        consolidation_coefficient_1d=mobility / (1 / biot_modulus + biot_coefficient**2 / oedometric),
        consolidation_coefficient=mobility * biot_modulus * oedometric / (undrained_bulk + 4 * shear / 3),
    )


def backward_euler_factor(rate: np.ndarray, step: int, time_step: float) -> np.ndarray:
    """(1 + lambda dt)^(-n): backward Euler's replacement of exp(-lambda t) for a mode of decay rate lambda [1/s].

    Why a modal series with this factor is the exact time-discrete solution (the classical argument for
    single-step schemes: Thomee 2006, Galerkin Finite Element Methods for Parabolic Problems, 2nd ed., Springer):
    the momentum balance has no time derivative, so u = u_f + L p is affine in p, and the fluid content
    zeta = S p + alpha div u = C p + zeta_f with C = S + alpha^2 (drained compliance) symmetric positive definite.
    The fluid balance is C dp/dt + A (p - p_inf) = 0 (A: Darcy and reaction, sources in the steady state p_inf);
    its modes A phi_i = lambda_i C phi_i give x(t) = x_inf + sum a_i phi_i exp(-lambda_i t) from the undrained
    state x(0+), and backward Euler, C (p_n - p_{n-1}) + dt A (p_n - p_inf) = 0, scales mode i by
    1 / (1 + lambda_i dt) per step. The FE run starts from the unloaded state (zeta_0 = 0) with the load switched
    on at step 1; the undrained state has zeta = 0 as well (no time to flow), and a step depends on the previous
    state only through zeta, so step 1 from either state is the same and, for n >= 1,
    x_n = x_inf + sum a_i phi_i (1 + lambda_i dt)^(-n)  (u_n follows p_n through the affine map).
    The FE semi-discretisation obeys the same algebra, so at fixed dt the FE error against this series is the
    spatial error alone.
    """
    return np.power(1.0 + np.asarray(rate, dtype=float) * time_step, -float(step))


def backward_euler_steps_factor(rate: np.ndarray, time_steps: np.ndarray) -> np.ndarray:
    """prod_j (1 + lambda dt_j)^(-1): backward Euler through steps of lengths dt_1 ... dt_n (time stages);
    equal steps give `backward_euler_factor` (the argument there holds step by step)."""
    products = np.log1p(np.outer(np.asarray(time_steps, dtype=float), np.asarray(rate, dtype=float)))
    return np.exp(-products.sum(axis=0))


def undrained_pressure(load: float, *, drained_modulus_m: float, storage: float, biot_coefficient: float) -> float:
    """p0 = alpha m q / (S + alpha^2 m): the pressure a sudden 1D load q raises before any drainage."""
    return biot_coefficient * drained_modulus_m * load / (storage + biot_coefficient**2 * drained_modulus_m)


def _terzaghi_rates(terms: int, *, height: float, drained_modulus_m: float, storage: float, biot_coefficient: float, mobility: float) -> np.ndarray:
    """Decay rates (2k-1)^2 pi^2 c / (4 h^2) [1/s] of the Terzaghi modes k = 1..terms, c = kappa / (S + alpha^2 m)."""
    c = mobility / (storage + biot_coefficient**2 * drained_modulus_m)
    odd = 2 * np.arange(1, terms + 1) - 1
    return odd**2 * np.pi**2 * c / (4 * height**2)


def _terzaghi_series(
    z: np.ndarray, decay: np.ndarray, *, height: float, load: float, drained_modulus_m: float, storage: float, biot_coefficient: float
) -> tuple[np.ndarray, float]:
    """(p at z, top displacement) of the Terzaghi series with mode k scaled by decay[k-1], see `terzaghi`."""
    m = drained_modulus_m
    p0 = undrained_pressure(load, drained_modulus_m=m, storage=storage, biot_coefficient=biot_coefficient)
    odd = 2 * np.arange(1, decay.size + 1) - 1
    signs = (-1.0) ** (np.arange(decay.size))
    z = np.atleast_1d(np.asarray(z, dtype=float))
    pressure = 4 * p0 / np.pi * np.sum(signs / odd * np.cos(np.outer(z, odd) * np.pi / (2 * height)) * decay, axis=1)
    integral = 8 * p0 * height / np.pi**2 * np.sum(decay / odd**2)
    return pressure, -m * load * height + biot_coefficient * m * integral


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
    Returns (p at z, top displacement w) (Terzaghi 1923, Sitzungsber. Akad. Wiss. Wien IIa 132:125;
    Wang 2000, Theory of Linear Poroelasticity, Princeton University Press).
    """
    rates = _terzaghi_rates(
        terms, height=height, drained_modulus_m=drained_modulus_m, storage=storage, biot_coefficient=biot_coefficient, mobility=mobility
    )
    return _terzaghi_series(
        z, np.exp(-rates * t), height=height, load=load, drained_modulus_m=drained_modulus_m, storage=storage,
        biot_coefficient=biot_coefficient,
    )


def terzaghi_backward_euler(
    z: np.ndarray,
    step: int,
    time_step: float,
    *,
    height: float,
    load: float,
    drained_modulus_m: float,
    storage: float,
    biot_coefficient: float,
    mobility: float,
    terms: int = 400,
) -> tuple[np.ndarray, float]:
    """`terzaghi` after n = step >= 1 backward-Euler steps of dt = time_step from the unloaded column.

    Each mode's exp(-mu_k c t) becomes (1 + mu_k c dt)^(-n), mu_k = (2k-1)^2 pi^2 / (4 h^2) (see
    `backward_euler_factor` for why this is exact); n = 1 solves p - c dt p_zz = p0, p(h) = 0, p_z(0) = 0.
    Returns (p at z, top displacement w_n).
    """
    return terzaghi_backward_euler_steps(
        z, np.full(step, time_step), height=height, load=load, drained_modulus_m=drained_modulus_m, storage=storage,
        biot_coefficient=biot_coefficient, mobility=mobility, terms=terms,
    )


def terzaghi_backward_euler_steps(
    z: np.ndarray,
    time_steps: np.ndarray,
    *,
    height: float,
    load: float,
    drained_modulus_m: float,
    storage: float,
    biot_coefficient: float,
    mobility: float,
    terms: int = 400,
) -> tuple[np.ndarray, float]:
    """`terzaghi_backward_euler` through steps of the given lengths (a time-stage list): mode k scaled by
    prod_j (1 + mu_k c dt_j)^(-1) (`backward_euler_steps_factor`)."""
    rates = _terzaghi_rates(
        terms, height=height, drained_modulus_m=drained_modulus_m, storage=storage, biot_coefficient=biot_coefficient, mobility=mobility
    )
    return _terzaghi_series(
        z, backward_euler_steps_factor(rates, time_steps), height=height, load=load, drained_modulus_m=drained_modulus_m,
        storage=storage, biot_coefficient=biot_coefficient,
    )


def mandel_roots(nu: float, nu_u: float, count: int) -> np.ndarray:
    """The first `count` positive roots of tan(alpha) = k alpha, k = (1 - nu) / (nu_u - nu) > 1 (Mandel 1953).

    Written as g(alpha) = sin(alpha) - k alpha cos(alpha) = 0 (no poles). For k > 1, root i lies in
    ((i-1) pi, (i-1/2) pi): g(0+) < 0 (g'(0) = 1 - k), g((i-1) pi) = -(-1)^(i-1) k (i-1) pi and
    g((i-1/2) pi) = (-1)^(i-1); alpha_i -> (i-1/2) pi - 1 / (k (i-1/2) pi) for large i.
    Vectorised bisection to the floating-point resolution (Mandel 1953, Geotechnique 3:287).
    """
    if not nu < nu_u <= 0.5:
        raise ValueError(f"Mandel's roots need nu < nu_u <= 1/2, got nu = {nu}, nu_u = {nu_u}")
    k = (1 - nu) / (nu_u - nu)
    index = np.arange(1, count + 1)
    lo, hi = (index - 1) * np.pi, (index - 0.5) * np.pi
    sign_hi = np.sign(np.sin(hi))
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        same = np.sign(np.sin(mid) - k * mid * np.cos(mid)) == sign_hi
        hi, lo = np.where(same, mid, hi), np.where(same, lo, mid)
    return 0.5 * (lo + hi)


def _mandel_rates(a: float, constants: BiotConstants, terms: int) -> tuple[np.ndarray, np.ndarray]:
    """(alpha_i, decay rates alpha_i^2 c / a^2 [1/s]) of Mandel's modes i = 1..terms."""
    roots = mandel_roots(constants.poisson_ratio, constants.undrained_poisson_ratio, terms)
    return roots, roots**2 * constants.consolidation_coefficient / a**2


def _mandel_pressure_series(x: np.ndarray, roots: np.ndarray, decay: np.ndarray, *, a: float, force_per_length: float, constants: BiotConstants) -> np.ndarray:
    """p(x) of Mandel's series with mode i scaled by decay[i-1], see `mandel_pressure`."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    weights = np.sin(roots) / (roots - np.sin(roots) * np.cos(roots)) * decay
    scale = 2 * force_per_length * constants.skempton_coefficient * (1 + constants.undrained_poisson_ratio) / (3 * a)
    return scale * (np.cos(np.outer(x, roots) / a) - np.cos(roots)) @ weights


def _mandel_displacement_series(
    x: np.ndarray, y: np.ndarray, roots: np.ndarray, decay: np.ndarray, *, a: float, force_per_length: float, constants: BiotConstants
) -> tuple[np.ndarray, np.ndarray]:
    """(u_x(x), u_y(y)) of Mandel's series with mode i scaled by decay[i-1], see `mandel_displacement`."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    nu, nu_u = constants.poisson_ratio, constants.undrained_poisson_ratio
    denominator = roots - np.sin(roots) * np.cos(roots)
    uniform = np.sum(np.sin(roots) * np.cos(roots) / denominator * decay)
    scale = force_per_length / (constants.shear_modulus * a)
    u_x = scale * ((nu / 2 - nu_u * uniform) * x + a * np.sin(np.outer(x, roots) / a) @ (np.cos(roots) / denominator * decay))
    u_y = scale * (-(1 - nu) / 2 + (1 - nu_u) * uniform) * y
    return u_x, u_y


def mandel_pressure(x: np.ndarray, t: float, *, a: float, force_per_length: float, constants: BiotConstants, terms: int = 400) -> np.ndarray:
    """Mandel's pore pressure p(x, t) [Pa] (Mandel 1953; Cheng & Detournay 1988, Int J Numer Anal Methods Geomech 12:551;
    Abousleiman et al. 1996, Geotechnique 46:187), plane strain, S = 1/M.

    Specimen -a <= x <= a, -b <= y <= b between rigid frictionless impermeable plates at y = +-b that press it
    with a total compressive force 2F per unit out-of-plane length (F = force_per_length > 0, the force on the
    plate of the quarter model 0 <= x <= a, 0 <= y <= b; mean vertical stress sigma_yy = -F / a); faces x = +-a
    drained (p = 0) and traction-free; load switched on at t = 0:
    p = (2 F B (1 + nu_u) / (3 a)) sum_i sin(alpha_i) / (alpha_i - sin(alpha_i) cos(alpha_i))
        (cos(alpha_i x / a) - cos(alpha_i)) exp(-alpha_i^2 c t / a^2),  alpha_i from `mandel_roots`.
    At t = 0+ the sum is 1/2: the undrained p0 = F B (1 + nu_u) / (3 a) = -B sigma_mean.
    """
    roots, rates = _mandel_rates(a, constants, terms)
    return _mandel_pressure_series(x, roots, np.exp(-rates * t), a=a, force_per_length=force_per_length, constants=constants)


def mandel_pressure_backward_euler(
    x: np.ndarray, step: int, time_step: float, *, a: float, force_per_length: float, constants: BiotConstants, terms: int = 400
) -> np.ndarray:
    """`mandel_pressure` after n = step >= 1 backward-Euler steps of dt = time_step from the unloaded specimen.

    Each exp(-alpha_i^2 c t / a^2) becomes (1 + alpha_i^2 c dt / a^2)^(-n) (`backward_euler_factor`; Mandel 1953;
    Cheng & Detournay 1988, Int J Numer Anal Methods Geomech 12:551).
    """
    roots, rates = _mandel_rates(a, constants, terms)
    return _mandel_pressure_series(
        x, roots, backward_euler_factor(rates, step, time_step), a=a, force_per_length=force_per_length, constants=constants
    )


def mandel_displacement(
    x: np.ndarray, y: np.ndarray, t: float, *, a: float, force_per_length: float, constants: BiotConstants, terms: int = 400
) -> tuple[np.ndarray, np.ndarray]:
    """Mandel's displacements (u_x(x, t), u_y(y, t)) [m] about the centre, same set-up and F as `mandel_pressure`.

    (Cheng & Detournay 1988, Int J Numer Anal Methods Geomech 12:551; Abousleiman et al. 1996, Geotechnique 46:187)
    with d_i = alpha_i - sin(alpha_i) cos(alpha_i), e_i = exp(-alpha_i^2 c t / a^2):
    u_x = (F / (G a)) [(nu/2 - nu_u sum_i sin(alpha_i) cos(alpha_i) e_i / d_i) x + a sum_i cos(alpha_i) sin(alpha_i x/a) e_i / d_i],
    u_y = (F / (G a)) [-(1 - nu)/2 + (1 - nu_u) sum_i sin(alpha_i) cos(alpha_i) e_i / d_i] y;
    u_y(b, t) is the plate displacement. Limits (uniaxial plane-strain stress sigma_yy = -F/a, sigma_xx = 0):
    drained u_y(b) = -F b (1 - nu) / (2 G a), u_x(a) = F nu / (2 G); undrained the same with nu_u.
    """
    roots, rates = _mandel_rates(a, constants, terms)
    return _mandel_displacement_series(x, y, roots, np.exp(-rates * t), a=a, force_per_length=force_per_length, constants=constants)


def mandel_displacement_backward_euler(
    x: np.ndarray, y: np.ndarray, step: int, time_step: float, *, a: float, force_per_length: float, constants: BiotConstants, terms: int = 400
) -> tuple[np.ndarray, np.ndarray]:
    """`mandel_displacement` after n = step >= 1 backward-Euler steps of dt = time_step from the unloaded specimen.

    Each exp(-alpha_i^2 c t / a^2) becomes (1 + alpha_i^2 c dt / a^2)^(-n) (`backward_euler_factor`;
    Cheng & Detournay 1988, Int J Numer Anal Methods Geomech 12:551).
    """
    roots, rates = _mandel_rates(a, constants, terms)
    return _mandel_displacement_series(
        x, y, roots, backward_euler_factor(rates, step, time_step), a=a, force_per_length=force_per_length, constants=constants
    )
