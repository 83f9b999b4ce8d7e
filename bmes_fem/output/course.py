"""The outputs of a disease course (bmes_fem.solve.course): per state the summary scalars, then per scenario
the time series (``course.csv``), the scenario table, the course figures, the animation and the summary entries.

At every state (collective): peak and mean lesion pressure [mmHg], the volume above each pressure threshold
[mm^3] (30 and 40 mmHg: the painful volume), the risk-zone volume for each R_crit [mm^3] and the largest
R (bmes_fem.post.fields); with ``course.damage`` the largest damage D, the microfracture volume (D >= D_mf) and
the largest damage growth full walking would give [1/year]; with tunnels the largest R and D within one tunnel
diameter of a tunnel's wall; and the pressure (and damage) gathered on rank 0 for the animation.

Back to healthy, per scenario and volume (painful: p above a threshold; risk: R >= R_crit, "back to load"):
the first sample time t* from which every later sample has the volume within the tolerance of the
healthy reference's,

    |V(t) - V_h| <= max(r V_h, V_abs)   for all samples t >= t*        (r, V_abs: course.volume_tolerance[_mm3])

None if the last sample is still outside; the first sample time if no sample ever was. The excess of a
volume is the time integral of V(t) - V_h over the course (trapezoidal, mm^3 weeks); the weeks of pain the time
the painful volume is outside that band, each sample holding until the next. Back to full load (with damage): the
first sample time from which full walking grows the damage of no cell faster than ``course.damage.growth_tolerance``.
The first microfracture is the first sample with a cell at D >= D_mf; its zone (the connected cells at D >= D_mf,
bmes_fem.post.clusters) is described by volume, depth below the articular surface, region and lesion share.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from dolfinx import fem
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.config.course import WEEK_S, YEAR_S
from bmes_fem.output.base import Output
from bmes_fem.output.files import FIELDS_FILE, FIGURES_DIR
from bmes_fem.output.io import gather_grid
from bmes_fem.output.progress import LOG
from bmes_fem.physics.tunnels import in_tunnels
from bmes_fem.post.analysis import DEPTH_SURFACE, StateAnalysis
from bmes_fem.post.clusters import boundary_triangles_m, find_clusters
from bmes_fem.post.fields import mechanics_summary, pressure_summary
from bmes_fem.post.zones import LESION_CHI_FROM
from bmes_fem.solve.course import SERIES, CourseBiot
from bmes_fem.solve.state import State
from bmes_fem.units import PA_PER_MMHG

COURSE_TABLE = "course.csv"
SCENARIO_TABLES = ("course_scenarios.csv", "course_scenarios.md")
PRESSURE_FIGURE = FIGURES_DIR / "course_pressure.png"
VOLUME_FIGURE = FIGURES_DIR / "course_volumes.png"
TISSUE_FIGURE = FIGURES_DIR / "course_tissue.png"
DAMAGE_FIGURE = FIGURES_DIR / "course_damage.png"
SCENARIO_FIGURE = FIGURES_DIR / "course_scenarios.png"
ANIMATIONS = (FIGURES_DIR / "course_pressure.gif", FIGURES_DIR / "course_pressure.mp4")
REFERENCE = "healthy_reference"  # the scenario column of the healthy reference row in course.csv
DAMAGE_ARRAY = "damage"  # cell array of fields.vtu and the animation
NEAR_TUNNEL_DIAMETERS = 1.0  # the bone within this many tunnel diameters of a tunnel's wall is "around the tunnel"

PRESSURES = ("interstitial_oncotic_pressure", "capillary_pressure", "venous_pressure")
DAMAGE_METRICS = ("damage_max", "microfracture_volume_mm3", "full_load_damage_growth_max_per_year")
TUNNEL_METRICS = ("risk_index_max_near_tunnel", "damage_max_near_tunnel")


def _column(name: str) -> tuple[str, float]:
    """(course.csv column, factor from SI) of a course series: pressures in mmHg, the modulus in GPa."""
    if name in PRESSURES:
        return f"{name}_mmHg", 1.0 / PA_PER_MMHG
    if name == "lesion_modulus_Pa":
        return "lesion_modulus_GPa", 1e-9
    return name, 1.0


PARAMETER_COLUMNS = {name: _column(name) for name in SERIES}


def metric_names(config: Config) -> list[str]:
    """The per-state scalars, named as in summary.json's ``pressure`` and ``mechanics`` sections, then damage and tunnel ones."""
    damaging = config.course.damage is not None
    drilling = any(scenario.decompression is not None for scenario in config.course.scenarios)
    return [
        "p_lesion_peak_mmHg",
        "p_lesion_mean_mmHg",
        *(f"volume_p_above_{threshold / PA_PER_MMHG:g}_mmHg_mm3" for threshold in config.risk.pressure_thresholds),
        *(f"risk_zone_volume_R_ge_{critical:g}_mm3" for critical in config.risk.critical_indices),
        "risk_index_max",
        *(DAMAGE_METRICS if damaging else ()),
        *(name for name in TUNNEL_METRICS if drilling and (damaging or not name.startswith("damage"))),
    ]


def settled_from(times: np.ndarray, within: np.ndarray) -> float | None:
    """The first sample time from which ``within`` holds at every later sample; None if the last sample is outside."""
    outside = np.flatnonzero(~np.asarray(within, dtype=bool))
    if outside.size == 0:
        return float(times[0])
    return None if outside[-1] == len(times) - 1 else float(times[outside[-1] + 1])


def back_to_healthy(times: np.ndarray, volumes_mm3: np.ndarray, healthy_mm3: float, tolerance_mm3: float) -> float | None:
    """t* of the module docstring, in the unit of ``times``."""
    return settled_from(times, np.abs(np.asarray(volumes_mm3) - healthy_mm3) <= tolerance_mm3)


def time_outside(times: np.ndarray, outside: np.ndarray) -> float:
    """The time the samples flagged ``outside`` cover, each holding until the next sample (the last for no time)."""
    return float(np.sum(np.diff(times)[np.asarray(outside, dtype=bool)[:-1]]))


def _value(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _json(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _zone(metric: str) -> str:
    """``risk_zone_volume_R_ge_0.5_mm3`` -> ``R_ge_0.5``; ``volume_p_above_30_mmHg_mm3`` -> ``p_above_30_mmHg``."""
    return metric.removeprefix("risk_zone_volume_").removeprefix("volume_").removesuffix("_mm3")


def _max(comm: MPI.Comm, values: np.ndarray) -> float:
    return comm.allreduce(float(np.max(values, initial=-np.inf)), op=MPI.MAX)


class CourseOutput(Output):
    """Course scalars per state; ``course.csv``, the scenario table, figures, animation and summary entries at the end."""

    name = "course"

    def __init__(self, config: Config, problem: CourseBiot) -> None:
        self.config, self.problem, self.table, self.entries = config, problem, problem.table, problem.entries
        self.damage = config.course.damage
        self.metrics = metric_names(config)
        self.values: dict[int, dict[str, float]] = {}  # step -> metric -> value
        self.figures = config.output.figures
        self.grid = None  # rank 0: the mesh of the animation
        self.pressure_mmHg: dict[int, np.ndarray] = {}  # rank 0: step -> nodal p of the grid
        self.damage_cells: dict[int, np.ndarray] = {}  # rank 0: step -> D per cell of the grid
        self.zones: dict[int, dict] = {}  # scenario -> its first microfracture zone
        self._p_mmHg: fem.Function | None = None
        domain = problem.domain
        self._triangles_m = boundary_triangles_m(domain, DEPTH_SURFACE) if DEPTH_SURFACE in domain.boundaries else np.empty((0, 3, 3))
        self._near_tunnel = np.zeros(problem.cells_owned, dtype=bool)
        decompression = getattr(config.geometry, "core_decompression", None)
        if decompression is not None and any(metric in TUNNEL_METRICS for metric in self.metrics):
            mesh = domain.mesh
            midpoints = mesh.geometry.x[mesh.geometry.dofmaps[0][: problem.cells_owned]].mean(axis=1)
            margin_m = NEAR_TUNNEL_DIAMETERS * max(tunnel.diameter for tunnel in decompression.tunnels)
            self._near_tunnel = in_tunnels(decompression.tunnels, midpoints, margin_m)
            self._near_tunnel[problem.tunnel_cells] = False

    def on_state(self, state: State) -> None:
        problem, comm = self.problem, state.domain.mesh.comm
        cells = problem.cells
        scalars = {**pressure_summary(state, self.config), **mechanics_summary(state, cells, self.config)}
        values = {name: _value(scalars.get(name)) for name in self.metrics}
        near = self._near_tunnel & cells.trabecular
        if "risk_index_max_near_tunnel" in values:
            values["risk_index_max_near_tunnel"] = _json_or_nan(_max(comm, cells.risk_index[near]))
        entry = self.entries[state.step]
        if self.damage is not None:
            damage = problem.damage.damage
            microfracture = cells.trabecular & (damage >= self.damage.microfracture_damage)
            values["damage_max"] = _max(comm, damage[cells.trabecular])
            values["microfracture_volume_mm3"] = comm.allreduce(float(cells.volume_m3[microfracture].sum()), op=MPI.SUM) * 1e9
            values["full_load_damage_growth_max_per_year"] = _max(comm, problem.damage.full_load_growth_per_s) * YEAR_S
            if "damage_max_near_tunnel" in values:
                values["damage_max_near_tunnel"] = _json_or_nan(_max(comm, damage[near]))
            if entry.scenario is not None and entry.scenario not in self.zones and values["microfracture_volume_mm3"] > 0.0:
                self.zones[entry.scenario] = self._zone(state, microfracture, damage, entry.time_s)
        self.values[state.step] = values
        if self.figures:
            self._gather(state)

    def _zone(self, state: State, microfracture: np.ndarray, damage: np.ndarray, time_s: float) -> dict:
        """The largest connected zone of D >= D_mf: week, volume, depth below the articular surface, region, lesion share."""
        cells, comm = self.problem.cells, state.domain.mesh.comm
        clusters = find_clusters(state.domain, microfracture, damage, cells.volume_m3, cells.region, self._triangles_m)
        in_lesion = microfracture & (self.problem.damage.lesion_indicator >= LESION_CHI_FROM)
        lesion_mm3 = comm.allreduce(float(cells.volume_m3[in_lesion].sum()), op=MPI.SUM) * 1e9
        total_mm3 = comm.allreduce(float(cells.volume_m3[microfracture].sum()), op=MPI.SUM) * 1e9
        largest = clusters[0]
        return {
            "week": time_s / WEEK_S,
            "zones": len(clusters),
            "volume_mm3": total_mm3,
            "largest_volume_mm3": largest.volume_mm3,
            "depth_mm": _json(largest.depth_mm),
            "shallowest_depth_mm": _json(largest.shallowest_depth_mm),
            "centroid_mm": [largest.centroid_x_mm, largest.centroid_y_mm, largest.centroid_z_mm],
            "region": largest.region,
            "lesion_share": lesion_mm3 / total_mm3,
        }

    def _gather(self, state: State) -> None:
        """Pressure (and damage) of the state on the animation's grid, kept on rank 0."""
        if self._p_mmHg is None:
            self._p_mmHg = fem.Function(state.pressure.function_space, name="p_mmHg")
        self._p_mmHg.x.array[:] = state.pressure.x.array / PA_PER_MMHG
        cell_data = {} if self.damage is None else {DAMAGE_ARRAY: self._damage_display()}
        grid = gather_grid(state.domain, {"p_mmHg": self._p_mmHg}, cell_data)
        if grid is not None:
            if self.grid is None:
                self.grid = grid
            self.pressure_mmHg[state.step] = np.asarray(grid.point_data["p_mmHg"]).copy()
            if self.damage is not None:
                self.damage_cells[state.step] = np.asarray(grid.cell_data[DAMAGE_ARRAY]).copy()

    def _damage_display(self) -> np.ndarray:
        """D per owned cell, NaN outside trabecular bone (the cortex, the plate and a drilled tunnel hold no damage)."""
        return np.where(self.problem.cells.trabecular, self.problem.damage.damage, np.nan)

    def _steps(self) -> np.ndarray:
        """(scenarios, samples) -> state step."""
        steps = np.zeros((len(self.table.scenarios), len(self.table.times_s)), dtype=int)
        for step, entry in enumerate(self.entries):
            if entry.scenario is not None:
                steps[entry.scenario, entry.sample] = step
        return steps

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        table, course = self.table, self.config.course
        steps = self._steps()
        series = {name: np.array([[self.values[step][name] for step in row] for row in steps]) for name in self.metrics}
        healthy = self.values[0]
        weeks = table.times_s / WEEK_S
        volumes = [name for name in self.metrics if name.endswith("_mm3") and name != "microfracture_volume_mm3"]
        tolerances = {name: max(course.volume_tolerance * healthy[name], course.volume_tolerance_mm3) for name in volumes}
        back = {name: [back_to_healthy(weeks, v, healthy[name], tolerances[name]) for v in series[name]] for name in volumes}
        outside = {name: ~(np.abs(series[name] - healthy[name]) <= tolerances[name]) for name in volumes}
        full_load = None
        if self.damage is not None:
            growth_ok = series["full_load_damage_growth_max_per_year"] <= self.damage.growth_tolerance * YEAR_S
            full_load = [settled_from(weeks, row) for row in growth_ok]
        scenarios = {}
        for s, name in enumerate(table.scenarios):
            peak = {metric: int(np.nanargmax(series[metric][s])) if np.isfinite(series[metric][s]).any() else None for metric in self.metrics}
            modulus_GPa = table.series["lesion_modulus_Pa"][s] * 1e-9
            scenarios[name] = {
                "peak": {metric: None if k is None else _json(series[metric][s, k]) for metric, k in peak.items()},
                "peak_week": {metric: None if k is None else float(weeks[k]) for metric, k in peak.items()},
                "final": {metric: _json(series[metric][s, -1]) for metric in self.metrics},
                "excess_mm3_weeks": {metric: _json(np.trapezoid(series[metric][s] - healthy[metric], weeks)) for metric in volumes},
                "lesion_modulus_min_GPa": float(modulus_GPa.min()),
                "lesion_modulus_min_week": float(weeks[np.argmin(modulus_GPa)]),
                "back_to_load_week": {_zone(metric): back[metric][s] for metric in volumes if metric.startswith("risk_zone")},
                "painful_volume_healthy_week": {_zone(metric): back[metric][s] for metric in volumes if metric.startswith("volume_p")},
                "weeks_of_pain": {_zone(metric): time_outside(weeks, outside[metric][s]) for metric in volumes if metric.startswith("volume_p")},
            }
            if self.damage is not None:
                zone = self.zones.get(s)
                scenarios[name]["damage"] = {
                    "first_microfracture_week": None if zone is None else zone["week"],
                    "microfracture_zone": zone,
                    "back_to_full_load_week": full_load[s],
                }
            decompression = course.scenarios[s].decompression
            if decompression is not None:
                scenarios[name]["decompression"] = self._relief(series, s, weeks)
        files = []
        if final.state.domain.mesh.comm.rank == 0:
            self._write_table(folder / COURSE_TABLE, series, healthy)
            files.append(COURSE_TABLE)
            files += self._write_scenario_tables(folder, scenarios)
            if self.figures:
                files += self._write_figures(folder, series, healthy, tolerances, back, steps, scenarios)
        if self.damage is not None:
            self._add_damage_to_fields(final, folder)
        files = final.state.domain.mesh.comm.bcast(files, root=0)
        return {
            "course": {
                "samples": len(weeks),
                "duration_weeks": float(weeks[-1]),
                "sample_every_weeks": course.sample_every / WEEK_S,
                "healthy": {metric: _json(healthy[metric]) for metric in self.metrics},
                "volume_tolerance_mm3": {_zone(metric): tolerance for metric, tolerance in tolerances.items()},
                "scenarios": scenarios,
                "files": files,
            }
        }

    def _relief(self, series: dict[str, np.ndarray], s: int, weeks: np.ndarray) -> dict:
        """The state before and at the drilling: lesion pressure, painful volumes, R (and D) around the tunnel."""
        drilled = np.flatnonzero(self.table.series["decompressed"][s] > 0.5)
        if not drilled.size:
            return {"week": None}
        k = int(drilled[0])
        before = max(k - 1, 0)
        keys = ["p_lesion_peak_mmHg", "p_lesion_mean_mmHg", *(m for m in self.metrics if m.startswith("volume_p")), *TUNNEL_METRICS]
        relief = {"week": float(weeks[k]), "week_before": float(weeks[before])}
        for key in (key for key in keys if key in series):
            relief[key] = {"before": _json(series[key][s, before]), "after": _json(series[key][s, k])}
        peak = relief["p_lesion_peak_mmHg"]
        if peak["before"] is not None and peak["after"] is not None:
            relief["p_lesion_peak_relief_mmHg"] = peak["before"] - peak["after"]
        return relief

    def _add_damage_to_fields(self, final: StateAnalysis, folder: Path) -> None:
        """``damage`` (D per cell of the final state, NaN outside trabecular bone) into fields.vtu (collective)."""
        grid = gather_grid(final.state.domain, {}, {DAMAGE_ARRAY: self._damage_display()})
        path = folder / FIELDS_FILE
        if grid is not None and path.exists():
            import pyvista

            fields = pyvista.read(path)
            fields.cell_data[DAMAGE_ARRAY] = grid.cell_data[DAMAGE_ARRAY]
            fields.save(path)

    def _write_table(self, path: Path, series: dict[str, np.ndarray], healthy: dict[str, float]) -> None:
        """One row per (scenario, sample), the healthy reference first: parameters, then the state's scalars."""
        table = self.table
        columns = [PARAMETER_COLUMNS[name] for name in SERIES]
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["scenario", "time_s", "time_weeks", "phase", *(column for column, _ in columns), *self.metrics])
            reference = [table.healthy[name] * factor for name, (_, factor) in zip(SERIES, columns, strict=True)]
            writer.writerow([REFERENCE, 0.0, 0.0, "-", *map(repr, reference), *(repr(healthy[m]) for m in self.metrics)])
            for s, name in enumerate(table.scenarios):
                for k, time_s in enumerate(table.times_s):
                    parameters = [table.series[p][s, k] * factor for p, (_, factor) in zip(SERIES, columns, strict=True)]
                    writer.writerow([
                        name, repr(float(time_s)), f"{time_s / WEEK_S:.6g}", table.phases[k],
                        *(repr(float(v)) for v in parameters), *(repr(float(series[m][s, k])) for m in self.metrics),
                    ])  # fmt: skip

    def _scenario_rows(self, scenarios: dict) -> tuple[list[str], list[list]]:
        """(header, rows) of the scenario table: pain, damage, microfracture, back to load and relief per scenario."""
        thresholds = [f"p_above_{t / PA_PER_MMHG:g}_mmHg" for t in self.config.risk.pressure_thresholds]
        critical = f"R_ge_{min(self.config.risk.critical_indices):g}"
        header = [
            "scenario", "p_lesion_peak_mmHg", *(f"weeks_of_pain_{t}" for t in thresholds), f"back_to_load_week_{critical}",
        ]  # fmt: skip
        if self.damage is not None:
            header += ["damage_peak", "first_microfracture_week", "microfracture_depth_mm", "back_to_full_load_week"]
        if any(scenario.decompression is not None for scenario in self.config.course.scenarios):
            header += ["decompression_week", "p_lesion_peak_relief_mmHg"]
        rows = []
        for name, result in scenarios.items():
            row = [name, result["peak"]["p_lesion_peak_mmHg"], *(result["weeks_of_pain"][t] for t in thresholds),
                   result["back_to_load_week"][critical]]  # fmt: skip
            if self.damage is not None:
                zone = result["damage"]["microfracture_zone"]
                row += [result["peak"]["damage_max"], result["damage"]["first_microfracture_week"],
                        None if zone is None else zone["depth_mm"], result["damage"]["back_to_full_load_week"]]  # fmt: skip
            if "decompression_week" in header:
                relief = result.get("decompression", {})
                row += [relief.get("week"), relief.get("p_lesion_peak_relief_mmHg")]
            rows.append(row)
        return header, rows

    def _write_scenario_tables(self, folder: Path, scenarios: dict) -> list[str]:
        """``course_scenarios.csv`` and ``.md`` (rank 0); an empty cell / "none" where a week never comes."""
        header, rows = self._scenario_rows(scenarios)
        with (folder / SCENARIO_TABLES[0]).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([["" if v is None else repr(v) if isinstance(v, float) else v for v in row] for row in rows])

        def cell(value) -> str:
            return "none" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)

        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
        (folder / SCENARIO_TABLES[1]).write_text("\n".join(lines) + "\n")
        return list(SCENARIO_TABLES)

    def _write_figures(self, folder, series, healthy, tolerances, back, steps, scenarios) -> list[str]:
        """The time-series figures, the scenario figure and the animations (rank 0); one an encoder refuses is left out with a warning."""
        from bmes_fem.view.course_plots import (
            DAMAGE_VARIABLE,
            CourseSeries,
            Panel,
            cutaway_frames,
            plot_course,
            plot_scenarios,
            write_animations,
        )
        from bmes_fem.view.render import lesion_centre_m
        from bmes_fem.view.variables import VARIABLES

        table, config = self.table, self.config
        weeks = table.times_s / WEEK_S
        starts = list(config.course.phase_starts_s().values()) + [config.course.duration_s()]
        phases = tuple((phase.name, starts[i] / WEEK_S, starts[i + 1] / WEEK_S) for i, phase in enumerate(config.course.phases))
        values = {**series, **{PARAMETER_COLUMNS[name][0]: table.series[name] * PARAMETER_COLUMNS[name][1] for name in SERIES}}
        data = CourseSeries(weeks, phases, table.scenarios, values)
        thresholds = tuple(t / PA_PER_MMHG for t in config.risk.pressure_thresholds)
        pressure_panels = [
            Panel("p_lesion_peak_mmHg", "peak lesion pressure [mmHg]", healthy["p_lesion_peak_mmHg"], levels=thresholds),
            Panel("p_lesion_mean_mmHg", "mean lesion pressure [mmHg]", healthy["p_lesion_mean_mmHg"], levels=thresholds),
        ]
        labels = {f"volume_p_above_{t:g}_mmHg_mm3": f"volume with p > {t:g} mmHg" for t in thresholds}
        labels.update({f"risk_zone_volume_R_ge_{c:g}_mm3": f"risk volume R >= {c:g}" for c in config.risk.critical_indices})
        peak_p, largest_r = float(np.nanmax(series["p_lesion_peak_mmHg"])), float(np.nanmax(series["risk_index_max"]))
        unreached = {f"volume_p_above_{t:g}_mmHg_mm3": f"no scenario reaches {t:g} mmHg:\nthe highest lesion peak is {peak_p:.1f} mmHg" for t in thresholds}
        unreached.update({
            f"risk_zone_volume_R_ge_{c:g}_mm3": f"no scenario reaches R = {c:g}:\nthe largest risk index is {largest_r:.2f}" for c in config.risk.critical_indices
        })  # fmt: skip
        volume_panels = [
            Panel(column, f"{label} [mm$^3$]", healthy[column], tolerances[column], dict(zip(table.scenarios, back[column], strict=True)),
                  unreached=unreached[column])
            for column, label in labels.items()
        ]
        tissue_panels = [
            Panel("osteoclast_activity", "osteoclast activity a [-]", 1.0),
            Panel("relative_mineralisation", "relative mineralisation m [-]", 1.0),
            Panel("bone_volume_fraction", "BV/TV [-]", table.healthy["bone_volume_fraction"]),
            Panel("lesion_modulus_GPa", "lesion modulus E [GPa]", table.healthy["lesion_modulus_Pa"] * 1e-9),
            Panel("filtration_factor", "filtration factor f_L [-]", 1.0),
            Panel("iloprost_effect", "iloprost effect e [-]"),
        ]
        paths = [
            plot_course(folder / PRESSURE_FIGURE, data, pressure_panels, f"{config.case}: lesion pressure over the course"),
            plot_course(folder / VOLUME_FIGURE, data, volume_panels, f"{config.case}: painful and risk volumes (triangle: back to healthy for good)"),
            plot_course(folder / TISSUE_FIGURE, data, tissue_panels, f"{config.case}: lesion parameters and bone turnover"),
        ]
        if self.damage is not None:
            full_load = {name: result["damage"]["back_to_full_load_week"] for name, result in scenarios.items()}
            damage_panels = [
                Panel("damage_max", "largest damage D [-]", levels=(self.damage.microfracture_damage,)),
                Panel("microfracture_volume_mm3", f"volume with D >= {self.damage.microfracture_damage:g} [mm$^3$]"),
                Panel(
                    "full_load_damage_growth_max_per_year", "largest dD/dt under full walking [1/year]",
                    back_to_healthy_weeks=full_load, levels=(self.damage.growth_tolerance * YEAR_S,),
                ),
                Panel("load_fraction", "joint force fraction [-]", 1.0),
            ]
            paths.append(plot_course(folder / DAMAGE_FIGURE, data, damage_panels, f"{config.case}: fatigue damage (triangle: back to full load)"))
        header, rows = self._scenario_rows(scenarios)
        paths.append(plot_scenarios(folder / SCENARIO_FIGURE, header, rows, f"{config.case}: scenarios"))
        pressure = np.array([[self.pressure_mmHg[step] for step in row] for row in steps])
        captions = [f"week {w:.3g} ({phase})" for w, phase in zip(weeks, table.phases, strict=True)]
        rows = [(VARIABLES["pressure"], pressure, (float(pressure.min()), float(pressure.max())))]
        if self.damage is not None:
            damage = np.array([[self.damage_cells[step] for step in row] for row in steps])
            rows.append((DAMAGE_VARIABLE, damage, (0.0, self.damage.microfracture_damage)))
        frames = cutaway_frames(self.grid, rows, table.scenarios, captions, lesion_centre_m(config))
        written, failed = write_animations(frames, [folder / path for path in ANIMATIONS])
        for path, reason in failed.items():
            LOG.warning("course: no animation %s (%s)", Path(path).name, reason)
        return [str(Path(path).relative_to(folder)) for path in paths + written]


def _json_or_nan(value: float) -> float:
    """-inf (no cell) as NaN."""
    return value if np.isfinite(value) else np.nan


def course_outputs(config: Config, problem: CourseBiot) -> list[Output]:
    """The outputs a course adds to those of every case."""
    return [CourseOutput(config, problem)]
