"""Ctrl-C (bmes_fem.interrupt): ``bmes run`` stopped at each stage, serial and under ``mpirun -n 2``, exits
130 with the one line ``bmes: interrupted`` and leaves nothing in the results folder, within seconds; a
SIGINT swallowed by a finaliser is raised again; the watchdog ends a process stuck in C code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from bmes_fem.interrupt import EXIT_INTERRUPTED, GRACE_S, MESSAGE

BIN = Path(sys.executable).parent
SIGNAL_TO_EXIT_S = GRACE_S + 3.0  # the watchdog's grace and the unwinding on a busy machine
STARTUP_S = 0.3  # start-up: the signal this long after the spawn, once the command's handler is installed
# (stage, seconds after the stage's "<stage> ..." line): each delay puts the signal inside C code, e.g.
# gmsh's mesher, the PETSc set-up and solve, the VTU writer, VTK's rendering
STAGES = [("start-up", 0.0), ("mesh", 0.5), ("setup", 0.1), ("solve", 0.5), ("write_fields", 0.2), ("figures", 1.0)]
MPI_STAGES = [("mesh", 0.5), ("solve", 0.5)]  # rank 0 in gmsh while rank 1 waits in a broadcast; both in PETSc
COARSE_HEAD = Path("configs/femoral_head_coarse.yaml")
# 2000 backward-Euler steps of a drained column (structured box, 4 x 6 tetrahedra), fields written at every step
COLUMN = {
    "case": "column",
    "analysis": "transient",
    "geometry": {"kind": "box", "lengths": ["12.5 mm", "12.5 mm", "50 mm"], "divisions": [1, 1, 4]},
    "lesions": [],
    "boundary_conditions": [
        {"boundary": ["xmin", "xmax", "ymin", "ymax", "zmin"], "kind": "roller"},
        {"boundary": "zmax", "kind": "normal_pressure", "value": "1e4 Pa"},
        {"boundary": "zmax", "kind": "drained", "pressure": "0 Pa"},
    ],
    "transient": {"time": {"time_step": "0.01 s", "end_time": "20 s", "snapshot_every": 1}},
    "solver": {"preset": "direct"},
}


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _interrupt(
    results: Path, stage: str, delay_s: float, mpi_ranks: int = 1, config: Path = COARSE_HEAD, written: str | None = None
) -> tuple[subprocess.Popen, str, str, float]:
    """Start ``bmes -v run`` of ``config`` (with figures), send SIGINT to its process group (as a terminal's Ctrl-C
    does) ``delay_s`` after the stage started; (process, stdout, stderr, seconds from signal to exit)."""
    command = [str(BIN / "bmes"), "-v", "run", str(config), "--results-dir", str(results), "--set", "output.figures=true"]
    if mpi_ranks > 1:
        command = [str(BIN / "mpirun"), "-n", str(mpi_ranks), *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen = []
    if stage == "start-up":  # nothing is printed yet: wait for the handler's watchdog thread (the 2nd thread)
        time.sleep(STARTUP_S)
        while _threads(process.pid) < 2:
            time.sleep(0.01)
    else:
        for line in process.stdout:
            seen.append(line)
            if line.startswith(f"{stage} ..."):
                break
        else:
            pytest.fail(f"no '{stage} ...' line: {''.join(seen)}")
    time.sleep(delay_s)
    deadline = time.monotonic() + 120.0
    while written is not None and not list(results.glob(written)):  # e.g. the first step's output, however busy the machine
        assert time.monotonic() < deadline, f"nothing matches {written} in {results} after 120 s"
        time.sleep(0.05)
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    return process, "".join(seen) + stdout, stderr, time.monotonic() - sent


def _assert_interrupted(process: subprocess.Popen, stderr: str, seconds: float, results: Path) -> None:
    print(f"signal to exit {seconds:.2f} s")  # shown with -s
    assert process.returncode == EXIT_INTERRUPTED, stderr
    assert stderr == f"{MESSAGE}\n"
    assert not results.exists(), sorted(results.rglob("*"))
    assert seconds < SIGNAL_TO_EXIT_S


@pytest.mark.parametrize(("stage", "delay_s"), STAGES)
def test_ctrl_c_at_each_stage_exits_130_with_one_line_and_leaves_nothing(tmp_path, stage, delay_s):
    results = tmp_path / "results"
    process, stdout, stderr, seconds = _interrupt(results, stage, delay_s)
    _assert_interrupted(process, stderr, seconds, results)
    if stage == "start-up":
        assert stdout == ""  # the signal came before any output: during the imports and MPI start-up
    else:
        assert f"{stage} ..." in stdout and "results in" not in stdout


@pytest.mark.parametrize(("stage", "delay_s"), MPI_STAGES)
def test_ctrl_c_under_mpirun_exits_130_with_one_line_and_leaves_nothing(tmp_path, stage, delay_s):
    """A terminal's Ctrl-C reaches mpiexec (hydra), which says so on standard output and forwards it to the ranks."""
    results = tmp_path / "results"
    process, stdout, stderr, seconds = _interrupt(results, stage, delay_s, mpi_ranks=2)
    _assert_interrupted(process, stderr, seconds, results)
    assert "Sending Ctrl-C to processes as requested" in stdout


@pytest.mark.parametrize("mpi_ranks", [1, 2])
def test_ctrl_c_during_time_steps_leaves_no_open_writer_to_abort_the_process(tmp_path, mpi_ranks):
    """The time-series writers stay open when the run is interrupted: the process ends before they are freed
    (freed, a writer wrote into the deleted folder, and ADIOS2 aborted the process: exit code -6)."""
    config = tmp_path / "column.yaml"
    config.write_text(yaml.safe_dump(COLUMN))
    results = tmp_path / "results"
    # sent once the time series holds a step, so during the time steps (a fixed delay after "solve ..." was, on a
    # loaded machine, at times still before the first step; and the progress bar's "time steps" line is drawn only
    # when the bar ends or refreshes, which an interrupted run under mpirun did not always reach)
    process, _, stderr, seconds = _interrupt(results, "solve", 0.5, mpi_ranks, config, written=".column.partial-*/pressure_mmHg.bp/*")
    _assert_interrupted(process, stderr, seconds, results)


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=60)


def test_a_sigint_swallowed_by_a_finaliser_is_raised_again_at_the_next_checkpoint():
    """Python prints a KeyboardInterrupt raised inside ``__del__`` as "Exception ignored" and goes on (a lost
    Ctrl-C); under the guard nothing is printed and `checkpoint` raises it."""
    code = """
        import gc, os, signal, sys
        from bmes_fem import interrupt

        class Finaliser:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGINT)  # the handler runs at the next bytecode: in here
                sum(range(1000))

        def lose_a_sigint():
            Finaliser()
            gc.collect()
            print("went on", flush=True)

        if sys.argv[1] == "guarded":
            with interrupt.guard():
                lose_a_sigint()
                try:
                    interrupt.checkpoint()
                except KeyboardInterrupt:
                    print("raised again")
        else:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            lose_a_sigint()
    """
    plain = _python(code, "plain")
    assert plain.stdout == "went on\n" and "Exception ignored" in plain.stderr and "KeyboardInterrupt" in plain.stderr
    guarded = _python(code, "guarded")
    assert guarded.returncode == 0, guarded.stderr
    assert guarded.stdout == "went on\nraised again\n" and guarded.stderr == ""


STUCK = """
    import sys
    from pathlib import Path
    from mpi4py import MPI
    from bmes_fem import interrupt

    partial = Path(sys.argv[1])
    partial.mkdir()
    with interrupt.guard(), interrupt.cleanup(lambda: partial.rmdir()):
        print("waiting", flush=True)
        MPI.COMM_SELF.recv(source=0, tag=7)  # no message comes: blocked in C, as in a collective whose peer left
"""


@pytest.mark.parametrize("signals", [1, 2])
def test_watchdog_ends_a_process_stuck_in_c_after_the_grace_period_or_at_a_second_sigint(tmp_path, signals):
    partial = tmp_path / ".case.partial-x"
    command = [sys.executable, "-c", textwrap.dedent(STUCK), str(partial)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "waiting\n"
    time.sleep(0.2)
    sent = time.monotonic()
    for _ in range(signals):
        process.send_signal(signal.SIGINT)
        time.sleep(0.1)
    stderr = process.communicate(timeout=60)[1]
    seconds = time.monotonic() - sent
    assert process.returncode == EXIT_INTERRUPTED and stderr == f"{MESSAGE}\n"
    assert not partial.exists()
    if signals == 1:
        assert GRACE_S - 0.1 < seconds < GRACE_S + 2.0
    else:
        assert seconds < 1.0


def test_importing_bmes_fem_and_its_cli_is_light_and_changes_no_signal_handler():
    """The command installs its handler before MPI, the config stack or the solver is imported; a library
    user's handler stays."""
    code = """
        import signal, sys
        handler = signal.getsignal(signal.SIGINT)
        import bmes_fem, bmes_fem.cli
        heavy = ("mpi4py", "dolfinx", "dolfinx_solver", "petsc4py", "pydantic", "pint", "numpy", "yaml", "rich")
        print(signal.getsignal(signal.SIGINT) is handler, sorted({m.split(".")[0] for m in sys.modules} & set(heavy)))
    """
    run = _python(code)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True []"
