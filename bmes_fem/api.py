"""The one run driver: ``run_case(config) -> Result``, used by the CLI, the tests, the studies and the benchmarks.

A case is a road with one fork, the analysis: mesh -> problem (steady or transient) -> states ->
outputs. The problem yields its solved states; every output (bmes_fem.output.outputs) sees each state
(``on_state``), then the analysis of the last state (``finish``), and adds its entries to the summary.
Everything is written into a temporary folder that becomes ``results/<case>/`` only when complete; when
the run fails or is interrupted, every output is closed (``close``) before that folder is deleted.
"""

from __future__ import annotations

from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path

from mpi4py import MPI

from bmes_fem import interrupt
from bmes_fem.config.case import Config
from bmes_fem.config.loader import load_config
from bmes_fem.mesh.build import build_domain
from bmes_fem.mesh.domain import Domain
from bmes_fem.output.base import Output
from bmes_fem.output.files import RESOLVED_CONFIG_FILE, SUMMARY_FILE
from bmes_fem.output.io import atomic_directory, write_json, write_text
from bmes_fem.output.outputs import case_outputs
from bmes_fem.output.progress import LOG, Progress
from bmes_fem.post.analysis import analyse
from bmes_fem.result import Result
from bmes_fem.solve.course import CourseBiot
from bmes_fem.solve.state import State
from bmes_fem.solve.steady import SteadyBiot
from bmes_fem.solve.transient import TransientBiot

PROBLEMS = {"steady": SteadyBiot, "transient": TransientBiot, "course": CourseBiot}


def build_problem(domain: Domain, config: Config) -> SteadyBiot | TransientBiot | CourseBiot:
    """The problem of ``config.analysis`` on ``domain``; it yields its states from ``states()``."""
    return PROBLEMS[config.analysis](domain, config)


def _iterations(state: State) -> str:
    solves = ", ".join(f"{s.iterations} its" for s in state.solves)
    return f"{state.label}, {solves}"


def _close(outputs: list[Output]) -> None:
    """Close every output (collective), so that no writer is left open to write into the deleted folder when it is
    freed; a Ctrl-C meanwhile is raised after the last one. After a Ctrl-C nothing is closed: the command ends
    the process without freeing anything (bmes_fem.cli.main), and a rank may be stuck in another collective."""
    if interrupt.received():
        return
    with interrupt.deferred():
        for output in outputs:
            output.close()


def run_case(
    config: Config | str | Path,
    comm: MPI.Comm = MPI.COMM_WORLD,
    extra_outputs: list[Output] | None = None,
) -> Result:
    """Mesh, solve, post-process and write ``results/<case>/`` atomically; return the summary (collective).

    ``config``: a Config or the path of a YAML case file. ``extra_outputs`` are called after the
    default outputs of the case.
    """
    if not isinstance(config, Config):
        config = load_config(config)
    progress = Progress(comm)
    LOG.info("case %s: %s analysis on %d MPI rank(s)", config.case, config.analysis, comm.size)
    summary: dict = {"bmes_fem_version": version("bmes_fem"), "case": config.case, "analysis": config.analysis, "mpi_ranks": comm.size}
    with progress.stage("mesh"):
        domain = build_domain(config, comm)
    with progress.stage("setup"):
        problem = build_problem(domain, config)
    with atomic_directory(config.case_dir, comm) as folder, ExitStack() as closing:
        write_text(folder / RESOLVED_CONFIG_FILE, config.to_yaml(), comm)
        outputs = case_outputs(config, folder, problem) + list(extra_outputs or [])
        closing.callback(_close, outputs)  # also on failure, before atomic_directory deletes the folder
        with progress.stage("solve"):
            description = "time steps" if problem.state_count > 1 else "steady state"
            for state in progress.track(problem.states(), problem.state_count, description, _iterations):
                for output in outputs:
                    output.on_state(state)
        with progress.stage("analysis"):
            final = analyse(state, config)
        for output in outputs:
            with progress.stage(output.name):
                summary.update(output.finish(final, folder))
        summary["wall_time_s"] = {**progress.wall_time_s, "total": progress.total_s()}
        write_json(folder / SUMMARY_FILE, summary, comm)
    LOG.info("results in %s", config.case_dir)
    return Result(config, config.case_dir, summary)
