"""``bmes verify [CONFIG ...]``: the verification suite from the command line (bmes_fem.verification.suite, imported when
the command runs: ``bmes --help`` or another command does not load the solver stack)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _verify(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from bmes_fem.output.progress import LOG
    from bmes_fem.verification.suite import DEFAULT_CASES, markdown_table, run_suite

    rows = run_suite(args.configs or [DEFAULT_CASES], args.results_dir, args.levels, MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        print(markdown_table(rows), end="")
    LOG.info("tables in %s", args.results_dir)
    return 0 if all(row.status in ("", "ok") for row in rows) else 1


def register(commands) -> None:
    verify = commands.add_parser(
        "verify", help="run the verification cases on three meshes: errors and observed rates",
        description="Run each verification config (default: configs/verification/) on its mesh levels; print and write "
        "the table of errors against the closed forms and the observed convergence rates. Exit code 1 if a case "
        "misses its tolerance or rate.",
    )  # fmt: skip
    verify.add_argument("configs", nargs="*", type=Path, help="verification configs or folders (default: configs/verification/)")
    verify.add_argument("--levels", nargs="+", type=int, help="mesh levels (default: each config's verification.levels)")
    verify.add_argument("--results-dir", type=Path, default=Path("results/verification"), help="where the tables go")
    verify.set_defaults(handler=_verify)
