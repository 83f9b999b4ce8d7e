"""Transient quasi-static Biot poroelasticity of the BMES epiphysis.

Monolithic Taylor-Hood (P2 u, P1 p), backward Euler through the configured time stages. The state at
t = 0 is the steady state with every load at its t = 0 value (the unloaded state for step and ramp
histories), so the first step under a load step is the undrained response. The operator is assembled
once per time-step length: only the right-hand side changes from step to step (the Dirichlet lifting
too, when a prescribed displacement follows a history). A rigid plate is solved by superposition as in
the steady problem (bmes_fem.solve.steady), its unit response computed once per time-step length.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem

from bmes_fem.config.case import Config
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.boundary_conditions import BoundaryConditions
from bmes_fem.physics.forms import BIOT_COUPLING_TRANSPOSE, biot_step_forms, fixed_stress_pressure_form, momentum_residual
from bmes_fem.physics.loading import History
from bmes_fem.physics.materials import build_tissue_fields, pressure_scale_Pa
from bmes_fem.solve.failure import failing_at, non_finite_coefficients, non_finite_histories
from bmes_fem.solve.linear import BlockSolver
from bmes_fem.solve.reactions import Residual
from bmes_fem.solve.state import State
from bmes_fem.solve.steady import plate_displacement, solve_drained_displacement, solve_steady_pressure, taylor_hood_spaces


class TransientBiot:
    """The case stepped in time: build it (initial state, operator), then iterate `states`."""

    def __init__(self, domain: Domain, config: Config) -> None:
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
            self.initial_solves = (p_stats, *u_stats)
            self.u, self.p_hat = fem.Function(self.u_space, name="u"), fem.Function(self.p_space, name="p_hat")
            self.u.x.array[:] = u0.x.array
            self.p_hat.x.array[:] = p0.x.array / self.scale_Pa
            self.pressure = fem.Function(self.p_space, name="p")
            self.pressure.x.array[:] = p0.x.array
            del p0, u0
            self.u_prev, self.p_hat_prev = self.u.copy(), self.p_hat.copy()
            self.dt = fem.Constant(domain.mesh, default_scalar_type(self.time_steps_s[0]))
            self.solver = self._block_solver(expected_solves=len(self.times_s))
            self.plate_response = self._plate_response() if self.bcs.plate is not None else None
        self.setup_time_s = time.perf_counter() - start

    def _block_solver(self, expected_solves: int) -> BlockSolver:
        config, tissue, bcs = self.config, self.tissue, self.bcs
        mu, lmbda = tissue.lame_parameters()
        dx = tissue.dx
        fluid = dict(
            mobility=tissue.mobility, filtration=tissue.filtration, venous_conductance=tissue.venous_conductance, drainage=bcs.robin,
        )  # fmt: skip
        u, p = ufl.TrialFunction(self.u_space), ufl.TrialFunction(self.p_space)
        v, q = ufl.TestFunction(self.u_space), ufl.TestFunction(self.p_space)
        a, rhs = biot_step_forms(
            u, p, v, q,
            u_prev=self.u_prev, p_hat_prev=self.p_hat_prev, time_step=self.dt, pressure_scale=self.scale_Pa,
            mu=mu, lmbda=lmbda, biot_coefficient=tissue.biot_coefficient, storage=tissue.storage,
            effective_capillary_pressure=tissue.effective_capillary_pressure, venous_pressure=tissue.venous_pressure,
            tractions=bcs.traction_terms, body_force=bcs.body_force, fluid_source=bcs.fluid_source, injections=bcs.injections,
            outward_flux=bcs.outward_flux, dx=dx, **fluid,
        )  # fmt: skip
        preconditioner = fixed_stress_pressure_form(
            p, q, time_step=self.dt, pressure_scale=self.scale_Pa, biot_coefficient=tissue.biot_coefficient,
            storage=tissue.storage, drained_bulk_modulus=tissue.drained_bulk_modulus(), dx=dx, **fluid,
        )  # fmt: skip
        self._zero_rhs = fem.form(bcs.zero_loads(v, q))
        residual = dict(mu=mu, lmbda=lmbda, biot_coefficient=tissue.biot_coefficient, dx=dx)
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
                stats = self.solver.solve([self.u, self.p_hat])
                if self.bcs.plate is not None:
                    self._superpose_plate(float(time_s))
            self.u_prev.x.array[:] = self.u.x.array
            self.p_hat_prev.x.array[:] = self.p_hat.x.array
            yield self._state(step, float(time_s), (stats,))
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
