"""The outputs of a case (the hooks ``on_state``, ``finish``, ``close``: bmes_fem.output.base).

The run driver (bmes_fem.api) builds the list with `case_outputs` and calls them in order; a disease
course (bmes_fem.output.course) and a verification case (bmes_fem.verification.output) add theirs.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.io import VTXWriter
from mpi4py import MPI

from bmes_fem.config.case import Config, Probe
from bmes_fem.config.transient import TimeStepping
from bmes_fem.mesh.domain import Domain
from bmes_fem.mesh.quality import mesh_quality
from bmes_fem.output.base import Output
from bmes_fem.output.course import course_outputs
from bmes_fem.output.files import (
    BOUNDARY_TABLE,
    DISPLACEMENT_SERIES,
    FIELDS_FILE,
    PRESSURE_CLUSTERS_FILE,
    PRESSURE_SERIES,
    PROBE_FIGURE,
    PROBE_TABLE,
    RISK_CLUSTERS_FILE,
    SURFACE_FILE,
)
from bmes_fem.output.io import gather_grid
from bmes_fem.physics.boundary_conditions import boundary_measure
from bmes_fem.physics.forms import momentum_residual
from bmes_fem.post.analysis import StateAnalysis
from bmes_fem.post.probes import ProbePoints
from bmes_fem.post.zones import write_clusters_csv
from bmes_fem.solve.linear import SolveStats
from bmes_fem.solve.reactions import BoundaryForce, Residual
from bmes_fem.solve.state import State
from bmes_fem.units import PA_PER_MMHG
from bmes_fem.verification.output import VerificationError


class SolverStatistics(Output):
    """Per solver (pressure, displacement, biot): solves, dofs, Krylov iterations (total, mean, max), wall time."""

    name = "solver_summary"

    def __init__(self, preset: str) -> None:
        self.preset = preset
        self.solves: dict[str, list[SolveStats]] = {}

    def on_state(self, state: State) -> None:
        for stats in state.solves:
            self.solves.setdefault(stats.name, []).append(stats)

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        summary: dict = {"preset": self.preset}
        for name, solves in self.solves.items():
            iterations = np.array([s.iterations for s in solves])
            summary[name] = {
                "preset": solves[-1].preset,
                "preset_reason": solves[-1].preset_reason,
                "solves": len(solves),
                "dofs": solves[-1].dofs,
                "iterations": int(iterations.sum()),
                "iterations_per_solve_mean": float(iterations.mean()),
                "iterations_per_solve_max": int(iterations.max()),
                "residual_norm": solves[-1].residual_norm,
                "wall_time_s": float(sum(s.wall_time_s for s in solves)),
            }
        return {"solver": summary}


class StateSummary(Output):
    """Mesh size and quality, the calibration, and the pressure, mechanics and zone scalars of the final state."""

    name = "post"

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        state = final.state
        mesh = state.domain.mesh
        return {
            "mesh": {
                "cells": mesh.topology.index_map(mesh.topology.dim).size_global,
                "vertices": mesh.topology.index_map(0).size_global,
                "dofs_pressure": _dofs(state.pressure),
                "dofs_displacement": _dofs(state.displacement),
            },
            "mesh_quality": mesh_quality(state.domain),
            "calibration": {"healthy_venous_conductance_per_Pa_s": state.tissue.healthy_venous_conductance},
            "regions": dict(state.domain.regions),
            **final.summary,
        }


def _dofs(function: fem.Function) -> int:
    space = function.function_space
    return space.dofmap.index_map.size_global * space.dofmap.index_map_bs


class SnapshotSeries(Output):
    """VTX (ADIOS2) time series for ParaView, one writer per element family: P1 p in mmHg, P2 u in m.

    Written at the initial and last state and as ``transient.time`` says (every n-th step or at chosen times).
    """

    name = "time_series"

    def __init__(self, folder: Path, state_count: int, stepping: TimeStepping) -> None:
        self.folder, self.last, self.stepping = folder, state_count - 1, stepping
        self._writers: list[VTXWriter] = []
        self._pressure_mmHg: fem.Function | None = None
        self.times_s: list[float] = []

    def on_state(self, state: State) -> None:
        if not self._writers:
            comm = state.domain.mesh.comm
            self._pressure_mmHg = fem.Function(state.pressure.function_space, name="p_mmHg")
            self._writers = [
                VTXWriter(comm, self.folder / PRESSURE_SERIES, [self._pressure_mmHg], engine="BP4"),
                VTXWriter(comm, self.folder / DISPLACEMENT_SERIES, [state.displacement], engine="BP4"),
            ]
        if self.stepping.writes_fields(state.step, state.time_s, self.last):
            self._pressure_mmHg.x.array[:] = state.pressure.x.array / PA_PER_MMHG
            for writer in self._writers:
                writer.write(state.time_s)
            self.times_s.append(state.time_s)

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        self.close()
        return {"time_series": {"files": [PRESSURE_SERIES, DISPLACEMENT_SERIES], "times_s": self.times_s}}

    def close(self) -> None:
        """Close the writers (collective), so none writes into the folder after the run."""
        writers, self._writers = self._writers, []
        for writer in writers:
            writer.close()


PA_PER_UNIT = {"mmHg": PA_PER_MMHG, "Pa": 1.0}


class ProbeHistory(Output):
    """Pressure (``output.pressure_unit``) and displacement components [um] at named points for every state:
    ``probes.csv``, the pressure plot, the summary (peak and final values; mmHg there)."""

    name = "probes"

    def __init__(
        self, domain: Domain, probes: Sequence[Probe], load_fraction: Callable[[float], float] | None, title: str, figures: bool,
        pressure_unit: str = "mmHg",
    ) -> None:  # fmt: skip
        self.probes, self.load_fraction, self.title, self.figures = tuple(probes), load_fraction, title, figures
        self.pressure_unit = pressure_unit
        self.points = ProbePoints(domain, probes)  # a probe outside the mesh is an error before any solve
        self.times_s: list[float] = []
        self.pressure_mmHg: list[np.ndarray] = []
        self.displacement_um: list[np.ndarray] = []

    def on_state(self, state: State) -> None:
        self.times_s.append(state.time_s)
        self.pressure_mmHg.append(self.points.values(state.pressure)[:, 0] / PA_PER_MMHG)
        self.displacement_um.append(self.points.values(state.displacement) * 1e6)

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        pressure, displacement = np.array(self.pressure_mmHg), np.array(self.displacement_um)
        names = [probe.name for probe in self.probes]
        fractions = [self.load_fraction(t) for t in self.times_s] if self.load_fraction else None
        if fractions is not None and None in fractions:
            fractions = None
        if final.state.domain.mesh.comm.rank == 0:
            self._write_table(folder / PROBE_TABLE, names, pressure * PA_PER_MMHG / PA_PER_UNIT[self.pressure_unit], displacement, fractions)
            if self.figures:
                from bmes_fem.view.plots import plot_probe_pressure

                plot_probe_pressure(folder / PROBE_FIGURE, self.times_s, dict(zip(names, pressure.T, strict=True)), fractions, self.title)
        magnitude = np.linalg.norm(displacement, axis=2)
        summary = {}
        for i, name in enumerate(names):
            peak = int(np.argmax(pressure[:, i]))
            summary[name] = {
                "p_initial_mmHg": float(pressure[0, i]),
                "p_peak_mmHg": float(pressure[peak, i]),
                "p_peak_time_s": float(self.times_s[peak]),
                "p_final_mmHg": float(pressure[-1, i]),
                "u_peak_um": float(magnitude[:, i].max()),
            }
        return {"probes": summary}

    def _write_table(self, path: Path, names, pressure, displacement, fractions) -> None:
        """CSV: time_s, [load_fraction,] then <probe>_p_<unit>, <probe>_ux_um, _uy_um, _uz_um per probe."""
        header = ["time_s"] + (["load_fraction"] if fractions else [])
        for name in names:
            header += [f"{name}_p_{self.pressure_unit}"] + [f"{name}_u{axis}_um" for axis in "xyz"[: displacement.shape[2]]]
        with path.open("w", newline="") as handle:
            table = csv.writer(handle)
            table.writerow(header)
            for i, time_s in enumerate(self.times_s):
                row = [f"{time_s:.6g}"] + ([f"{fractions[i]:.6g}"] if fractions else [])
                for k in range(len(names)):
                    row += [repr(float(pressure[i, k])), *(repr(float(c)) for c in displacement[i, k])]
                table.writerow(row)


class BoundaryHistory(Output):
    """For every state, on each named boundary G: the force through it [N] (the consistent reaction plus the
    traction applied on G, bmes_fem.solve.reactions) and the mean pressure int_G p ds / |G|: ``boundaries.csv``."""

    name = "boundaries"

    def __init__(self, names: Sequence[str], pressure_unit: str) -> None:
        self.names, self.pressure_unit = tuple(names), pressure_unit
        self.times_s: list[float] = []
        self.forces_N: list[np.ndarray] = []  # (boundaries, gdim) per state
        self.mean_pressure_Pa: list[np.ndarray] = []
        self._fields: tuple | None = None

    def _compile(self, state: State) -> None:
        """Forms of the residual and the boundary integrals of this state's functions (once per set of functions)."""
        tissue, loads, domain = state.tissue, state.loads, state.domain
        v = ufl.TestFunction(state.displacement.function_space)
        residual = momentum_residual(
            state.displacement, state.pressure, v, elasticity=tissue.elasticity, biot_coefficient=tissue.biot_coefficient,
            tractions=loads.traction_terms, body_force=loads.body_force, dx=tissue.dx,
        )  # fmt: skip
        ds = boundary_measure(domain)
        self._residual = Residual(residual, state.displacement.function_space)
        self._forces = [BoundaryForce(self._residual, domain, name, loads.tractions, loads.constraints) for name in self.names]
        self._pressure = [fem.form(state.pressure * ds(domain.boundary_id(name))) for name in self.names]
        self._area = [_assemble(domain, fem.form(fem.Constant(domain.mesh, 1.0) * ds(domain.boundary_id(name)))) for name in self.names]
        self._fields = (state.displacement, state.pressure)

    def on_state(self, state: State) -> None:
        if self._fields is None or self._fields[0] is not state.displacement or self._fields[1] is not state.pressure:
            self._compile(state)
        residual = self._residual.assemble()
        self.times_s.append(state.time_s)
        self.forces_N.append(np.array([force(residual) for force in self._forces]))
        self.mean_pressure_Pa.append(np.array([_assemble(state.domain, form) / area for form, area in zip(self._pressure, self._area, strict=True)]))

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        scale = PA_PER_UNIT[self.pressure_unit]
        unit = self.pressure_unit
        if final.state.domain.mesh.comm.rank == 0:
            with (folder / BOUNDARY_TABLE).open("w", newline="") as handle:
                table = csv.writer(handle)
                header = ["time_s"]
                for name in self.names:
                    header += [f"{name}_F{axis}_N" for axis in "xyz"[: self.forces_N[0].shape[1]]] + [f"{name}_p_mean_{unit}"]
                table.writerow(header)
                for time_s, forces, pressures in zip(self.times_s, self.forces_N, self.mean_pressure_Pa, strict=True):
                    row = [f"{time_s:.6g}"]
                    for force, pressure in zip(forces, pressures, strict=True):
                        row += [repr(float(f)) for f in force] + [repr(float(pressure / scale))]
                    table.writerow(row)
        return {
            "boundaries": {
                name: {"force_N": self.forces_N[-1][i].tolist(), f"p_mean_{unit}": float(self.mean_pressure_Pa[-1][i] / scale)}
                for i, name in enumerate(self.names)
            }
        }


def _assemble(domain: Domain, form: fem.Form) -> float:
    return domain.mesh.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)


class FieldsFile(Output):
    """``fields.vtu`` of the final state: p [mmHg], u [m] (P2 interpolated to P1), chi, region, principal
    strains and R per cell; the gathered grid stays in memory (rank 0) for the figures."""

    name = "write_fields"

    def __init__(self) -> None:
        self.grid = None

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        state, cells = final.state, final.cells
        mesh = state.domain.mesh
        pressure_mmHg = fem.Function(state.pressure.function_space, name="p_mmHg")
        pressure_mmHg.x.array[:] = state.pressure.x.array / PA_PER_MMHG
        displacement_p1 = fem.Function(fem.functionspace(mesh, ("Lagrange", 1, (mesh.geometry.dim,))), name="u_m")
        displacement_p1.interpolate(state.displacement)
        self.grid = gather_grid(
            state.domain,
            {"p_mmHg": pressure_mmHg, "u_m": displacement_p1, "chi": state.tissue.chi},
            {
                "region": cells.region,
                "eps1": cells.principal_strains[:, 0],
                "eps2": cells.principal_strains[:, 1],
                "eps3": cells.principal_strains[:, 2],
                "R": cells.risk_index,
            },
        )
        if self.grid is not None:
            self.grid.save(folder / FIELDS_FILE)
        return {}


class ClusterTables(Output):
    """``risk_clusters.csv``, ``pressure_clusters.csv`` and the depth surface ``articular_surface.vtp``."""

    name = "clusters"

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        if final.state.domain.mesh.comm.rank == 0:
            write_clusters_csv(folder / RISK_CLUSTERS_FILE, final.risk_zones, "R_crit", "peak_R")
            write_clusters_csv(folder / PRESSURE_CLUSTERS_FILE, final.pressure_zones, "p_threshold_mmHg", "peak_p_mmHg")
            if len(final.surface_triangles_m):
                from bmes_fem.view.results import surface_polydata

                surface_polydata(final.surface_triangles_m).save(folder / SURFACE_FILE)
        return {}


class Figures(Output):
    """The default figures, drawn on rank 0 from the in-memory grid of `FieldsFile` and the zones."""

    name = "figures"

    def __init__(self, config: Config, fields: FieldsFile) -> None:
        self.config, self.fields = config, fields

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        comm = final.state.domain.mesh.comm
        paths = None
        if comm.rank == 0:
            from bmes_fem.output.report import write_figures
            from bmes_fem.view.results import CaseData, surface_polydata

            surface = surface_polydata(final.surface_triangles_m) if len(final.surface_triangles_m) else None
            case = CaseData(
                folder, self.config, self.fields.grid, surface, dict(final.state.domain.regions),
                final.risk_zones, final.pressure_zones,
            )  # fmt: skip
            paths = [str(path.relative_to(folder)) for path in write_figures(case)]
        return {"figures": comm.bcast(paths, root=0)}


def case_outputs(config: Config, folder: Path, problem) -> list[Output]:
    """The outputs of a run of ``config``: solver statistics, probes, time series, summary, fields, tables, figures."""
    outputs: list[Output] = [SolverStatistics(config.solver.preset)]
    if config.output.probes:
        load_fraction = getattr(problem, "load_fraction", None)
        outputs.append(
            ProbeHistory(problem.domain, config.output.probes, load_fraction, config.case, config.output.figures, config.output.pressure_unit)
        )
    if config.output.boundaries:
        outputs.append(BoundaryHistory(config.output.boundaries, config.output.pressure_unit))
    if config.analysis == "transient":
        outputs.append(SnapshotSeries(folder, problem.state_count, config.transient.time))
    if config.verification is not None:
        outputs.append(VerificationError(config, problem.domain))
    fields = FieldsFile()
    outputs += [StateSummary(), fields, ClusterTables()]
    if config.output.figures:
        outputs.append(Figures(config, fields))
    from bmes_fem.output.images import image_outputs  # images -> outputs: imported here, not at the top

    outputs += image_outputs(config)
    if config.analysis == "course":
        outputs += course_outputs(config, problem)
    return outputs
