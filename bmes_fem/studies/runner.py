"""``run_study``: run a study's unfinished cases on an executor with a progress bar, then write its results.

<results-dir>/<study>/ holds ``cases/<key>/`` (one finished case each; a rerun skips them, so an
interrupted study resumes), ``logs/<key>.stderr.txt`` (failed cases), ``table.csv``, ``table.md`` and
``plots/``. Ctrl-C stops launching cases, stops the running ones (their atomic folders leave nothing
half-written) and writes the table of the cases finished so far.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bmes_fem.output.files import SUMMARY_FILE
from bmes_fem.studies.executor import FAILED, NOT_RUN, OK, STOP_WAIT_S, Executor, Outcome
from bmes_fem.studies.report import CASES_DIR, write_results
from bmes_fem.studies.study import Case, Study
from bmes_fem.studies.table import Row, table_rows
from bmes_fem.studies.worker import POLL_S

INTERRUPTED_EXIT_CODE = 130


@dataclass(frozen=True)
class StudyRun:
    """A finished (or interrupted) run of a study: where it wrote, its rows, and how many cases were reused."""

    folder: Path
    rows: list[Row]
    reused: int
    interrupted: bool
    wall_time_s: float
    written: list[Path]

    @property
    def exit_code(self) -> int:
        """130 if interrupted, 1 if a case failed, else 0."""
        if self.interrupted:
            return INTERRUPTED_EXIT_CODE
        return int(any(row.status == FAILED for row in self.rows))


def _run(cases: list[Case], executor: Executor, cases_dir: Path, console: Console, title: str) -> tuple[dict[str, Outcome], bool]:
    """Outcomes by key, and whether Ctrl-C stopped the run (then a case not finished is ``not run``)."""
    outcomes: dict[str, Outcome] = {}
    finished: queue.Queue[Outcome] = queue.Queue()
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[running]} running, {task.fields[failed]} failed"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(title, total=len(cases), running=0, failed=0)

        def record(outcome: Outcome) -> None:
            outcomes[outcome.key] = outcome
            failed = sum(o.status == FAILED for o in outcomes.values())
            progress.update(task, completed=len(outcomes), failed=failed, running=min(executor.capacity(), len(cases) - len(outcomes)))

        submitted = 0
        try:
            for case in cases:
                executor.submit(case.config_yaml(), cases_dir, case.key, finished.put)
                submitted += 1
            while len(outcomes) < len(cases):
                try:
                    record(finished.get(timeout=POLL_S))
                except queue.Empty:
                    progress.update(task, running=min(executor.capacity(), len(cases) - len(outcomes)))
        except KeyboardInterrupt:
            executor.stop()
            deadline = time.monotonic() + STOP_WAIT_S
            while len(outcomes) < submitted and time.monotonic() < deadline:
                try:
                    outcome = finished.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                record(outcome if outcome.status == OK else Outcome(outcome.key, NOT_RUN))
            return outcomes, True
    return outcomes, False


def run_study(study: Study, executor: Executor, results_dir: Path = Path("results"), console: Console | None = None) -> StudyRun:
    """Run the cases of ``study`` not finished under ``results_dir/<name>/cases/`` and write table and plots."""
    console = console or Console(stderr=True)
    start = time.perf_counter()
    folder = Path(results_dir) / study.name
    cases_dir = folder / CASES_DIR
    unique: dict[str, Case] = {}
    for case in study.cases:
        unique.setdefault(case.key, case)
    done = {key for key in unique if (cases_dir / key / SUMMARY_FILE).is_file()}
    pending = [case for key, case in unique.items() if key not in done]
    title = f"{study.name} ({len(done)} reused, {executor.describe()})"
    outcomes, interrupted = _run(pending, executor, cases_dir, console, title) if pending else ({}, False)
    outcomes.update({key: Outcome(key, OK) for key in done})
    rows = table_rows(study, cases_dir, outcomes)
    written = write_results(folder, study, rows, complete=not interrupted)
    return StudyRun(folder, rows, len(done), interrupted, time.perf_counter() - start, written)
