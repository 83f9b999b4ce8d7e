"""``bmes validate --cross-validate``: fit the parameters nobody measures directly on every source but one, predict
the rows of the source held out, for each source in turn; and the all-data fit, whose medians are the calibrated
defaults. The stages, each in its own module:

1. `bmes_fem.validation.crossval_file`: the spec (fitted parameters and priors, design, surrogate, sampler, the
   width of a one-sided limit's step) and the rule of which parameters apply to a row; checked with every
   validation file and every run config before any case runs;
2. `bmes_fem.validation.crossval_runs`: each row over a design in its own parameters, all runs as the study
   ``validation_cv_cases`` (equal physics run once; a rerun reuses finished cases), each row's model values;
3. `bmes_fem.validation.crossval_fit` (no I/O): a surrogate per row, the likelihoods, the all-data fit and a fold
   per study by MCMC, the posterior predictive of each row;
4. `bmes_fem.validation.crossval_report`: the tables, the forest plot and calibrated_defaults.yaml in
   ``<results-dir>/validation_cv/``.

Method: docs/validation.md, Cross-validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bmes_fem.studies.executor import Executor
from bmes_fem.validation.crossval_file import CrossValidationSpec, check_corners
from bmes_fem.validation.crossval_fit import CrossValidated, cross_validate
from bmes_fem.validation.crossval_report import report_markdown, write_report
from bmes_fem.validation.crossval_runs import Row, plan_row, run_rows
from bmes_fem.validation.measurements import Validation
from bmes_fem.validation.runs import Runs

REPORT_DIR = "validation_cv"


def plan(spec: CrossValidationSpec, validations: Sequence[Validation]) -> list[Row]:
    """Every run config of every row of the checked ``validations`` built and validated; ConfigError (one line)
    before any run."""
    check_corners(spec, validations)
    return [plan_row(spec, v) for v in validations]


@dataclass(frozen=True)
class CrossValidationRun:
    """A cross-validation that ran: its result (None if interrupted), its runs and the report it wrote."""

    result: CrossValidated | None
    runs: Runs
    written: list[Path] = field(default_factory=list)
    report: str = ""

    @property
    def exit_code(self) -> int:
        """130 if interrupted (nothing written), 1 if a run failed, else 0 (a value outside its interval is a result)."""
        return self.runs.run.exit_code


def run_cross_validation(spec: CrossValidationSpec, rows: Sequence[Row], executor: Executor, results_dir: Path) -> CrossValidationRun:
    """The rows' runs, the fits and (unless interrupted) the report in ``<results-dir>/validation_cv/``."""
    runs, values = run_rows(spec, rows, executor, Path(results_dir))
    if runs.interrupted:
        return CrossValidationRun(None, runs)
    result = cross_validate(spec, values)
    report = report_markdown(result, runs.run.folder)
    return CrossValidationRun(result, runs, write_report(Path(results_dir) / REPORT_DIR, result, report), report)
