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

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.errors import SolverError
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.boundary_conditions import BoundaryConditions
from bmes_fem.physics.forms import (
    capillary_cutoff_source,
    elasticity_forms,
    filtering_filtration,
    momentum_residual,
    steady_pressure_forms,
)
from bmes_fem.physics.materials import TRABECULAR, TissueFields, build_tissue_fields
from bmes_fem.solve.failure import failing_at, non_finite_coefficients
from bmes_fem.solve.linear import SolveStats, solve_linear
from bmes_fem.solve.reactions import Residual
from bmes_fem.solve.state import State
from bmes_fem.units import PA_PER_MMHG

ACTIVE_SET_ITERATIONS = 30  # Newton on a piecewise-linear problem settles in a few solves; more means it cycles
ACTIVE_SET_TOLERANCE = 1e-8  # max change of p between Newton iterates, relative to max |p|, that counts as none (solver accuracy)


def taylor_hood_spaces(domain: Domain) -> tuple[fem.FunctionSpace, fem.FunctionSpace]:
    """(P2 displacement, P1 pressure) on the domain's mesh."""
    domain.require(regions=[TRABECULAR])
    mesh = domain.mesh
    return fem.functionspace(mesh, ("Lagrange", 2, (mesh.geometry.dim,))), fem.functionspace(mesh, ("Lagrange", 1))


def solve_steady_pressure(
    config: Config, tissue: TissueFields, bcs: BoundaryConditions, space: fem.FunctionSpace
) -> tuple[fem.Function, tuple[SolveStats, ...]]:
    """-div(kappa grad p) + G_v (p - p_v) = q_cap + g with the configured fluid boundary conditions: q_cap = L (p_eff - p)
    (``fluid.capillary_reabsorption``) or L (p_eff - p)^+ (`filtration_only_pressure`); the stats of each linear solve."""
    pressure, stats = _pressure_with_filtration(config, tissue, bcs, space, tissue.filtration)
    if config.fluid.capillary_reabsorption:
        return pressure, (stats,)
    return filtration_only_pressure(config, tissue, bcs, space, pressure, stats)


def _pressure_with_filtration(
    config: Config, tissue: TissueFields, bcs: BoundaryConditions, space: fem.FunctionSpace, filtration: ufl.core.expr.Expr
) -> tuple[fem.Function, SolveStats]:
    """-div(kappa grad p) + (L' + G_v) p = L' p_eff + G_v p_v + g with L' = ``filtration``."""
    a, rhs = steady_pressure_forms(
        ufl.TrialFunction(space),
        ufl.TestFunction(space),
        mobility=tissue.mobility,
        filtration=filtration,
        venous_conductance=tissue.venous_conductance,
        effective_capillary_pressure=tissue.effective_capillary_pressure,
        venous_pressure=tissue.venous_pressure,
        drainage=bcs.robin,
        fluid_source=bcs.fluid_source, injections=bcs.injections,
        outward_flux=bcs.outward_flux,
        dx=tissue.dx,
        exchange_dx=tissue.exchange_dx,
    )
    pressure, stats = solve_linear(
        a, rhs, name="pressure", preset=config.solver.preset, bcs=bcs.pressure_bcs(space), overrides=config.solver.petsc_options
    )
    pressure.name = "p"
    return pressure, stats


def filtration_only_pressure(
    config: Config, tissue: TissueFields, bcs: BoundaryConditions, space: fem.FunctionSpace, linear: fem.Function, stats: SolveStats
) -> tuple[fem.Function, tuple[SolveStats, ...]]:
    """The steady pressure with q_cap = L (p_eff - p)^+, from the linear law's solution ``linear`` (collective).

    Semismooth Newton, i.e. a primal-dual active set (Hintermueller, Ito & Kunisch 2002, SIAM J Optim 13:865):
    iterate k + 1 solves the linear problem with L [p_k < p_eff] in place of L (`filtering_filtration`, at the
    quadrature points). The linear solution p_0 is the answer when int L (p_0 - p_eff)^+ dx = 0, i.e. p_0 <= p_eff
    wherever L > 0 (so with uniform coefficients and no-flux walls, where p_0 is a weighted mean of p_eff and p_v):
    no solve more. Otherwise the iteration stops when p_k+1 = p_k to ``ACTIVE_SET_TOLERANCE`` of max |p|: p_k then
    solves the problem with the filtration of its own pressure, which is the filtration-only problem (the last solve
    confirms the set). SolverError naming the last change after ``ACTIVE_SET_ITERATIONS`` solves.
    """
    p_eff, comm = tissue.effective_capillary_pressure, space.mesh.comm
    absorbed = capillary_cutoff_source(1.0, filtration=tissue.filtration, effective_capillary_pressure=p_eff, pressure=linear, exchange_dx=tissue.exchange_dx)
    if comm.allreduce(fem.assemble_scalar(fem.form(absorbed)), op=MPI.SUM) == 0.0:
        return linear, (stats,)
    pressure, previous, solves = linear, fem.Function(space), [stats]
    for _ in range(ACTIVE_SET_ITERATIONS):
        previous.x.array[:] = pressure.x.array
        pressure, stats = _pressure_with_filtration(config, tissue, bcs, space, filtering_filtration(tissue.filtration, p_eff, previous))
        solves.append(stats)
        change = comm.allreduce(float(np.max(np.abs(pressure.x.array - previous.x.array), initial=0.0)), op=MPI.MAX)
        size = comm.allreduce(float(np.max(np.abs(pressure.x.array), initial=0.0)), op=MPI.MAX)
        if change <= ACTIVE_SET_TOLERANCE * size:
            return pressure, tuple(solves)
    raise SolverError(
        f"steady pressure with fluid.capillary_reabsorption: false: the Newton iteration for the filtering marrow (p < p_eff) "
        f"still changed p by {change / PA_PER_MMHG:.3g} mmHg after {ACTIVE_SET_ITERATIONS} solves; expected it to settle "
        f"to {ACTIVE_SET_TOLERANCE:g} of max |p| = {size / PA_PER_MMHG:.4g} mmHg"
    )


def solve_drained_displacement(
    config: Config, tissue: TissueFields, bcs: BoundaryConditions, pressure: fem.Function, time_s: float | None
) -> tuple[fem.Function, tuple[SolveStats, ...]]:
    """-div(sigma'(u) - alpha p I) = f with the configured tractions and constraints (a rigid plate by superposition)."""
    space, dx = bcs.u_space, tissue.dx
    u, v = ufl.TrialFunction(space), ufl.TestFunction(space)
    a, rhs = elasticity_forms(
        u, v, elasticity=tissue.elasticity, biot_coefficient=tissue.biot_coefficient, pressure=pressure,
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
    coefficients = dict(elasticity=tissue.elasticity, biot_coefficient=tissue.biot_coefficient, dx=dx)
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
        return State(self.domain, self.tissue, self.bcs, pressure, displacement, (*pressure_stats, *displacement_stats), label=label)

    def states(self) -> Iterator[State]:
        yield self.solve()
