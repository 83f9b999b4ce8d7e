"""The disease course (``analysis: course``): steady (drained) states of one head whose lesion follows the
course's trajectories, therapies and bone turnover, scenario after scenario (docs/course.md).

Lesion parameters at chi = 1, per scenario and sample time t (bmes_fem.physics.turnover):

    q(t)  = q_d(t) from its trajectory (healthy without one), moved toward healthy by the iloprost effect:
            q = q_d + w_q e(t) (q_h - q_d)  (pressures, sigma_r),  q = q_d^(1 - w_q e) q_h^(w_q e)  (factors)
    a(t)  = 1 + (a_d(t) - 1)(1 - I(t))            osteoclast activity under a bisphosphonate
    m, b  = turnover ODE driven by a(t)            relative mineralisation, BV/TV
    E_l   = E_tissue m^gamma_m b^n                 lesion modulus (bmes_fem.physics.materials.trabecular_modulus)
    semi-axes of every lesion x lesion_scale(t)

Two weeks are 2e4 exchange times (model.md 10), so each sample is in equilibrium with its parameters and
is a steady solve (with the capillary law of ``fluid.capillary_reabsorption``, bmes_fem.solve.steady). One `SteadyBiot`
serves every state: its tissue's lesion Constants and chi change in
place and the problem is solved again; the mesh stays. The first state is the healthy reference (every
lesion parameter healthy). A parameter set met again (t = 0 of each scenario, a therapy scenario before
its therapy starts) is not solved again: its state is yielded again with no solves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from bmes_fem.config.case import Config, Lesion, LesionEffects
from bmes_fem.config.course import TIME_TOLERANCE_S, WEEK_S, Course, Trajectories, Trajectory
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.materials import trabecular_modulus
from bmes_fem.physics.turnover import (
    PiecewiseLinear,
    Relaxation,
    Turnover,
    bisphosphonate_inhibition,
    infusion_effect,
    inhibited_activity,
    reverse,
)
from bmes_fem.solve.state import State
from bmes_fem.solve.steady import SteadyBiot
from bmes_fem.units import PA_PER_MMHG

EFFECTS = tuple(LesionEffects.model_fields)  # the chi = 1 parameters of the tissue
TRAJECTORIES = tuple(Trajectories.model_fields)  # the parameters a course gives over time
FACTORS = ("filtration_factor", "venous_outflow_factor", "mobility_factor")  # blend geometrically, healthy 1
#: every series of a `CourseTable`: the lesion effects, then what drives or follows them
SERIES = (*EFFECTS, "lesion_scale", "osteoclast_activity", "iloprost_effect", "bisphosphonate_inhibition", "lesion_modulus_Pa")


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


@dataclass(frozen=True)
class CourseEntry:
    """One state of the course: a sample of a scenario, or the healthy reference (``scenario`` None)."""

    scenario: int | None
    sample: int
    time_s: float
    label: str


@dataclass(frozen=True)
class CourseTable:
    """Every course parameter at every sample time of every scenario (pure NumPy; SI units)."""

    times_s: np.ndarray  # (samples,)
    phases: tuple[str, ...]  # the phase each sample lies in (the last phase for the end)
    scenarios: tuple[str, ...]
    series: dict[str, np.ndarray]  # name (SERIES) -> (scenarios, samples)
    healthy: dict[str, float]

    def healthy_effects(self) -> LesionEffects:
        return LesionEffects(**{name: self.healthy[name] for name in EFFECTS})

    def parameters(self, entry: CourseEntry) -> tuple[LesionEffects, float]:
        """(lesion effects, lesion scale) of an entry; the healthy reference has healthy effects at scale 1."""
        if entry.scenario is None:
            return self.healthy_effects(), 1.0
        s, k = entry.scenario, entry.sample
        return LesionEffects(**{name: float(self.series[name][s, k]) for name in EFFECTS}), float(self.series["lesion_scale"][s, k])

    def key(self, entry: CourseEntry) -> tuple:
        """Entries with equal keys have the same solution: equal parameters (the lesion scale does not matter when healthy)."""
        effects, scale = self.parameters(entry)
        if effects == self.healthy_effects():
            return ("healthy",)
        return (*(getattr(effects, name) for name in EFFECTS), scale)

    def entries(self) -> tuple[CourseEntry, ...]:
        """The states of a course in order: the healthy reference, then every scenario's samples."""
        return (CourseEntry(None, 0, 0.0, "healthy reference"),) + tuple(
            CourseEntry(s, k, float(t), f"{name} week {t / WEEK_S:.4g}")
            for s, name in enumerate(self.scenarios)
            for k, t in enumerate(self.times_s)
        )


def course_table(config: Config) -> CourseTable:
    """Evaluate the course of ``config`` (module docstring); ConfigError if a sample breaks p_v < p_c in the lesion
    or a mask lesion is to be scaled."""
    course, healthy = config.course, healthy_values(config)
    trajectories = course.trajectories.given()
    if "lesion_scale" in trajectories and any(lesion.kind == "mask" for lesion in config.lesions):
        raise ConfigError("course.trajectories.lesion_scale scales ellipsoid semi-axes, but a lesion is a voxel mask (kind: mask)")
    times = sample_times_s(course)
    starts = course.phase_starts_s()
    phase_index = np.clip(np.searchsorted(list(starts.values()), times, side="right") - 1, 0, len(starts) - 1)
    drives = {name: trajectory_curve(trajectories.get(name), healthy[name], course) for name in TRAJECTORIES}
    rates = course.turnover
    turnover = Turnover(rates.mineral_loss_rate, rates.mineralisation_time_constant, rates.bone_loss_rate, rates.refill_time_constant)
    series = {name: np.empty((len(course.scenarios), len(times))) for name in SERIES}
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
        series["iloprost_effect"][s], series["bisphosphonate_inhibition"][s] = effect, inhibition(times)
        series["lesion_modulus_Pa"][s] = trabecular_modulus(config.tissue.trabecular, m, b)
    names = tuple(scenario.name for scenario in course.scenarios)
    _check_lesion_pressures(series, times, names)
    return CourseTable(times, tuple(list(starts)[i] for i in phase_index), names, series, healthy)


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


class CourseBiot:
    """The course's states in order (module docstring): the healthy reference, then every scenario's samples."""

    def __init__(self, domain: Domain, config: Config) -> None:
        self.domain, self.config = domain, config
        self.table = course_table(config)
        self.steady = SteadyBiot(domain, config)
        self.entries = self.table.entries()
        self.state_count = len(self.entries)
        self._scale = 1.0  # the tissue's chi is that of the configured lesions

    def _set_tissue(self, effects: LesionEffects, scale: float) -> None:
        tissue = self.steady.tissue
        tissue.set_lesion_effects(effects)
        if scale != self._scale:
            tissue.set_lesions(scaled_lesions(self.config.lesions, scale))
            self._scale = scale

    def states(self) -> Iterator[State]:
        """Set the tissue of each entry, solve (or reuse an equal earlier solution), yield the state."""
        keys = [self.table.key(entry) for entry in self.entries]
        last_use = {key: step for step, key in enumerate(keys)}
        kept: dict[tuple, State] = {}
        for step, (entry, key) in enumerate(zip(self.entries, keys, strict=True)):
            self._set_tissue(*self.table.parameters(entry))
            state = replace(kept[key], solves=()) if key in kept else self.steady.solve(entry.label)
            state = replace(state, time_s=entry.time_s, step=step, label=entry.label)
            if last_use[key] > step:
                kept[key] = state
            else:
                kept.pop(key, None)
            yield state
