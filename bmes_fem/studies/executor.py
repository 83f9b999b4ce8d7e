"""Running cases, each in its own process: ``python -m bmes_fem.cli run CASE.yaml --results-dir CASES_DIR``.

A run writes CASES_DIR/<key>/ atomically (a hidden temporary folder renamed when complete), so a folder
holding summary.json is a finished case. The same function, `run_case_process`, runs on this machine
(`LocalExecutor`, ``jobs`` cases at a time, a thread each) or on Dask workers (`DaskExecutor`: a
LocalCluster, a running scheduler, or a dask-jobqueue Slurm/PBS cluster; CASES_DIR must then be on a
file system the workers share). Stopping (Ctrl-C) sets an event that the cases poll: a running case
process gets SIGINT (its run removes its temporary folder), then SIGKILL after GRACE_S; a case not yet
started returns at once; the runner then stops waiting (`STOP_WAIT_S`) and Dask cancels what is left.
Case processes get OMP_NUM_THREADS=1 unless it is set.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bmes_fem.output.files import SUMMARY_FILE
from bmes_fem.studies.files import write_text_atomic

OK, FAILED, NOT_RUN = "ok", "failed", "not run"
POLL_S = 0.5  # how often a running case looks at the stop event
GRACE_S = 20.0  # after SIGINT, how long a case process may take to clean up before SIGKILL
STOP_WAIT_S = GRACE_S + 10.0  # how long the runner waits for the cases after a stop
LOGS_DIR = "logs"  # beside CASES_DIR: the standard error of each failed case, <key>.stderr.txt


@dataclass(frozen=True)
class Outcome:
    """How a case ended: ``ok``, ``failed`` (with the last line its process wrote to stderr) or ``not run``."""

    key: str
    status: str
    error: str = ""


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


def _wait(process: subprocess.Popen, stop: StopFlag) -> tuple[str, bool]:
    """Standard error of ``process`` once it ends, and whether it was stopped (SIGINT, then SIGKILL after GRACE_S)."""
    deadline = None
    while True:
        try:
            return process.communicate(timeout=POLL_S)[1], deadline is not None
        except subprocess.TimeoutExpired:
            pass
        if deadline is None and stop.is_set():
            process.send_signal(signal.SIGINT)
            deadline = time.monotonic() + GRACE_S
        elif deadline is not None and time.monotonic() > deadline:
            process.kill()


def run_case_process(config_yaml: str, cases_dir: str, key: str, stop: StopFlag) -> Outcome:
    """Run one case (unless stopped or finished already) in a child process; never raises for a failed case."""
    cases_dir_path = Path(cases_dir)
    if stop.is_set():
        return Outcome(key, NOT_RUN)
    if (cases_dir_path / key / SUMMARY_FILE).is_file():
        return Outcome(key, OK)
    with tempfile.TemporaryDirectory(prefix="bmes-case-") as folder:
        config_path = Path(folder) / f"{key}.yaml"
        config_path.write_text(config_yaml, encoding="utf-8")
        command = [sys.executable, "-m", "bmes_fem.cli", "run", str(config_path), "--results-dir", str(cases_dir_path)]
        environment = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment)
        stderr, stopped = _wait(process, stop)
    if (cases_dir_path / key / SUMMARY_FILE).is_file():
        return Outcome(key, OK)
    if stopped:
        for partial in cases_dir_path.glob(f".{key}.partial-*"):  # left by SIGKILL (bmes_fem.output.io.atomic_directory)
            shutil.rmtree(partial, ignore_errors=True)
        return Outcome(key, NOT_RUN)
    write_text_atomic(cases_dir_path.parent / LOGS_DIR / f"{key}.stderr.txt", stderr)
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return Outcome(key, FAILED, lines[-1] if lines else f"exit code {process.returncode}, nothing on stderr")


def outcome_of(future, key: str) -> Outcome:
    """The outcome a finished, failed or cancelled future (concurrent.futures or Dask) stands for."""
    try:
        return future.result()
    except CancelledError:
        return Outcome(key, NOT_RUN)
    except Exception as exc:  # a lost worker, a task that could not start: the case failed
        return Outcome(key, FAILED, f"{type(exc).__name__}: {exc}".splitlines()[0])


class LocalExecutor:
    """Cases as child processes of this machine, ``jobs`` at a time."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="bmes-case")

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def describe(self) -> str:
        return f"{self.jobs} local process{'es' if self.jobs > 1 else ''}"

    def submit(self, config_yaml: str, cases_dir: Path, key: str, on_done: Callable[[Outcome], None]) -> None:
        future = self._pool.submit(run_case_process, config_yaml, str(cases_dir), key, self._stop)
        future.add_done_callback(lambda f: on_done(outcome_of(f, key)))

    def capacity(self) -> int:
        return self.jobs

    def stop(self) -> None:
        self._stop.set()


class DaskExecutor:
    """Cases as tasks on a Dask cluster, one case per worker thread: ``DaskExecutor(Client(cluster))``.

    `local` starts a LocalCluster of ``jobs`` single-threaded workers, `connect` joins a running scheduler.
    """

    def __init__(self, client, cluster=None) -> None:
        from distributed import Event

        self.client, self._cluster = client, cluster
        self._stop = Event(f"bmes-study-stop-{uuid.uuid4().hex}", client)
        self._futures: list = []

    @classmethod
    def local(cls, jobs: int) -> DaskExecutor:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None)
        return cls(Client(cluster), cluster)

    @classmethod
    def connect(cls, address: str) -> DaskExecutor:
        from distributed import Client

        return cls(Client(address))

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.cancel([future for future in self._futures if not future.done()])
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def describe(self) -> str:
        return f"Dask scheduler {self.client.scheduler_info()['address']} ({self.capacity()} worker threads now)"

    def submit(self, config_yaml: str, cases_dir: Path, key: str, on_done: Callable[[Outcome], None]) -> None:
        future = self.client.submit(run_case_process, config_yaml, str(cases_dir), key, self._stop, pure=False, key=f"bmes-case-{key}-{uuid.uuid4().hex[:8]}")
        future.add_done_callback(lambda f: on_done(outcome_of(f, key)))
        self._futures.append(future)

    def capacity(self) -> int:
        return sum(self.client.nthreads().values())

    def stop(self) -> None:
        self._stop.set()


Executor = LocalExecutor | DaskExecutor
