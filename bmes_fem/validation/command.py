"""``bmes validate [FILE|FOLDER ...] [--cross-validate] [--spec SPEC.yaml]`` and ``bmes calibrate CALIBRATION.yaml``,
with the executor options of ``bmes study`` (``--jobs``, ``--executor local|dask``, ``--scheduler``) and
``--results-dir``. ``--spec``: the cross-validation spec (default configs/validation/cross_validation.yaml), which
also says which rows of the plain table depend on calibrated parameters.

`register` adds both sub-commands to the ``bmes`` parser (the model stack is imported only when one runs).
Bad input is one line (ConfigError)
before any case runs. Exit code: 0; 1 if a case failed; 130 if interrupted (finished cases are kept: run the
same command again to resume; no report is written, and ``bmes calibrate`` names the run folders it left).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bmes_fem.studies.command import add_executor_options, executor_from_args

if TYPE_CHECKING:
    from bmes_fem.validation.crossval_file import CrossValidationSpec
    from bmes_fem.validation.measurements import Validation


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``validate`` and ``calibrate`` to the ``bmes`` sub-commands; each handler returns the exit code."""
    validate = commands.add_parser(
        "validate", help="compare the model with published measurements: intraosseous pressures, strains (table, forest plot)",
        description="Run every validation file (default: configs/validation/), compare each model value with its "
        "measured interval, print the table and write <results-dir>/validation/{validation.csv,validation.md,forest.png}; "
        "the runs go to <results-dir>/validation_cases/. See docs/validation.md.",
    )  # fmt: skip
    validate.add_argument("files", nargs="*", type=Path, help="validation files or folders (default: configs/validation/)")
    validate.add_argument("--cross-validate", action="store_true",
                          help="leave-one-source-out: fit the spec's parameters on every study but one, predict the rows of the one held out; "
                          "write <results-dir>/validation_cv/ (runs in <results-dir>/validation_cv_cases/)")
    validate.add_argument("--spec", type=Path, metavar="SPEC.yaml",
                          help="cross-validation spec: fitted parameters, priors, design, surrogate, sampler (default configs/validation/cross_validation.yaml)")
    add_executor_options(validate, "results go under DIR (default results)")
    validate.set_defaults(handler=validate_command)

    calibrate = commands.add_parser(
        "calibrate", help="fit parameters to measured pressures: surrogate, least squares, MCMC posterior",
        description="Run a design over the parameter bounds, fit a surrogate (Gaussian process of the output or of its logarithm, or quadratic), find the "
        "least-squares best fit and the posterior (emcee), run the fitted config, and write <results-dir>/<name>/ "
        "(report, corner plot, predictions, fitted config). The design runs go to <results-dir>/<name>_design/. "
        "See docs/validation.md.",
    )  # fmt: skip
    calibrate.add_argument("calibration", type=Path, help="YAML calibration file, e.g. configs/calibration/bmes_range.yaml")
    add_executor_options(calibrate, "results go under DIR (default results)")
    calibrate.set_defaults(handler=calibrate_command)


def validate_command(args: argparse.Namespace) -> int:
    """Check the spec and every validation file, run the cases, print the table; the exit code."""
    from bmes_fem.validation.crossval_file import DEFAULT_SPEC, load_spec
    from bmes_fem.validation.validate import DEFAULT_FILES, load_validations, markdown_text, run_validation

    files = args.files or [DEFAULT_FILES]
    validations = load_validations(files)  # every file and the spec checked before an executor starts
    spec = load_spec(args.spec or DEFAULT_SPEC, validations)
    if args.cross_validate:
        return _cross_validate(spec, validations, args)
    with executor_from_args(args) as executor:
        result = run_validation(validations, executor, args.results_dir, spec)
    if result.runs.interrupted:
        print(f"interrupted: finished cases are kept in {result.runs.run.folder}; run the same command again to resume")
        return result.exit_code
    print(markdown_text(result.comparisons), end="")
    for path in result.written:
        print(f"  {path}")
    return result.exit_code


def _cross_validate(spec: CrossValidationSpec, validations: list[Validation], args: argparse.Namespace) -> int:
    """Plan every row (all checked before an executor starts), run, fit, print the report; the exit code."""
    from bmes_fem.validation.crossval import plan, run_cross_validation

    rows = plan(spec, validations)
    with executor_from_args(args) as executor:
        result = run_cross_validation(spec, rows, executor, args.results_dir)
    if result.result is None:
        print(f"interrupted: finished cases are kept in {result.runs.run.folder}; run the same command again to resume")
        return result.exit_code
    print(result.report, end="")
    for path in result.written:
        print(f"  {path}")
    return result.exit_code


def calibrate_command(args: argparse.Namespace) -> int:
    """Check the calibration file (and its measurement points in the mesh), run the design and the fit; the exit code.

    A calibration that stops before its report (interrupted, a stage failed) says so in one line naming the run
    folders it left, which the same command reuses when run again."""
    from bmes_fem.validation.calibration import run_calibration, unreported_runs
    from bmes_fem.validation.calibration_file import load_calibration

    problem = load_calibration(args.calibration)
    with executor_from_args(args) as executor:
        try:
            result = run_calibration(problem, executor, args.results_dir)
        except BaseException:
            print(unreported_runs(problem, args.results_dir), file=sys.stderr)
            raise
    if result.interrupted:
        print(f"interrupted: {unreported_runs(problem, args.results_dir)}")
        return result.exit_code
    print(result.report, end="")
    for path in result.written:
        print(f"  {path}")
    return result.exit_code
