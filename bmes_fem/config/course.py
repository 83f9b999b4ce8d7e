"""Config section of a disease course (``analysis: course``): phases, parameter trajectories, bone turnover,
therapy scenarios (drugs, protected weight bearing, core decompression), fatigue microdamage and the tolerance of "back to
healthy" (back to load, painful volume gone). The model and every default's source: docs/course.md.

A course runs from t = 0 through its ``phases`` (contiguous, in order; durations with units, ``"3 weeks"``)
and is sampled every ``sample_every`` (and at its end). A ``trajectories`` entry gives one lesion
parameter (its value at chi = 1) over time, either

- piecewise linear: ``values: {phase: value at the end of that phase, ...}``, or
- first-order kinetics: ``targets: {phase: {value, time_constant}, ...}``, the target holding from the
  start of that phase until the next target;

from ``initial`` at t = 0 (default: the healthy value). Any value may be written ``healthy`` (the healthy
value of that parameter: fluid.* for pressures and sigma_r, 1 for the factors and the osteoclast activity,
the configured lesion size for ``lesion_scale``). A parameter without a trajectory stays healthy; the
``lesion_effects`` section is not read by a course. Mineralisation and BV/TV follow from the osteoclast
activity through ``turnover``. Each of the ``scenarios`` runs the same course with its therapies.

With a ``damage`` section every trabecular cell accumulates fatigue microdamage from the daily walking cycles and
loses stiffness with it (bmes_fem.physics.damage); remodelling repairs it at the rate bone is renewed.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer, model_validator

from bmes_fem.config.schema import Fraction, Positive, PositiveTime, Pressure, Rate, Section, Time, mmHg
from bmes_fem.units import PA_PER_MMHG, UREG, format_si, to_si

WEEK_S = float(UREG("1 week").to("s").magnitude)
DAY_S = float(UREG("1 day").to("s").magnitude)
HOUR_S = float(UREG("1 hour").to("s").magnitude)
YEAR_S = float(UREG("1 year").to("s").magnitude)
HEALTHY = "healthy"
NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"
TIME_TOLERANCE_S = 1.0  # phase starts and times closer than this are the same instant

def _course_value(dimension: str, minimum: float | None = None, maximum: float | None = None, exclusive: bool = False):
    """A trajectory value: a quantity of ``dimension`` (SI inside) or ``healthy`` (held as None)."""

    def parse(value: object) -> float | None:
        if value == HEALTHY:
            return None
        number = to_si(value, dimension)
        below = minimum is not None and (number <= minimum if exclusive else number < minimum)
        if below or (maximum is not None and number > maximum):
            low = f"{'>' if exclusive else '>='} {minimum:g}" if minimum is not None else ""
            high = f"<= {maximum:g}" if maximum is not None else ""
            raise ValueError(f"must be {' and '.join(filter(None, (low, high)))} or '{HEALTHY}'")
        return number

    def serialise(value: float | None) -> str | float:
        return HEALTHY if value is None else format_si(value, dimension)

    return Annotated[float | None, BeforeValidator(parse), PlainSerializer(serialise)]


Factor = _course_value("dimensionless", 0.0, exclusive=True)
FractionValue = _course_value("dimensionless", 0.0, 1.0)
PressureValue = _course_value("pressure")


def _time_or_phase(value: object) -> float | str:
    """A time (``"11 weeks"``, SI seconds) or the name of a phase (its start)."""
    if isinstance(value, str) and re.match(NAME, value):
        return value
    return to_si(value, "time")


TimeOrPhase = Annotated[
    float | str,
    BeforeValidator(_time_or_phase),
    PlainSerializer(lambda value: value if isinstance(value, str) else format_si(value, "time")),
]


class Phase(Section):
    """A named stretch of the course; ``start`` (optional) must be where the previous phase ends."""

    name: Annotated[str, Field(pattern=NAME)]
    duration: PositiveTime
    start: Annotated[Time, Field(ge=0.0)] | None = None


class Target[V](Section):
    """First-order kinetics toward ``value`` with ``time_constant``, from the start of its phase."""

    value: V
    time_constant: PositiveTime


class Trajectory[V](Section):
    """One lesion parameter over time: ``values`` (piecewise linear) or ``targets`` (kinetics), module docstring."""

    initial: V = None
    values: dict[str, V] = {}
    targets: dict[str, Target[V]] = {}

    @model_validator(mode="after")
    def _one_kind(self) -> Trajectory:
        if bool(self.values) == bool(self.targets):
            raise ValueError("give either 'values' (piecewise linear, phase -> value at its end) or 'targets' (kinetics)")
        return self

    @property
    def phases(self) -> list[str]:
        return list(self.values or self.targets)


class Trajectories(Section):
    """The lesion parameters a course may vary; the first seven are the ``lesion_effects`` of the same name."""

    filtration_factor: Trajectory[Factor] | None = None
    reflection_coefficient: Trajectory[FractionValue] | None = None
    interstitial_oncotic_pressure: Trajectory[PressureValue] | None = None
    capillary_pressure: Trajectory[PressureValue] | None = None
    venous_pressure: Trajectory[PressureValue] | None = None
    venous_outflow_factor: Trajectory[Factor] | None = None
    mobility_factor: Trajectory[Factor] | None = None
    osteoclast_activity: Trajectory[Factor] | None = None  # a, 1 = normal; drives `turnover`
    lesion_scale: Trajectory[Factor] | None = None  # scale of every lesion's semi-axes, 1 = as configured

    def given(self) -> dict[str, Trajectory]:
        return {name: getattr(self, name) for name in type(self).model_fields if getattr(self, name) is not None}


class Turnover(Section):
    """dm/dt = -k_m (a - 1) m + (1 - m)/tau_m, db/dt = -k_b (a - 1) b + (b_h - b)/tau_b (bmes_fem.physics.turnover).

    Defaults [D]: tau_m from primary mineralisation (~70 % within weeks), tau_b from the formation period of
    a cancellous remodelling cycle (~3 months); k_m, k_b put the equilibrium at doubled activity (a = 2) at
    the lesion set of parameters.md 2 (m = 0.85, BV/TV = 0.28 of 0.30). Sources in docs/course.md.
    """

    mineral_loss_rate: Annotated[Rate, Field(ge=0.0)] = (1.0 / 0.85 - 1.0) / (3.0 * WEEK_S)
    mineralisation_time_constant: PositiveTime = 3.0 * WEEK_S
    bone_loss_rate: Annotated[Rate, Field(ge=0.0)] = (0.30 / 0.28 - 1.0) / (13.0 * WEEK_S)
    refill_time_constant: PositiveTime = 13.0 * WEEK_S


class Reversal(Section):
    """Fraction of the lesion's deviation from healthy that a full iloprost effect (e = 1) removes, per parameter.

    Defaults [D]: the "iloprost-like" row of parameters.md 9 from the combined BMES set (L x3 -> x1.5,
    sigma_r 0.6 -> 0.75, p_c 50 -> 48 mmHg, G_v x0.3 -> x0.5; factors in log scale).
    """

    filtration_factor: Fraction = 1.0 - math.log(1.5) / math.log(3.0)
    reflection_coefficient: Fraction = 0.6
    interstitial_oncotic_pressure: Fraction = 0.0
    capillary_pressure: Fraction = 0.4
    venous_pressure: Fraction = 0.0
    venous_outflow_factor: Fraction = 1.0 - math.log(0.5) / math.log(0.3)
    mobility_factor: Fraction = 0.0


class Iloprost(Section):
    """``infusions`` daily (``interval``) infusions of ``infusion_duration`` from ``start`` (a time or a phase)."""

    start: TimeOrPhase
    infusions: Annotated[int, Field(ge=1)] = 5
    interval: PositiveTime = DAY_S
    infusion_duration: PositiveTime = 6.0 * HOUR_S
    onset_time_constant: PositiveTime = 6.0 * HOUR_S
    decay_time_constant: PositiveTime = 6.0 * WEEK_S
    reversal: Reversal = Reversal()

    @model_validator(mode="after")
    def _infusions_do_not_overlap(self) -> Iloprost:
        if self.infusions > 1 and self.infusion_duration > self.interval:
            raise ValueError(
                f"infusion_duration = {self.infusion_duration / HOUR_S:g} h is longer than interval = "
                f"{self.interval / HOUR_S:g} h: infusions would overlap"
            )
        return self


class Bisphosphonate(Section):
    """One dose at ``dose_time`` (a time or a phase); the excess osteoclast activity falls by ``inhibition``
    with ``time_constant`` and stays suppressed (skeletal retention of months to years)."""

    dose_time: TimeOrPhase
    time_constant: PositiveTime = 2.0 * WEEK_S
    inhibition: Fraction = 1.0


class WeightBearing(Section):
    """Protected weight bearing from ``start`` (a time or a phase): the joint force times ``load_fraction`` and the
    steps per day times ``steps_fraction`` for ``duration``, then both back to full linearly over ``progression``.

    Defaults [D]: 6 weeks (3-6 weeks of toe-touch or 15-20 kg partial weight bearing in BMES), then 4 weeks of
    progressive loading; a prescribed 200 N partial load is exceeded up to 580-690 N (Vasarhelyi et al. 2006) and
    the hip contact force keeps the muscle forces, so half the walking force; half the steps on crutches.
    """

    start: TimeOrPhase
    duration: PositiveTime = 6.0 * WEEK_S
    progression: Annotated[Time, Field(ge=0.0)] = 4.0 * WEEK_S
    load_fraction: Fraction = 0.5
    steps_fraction: Fraction = 0.5


class Decompression(Section):
    """Core decompression at ``time`` (a time or a phase): the tunnels of ``geometry.core_decompression`` (meshed
    with ``drilled: false``, bone until then) become holes whose wall is drained at ``pressure``.

    Default [D]: the periosteal drainage pressure (15 mmHg, parameters.md 4), the tunnel open to the extraosseous space.
    """

    time: TimeOrPhase
    pressure: Pressure = mmHg(15.0)


class Scenario(Section):
    """The course with these therapies (none: the control)."""

    name: Annotated[str, Field(pattern=NAME)]
    iloprost: Iloprost | None = None
    bisphosphonate: Bisphosphonate | None = None
    weight_bearing: WeightBearing | None = None
    decompression: Decompression | None = None


class Fatigue(Section):
    """S-N law N_f(s) = reference_cycles (s / reference_ratio)^(-exponent), s = sigma / (E_0 eps_y) (bmes_fem.physics.damage).

    Defaults [D] (docs/course.md 11): failure (10 % modulus loss) after 10^5.5 cycles, the middle of 1e5-1e6, at
    half the apparent yield strain (sigma/E_0 ~ 0.004-0.005; Haddock et al. 2004, Michel et al. 1993, Bowman et
    al. 1998), and the line through monotonic failure at the yield strain in one cycle: exponent 5.5 / log10(2).
    """

    reference_ratio: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    reference_cycles: Annotated[float, Field(ge=1.0)] = 10.0**5.5
    exponent: Positive = 5.5 / math.log10(2.0)


class Damage(Section):
    """Fatigue microdamage from the daily walking cycles, stiffness loss and repair by remodelling (docs/course.md 11).

    Defaults: 10,000 steps a day (healthy adults take 4,000-18,000, Tudor-Locke et al. 2011 [S]), each step loads
    one leg, so half a load cycle per step for one hip or knee [D]; E = E_0 (1 - k D) with k = 0.1, the modulus
    loss that defines fatigue failure in the S-N tests [D]; repair at the healthy cancellous turnover rate, 30 % a
    year (30-40 % of trabecular bone is remodelled each year [S: 4bonehealth]; ~25 %, Parfitt [M]), times the
    osteoclast activity; a microfracture where D reaches 1 (Miner's failure); back to full load once full walking
    would grow the damage of no cell by more than 0.1 a year (a microfracture in no less than 10 years).
    """

    steps_per_day: Positive = 10_000.0
    cycles_per_step: Positive = 0.5
    fatigue: Fatigue = Fatigue()
    modulus_loss_at_failure: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    remodelling_rate: Annotated[Rate, Field(ge=0.0)] = 0.3 / YEAR_S
    microfracture_damage: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    growth_tolerance: Annotated[Rate, Field(gt=0.0)] = 0.1 / YEAR_S


#: each therapy of a scenario and the key of its time
THERAPY_TIMES = {"iloprost": "start", "bisphosphonate": "dose_time", "weight_bearing": "start", "decompression": "time"}


def _kinetics(onset, recovery, onset_tau_weeks: float = 2.0, recovery_tau_weeks: float = 10.0) -> dict:
    return {"targets": {
        "onset": {"value": onset, "time_constant": onset_tau_weeks * WEEK_S},
        "therapy": {"value": recovery, "time_constant": recovery_tau_weeks * WEEK_S},
    }}  # fmt: skip


#: the natural history of configs/femoral_head_course.yaml (docs/course.md): build-up from the start of
#: 'onset' with tau 2 weeks to the calibrated lesion set, spontaneous regression from the start of 'therapy'
#: with tau 10 weeks; the lesion grows from 0.6 to its configured size and shrinks back.
NATURAL_HISTORY = {
    "filtration_factor": _kinetics(3.928, HEALTHY),
    "reflection_coefficient": _kinetics(0.667, HEALTHY),
    "interstitial_oncotic_pressure": _kinetics(12.0 * PA_PER_MMHG, HEALTHY),
    "capillary_pressure": _kinetics(61.17 * PA_PER_MMHG, HEALTHY),
    "venous_pressure": _kinetics(25.0 * PA_PER_MMHG, HEALTHY),
    "venous_outflow_factor": _kinetics(0.3147, HEALTHY),
    "osteoclast_activity": _kinetics(2.0, HEALTHY),
    "lesion_scale": {"initial": 0.6, **_kinetics(1.0, 0.6)},
}
DEFAULT_PHASES = tuple(
    Phase(name=name, duration=weeks * WEEK_S)
    for name, weeks in (("baseline", 1), ("onset", 4), ("progression", 6), ("therapy", 4), ("recovery", 29))
)


class Course(Section):
    """Phases, sampling, trajectories, turnover, scenarios (module docstring); defaults: the natural history."""

    phases: tuple[Phase, ...] = DEFAULT_PHASES
    sample_every: PositiveTime = WEEK_S
    trajectories: Trajectories = Trajectories.model_validate(NATURAL_HISTORY)
    turnover: Turnover = Turnover()
    scenarios: tuple[Scenario, ...] = (Scenario(name="control"),)
    volume_tolerance: Fraction = 0.05  # back to healthy: |V - V_healthy| <= max(this * V_healthy, volume_tolerance_mm3)
    volume_tolerance_mm3: Annotated[float, Field(ge=0.0)] = 20.0
    damage: Damage | None = None  # None: no microdamage (the states depend on their parameters only)

    @model_validator(mode="after")
    def _consistent(self) -> Course:
        if not self.phases:
            raise ValueError("course.phases is empty; expected at least one {name, duration}")
        end = 0.0
        for index, phase in enumerate(self.phases):
            if phase.start is not None and abs(phase.start - end) > TIME_TOLERANCE_S:
                problem = "overlaps the previous phase" if phase.start < end else "leaves a gap after the previous phase"
                raise ValueError(
                    f"course.phases.{index}.start = {phase.start / WEEK_S:g} weeks {problem}, which ends at "
                    f"{end / WEEK_S:g} weeks; phases are contiguous"
                )
            end += phase.duration
        names = [phase.name for phase in self.phases]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"course.phases: the name(s) {', '.join(repeated)} are used twice; expected unique names")
        if self.sample_every > end + TIME_TOLERANCE_S:
            raise ValueError(f"course.sample_every = {self.sample_every / WEEK_S:g} weeks is longer than the course ({end / WEEK_S:g} weeks)")
        for parameter, trajectory in self.trajectories.given().items():
            kind = "values" if trajectory.values else "targets"
            for phase in trajectory.phases:
                if phase not in names:
                    raise ValueError(f"course.trajectories.{parameter}.{kind}.{phase}: no phase '{phase}' (phases: {', '.join(names)})")
        scenario_names = [scenario.name for scenario in self.scenarios]
        if not scenario_names or len(set(scenario_names)) < len(scenario_names):
            raise ValueError(f"course.scenarios: expected at least one, with unique names (got {scenario_names})")
        for index, scenario in enumerate(self.scenarios):
            for key, field in THERAPY_TIMES.items():
                therapy = getattr(scenario, key)
                if therapy is not None:
                    self.time_s(getattr(therapy, field), f"course.scenarios.{index}.{key}.{field}")
        return self

    def phase_starts_s(self) -> dict[str, float]:
        """Start of every phase [s], in order."""
        starts, start = {}, 0.0
        for phase in self.phases:
            starts[phase.name] = start
            start += phase.duration
        return starts

    def duration_s(self) -> float:
        return sum(phase.duration for phase in self.phases)

    def time_s(self, when: float | str, key: str) -> float:
        """A time or a phase name as seconds from the course start; ValueError naming ``key`` if outside the course."""
        starts = self.phase_starts_s()
        if isinstance(when, str):
            if when not in starts:
                raise ValueError(f"{key} = '{when}' is neither a time (e.g. '11 weeks') nor a phase ({', '.join(starts)})")
            return starts[when]
        if not 0.0 <= when < self.duration_s():
            raise ValueError(f"{key} = {when / WEEK_S:g} weeks is outside the course (0 to {self.duration_s() / WEEK_S:g} weeks)")
        return when
