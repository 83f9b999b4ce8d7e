"""The steady BMES problem: fluid balance for p, then drained elasticity with the Biot term for u.

Steady state decouples (model.md section 3): the pressure does not depend on u, and u follows from
momentum with that p. Spaces: P1 pressure, P2 displacement (the Taylor-Hood pair of the transient model).
"""

from __future__ import annotations

from dataclasses import dataclass

import ufl
from dolfinx import fem

from bmes_fem.bcs import (
    ARTICULAR,
    CUT,
    cell_measure,
    clamped,
    contact_traction,
    drainage_terms,
)
from bmes_fem.config import Config
from bmes_fem.forms import elasticity_forms, steady_pressure_forms
from bmes_fem.materials import TRABECULAR, TissueFields, build_tissue_fields
from bmes_fem.mesh import Domain
from bmes_fem.solver import SolveStats, rigid_body_modes, solve_linear


@dataclass(frozen=True)
class SteadySolution:
    domain: Domain
    tissue: TissueFields
    pressure: fem.Function  # p [Pa], P1
    displacement: fem.Function  # u [m], P2
    contact_traction: ufl.core.expr.Expr  # t [Pa] on the articular surface
    contact_measure: ufl.Measure
    solves: tuple[SolveStats, ...]


def solve_steady(domain: Domain, config: Config) -> SteadySolution:
    """Solve the steady fluid balance, then elasticity loaded by alpha p and the joint contact traction."""
    domain.require(regions=[TRABECULAR], boundaries=[ARTICULAR, CUT])
    mesh = domain.mesh
    pressure_space = fem.functionspace(mesh, ("Lagrange", 1))
    displacement_space = fem.functionspace(mesh, ("Lagrange", 2, (mesh.geometry.dim,)))
    tissue = build_tissue_fields(domain, config, pressure_space)
    dx = cell_measure(domain)
    preset, overrides = config.solver.preset, config.solver.petsc_options

    a_p, l_p = steady_pressure_forms(
        ufl.TrialFunction(pressure_space),
        ufl.TestFunction(pressure_space),
        mobility=tissue.mobility,
        filtration=tissue.filtration,
        venous_conductance=tissue.venous_conductance,
        effective_capillary_pressure=tissue.effective_capillary_pressure,
        venous_pressure=tissue.venous_pressure,
        drainage=drainage_terms(domain, config.boundaries),
        dx=dx,
    )
    pressure, pressure_stats = solve_linear(a_p, l_p, name="pressure", preset=preset, overrides=overrides)
    pressure.name = "p"

    traction, ds_articular = contact_traction(domain, config.load)
    mu, lmbda = tissue.lame_parameters()
    a_u, l_u = elasticity_forms(
        ufl.TrialFunction(displacement_space),
        ufl.TestFunction(displacement_space),
        mu=mu,
        lmbda=lmbda,
        biot_coefficient=tissue.biot_coefficient,
        pressure=pressure,
        tractions=[(traction, ds_articular)],
        dx=dx,
    )
    displacement, displacement_stats = solve_linear(
        a_u,
        l_u,
        name="displacement",
        preset=preset,
        overrides=overrides,
        bcs=[clamped(displacement_space, domain)],
        near_nullspace=rigid_body_modes(displacement_space) if preset == "iterative" else None,
    )
    displacement.name = "u"
    return SteadySolution(
        domain, tissue, pressure, displacement, traction, ds_articular, (pressure_stats, displacement_stats)
    )
