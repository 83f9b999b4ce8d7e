"""The one public entry: ``run_case(config) -> Result``, used by the CLI, the tests and the benchmarks."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Iterator

from dolfinx import fem
from mpi4py import MPI

from bmes_fem.config import Config, load_config
from bmes_fem.domain import build_domain
from bmes_fem.io import FIELDS_FILE, atomic_directory, write_json, write_text, write_vtu
from bmes_fem.post import cell_fields, mechanics_summary, pressure_summary
from bmes_fem.problem import SteadySolution, solve_steady
from bmes_fem.report import write_report
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


def _mesh_summary(solution: SteadySolution) -> dict[str, int]:
    mesh = solution.domain.mesh
    return {
        "cells": mesh.topology.index_map(3).size_global,
        "vertices": mesh.topology.index_map(0).size_global,
        "dofs_pressure": solution.solves[0].dofs,
        "dofs_displacement": solution.solves[1].dofs,
    }


def _write_case(folder: Path, config: Config, solution: SteadySolution, cells, summary: dict, timer: _StageTimer) -> None:
    comm = solution.domain.mesh.comm
    write_text(folder / RESOLVED_CONFIG_FILE, config.to_yaml(), comm)
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
    summary["wall_time_s"] = dict(timer.wall_time_s)
    write_json(folder / SUMMARY_FILE, summary, comm)


def run_case(config: Config | str | Path, comm: MPI.Comm = MPI.COMM_WORLD) -> Result:
    """Mesh, solve the steady BMES model, post-process and write ``results/<case>/`` atomically."""
    if not isinstance(config, Config):
        config = load_config(config)
    timer = _StageTimer()
    with timer("mesh", comm):
        domain = build_domain(config, comm)
    with timer("solve", comm):
        solution = solve_steady(domain, config)
    with timer("post", comm):
        cells = cell_fields(solution, config)
        summary = {
            "bmes_fem_version": version("bmes_fem"),
            "case": config.case,
            "mpi_ranks": comm.size,
            "mesh": _mesh_summary(solution),
            "solver": {
                "preset": config.solver.preset,
                **{s.name: {"iterations": s.iterations, "residual_norm": s.residual_norm, "wall_time_s": s.wall_time_s}
                   for s in solution.solves},
            },
            "calibration": {"healthy_venous_conductance_per_Pa_s": solution.tissue.healthy_venous_conductance},
            "pressure": pressure_summary(solution, config),
            "mechanics": mechanics_summary(solution, cells, config),
        }
    with atomic_directory(config.case_dir, comm) as folder:
        _write_case(folder, config, solution, cells, summary, timer)
    return Result(config, config.case_dir, summary)
