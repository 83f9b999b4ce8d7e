"""The outputs of a disease course (bmes_fem.solve.course): per state the summary scalars, then per scenario
the time series (``course.csv``), the course figures, the pressure animation and the summary entries.

At every state (collective): peak and mean lesion pressure [mmHg], the volume above each pressure threshold
[mm^3] (30 and 40 mmHg: the painful volume), the risk-zone volume for each R_crit [mm^3] and the largest
R (bmes_fem.post.fields), and the pressure gathered on rank 0 for the animation.

Back to healthy, per scenario and volume (painful: p above a threshold; risk: R >= R_crit, "back to load"):
the first sample time t* from which every later sample has the volume within the tolerance of the
healthy reference's,

    |V(t) - V_h| <= max(r V_h, V_abs)   for all samples t >= t*        (r, V_abs: course.volume_tolerance[_mm3])

None if the last sample is still outside; the first sample time if no sample ever was. The excess of a
volume is the time integral of V(t) - V_h over the course (trapezoidal, mm^3 weeks).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from dolfinx import fem

from bmes_fem.config.case import Config
from bmes_fem.config.course import WEEK_S
from bmes_fem.output.base import Output
from bmes_fem.output.files import FIGURES_DIR
from bmes_fem.output.io import gather_grid
from bmes_fem.output.progress import LOG
from bmes_fem.post.analysis import StateAnalysis
from bmes_fem.post.fields import cell_fields, mechanics_summary, pressure_summary
from bmes_fem.solve.course import SERIES, CourseBiot
from bmes_fem.solve.state import State
from bmes_fem.units import PA_PER_MMHG

COURSE_TABLE = "course.csv"
PRESSURE_FIGURE = FIGURES_DIR / "course_pressure.png"
VOLUME_FIGURE = FIGURES_DIR / "course_volumes.png"
TISSUE_FIGURE = FIGURES_DIR / "course_tissue.png"
ANIMATIONS = (FIGURES_DIR / "course_pressure.gif", FIGURES_DIR / "course_pressure.mp4")
REFERENCE = "healthy_reference"  # the scenario column of the healthy reference row in course.csv

PRESSURES = ("interstitial_oncotic_pressure", "capillary_pressure", "venous_pressure")


def _column(name: str) -> tuple[str, float]:
    """(course.csv column, factor from SI) of a course series: pressures in mmHg, the modulus in GPa."""
    if name in PRESSURES:
        return f"{name}_mmHg", 1.0 / PA_PER_MMHG
    if name == "lesion_modulus_Pa":
        return "lesion_modulus_GPa", 1e-9
    return name, 1.0


PARAMETER_COLUMNS = {name: _column(name) for name in SERIES}


def metric_names(config: Config) -> list[str]:
    """The per-state scalars, named as in summary.json's ``pressure`` and ``mechanics`` sections."""
    return [
        "p_lesion_peak_mmHg",
        "p_lesion_mean_mmHg",
        *(f"volume_p_above_{threshold / PA_PER_MMHG:g}_mmHg_mm3" for threshold in config.risk.pressure_thresholds),
        *(f"risk_zone_volume_R_ge_{critical:g}_mm3" for critical in config.risk.critical_indices),
        "risk_index_max",
    ]


def back_to_healthy(times: np.ndarray, volumes_mm3: np.ndarray, healthy_mm3: float, tolerance_mm3: float) -> float | None:
    """t* of the module docstring, in the unit of ``times``."""
    outside = np.flatnonzero(~(np.abs(np.asarray(volumes_mm3) - healthy_mm3) <= tolerance_mm3))
    if outside.size == 0:
        return float(times[0])
    return None if outside[-1] == len(times) - 1 else float(times[outside[-1] + 1])


def _value(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _json(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _zone(metric: str) -> str:
    """``risk_zone_volume_R_ge_0.5_mm3`` -> ``R_ge_0.5``; ``volume_p_above_30_mmHg_mm3`` -> ``p_above_30_mmHg``."""
    return metric.removeprefix("risk_zone_volume_").removeprefix("volume_").removesuffix("_mm3")


class CourseOutput(Output):
    """Course scalars per state; ``course.csv``, figures, animation and summary entries at the end."""

    name = "course"

    def __init__(self, config: Config, problem: CourseBiot) -> None:
        self.config, self.table, self.entries = config, problem.table, problem.entries
        self.metrics = metric_names(config)
        self.values: dict[int, dict[str, float]] = {}  # step -> metric -> value
        self.figures = config.output.figures
        self.grid = None  # rank 0: the mesh of the animation
        self.pressure_mmHg: dict[int, np.ndarray] = {}  # rank 0: step -> nodal p of the grid
        self._p_mmHg: fem.Function | None = None

    def on_state(self, state: State) -> None:
        cells = cell_fields(state, self.config)
        scalars = {**pressure_summary(state, self.config), **mechanics_summary(state, cells, self.config)}
        self.values[state.step] = {name: _value(scalars[name]) for name in self.metrics}
        if self.figures:
            if self._p_mmHg is None:
                self._p_mmHg = fem.Function(state.pressure.function_space, name="p_mmHg")
            self._p_mmHg.x.array[:] = state.pressure.x.array / PA_PER_MMHG
            grid = gather_grid(state.domain, {"p_mmHg": self._p_mmHg}, {})
            if grid is not None:
                if self.grid is None:
                    self.grid = grid
                self.pressure_mmHg[state.step] = np.asarray(grid.point_data["p_mmHg"]).copy()

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
        volumes = [name for name in self.metrics if name.endswith("_mm3")]
        tolerances = {name: max(course.volume_tolerance * healthy[name], course.volume_tolerance_mm3) for name in volumes}
        back = {name: [back_to_healthy(weeks, v, healthy[name], tolerances[name]) for v in series[name]] for name in volumes}
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
            }
        files = []
        if final.state.domain.mesh.comm.rank == 0:
            self._write_table(folder / COURSE_TABLE, series, healthy)
            files.append(COURSE_TABLE)
            if self.figures:
                files += self._write_figures(folder, series, healthy, tolerances, back, steps)
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

    def _write_figures(self, folder, series, healthy, tolerances, back, steps) -> list[str]:
        """The three time-series figures and the animations (rank 0); one an encoder refuses is left out with a warning."""
        from bmes_fem.view.course_plots import CourseSeries, Panel, cutaway_frames, plot_course, write_animations
        from bmes_fem.view.render import lesion_centre_m

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
        volume_panels = [
            Panel(column, f"{label} [mm$^3$]", healthy[column], tolerances[column], dict(zip(table.scenarios, back[column], strict=True)))
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
        pressure = np.array([[self.pressure_mmHg[step] for step in row] for row in steps])
        captions = [f"week {w:.3g} ({phase})" for w, phase in zip(weeks, table.phases, strict=True)]
        centre = lesion_centre_m(config)
        frames = cutaway_frames(self.grid, pressure, table.scenarios, captions, centre, (float(pressure.min()), float(pressure.max())))
        written, failed = write_animations(frames, [folder / path for path in ANIMATIONS])
        for path, reason in failed.items():
            LOG.warning("course: no animation %s (%s)", Path(path).name, reason)
        return [str(Path(path).relative_to(folder)) for path in paths + written]


def course_outputs(config: Config, problem: CourseBiot) -> list[Output]:
    """The outputs a course adds to those of every case."""
    return [CourseOutput(config, problem)]
