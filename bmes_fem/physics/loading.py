"""Joint load histories F(t) = fraction(t) F_peak d(t): step, ramp or a periodic waveform table."""

from __future__ import annotations

import numpy as np

from bmes_fem.config.case import JointLoad
from bmes_fem.config.transient import LoadHistory


class ForceHistory:
    """The joint force vector [N] at time t; the unloaded state is t <= 0."""

    def __init__(self, history: LoadHistory, load: JointLoad) -> None:
        self.kind, self.ramp_duration_s = history.kind, history.ramp_duration
        self.peak_force_N, self.direction = load.force, np.asarray(load.direction)
        self.table = history.waveform.read() if history.kind == "waveform" else None
        if self.table is not None:
            self.period_s = history.waveform.period or float(self.table[0][-1])

    def fraction(self, time_s: float) -> float:
        """step: 1 for t > 0; ramp: min(t / t_ramp, 1); waveform: linear in the table, periodic."""
        if time_s <= 0.0:
            return 0.0
        if self.kind == "step":
            return 1.0
        if self.kind == "ramp":
            return min(time_s / self.ramp_duration_s, 1.0)
        times, fractions, _ = self.table
        return float(np.interp(time_s % self.period_s, times, fractions))

    def force_vector_N(self, time_s: float) -> np.ndarray:
        direction = self.direction
        if self.table is not None and self.table[2] is not None:
            times, _, directions = self.table
            phase = time_s % self.period_s
            direction = np.array([np.interp(phase, times, directions[:, i]) for i in range(3)])
            direction /= np.linalg.norm(direction)
        return self.fraction(time_s) * self.peak_force_N * direction
