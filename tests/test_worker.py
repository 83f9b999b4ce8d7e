"""Case workers (bmes_fem.studies.worker): one process runs case after case as `bmes run` would, a failed case
leaves its one line in its own log and the worker serves the next, a worker that dies mid-case is replaced."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import DRAINED_BALL

from bmes_fem.output.files import SUMMARY_FILE
from bmes_fem.studies.worker import CaseWorker

NEGATIVE_PERMEABILITY = {"fluid_viscosity": "1 mPa*s", "trabecular": {"permeability": "-1e-15 m^2"}}


class _Never:
    def is_set(self) -> bool:
        return False


def _case(folder: Path, name: str, **changes) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**DRAINED_BALL, "case": name, "output": {"figures": False}, **changes}, sort_keys=False))
    return path


def _peak_mmHg(results: Path, name: str) -> float:
    return json.loads((results / name / SUMMARY_FILE).read_text())["pressure"]["p_max_mmHg"]


def test_one_worker_runs_cases_in_turn_and_a_failed_case_keeps_its_line(tmp_path):
    """Three requests to one process: a case, a case with a negative permeability (exit 1,
    the ConfigError line in its own stderr file, nothing written), and a case with another drainage pressure, whose
    peak differs from the first: the worker holds no state of the case before."""
    results, worker = tmp_path / "results", CaseWorker()
    try:
        assert worker.run(_case(tmp_path, "first"), results, tmp_path / "first.err", _Never()) == (0, False)
        pid = worker._process.pid
        bad = _case(tmp_path, "bad", tissue=NEGATIVE_PERMEABILITY)
        assert worker.run(bad, results, tmp_path / "bad.err", _Never()) == (1, False)
        lines = (tmp_path / "bad.err").read_text().splitlines()
        assert lines[-1].startswith("bmes: error: ") and "tissue.trabecular.permeability" in lines[-1], lines
        assert not (results / "bad").exists()
        drainage = {**DRAINED_BALL["boundary_conditions"][1], "pressure": "10 mmHg"}
        second = _case(tmp_path, "second", boundary_conditions=[DRAINED_BALL["boundary_conditions"][0], drainage])
        assert worker.run(second, results, tmp_path / "second.err", _Never()) == (0, False)
        assert worker._process.pid == pid  # the same process served all three
    finally:
        worker.close()
    assert _peak_mmHg(results, "second") < _peak_mmHg(results, "first") - 1.0


def test_a_worker_killed_mid_case_reports_no_exit_code_and_the_next_case_gets_a_new_one(tmp_path):
    results, worker = tmp_path / "results", CaseWorker()
    try:
        assert worker.run(_case(tmp_path, "warm"), results, tmp_path / "warm.err", _Never())[0] == 0
        process, log = worker._process, tmp_path / "slow.err"

        def kill_once_started() -> None:  # the worker opens the case's log as it starts the case
            deadline = time.monotonic() + 60
            while not log.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(process.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_once_started)
        killer.start()
        assert worker.run(_case(tmp_path, "slow", mesh={"size": "3 mm"}), results, log, _Never()) == (None, False)
        killer.join()
        assert not (results / "slow").exists()  # the partial folder stays (bmes_fem.studies.executor removes it)
        assert worker.run(_case(tmp_path, "after"), results, tmp_path / "after.err", _Never()) == (0, False)
        assert worker._process.pid != process.pid
    finally:
        worker.close()


@pytest.mark.parametrize("jobs", [1, 2])
def test_executor_outcomes_name_the_failed_case_and_reuse_finished_ones(tmp_path, jobs):
    """Through LocalExecutor: ok, failed with its last stderr line (and the log beside the cases), ok; a second
    submission of a finished case is ok without a run."""
    from bmes_fem.studies.executor import FAILED, LOGS_DIR, OK, LocalExecutor

    cases = tmp_path / "cases"
    configs = {name: _case(tmp_path, name, **changes).read_text() for name, changes in
               [("a", {}), ("bad", {"tissue": NEGATIVE_PERMEABILITY}), ("b", {"mesh": {"size": "6 mm"}})]}  # fmt: skip
    outcomes: dict[str, object] = {}
    with LocalExecutor(jobs) as executor:
        for key, text in configs.items():
            executor.submit(text, cases, key, lambda outcome: outcomes.__setitem__(outcome.key, outcome))
        deadline = time.monotonic() + 300
        while len(outcomes) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        again: list = []
        executor.submit(configs["a"], cases, "a", again.append)
        while not again and time.monotonic() < deadline:
            time.sleep(0.1)
    assert {key: o.status for key, o in outcomes.items()} == {"a": OK, "bad": FAILED, "b": OK}
    assert "tissue.trabecular.permeability" in outcomes["bad"].error
    assert outcomes["bad"].error in (tmp_path / LOGS_DIR / "bad.stderr.txt").read_text()
    assert again[0].status == OK
