"""Weak forms of the BMES model (pure UFL, no assembly, no I/O).

Fluid mass (per unit bulk volume, sources in 1/s), with Darcy mobility kappa, Starling filtration L,
venous drainage G_v, a fluid source g, Robin drainage -kappa grad p . n = h (p - p_b) and prescribed
outward flux -kappa grad p . n = q_n on named boundaries:

    S dp/dt + alpha d(div u)/dt - div(kappa grad p) + (L + G_v) p = L p_eff + G_v p_v + g

that is, capillary exchange q_cap = L (p_eff - p), absorbing where p > p_eff. A transient with marrow blood flow adds
the blood throughflow G_b (p - p_b) to the left-hand side, p_b = p^0 + dp_v(t) - dp_v(0): blood enters at the rate
that balances its venous outflow in the run's initial (steady) state p^0, and an excess of p over it, or a change
dp_v of the venous pressure, changes that outflow by G_b per Pa (`pressure_operator`, `pressure_sources`). Filtration only,
q_cap = L (p_eff - p)^+, is this linear operator with a correction: L (p_eff - p)^+ = L (p_eff - p) + L (p - p_eff)^+
(`capillary_cutoff_source`, at the previous iterate of a time step), or L replaced by L [p_k < p_eff] in a Newton
iteration (`filtering_filtration`, steady state).

Momentum (quasi-static Biot):  -div(sigma'(u) - alpha p I) = f,   (sigma' - alpha p I) n = t,
with sigma'(u) = C : eps(u) given by a constitutive law (bmes_fem.physics.elasticity).

The spatial fluid operator and its sources appear in the steady balance, in the time step and in the
fixed-stress preconditioner; they are written once (`pressure_operator`, `pressure_sources`).
"""

from __future__ import annotations

from collections.abc import Sequence

import ufl

from bmes_fem.physics.elasticity import ElasticLaw

Expr = ufl.core.expr.Expr
Robin = Sequence[tuple[Expr, Expr, ufl.Measure]]  # (h [m/(Pa s)], p_b [Pa], ds)
Flux = Sequence[tuple[Expr, ufl.Measure]]  # (q_n [m/s], ds), positive out of the body


def strain(u: Expr) -> Expr:
    """eps(u) = sym(grad u)."""
    return ufl.sym(ufl.grad(u))


def effective_stress(u: Expr, elasticity: ElasticLaw) -> Expr:
    """sigma'(u) = C : eps(u), C the law ``elasticity``."""
    return elasticity.stress(strain(u))


def strain_energy_density(u: Expr, elasticity: ElasticLaw) -> Expr:
    """W = sigma'(u) : eps(u) / 2 [J/m^3]."""
    return 0.5 * ufl.inner(effective_stress(u, elasticity), strain(u))


def pressure_operator(
    p: Expr, q: Expr, *, mobility: Expr, filtration: Expr, venous_conductance: Expr, drainage: Robin, dx: ufl.Measure,
    exchange_dx: ufl.Measure, blood_conductance: Expr | float = 0.0,
) -> ufl.Form:
    """A(p, q) = (kappa grad p, grad q) + ((L + G_v + G_b) p, q)_x + sum <h p, q>; (., .)_x integrates the exchange
    terms with ``exchange_dx`` (at the vertices: a lumped, M-matrix reaction term; bmes_fem.physics.boundary_conditions).
    G_b (``blood_conductance``): the blood throughflow of a transient, 0 in a steady balance."""
    exchange = filtration + venous_conductance + blood_conductance  # UFL drops a 0.0: the form is unchanged without G_b
    form = ufl.inner(mobility * ufl.grad(p), ufl.grad(q)) * dx + exchange * p * q * exchange_dx
    for conductance, _, ds in drainage:
        form += conductance * p * q * ds
    return form


def pressure_sources(
    q: Expr,
    *,
    filtration: Expr,
    effective_capillary_pressure: Expr,
    venous_conductance: Expr,
    venous_pressure: Expr,
    drainage: Robin,
    fluid_source: Expr | float = 0.0,
    outward_flux: Flux = (),
    injections: Sequence[tuple[Expr, ufl.Measure]] = (),
    dx: ufl.Measure,
    exchange_dx: ufl.Measure,
    blood_throughflow: tuple[Expr, Expr] | None = None,
) -> ufl.Form:
    """F(q) = (L p_eff + G_v p_v [+ G_b p_b], q)_x + (g, q) + sum (g_i, q)_i + sum <h p_b, q> - sum <q_n, q>; the
    injections g_i [1/s] carry their own measure (a fixed quadrature, the one their normalisation uses);
    ``blood_throughflow``: (G_b, p_b) of a transient with blood flow (module docstring)."""
    exchange = filtration * effective_capillary_pressure + venous_conductance * venous_pressure
    if blood_throughflow is not None:
        exchange = exchange + blood_throughflow[0] * blood_throughflow[1]
    rhs = exchange * q * exchange_dx
    if not isinstance(fluid_source, float | int) or fluid_source != 0:
        rhs += fluid_source * q * dx
    for injection, measure in injections:
        rhs += injection * q * measure
    for conductance, outside_pressure, ds in drainage:
        rhs += conductance * outside_pressure * q * ds
    for flux, ds in outward_flux:
        rhs -= flux * q * ds
    return rhs


def capillary_cutoff_source(
    q: Expr, *, filtration: Expr, effective_capillary_pressure: Expr, pressure: Expr, exchange_dx: ufl.Measure
) -> ufl.Form:
    """(L (p' - p_eff)^+, q)_x: added to F(q), it cancels the absorption L (p_eff - p') < 0 of the linear term where
    p' > p_eff, since L (p_eff - p) + L (p' - p_eff)^+ = L (p_eff - p)^+ for p' = p (``pressure``: p')."""
    return filtration * ufl.max_value(pressure - effective_capillary_pressure, 0.0) * q * exchange_dx


def filtering_filtration(filtration: Expr, effective_capillary_pressure: Expr, pressure: Expr) -> Expr:
    """L [p' < p_eff]: the filtration coefficient where the capillaries filter at p' (``pressure``), 0 where they
    would absorb; the derivative of L (p_eff - p)^+ with respect to -p, at p = p'."""
    return filtration * ufl.conditional(ufl.lt(pressure, effective_capillary_pressure), 1.0, 0.0)


def steady_pressure_forms(
    p: Expr,
    q: Expr,
    *,
    mobility: Expr,
    filtration: Expr,
    venous_conductance: Expr,
    effective_capillary_pressure: Expr,
    venous_pressure: Expr,
    drainage: Robin,
    fluid_source: Expr | float = 0.0,
    outward_flux: Flux = (),
    injections: Sequence[tuple[Expr, ufl.Measure]] = (),
    dx: ufl.Measure,
    exchange_dx: ufl.Measure,
) -> tuple[ufl.Form, ufl.Form]:
    """-div(kappa grad p) + (L + G_v) p = L p_eff + G_v p_v + g:  A(p, q) = F(q)."""
    a = pressure_operator(
        p, q, mobility=mobility, filtration=filtration, venous_conductance=venous_conductance, drainage=drainage, dx=dx,
        exchange_dx=exchange_dx,
    )
    rhs = pressure_sources(
        q, filtration=filtration, effective_capillary_pressure=effective_capillary_pressure,
        venous_conductance=venous_conductance, venous_pressure=venous_pressure, drainage=drainage,
        fluid_source=fluid_source, outward_flux=outward_flux, injections=injections, dx=dx, exchange_dx=exchange_dx,
    )  # fmt: skip
    return a, rhs


def elasticity_forms(
    u: Expr,
    v: Expr,
    *,
    elasticity: ElasticLaw,
    biot_coefficient: Expr,
    pressure: Expr,
    tractions: Sequence[tuple[Expr, ufl.Measure]],
    body_force: Expr | None = None,
    dx: ufl.Measure,
) -> tuple[ufl.Form, ufl.Form]:
    """Drained elasticity loaded by the pore pressure, a body force f and boundary tractions t.

    a(u, v) = (sigma'(u), eps(v))
    l(v)    = (alpha p, div v) + (f, v) + sum <t, v>
    """
    a = ufl.inner(effective_stress(u, elasticity), strain(v)) * dx
    rhs = biot_coefficient * pressure * ufl.div(v) * dx
    if body_force is not None:
        rhs += ufl.dot(body_force, v) * dx
    for traction, ds in tractions:
        rhs += ufl.dot(traction, v) * ds
    return a, rhs


def momentum_residual(
    u: Expr,
    pressure: Expr | None,
    v: Expr,
    *,
    elasticity: ElasticLaw,
    biot_coefficient: Expr,
    tractions: Sequence[tuple[Expr, ufl.Measure]] = (),
    body_force: Expr | None = None,
    dx: ufl.Measure,
) -> ufl.Form:
    """r(v) = (sigma'(u), eps(v)) - (alpha p, div v) - (f, v) - sum <t, v>: zero at free dofs of a solution;
    at a constrained dof, the force the constraint exerts on the body (a reaction) [N]. ``pressure`` None: p = 0."""
    residual = ufl.inner(effective_stress(u, elasticity), strain(v)) * dx
    if pressure is not None:
        residual -= biot_coefficient * pressure * ufl.div(v) * dx
    if body_force is not None:
        residual -= ufl.dot(body_force, v) * dx
    for traction, ds in tractions:
        residual -= ufl.dot(traction, v) * ds
    return residual


BIOT_COUPLING_TRANSPOSE = -1.0  # biot_step_forms: a_pu(u, q) = -a_up(q, u), so A_pu = -A_up^T


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
    elasticity: ElasticLaw,
    biot_coefficient: Expr,
    storage: Expr,
    mobility: Expr,
    filtration: Expr,
    venous_conductance: Expr,
    effective_capillary_pressure: Expr,
    venous_pressure: Expr,
    drainage: Robin,
    tractions: Sequence[tuple[Expr, ufl.Measure]],
    body_force: Expr,
    fluid_source: Expr,
    outward_flux: Flux = (),
    injections: Sequence[tuple[Expr, ufl.Measure]] = (),
    capillary_cutoff_pressure: Expr | None = None,
    blood_throughflow: tuple[Expr, Expr] | None = None,
    dx: ufl.Measure,
    exchange_dx: ufl.Measure,
) -> tuple[list[list[ufl.Form]], list[ufl.Form]]:
    """One backward-Euler step of quasi-static Biot in (u, p_hat), p = P p_hat (P: ``pressure_scale``).

    Momentum  (sigma'(u), eps(v)) - (alpha P p_hat, div v)             = (f, v) + <t, v>
    Mass, x P dt:
      P (S P (p_hat - p_hat_n) + alpha div(u - u_n), q) + P dt A(P p_hat, q) = P dt F(q)
    with A, F the fluid operator and sources (`pressure_operator`, `pressure_sources`), storage
    S = 1/M (+ vascular storage). Scaling p by P (a modulus) and the mass rows by P dt gives both rows
    the units of the momentum rows, so residual norms compare fairly.
    With ``capillary_cutoff_pressure`` p' (filtration only), F(q) gains (L (p' - p_eff)^+, q) (`capillary_cutoff_source`):
    the absorption is cancelled at p' (a previous iterate) and the operator stays that of the linear law.
    ``blood_throughflow``: (G_b, p_b), the blood throughflow term G_b (p - p_b) (module docstring).
    """
    scale, dt = pressure_scale, time_step
    operator = pressure_operator(
        p_hat, q, mobility=mobility, filtration=filtration, venous_conductance=venous_conductance, drainage=drainage, dx=dx,
        exchange_dx=exchange_dx, blood_conductance=0.0 if blood_throughflow is None else blood_throughflow[0],
    )
    sources = pressure_sources(
        q, filtration=filtration, effective_capillary_pressure=effective_capillary_pressure,
        venous_conductance=venous_conductance, venous_pressure=venous_pressure, drainage=drainage,
        fluid_source=fluid_source, outward_flux=outward_flux, injections=injections, dx=dx, exchange_dx=exchange_dx,
        blood_throughflow=blood_throughflow,
    )  # fmt: skip
    if capillary_cutoff_pressure is not None:
        sources += capillary_cutoff_source(
            q, filtration=filtration, effective_capillary_pressure=effective_capillary_pressure, pressure=capillary_cutoff_pressure,
            exchange_dx=exchange_dx,
        )
    a_uu = ufl.inner(effective_stress(u, elasticity), strain(v)) * dx
    a_up = -scale * biot_coefficient * p_hat * ufl.div(v) * dx
    a_pu = scale * biot_coefficient * ufl.div(u) * q * dx
    a_pp = scale**2 * (storage * p_hat * q * dx + dt * operator)
    rhs_u = ufl.dot(body_force, v) * dx
    for traction, ds in tractions:
        rhs_u += ufl.dot(traction, v) * ds
    rhs_p = scale * ((storage * scale * p_hat_prev + biot_coefficient * ufl.div(u_prev)) * q * dx + dt * sources)
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
    drainage: Robin,
    dx: ufl.Measure,
    exchange_dx: ufl.Measure,
    blood_conductance: Expr | float = 0.0,
) -> ufl.Form:
    """Fixed-stress approximation of the pressure Schur complement (preconditioner only):

    P^2 [((S + alpha^2 / K_dr) p_hat, q) + dt A(p_hat, q)].
    """
    operator = pressure_operator(
        p_hat, q, mobility=mobility, filtration=filtration, venous_conductance=venous_conductance, drainage=drainage, dx=dx,
        exchange_dx=exchange_dx, blood_conductance=blood_conductance,
    )
    return pressure_scale**2 * ((storage + biot_coefficient**2 / drained_bulk_modulus) * p_hat * q * dx + time_step * operator)
