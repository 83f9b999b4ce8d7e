"""Command line: ``bmes run CONFIG`` (a thin layer over :func:`bmes_fem.run_case`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mpi4py import MPI

from bmes_fem.errors import BmesError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bmes", description="Poroelastic FE model of bone marrow oedema (BMES).")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="solve a case and write results/<case>/")
    run.add_argument("config", type=Path, help="YAML case file, e.g. configs/femoral_head_bmes.yaml")
    run.add_argument("--results-dir", type=Path, help="write to DIR/<case>/ instead of the config's output.results_dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    comm = MPI.COMM_WORLD
    from bmes_fem.api import run_case
    from bmes_fem.config import load_config

    try:
        config = load_config(args.config)
        if args.results_dir is not None:
            config = config.model_copy(update={"output": config.output.model_copy(update={"results_dir": args.results_dir})})
        result = run_case(config, comm)
    except BmesError as err:
        if comm.rank == 0:
            print(f"bmes: error: {err}", file=sys.stderr)
        return 1
    if comm.rank == 0:
        print(json.dumps({"case_dir": str(result.case_dir), **result.summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
