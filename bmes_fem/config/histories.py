"""Time functions of loads and boundary values: f(t), the fraction of a configured value applied at time t.

The initial state of a transient run is t = 0 (``step`` and ``ramp`` give 0 there: the unloaded
state); a steady analysis applies every value in full. Kinds:

- ``constant``: f = 1;  ``step``: f = 0 at t <= 0, 1 after;  ``ramp``: f = min(t / ramp_duration, 1);
- ``table``: linear in the points [[t, f], ...] (constant beyond them), periodic when ``period`` is set;
- ``waveform``: a CSV table (columns ``time_s, fraction`` and optionally unit directions ``dx, dy, dz``,
  used by the joint contact), periodic with ``period`` (default: its last time).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from bmes_fem.config.schema import InputPath, PositiveTime, Section, Time, check_input, reads_inputs
from bmes_fem.errors import ConfigError
from bmes_fem.inputs.tables import read_numeric_table

WAVEFORM_LAYOUTS = (("time_s", "fraction"), ("time_s", "fraction", "dx", "dy", "dz"))
OPPOSITE_TOLERANCE = 1e-12  # |d_k + d_k+1| of unit directions below this: opposite


@dataclass(frozen=True)
class WaveformTable:
    """A waveform as read: rows of time [s], fraction and unit direction (None without dx, dy, dz)."""

    time_s: np.ndarray
    fraction: np.ndarray
    directions: np.ndarray | None  # shape (rows, 3), unit vectors
    lines: np.ndarray  # line number of each row in the file (for messages)


class Waveform(Section):
    """A periodic waveform table: CSV columns ``time_s, fraction`` and optionally ``dx, dy, dz``."""

    path: InputPath
    period: PositiveTime | None = None  # default: the table's last time

    def read(self) -> WaveformTable:
        """The table with unit directions d / |d|; ConfigError naming the file and row.

        Beyond a numeric table (bmes_fem.inputs.tables): time strictly increases, every direction is
        non-zero, and no two consecutive directions are opposite (the direction interpolated between
        them would pass through zero).
        """
        table = read_numeric_table(self.path, "waveform file", WAVEFORM_LAYOUTS)
        where = f"waveform file '{table.path}'"
        time = table.column("time_s")
        backwards = np.flatnonzero(np.diff(time) <= 0)
        if backwards.size:
            k = int(backwards[0]) + 1
            raise ConfigError(f"{where}: time must increase, but row {table.lines[k]} has time_s = {time[k]:g} after {time[k - 1]:g}")
        if "dx" not in table.columns:
            return WaveformTable(time, table.column("fraction"), None, table.lines)
        vectors = table.values[:, 2:]
        norms = np.linalg.norm(vectors, axis=1)
        zero = np.flatnonzero(norms == 0.0)
        if zero.size:
            raise ConfigError(
                f"{where}: row {table.lines[zero[0]]} has the direction (dx, dy, dz) = (0, 0, 0); expected a non-zero vector "
                "(it is scaled to unit length)"
            )
        directions = vectors / norms[:, None]
        opposite = np.flatnonzero(np.linalg.norm(directions[1:] + directions[:-1], axis=1) < OPPOSITE_TOLERANCE)
        if opposite.size:
            k = int(opposite[0])
            raise ConfigError(
                f"{where}: rows {table.lines[k]} and {table.lines[k + 1]} have opposite directions, so the direction "
                "interpolated between them passes through zero; expected directions less than 180 deg apart (add a row between them)"
            )
        return WaveformTable(time, table.column("fraction"), directions, table.lines)


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
                check_input(self.waveform.read)
        return self


Step = Annotated[TimeFunction, Field(default_factory=TimeFunction)]
