"""Load histories: f(t) of a configured time function, and the joint force vector F(t) = f(t) F d(t).

``time_s = None`` is a steady analysis: every value applies in full (f = 1).
"""

from __future__ import annotations

import numpy as np

from bmes_fem.config.case import JointLoad
from bmes_fem.config.histories import TimeFunction


class History:
    """f(t) of a `TimeFunction` (see bmes_fem.config.histories); a waveform table is read once."""

    def __init__(self, function: TimeFunction) -> None:
        self.function = function
        self.times_s = self.values = self.directions = None
        self.period_s = function.period
        if function.kind == "waveform":
            table = function.waveform.read()
            self.times_s, self.values, self.directions = table.time_s, table.fraction, table.directions
            self.period_s = function.waveform.period or float(table.time_s[-1])
        elif function.kind == "table":
            self.times_s, self.values = np.array(function.table).T

    def _phase(self, time_s: float) -> float:
        return time_s % self.period_s if self.period_s else time_s

    def __call__(self, time_s: float | None) -> float:
        """step: 1 for t > 0; ramp: min(t / t_ramp, 1); table/waveform: linear, periodic with the period."""
        kind = self.function.kind
        if time_s is None or kind == "constant":
            return 1.0
        if kind == "table":
            return float(np.interp(self._phase(time_s), self.times_s, self.values))
        if time_s <= 0.0:
            return 0.0
        if kind == "step":
            return 1.0
        if kind == "ramp":
            return min(time_s / self.function.ramp_duration, 1.0)
        return float(np.interp(self._phase(time_s), self.times_s, self.values))

    def direction(self, time_s: float | None, default: np.ndarray) -> np.ndarray:
        """The unit direction of a waveform with direction columns at ``time_s``, else ``default``."""
        if self.directions is None or time_s is None:
            return default
        phase = self._phase(time_s)
        direction = np.array([np.interp(phase, self.times_s, self.directions[:, i]) for i in range(3)])
        return direction / np.linalg.norm(direction)


class ForceHistory:
    """The joint force vector [N] at time t: f(t) F along the load direction (or the waveform's)."""

    def __init__(self, function: TimeFunction, load: JointLoad) -> None:
        self.history = History(function)
        self.peak_force_N, self.direction = load.force, np.asarray(load.direction)

    def fraction(self, time_s: float | None) -> float:
        return self.history(time_s)

    def force_vector_N(self, time_s: float | None) -> np.ndarray:
        return self.fraction(time_s) * self.peak_force_N * self.history.direction(time_s, self.direction)
