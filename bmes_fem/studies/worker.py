"""A case worker: one child process that imports the model stack once and then runs cases one after another,
each exactly as ``bmes run CASE.yaml --results-dir DIR`` would (bmes_fem.cli.main in the worker's main thread).

A fresh process per case spends about 4 s importing DOLFINx, PETSc, pint and the package before a coarse case's
4 s of work; a worker pays that once. The protocol is one JSON line each way over the worker's standard input
and output: ``{"config": ..., "results_dir": ..., "stderr": ...}`` in, ``{"exit_code": n, "continues": bool}`` out. During a case
the worker's file descriptors 1 and 2 point at /dev/null and at the request's ``stderr`` file, so what the case
prints (and a native library's output) lands in that case's log, never in the protocol. A case that ends in
Ctrl-C (exit code 130) or in an unexpected exception ends the worker too; the next case gets a new one.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

POLL_S = 0.5  # how often a waiting parent looks at the stop event
GRACE_S = 20.0  # after SIGINT, how long a case may take to clean up before SIGKILL


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class CaseWorker:
    """The parent's handle on a worker process (started on first use, again after one ended)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None

    def _started(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            environment = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bmes_fem.studies.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, text=True, env=environment,
            )  # fmt: skip
        return self._process

    def run(self, config: Path, results_dir: Path, stderr: Path, stop: StopFlag) -> tuple[int | None, bool]:
        """Run one case; (its exit code, None if the worker died; whether it was stopped: SIGINT, then SIGKILL
        after GRACE_S)."""
        process = self._started()
        request = {"config": str(config), "results_dir": str(results_dir), "stderr": str(stderr)}
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            self.close()
            return None, False
        deadline = None
        while True:
            if select.select([process.stdout], [], [], POLL_S)[0]:
                line = process.stdout.readline()
                if not line:  # the worker died (a native crash, SIGKILL, the interrupt watchdog)
                    self.close()
                    return None, deadline is not None
                reply = json.loads(line)
                if deadline is not None or not reply["continues"]:
                    self.close()
                return reply["exit_code"], deadline is not None
            if deadline is None and stop.is_set():
                process.send_signal(signal.SIGINT)
                deadline = time.monotonic() + GRACE_S
            elif deadline is not None and time.monotonic() > deadline:
                process.kill()

    def close(self) -> None:
        """End the worker: end of input lets an idle one return; one that does not within GRACE_S is killed."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                process.stdin.close()
                process.wait(timeout=GRACE_S)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            stream.close()


@contextmanager
def _descriptors_to(stdout: str, stderr: str):
    """Point file descriptors 1 and 2 (and sys.stdout / sys.stderr with them) at the given files for the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(stdout, "w") as out, open(stderr, "w") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def serve() -> None:
    """The worker's loop (``python -m bmes_fem.studies.worker``): a case per request line until end of input."""
    import dolfinx_solver  # noqa: F401  (must precede dolfinx)

    # isort: split
    import bmes_fem.api  # noqa: F401  (the stack every case needs, imported before the first request)
    from bmes_fem.cli import main
    from bmes_fem.interrupt import EXIT_INTERRUPTED

    replies = os.fdopen(os.dup(1), "w")  # the protocol channel; fd 1 itself goes to the cases' /dev/null
    for line in sys.stdin:
        request = json.loads(line)
        ended = False
        with _descriptors_to(os.devnull, request["stderr"]):
            try:
                exit_code = main(["run", request["config"], "--results-dir", request["results_dir"]])
            except Exception:  # a defect, not a case error (those are exit code 1): its traceback is the case's log
                traceback.print_exc()
                exit_code, ended = 1, True
        continues = not (ended or exit_code == EXIT_INTERRUPTED)
        print(json.dumps({"exit_code": exit_code, "continues": continues}), file=replies, flush=True)
        if not continues:
            return


if __name__ == "__main__":
    # Every case's files are complete (renamed into place) and every reply flushed when serve returns, so the worker
    # ends without Python's, PETSc's and MPI's finalisation (about 1.5 s a worker).
    try:
        serve()
    except KeyboardInterrupt:  # a Ctrl-C between cases: nothing to clean up
        os._exit(130)
    os._exit(0)
