"""Measuring a whole command from outside: wall time and the peak resident memory of its process tree.

Shared by the benchmark drivers (``terzaghi_column.py``, ``peer_terzaghi.py``). Each measured run is its
own process (group), so its peak memory is its own; :func:`wait_for_quiet` holds a run back until the
1-minute load average of the machine is low enough, so that timings are not those of a shared machine.
"""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Measurement:
    """A finished command: wall time [s], peak resident memory of its process tree [B], exit code, and the
    1-minute load average when it started."""

    wall_s: float
    peak_rss_B: int
    returncode: int
    status: str  # "ok", "failed (exit N)" or "killed: ..."
    load_1min: float


def _tree_rss_B(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and all its descendants."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def load_1min() -> float:
    """The machine's 1-minute load average."""
    return os.getloadavg()[0]


def wait_for_quiet(max_load: float, *, max_wait_s: float, poll_s: float = 20.0, say=print) -> float:
    """Wait (at most ``max_wait_s``) until the 1-minute load average is below ``max_load``; return it."""
    deadline = time.monotonic() + max_wait_s
    load = load_1min()
    if load >= max_load:
        say(f"  waiting for the 1-minute load {load:.2f} to fall below {max_load:g} (at most {max_wait_s:.0f} s)")
    while load >= max_load and time.monotonic() < deadline:
        time.sleep(poll_s)
        load = load_1min()
    return load


def measure_command(
    command: list[str],
    *,
    log_path: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    poll_s: float = 0.1,
    timeout_s: float = 3600.0,
    memory_limit_B: float = float("inf"),
) -> Measurement:
    """Run ``command`` (stdout and stderr to ``log_path``); return its wall time and the peak of the summed
    resident memory of its process tree, polled every ``poll_s`` s. Killed past the time or memory limit."""
    load = load_1min()
    start, peak_B, status = time.perf_counter(), 0, None
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        handle = psutil.Process(process.pid)
        while process.poll() is None:
            peak_B = max(peak_B, _tree_rss_B(handle))
            if peak_B > memory_limit_B:
                status = f"killed: memory > {memory_limit_B / 1e9:g} GB"
            elif time.perf_counter() - start > timeout_s:
                status = f"killed: timeout > {timeout_s:g} s"
            if status:
                for child in handle.children(recursive=True):
                    child.kill()
                process.kill()
                process.wait()
                break
            time.sleep(poll_s)
    wall_s = time.perf_counter() - start
    if status is None:
        status = "ok" if process.returncode == 0 else f"failed (exit {process.returncode})"
    return Measurement(wall_s, peak_B, process.returncode, status, load)


def read_rows(path: Path) -> list[dict]:
    """The rows of a results CSV (none if it does not exist yet)."""
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict], columns: list[str]) -> None:
    """``rows`` as a CSV with ``columns`` (other keys ignored), floats to 4 significant digits."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: f"{value:.4g}" if isinstance(value, float) else value for key, value in row.items()})
