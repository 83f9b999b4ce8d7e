"""Ctrl-C on the ``bmes`` command: stop within seconds, exit code 130, one line ``bmes: interrupted``, no
partial results folder.

Python raises KeyboardInterrupt at the next bytecode of the main thread, and that loses or mishandles the
signal in four ways: a finaliser (``__del__``, a weakref or ctypes callback) prints it as "Exception ignored"
and drops it; a library turns it into another exception (a PETSc callback gives a PETSc error); raised in a
module that a C extension imports while it initialises (VTK's modules import each other), it crashes the
process (SIGSEGV); and a long call into C (gmsh meshing, an MPI collective whose peer has left) delays it
until the call returns. So `guard`:

- records every SIGINT and raises KeyboardInterrupt at once, unless an import is in progress or the block
  is `deferred`; a `checkpoint` (each stage, each solved state) raises a recorded one (again), `agree`
  (collective) raises it on every rank when one rank has it, and any exception that ends a run after a
  SIGINT counts as the interrupt;
- drops the "Exception ignored" report of a KeyboardInterrupt raised inside a finaliser;
- ends the process with `Guard.exit_now`: the registered clean-ups (a partial results folder), the line on
  the announcing rank (rank 0), ``os._exit(130)``. mpiexec kills every rank once one exits, so the other ranks
  wait GRACE_S + STAND_IN_MARGIN_S first (rank 0, killed before it printed, left the partial folder in 4 runs in 10); if they
  are still alive then, rank 0 is stuck in a collective their exit left, and they clean up and rank 1
  prints the line. The command calls it once it has unwound (no finaliser, PETSc or
  MPI finalisation then runs: freed, an open writer would write into the deleted folder, and a rank could
  wait for ever on one still inside a collective); a watchdog thread, woken through `signal.set_wakeup_fd`
  (so also while the main thread is in C code that releases the interpreter lock), calls it if the process
  still runs GRACE_S after the first SIGINT or at a second SIGINT. A C call that holds the interpreter lock
  (a PETSc factorisation) ends before the watchdog can act.

Only the command line installs it (bmes_fem.cli.main); importing bmes_fem changes no signal handler, and
without a guard `checkpoint` does nothing and `agree` only synchronises.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

EXIT_INTERRUPTED = 130
MESSAGE = "bmes: interrupted"
GRACE_S = 3.0  # after the first SIGINT, how long the run may take to unwind before the watchdog ends it
STAND_IN_MARGIN_S = 1.0  # how much longer than GRACE_S the other ranks leave rank 0 to print and clean up
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")  # the rank before MPI is imported


def launcher_rank() -> int:
    """The MPI rank the launcher (mpiexec, srun) gave this process, 0 when started alone."""
    for name in RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


class Guard:
    """The SIGINT handler of a ``bmes`` command and its watchdog (module docstring)."""

    def __init__(self, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s
        self.received = False
        self.announce = launcher_rank() == 0  # the rank that prints the line; set again once MPI is up
        self._deferred = 0
        self._cleanups: list[Callable[[], None]] = []
        self._exit_lock = threading.Lock()
        self._read_fd, self._write_fd = os.pipe()
        self._watchdog = threading.Thread(target=self._watch, name="bmes-interrupt-watchdog", daemon=True)
        self._previous: tuple | None = None

    def install(self) -> None:
        """Handle SIGINT here (main thread only); keep the previous handler, wake-up fd and unraisable hook."""
        os.set_blocking(self._write_fd, False)
        self._previous = (
            signal.signal(signal.SIGINT, self._handle),
            signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False),
            sys.unraisablehook,
        )
        sys.unraisablehook = self._unraisable
        self._watchdog.start()

    def uninstall(self) -> None:
        """Restore what `install` replaced and stop the watchdog."""
        handler, wakeup_fd, hook = self._previous
        signal.signal(signal.SIGINT, handler)
        signal.set_wakeup_fd(wakeup_fd)
        sys.unraisablehook = hook
        os.close(self._write_fd)  # the watchdog reads end-of-file and returns
        self._watchdog.join()
        os.close(self._read_fd)

    def _handle(self, signum: int, frame) -> None:
        if self.received:  # a second Ctrl-C: stop now
            self.exit_now()
        self.received = True
        if not (self._deferred or _importing(frame)):
            raise KeyboardInterrupt

    def _unraisable(self, unraisable) -> None:
        if not (self.received and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            self._previous[2](unraisable)

    def _watch(self) -> None:
        """Wait for SIGINT bytes on the wake-up pipe; end the process GRACE_S after the first or at the second."""
        deadline = None
        while True:
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not select.select([self._read_fd], [], [], timeout)[0]:
                self.exit_now()
            data = os.read(self._read_fd, 64)
            if not data:
                return
            signals = data.count(signal.SIGINT)
            if signals and (deadline is not None or signals > 1):
                self.exit_now()
            if signals:
                deadline = time.monotonic() + self.grace_s

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A SIGINT inside the block is only recorded; KeyboardInterrupt is raised when the block ends."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
        if self.received and not self._deferred:
            raise KeyboardInterrupt

    @contextmanager
    def cleanup(self, function: Callable[[], None]) -> Iterator[None]:
        """Run ``function`` (e.g. remove a partial folder) if `exit_now` ends the process inside the block."""
        self._cleanups.append(function)
        try:
            yield
        finally:
            self._cleanups.remove(function)

    def exit_now(self) -> None:
        """Run the clean-ups, print the line, end the process with exit code 130 (no unwinding, no finalisers)."""
        self._exit_lock.acquire()  # the watchdog and a second SIGINT may both come here: the first one ends the process
        if not self.announce:  # mpiexec kills every rank once one exits: the announcing rank goes first
            time.sleep(self.grace_s + STAND_IN_MARGIN_S)
        for function in list(self._cleanups):
            with suppress(Exception):  # the process ends whatever a clean-up does
                function()
        if self.announce or launcher_rank() == 1:  # rank 1 stands in for a rank 0 stuck in a collective
            os.write(2, f"{MESSAGE}\n".encode())  # unbuffered: the main thread may hold sys.stderr's lock
        os._exit(EXIT_INTERRUPTED)


def _importing(frame) -> bool:
    """An import is running in ``frame`` or a caller (importlib's frames are on the stack)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


_active: Guard | None = None


@contextmanager
def guard(grace_s: float = GRACE_S) -> Iterator[Guard]:
    """Install a `Guard` for the block (main thread; one at a time); restore the previous handlers after it."""
    global _active
    if _active is not None:
        raise RuntimeError("bmes_fem.interrupt.guard is already installed")
    active = Guard(grace_s)
    active.install()
    _active = active
    try:
        yield active
    finally:
        _active = None
        active.uninstall()


def received() -> bool:
    """Whether a SIGINT came while the guard was installed."""
    return _active is not None and _active.received


def checkpoint() -> None:
    """Raise KeyboardInterrupt if a SIGINT came (again, if it was swallowed where it was first raised)."""
    if received():
        raise KeyboardInterrupt


def agree(comm) -> None:
    """KeyboardInterrupt on every rank if a SIGINT came to any rank (collective: one allreduce)."""
    from mpi4py import MPI

    if comm.allreduce(received(), op=MPI.LOR):
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """`Guard.deferred` of the installed guard (a plain block without one)."""
    if _active is None:
        yield
        return
    with _active.deferred():
        yield


@contextmanager
def cleanup(function: Callable[[], None]) -> Iterator[None]:
    """`Guard.cleanup` of the installed guard (nothing is registered without one)."""
    if _active is None:
        yield
        return
    with _active.cleanup(function):
        yield
