"""The disease course (``analysis: course``): steady (drained) states of one head whose lesion follows the
course's trajectories, therapies and bone turnover, scenario after scenario (docs/course.md).

Lesion parameters at chi = 1, per scenario and sample time t (bmes_fem.physics.turnover):

    q(t)  = q_d(t) from its trajectory (healthy without one), moved toward healthy by the iloprost effect:
            q = q_d + w_q e(t) (q_h - q_d)  (pressures, sigma_r),  q = q_d^(1 - w_q e) q_h^(w_q e)  (factors)
    a(t)  = 1 + (a_d(t) - 1)(1 - I(t))            osteoclast activity under a bisphosphonate
    m, b  = turnover ODE driven by a(t)            relative mineralisation, BV/TV
    E_l   = E_tissue m^gamma_m b^n                 lesion modulus (bmes_fem.physics.materials.trabecular_modulus)
    semi-axes of every lesion x lesion_scale(t)
    f(t), n(t)                                     joint force and steps per day under protected weight bearing
    drilled(t)                                     the tunnels of a core decompression: void, drained at p_t, from t_d

A drilled tunnel is a hole in the same mesh: its cells lose all stiffness, the displacement nodes only they hold
are fixed (u = 0; they are outside the bone), and p = p_t at every pressure node of the tunnel (its wall drained).

Two weeks are 2e4 exchange times (model.md 10), so each sample is in equilibrium with its parameters and
is a steady solve (with the capillary law of ``fluid.capillary_reabsorption``, bmes_fem.solve.steady). One set of
compiled forms serves every state: the tissue's lesion Constants, chi, the stiffness factor (damage, void), the
joint-force fraction and the tunnel's drained condition change in place; the operators are reassembled into the
same matrices and each solve starts from the previous state with the preconditioner of an earlier one
(bmes_fem.solve.linear.LinearSystem). The first state is the healthy reference (every lesion parameter healthy).

Without ``course.damage`` a state depends on its parameters only: a parameter set met again (t = 0 of each
scenario, a therapy scenario before its therapy starts) is yielded again with no solves. With it, the stiffness of
sample k is E (1 - k_D D_k) with the damage D_k accumulated over the samples before (bmes_fem.physics.damage):

    D_0 = 0,   D_k+1 = D_k e^(-r dt) + (n_k / N_f(s_k)) (1 - e^(-r dt)) / r,   s_k = (1 - k_D D_k) R_k,
    r = r_h (1 + chi_m (a_k - 1))   (a_k: the mean osteoclast activity over the interval)

with R_k the risk index of state k and n_k its loading cycles per second: the state and the walking of each
sample hold until the next. A state then depends on the whole history before it; a scenario whose history equals
an earlier one's up to sample k (every parameter at samples 0..k and every interval's activity) reuses its states.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem, la
from mpi4py import MPI

from bmes_fem.config.case import Config, Lesion, LesionEffects
from bmes_fem.config.course import DAY_S, TIME_TOLERANCE_S, WEEK_S, Course, Trajectories, Trajectory
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.damage import FatigueLaw, accumulate, repair_rate_per_s, scaled_law, stress_ratio, weight_bearing_fraction
from bmes_fem.physics.forms import elasticity_forms, steady_pressure_forms
from bmes_fem.physics.materials import trabecular_modulus
from bmes_fem.physics.tunnels import tunnel_cells
from bmes_fem.physics.turnover import (
    PiecewiseLinear,
    Relaxation,
    Turnover,
    bisphosphonate_inhibition,
    infusion_effect,
    inhibited_activity,
    reverse,
)
from bmes_fem.post.fields import CellFields, cell_fields
from bmes_fem.solve.failure import failing_at, non_finite_coefficients
from bmes_fem.solve.linear import LinearSystem, SolveStats
from bmes_fem.solve.state import State
from bmes_fem.solve.steady import SteadyBiot, solve_steady_pressure
from bmes_fem.units import PA_PER_MMHG

EFFECTS = tuple(LesionEffects.model_fields)  # the chi = 1 parameters of the tissue
TRAJECTORIES = tuple(Trajectories.model_fields)  # the parameters a course gives over time
FACTORS = ("filtration_factor", "venous_outflow_factor", "mobility_factor")  # blend geometrically, healthy 1
#: every series of a `CourseTable`: the lesion effects, then what drives or follows them, then the loading
SERIES = (
    *EFFECTS, "lesion_scale", "osteoclast_activity", "iloprost_effect", "bisphosphonate_inhibition", "lesion_modulus_Pa",
    "load_fraction", "steps_fraction", "decompressed",
)  # fmt: skip
_ACTIVITY_QUADRATURE_POINTS = 65  # per sample interval (trapezoid) for the interval's mean osteoclast activity


def healthy_values(config: Config) -> dict[str, float]:
    """The healthy value of every course parameter (SI): the fluid and tissue sections, 1 for the factors."""
    fluid, trabecular = config.fluid, config.tissue.trabecular
    return {
        "filtration_factor": 1.0,
        "reflection_coefficient": fluid.reflection_coefficient,
        "interstitial_oncotic_pressure": fluid.interstitial_oncotic_pressure,
        "capillary_pressure": fluid.capillary_pressure,
        "venous_pressure": fluid.venous_pressure,
        "venous_outflow_factor": 1.0,
        "mobility_factor": 1.0,
        "relative_mineralisation": 1.0,
        "bone_volume_fraction": trabecular.bone_volume_fraction,
        "lesion_scale": 1.0,
        "osteoclast_activity": 1.0,
        "iloprost_effect": 0.0,
        "bisphosphonate_inhibition": 0.0,
        "lesion_modulus_Pa": trabecular_modulus(trabecular),
        "load_fraction": 1.0,
        "steps_fraction": 1.0,
        "decompressed": 0.0,
    }


def sample_times_s(course: Course) -> np.ndarray:
    """0, dt, 2 dt, ... up to the end of the course, and the end itself."""
    end = course.duration_s()
    times = course.sample_every * np.arange(int(np.floor(end / course.sample_every + 1e-9)) + 1)
    return times if end - times[-1] <= TIME_TOLERANCE_S else np.append(times, end)


def trajectory_curve(trajectory: Trajectory | None, healthy: float, course: Course) -> Relaxation | PiecewiseLinear:
    """q_d(t) of one parameter: its trajectory with ``healthy`` for the values written ``healthy``; healthy throughout without one."""
    if trajectory is None:
        return Relaxation(healthy)

    def value(v: float | None) -> float:
        return healthy if v is None else v

    starts = course.phase_starts_s()
    if trajectory.values:
        ends = {phase.name: starts[phase.name] + phase.duration for phase in course.phases}
        return PiecewiseLinear(value(trajectory.initial), tuple(sorted((ends[p], value(v)) for p, v in trajectory.values.items())))
    pieces = sorted((starts[p], value(t.value), 1.0 / t.time_constant) for p, t in trajectory.targets.items())
    return Relaxation(value(trajectory.initial), tuple(pieces))


def interval_means(function, times_s: np.ndarray) -> np.ndarray:
    """The mean of ``function(t)`` over each interval between consecutive ``times_s`` (trapezoid, fine sub-grid)."""
    fractions = np.linspace(0.0, 1.0, _ACTIVITY_QUADRATURE_POINTS)
    grid = times_s[:-1, None] + np.diff(times_s)[:, None] * fractions
    return np.trapezoid(function(grid), fractions, axis=1)


@dataclass(frozen=True)
class CourseEntry:
    """One state of the course: a sample of a scenario, or the healthy reference (``scenario`` None)."""

    scenario: int | None
    sample: int
    time_s: float
    label: str


@dataclass(frozen=True)
class StateParameters:
    """What a state is solved with: lesion effects and scale, joint-force and steps fractions, tunnels drilled."""

    effects: LesionEffects
    lesion_scale: float
    load_fraction: float
    steps_fraction: float
    drilled: bool


@dataclass(frozen=True)
class CourseTable:
    """Every course parameter at every sample time of every scenario (pure NumPy; SI units)."""

    times_s: np.ndarray  # (samples,)
    phases: tuple[str, ...]  # the phase each sample lies in (the last phase for the end)
    scenarios: tuple[str, ...]
    series: dict[str, np.ndarray]  # name (SERIES) -> (scenarios, samples)
    healthy: dict[str, float]
    interval_activity: np.ndarray  # (scenarios, samples - 1): mean osteoclast activity between consecutive samples

    def healthy_effects(self) -> LesionEffects:
        return LesionEffects(**{name: self.healthy[name] for name in EFFECTS})

    def parameters(self, entry: CourseEntry) -> StateParameters:
        """The parameters of an entry; the healthy reference has healthy effects at scale 1 and full loading."""
        if entry.scenario is None:
            return StateParameters(self.healthy_effects(), 1.0, 1.0, 1.0, False)
        s, k = entry.scenario, entry.sample
        value = {name: float(self.series[name][s, k]) for name in SERIES}
        effects = LesionEffects(**{name: value[name] for name in EFFECTS})
        return StateParameters(effects, value["lesion_scale"], value["load_fraction"], value["steps_fraction"], value["decompressed"] > 0.5)

    def key(self, entry: CourseEntry) -> tuple:
        """Without damage, entries with equal keys have the same solution: equal parameters (the lesion scale does not
        matter when healthy; the steps per day do not enter a state)."""
        p = self.parameters(entry)
        if p.effects == self.healthy_effects() and p.load_fraction == 1.0 and not p.drilled:
            return ("healthy",)
        return (*(getattr(p.effects, name) for name in EFFECTS), p.lesion_scale, p.load_fraction, p.drilled)

    def history_keys(self) -> list[tuple]:
        """With damage, the key of each entry (`entries` order): ("history", s', k) with s' the first scenario whose
        history equals this scenario's up to and including sample k (every series at samples 0..k, the activity of
        every interval before k); the reference ("reference",)."""
        values = np.stack([self.series[name] for name in SERIES], axis=-1)  # (scenarios, samples, series)
        same = np.all(values[:, None] == values[None, :], axis=-1)  # (s, s', k)
        same[..., 1:] &= self.interval_activity[:, None] == self.interval_activity[None, :]
        prefix = np.logical_and.accumulate(same, axis=-1)
        return [("reference",)] + [
            ("history", int(np.argmax(prefix[s, :, k])), k) for s in range(len(self.scenarios)) for k in range(len(self.times_s))
        ]

    def entries(self) -> tuple[CourseEntry, ...]:
        """The states of a course in order: the healthy reference, then every scenario's samples."""
        return (CourseEntry(None, 0, 0.0, "healthy reference"),) + tuple(
            CourseEntry(s, k, float(t), f"{name} week {t / WEEK_S:.4g}")
            for s, name in enumerate(self.scenarios)
            for k, t in enumerate(self.times_s)
        )


def _check_decompression(config: Config) -> None:
    """A decompression scenario needs tunnels meshed as bone (geometry.core_decompression with drilled: false)."""
    for index, scenario in enumerate(config.course.scenarios):
        if scenario.decompression is None:
            continue
        decompression = getattr(config.geometry, "core_decompression", None)
        if decompression is None or decompression.drilled:
            found = "none" if decompression is None else "drilled: true (a void from the start)"
            raise ConfigError(
                f"course.scenarios.{index}.decompression drills the tunnels of geometry.core_decompression at a chosen time; "
                f"expected geometry.core_decompression with drilled: false (tunnels meshed as bone until then), found {found}"
            )
        if not config.fluid.capillary_reabsorption:
            raise ConfigError(
                f"course.scenarios.{index}.decompression: the drained tunnel is solved with the linear capillary law; "
                "expected fluid.capillary_reabsorption: true"
            )


def course_table(config: Config) -> CourseTable:
    """Evaluate the course of ``config`` (module docstring); ConfigError if a sample breaks p_v < p_c in the lesion,
    a mask lesion is to be scaled or a decompression has no tunnels to drill."""
    course, healthy = config.course, healthy_values(config)
    trajectories = course.trajectories.given()
    if "lesion_scale" in trajectories and any(lesion.kind == "mask" for lesion in config.lesions):
        raise ConfigError("course.trajectories.lesion_scale scales ellipsoid semi-axes, but a lesion is a voxel mask (kind: mask)")
    _check_decompression(config)
    times = sample_times_s(course)
    starts = course.phase_starts_s()
    phase_index = np.clip(np.searchsorted(list(starts.values()), times, side="right") - 1, 0, len(starts) - 1)
    drives = {name: trajectory_curve(trajectories.get(name), healthy[name], course) for name in TRAJECTORIES}
    rates = course.turnover
    turnover = Turnover(rates.mineral_loss_rate, rates.mineralisation_time_constant, rates.bone_loss_rate, rates.refill_time_constant)
    series = {name: np.empty((len(course.scenarios), len(times))) for name in SERIES}
    interval_activity = np.empty((len(course.scenarios), len(times) - 1))
    for s, scenario in enumerate(course.scenarios):
        effect = np.zeros_like(times)
        reversal = {}
        if scenario.iloprost is not None:
            therapy = scenario.iloprost
            first = course.time_s(therapy.start, f"course.scenarios.{s}.iloprost.start")
            windows = [(first + i * therapy.interval, first + i * therapy.interval + therapy.infusion_duration) for i in range(therapy.infusions)]
            effect = infusion_effect(windows, therapy.onset_time_constant, therapy.decay_time_constant)(times)
            reversal = therapy.reversal.model_dump()
        inhibition, breakpoints = Relaxation(0.0), list(starts.values())
        if scenario.bisphosphonate is not None:
            therapy = scenario.bisphosphonate
            dose = course.time_s(therapy.dose_time, f"course.scenarios.{s}.bisphosphonate.dose_time")
            inhibition = bisphosphonate_inhibition(dose, therapy.time_constant, therapy.inhibition)
            breakpoints.append(dose)
        for name in (name for name in TRAJECTORIES if name in EFFECTS):
            series[name][s] = reverse(drives[name](times), healthy[name], reversal.get(name, 0.0) * effect, name in FACTORS)

        def activity(t, inhibition=inhibition):
            return inhibited_activity(drives["osteoclast_activity"](t), inhibition(t))

        m, b = turnover.integrate(activity, times, healthy["bone_volume_fraction"], breakpoints)
        series["relative_mineralisation"][s], series["bone_volume_fraction"][s] = m, b
        series["lesion_scale"][s] = drives["lesion_scale"](times)
        series["osteoclast_activity"][s] = activity(times)
        interval_activity[s] = interval_means(activity, times)
        series["iloprost_effect"][s], series["bisphosphonate_inhibition"][s] = effect, inhibition(times)
        series["lesion_modulus_Pa"][s] = trabecular_modulus(config.tissue.trabecular, m, b)
        series["load_fraction"][s], series["steps_fraction"][s] = np.ones_like(times), np.ones_like(times)
        if scenario.weight_bearing is not None:
            protection = scenario.weight_bearing
            start = course.time_s(protection.start, f"course.scenarios.{s}.weight_bearing.start")
            for name, fraction in (("load_fraction", protection.load_fraction), ("steps_fraction", protection.steps_fraction)):
                series[name][s] = weight_bearing_fraction(times, start, protection.duration, protection.progression, fraction)
        drilled_from = np.inf
        if scenario.decompression is not None:
            drilled_from = course.time_s(scenario.decompression.time, f"course.scenarios.{s}.decompression.time")
        series["decompressed"][s] = (times >= drilled_from - TIME_TOLERANCE_S).astype(float)
    names = tuple(scenario.name for scenario in course.scenarios)
    _check_lesion_pressures(series, times, names)
    return CourseTable(times, tuple(list(starts)[i] for i in phase_index), names, series, healthy, interval_activity)


def _check_lesion_pressures(series: dict[str, np.ndarray], times: np.ndarray, scenarios: tuple[str, ...]) -> None:
    venous, capillary = series["venous_pressure"], series["capillary_pressure"]
    bad = np.argwhere(venous >= capillary)
    if bad.size:
        s, k = bad[0]
        raise ConfigError(
            f"course.trajectories: at week {times[k] / WEEK_S:g} of scenario '{scenarios[s]}' the lesion venous_pressure "
            f"({venous[s, k] / PA_PER_MMHG:.4g} mmHg) is not below its capillary_pressure ({capillary[s, k] / PA_PER_MMHG:.4g} mmHg)"
        )


def scaled_lesion(lesion: Lesion, scale: float) -> Lesion:
    """The lesion grown by ``scale`` about its ``centre`` (x -> c + scale (x - c)), the falloff width kept: an
    ellipsoid's semi-axes times scale (rotation kept); each part and spared part of a region moved and sized
    likewise (a half-space's plane moves, its normal is kept)."""
    if lesion.kind != "region":
        return lesion.model_copy(update={"semi_axes": tuple(a * scale for a in lesion.semi_axes)})
    parts, spared = ([shape.scaled_about(lesion.centre, scale) for shape in shapes] for shapes in (lesion.parts, lesion.spared))
    return lesion.model_copy(update={"parts": tuple(parts), "spared": tuple(spared)})


def scaled_lesions(lesions: tuple[Lesion, ...], scale: float) -> tuple[Lesion, ...]:
    """Every lesion grown by ``scale`` about its centre (`scaled_lesion`)."""
    return tuple(scaled_lesion(lesion, scale) for lesion in lesions)


@dataclass(frozen=True)
class StateDamage:
    """The damage of one state, per owned cell: D at the state (its stiffness), and what drives the next interval."""

    damage: np.ndarray  # D_k (0 outside trabecular bone and in a drilled tunnel)
    stress_ratio: np.ndarray  # s_k = (1 - k_D D_k) R_k (0 outside trabecular bone)
    lesion_indicator: np.ndarray  # chi_m of the cell (cell mean of chi in trabecular bone, 0 elsewhere)
    full_load_growth_per_s: np.ndarray  # dD/dt under full walking at this state: n_full / N_f(s_full) - r D


class CourseBiot:
    """The course's states in order (module docstring): the healthy reference, then every scenario's samples.

    After each yielded state, `cells` holds its cell fields (a drilled tunnel's cells are not trabecular bone),
    `damage` its `StateDamage` (None without ``course.damage``) and `drilled_cells` the owned cells of the void.
    """

    def __init__(self, domain: Domain, config: Config) -> None:
        self.domain, self.config = domain, config
        self.table = course_table(config)
        self.entries = self.table.entries()
        self.state_count = len(self.entries)
        steady = SteadyBiot(domain, config)
        if steady.bcs.plate is not None:
            raise ConfigError(f"{steady.bcs.plate.key}: a rigid plate is not supported by analysis: course; expected constraints and tractions")
        self.u_space, self.p_space, self.bcs = steady.u_space, steady.p_space, steady.bcs
        mesh = domain.mesh
        self.cells_owned = mesh.topology.index_map(mesh.topology.dim).size_local
        cell_space = fem.functionspace(mesh, ("DG", 0))
        self._cell_dofs = cell_space.dofmap.list[:, 0]
        self.stiffness = fem.Function(cell_space, name="stiffness_factor")  # E / E_undamaged: 1 - k_D D, or the void's
        self.stiffness.x.array[:] = 1.0
        self.tissue = replace(steady.tissue, elasticity=scaled_law(steady.tissue.elasticity, self.stiffness))
        self.load_fraction = fem.Constant(mesh, default_scalar_type(1.0))
        self._tunnel_local = np.empty(0, dtype=np.int32)
        self._tunnel_bcs: tuple[list[fem.DirichletBC], list[fem.DirichletBC]] = ([], [])  # (pressure, displacement)
        if any(scenario.decompression is not None for scenario in config.course.scenarios):
            self._tunnel_local = tunnel_cells(mesh, config.geometry.core_decompression.tunnels)
            self._tunnel_pressure = fem.Constant(mesh, default_scalar_type(0.0))
            dofs = fem.locate_dofs_topological(self.p_space, mesh.topology.dim, self._tunnel_local)
            self._tunnel_bcs = ([fem.dirichletbc(self._tunnel_pressure, dofs, self.p_space)], [self._void_displacement_bc()])
        self.tunnel_cells = self._tunnel_local[self._tunnel_local < self.cells_owned]  # owned cells of the tunnels
        self._build_systems()
        damage = config.course.damage
        self._fatigue = None if damage is None else FatigueLaw(damage.fatigue.reference_ratio, damage.fatigue.reference_cycles, damage.fatigue.exponent)
        self._scale, self._drilled = 1.0, False  # the tissue's chi is that of the configured lesions
        self.cells: CellFields | None = None
        self.damage: StateDamage | None = None
        self.drilled_cells = np.empty(0, dtype=np.int32)

    def _void_displacement_bc(self) -> fem.DirichletBC:
        """u = 0 at the displacement nodes that only tunnel cells hold (collective): a drilled tunnel has no stiffness,
        so those nodes are free of the bone; the nodes of its wall stay free. A node is the wall's if a cell outside
        the tunnels holds it on some rank (counted on every rank through a reverse and forward scatter)."""
        space, tdim = self.u_space, self.domain.mesh.topology.dim
        cells = self.domain.mesh.topology.index_map(tdim)
        outside = np.setdiff1d(np.arange(cells.size_local + cells.num_ghosts, dtype=np.int32), self._tunnel_local)
        bone = fem.Function(space)
        block = space.dofmap.index_map_bs
        bone.x.array.reshape(-1, block)[space.dofmap.list[outside].ravel()] = 1.0
        bone.x.scatter_reverse(la.InsertMode.add)
        bone.x.scatter_forward()
        tunnel_nodes = np.unique(space.dofmap.list[self._tunnel_local].ravel())
        void_nodes = tunnel_nodes[bone.x.array.reshape(-1, block)[tunnel_nodes, 0] == 0.0].astype(np.int32)
        return fem.dirichletbc(np.zeros(block, dtype=default_scalar_type), void_nodes, space)

    def _build_systems(self) -> None:
        """The pressure and displacement systems, compiled once (bmes_fem.solve.linear.LinearSystem)."""
        config, tissue, bcs = self.config, self.tissue, self.bcs
        solver = config.solver
        self._linear_pressure = config.fluid.capillary_reabsorption
        if self._linear_pressure:
            a, rhs = steady_pressure_forms(
                ufl.TrialFunction(self.p_space), ufl.TestFunction(self.p_space), mobility=tissue.mobility, filtration=tissue.filtration,
                venous_conductance=tissue.venous_conductance, effective_capillary_pressure=tissue.effective_capillary_pressure,
                venous_pressure=tissue.venous_pressure, drainage=bcs.robin, fluid_source=bcs.fluid_source, injections=bcs.injections,
                outward_flux=bcs.outward_flux, dx=tissue.dx, exchange_dx=tissue.exchange_dx,
            )  # fmt: skip
            self._pressure_system = LinearSystem(
                a, rhs, name="pressure", preset=solver.preset, bcs=bcs.pressure_bcs(self.p_space), overrides=solver.petsc_options
            )
            self.pressure = self._pressure_system.solution
        else:
            self.pressure = fem.Function(self.p_space)
        self.pressure.name = "p"
        joint = {id(traction) for traction, _ in bcs.joint_tractions}
        tractions = [(self.load_fraction * t if id(t) in joint else t, ds) for t, ds in bcs.traction_terms]
        a, rhs = elasticity_forms(
            ufl.TrialFunction(self.u_space), ufl.TestFunction(self.u_space), elasticity=tissue.elasticity,
            biot_coefficient=tissue.biot_coefficient, pressure=self.pressure, tractions=tractions, body_force=bcs.body_force, dx=tissue.dx,
        )  # fmt: skip
        self._displacement_system = LinearSystem(
            a, rhs, name="displacement", preset=solver.preset, bcs=bcs.displacement_bcs, overrides=solver.petsc_options
        )
        self.displacement = self._displacement_system.solution
        self.displacement.name = "u"

    def _set_tissue(self, parameters: StateParameters, damage: np.ndarray, decompression) -> None:
        """Lesion Constants and chi, the stiffness factor, the joint-force fraction and the tunnel's drained condition."""
        tissue = self.tissue
        tissue.set_lesion_effects(parameters.effects)
        if parameters.lesion_scale != self._scale:
            tissue.set_lesions(scaled_lesions(self.config.lesions, parameters.lesion_scale))
            self._scale = parameters.lesion_scale
        self.load_fraction.value = parameters.load_fraction
        factor = np.ones(self.cells_owned)
        if self.config.course.damage is not None:
            factor -= self.config.course.damage.modulus_loss_at_failure * damage
        self.drilled_cells = self.tunnel_cells if parameters.drilled else np.empty(0, dtype=np.int32)
        if parameters.drilled:
            factor[self.drilled_cells] = 0.0
            self._tunnel_pressure.value = decompression.pressure
        self.stiffness.x.array[self._cell_dofs[: self.cells_owned]] = factor
        self.stiffness.x.scatter_forward()
        if parameters.drilled != self._drilled:
            pressure_bcs, displacement_bcs = self._tunnel_bcs if parameters.drilled else ([], [])
            self._pressure_system.set_bcs(self.bcs.pressure_bcs(self.p_space) + pressure_bcs)
            self._displacement_system.set_bcs(self.bcs.displacement_bcs + displacement_bcs)
            self._drilled = parameters.drilled

    def _solve(self, label: str) -> State:
        """The pressure balance, then elasticity, with the tissue as set; the state holds the problem's own functions.
        A failed solve names the state (``state '<label>'``) and a non-finite tissue coefficient (bmes_fem.solve.failure)."""
        with failing_at(f"state '{label}'", lambda: non_finite_coefficients(self.tissue)):
            if self._linear_pressure:
                _, pressure_stats = self._pressure_system.solve()
                pressure_solves: tuple[SolveStats, ...] = (pressure_stats,)
            else:
                pressure, pressure_solves = solve_steady_pressure(self.config, self.tissue, self.bcs, self.p_space)
                self.pressure.x.array[:] = pressure.x.array
            _, displacement_stats = self._displacement_system.solve()
        solves = (*pressure_solves, displacement_stats)
        return State(self.domain, self.tissue, self.bcs, self.pressure, self.displacement, solves, label=label, void_cells=self.drilled_cells)

    def _lesion_indicator(self) -> np.ndarray:
        """chi_m per owned cell: the mean of chi over the cell's vertices in trabecular bone, 0 elsewhere."""
        chi = self.tissue.chi
        return chi.x.array[chi.function_space.dofmap.list[: self.cells_owned]].mean(axis=1) * self.cells.trabecular

    def _state_damage(self, parameters: StateParameters, damage: np.ndarray, activity: float) -> StateDamage:
        """s_k of the state and the damage growth full walking would give (a second displacement solve if the joint
        force is reduced; the state's displacement is restored afterwards)."""
        settings = self.config.course.damage
        loss = settings.modulus_loss_at_failure
        risk = np.where(self.cells.trabecular, np.nan_to_num(self.cells.risk_index), 0.0)
        ratio = stress_ratio(risk, damage, loss)
        full_ratio = ratio
        if parameters.load_fraction < 1.0:
            reduced = self.displacement.x.array.copy()
            self.load_fraction.value = 1.0
            self._displacement_system.solve(operator_changed=False)
            full = cell_fields(State(self.domain, self.tissue, self.bcs, self.pressure, self.displacement, (), void_cells=self.drilled_cells), self.config)
            full_ratio = stress_ratio(np.where(self.cells.trabecular, np.nan_to_num(full.risk_index), 0.0), damage, loss)
            self.displacement.x.array[:] = reduced
            self.load_fraction.value = parameters.load_fraction
        chi_m = self._lesion_indicator()
        full_cycles_per_s = settings.steps_per_day * settings.cycles_per_step / DAY_S
        repair = repair_rate_per_s(settings.remodelling_rate, activity, chi_m)
        growth = full_cycles_per_s / self._fatigue.cycles_to_failure(full_ratio) - repair * damage
        return StateDamage(damage, ratio, chi_m, np.where(self.cells.trabecular, growth, -np.inf))

    def _next_damage(self, previous: StateDamage, entry: CourseEntry) -> np.ndarray:
        """D_k from the state before (module docstring): its walking and stress over the interval, repair at the interval's activity."""
        settings = self.config.course.damage
        s, k = entry.scenario, entry.sample
        steps_fraction = self.table.series["steps_fraction"][s, k - 1]
        cycles_per_s = settings.steps_per_day * steps_fraction * settings.cycles_per_step / DAY_S
        repair = repair_rate_per_s(settings.remodelling_rate, self.table.interval_activity[s, k - 1], previous.lesion_indicator)
        interval_s = self.table.times_s[k] - self.table.times_s[k - 1]
        return accumulate(previous.damage, cycles_per_s / self._fatigue.cycles_to_failure(previous.stress_ratio), repair, interval_s)

    def states(self) -> Iterator[State]:
        """Set the tissue of each entry, solve (or reuse an equal earlier state), yield the state (module docstring)."""
        damaging = self.config.course.damage is not None
        keys = self.table.history_keys() if damaging else [self.table.key(entry) for entry in self.entries]
        last_use = {key: step for step, key in enumerate(keys)}
        for step, entry in enumerate(self.entries):
            if damaging and entry.scenario is not None and entry.sample > 0:
                last_use[keys[step - 1]] = max(last_use[keys[step - 1]], step)  # the state before feeds this one's damage
        kept: dict[tuple, tuple] = {}
        zero = np.zeros(self.cells_owned)
        for step, (entry, key) in enumerate(zip(self.entries, keys, strict=True)):
            parameters = self.table.parameters(entry)
            decompression = None if entry.scenario is None else self.config.course.scenarios[entry.scenario].decompression
            if key in kept:
                state, self.cells, self.damage, self.drilled_cells = kept[key]
                # the tissue back to this state's (chi, lesion effects, stiffness): what is computed from the state reads it
                self._set_tissue(parameters, zero if self.damage is None else self.damage.damage, decompression)
                state = replace(state, solves=())
            else:
                damage = zero
                if entry.scenario is not None and entry.sample > 0 and keys[step - 1] in kept:
                    before = kept[keys[step - 1]]
                    self._start_from(before[0])
                    if damaging:
                        damage = self._next_damage(before[2], entry)
                self._set_tissue(parameters, damage, decompression)
                state = self._solve(entry.label)
                self.cells = cell_fields(state, self.config)
                activity = 1.0 if entry.scenario is None else self.table.series["osteoclast_activity"][entry.scenario, entry.sample]
                self.damage = self._state_damage(parameters, damage * self.cells.trabecular, activity) if damaging else None
                state = self._snapshot(state) if last_use[key] > step else state
            state = replace(state, time_s=entry.time_s, step=step, label=entry.label)
            if last_use[key] > step:
                kept[key] = (state, self.cells, self.damage, self.drilled_cells)
            for old in [old for old in kept if last_use[old] <= step]:
                del kept[old]
            yield state

    def _start_from(self, state: State) -> None:
        """Start the next solves from ``state`` (the sample before, when it was not the last one solved)."""
        if state.pressure is not self.pressure:
            self.pressure.x.array[:] = state.pressure.x.array
            self.displacement.x.array[:] = state.displacement.x.array

    def _snapshot(self, state: State) -> State:
        """The state with copies of the problem's functions (which the next solve overwrites)."""
        pressure, displacement = (fem.Function(f.function_space, name=f.name) for f in (state.pressure, state.displacement))
        pressure.x.array[:] = state.pressure.x.array
        displacement.x.array[:] = state.displacement.x.array
        return replace(state, pressure=pressure, displacement=displacement)

    def damage_volume_m3(self, threshold: float) -> float:
        """Trabecular volume of the current state with D >= ``threshold`` [m^3] (collective)."""
        local = float(self.cells.volume_m3[self.cells.trabecular & (self.damage.damage >= threshold)].sum())
        return self.domain.mesh.comm.allreduce(local, op=MPI.SUM)
