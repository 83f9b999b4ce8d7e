"""Config sections of a transient run: time stepping and the load history."""

from __future__ import annotations

import csv
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, ValidationInfo, model_validator

from bmes_fem.config.schema import InputPath, Section, Time, reads_inputs

PositiveTime = Annotated[Time, Field(gt=0.0)]


class TimeStepping(Section):
    """Backward Euler from t = 0 (the unloaded steady state) to ``end_time`` in steps of ``time_step``."""

    time_step: PositiveTime = 0.02
    end_time: PositiveTime = 3.0
    snapshot_every: Annotated[int, Field(ge=1)] = 5

    @model_validator(mode="after")
    def _at_least_one_step(self) -> TimeStepping:
        if self.time_step > self.end_time:
            raise ValueError(
                f"transient.time.time_step = {self.time_step:g} s is longer than transient.time.end_time = {self.end_time:g} s"
            )
        return self

    def times(self) -> np.ndarray:
        """t_n = n dt for n = 1 ... ceil(end_time / dt): equal steps, the last at or just after end_time."""
        steps = int(np.ceil(self.end_time / self.time_step - 1e-9))
        return self.time_step * np.arange(1, steps + 1)


class Waveform(Section):
    """A periodic load waveform table: CSV columns ``time_s, fraction`` and optionally ``dx, dy, dz``."""

    path: InputPath
    period: PositiveTime | None = None  # default: the table's last time

    def read(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(time [s], fraction of peak force, unit directions or None); ValueError names the file and row."""
        if not self.path.is_file():
            raise ValueError(f"waveform file '{self.path}' does not exist (expected CSV: time_s, fraction[, dx, dy, dz])")
        with self.path.open() as handle:
            rows = [row for row in csv.reader(handle) if row and not row[0].lstrip().startswith("#")]
        header, body = rows[0], np.array(rows[1:], dtype=float)
        if header[:2] != ["time_s", "fraction"] or body.ndim != 2 or body.shape[1] not in (2, 5):
            raise ValueError(f"waveform file '{self.path}': expected columns time_s, fraction[, dx, dy, dz], got {header}")
        time = body[:, 0]
        backwards = np.flatnonzero(np.diff(time) <= 0)
        if backwards.size:
            row = int(backwards[0]) + 2
            raise ValueError(
                f"waveform file '{self.path}': time must increase, but row {row + 1} has time_s = {time[row - 1]:g} "
                f"after {time[row - 2]:g}"
            )
        directions = None
        if body.shape[1] == 5:
            directions = body[:, 2:] / np.linalg.norm(body[:, 2:], axis=1, keepdims=True)
        return time, body[:, 1], directions


class LoadHistory(Section):
    """F(t) = fraction(t) F_peak: a step at t = 0+, a linear ramp, or a periodic waveform table."""

    kind: Literal["step", "ramp", "waveform"] = "step"
    ramp_duration: PositiveTime = 0.1
    waveform: Waveform | None = None

    @model_validator(mode="after")
    def _waveform_present(self, info: ValidationInfo) -> LoadHistory:
        if self.kind == "waveform":
            if self.waveform is None:
                raise ValueError("transient.load_history.kind = 'waveform' needs transient.load_history.waveform.path")
            if reads_inputs(info):
                self.waveform.read()
        return self


class Transient(Section):
    time: TimeStepping = TimeStepping()
    load_history: LoadHistory = LoadHistory()
