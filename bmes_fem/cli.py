"""Command line ``bmes`` (a thin layer over the Python API):

    bmes run CONFIG                     solve a case, write results/<case>/
    bmes mesh CONFIG                    mesh only: cells, volumes and quality per region (JSON)
    bmes render CASE_DIR [--view ...]   figures of a finished case (off-screen)
    bmes show CASE_DIR                  an interactive window, when a display exists
    bmes compare-render A B             side-by-side panels and the difference B - A
"""

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
    mesh = commands.add_parser("mesh", help="mesh a case and print its quality report")
    mesh.add_argument("config", type=Path)
    render = commands.add_parser("render", help="render the figures of a finished case")
    render.add_argument("case_dir", type=Path)
    render.add_argument("--view", action="append", help="cutaway, slices, isosurfaces, clusters, deformed (repeatable)")
    render.add_argument("--camera", action="append", help="anterior, lateral, superior (repeatable)")
    show = commands.add_parser("show", help="open an interactive window (needs a display)")
    show.add_argument("case_dir", type=Path)
    show.add_argument("--view", default="isosurfaces")
    show.add_argument("--camera", default="anterior")
    compare = commands.add_parser("compare-render", help="compare two finished cases side by side")
    compare.add_argument("case_a", type=Path)
    compare.add_argument("case_b", type=Path)
    compare.add_argument("--variable", default="pressure")
    compare.add_argument("-o", "--output", type=Path, help="PNG path (default compare_<A>_<B>.png)")
    return parser


def _run(args: argparse.Namespace) -> None:
    from bmes_fem.api import run_case
    from bmes_fem.config.loader import load_config

    config = load_config(args.config)
    if args.results_dir is not None:
        config = config.model_copy(update={"output": config.output.model_copy(update={"results_dir": args.results_dir})})
    result = run_case(config, MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps({"case_dir": str(result.case_dir), **result.summary}, indent=2))


def _mesh(args: argparse.Namespace) -> None:
    from bmes_fem.config.loader import load_config
    from bmes_fem.mesh.quality import mesh_report

    report = mesh_report(load_config(args.config), MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps(report, indent=2))


def _render(args: argparse.Namespace) -> None:
    from bmes_fem.view import render

    for path in render.render_case(args.case_dir, args.view or render.VIEWS, args.camera or ("anterior",)):
        print(path)


def _show(args: argparse.Namespace) -> None:
    from bmes_fem.view.render import show_case

    show_case(args.case_dir, args.view, args.camera)


def _compare(args: argparse.Namespace) -> None:
    from bmes_fem.view.compare import compare_render

    output = args.output or Path(f"compare_{args.case_a.name}_{args.case_b.name}.png")
    print(compare_render(args.case_a, args.case_b, output, args.variable))


COMMANDS = {"run": _run, "mesh": _mesh, "render": _render, "show": _show, "compare-render": _compare}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except BmesError as err:
        if MPI.COMM_WORLD.rank == 0:
            print(f"bmes: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
