"""``bmes validate [FILE|FOLDER ...]`` and ``bmes calibrate CALIBRATION.yaml``, with the executor options of
``bmes study`` (``--jobs``, ``--executor local|dask``, ``--scheduler``) and ``--results-dir``.

`register` adds both sub-commands to the ``bmes`` parser (the model stack is imported only when one runs).
Bad input is one line (ConfigError)
before any case runs. Exit code: 0; 1 if a case failed; 130 if interrupted (finished cases are kept: run the
same command again to resume; no report is written, and ``bmes calibrate`` names the run folders it left).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bmes_fem.studies.command import add_executor_options, executor_from_args


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``validate`` and ``calibrate`` to the ``bmes`` sub-commands; each handler returns the exit code."""
    validate = commands.add_parser(
        "validate", help="compare the model with published intraosseous pressures (table, forest plot)",
        description="Run every validation file (default: configs/validation/), compare each model value with its "
        "measured interval, print the table and write <results-dir>/validation/{validation.csv,validation.md,forest.png}; "
        "the runs go to <results-dir>/validation_cases/. See docs/validation.md.",
    )  # fmt: skip
    validate.add_argument("files", nargs="*", type=Path, help="validation files or folders (default: configs/validation/)")
    add_executor_options(validate, "results go under DIR (default results)")
    validate.set_defaults(handler=validate_command)

    calibrate = commands.add_parser(
        "calibrate", help="fit parameters to measured pressures: surrogate, least squares, MCMC posterior",
        description="Run a design over the parameter bounds, fit a surrogate (Gaussian process or quadratic), find the "
        "least-squares best fit and the posterior (emcee), run the fitted config, and write <results-dir>/<name>/ "
        "(report, corner plot, predictions, fitted config). The design runs go to <results-dir>/<name>_design/. "
        "See docs/validation.md.",
    )  # fmt: skip
    calibrate.add_argument("calibration", type=Path, help="YAML calibration file, e.g. configs/calibration/bmes_range.yaml")
    add_executor_options(calibrate, "results go under DIR (default results)")
    calibrate.set_defaults(handler=calibrate_command)


def validate_command(args: argparse.Namespace) -> int:
    """Check every validation file, run the cases, print the table; the exit code."""
    from bmes_fem.validation.validate import DEFAULT_FILES, load_validations, markdown_text, run_validation

    files = args.files or [DEFAULT_FILES]
    load_validations(files)  # every file checked before an executor starts
    with executor_from_args(args) as executor:
        result = run_validation(files, executor, args.results_dir)
    if result.runs.interrupted:
        print(f"interrupted: finished cases are kept in {result.runs.run.folder}; run the same command again to resume")
        return result.exit_code
    print(markdown_text(result.comparisons), end="")
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
