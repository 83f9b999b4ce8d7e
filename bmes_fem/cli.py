"""Command line ``bmes`` (a thin layer over the Python API); ``bmes COMMAND -h`` explains each command.

    bmes run CONFIG [--set KEY=VALUE]   solve a case, write results/<case>/
    bmes mesh CONFIG                    mesh only: cells, volumes and quality per region (JSON)
    bmes render CASE_DIR [--view ...]   figures of a finished case (off-screen)
    bmes show CASE_DIR                  an interactive window, when a display exists
    bmes compare-render A B             side-by-side panels and the difference B - A
    bmes verify [CONFIG ...]            the verification cases on their mesh series: errors, rates
    bmes study STUDY.yaml               many cases: named cases, grids, sensitivities, mesh series

Progress goes to standard output; a bad input is one line on standard error and exit code 1;
Ctrl-C stops with "interrupted" and exit code 130, leaving no partial results folder.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from bmes_fem import interrupt
from bmes_fem.errors import BmesError, ConfigError

# Only the standard library and bmes_fem's light modules above: `main` installs the Ctrl-C handler before
# anything heavy (MPI, the config stack, the solver) is imported.
EXIT_ERROR = 1  # Ctrl-C: bmes_fem.interrupt.EXIT_INTERRUPTED (130)
#: modules that add their own sub-command with ``register(commands)``
#: commands that run cases in child processes and stop them themselves on Ctrl-C (bmes_fem.studies.executor):
#: the watchdog leaves them the executor's stop time, and as long again to write the table of the finished cases
CASE_RUNNERS = ("study", "validate", "calibrate")
COMMAND_MODULES: tuple[str, ...] = ("bmes_fem.verification.command", "bmes_fem.studies.command", "bmes_fem.validation.command")


def _overrides(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs (VALUE read as YAML: ``28 mmHg``, ``0.3``, ``[1, 2, 3]``) as dotted overrides."""
    import yaml

    overrides = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE with a dotted key, e.g. --set fluid.target_pressure='28 mmHg'")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def _key_figures(summary: dict) -> str:
    pressure, mechanics = summary.get("pressure", {}), summary.get("mechanics", {})
    parts = [
        f"{label} {pressure[key]:.2f} mmHg"
        for label, key in (("lesion peak", "p_lesion_peak_mmHg"), ("lesion mean", "p_lesion_mean_mmHg"),
                           ("healthy mean", "p_healthy_trabecular_mean_mmHg"))
        if pressure.get(key) is not None
    ]  # fmt: skip
    if mechanics.get("risk_index_max") is not None:
        parts.append(f"max R {mechanics['risk_index_max']:.3g}")
    return ", ".join(parts)


def _run(args: argparse.Namespace) -> None:
    from bmes_fem.config.loader import load_config

    overrides = _overrides(args.set)
    if args.results_dir is not None:
        overrides["output.results_dir"] = str(args.results_dir)
    config = load_config(args.config, overrides)  # a bad config is refused before the solver stack is imported
    from mpi4py import MPI

    from bmes_fem.api import run_case
    from bmes_fem.output.progress import LOG

    result = run_case(config, MPI.COMM_WORLD)
    LOG.info("%s", _key_figures(result.summary))
    if args.json and MPI.COMM_WORLD.rank == 0:
        print(json.dumps({"case_dir": str(result.case_dir), **result.summary}, indent=2))


def _mesh(args: argparse.Namespace) -> None:
    from mpi4py import MPI

    from bmes_fem.config.loader import load_config
    from bmes_fem.mesh.quality import mesh_report

    report = mesh_report(load_config(args.config), MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps(report, indent=2))


def _render(args: argparse.Namespace) -> None:
    from bmes_fem.view import render
    from bmes_fem.view.views import VIEWS

    for path in render.render_case(args.case_dir, args.view or VIEWS, args.camera or ("anterior",)):
        print(path)


def _show(args: argparse.Namespace) -> None:
    from bmes_fem.view.render import show_case

    show_case(args.case_dir, args.view, args.camera)


def _compare(args: argparse.Namespace) -> None:
    from bmes_fem.view.compare import compare_render

    output = args.output or Path(f"compare_{args.case_a.name}_{args.case_b.name}.png")
    print(compare_render(args.case_a, args.case_b, output, args.variable))


def _command(commands, name: str, handler: Callable[[argparse.Namespace], None], common, **kwargs) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, parents=[common], **kwargs)
    parser.set_defaults(handler=handler)
    return parser


def parser() -> argparse.ArgumentParser:
    """The ``bmes`` argument parser with every sub-command."""
    from bmes_fem import __version__
    from bmes_fem.view.variables import VARIABLES
    from bmes_fem.view.views import CAMERAS, VIEWS

    common = argparse.ArgumentParser(add_help=False)
    verbosity = common.add_mutually_exclusive_group()
    for flags, level, text in ((("-q", "--quiet"), -1, "print warnings and errors only"), (("-v", "--verbose"), 1, "print solver details too")):
        verbosity.add_argument(*flags, action="store_const", const=level, dest="verbosity", default=argparse.SUPPRESS, help=text)
    main = argparse.ArgumentParser(prog="bmes", parents=[common], description="Poroelastic FE model of bone marrow oedema (BMES).")
    main.add_argument("--version", action="version", version=f"bmes_fem {__version__}")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _command(commands, "run", _run, common, help="solve a case and write results/<case>/",
                   description="Mesh, solve and post-process a case; write results/<case>/ (atomically).")  # fmt: skip
    run.add_argument("config", type=Path, help="YAML case file, e.g. configs/femoral_head_bmes.yaml")
    run.add_argument("--results-dir", type=Path, help="write to DIR/<case>/ instead of the config's output.results_dir")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter by dotted path, e.g. --set lesion_effects.venous_outflow_factor=0.2 (repeatable)")  # fmt: skip
    run.add_argument("--json", action="store_true", help="print the whole summary as JSON at the end")

    mesh = _command(commands, "mesh", _mesh, common, help="mesh a case and print its quality report (JSON)",
                    description="Build the configured mesh only; print cells, vertices, volume per region and quality.")  # fmt: skip
    mesh.add_argument("config", type=Path, help="YAML case file")

    render = _command(commands, "render", _render, common, help="render figures of a finished case (off-screen PNG)",
                      description="Render named views of a finished case folder into CASE_DIR/figures/.")  # fmt: skip
    render.add_argument("case_dir", type=Path, help="a folder written by `bmes run`, e.g. results/femoral_head_bmes")
    render.add_argument("--view", action="append", choices=VIEWS, help="view to render (repeatable; default: all)")
    render.add_argument("--camera", action="append", choices=tuple(CAMERAS), help="camera for the 3D views (repeatable; default: anterior)")

    show = _command(commands, "show", _show, common, help="open an interactive 3D window (needs a display)",
                    description="Open one view of a finished case in an interactive window.")  # fmt: skip
    show.add_argument("case_dir", type=Path, help="a folder written by `bmes run`")
    show.add_argument("--view", default="isosurfaces", choices=VIEWS, help="view to show (default: isosurfaces)")
    show.add_argument("--camera", default="anterior", choices=tuple(CAMERAS), help="camera preset (default: anterior)")

    compare = _command(commands, "compare-render", _compare, common, help="compare two finished cases side by side",
                       description="A | B | B - A of one variable on the coronal slice through A's lesion, shared colour limits.")  # fmt: skip
    compare.add_argument("case_a", type=Path, help="reference case folder (A)")
    compare.add_argument("case_b", type=Path, help="case folder compared with A (B)")
    compare.add_argument("--variable", default="pressure", choices=sorted(VARIABLES), help="variable to compare (default: pressure)")
    compare.add_argument("-o", "--output", type=Path, help="PNG path (default compare_<A>_<B>.png)")

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return main


def _stop(guard: interrupt.Guard, exit_process: bool) -> int:
    """End an interrupted command: flush standard output, then `Guard.exit_now` (one line, exit code 130) in the
    ``bmes`` process; called in-process (``exit_process`` false), print the line and return 130."""
    sys.stdout.flush()
    if exit_process:
        guard.exit_now()
    if guard.announce:
        print(interrupt.MESSAGE, file=sys.stderr)
    return interrupt.EXIT_INTERRUPTED


def main(argv: list[str] | None = None, *, exit_process: bool = False) -> int:
    """Run ``bmes``: exit code 0, 1 for a BmesError (one line on standard error, rank 0) or 130 for Ctrl-C.

    The Ctrl-C handler (bmes_fem.interrupt) is installed first, so a SIGINT during the imports, MPI start-up
    or any later stage ends the same way; any exception after a SIGINT counts as the interrupt. With
    ``exit_process`` (the ``bmes`` executable, `command`), once the interrupted command has cleaned up the process
    ends here (``os._exit(130)``): no finaliser, PETSc or MPI finalisation runs, which could wait for ever on a rank
    still inside a collective (mpiexec then ends the other ranks and returns 130). Called from Python, it returns 130.
    """
    with interrupt.guard() as guard:
        try:
            args = parser().parse_args(argv)
            from mpi4py import MPI

            from bmes_fem.output.progress import configure_logging

            guard.announce = MPI.COMM_WORLD.rank == 0
            if args.command in CASE_RUNNERS:
                from bmes_fem.studies.executor import STOP_WAIT_S

                guard.grace_s = 2 * STOP_WAIT_S
            configure_logging(getattr(args, "verbosity", 0), MPI.COMM_WORLD)  # -q / -v before or after the command
            interrupt.checkpoint()  # a SIGINT that came during the imports
            result = args.handler(args)
        except BmesError as err:
            if not guard.received:
                if guard.announce:
                    print(f"bmes: error: {err}", file=sys.stderr)
                return EXIT_ERROR
            return _stop(guard, exit_process)
        except BaseException as err:  # KeyboardInterrupt, or what a library made of it (a PETSc error, an ImportError)
            if not (guard.received or isinstance(err, KeyboardInterrupt)):
                raise
            # here, while the traceback holds its frames: a writer freed now would write into the deleted folder
            return _stop(guard, exit_process)
        if guard.received:  # a SIGINT after the last checkpoint: the case is complete, the run stops all the same
            return _stop(guard, exit_process)
        return result if isinstance(result, int) else 0


def command() -> None:
    """The ``bmes`` executable (and ``python -m bmes_fem.cli``): `main` that ends an interrupted process at once."""
    sys.exit(main(sys.argv[1:], exit_process=True))


if __name__ == "__main__":
    command()
