"""Running cases, each as ``bmes run CASE.yaml --results-dir CASES_DIR`` in a case worker (a child process that
imports the model stack once and runs cases one after another: bmes_fem.studies.worker).

A run writes CASES_DIR/<key>/ atomically (a hidden temporary folder renamed when complete), so a folder
holding summary.json is a finished case. The same function, `run_case_process`, runs on this machine
(`LocalExecutor`, ``jobs`` cases at a time, a thread and a worker each) or on Dask workers (`DaskExecutor`: a
LocalCluster, a running scheduler, or a dask-jobqueue Slurm/PBS cluster; a worker per case there; CASES_DIR
must then be on a file system the workers share). Stopping (Ctrl-C) sets an event that the cases poll: a
running case's worker gets SIGINT (its run removes its temporary folder), then SIGKILL after GRACE_S; a case
not yet started returns at once; the runner then stops waiting (`STOP_WAIT_S`) and Dask cancels what is left.
Workers get OMP_NUM_THREADS=1 unless it is set.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bmes_fem.output.files import SUMMARY_FILE
from bmes_fem.studies.files import write_text_atomic
from bmes_fem.studies.worker import GRACE_S, CaseWorker, StopFlag

OK, FAILED, NOT_RUN = "ok", "failed", "not run"
STOP_WAIT_S = GRACE_S + 10.0  # how long the runner waits for the cases after a stop
LOGS_DIR = "logs"  # beside CASES_DIR: the standard error of each failed case, <key>.stderr.txt


@dataclass(frozen=True)
class Outcome:
    """How a case ended: ``ok``, ``failed`` (with the last line its process wrote to stderr) or ``not run``."""

    key: str
    status: str
    error: str = ""


def run_case_process(config_yaml: str, cases_dir: str, key: str, stop: StopFlag, worker: CaseWorker | None = None) -> Outcome:
    """Run one case (unless stopped or finished already) in ``worker`` (a new one, ended after the case, if None);
    never raises for a failed case."""
    cases_dir_path = Path(cases_dir)
    if stop.is_set():
        return Outcome(key, NOT_RUN)
    if (cases_dir_path / key / SUMMARY_FILE).is_file():
        return Outcome(key, OK)
    with tempfile.TemporaryDirectory(prefix="bmes-case-") as folder:
        config_path, stderr_path = Path(folder) / f"{key}.yaml", Path(folder) / "stderr.txt"
        config_path.write_text(config_yaml, encoding="utf-8")
        own = worker is None
        worker = CaseWorker() if own else worker
        try:
            exit_code, stopped = worker.run(config_path, cases_dir_path, stderr_path, stop)
        finally:
            if own:
                worker.close()
        stderr = stderr_path.read_text(errors="replace") if stderr_path.is_file() else ""
    if (cases_dir_path / key / SUMMARY_FILE).is_file():
        return Outcome(key, OK)
    for partial in cases_dir_path.glob(f".{key}.partial-*"):  # left by SIGKILL or a crash (bmes_fem.output.io.atomic_directory)
        shutil.rmtree(partial, ignore_errors=True)
    if stopped:
        return Outcome(key, NOT_RUN)
    write_text_atomic(cases_dir_path.parent / LOGS_DIR / f"{key}.stderr.txt", stderr)
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    ended = f"exit code {exit_code}" if exit_code is not None else "the case's process ended without a reply"
    return Outcome(key, FAILED, lines[-1] if lines else f"{ended}, nothing on stderr")


def outcome_of(future, key: str) -> Outcome:
    """The outcome a finished, failed or cancelled future (concurrent.futures or Dask) stands for."""
    try:
        return future.result()
    except CancelledError:
        return Outcome(key, NOT_RUN)
    except Exception as exc:  # a lost worker, a task that could not start: the case failed
        return Outcome(key, FAILED, f"{type(exc).__name__}: {exc}".splitlines()[0])


class LocalExecutor:
    """Cases in ``jobs`` case workers on this machine (a thread each, the worker kept for the thread's next case)."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="bmes-case")
        self._workers: dict[int, CaseWorker] = {}  # thread ident -> its worker
        self._workers_lock = threading.Lock()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for worker in self._workers.values():
            worker.close()

    def _run(self, config_yaml: str, cases_dir: str, key: str) -> Outcome:
        with self._workers_lock:
            worker = self._workers.setdefault(threading.get_ident(), CaseWorker())
        return run_case_process(config_yaml, cases_dir, key, self._stop, worker)

    def describe(self) -> str:
        return f"{self.jobs} local process{'es' if self.jobs > 1 else ''}"

    def submit(self, config_yaml: str, cases_dir: Path, key: str, on_done: Callable[[Outcome], None]) -> None:
        future = self._pool.submit(self._run, config_yaml, str(cases_dir), key)
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
