"""Time functions of loads and boundary values: f(t), the fraction of a configured value applied at time t.

The initial state of a transient run is t = 0 (``step`` and ``ramp`` give 0 there: the unloaded
state); a steady analysis applies every value in full. Kinds:

- ``constant``: f = 1;  ``step``: f = 0 at t <= 0, 1 after;  ``ramp``: f = min(t / ramp_duration, 1);
- ``table``: linear in the points [[t, f], ...] (constant beyond them), periodic when ``period`` is set;
- ``waveform``: a CSV table (columns ``time_s, fraction`` and optionally unit directions ``dx, dy, dz``,
  used by the joint contact), periodic with ``period`` (default: its last time).
"""

from __future__ import annotations

import csv
import itertools
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from bmes_fem.config.schema import InputPath, PositiveTime, Section, Time, reads_inputs


class Waveform(Section):
    """A periodic waveform table: CSV columns ``time_s, fraction`` and optionally ``dx, dy, dz``."""

    path: InputPath
    period: PositiveTime | None = None  # default: the table's last time

    def read(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(time [s], fraction, unit directions or None); ValueError names the file and row."""
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


class TimeFunction(Section):
    """f(t): the fraction of a configured value applied at time t (module docstring)."""

    kind: Literal["constant", "step", "ramp", "table", "waveform"] = "step"
    ramp_duration: PositiveTime = 0.1
    table: tuple[tuple[Time, float], ...] = ()
    period: PositiveTime | None = None
    waveform: Waveform | None = None

    @field_validator("table")
    @classmethod
    def _increasing_times(cls, table: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        times = [t for t, _ in table]
        if any(later <= earlier for earlier, later in itertools.pairwise(times)):
            raise ValueError(f"history.table: times {times} must increase")
        return table

    @model_validator(mode="after")
    def _data_present(self, info: ValidationInfo) -> TimeFunction:
        if self.kind == "table" and len(self.table) < 2:
            raise ValueError("history.kind = 'table' needs history.table with at least two [t, f] points")
        if self.kind == "waveform":
            if self.waveform is None:
                raise ValueError("history.kind = 'waveform' needs history.waveform.path")
            if reads_inputs(info):
                self.waveform.read()
        return self


Step = Annotated[TimeFunction, Field(default_factory=TimeFunction)]
