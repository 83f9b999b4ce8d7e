"""Transient quasi-static Biot poroelasticity of the BMES epiphysis.

Monolithic Taylor-Hood (P2 u, P1 p), backward Euler through the configured time stages. The state at
t = 0 is the steady state with every load at its t = 0 value (the unloaded state for step and ramp
histories), so the first step under a load step is the undrained response. The operator is assembled
once per time-step length: only the right-hand side changes from step to step (the Dirichlet lifting
too, when a prescribed displacement follows a history). A rigid plate is solved by superposition as in
the steady problem (bmes_fem.solve.steady), its unit response computed once per time-step length.

Filtration only (``fluid.capillary_reabsorption: false``, q_cap = L (p_eff - p)^+) keeps that operator, which holds
the linear law's L: the right-hand side cancels the absorption at a known pressure, and the step is solved up to k + 1
times, each time at the previous solve's p (a fixed point with a constant operator):

    S (p^n,j - p^n-1) / dt + ... + (L + G_v) p^n,j = L p_eff + G_v p_v + g + L (p^n,j-1 - p_eff)^+.

Its limit p* is backward Euler of the filtration-only law. Each solve shrinks the distance to that limit by
rho = max dt L / (S + dt (L + G_v)) at least (in the norm with weight S + dt (L + G_v); the elastic energy of the
difference only adds to the left side; exact integration assumed). k is the fewest solves with rho^k <= CUTOFF_SPLITTING
(`cutoff_solves`). With k = 1 (dt L / S <= 1e-3, a gait step) the one solve starts from p^n,0 = p^n-1: the lagged
cancellation alone. Otherwise the iteration starts from the linear extrapolation p^n,0 = 2 p^n-1 - p^n-2 (p^n-1 at the
first step), which is close to p* where p changes smoothly: on the saline stress test 4 solves a step instead of 7. Its
distance to p* is at most |p^n-1 - p^n-2| + |p* - p^n-1|, so after k + 1 solves (rho < 1/2) the splitting error is at most
CUTOFF_SPLITTING of the mean of the two steps' changes of p. The solves stop earlier once the cut-off source vanishes at
the last two iterates, or once ||p^n,j - p*||_w <= rho / (1 - rho) ||p^n,j - p^n,j-1||_w is at most CUTOFF_SPLITTING of
||p^n,j - p^n-1||_w (`CapillaryCutoff.settled`, a bound that holds from any start), as when only a small region absorbs.
The one lagged solve alone is first order as well, but where p > p_eff it adds dt L to the storage: the excess decays
at G_v / (S + dt L) instead of G_v / S, 4 times the backward-Euler error at dt L / S = 0.2 (tests/test_absorption.py).
`check_cutoff_time_steps` requires dt L / S < 1 in every stage: rho < 1/2, k <= 10.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.boundary_conditions import BoundaryConditions
from bmes_fem.physics.forms import (
    BIOT_COUPLING_TRANSPOSE,
    biot_step_forms,
    capillary_cutoff_source,
    fixed_stress_pressure_form,
    momentum_residual,
)
from bmes_fem.physics.loading import History
from bmes_fem.physics.materials import build_tissue_fields, largest_filtration_rate_per_s, pressure_scale_Pa
from bmes_fem.solve.failure import failing_at, non_finite_coefficients, non_finite_histories
from bmes_fem.solve.linear import BlockSolver, SolveStats
from bmes_fem.solve.reactions import Residual
from bmes_fem.solve.state import State
from bmes_fem.solve.steady import plate_displacement, solve_drained_displacement, solve_steady_pressure, taylor_hood_spaces

CUTOFF_SPLITTING = 1e-3  # bound on the splitting error of a step, as a fraction of its change of p (module docstring)


def cutoff_solves(time_step_s: float, rate_per_s: float) -> int:
    """k = the fewest solves with rho^k <= CUTOFF_SPLITTING, rho = dt r / (1 + dt r) >= max dt L / (S + dt (L + G_v)),
    r = max L / S (`largest_filtration_rate_per_s`); 1 without exchange."""
    contraction = time_step_s * rate_per_s / (1.0 + time_step_s * rate_per_s)
    if contraction <= CUTOFF_SPLITTING:
        return 1
    return math.ceil(math.log(CUTOFF_SPLITTING) / math.log(contraction) - 1e-12)


def check_cutoff_time_steps(config: Config) -> None:
    """ConfigError naming the first stage with dt L / S >= 1 (L / S: `largest_filtration_rate_per_s`) without capillary
    reabsorption: the cut-off's fixed point would need more than 10 solves a step (module docstring)."""
    if config.fluid.capillary_reabsorption:
        return
    rate_per_s, stepping = largest_filtration_rate_per_s(config), config.transient.time
    for index, (time_step_s, _) in enumerate(stepping.step_lengths()):
        if time_step_s * rate_per_s >= 1.0:
            key = f"transient.time.stages.{index}.time_step" if stepping.stages else "transient.time.time_step"
            raise ConfigError(
                f"{key} = {time_step_s:g} s gives dt L / S = {time_step_s * rate_per_s:.3g} with fluid.capillary_reabsorption: "
                f"false; expected dt < S / L = {1.0 / rate_per_s:.4g} s (L / S = {rate_per_s:.3g} 1/s, the largest in the marrow), "
                f"below which the capillary cut-off needs at most {cutoff_solves(1.0 / rate_per_s, rate_per_s)} solves a step"
            )


class CapillaryCutoff:
    """The fixed point of a filtration-only step (module docstring): p' = P p_hat', the pressure at which the right-hand
    side cancels the absorption, and when to stop iterating."""

    def __init__(self, problem: TransientBiot) -> None:
        tissue, scale, dx = problem.tissue, problem.scale_Pa, problem.tissue.dx
        self.p_hat = problem.p_hat.copy()
        self.pressure = scale * self.p_hat
        self._comm, self._rate_per_s = problem.domain.mesh.comm, largest_filtration_rate_per_s(problem.config)

        def absorbed(p_hat: fem.Function) -> fem.Form:
            return fem.form(capillary_cutoff_source(
                1.0, filtration=tissue.filtration, effective_capillary_pressure=tissue.effective_capillary_pressure,
                pressure=scale * p_hat, exchange_dx=tissue.exchange_dx,
            ))  # fmt: skip

        self._absorbed = (absorbed(self.p_hat), absorbed(problem.p_hat))
        weight = tissue.storage + problem.dt * (tissue.filtration + tissue.venous_conductance + tissue.blood_conductance)
        self._last_change = fem.form(weight * (scale * (problem.p_hat - self.p_hat)) ** 2 * dx)
        self._step_change = fem.form(weight * (scale * (problem.p_hat - problem.p_hat_prev)) ** 2 * dx)

    def solves(self, time_step_s: float) -> int:
        """The most solves of a step: 1 if `cutoff_solves` is 1, else one more (the extrapolated start)."""
        k = cutoff_solves(time_step_s, self._rate_per_s)
        return 1 if k == 1 else k + 1

    def start(self, previous: np.ndarray, before_previous: np.ndarray | None, time_step_s: float) -> None:
        """p^n,0: p^n-1 for a single solve or at the first step, else 2 p^n-1 - p^n-2 (module docstring)."""
        if before_previous is None or self.solves(time_step_s) == 1:
            self.p_hat.x.array[:] = previous
        else:
            self.p_hat.x.array[:] = 2.0 * previous - before_previous

    def settled(self, time_step_s: float) -> bool:
        """After a solve from p': another would change nothing (int L (p - p_eff)^+ dx = 0 at p' and at the solution p),
        or the contraction bound puts p within CUTOFF_SPLITTING of the step's change from the limit p*:
        ||p - p*||_w <= rho / (1 - rho) ||p - p'||_w <= CUTOFF_SPLITTING ||p - p^n-1||_w (collective)."""

        def total(form: fem.Form) -> float:
            return self._comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)

        if not any(total(form) for form in self._absorbed):
            return True
        contraction = time_step_s * self._rate_per_s / (1.0 + time_step_s * self._rate_per_s)
        last, step = max(total(self._last_change), 0.0), max(total(self._step_change), 0.0)
        return contraction / (1.0 - contraction) * math.sqrt(last) <= CUTOFF_SPLITTING * math.sqrt(step)


class TransientBiot:
    """The case stepped in time: build it (initial state, operator), then iterate `states`."""

    def __init__(self, domain: Domain, config: Config) -> None:
        check_cutoff_time_steps(config)
        self.domain, self.config = domain, config
        self.u_space, self.p_space = taylor_hood_spaces(domain)
        self.tissue = build_tissue_fields(domain, config, self.p_space)
        self.bcs = BoundaryConditions(domain, config, self.u_space, self.p_space)
        stepping = config.transient.time
        self._vascular_history = History(config.transient.vascular.history) if config.transient.vascular else None
        self.times_s, self.time_steps_s = stepping.times(), stepping.time_steps()
        self.state_count = len(self.times_s) + 1
        self.scale_Pa = pressure_scale_Pa(config)
        start = time.perf_counter()
        self.bcs.set_time(0.0)
        self._set_vascular(0.0)
        with failing_at("initial state, t = 0 s", lambda: self.likely_causes(0.0)):
            p0, p_stats = solve_steady_pressure(config, self.tissue, self.bcs, self.p_space)
            u0, u_stats = solve_drained_displacement(config, self.tissue, self.bcs, p0, 0.0)
            self.initial_solves = (*p_stats, *u_stats)
            self.u, self.p_hat = fem.Function(self.u_space, name="u"), fem.Function(self.p_space, name="p_hat")
            self.u.x.array[:] = u0.x.array
            self.p_hat.x.array[:] = p0.x.array / self.scale_Pa
            self.pressure = fem.Function(self.p_space, name="p")
            self.pressure.x.array[:] = p0.x.array
            self.blood_throughflow = self._blood_throughflow(p0)
            del p0, u0
            self.u_prev, self.p_hat_prev = self.u.copy(), self.p_hat.copy()
            self._p_hat_before_prev: np.ndarray | None = None  # p^n-2 (the cut-off's extrapolated start)
            self.dt = fem.Constant(domain.mesh, default_scalar_type(self.time_steps_s[0]))
            self.cutoff = None if config.fluid.capillary_reabsorption else CapillaryCutoff(self)
            self.solver = self._block_solver(expected_solves=self._most_solves())
            self.plate_response = self._plate_response() if self.bcs.plate is not None else None
        self.setup_time_s = time.perf_counter() - start

    def _most_solves(self) -> int:
        """The most Biot solves of the run, for the ``auto`` preset: one a step, or `CapillaryCutoff.solves` of each
        step without reabsorption (a saline stress test: 276 solves in 75 steps, where 75 would pick multigrid), and
        a rigid plate's unit response per step length."""
        unit_responses = len(set(self.time_steps_s)) if self.bcs.plate is not None else 0
        if self.cutoff is None:
            return len(self.time_steps_s) + unit_responses
        return sum(self.cutoff.solves(float(time_step_s)) for time_step_s in self.time_steps_s) + unit_responses

    def _blood_throughflow(self, p0: fem.Function) -> tuple[ufl.core.expr.Expr, ufl.core.expr.Expr] | None:
        """(G_b, p_b) with p_b = p^0 + dp_v(t) - dp_v(0) (bmes_fem.physics.forms), None without blood flow."""
        if isinstance(self.tissue.blood_conductance, float) and self.tissue.blood_conductance == 0.0:
            return None
        initial = fem.Function(self.p_space, name="p_initial")
        initial.x.array[:] = p0.x.array
        rise = self.tissue.venous_pressure_rise
        return self.tissue.blood_conductance, initial + (rise - float(rise.value))

    def _block_solver(self, expected_solves: int) -> BlockSolver:
        config, tissue, bcs = self.config, self.tissue, self.bcs
        dx = tissue.dx
        fluid = dict(
            mobility=tissue.mobility, filtration=tissue.filtration, venous_conductance=tissue.venous_conductance, drainage=bcs.robin,
            exchange_dx=tissue.exchange_dx,
        )  # fmt: skip
        u, p = ufl.TrialFunction(self.u_space), ufl.TrialFunction(self.p_space)
        v, q = ufl.TestFunction(self.u_space), ufl.TestFunction(self.p_space)
        a, rhs = biot_step_forms(
            u, p, v, q,
            u_prev=self.u_prev, p_hat_prev=self.p_hat_prev, time_step=self.dt, pressure_scale=self.scale_Pa,
            elasticity=tissue.elasticity, biot_coefficient=tissue.biot_coefficient, storage=tissue.storage,
            effective_capillary_pressure=tissue.effective_capillary_pressure, venous_pressure=tissue.venous_pressure,
            tractions=bcs.traction_terms, body_force=bcs.body_force, fluid_source=bcs.fluid_source, injections=bcs.injections,
            outward_flux=bcs.outward_flux, capillary_cutoff_pressure=None if self.cutoff is None else self.cutoff.pressure,
            blood_throughflow=self.blood_throughflow, dx=dx, **fluid,
        )  # fmt: skip
        preconditioner = fixed_stress_pressure_form(
            p, q, time_step=self.dt, pressure_scale=self.scale_Pa, biot_coefficient=tissue.biot_coefficient,
            storage=tissue.storage, drained_bulk_modulus=tissue.elasticity.drained_bulk_modulus(), dx=dx,
            blood_conductance=tissue.blood_conductance, **fluid,
        )  # fmt: skip
        self._zero_rhs = fem.form(bcs.zero_loads(v, q))
        residual = dict(elasticity=tissue.elasticity, biot_coefficient=tissue.biot_coefficient, dx=dx)
        self._loaded_residual = Residual(
            momentum_residual(self.u, self.scale_Pa * self.p_hat, v, tractions=bcs.traction_terms, body_force=bcs.body_force, **residual),
            self.u_space,
        )
        self._unit_u, self._unit_p_hat = fem.Function(self.u_space), fem.Function(self.p_space)
        self._unit_residual = Residual(momentum_residual(self._unit_u, self.scale_Pa * self._unit_p_hat, v, **residual), self.u_space)
        return BlockSolver(
            a, rhs, name="biot", preset=config.solver.preset, bcs=[*bcs.displacement_bcs, *bcs.pressure_bcs(self.p_space, self.scale_Pa)],
            overrides=config.solver.petsc_options, pressure_preconditioner=preconditioner, expected_solves=expected_solves,
            coupling_transpose=BIOT_COUPLING_TRANSPOSE,
        )  # fmt: skip

    def _solve_step(self, time_s: float) -> tuple[SolveStats, ...]:
        """Solve the step, superposing the plate; without reabsorption, the cut-off's fixed point (module docstring):
        each solve cancels the absorption at the previous iterate, from `CapillaryCutoff.start`, until `CapillaryCutoff.settled`."""
        cutoff, time_step_s = self.cutoff, float(self.dt.value)
        if cutoff is not None:
            cutoff.start(self.p_hat_prev.x.array, self._p_hat_before_prev, time_step_s)
        solves = []
        for _ in range(1 if cutoff is None else cutoff.solves(time_step_s)):
            solves.append(self.solver.solve([self.u, self.p_hat]))
            if self.bcs.plate is not None:
                self._superpose_plate(time_s)
            if cutoff is None or cutoff.settled(time_step_s):
                break
            cutoff.p_hat.x.array[:] = self.p_hat.x.array
        return tuple(solves)

    def _plate_response(self) -> tuple[np.ndarray, np.ndarray]:
        """(u_1, p_hat_1): the step's response to a unit plate displacement from rest, every other value zero."""
        self._unit_u.x.array[:] = 0.0
        self._unit_p_hat.x.array[:] = 0.0
        with self.bcs.homogeneous():
            self.solver.dirichlet_changed()
            self.solver.solve([self._unit_u, self._unit_p_hat], rhs=self._zero_rhs)
        self.solver.dirichlet_changed()
        return self._unit_u.x.array.copy(), self._unit_p_hat.x.array.copy()

    def _state(self, step: int, time_s: float, solves) -> State:
        self.pressure.x.array[:] = self.p_hat.x.array * self.scale_Pa
        return State(
            self.domain, self.tissue, self.bcs, self.pressure, self.u, solves, time_s=time_s, step=step, label=f"t = {time_s:.4g} s",
        )  # fmt: skip

    def likely_causes(self, time_s: float) -> list[str]:
        """Inputs that make a solve at ``time_s`` fail: non-finite histories at that time, tissue coefficients (collective)."""
        return non_finite_histories(self.config, time_s) + non_finite_coefficients(self.tissue)

    def load_fraction(self, time_s: float) -> float | None:
        """The joint force (or the first load) at ``time_s`` as a fraction of its full value."""
        return self.bcs.load_fraction(time_s)

    def states(self) -> Iterator[State]:
        """The initial state (t = 0), then one state per backward-Euler step through the stages; once
        the last state is out, the solver's PETSc objects are freed (post-processing runs without them)."""
        yield self._state(0, 0.0, self.initial_solves)
        for step, (time_s, time_step) in enumerate(zip(self.times_s, self.time_steps_s, strict=True), start=1):
            with failing_at(f"step {step}, t = {time_s:.4g} s", lambda time_s=float(time_s): self.likely_causes(time_s)):
                if time_step != self.dt.value:
                    self.dt.value = time_step
                    self.solver.reassemble()
                    if self.bcs.plate is not None:
                        self.plate_response = self._plate_response()
                if self.bcs.set_time(float(time_s)):
                    self.solver.dirichlet_changed()
                self._set_vascular(float(time_s))
                stats = self._solve_step(float(time_s))
            self.u_prev.x.array[:] = self.u.x.array
            self._p_hat_before_prev = self.p_hat_prev.x.array.copy()
            self.p_hat_prev.x.array[:] = self.p_hat.x.array
            yield self._state(step, float(time_s), stats)
        self.solver.destroy()

    def _set_vascular(self, time_s: float) -> None:
        """p_c and p_v raised by ``transient.vascular`` times its f(t) (only the right-hand side changes)."""
        change = self.config.transient.vascular
        if change is not None:
            fraction = self._vascular_history(time_s)
            self.tissue.capillary_pressure_rise.value = change.capillary_pressure_rise * fraction
            self.tissue.venous_pressure_rise.value = change.venous_pressure_rise * fraction

    def _superpose_plate(self, time_s: float) -> None:
        """x = x_0 + delta x_1 with the plate's force balance (bmes_fem.solve.steady.plate_displacement)."""
        unit_u, unit_p_hat = self.plate_response
        self._unit_u.x.array[:] = unit_u
        self._unit_p_hat.x.array[:] = unit_p_hat
        delta = plate_displacement(self.bcs, self._loaded_residual, self._unit_residual, time_s)
        self.u.x.array[:] += delta * unit_u
        self.p_hat.x.array[:] += delta * unit_p_hat
