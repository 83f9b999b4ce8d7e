"""``bmes study STUDY.yaml [--jobs N] [--executor local|dask] [--scheduler ADDRESS] [--results-dir DIR]``.

`register` adds the subcommand to the ``bmes`` parser (the study stack is imported only when it runs);
Bad input is a one-line ConfigError before any case runs. Exit code: 0; 1 if a case
failed; 130 if interrupted (the table of the finished cases is written; rerun to resume).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bmes_fem.errors import BmesError, ConfigError

if TYPE_CHECKING:
    from bmes_fem.studies.executor import Executor
    from bmes_fem.studies.runner import StudyRun


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``study`` to the ``bmes`` sub-commands; its handler returns the exit code."""
    parser = commands.add_parser(
        "study",
        help="run a study of many cases (named cases, grid, one-at-a-time, Morris, Sobol', mesh series)",
        description="Run the cases of a study file not finished yet, each in its own process, then write "
        "<results-dir>/<study>/table.csv, table.md and plots/. See docs/studies.md.",
    )
    parser.add_argument("study", type=Path, help="YAML study file, e.g. configs/studies/oat_lesion.yaml")
    add_executor_options(parser, "write to DIR/<study name>/ (default results)")
    parser.set_defaults(handler=study_command)


def add_executor_options(parser: argparse.ArgumentParser, results_help: str) -> None:
    """``--jobs``, ``--executor``, ``--scheduler`` and ``--results-dir``: the options of every command that runs many cases."""
    parser.add_argument("--jobs", type=int, default=1, help="cases at a time: local processes, or workers of a Dask LocalCluster")
    parser.add_argument("--executor", choices=("local", "dask"), default="local", help="where cases run (default local)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="with --executor dask: a running scheduler (tcp://host:8786) instead of a LocalCluster")
    parser.add_argument("--results-dir", type=Path, default=Path("results"), help=results_help)


def executor_from_args(args: argparse.Namespace) -> Executor:
    """The executor the options of `add_executor_options` ask for; ConfigError/BmesError naming the bad option."""
    _check(args)
    return _executor(args)


def _check(args: argparse.Namespace) -> None:
    if args.jobs < 1:
        raise ConfigError(f"--jobs = {args.jobs}: expected a whole number of cases at a time, at least 1")
    if args.scheduler and args.executor != "dask":
        raise ConfigError(f"--scheduler {args.scheduler}: a scheduler address needs --executor dask")


def _executor(args: argparse.Namespace) -> Executor:
    from bmes_fem.studies.executor import DaskExecutor, LocalExecutor

    if args.executor == "local":
        return LocalExecutor(args.jobs)
    if not args.scheduler:
        return DaskExecutor.local(args.jobs)
    try:
        return DaskExecutor.connect(args.scheduler)
    except (OSError, TimeoutError, ValueError) as err:
        raise BmesError(f"--scheduler {args.scheduler}: cannot connect to a Dask scheduler ({err})") from None


def _report(run: StudyRun) -> None:
    from bmes_fem.studies.table import status_counts

    counts = ", ".join(f"{n} {status}" for status, n in status_counts(run.rows).items())
    print(f"study {run.folder.name}: {len(run.rows)} cases ({counts}; {run.reused} reused) in {run.wall_time_s:.0f} s")
    for path in run.written:
        print(f"  {path}")
    if run.interrupted:
        print(f"interrupted: the table holds the finished cases; run the same command again to resume ({run.folder})")
    elif run.exit_code:
        print(f"some cases failed: see the error column of {run.folder / 'table.md'} and {run.folder / 'logs'}/")


def study_command(args: argparse.Namespace) -> int:
    """Check the arguments and the study file, run it, print where the results are; the exit code."""
    from bmes_fem.studies.runner import run_study
    from bmes_fem.studies.study import load_study

    _check(args)
    study = load_study(args.study)
    with _executor(args) as executor:
        run = run_study(study, executor, args.results_dir)
    _report(run)
    return run.exit_code
