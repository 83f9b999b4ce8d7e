"""Transient quasi-static Biot poroelasticity of the BMES epiphysis.

Monolithic Taylor-Hood (P2 u, P1 p), backward Euler. The state at t = 0 is the unloaded steady
state (steady pressure; drained displacement under alpha p alone), so the first step under a load
step is the undrained response. The operator is assembled once: only the contact force changes in time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem

from bmes_fem.config.case import Config
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.boundary_conditions import cell_measure, clamped, contact_traction, drainage_terms
from bmes_fem.physics.forms import biot_step_forms, fixed_stress_pressure_form
from bmes_fem.physics.loading import ForceHistory
from bmes_fem.physics.materials import build_tissue_fields, pressure_scale_Pa
from bmes_fem.solve.linear import BlockSolver, rigid_body_modes
from bmes_fem.solve.state import State
from bmes_fem.solve.steady import solve_drained_displacement, solve_steady_pressure, taylor_hood_spaces


class TransientBiot:
    """The BMES case stepped in time: build it (initial state, operator), then iterate `states`."""

    def __init__(self, domain: Domain, config: Config) -> None:
        self.domain, self.config = domain, config
        self.u_space, self.p_space = taylor_hood_spaces(domain)
        self.tissue = build_tissue_fields(domain, config, self.p_space)
        self.force_history = ForceHistory(config.transient.load_history, config.load)
        self.times_s = config.transient.time.times()
        self.state_count = len(self.times_s) + 1
        self.scale_Pa = pressure_scale_Pa(config)
        start = time.perf_counter()
        p0, p_stats = solve_steady_pressure(domain, config, self.tissue, self.p_space)
        u0, u_stats = solve_drained_displacement(domain, config, self.tissue, self.u_space, p0, [])
        self.initial_solves = (p_stats, u_stats)
        self.u, self.p_hat = fem.Function(self.u_space, name="u"), fem.Function(self.p_space, name="p_hat")
        self.u.x.array[:] = u0.x.array
        self.p_hat.x.array[:] = p0.x.array / self.scale_Pa
        self.pressure = fem.Function(self.p_space, name="p")
        self.pressure.x.array[:] = p0.x.array
        del p0, u0
        self.u_prev, self.p_hat_prev = self.u.copy(), self.p_hat.copy()
        self.force_N = fem.Constant(domain.mesh, np.zeros(3, dtype=default_scalar_type))
        self.traction, self.contact_measure = contact_traction(domain, config.load, self.force_N)
        self.solver = self._block_solver()
        self.setup_time_s = time.perf_counter() - start

    def _block_solver(self) -> BlockSolver:
        config, tissue = self.config, self.tissue
        dt = fem.Constant(self.domain.mesh, default_scalar_type(config.transient.time.time_step))
        mu, lmbda = tissue.lame_parameters()
        dx = cell_measure(self.domain)
        fluid = dict(
            mobility=tissue.mobility, filtration=tissue.filtration, venous_conductance=tissue.venous_conductance,
            drainage=drainage_terms(self.domain, config.boundaries),
        )  # fmt: skip
        u, p = ufl.TrialFunction(self.u_space), ufl.TrialFunction(self.p_space)
        v, q = ufl.TestFunction(self.u_space), ufl.TestFunction(self.p_space)
        a, rhs = biot_step_forms(
            u, p, v, q,
            u_prev=self.u_prev, p_hat_prev=self.p_hat_prev, time_step=dt, pressure_scale=self.scale_Pa,
            mu=mu, lmbda=lmbda, biot_coefficient=tissue.biot_coefficient, storage=tissue.storage,
            effective_capillary_pressure=tissue.effective_capillary_pressure, venous_pressure=tissue.venous_pressure,
            tractions=[(self.traction, self.contact_measure)],
            body_force=fem.Constant(self.domain.mesh, np.zeros(3, dtype=default_scalar_type)),
            fluid_source=fem.Constant(self.domain.mesh, default_scalar_type(0.0)), dx=dx, **fluid,
        )  # fmt: skip
        preconditioner = fixed_stress_pressure_form(
            p, q, time_step=dt, pressure_scale=self.scale_Pa, biot_coefficient=tissue.biot_coefficient,
            storage=tissue.storage, drained_bulk_modulus=tissue.drained_bulk_modulus(), dx=dx, **fluid,
        )  # fmt: skip
        preset = config.solver.preset
        return BlockSolver(
            a, rhs, name="biot", preset=preset, bcs=[clamped(self.u_space, self.domain)],
            overrides=config.solver.petsc_options, pressure_preconditioner=preconditioner,
            near_nullspace=rigid_body_modes(self.u_space) if preset == "iterative" else None,
        )  # fmt: skip

    def _state(self, step: int, time_s: float, solves) -> State:
        self.pressure.x.array[:] = self.p_hat.x.array * self.scale_Pa
        return State(
            self.domain, self.tissue, self.pressure, self.u, self.traction, self.contact_measure, solves,
            time_s=time_s, step=step, label=f"t = {time_s:.4g} s",
        )  # fmt: skip

    def load_fraction(self, time_s: float) -> float:
        """Joint force at ``time_s`` as a fraction of its peak."""
        return self.force_history.fraction(time_s)

    def states(self) -> Iterator[State]:
        """The initial state (t = 0), then one state per backward-Euler step up to the end time."""
        yield self._state(0, 0.0, self.initial_solves)
        for step, time_s in enumerate(self.times_s, start=1):
            self.force_N.value[:] = self.force_history.force_vector_N(time_s)
            stats = self.solver.solve([self.u, self.p_hat])
            self.u_prev.x.array[:] = self.u.x.array
            self.p_hat_prev.x.array[:] = self.p_hat.x.array
            yield self._state(step, float(time_s), (stats,))
