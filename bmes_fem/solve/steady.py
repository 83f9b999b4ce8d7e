"""The steady BMES problem: fluid balance for p, then drained elasticity with the Biot term for u.

Steady state decouples: the pressure does not depend on u, and u follows from momentum with that p.
Spaces: P1 pressure, P2 displacement (the Taylor-Hood pair of the transient model). The boundary
conditions and sources come from the config as data (bmes_fem.physics.boundary_conditions).

A rigid plate is solved by superposition: u = u_0 + delta u_1, with u_0 the solution with the plate
held (delta = 0) and u_1 the response to a unit plate displacement with every other load and
Dirichlet value zero; delta follows from the plate's force balance r(u_0) + delta r_1(u_1) = -F s e_k
(r the consistent reaction on the plate's dofs, s its outward side, F the compressive force).
"""

from __future__ import annotations

from collections.abc import Iterator

import ufl
from dolfinx import fem

from bmes_fem.config.case import Config
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.boundary_conditions import BoundaryConditions
from bmes_fem.physics.forms import elasticity_forms, momentum_residual, steady_pressure_forms
from bmes_fem.physics.materials import TRABECULAR, TissueFields, build_tissue_fields
from bmes_fem.solve.failure import failing_at, non_finite_coefficients
from bmes_fem.solve.linear import SolveStats, solve_linear
from bmes_fem.solve.reactions import Residual
from bmes_fem.solve.state import State


def taylor_hood_spaces(domain: Domain) -> tuple[fem.FunctionSpace, fem.FunctionSpace]:
    """(P2 displacement, P1 pressure) on the domain's mesh."""
    domain.require(regions=[TRABECULAR])
    mesh = domain.mesh
    return fem.functionspace(mesh, ("Lagrange", 2, (mesh.geometry.dim,))), fem.functionspace(mesh, ("Lagrange", 1))


def solve_steady_pressure(
    config: Config, tissue: TissueFields, bcs: BoundaryConditions, space: fem.FunctionSpace
) -> tuple[fem.Function, SolveStats]:
    """-div(kappa grad p) + (L + G_v) p = L p_eff + G_v p_v + g with the configured fluid boundary conditions."""
    a, rhs = steady_pressure_forms(
        ufl.TrialFunction(space),
        ufl.TestFunction(space),
        mobility=tissue.mobility,
        filtration=tissue.filtration,
        venous_conductance=tissue.venous_conductance,
        effective_capillary_pressure=tissue.effective_capillary_pressure,
        venous_pressure=tissue.venous_pressure,
        drainage=bcs.robin,
        fluid_source=bcs.fluid_source, injections=bcs.injections,
        outward_flux=bcs.outward_flux,
        dx=tissue.dx,
    )
    pressure, stats = solve_linear(
        a, rhs, name="pressure", preset=config.solver.preset, bcs=bcs.pressure_bcs(space), overrides=config.solver.petsc_options
    )
    pressure.name = "p"
    return pressure, stats


def solve_drained_displacement(
    config: Config, tissue: TissueFields, bcs: BoundaryConditions, pressure: fem.Function, time_s: float | None
) -> tuple[fem.Function, tuple[SolveStats, ...]]:
    """-div(sigma'(u) - alpha p I) = f with the configured tractions and constraints (a rigid plate by superposition)."""
    space, dx = bcs.u_space, tissue.dx
    mu, lmbda = tissue.lame_parameters()
    u, v = ufl.TrialFunction(space), ufl.TestFunction(space)
    a, rhs = elasticity_forms(
        u, v, mu=mu, lmbda=lmbda, biot_coefficient=tissue.biot_coefficient, pressure=pressure,
        tractions=bcs.traction_terms, body_force=bcs.body_force, dx=dx,
    )  # fmt: skip

    def solve(right_hand_side: ufl.Form, name: str) -> tuple[fem.Function, SolveStats]:
        return solve_linear(
            a, right_hand_side, name=name, preset=config.solver.preset, overrides=config.solver.petsc_options,
            bcs=bcs.displacement_bcs,
        )  # fmt: skip

    displacement, stats = solve(rhs, "displacement")
    displacement.name = "u"
    if bcs.plate is None:
        return displacement, (stats,)
    with bcs.homogeneous():
        unit, unit_stats = solve(bcs.zero_loads(v, ufl.TestFunction(bcs.p_space))[0], "displacement_plate_unit")
    coefficients = dict(mu=mu, lmbda=lmbda, biot_coefficient=tissue.biot_coefficient, dx=dx)
    loaded = Residual(momentum_residual(displacement, pressure, v, tractions=bcs.traction_terms, body_force=bcs.body_force, **coefficients), space)
    response = Residual(momentum_residual(unit, None, v, **coefficients), space)
    delta = plate_displacement(bcs, loaded, response, time_s)
    displacement.x.array[:] += delta * unit.x.array
    return displacement, (stats, unit_stats)


def plate_displacement(bcs: BoundaryConditions, loaded: Residual, response: Residual, time_s: float | None) -> float:
    """delta [m] with r_k(x_0) + delta r_k(x_1) = -F s on the plate (module docstring); collective."""
    plate = bcs.plate
    dofs = plate.constraint.dofs
    held = loaded.force(loaded.assemble(), dofs)[plate.axis]
    unit = response.force(response.assemble(), dofs)[plate.axis]
    return (-bcs.plate_force_N(time_s) * plate.outward_sign - held) / unit


class SteadyBiot:
    """The steady BMES case: build it (spaces, tissue, boundary conditions), then take its one state from `states`.

    `solve` may be called again after the tissue changed (a disease course does).
    """

    def __init__(self, domain: Domain, config: Config) -> None:
        self.domain, self.config = domain, config
        self.u_space, self.p_space = taylor_hood_spaces(domain)
        self.tissue = build_tissue_fields(domain, config, self.p_space)
        self.bcs = BoundaryConditions(domain, config, self.u_space, self.p_space)
        self.state_count = 1

    def solve(self, label: str = "steady") -> State:
        """The steady fluid balance, then elasticity loaded by alpha p and the configured loads; a failed solve
        names the state (``steady state``, or a course state's label) and a non-finite tissue coefficient."""
        where = "steady state" if label == "steady" else f"state '{label}'"
        with failing_at(where, lambda: non_finite_coefficients(self.tissue)):
            pressure, pressure_stats = solve_steady_pressure(self.config, self.tissue, self.bcs, self.p_space)
            displacement, displacement_stats = solve_drained_displacement(self.config, self.tissue, self.bcs, pressure, None)
        return State(self.domain, self.tissue, self.bcs, pressure, displacement, (pressure_stats, *displacement_stats), label=label)

    def states(self) -> Iterator[State]:
        yield self.solve()
