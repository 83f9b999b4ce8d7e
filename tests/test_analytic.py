"""The closed forms themselves: limits, the equations they solve, independent discretisations (NumPy/SciPy only)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.linalg import solve_banded
from scipy.optimize import brentq

from bmes_fem.physics import analytic

# MOOSE / PorousFlow Terzaghi benchmark, as in test_biot.py: K + 4G/3 = lambda + 2G = 8
TERZAGHI = dict(height=10.0, load=1.0, drained_modulus_m=1.0 / 8.0, storage=0.0625, biot_coefficient=0.6, mobility=1.5)
TERZAGHI_C = 1.5 / (0.0625 + 0.6**2 / 8.0)  # kappa / (S + alpha^2 m) = 13.953...
TERZAGHI_P0 = 0.6 / 8.0 / (0.0625 + 0.6**2 / 8.0)  # alpha m q / (S + alpha^2 m) = 0.69767

# MOOSE's Mandel benchmark (modules/combined/test/tests/poro_mechanics/mandel.i): lambda = 0.5, G = 0.75 so K = 1,
# nu = 0.2 and E = 3 K (1 - 2 nu) = 1.8; alpha = 0.6; M = 1 / (phi/Kf + (alpha - phi)(1 - alpha)/K) with phi = 0.1, Kf = 8
MOOSE_MANDEL = dict(youngs_modulus=1.8, poisson_ratio=0.2, biot_coefficient=0.6, biot_modulus=1 / (0.1 / 8 + 0.5 * 0.4), mobility=1.5)
CONSTANTS = analytic.biot_constants(**MOOSE_MANDEL)
A, B_HEIGHT, F = 1.0, 0.1, 1.0  # quarter 0 <= x <= a, 0 <= y <= b; force F per unit length on its plate
MANDEL = dict(a=A, force_per_length=F, constants=CONSTANTS)
MANDEL_P0 = F * CONSTANTS.skempton_coefficient * (1 + CONSTANTS.undrained_poisson_ratio) / (3 * A)

# test_physics.py's leak/drainage sphere, with elastic constants
SPHERE = dict(radius=1.0, mobility=1.0, reaction=9.0, source_pressure=0.0, conductance=2.0, outside_pressure=1.0)
SPHERE_SOLID = dict(youngs_modulus=3.0, poisson_ratio=0.3, biot_coefficient=0.8)


def _derivative(f, x, h):
    """Fourth-order central difference f'(x)."""
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


# ---------------------------------------------------------------- constants, error measures


def test_biot_constants_reproduce_moose_mandel_values():
    """The numbers written in MOOSE's mandel.i: K = 1, K_u = 2.694118, nu_u = 0.372627, B = 1.048035, c = 3.821656."""
    c = CONSTANTS
    assert c.drained_bulk_modulus == pytest.approx(1.0, rel=1e-12)
    assert c.shear_modulus == pytest.approx(0.75, rel=1e-12)
    assert c.lame_lambda == pytest.approx(0.5, rel=1e-12)
    printed = 5e-7  # half a unit in the sixth decimal MOOSE prints
    assert c.biot_modulus == pytest.approx(4.705882, abs=printed)
    assert c.undrained_bulk_modulus == pytest.approx(2.694118, abs=printed)
    assert c.undrained_poisson_ratio == pytest.approx(0.372627, abs=printed)
    assert c.skempton_coefficient == pytest.approx(1.048035, abs=printed)
    assert c.consolidation_coefficient == pytest.approx(3.821656, abs=printed)


@pytest.mark.parametrize(
    "params",
    [MOOSE_MANDEL, dict(youngs_modulus=2.5e3, poisson_ratio=0.35, biot_coefficient=1.0, biot_modulus=4.0e4, mobility=3e-11)],
)
def test_consolidation_coefficients_coincide_and_match_the_textbook_forms(params):
    c = analytic.biot_constants(**params)
    nu, nu_u, G, B, kappa = c.poisson_ratio, c.undrained_poisson_ratio, c.shear_modulus, c.skempton_coefficient, c.mobility
    # c_1D (storage form, S = 1/M) and c (Detournay & Cheng 1993) are the same number
    assert c.consolidation_coefficient_1d == pytest.approx(c.consolidation_coefficient, rel=1e-12)
    # Cheng & Detournay (1988) / Abousleiman et al. (1996): c = 2 kappa B^2 G (1 - nu)(1 + nu_u)^2 / (9 (1 - nu_u)(nu_u - nu))
    textbook = 2 * kappa * B**2 * G * (1 - nu) * (1 + nu_u) ** 2 / (9 * (1 - nu_u) * (nu_u - nu))
    assert c.consolidation_coefficient == pytest.approx(textbook, rel=1e-12)
    # Terzaghi's c in terzaghi(): kappa / (S + alpha^2 m), m = 1 / (lambda + 2 G)
    m = 1 / (c.lame_lambda + 2 * G)
    assert c.consolidation_coefficient == pytest.approx(kappa / (1 / c.biot_modulus + c.biot_coefficient**2 * m), rel=1e-12)
    # undrained elasticity: K_u = 2 G (1 + nu_u) / (3 (1 - 2 nu_u)); B = 3 (nu_u - nu) / (alpha (1 - 2 nu)(1 + nu_u))
    assert c.undrained_bulk_modulus == pytest.approx(2 * G * (1 + nu_u) / (3 * (1 - 2 * nu_u)), rel=1e-12)
    assert pytest.approx(3 * (nu_u - nu) / (c.biot_coefficient * (1 - 2 * nu) * (1 + nu_u)), rel=1e-12) == B


def test_rms_relative_error_and_observed_rate():
    exact = np.array([3.0, 4.0])
    assert analytic.rms_relative_error(1.01 * exact, exact) == pytest.approx(0.01, rel=1e-12)
    assert analytic.rms_relative_error([3.0, 5.0], exact) == pytest.approx(0.2, rel=1e-12)  # sqrt(1 / 25)
    sizes = np.array([0.4, 0.2, 0.1])
    assert analytic.observed_rate(sizes, 3.0 * sizes**2) == pytest.approx(2.0, rel=1e-12)


def test_backward_euler_factor_obeys_the_recurrence_and_tends_to_the_exponential():
    rates = np.array([0.1, 1.0, 30.0])
    dt = 0.05
    for n in (1, 2, 7):  # f_{n-1} = (1 + lambda dt) f_n, f_0 = 1
        previous = analytic.backward_euler_factor(rates, n - 1, dt)
        assert np.allclose(previous, (1 + rates * dt) * analytic.backward_euler_factor(rates, n, dt), rtol=1e-14)
    assert np.array_equal(analytic.backward_euler_factor(rates, 0, dt), np.ones(3))
    t, n = 0.8, 10**6
    assert np.allclose(analytic.backward_euler_factor(rates, n, t / n), np.exp(-rates * t), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- Terzaghi


def _terzaghi_backward_euler(z, n, dt, **kwargs):
    return analytic.terzaghi_backward_euler(z, n, dt, **TERZAGHI, **kwargs)


def test_terzaghi_backward_euler_tends_to_the_continuous_series_at_first_order():
    z, t = np.linspace(0.0, TERZAGHI["height"], 11), 2.0  # c t / h^2 = 0.28
    p_exact, w_exact = analytic.terzaghi(z, t, **TERZAGHI)

    def error(n):
        p, w = _terzaghi_backward_euler(z, n, t / n)
        return max(np.max(np.abs(p - p_exact)) / TERZAGHI_P0, abs(w - w_exact) / abs(w_exact))

    assert error(10**6) < 1e-6
    assert error(10) > 1e-3  # dt = 0.2: the time-discrete series is a different function
    steps = np.array([100, 200, 400])
    assert analytic.observed_rate(t / steps, np.array([error(n) for n in steps])) == pytest.approx(1.0, abs=0.02)


def test_terzaghi_first_step_is_the_closed_form_boundary_layer():
    """n = 1: p - c dt p_zz = p0, p(h) = 0, p_z(0) = 0  =>  p = p0 (1 - cosh(z/L) / cosh(h/L)), L = sqrt(c dt)."""
    h, m, alpha, q = TERZAGHI["height"], TERZAGHI["drained_modulus_m"], TERZAGHI["biot_coefficient"], TERZAGHI["load"]
    dt = 0.01 * h**2 / TERZAGHI_C
    length = np.sqrt(TERZAGHI_C * dt)
    z = np.linspace(0.0, h, 21)
    p, w = _terzaghi_backward_euler(z, 1, dt)
    assert np.allclose(p, TERZAGHI_P0 * (1 - np.cosh(z / length) / np.cosh(h / length)), rtol=0, atol=1e-6 * TERZAGHI_P0)
    assert w == pytest.approx(-m * q * h + alpha * m * TERZAGHI_P0 * (h - length * np.tanh(h / length)), rel=1e-6)


def test_terzaghi_first_tiny_step_is_undrained():
    h, m, alpha, q, storage = (TERZAGHI[k] for k in ("height", "drained_modulus_m", "biot_coefficient", "load", "storage"))
    dt = 1e-6 * h**2 / TERZAGHI_C  # boundary layer sqrt(c dt) = h / 1000
    p, w = _terzaghi_backward_euler(np.linspace(0.0, 0.9 * h, 10), 1, dt, terms=20000)
    assert pytest.approx(0.69767, rel=1e-5) == TERZAGHI_P0  # MOOSE's p0
    assert np.allclose(p, TERZAGHI_P0, rtol=1e-6, atol=0)
    # undrained settlement -m q h S / (S + alpha^2 m), less the drained layer alpha m p0 sqrt(c dt)
    assert w == pytest.approx(-m * q * h * storage / (storage + alpha**2 * m) - alpha * m * TERZAGHI_P0 * h / 1000, rel=1e-6)


def test_terzaghi_backward_euler_matches_finite_differences_from_the_unloaded_column():
    """Second-order FD of zeta_n - zeta_{n-1} = dt kappa p_zz, zeta = S p + alpha m (alpha p - q), zeta_0 = 0 (unloaded)."""
    h, m, alpha, q, storage, kappa = (
        TERZAGHI[k] for k in ("height", "drained_modulus_m", "biot_coefficient", "load", "storage", "mobility")
    )
    dt = 0.01 * h**2 / TERZAGHI_C
    cells = 4000
    z = np.linspace(0.0, h, cells + 1)
    r = dt * kappa / (h / cells) ** 2
    capacity = storage + alpha**2 * m
    # unknowns p_0..p_{N-1} (p_N = 0); ghost node p_{-1} = p_1 for p_z(0) = 0
    bands = np.zeros((3, cells))
    bands[0, 1:] = -r
    bands[0, 1] = -2 * r
    bands[1, :] = capacity + 2 * r
    bands[2, :-1] = -r
    zeta_previous = np.zeros(cells + 1)
    for n in (1, 2, 3):
        p = np.zeros(cells + 1)
        p[:-1] = solve_banded((1, 1), bands, zeta_previous[:-1] + alpha * m * q)
        strain = m * (alpha * p - q)
        zeta_previous = storage * p + alpha * strain
        settlement = np.sum(0.5 * (strain[1:] + strain[:-1])) * h / cells
        p_series, w_series = _terzaghi_backward_euler(z, n, dt, terms=4000)
        assert np.max(np.abs(p - p_series)) < 1e-5 * TERZAGHI_P0
        assert settlement == pytest.approx(w_series, rel=1e-5)


# ---------------------------------------------------------------- Mandel


def test_mandel_roots_are_bracketed_accurate_and_asymptotic():
    nu, nu_u = CONSTANTS.poisson_ratio, CONSTANTS.undrained_poisson_ratio
    k = (1 - nu) / (nu_u - nu)
    count = 5000
    roots = analytic.mandel_roots(nu, nu_u, count)
    index = np.arange(1, count + 1)
    assert np.all(roots > (index - 1) * np.pi) and np.all(roots < (index - 0.5) * np.pi)
    residual = np.sin(roots) - k * roots * np.cos(roots)
    slope = (1 - k) * np.cos(roots) + k * roots * np.sin(roots)
    assert np.all(np.abs(residual / slope) < 4 * np.spacing(roots))  # within 4 ulps of the root
    for i in range(5):  # SciPy's Brent on tan(alpha) - k alpha, bracketed away from the pole
        lower, upper = i * np.pi + (1e-9 if i == 0 else 0.0), (i + 0.5) * np.pi - 1e-9
        assert roots[i] == pytest.approx(brentq(lambda s: np.tan(s) - k * s, lower, upper, xtol=1e-15), rel=1e-13)
    beta = (count - 0.5) * np.pi  # alpha_i = beta - 1/(k beta) + O(beta^-3)
    assert roots[-1] == pytest.approx(beta - 1 / (k * beta), abs=1e-10)
    with pytest.raises(ValueError):
        analytic.mandel_roots(0.3, 0.3, 3)


def _plane_strain_uniaxial(youngs_modulus, poisson_ratio):
    """(eps_xx, eps_yy) under sigma_yy = -F/a, sigma_xx = 0, eps_zz = 0 (so sigma_zz = nu sigma_yy)."""
    sigma_yy = -F / A
    return -poisson_ratio * (1 + poisson_ratio) * sigma_yy / youngs_modulus, (1 - poisson_ratio**2) * sigma_yy / youngs_modulus


def test_mandel_undrained_limit():
    c = CONSTANTS
    sigma_yy = -F / A  # plate force 2F on width 2a
    mean_stress = (1 + c.undrained_poisson_ratio) * sigma_yy / 3  # (sigma_xx + sigma_yy + nu_u sigma_yy) / 3
    assert pytest.approx(-c.skempton_coefficient * mean_stress, rel=1e-14) == MANDEL_P0
    x = np.array([0.0, 0.3, 0.6])
    assert np.allclose(analytic.mandel_pressure(x, 0.0, **MANDEL, terms=20000), MANDEL_P0, rtol=1e-4, atol=0)
    tiny = 1e-10 * A**2 / c.consolidation_coefficient
    assert np.allclose(analytic.mandel_pressure_backward_euler(x, 1, tiny, **MANDEL, terms=100000), MANDEL_P0, rtol=1e-5, atol=0)
    eps_xx, eps_yy = _plane_strain_uniaxial(2 * c.shear_modulus * (1 + c.undrained_poisson_ratio), c.undrained_poisson_ratio)
    for u_x, u_y in (
        analytic.mandel_displacement(A, B_HEIGHT, 0.0, **MANDEL, terms=20000),
        analytic.mandel_displacement_backward_euler(A, B_HEIGHT, 1, tiny, **MANDEL, terms=100000),
    ):
        assert u_y[0] == pytest.approx(eps_yy * B_HEIGHT, rel=1e-5)  # -F b (1 - nu_u) / (2 G a)
        assert u_x[0] == pytest.approx(eps_xx * A, rel=1e-5)  # F nu_u / (2 G)
    assert eps_yy * B_HEIGHT == pytest.approx(-F * B_HEIGHT * (1 - c.undrained_poisson_ratio) / (2 * c.shear_modulus * A), rel=1e-14)


def test_mandel_drained_limit():
    c = CONSTANTS
    t = 20 * A**2 / c.consolidation_coefficient
    x = np.linspace(0.0, A, 5)
    assert np.max(np.abs(analytic.mandel_pressure(x, t, **MANDEL))) < 1e-12 * MANDEL_P0
    u_x, u_y = analytic.mandel_displacement(x, B_HEIGHT, t, **MANDEL)
    eps_xx, eps_yy = _plane_strain_uniaxial(MOOSE_MANDEL["youngs_modulus"], c.poisson_ratio)
    assert u_y[0] == pytest.approx(eps_yy * B_HEIGHT, rel=1e-12)
    assert u_y[0] == pytest.approx(-F * B_HEIGHT * (1 - c.poisson_ratio) / (2 * c.shear_modulus * A), rel=1e-12)
    assert np.allclose(u_x, eps_xx * x, rtol=1e-12, atol=1e-15)  # F nu x / (2 G a)


def test_mandel_cryer_effect():
    """The centre pressure first rises (to 1.054 p0 near c t/a^2 = 0.05), then decays; near the drained face it only falls."""
    scale = A**2 / CONSTANTS.consolidation_coefficient
    centre = np.array([analytic.mandel_pressure(0.0, tau * scale, **MANDEL)[0] for tau in (1e-3, 0.01, 0.05, 0.1, 0.2)]) / MANDEL_P0
    assert np.all(centre[:4] > 1.0) and centre[4] < 0.9
    assert centre.max() == pytest.approx(1.055, abs=0.005)  # the Mandel-Cryer overshoot, 5-6 %
    assert np.all(np.diff(centre[2:]) < 0)
    assert analytic.mandel_pressure(0.9 * A, 0.01 * scale, **MANDEL)[0] < MANDEL_P0


@pytest.mark.parametrize("tau", [1e-3, 1e-2, 0.1, 1.0])
def test_mandel_series_is_converged_at_200_terms(tau):
    t = tau * A**2 / CONSTANTS.consolidation_coefficient
    x = np.linspace(0.0, A, 11)
    p200, p400 = (analytic.mandel_pressure(x, t, **MANDEL, terms=n) for n in (200, 400))
    assert np.max(np.abs(p200 - p400)) < 1e-8 * MANDEL_P0
    (ux200, uy200), (ux400, uy400) = (analytic.mandel_displacement(x, B_HEIGHT, t, **MANDEL, terms=n) for n in (200, 400))
    u_scale = F / (CONSTANTS.shear_modulus * A) * A
    assert np.max(np.abs(ux200 - ux400)) < 1e-8 * u_scale and abs(uy200[0] - uy400[0]) < 1e-8 * u_scale


def test_mandel_backward_euler_tends_to_the_continuous_series():
    t = 0.05 * A**2 / CONSTANTS.consolidation_coefficient
    x = np.linspace(0.0, A, 11)
    p_exact = analytic.mandel_pressure(x, t, **MANDEL)
    _, uy_exact = analytic.mandel_displacement(A, B_HEIGHT, t, **MANDEL)

    def error(n):
        p = analytic.mandel_pressure_backward_euler(x, n, t / n, **MANDEL)
        _, u_y = analytic.mandel_displacement_backward_euler(A, B_HEIGHT, n, t / n, **MANDEL)
        return max(np.max(np.abs(p - p_exact)) / MANDEL_P0, abs(u_y[0] - uy_exact[0]) / abs(uy_exact[0]))

    assert error(10**6) < 1e-6
    assert error(10) > 1e-3


def _mandel_residuals(pressure, displacement, x):
    """sigma_xx at x, int_0^a sigma_yy dx + F, and the fluid content int_0^x zeta ds, zeta = p/M + alpha div u (plane strain).

    int_0^x div u ds = u_x(x) + x u_y(b)/b (u_x(0) = 0): the mass balance is checked in this integrated form,
    d/dt int_0^x zeta ds = kappa p_x(x), which needs no second derivative of a slowly converging series.
    """
    c = CONSTANTS
    lam, two_g, alpha = c.lame_lambda, 2 * c.shear_modulus, c.biot_coefficient
    eps_xx = lambda s: _derivative(lambda v: displacement(v)[0], s, 1e-3 * A)  # noqa: E731
    eps_yy = displacement(np.array([0.0]))[1][0] / B_HEIGHT  # u_y linear in y
    sigma_xx = (lam + two_g) * eps_xx(x) + lam * eps_yy - alpha * pressure(x)
    nodes, weights = np.polynomial.legendre.leggauss(80)
    force = (weights * A / 2) @ (lam * eps_xx((nodes + 1) * A / 2) + (lam + two_g) * eps_yy - alpha * pressure((nodes + 1) * A / 2)) + F
    pressure_integral = np.array([(weights * s / 2) @ pressure((nodes + 1) * s / 2) for s in x])
    content = pressure_integral / c.biot_modulus + alpha * (displacement(x)[0] + x * eps_yy)
    return sigma_xx, force, content


@pytest.mark.parametrize("tau", [1e-3, 1e-2, 0.1])
def test_mandel_solution_solves_the_biot_equations(tau):
    """sigma_xx = 0 everywhere, the plate carries F, and d/dt int_0^x (p/M + alpha div u) ds = kappa p_x(x)."""
    t = tau * A**2 / CONSTANTS.consolidation_coefficient
    x = np.linspace(0.05, 0.95, 7) * A

    def residuals(time):
        return _mandel_residuals(
            lambda s: analytic.mandel_pressure(s, time, **MANDEL),
            lambda s: analytic.mandel_displacement(s, B_HEIGHT, time, **MANDEL),
            x,
        )

    sigma_xx, force, _ = residuals(t)
    assert np.max(np.abs(sigma_xx)) < 1e-6 * MANDEL_P0
    assert abs(force) < 1e-7 * F
    dt = 1e-4 * t
    content_rate = (residuals(t + dt)[2] - residuals(t - dt)[2]) / (2 * dt)
    flux = CONSTANTS.mobility * _derivative(lambda s: analytic.mandel_pressure(s, t, **MANDEL), x, 1e-3 * A)
    assert np.max(np.abs(content_rate - flux)) < 1e-6 * np.max(np.abs(flux))


@pytest.mark.parametrize("step", [1, 2, 5])
def test_mandel_backward_euler_series_solves_the_time_discrete_equations_from_the_unloaded_state(step):
    """int_0^x (zeta_n - zeta_{n-1}) ds = dt kappa (p_n)_x with zeta_0 = 0 (unloaded), sigma_xx = 0 and the plate force F."""
    dt = 0.01 * A**2 / CONSTANTS.consolidation_coefficient
    x = np.linspace(0.05, 0.95, 7) * A
    terms = 4000  # the first step's series converges like 1/alpha_i^3 only

    def residuals(n):
        return _mandel_residuals(
            lambda s: analytic.mandel_pressure_backward_euler(s, n, dt, **MANDEL, terms=terms),
            lambda s: analytic.mandel_displacement_backward_euler(s, B_HEIGHT, n, dt, **MANDEL, terms=terms),
            x,
        )

    sigma_xx, force, content = residuals(step)
    assert np.max(np.abs(sigma_xx)) < 1e-6 * MANDEL_P0
    assert abs(force) < 1e-7 * F
    content_previous = residuals(step - 1)[2] if step > 1 else np.zeros_like(x)
    flux = CONSTANTS.mobility * _derivative(lambda s: analytic.mandel_pressure_backward_euler(s, step, dt, **MANDEL, terms=terms), x, 1e-3 * A)
    assert np.max(np.abs(content - content_previous - dt * flux)) < 1e-6 * np.max(np.abs(dt * flux))


# ---------------------------------------------------------------- free expansion of a ball


def _sphere_displacement(r, **overrides):
    return analytic.free_expansion_sphere_displacement(r, **{**SPHERE, **SPHERE_SOLID, **overrides})


def _sphere_stresses(r, h=1e-4):
    """(sigma_rr, sigma_tt) of u_r = u(r): sigma_rr = (lambda + 2G) u' + 2 lambda u/r - alpha p, sigma_tt = lambda u' + 2 (lambda + G) u/r - alpha p."""
    E, nu, alpha = SPHERE_SOLID["youngs_modulus"], SPHERE_SOLID["poisson_ratio"], SPHERE_SOLID["biot_coefficient"]
    G, lam = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
    du = _derivative(_sphere_displacement, r, h)
    u, p = _sphere_displacement(r), analytic.robin_sphere_pressure(r, **SPHERE)
    return (lam + 2 * G) * du + 2 * lam * u / r - alpha * p, lam * du + 2 * (lam + G) * u / r - alpha * p


def test_sphere_under_uniform_pressure_expands_uniformly():
    E, nu, alpha = SPHERE_SOLID["youngs_modulus"], SPHERE_SOLID["poisson_ratio"], SPHERE_SOLID["biot_coefficient"]
    r = np.linspace(0.0, 1.0, 6)
    u = _sphere_displacement(r, conductance=0.0, source_pressure=2.0)  # h = 0: A = 0, p = p_s = 2
    bulk = E / (3 * (1 - 2 * nu))
    assert np.allclose(u, alpha * 2.0 * r / (3 * bulk), rtol=1e-13, atol=0)
    assert 3 * u[-1] / r[-1] == pytest.approx(analytic.free_expansion_volumetric_strain(alpha, 2.0, E, nu), rel=1e-13)


def test_sphere_displacement_matches_the_thermoelastic_integrals_by_quadrature():
    E, nu, alpha = SPHERE_SOLID["youngs_modulus"], SPHERE_SOLID["poisson_ratio"], SPHERE_SOLID["biot_coefficient"]
    beta_t = lambda s: alpha * analytic.robin_sphere_pressure(s, **SPHERE) / (E / (1 - 2 * nu))  # alpha p / (3K)  # noqa: E731
    R = SPHERE["radius"]
    whole = quad(lambda s: beta_t(s) * s**2, 0.0, R, epsabs=0, epsrel=1e-13)[0]
    for r in (0.2, 0.5, 0.9, 1.0):
        inner = quad(lambda s: beta_t(s) * s**2, 0.0, r, epsabs=0, epsrel=1e-13)[0]
        expected = (1 + nu) / (1 - nu) * inner / r**2 + 2 * (1 - 2 * nu) / (1 - nu) * r / R**3 * whole
        assert _sphere_displacement(r)[()] == pytest.approx(expected, rel=1e-11)


def test_sphere_surface_is_traction_free_and_interior_in_equilibrium():
    alpha = SPHERE_SOLID["biot_coefficient"]
    p_scale = alpha * np.max(np.abs(analytic.robin_sphere_pressure(np.linspace(0, 1, 101), **SPHERE)))
    sigma_rr, _ = _sphere_stresses(np.array([SPHERE["radius"]]))
    assert abs(sigma_rr[0]) < 1e-8 * p_scale
    r, h = np.array([0.05, 0.2, 0.5, 0.8, 0.95]), 1e-3
    d_sigma_rr = _derivative(lambda s: _sphere_stresses(s)[0], r, h)
    sigma_rr, sigma_tt = _sphere_stresses(r)
    assert np.max(np.abs(d_sigma_rr + 2 * (sigma_rr - sigma_tt) / r)) < 1e-6 * p_scale
    # not trivially: the pressure gradient alone is O(p_scale)
    assert np.max(np.abs(d_sigma_rr)) > 0.1 * p_scale


def test_sphere_displacement_is_regular_at_the_centre():
    """u(0) = 0, u/r smooth through the Taylor branch (lambda r < 0.1, r < 1/30) and isotropic stress at the centre."""
    assert _sphere_displacement(0.0)[()] == 0.0
    r = np.array([1e-9, 1e-4, 0.1 / 3 * (1 - 1e-12), 0.1 / 3 * (1 + 1e-12), 0.05])
    ratio = _sphere_displacement(r) / r
    assert np.isfinite(ratio).all()
    assert ratio[1] == pytest.approx(ratio[0], rel=1e-7)
    assert ratio[3] == pytest.approx(ratio[2], rel=1e-13)
    assert abs(ratio[4] - ratio[0]) > 1e-4 * ratio[0]  # it does vary with r
    sigma_rr, sigma_tt = _sphere_stresses(np.array([1e-3]), h=1e-5)
    assert sigma_rr[0] == pytest.approx(sigma_tt[0], rel=1e-5)


def test_stepped_factor_is_the_product_of_the_equal_step_factors():
    rates = np.array([0.3, 2.0, 50.0])
    steps = np.r_[np.full(4, 0.01), np.full(3, 0.05)]
    expected = analytic.backward_euler_factor(rates, 4, 0.01) * analytic.backward_euler_factor(rates, 3, 0.05)
    assert np.allclose(analytic.backward_euler_steps_factor(rates, steps), expected, rtol=1e-13)
    column = dict(height=10.0, load=1.0, drained_modulus_m=0.125, storage=0.0625, biot_coefficient=0.6, mobility=1.5)
    equal, _ = analytic.terzaghi_backward_euler(np.array([0.0, 5.0]), 6, 0.2, **column)
    stepped, _ = analytic.terzaghi_backward_euler_steps(np.array([0.0, 5.0]), np.full(6, 0.2), **column)
    assert np.allclose(stepped, equal, rtol=1e-12)
