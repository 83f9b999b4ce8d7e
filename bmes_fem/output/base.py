"""The output protocol: small objects that consume the states of a run and write the case folder.

Each output has three hooks, all collective (every rank calls them; files are written on rank 0):

- ``on_state(state)``: a new solved state (steady: one; transient: the initial state and one per step);
- ``finish(final, folder) -> dict``: the run is over; ``final`` is the analysis of the last state
  (bmes_fem.post.analysis); the returned entries go into ``summary.json``;
- ``close()``: release open files and writers; the run driver calls it after ``finish`` and also when the
  run fails or is interrupted, before the partial folder is deleted (a writer left open would write into a
  deleted folder when it is freed). It may be called more than once.

The case outputs (bmes_fem.output.outputs), the course output (bmes_fem.output.course) and the verification
output (bmes_fem.verification.output) all derive from `Output`; this module imports none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bmes_fem.post.analysis import StateAnalysis
    from bmes_fem.solve.state import State


class Output:
    """Base of the outputs: every hook does nothing."""

    name = "output"  # the stage name its ``finish`` is timed under

    def on_state(self, state: State) -> None:
        """A new state; read what is needed now (the functions change at the next state)."""

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        """Write files for the finished run; return summary entries."""
        return {}

    def close(self) -> None:
        """Release open files and writers (after ``finish``, or when the run fails)."""
