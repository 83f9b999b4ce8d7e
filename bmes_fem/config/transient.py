"""Config section of a transient run: backward-Euler time stepping in stages, when to write fields, and a
change of the vascular pressures in time (``vascular``).

``stages`` is a list of ``{time_step, until}`` (as OpenGeoSys's fixed time-step lists): stage k steps
from the previous stage's ``until`` (0 for the first) in equal steps of its ``time_step``; each stage
must hold a whole number of steps. ``time_step`` with ``end_time`` is the one-stage shorthand (the last
step may end just after ``end_time``). Fields are written for ParaView every ``snapshot_every`` steps,
or at ``output_times`` (each must be a step time), and always at the end.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from bmes_fem.config.histories import Step
from bmes_fem.config.schema import PositiveTime, Pressure, Section, Time

STEP_TOLERANCE = 1e-9  # relative: a stage of 12.0000000001 steps holds 12


class TimeStage(Section):
    """Steps of ``time_step`` up to ``until``."""

    time_step: PositiveTime
    until: PositiveTime


class TimeStepping(Section):
    """Backward Euler from t = 0 (the initial steady state) through the stages (module docstring)."""

    time_step: PositiveTime = 0.02
    end_time: PositiveTime = 3.0
    stages: tuple[TimeStage, ...] = ()
    snapshot_every: Annotated[int, Field(ge=1)] = 5
    output_times: tuple[Time, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> TimeStepping:
        if not self.stages and self.time_step > self.end_time:
            raise ValueError(
                f"transient.time.time_step = {self.time_step:g} s is longer than transient.time.end_time = {self.end_time:g} s"
            )
        start = 0.0
        for index, stage in enumerate(self.stages):
            key = f"transient.time.stages.{index}"
            if stage.until <= start:
                raise ValueError(f"{key}.until = {stage.until:g} s must be later than the previous stage's end, {start:g} s")
            steps = (stage.until - start) / stage.time_step
            if abs(steps - round(steps)) > STEP_TOLERANCE * max(steps, 1.0) or round(steps) < 1:
                raise ValueError(
                    f"{key}: ({stage.until:g} - {start:g}) s / time_step {stage.time_step:g} s = {steps:.6g} steps; "
                    "expected a whole number of steps (at least one)"
                )
            start = stage.until
        times = self.times()
        for index, output_time in enumerate(self.output_times):
            if not np.any(np.isclose(times, output_time, rtol=STEP_TOLERANCE, atol=0.0)):
                raise ValueError(
                    f"transient.time.output_times.{index} = {output_time:g} s is not a step time "
                    f"(steps end at {', '.join(f'{t:g}' for t in times[:6])}{', ...' if len(times) > 6 else ''} s)"
                )
        return self

    def step_lengths(self) -> list[tuple[float, int]]:
        """(time step [s], number of steps) of each stage."""
        if not self.stages:
            return [(self.time_step, math.ceil(self.end_time / self.time_step - STEP_TOLERANCE))]
        starts = [0.0, *(stage.until for stage in self.stages[:-1])]
        return [(stage.time_step, round((stage.until - start) / stage.time_step)) for start, stage in zip(starts, self.stages, strict=True)]

    def times(self) -> np.ndarray:
        """The end time of every step [s], t_1 < t_2 < ... (stage by stage, no accumulated round-off)."""
        times, start = [], 0.0
        for time_step, count in self.step_lengths():
            times.append(start + time_step * np.arange(1, count + 1))
            start = float(times[-1][-1])
        return np.concatenate(times)

    def time_steps(self) -> np.ndarray:
        """The length of every step [s], aligned with `times`."""
        return np.concatenate([np.full(count, time_step) for time_step, count in self.step_lengths()])

    def writes_fields(self, step: int, time_s: float, last_step: int) -> bool:
        """Whether the fields of step ``step`` (0: the initial state) go into the time series."""
        if step in (0, last_step):
            return True
        if self.output_times:
            return bool(np.any(np.isclose(self.output_times, time_s, rtol=STEP_TOLERANCE, atol=0.0)))
        return step % self.snapshot_every == 0


class VascularChange(Section):
    """Capillary and venous pressures raised everywhere by the given amounts times f(t) (e.g. a venous
    tourniquet: outflow occluded, p_v up, and p_c with it by about 0.8 of the venous rise)."""

    capillary_pressure_rise: Pressure = 0.0
    venous_pressure_rise: Pressure = 0.0
    history: Step


class Transient(Section):
    time: TimeStepping = TimeStepping()
    vascular: VascularChange | None = None
