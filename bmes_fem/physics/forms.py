"""Weak forms of the steady BMES model (pure UFL, no assembly, no I/O).

Fluid (model.md section 3, steady):   -div(kappa grad p) + (L + G_v) p = L p_eff + G_v p_v
  with Robin drainage on named boundaries  -kappa grad p . n = h (p - p_b).
Momentum (quasi-static Biot):          -div(sigma'(u) - alpha p I) = 0,  (sigma' - alpha p I) n = t.
"""

from __future__ import annotations

from collections.abc import Sequence

import ufl

Expr = ufl.core.expr.Expr


def strain(u: Expr) -> Expr:
    """eps(u) = sym(grad u)."""
    return ufl.sym(ufl.grad(u))


def effective_stress(u: Expr, mu: Expr, lmbda: Expr) -> Expr:
    """sigma'(u) = 2 mu eps(u) + lambda tr(eps(u)) I."""
    eps = strain(u)
    return 2.0 * mu * eps + lmbda * ufl.tr(eps) * ufl.Identity(len(u))


def steady_pressure_forms(
    p: Expr,
    q: Expr,
    *,
    mobility: Expr,
    filtration: Expr,
    venous_conductance: Expr,
    effective_capillary_pressure: Expr,
    venous_pressure: Expr,
    drainage: Sequence[tuple[Expr, Expr, ufl.Measure]],
    dx: ufl.Measure,
) -> tuple[ufl.Form, ufl.Form]:
    """Bilinear and linear form of the steady fluid balance; ``drainage`` holds (h, p_b, ds) triples.

    a(p, q) = (kappa grad p, grad q) + ((L + G_v) p, q) + sum <h p, q>
    l(q)    = (L p_eff + G_v p_v, q) + sum <h p_b, q>
    """
    a = ufl.inner(mobility * ufl.grad(p), ufl.grad(q)) * dx + (filtration + venous_conductance) * p * q * dx
    rhs = (filtration * effective_capillary_pressure + venous_conductance * venous_pressure) * q * dx
    for conductance, outside_pressure, ds in drainage:
        a += conductance * p * q * ds
        rhs += conductance * outside_pressure * q * ds
    return a, rhs


def elasticity_forms(
    u: Expr,
    v: Expr,
    *,
    mu: Expr,
    lmbda: Expr,
    biot_coefficient: Expr,
    pressure: Expr,
    tractions: Sequence[tuple[Expr, ufl.Measure]],
    dx: ufl.Measure,
) -> tuple[ufl.Form, ufl.Form]:
    """Drained elasticity loaded by the pore pressure and boundary tractions.

    a(u, v) = (sigma'(u), eps(v))
    l(v)    = (alpha p, div v) + sum <t, v>
    """
    a = ufl.inner(effective_stress(u, mu, lmbda), strain(v)) * dx
    rhs = biot_coefficient * pressure * ufl.div(v) * dx
    for traction, ds in tractions:
        rhs += ufl.dot(traction, v) * ds
    return a, rhs


def strain_energy_density(u: Expr, mu: Expr, lmbda: Expr) -> Expr:
    """W = sigma'(u) : eps(u) / 2 [J/m^3]."""
    return 0.5 * ufl.inner(effective_stress(u, mu, lmbda), strain(u))


def biot_step_forms(
    u: Expr,
    p_hat: Expr,
    v: Expr,
    q: Expr,
    *,
    u_prev: Expr,
    p_hat_prev: Expr,
    time_step: Expr,
    pressure_scale: float,
    mu: Expr,
    lmbda: Expr,
    biot_coefficient: Expr,
    storage: Expr,
    mobility: Expr,
    filtration: Expr,
    venous_conductance: Expr,
    effective_capillary_pressure: Expr,
    venous_pressure: Expr,
    drainage: Sequence[tuple[Expr, Expr, ufl.Measure]],
    tractions: Sequence[tuple[Expr, ufl.Measure]],
    body_force: Expr,
    fluid_source: Expr,
    dx: ufl.Measure,
) -> tuple[list[list[ufl.Form]], list[ufl.Form]]:
    """One backward-Euler step of quasi-static Biot in (u, p_hat), p = P p_hat (P: ``pressure_scale``).

    Momentum  (sigma'(u), eps(v)) - (alpha P p_hat, div v)                  = (f, v) + <t, v>
    Mass, x P dt:
      P (S P (p_hat - p_hat_n) + alpha div(u - u_n), q) + P dt (kappa P grad p_hat, grad q)
      + P dt ((L + G_v) P p_hat, q) + P dt <h P p_hat, q>    = P dt (L p_eff + G_v p_v + g, q) + P dt <h p_b, q>
    with storage S = 1/M (+ vascular storage), body force f [N/m^3] and fluid source g [1/s]. Scaling p by P (a modulus) and the mass rows by P dt
    gives both rows the units of the momentum rows, so residual norms compare fairly.
    """
    scale, dt = pressure_scale, time_step
    a_uu = ufl.inner(effective_stress(u, mu, lmbda), strain(v)) * dx
    a_up = -scale * biot_coefficient * p_hat * ufl.div(v) * dx
    a_pu = scale * biot_coefficient * ufl.div(u) * q * dx
    a_pp = scale**2 * (
        storage * p_hat * q * dx
        + dt * ufl.inner(mobility * ufl.grad(p_hat), ufl.grad(q)) * dx
        + dt * (filtration + venous_conductance) * p_hat * q * dx
    )
    rhs_u = ufl.dot(body_force, v) * dx
    for traction, ds in tractions:
        rhs_u += ufl.dot(traction, v) * ds
    rhs_p = scale * (
        (storage * scale * p_hat_prev + biot_coefficient * ufl.div(u_prev)) * q * dx
        + dt * (filtration * effective_capillary_pressure + venous_conductance * venous_pressure + fluid_source) * q * dx
    )
    for conductance, outside_pressure, ds in drainage:
        a_pp += scale**2 * dt * conductance * p_hat * q * ds
        rhs_p += scale * dt * conductance * outside_pressure * q * ds
    return [[a_uu, a_up], [a_pu, a_pp]], [rhs_u, rhs_p]


def fixed_stress_pressure_form(
    p_hat: Expr,
    q: Expr,
    *,
    time_step: Expr,
    pressure_scale: float,
    biot_coefficient: Expr,
    storage: Expr,
    drained_bulk_modulus: Expr,
    mobility: Expr,
    filtration: Expr,
    venous_conductance: Expr,
    drainage: Sequence[tuple[Expr, Expr, ufl.Measure]],
    dx: ufl.Measure,
) -> ufl.Form:
    """Fixed-stress approximation of the pressure Schur complement (preconditioner only):

    P^2 [((S + alpha^2 / K_dr) p_hat, q) + dt (kappa grad p_hat, grad q) + dt ((L + G_v) p_hat, q) + dt <h p_hat, q>].
    """
    scale, dt = pressure_scale, time_step
    form = scale**2 * (
        (storage + biot_coefficient**2 / drained_bulk_modulus) * p_hat * q * dx
        + dt * ufl.inner(mobility * ufl.grad(p_hat), ufl.grad(q)) * dx
        + dt * (filtration + venous_conductance) * p_hat * q * dx
    )
    for conductance, _, ds in drainage:
        form += scale**2 * dt * conductance * p_hat * q * ds
    return form
