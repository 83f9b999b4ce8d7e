"""Transient quasi-static Biot poroelasticity of the BMES epiphysis (model.md sections 3, 7, 8).

Monolithic Taylor-Hood (P2 u, P1 p), backward Euler. The state at t = 0 is the unloaded steady
state (steady pressure; drained displacement under alpha p alone), so the first step under a load
step is the undrained response. The operator is assembled once: only the contact force changes in time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem

from bmes_fem.config.case import Config
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.boundary_conditions import cell_measure, clamped, contact_traction, drainage_terms
from bmes_fem.physics.forms import biot_step_forms, fixed_stress_pressure_form
from bmes_fem.physics.loading import ForceHistory
from bmes_fem.physics.materials import build_tissue_fields
from bmes_fem.post.probes import ProbePoints
from bmes_fem.solve.linear import BlockSolver, SolveStats, rigid_body_modes
from bmes_fem.solve.steady import SteadySolution, solve_drained_displacement, solve_steady_pressure, taylor_hood_spaces
from bmes_fem.units import PA_PER_MMHG


def pressure_scale_Pa(config: Config) -> float:
    """P = K_dr + 4G/3 = E (1 - nu) / ((1 + nu)(1 - 2 nu)) of healthy trabecular bone: p = P p_hat."""
    trabecular = config.tissue.trabecular
    E = trabecular.tissue_modulus * trabecular.bone_volume_fraction**trabecular.volume_fraction_exponent
    nu = trabecular.poisson_ratio
    return E * (1.0 - nu) / ((1.0 + nu) * (1.0 - 2.0 * nu))


@dataclass
class History:
    """Per time step: t [s], load fraction, probe pressures [mmHg] and displacements [um], solver stats."""

    times_s: list[float] = field(default_factory=list)
    load_fraction: list[float] = field(default_factory=list)
    probe_pressure_mmHg: list[np.ndarray] = field(default_factory=list)
    probe_displacement_um: list[np.ndarray] = field(default_factory=list)
    solves: list[SolveStats] = field(default_factory=list)


class TransientBiot:
    """The BMES case stepped in time; build it (validating probes and solver), then :meth:`run`."""

    def __init__(self, domain: Domain, config: Config) -> None:
        self.domain, self.config = domain, config
        self.u_space, self.p_space = taylor_hood_spaces(domain)
        self.tissue = build_tissue_fields(domain, config, self.p_space)
        self.probes = ProbePoints(domain, config.transient.probes)
        self.force_history = ForceHistory(config.transient.load_history, config.load)
        self.scale_Pa = pressure_scale_Pa(config)
        start = time.perf_counter()
        p0, p_stats = solve_steady_pressure(domain, config, self.tissue, self.p_space)
        u0, u_stats = solve_drained_displacement(domain, config, self.tissue, self.u_space, p0, [])
        self.initial_solves = (p_stats, u_stats)
        self.u, self.p_hat = fem.Function(self.u_space, name="u"), fem.Function(self.p_space, name="p_hat")
        self.u.x.array[:] = u0.x.array
        self.p_hat.x.array[:] = p0.x.array / self.scale_Pa
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
        drainage = drainage_terms(self.domain, config.boundaries)
        u, p = ufl.TrialFunction(self.u_space), ufl.TrialFunction(self.p_space)
        v, q = ufl.TestFunction(self.u_space), ufl.TestFunction(self.p_space)
        zero = fem.Constant(self.domain.mesh, default_scalar_type(0.0))
        a, rhs = biot_step_forms(
            u, p, v, q,
            u_prev=self.u_prev, p_hat_prev=self.p_hat_prev, time_step=dt, pressure_scale=self.scale_Pa,
            mu=mu, lmbda=lmbda, biot_coefficient=tissue.biot_coefficient, storage=tissue.storage,
            mobility=tissue.mobility, filtration=tissue.filtration, venous_conductance=tissue.venous_conductance,
            effective_capillary_pressure=tissue.effective_capillary_pressure, venous_pressure=tissue.venous_pressure,
            drainage=drainage, tractions=[(self.traction, self.contact_measure)],
            body_force=fem.Constant(self.domain.mesh, np.zeros(3, dtype=default_scalar_type)), fluid_source=zero, dx=dx,
        )  # fmt: skip
        preconditioner = fixed_stress_pressure_form(
            p, q, time_step=dt, pressure_scale=self.scale_Pa, biot_coefficient=tissue.biot_coefficient,
            storage=tissue.storage, drained_bulk_modulus=tissue.drained_bulk_modulus(), mobility=tissue.mobility,
            filtration=tissue.filtration, venous_conductance=tissue.venous_conductance, drainage=drainage, dx=dx,
        )  # fmt: skip
        preset = config.solver.preset
        return BlockSolver(
            a, rhs, name="biot", preset=preset, bcs=[clamped(self.u_space, self.domain)],
            overrides=config.solver.petsc_options, pressure_preconditioner=preconditioner,
            near_nullspace=rigid_body_modes(self.u_space) if preset == "iterative" else None,
        )  # fmt: skip

    def pressure_Pa(self) -> fem.Function:
        pressure = fem.Function(self.p_space, name="p")
        pressure.x.array[:] = self.p_hat.x.array * self.scale_Pa
        return pressure

    def _record(self, history: History, time_s: float) -> None:
        history.times_s.append(time_s)
        history.load_fraction.append(self.force_history.fraction(time_s))
        history.probe_pressure_mmHg.append(self.probes.values(self.p_hat)[:, 0] * self.scale_Pa / PA_PER_MMHG)
        history.probe_displacement_um.append(np.linalg.norm(self.probes.values(self.u), axis=1) * 1e6)

    def run(self, on_step: Callable[[int, float], None] = lambda step, time_s: None) -> History:
        """Step from t = 0 to end_time; ``on_step(step, t)`` is called after each step (and at t = 0)."""
        history = History()
        self._record(history, 0.0)
        on_step(0, 0.0)
        for step, time_s in enumerate(self.config.transient.time.times(), start=1):
            self.force_N.value[:] = self.force_history.force_vector_N(time_s)
            history.solves.append(self.solver.solve([self.u, self.p_hat]))
            self.u_prev.x.array[:] = self.u.x.array
            self.p_hat_prev.x.array[:] = self.p_hat.x.array
            self._record(history, float(time_s))
            on_step(step, float(time_s))
        return history

    def state(self) -> SteadySolution:
        """The current state in the steady solution's form, for the post-processing and report."""
        return SteadySolution(
            self.domain, self.tissue, self.pressure_Pa(), self.u, self.traction, self.contact_measure, self.initial_solves
        )
