"""The steady BMES problem: fluid balance for p, then drained elasticity with the Biot term for u.

Steady state decouples (model.md section 3): the pressure does not depend on u, and u follows from
momentum with that p. Spaces: P1 pressure, P2 displacement (the Taylor-Hood pair of the transient model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ufl
from dolfinx import fem

from bmes_fem.config.case import Config
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.boundary_conditions import ARTICULAR, CUT, cell_measure, clamped, contact_traction, drainage_terms
from bmes_fem.physics.forms import elasticity_forms, steady_pressure_forms
from bmes_fem.physics.materials import TRABECULAR, TissueFields, build_tissue_fields
from bmes_fem.solve.linear import SolveStats, rigid_body_modes, solve_linear


@dataclass(frozen=True)
class SteadySolution:
    domain: Domain
    tissue: TissueFields
    pressure: fem.Function  # p [Pa], P1
    displacement: fem.Function  # u [m], P2
    contact_traction: ufl.core.expr.Expr  # t [Pa] on the articular surface
    contact_measure: ufl.Measure
    solves: tuple[SolveStats, ...]


def taylor_hood_spaces(domain: Domain) -> tuple[fem.FunctionSpace, fem.FunctionSpace]:
    """(P2 displacement, P1 pressure) on the domain's mesh."""
    domain.require(regions=[TRABECULAR], boundaries=[ARTICULAR, CUT])
    mesh = domain.mesh
    return fem.functionspace(mesh, ("Lagrange", 2, (mesh.geometry.dim,))), fem.functionspace(mesh, ("Lagrange", 1))


def solve_steady_pressure(
    domain: Domain, config: Config, tissue: TissueFields, space: fem.FunctionSpace
) -> tuple[fem.Function, SolveStats]:
    """-div(kappa grad p) + (L + G_v) p = L p_eff + G_v p_v with the configured Robin drainage."""
    a, rhs = steady_pressure_forms(
        ufl.TrialFunction(space),
        ufl.TestFunction(space),
        mobility=tissue.mobility,
        filtration=tissue.filtration,
        venous_conductance=tissue.venous_conductance,
        effective_capillary_pressure=tissue.effective_capillary_pressure,
        venous_pressure=tissue.venous_pressure,
        drainage=drainage_terms(domain, config.boundaries),
        dx=cell_measure(domain),
    )
    pressure, stats = solve_linear(
        a, rhs, name="pressure", preset=config.solver.preset, overrides=config.solver.petsc_options
    )
    pressure.name = "p"
    return pressure, stats


def solve_drained_displacement(
    domain: Domain,
    config: Config,
    tissue: TissueFields,
    space: fem.FunctionSpace,
    pressure: fem.Function,
    tractions: Sequence[tuple[ufl.core.expr.Expr, ufl.Measure]],
) -> tuple[fem.Function, SolveStats]:
    """-div(sigma'(u) - alpha p I) = 0 with the given tractions, clamped on the cut."""
    mu, lmbda = tissue.lame_parameters()
    a, rhs = elasticity_forms(
        ufl.TrialFunction(space),
        ufl.TestFunction(space),
        mu=mu,
        lmbda=lmbda,
        biot_coefficient=tissue.biot_coefficient,
        pressure=pressure,
        tractions=tractions,
        dx=cell_measure(domain),
    )
    preset = config.solver.preset
    displacement, stats = solve_linear(
        a,
        rhs,
        name="displacement",
        preset=preset,
        overrides=config.solver.petsc_options,
        bcs=[clamped(space, domain)],
        near_nullspace=rigid_body_modes(space) if preset == "iterative" else None,
    )
    displacement.name = "u"
    return displacement, stats


def solve_steady(domain: Domain, config: Config) -> SteadySolution:
    """Solve the steady fluid balance, then elasticity loaded by alpha p and the joint contact traction."""
    displacement_space, pressure_space = taylor_hood_spaces(domain)
    tissue = build_tissue_fields(domain, config, pressure_space)
    pressure, pressure_stats = solve_steady_pressure(domain, config, tissue, pressure_space)
    traction, ds_articular = contact_traction(domain, config.load)
    displacement, displacement_stats = solve_drained_displacement(
        domain, config, tissue, displacement_space, pressure, [(traction, ds_articular)]
    )
    return SteadySolution(
        domain, tissue, pressure, displacement, traction, ds_articular, (pressure_stats, displacement_stats)
    )
