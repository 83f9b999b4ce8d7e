"""``bmes calibrate``: fit model parameters to measured pressures through a surrogate of the model.

The stages, each in its own module so that another procedure (a cross-validation over the same design) reuses them:

1. `bmes_fem.validation.calibration_file`: the file, checked into a `CalibrationProblem` before any case runs;
   the design: n points t in [0, 1]^k (scipy.stats.qmc Latin hypercube or scrambled Sobol', seeded) and the 2^k
   corners of the box; parameter x_i = min_i + t_i (max_i - min_i).
2. `bmes_fem.validation.design_runs`: each design point a case of the study ``<name>_design`` (bmes_fem.studies),
   and the outputs read from the finished cases.
3. `bmes_fem.validation.fit` (no I/O): a surrogate per output (bmes_fem.validation.surrogate) with its
   leave-one-out error; the best fit by least squares, the posterior by MCMC (emcee) with a Gaussian likelihood,
   uniform priors on the bounds and the surrogate's variance added, credible bands of every output
   (bmes_fem.validation.posterior).
4. Here: the fitted config (the base with the best-fit values) is run (study ``<name>_fitted``), so the
   surrogate's prediction at the best fit is checked against the model.
5. `bmes_fem.validation.calibration_report`: tables, figures and fitted.yaml in ``<results-dir>/<name>/``.

Method: docs/validation.md §4.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bmes_fem.errors import BmesError
from bmes_fem.studies.executor import Executor
from bmes_fem.validation.calibration_file import CalibrationProblem, minimum_design_points
from bmes_fem.validation.calibration_report import report_markdown, write_report
from bmes_fem.validation.design_runs import read_outputs, run_design
from bmes_fem.validation.fit import Calibrated, calibrate
from bmes_fem.validation.runs import Runs, run_configs

FITTED_CASE = "fitted"  # the label of the run of the fitted config in its study


@dataclass(frozen=True)
class CalibrationRun:
    """A calibration that ran: its fit (None if the design was interrupted), its runs and the report it wrote."""

    calibrated: Calibrated | None
    design_runs: Runs
    check_runs: Runs | None
    written: list[Path] = field(default_factory=list)
    report: str = ""

    @property
    def interrupted(self) -> bool:
        return self.design_runs.interrupted or (self.check_runs is not None and self.check_runs.interrupted)

    @property
    def exit_code(self) -> int:
        """130 if interrupted, 1 if a design case or the check run failed, else 0."""
        if self.interrupted:
            return 130
        return max(self.design_runs.run.exit_code, self.check_runs.run.exit_code if self.check_runs else 0)


def run_calibration(problem: CalibrationProblem, executor: Executor, results_dir: Path) -> CalibrationRun:
    """Design runs, surrogate, fit, posterior, the fitted config and its run; the report in ``<results-dir>/<name>/``."""
    results_dir = Path(results_dir)
    design_runs, design, outputs = run_design(problem, executor, results_dir)
    if design_runs.interrupted:
        return CalibrationRun(None, design_runs, None)
    usable = np.all(np.isfinite(outputs), axis=1)
    if usable.sum() < minimum_design_points(len(problem.parameters)):
        raise BmesError(f"{problem.path}: only {int(usable.sum())} of {len(problem.design)} design runs gave every output; see {design_runs.run.folder}/table.md")
    calibrated = calibrate(problem, design[usable], outputs[usable])
    fitted = problem.config_at(calibrated.posterior.best, case=problem.fitted_study)
    check_runs = run_configs(problem.fitted_study, {FITTED_CASE: fitted}, executor, results_dir, problem.path)
    if check_runs.interrupted:
        return CalibrationRun(calibrated, design_runs, check_runs)
    fitted_folder = check_runs.folders[FITTED_CASE]
    if fitted_folder is not None:
        calibrated = replace(calibrated, check=read_outputs(problem, fitted_folder))
    report = report_markdown(calibrated, design_runs.run.folder, fitted_folder)
    written = write_report(results_dir / problem.name, calibrated, fitted, report)
    return CalibrationRun(calibrated, design_runs, check_runs, written, report)


def unreported_runs(problem: CalibrationProblem, results_dir: Path) -> str:
    """One line for a calibration that stopped before writing its report: the run folders it left, which a rerun of
    the same command reuses (every finished case is kept)."""
    folders = [str(Path(results_dir) / study) for study in (problem.design_study, problem.fitted_study) if (Path(results_dir) / study).is_dir()]
    kept = f"the finished runs in {' and '.join(folders)} are kept, and running the same command again reuses them" if folders else "no run finished"
    return f"calibration {problem.name}: no report written to {Path(results_dir) / problem.name}; {kept}"
