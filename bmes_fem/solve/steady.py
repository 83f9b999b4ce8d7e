"""The steady BMES problem: fluid balance for p, then drained elasticity with the Biot term for u.

Steady state decouples: the pressure does not depend on u, and u follows from momentum with that p.
Spaces: P1 pressure, P2 displacement (the Taylor-Hood pair of the transient model).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import ufl
from dolfinx import fem

from bmes_fem.config.case import Config
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.boundary_conditions import ARTICULAR, CUT, cell_measure, clamped, contact_traction, drainage_terms
from bmes_fem.physics.forms import elasticity_forms, steady_pressure_forms
from bmes_fem.physics.materials import TRABECULAR, TissueFields, build_tissue_fields
from bmes_fem.solve.linear import SolveStats, rigid_body_modes, solve_linear
from bmes_fem.solve.state import State


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
    pressure, stats = solve_linear(a, rhs, name="pressure", preset=config.solver.preset, overrides=config.solver.petsc_options)
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


class SteadyBiot:
    """The steady BMES case: build it (spaces, tissue, loads), then take its one state from `states`.

    `solve` may be called again after the tissue changed (a disease course does).
    """

    def __init__(self, domain: Domain, config: Config) -> None:
        self.domain, self.config = domain, config
        self.u_space, self.p_space = taylor_hood_spaces(domain)
        self.tissue = build_tissue_fields(domain, config, self.p_space)
        self.contact_traction, self.contact_measure = contact_traction(domain, config.load)
        self.state_count = 1

    def solve(self, label: str = "steady") -> State:
        """The steady fluid balance, then elasticity loaded by alpha p and the joint contact traction."""
        pressure, pressure_stats = solve_steady_pressure(self.domain, self.config, self.tissue, self.p_space)
        displacement, displacement_stats = solve_drained_displacement(
            self.domain, self.config, self.tissue, self.u_space, pressure, [(self.contact_traction, self.contact_measure)]
        )
        return State(
            self.domain, self.tissue, pressure, displacement, self.contact_traction, self.contact_measure,
            (pressure_stats, displacement_stats), label=label,
        )  # fmt: skip

    def states(self) -> Iterator[State]:
        yield self.solve()
