"""What a run shows on the terminal (rank 0 only): one line per stage with its wall time, a progress
bar over time steps (step, time, Krylov iterations, ETA), and the verbosity set by ``-q`` / ``-v``
(which also logs ``<stage> ...`` when a stage starts).

Progress and logs go to standard output; errors go to standard error (bmes_fem.cli). Stage boundaries and
states are Ctrl-C checkpoints (bmes_fem.interrupt): a SIGINT swallowed inside the stage stops the run there.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from mpi4py import MPI
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from bmes_fem import interrupt

LOG = logging.getLogger("bmes_fem")
SHORT_STAGE_S = 0.05  # stages quicker than this are logged with -v only
Item = TypeVar("Item")


def configure_logging(verbosity: int = 0, comm: MPI.Comm = MPI.COMM_WORLD) -> None:
    """Log to the terminal on rank 0: warnings only (verbosity < 0), stages (0), details (> 0)."""
    for handler in list(LOG.handlers):
        LOG.removeHandler(handler)
    LOG.propagate = False
    if comm.rank != 0:
        LOG.addHandler(logging.NullHandler())
        LOG.setLevel(logging.ERROR)
        return
    if sys.stdout.isatty():
        console = Console(file=sys.stdout, highlight=False)
        handler: logging.Handler = RichHandler(console=console, show_time=False, show_path=False, markup=False, show_level=verbosity > 0)
    else:  # a file or a pipe: plain lines, no padding to a terminal width
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO)


class Progress:
    """Stage timing (the slowest rank's wall time, as every rank waits for it) and step progress."""

    def __init__(self, comm: MPI.Comm = MPI.COMM_WORLD) -> None:
        self.comm = comm
        self.wall_time_s: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; log ``name ...`` at its start (-v) and ``name  seconds`` on success (stages that fail log
        nothing; short ones only with -v). Collective: after the stage, a SIGINT on any rank stops every rank."""
        interrupt.checkpoint()
        LOG.debug("%s ...", name)
        start = time.perf_counter()
        yield
        interrupt.agree(self.comm)
        elapsed = self.comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        self.wall_time_s[name] = self.wall_time_s.get(name, 0.0) + elapsed
        LOG.log(logging.INFO if elapsed >= SHORT_STAGE_S else logging.DEBUG, "%-16s %9.2f s", name, elapsed)

    def total_s(self) -> float:
        return self.comm.allreduce(time.perf_counter() - self._start, op=MPI.MAX)

    def track(self, items: Iterable[Item], total: int, description: str, status: Callable[[Item], str]) -> Iterator[Item]:
        """Yield ``items``, drawing a bar with ``status(item)`` after each one on rank 0 (at log level INFO);
        a SIGINT swallowed while an item was made is raised before it is yielded."""
        if self.comm.rank != 0 or not LOG.isEnabledFor(logging.INFO):
            for item in items:
                interrupt.checkpoint()
                yield item
            return
        columns = (
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        )  # fmt: skip
        with RichProgress(*columns, console=Console(file=sys.stdout, highlight=False)) as bar:
            task = bar.add_task(description, total=total, status="")
            for item in items:
                interrupt.checkpoint()
                bar.update(task, advance=1, status=status(item))
                yield item
