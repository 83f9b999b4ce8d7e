"""Weak forms of the steady BMES model (pure UFL, no assembly, no I/O).

Fluid (model.md section 3, steady):   -div(kappa grad p) + (L + G_v) p = L p_eff + G_v p_v
  with Robin drainage on named boundaries  -kappa grad p . n = h (p - p_b).
Momentum (quasi-static Biot):          -div(sigma'(u) - alpha p I) = 0,  (sigma' - alpha p I) n = t.
"""

from __future__ import annotations

from typing import Sequence

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
