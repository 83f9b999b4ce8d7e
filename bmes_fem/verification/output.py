"""The verification output of a case: the computed field against its closed form on the reference line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bmes_fem.config.case import Config, Probe
from bmes_fem.output.base import Output
from bmes_fem.physics import analytic
from bmes_fem.post.analysis import StateAnalysis
from bmes_fem.post.probes import ProbePoints
from bmes_fem.solve.state import State
from bmes_fem.verification.solutions import exact_field


def reference_points_m(config: Config) -> np.ndarray:
    """``verification.line.points`` points evenly spaced from its start to its end [m], shape (n, 3)."""
    line = config.verification.line
    fractions = np.linspace(0.0, 1.0, line.points)[:, None]
    return np.asarray(line.start) + fractions * (np.asarray(line.end) - np.asarray(line.start))


class VerificationError(Output):
    """RMS relative error sqrt(sum (computed - exact)^2 / sum exact^2) over the reference points and times."""

    name = "verification"

    def __init__(self, config: Config, domain) -> None:
        self.config = config
        self.points_m = reference_points_m(config)
        probes = [Probe(name=f"reference_{i}", point=tuple(point)) for i, point in enumerate(self.points_m)]
        self.probes = ProbePoints(domain, probes)
        self.times_s = np.asarray(config.verification.times)
        self.computed: list[np.ndarray] = []
        self.exact: list[np.ndarray] = []

    def _compared(self, state: State) -> bool:
        if self.config.analysis == "steady":
            return True
        return state.step > 0 and bool(np.any(np.isclose(self.times_s, state.time_s, rtol=1e-9, atol=0.0)))

    def on_state(self, state: State) -> None:
        if not self._compared(state):
            return
        field = state.pressure if self.config.verification.field == "pressure" else state.displacement
        values = self.probes.values(field)
        self.computed.append(values[:, 0] if self.config.verification.field == "pressure" else values)
        self.exact.append(exact_field(self.config, self.points_m, state.step))

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        verification = self.config.verification
        return {
            "verification": {
                "solution": verification.solution,
                "field": verification.field,
                "error": analytic.rms_relative_error(np.asarray(self.computed), np.asarray(self.exact)),
                "reference_points": len(self.points_m),
                "reference_times_s": [float(t) for t in self.times_s],
            }
        }
