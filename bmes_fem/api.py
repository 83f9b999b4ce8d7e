"""The one public entry: ``run_case(config) -> Result``, used by the CLI, the tests and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np
from dolfinx import fem
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.config.loader import load_config
from bmes_fem.mesh.build import build_domain
from bmes_fem.mesh.quality import mesh_quality
from bmes_fem.output.io import FIELDS_FILE, atomic_directory, write_json, write_text, write_vtu
from bmes_fem.output.report import write_report
from bmes_fem.output.timeseries import (
    PROBE_FIGURE,
    PROBE_TABLE,
    Snapshots,
    plot_probe_pressure,
    probe_summary,
    write_probe_table,
)
from bmes_fem.post.fields import CellFields, cell_fields, mechanics_summary, pressure_summary
from bmes_fem.solve.linear import SolveStats
from bmes_fem.solve.steady import SteadySolution, solve_steady
from bmes_fem.solve.transient import TransientBiot
from bmes_fem.units import PA_PER_MMHG

SUMMARY_FILE = "summary.json"
RESOLVED_CONFIG_FILE = "config.resolved.yaml"


@dataclass
class Result:
    """A finished case: its resolved config, where it was written, and the summary scalars."""

    config: Config
    case_dir: Path
    summary: dict


@dataclass
class _StageTimer:
    wall_time_s: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, stage: str, comm: MPI.Comm) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.wall_time_s[stage] = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)


def _state_summary(solution: SteadySolution, cells: CellFields, config: Config) -> dict:
    mesh = solution.domain.mesh
    return {
        "mesh": {
            "cells": mesh.topology.index_map(3).size_global,
            "vertices": mesh.topology.index_map(0).size_global,
            "dofs_pressure": solution.solves[0].dofs,
            "dofs_displacement": solution.solves[1].dofs,
        },
        "mesh_quality": mesh_quality(solution.domain),
        "calibration": {"healthy_venous_conductance_per_Pa_s": solution.tissue.healthy_venous_conductance},
        "pressure": pressure_summary(solution, config),
        "mechanics": mechanics_summary(solution, cells, config),
    }


def _solve_summary(stats: SolveStats) -> dict[str, float]:
    return {"iterations": stats.iterations, "residual_norm": stats.residual_norm, "wall_time_s": stats.wall_time_s}


def _write_state(folder: Path, config: Config, solution: SteadySolution, cells: CellFields, summary: dict, timer: _StageTimer) -> None:
    """fields.vtu of the (final) state, then the report's figures and tables."""
    comm = solution.domain.mesh.comm
    with timer("write_fields", comm):
        pressure_mmHg = fem.Function(solution.pressure.function_space, name="p_mmHg")
        pressure_mmHg.x.array[:] = solution.pressure.x.array / PA_PER_MMHG
        displacement_p1 = fem.Function(fem.functionspace(solution.domain.mesh, ("Lagrange", 1, (3,))), name="u_m")
        displacement_p1.interpolate(solution.displacement)
        write_vtu(
            folder / FIELDS_FILE,
            solution.domain,
            {"p_mmHg": pressure_mmHg, "u_m": displacement_p1, "chi": solution.tissue.chi},
            {
                "region": cells.region,
                "eps1": cells.principal_strains[:, 0],
                "eps2": cells.principal_strains[:, 1],
                "eps3": cells.principal_strains[:, 2],
                "R": cells.risk_index,
            },
        )
    with timer("report", comm):
        summary.update(write_report(folder, config, solution, cells))


def _run_steady(config: Config, comm: MPI.Comm, timer: _StageTimer, summary: dict) -> None:
    with timer("mesh", comm):
        domain = build_domain(config, comm)
    with timer("solve", comm):
        solution = solve_steady(domain, config)
    with timer("post", comm):
        cells = cell_fields(solution, config)
        summary["solver"] = {"preset": config.solver.preset, **{s.name: _solve_summary(s) for s in solution.solves}}
        summary.update(_state_summary(solution, cells, config))
    with atomic_directory(config.case_dir, comm) as folder:
        write_text(folder / RESOLVED_CONFIG_FILE, config.to_yaml(), comm)
        _write_state(folder, config, solution, cells, summary, timer)
        summary["wall_time_s"] = dict(timer.wall_time_s)
        write_json(folder / SUMMARY_FILE, summary, comm)


def _run_transient(config: Config, comm: MPI.Comm, timer: _StageTimer, summary: dict) -> None:
    """Step the Biot problem, writing snapshots as it goes; the final state is post-processed as a steady one."""
    with timer("mesh", comm):
        domain = build_domain(config, comm)
    with timer("setup", comm):
        problem = TransientBiot(domain, config)
    every = config.transient.time.snapshot_every
    with atomic_directory(config.case_dir, comm) as folder:
        write_text(folder / RESOLVED_CONFIG_FILE, config.to_yaml(), comm)
        snapshots = Snapshots(folder, problem.p_hat, problem.scale_Pa, problem.u)
        steps = len(config.transient.time.times())
        with timer("time_stepping", comm):
            try:
                history = problem.run(lambda step, t: snapshots.write(t) if step % every == 0 or step == steps else None)
            finally:
                snapshots.close()
        with timer("post", comm):
            solution = problem.state()
            cells = cell_fields(solution, config)
            iterations = [s.iterations for s in history.solves]
            summary["solver"] = {
                "preset": config.solver.preset,
                "dofs": problem.solver.dofs,
                "steps": len(history.solves),
                "setup_wall_time_s": problem.setup_time_s,
                "iterations_per_step_mean": float(np.mean(iterations)),
                "iterations_per_step_max": int(np.max(iterations)),
                "step_wall_time_s_mean": float(np.mean([s.wall_time_s for s in history.solves])),
            }
            summary.update(_state_summary(solution, cells, config))
            summary["probes"] = probe_summary(history, problem.probes.names)
            if comm.rank == 0:
                write_probe_table(folder / PROBE_TABLE, history, problem.probes.names)
                if config.output.figures and problem.probes.names:
                    plot_probe_pressure(folder / PROBE_FIGURE, history, problem.probes.names, config.case)
        _write_state(folder, config, solution, cells, summary, timer)
        summary["wall_time_s"] = dict(timer.wall_time_s)
        write_json(folder / SUMMARY_FILE, summary, comm)


def run_case(config: Config | str | Path, comm: MPI.Comm = MPI.COMM_WORLD) -> Result:
    """Mesh, solve (steady or transient, as ``config.analysis`` says), post-process, and write
    ``results/<case>/`` atomically."""
    if not isinstance(config, Config):
        config = load_config(config)
    summary = {"bmes_fem_version": version("bmes_fem"), "case": config.case, "analysis": config.analysis, "mpi_ranks": comm.size}
    run = {"steady": _run_steady, "transient": _run_transient}[config.analysis]
    run(config, comm, _StageTimer(), summary)
    return Result(config, config.case_dir, summary)
