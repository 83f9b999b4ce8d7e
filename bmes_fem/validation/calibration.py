"""``bmes calibrate``: fit model parameters to measured pressures through a surrogate of the model.

The calibration file (validated like a case config; every problem is one line before any case runs):

    name: bmes_range                       # report <results-dir>/bmes_range/, runs <results-dir>/bmes_range_design/
    base: ../femoral_head_bmes.yaml        # a case config, relative to this file
    set: {}                                # dotted overrides of the base
    parameters:                            # uniform priors between the bounds
      - {path: lesion_effects.capillary_pressure, min: 45 mmHg, max: 70 mmHg}
      - {path: lesions.0.semi_axes, factor: [0.7, 1.5]}     # a factor on the base value (vectors: every component)
    measurements:                          # Gaussian likelihood: value and sd, or a range read as a 95 % interval
      - {name: lesion_centre, point: [4 mm, 4 mm, 10 mm], range: [40 mmHg, 60 mmHg], source: ...}
      - {name: healthy, region: healthy_trabecular_mean, value: 25 mmHg, sd: 3 mmHg}
      # - {name: needle, point: [...], time: 60 s, value: ..., sd: ...}    (a transient base: p at that time)
    predictions: [pressure.p_lesion_peak_mmHg, mechanics.risk_zone_volume_R_ge_0.5_mm3]   # summary scalars
    design: {kind: latin_hypercube, samples: 24, corners: true, seed: 1}   # or sobol (samples a power of 2)
    surrogate: auto                        # gaussian_process, quadratic, or auto (smaller leave-one-out error)
    mcmc: {walkers: 32, steps: 4000, burn: 1000, seed: 1}

A region is ``lesion_mean``, ``lesion_peak`` or ``healthy_trabecular_mean`` (the summary's region values). A
measurement range [a, b] becomes value (a + b) / 2 and sd (b - a) / (2 x 1.96).

Checked before any run: every key and unit; each parameter path exists in the base config and is a number;
both ends of its bounds (or of base x factor) pass the config schema (the same check as `bmes study`); every
design case validates; a time needs a transient base and lies in its run; every measurement point lies in
the mesh of the base case (the mesh is built for that); every prediction is a summary scalar of the base.

Method (docs/validation.md):

1. Design: n points t in [0, 1]^k (scipy.stats.qmc Latin hypercube or scrambled Sobol', seeded) and the 2^k
   corners of the box; parameter x_i = min_i + t_i (max_i - min_i). Each point is a case of the study
   ``<name>_design`` (bmes_fem.studies).
2. Surrogate per output (bmes_fem.validation.surrogate), with its leave-one-out error.
3. Best fit by least squares, 4. posterior by MCMC (emcee) with a Gaussian likelihood, uniform priors on the
   bounds and the surrogate's variance added, 5. credible bands of every output: bmes_fem.validation.posterior.
6. The fitted config (the base with the best-fit values) is written as YAML and run (study ``<name>_fitted``),
   so the surrogate's prediction at the best fit is checked against the model.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from mpi4py import MPI
from pydantic import Field, model_validator
from scipy.stats import qmc

from bmes_fem.config.case import Config
from bmes_fem.config.loader import load_config, with_overrides
from bmes_fem.config.schema import Point3, PositivePressure, Pressure, Section, Time
from bmes_fem.errors import BmesError, ConfigError
from bmes_fem.output.files import SUMMARY_FILE
from bmes_fem.output.io import atomic_directory
from bmes_fem.post.quantities import check_quantity_names, summary_quantities, summary_value
from bmes_fem.studies.executor import Executor
from bmes_fem.studies.schema import Name, Overrides, ParameterPath
from bmes_fem.studies.study import Parameter, _interval, _magnitude, _value
from bmes_fem.studies.study import _parameter as display_parameter
from bmes_fem.studies.table import cell, csv_string, markdown_table
from bmes_fem.units import PA_PER_MMHG
from bmes_fem.validation.measurements import read_probe_series
from bmes_fem.validation.posterior import QUANTILES, McmcSpec, Posterior, fit_posterior, predict, predictive_bands
from bmes_fem.validation.runs import Runs, run_configs
from bmes_fem.validation.schema import read_file
from bmes_fem.validation.surrogate import FittedSurface, fit_surface

REGIONS = {
    "lesion_mean": "pressure.p_lesion_mean_mmHg",
    "lesion_peak": "pressure.p_lesion_peak_mmHg",
    "healthy_trabecular_mean": "pressure.p_healthy_trabecular_mean_mmHg",
}
RANGE_Z = 1.959963984540054  # a range is read as mean +- 1.96 SD (95 % of a normal)
POSTERIOR_ROWS = 10000  # samples kept in posterior.csv
MAX_CORNER_PARAMETERS = 5  # design.corners adds 2^k runs
BOUND_TOLERANCE = 1e-3  # a best fit this close to 0 or 1 in unit coordinates is reported as on its bound
DIGITS = 4


class ParameterSpec(Section):
    """A calibrated parameter: ``min`` and ``max`` as written in a case file, or ``factor`` [low, high] on its base value."""

    path: ParameterPath
    min: Any = None
    max: Any = None
    factor: tuple[Annotated[float, Field(gt=0.0)], Annotated[float, Field(gt=0.0)]] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> ParameterSpec:
        absolute = self.min is not None and self.max is not None
        if absolute == (self.factor is not None) or (self.min is None) != (self.max is None):
            raise ValueError(f"parameter '{self.path}' has no bounds: give min and max, or factor: [low, high] (not both)")
        return self


class MeasurementSpec(Section):
    """A measured pressure at a point (optionally at a time) or of a named region, with its spread."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]
    point: Point3 | None = None
    region: Literal[tuple(REGIONS)] | None = None
    time: Time | None = None
    value: Pressure | None = None
    sd: PositivePressure | None = None
    range: tuple[Pressure, Pressure] | None = None
    source: str = ""

    @model_validator(mode="after")
    def _complete(self) -> MeasurementSpec:
        if (self.point is None) == (self.region is None):
            raise ValueError(f"measurement '{self.name}': give a point [x, y, z] or a region ({', '.join(REGIONS)})")
        if self.time is not None and self.point is None:
            raise ValueError(f"measurement '{self.name}': a time needs a point (region values are of the final state)")
        if (self.range is None) == (self.value is None or self.sd is None) or (self.range is not None and (self.value, self.sd) != (None, None)):
            raise ValueError(f"measurement '{self.name}': give value and sd, or range: [low, high]")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"measurement '{self.name}': range low must be below high")
        return self

    @property
    def quantity(self) -> str | None:
        """The summary scalar compared; None for a point at a time (read from probes.csv)."""
        if self.region is not None:
            return REGIONS[self.region]
        return None if self.time is not None else f"probes.{self.name}.p_final_mmHg"

    @property
    def mean_sd_Pa(self) -> tuple[float, float]:
        """(value, sd) [Pa]; a range [a, b] gives ((a + b) / 2, (b - a) / (2 x 1.96))."""
        if self.range is None:
            return self.value, self.sd
        low, high = self.range
        return 0.5 * (low + high), (high - low) / (2.0 * RANGE_Z)


class DesignSpec(Section):
    """``samples`` space-filling points, and (``corners``) the 2^k corners of the box, where a fit that cannot reach
    the data piles up and a surrogate would otherwise extrapolate."""

    kind: Literal["latin_hypercube", "sobol"] = "latin_hypercube"
    samples: Annotated[int, Field(ge=4)] = 24
    corners: bool = True
    seed: int = 1

    @model_validator(mode="after")
    def _power_of_two(self) -> DesignSpec:
        if self.kind == "sobol" and self.samples & (self.samples - 1):
            raise ValueError(f"design.samples = {self.samples}: a Sobol' design needs a power of 2 (e.g. 16, 32)")
        return self


class CalibrationFile(Section):
    """The calibration file (module docstring)."""

    name: Name
    base: Path
    set: Overrides = {}
    parameters: Annotated[tuple[ParameterSpec, ...], Field(min_length=1)]
    measurements: Annotated[tuple[MeasurementSpec, ...], Field(min_length=1)]
    predictions: tuple[str, ...] = ()
    design: DesignSpec = DesignSpec()
    surrogate: Literal["auto", "gaussian_process", "quadratic"] = "auto"
    mcmc: McmcSpec = McmcSpec()

    @model_validator(mode="after")
    def _unique(self) -> CalibrationFile:
        for key, names in (("parameters", [p.path for p in self.parameters]), ("measurements", [m.name for m in self.measurements])):
            repeated = [n for n in names if names.count(n) > 1]
            if repeated:
                raise ValueError(f"{key}: '{repeated[0]}' is listed twice (expected each once)")
        return self


@dataclass(frozen=True)
class CalibratedParameter:
    """A parameter as one number x in [low, high]: the SI value, or a factor on ``base`` (then x is the factor)."""

    path: str
    low: float
    high: float
    base: np.ndarray | None
    display: Parameter

    def x(self, t: np.ndarray) -> np.ndarray:
        """x = low + t (high - low)."""
        return self.low + np.asarray(t) * (self.high - self.low)

    def config_value(self, t: float) -> float | list[float]:
        """The value written into the case config (SI; a vector for a factor on a vector)."""
        x = float(self.x(t))
        return x if self.base is None else (x * self.base).tolist()

    def shown(self, t: np.ndarray) -> np.ndarray:
        """x in the display unit (a factor as it is)."""
        return self.x(t) * (1.0 if self.base is not None else self.display.scale)

    @property
    def label(self) -> str:
        return f"{self.path} (factor)" if self.base is not None else self.display.column

    @property
    def short_label(self) -> str:
        """The last key of the path, with the unit (or 'factor'), for plot axes."""
        name = self.path.rsplit(".", 1)[-1]
        return f"{name} factor" if self.base is not None else f"{name} [{self.display.unit}]" if self.display.unit else name

    @property
    def shown_bounds(self) -> tuple[float, float]:
        return float(self.shown(0.0)), float(self.shown(1.0))


@dataclass(frozen=True)
class Output:
    """A model output of the calibration: a measurement (``measured``) or a prediction, read from a case folder."""

    name: str
    unit: str
    quantity: str | None  # a summary scalar, or None for a probe value at a time
    probe: str | None = None
    time_s: float | None = None
    measured: bool = False
    value: float = math.nan
    sd: float = math.nan

    def read(self, folder: Path, summary: dict) -> float:
        if self.quantity is not None:
            value = summary_value(summary, self.quantity)
            return math.nan if value is None else float(value)
        times_s, pressure = read_probe_series(folder, self.probe)
        return float(np.interp(self.time_s, times_s, pressure))


@dataclass(frozen=True)
class CalibrationProblem:
    """A checked calibration file: base config (with the measurement probes), parameters, outputs, design."""

    path: Path
    spec: CalibrationFile
    base: Config
    parameters: tuple[CalibratedParameter, ...]
    outputs: tuple[Output, ...]
    design: np.ndarray

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def measured(self) -> list[int]:
        return [j for j, o in enumerate(self.outputs) if o.measured]

    def config_at(self, t: np.ndarray, case: str | None = None) -> Config:
        overrides = {p.path: p.config_value(float(ti)) for p, ti in zip(self.parameters, t, strict=True)}
        if case is not None:
            overrides["case"] = case
        return with_overrides(self.base, overrides, source=f"{self.path}: parameters at t = {np.round(t, 4).tolist()}")

    def design_labels(self) -> list[str]:
        return [f"design_{i:03d}" for i in range(len(self.design))]


def _calibrated_parameter(base: Config, spec: ParameterSpec, index: int, source: str) -> CalibratedParameter:
    """Bounds checked at both ends by the config schema (as `bmes study` checks them)."""
    where = f"{source}: parameters.{index}"
    data = base.to_dict()
    display = display_parameter(spec.path, spec.min, data)
    if spec.factor is None:
        low, high = _interval(base, spec.path, spec.min, spec.max, where, ("min", "max"))
        if low.ndim:
            raise ConfigError(f"{where}: '{spec.path}' is a vector; calibrate it by factor: [low, high] on its base value")
        return CalibratedParameter(spec.path, float(low), float(high), None, display)
    current = _value(data, spec.path)
    if isinstance(current, bool) or not isinstance(current, (float, int, tuple)):
        raise ConfigError(f"{where}.path: '{spec.path}' = {current!r} in the base config is not a number (expected a numeric parameter)")
    x0 = np.asarray(current, dtype=float)
    low, high = spec.factor
    if not np.all(x0 != 0.0) or not low < high:
        raise ConfigError(f"{where}.factor = [{low:g}, {high:g}] on '{spec.path}' = {current!r}: expected low < high and a non-zero base value")
    for end, factor in (("factor.0", low), ("factor.1", high)):
        _magnitude(base, spec.path, (factor * x0).tolist(), f"{where}.{end}")
    return CalibratedParameter(spec.path, low, high, x0, display)


def _measurement_outputs(base: Config, spec: CalibrationFile, source: str) -> tuple[Config, list[Output]]:
    """The base config recording a probe per point measurement, and the measured outputs (values in mmHg)."""
    probes = [p.model_dump(mode="json") for p in base.output.probes]
    outputs = []
    for i, m in enumerate(spec.measurements):
        if m.time is not None and base.analysis != "transient":
            raise ConfigError(f"{source}: measurements.{i}.time = {m.time:g} s needs a transient base (analysis is {base.analysis})")
        if m.time is not None and m.time > base.transient.time.times()[-1]:
            raise ConfigError(f"{source}: measurements.{i}.time = {m.time:g} s lies after the end of the run ({base.transient.time.times()[-1]:g} s)")
        if m.point is not None and any(p["name"] == m.name for p in probes):
            raise ConfigError(f"{source}: measurements.{i}.name = '{m.name}' is already a probe of the base config; rename it")
        if m.point is not None:
            probes.append({"name": m.name, "point": [f"{c!r} m" for c in m.point]})
        mean, sd = m.mean_sd_Pa
        outputs.append(Output(m.name, "mmHg", m.quantity, m.name if m.point else None, m.time, True, mean / PA_PER_MMHG, sd / PA_PER_MMHG))
    return with_overrides(base, {"output.probes": probes}, source=f"{source}: measurements"), outputs


def _check_points_in_mesh(base: Config, spec: CalibrationFile, source: str) -> None:
    """ConfigError naming the first measurement point outside the mesh of the base case (the mesh is built here)."""
    from bmes_fem.config.case import Probe
    from bmes_fem.mesh.build import build_domain
    from bmes_fem.post.probes import ProbePoints

    located = [(i, m) for i, m in enumerate(spec.measurements) if m.point is not None]
    if not located:
        return
    domain = build_domain(base, MPI.COMM_SELF)
    for i, m in located:
        try:
            ProbePoints(domain, [Probe(name=m.name, point=m.point)])
        except ConfigError:
            x_mm = ", ".join(f"{c * 1e3:g}" for c in m.point)
            raise ConfigError(f"{source}: measurements.{i}.point = ({x_mm}) mm lies outside the mesh of the base case; expected a point inside the bone") from None


def unit_design(spec: DesignSpec, k: int) -> np.ndarray:
    """``samples`` points in [0, 1]^k, a Latin hypercube or a scrambled Sobol' sequence (scipy.stats.qmc, seeded),
    then the 2^k corners if ``corners``."""
    if spec.kind == "sobol":
        points = qmc.Sobol(d=k, scramble=True, rng=spec.seed).random(spec.samples)
    else:
        points = qmc.LatinHypercube(d=k, rng=spec.seed).random(spec.samples)
    if spec.corners:
        points = np.vstack([points, np.array(list(itertools.product((0.0, 1.0), repeat=k)))])
    return points


def load_calibration(path: str | Path, check_mesh: bool = True) -> CalibrationProblem:
    """Read and check a calibration file and build every design case; ConfigError (one line) before any run.

    ``check_mesh``: build the base mesh to check that every measurement point lies in it.
    """
    path = Path(path).resolve()
    source = str(path)
    spec = read_file(CalibrationFile, path)
    base = with_overrides(load_config(path.parent / spec.base), spec.set, source=f"{source}: set")
    parameters = tuple(_calibrated_parameter(base, p, i, source) for i, p in enumerate(spec.parameters))
    base, outputs = _measurement_outputs(base, spec, source)
    check_quantity_names(base, list(spec.predictions), f"{source}: predictions")
    registry = summary_quantities(base)
    outputs += [Output(q, registry[q].unit, q) for q in spec.predictions if q not in {o.quantity for o in outputs}]
    k = len(parameters)
    needed = (k + 1) * (k + 2) // 2 + 1
    if spec.design.samples < needed:
        raise ConfigError(f"{source}: design.samples = {spec.design.samples}: {k} parameters need at least {needed} space-filling points (a full quadratic has {needed - 1} terms)")
    if spec.design.corners and k > MAX_CORNER_PARAMETERS:
        raise ConfigError(f"{source}: design.corners with {k} parameters would add 2^{k} runs; expected at most {MAX_CORNER_PARAMETERS} parameters, or corners: false")
    problem = CalibrationProblem(path, spec, base, parameters, tuple(outputs), unit_design(spec.design, k))
    for t in problem.design:
        problem.config_at(t)  # every design case passes the schema
    if check_mesh:
        _check_points_in_mesh(base, spec, source)
    return problem


@dataclass(frozen=True)
class Calibrated:
    """Everything the report shows: surrogates, posterior, bands, the design's outputs and the check run."""

    problem: CalibrationProblem
    design: np.ndarray  # finished design points, unit coordinates
    design_outputs: np.ndarray  # their outputs (rows: points; columns: problem.outputs)
    surfaces: list[FittedSurface]
    posterior: Posterior
    predictive_bands: np.ndarray  # rows: outputs; columns: 2.5, 50, 97.5 %
    check: np.ndarray | None = None  # outputs of the run of the fitted config

    @property
    def samples_shown(self) -> np.ndarray:
        return np.column_stack([p.shown(self.posterior.samples[:, i]) for i, p in enumerate(self.problem.parameters)])

    @property
    def best_shown(self) -> list[float]:
        return [float(p.shown(self.posterior.best[i])) for i, p in enumerate(self.problem.parameters)]

    @property
    def best_prediction(self) -> tuple[np.ndarray, np.ndarray]:
        """Surrogate mean and standard deviation of every output at the best fit."""
        mean, variance = predict(self.surfaces, self.posterior.best[None, :])
        return mean[0], np.sqrt(variance[0])

    def surrogate_misses(self) -> list[str]:
        """Outputs whose run of the fitted config lies outside the surrogate's mean +- 1.96 SD at the best fit."""
        if self.check is None:
            return []
        mean, sd = self.best_prediction
        return [o.name for o, run, m, s in zip(self.problem.outputs, self.check, mean, sd, strict=True) if abs(run - m) > RANGE_Z * s]


def calibrate(problem: CalibrationProblem, design: np.ndarray, outputs: np.ndarray, values: np.ndarray | None = None) -> Calibrated:
    """Surrogates of every output over the finished design, then best fit, posterior and bands.

    ``values``: measured values to fit instead of the file's (synthetic data); spreads stay the file's.
    """
    measured = problem.measured
    surfaces = [fit_surface(design, outputs[:, j], problem.spec.surrogate) for j in range(outputs.shape[1])]
    y = np.array([problem.outputs[j].value for j in measured]) if values is None else np.asarray(values, dtype=float)
    sd = np.array([problem.outputs[j].sd for j in measured])
    posterior = fit_posterior([surfaces[j] for j in measured], y, sd, problem.spec.mcmc, design)
    bands = predictive_bands(surfaces, posterior.samples, problem.spec.mcmc.seed)
    return Calibrated(problem, design, outputs, surfaces, posterior, bands)


def read_outputs(problem: CalibrationProblem, folder: Path) -> np.ndarray:
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    return np.array([output.read(folder, summary) for output in problem.outputs])


def _table_value(value: float | list[float]) -> float | tuple[float, ...]:
    """A config value as the study table shows it (a vector as a tuple)."""
    return tuple(value) if isinstance(value, list) else value


def run_design(problem: CalibrationProblem, executor: Executor, results_dir: Path) -> tuple[Runs, np.ndarray, np.ndarray]:
    """Run the design as the study ``<name>_design``; (runs, finished points, their outputs)."""
    labels = problem.design_labels()
    configs = {label: problem.config_at(t) for label, t in zip(labels, problem.design, strict=True)}
    values = {label: {p.path: _table_value(p.config_value(float(ti))) for p, ti in zip(problem.parameters, t, strict=True)}
              for label, t in zip(labels, problem.design, strict=True)}  # fmt: skip
    displays = [p.display for p in problem.parameters]
    quantities = [o.quantity for o in problem.outputs if o.quantity is not None]
    runs = run_configs(f"{problem.name}_design", configs, executor, results_dir, problem.path, quantities, displays, values)
    finished = [i for i, label in enumerate(labels) if runs.folders[label] is not None]
    outputs = np.array([read_outputs(problem, runs.folders[labels[i]]) for i in finished]).reshape(len(finished), len(problem.outputs))
    return runs, problem.design[finished], outputs


@dataclass(frozen=True)
class CalibrationRun:
    calibrated: Calibrated | None
    design_runs: Runs
    check_runs: Runs | None
    written: list[Path] = field(default_factory=list)
    report: str = ""

    @property
    def interrupted(self) -> bool:
        return self.design_runs.interrupted or (self.check_runs is not None and self.check_runs.interrupted)

    @property
    def exit_code(self) -> int:
        """130 if interrupted, 1 if a design case or the check run failed, else 0."""
        if self.interrupted:
            return 130
        return max(self.design_runs.run.exit_code, self.check_runs.run.exit_code if self.check_runs else 0)


def run_calibration(problem: CalibrationProblem, executor: Executor, results_dir: Path) -> CalibrationRun:
    """Design runs, surrogate, fit, posterior, the fitted config and its run; the report in ``<results-dir>/<name>/``."""
    results_dir = Path(results_dir)
    design_runs, design, outputs = run_design(problem, executor, results_dir)
    if design_runs.interrupted:
        return CalibrationRun(None, design_runs, None)
    k = len(problem.parameters)
    usable = np.all(np.isfinite(outputs), axis=1)
    if usable.sum() < (k + 1) * (k + 2) // 2 + 1:
        raise BmesError(f"{problem.path}: only {int(usable.sum())} of {len(problem.design)} design runs gave every output; see {design_runs.run.folder}/table.md")
    calibrated = calibrate(problem, design[usable], outputs[usable])
    fitted = problem.config_at(calibrated.posterior.best, case=f"{problem.name}_fitted")
    check_runs = run_configs(f"{problem.name}_fitted", {"fitted": fitted}, executor, results_dir, problem.path)
    if check_runs.interrupted:
        return CalibrationRun(calibrated, design_runs, check_runs)
    if check_runs.folders["fitted"] is not None:
        calibrated = replace(calibrated, check=read_outputs(problem, check_runs.folders["fitted"]))
    report = report_markdown(calibrated, design_runs, check_runs)
    written = write_report(results_dir / problem.name, calibrated, fitted, report)
    return CalibrationRun(calibrated, design_runs, check_runs, written, report)


def _n(value: float, digits: int = DIGITS) -> str:
    return cell(float(value), digits)


def parameter_rows(calibrated: Calibrated) -> list[list[str]]:
    """parameter, prior bounds, best fit, posterior median, 95 % credible interval (display units)."""
    q = calibrated.posterior.quantiles()
    rows = []
    for i, p in enumerate(calibrated.problem.parameters):
        low, high = p.shown_bounds
        shown = p.shown(q[:, i])
        t = calibrated.posterior.best[i]
        bound = " (lower bound)" if t < BOUND_TOLERANCE else " (upper bound)" if t > 1.0 - BOUND_TOLERANCE else ""
        rows.append([p.label, f"{_n(low)} to {_n(high)}", _n(calibrated.best_shown[i]) + bound, _n(shown[1]), f"{_n(shown[0])} to {_n(shown[2])}"])
    return rows


def output_rows(calibrated: Calibrated) -> list[list[str]]:
    """output, unit, measured, surrogate at the best fit, posterior predictive median [95 %], run of the fitted config."""
    mean, sd = calibrated.best_prediction
    rows = []
    for j, o in enumerate(calibrated.problem.outputs):
        band = calibrated.predictive_bands[j]
        measured = f"{_n(o.value)} ± {_n(o.sd)}" if o.measured else ""
        check = "" if calibrated.check is None else _n(calibrated.check[j])
        rows.append([o.name, o.unit, measured, f"{_n(mean[j])} ± {_n(sd[j], 2)}", f"{_n(band[1])} [{_n(band[0])}, {_n(band[2])}]", check])
    return rows


def surrogate_rows(calibrated: Calibrated) -> list[list[str]]:
    """output, kind kept, leave-one-out RMSE of each kind tried, max |error| and standardised RMS of the kept one."""
    rows = []
    for o, s in zip(calibrated.problem.outputs, calibrated.surfaces, strict=True):
        kept = s.tried[s.kind]
        rmse = [(_n(s.tried[kind].rmse, 3) if kind in s.tried else "") for kind in ("gaussian_process", "quadratic")]
        rows.append([o.name, s.kind, *rmse, _n(kept.max_abs, 3), _n(kept.standardised_rms, 3)])
    return rows


def report_markdown(calibrated: Calibrated, design_runs: Runs, check_runs: Runs | None) -> str:
    problem, posterior = calibrated.problem, calibrated.posterior
    spec = problem.spec
    n_measured = len(problem.measured)
    taus = ", ".join(f"{p.path} {_n(t, 3)}" for p, t in zip(problem.parameters, posterior.autocorrelation_steps, strict=True))
    effective = ", ".join(_n(n, 3) for n in posterior.effective_samples)
    check = "did not run" if calibrated.check is None else f"`{check_runs.folders['fitted']}`"
    misses = calibrated.surrogate_misses()
    if misses:
        check += (f". The run lies outside the surrogate's mean ± 1.96 SD for {', '.join(misses)}: the surrogate is least "
                  "accurate at the best fit there; more design points near it (or narrower bounds) would help")
    return (
        f"# Calibration {problem.name}\n\n"
        f"File `{problem.path}`, base `{spec.base}`. Design: {spec.design.kind}, {len(problem.design)} points (seed "
        f"{spec.design.seed}), {len(calibrated.design)} finished with every output (runs in `{design_runs.run.folder}`). "
        f"Uniform priors on the bounds; Gaussian likelihood of {n_measured} measurement(s) with the surrogate variance "
        "added; best fit by least squares, posterior by emcee (docs/validation.md).\n\n"
        "## Parameters\n\n"
        + markdown_table(["parameter", "prior bounds", "best fit", "posterior median", "95 % credible interval"], parameter_rows(calibrated))
        + f"\nchi^2 at the best fit = {_n(posterior.chi2, 3)} for {n_measured} measurement(s) and {len(problem.parameters)} parameter(s).\n\n"
        "## Outputs\n\n"
        + markdown_table(["output", "unit", "measured (value ± SD)", "best fit (surrogate ± SD)", "posterior predictive median [95 %]", "fitted config, run"], output_rows(calibrated))
        + f"\nFitted config run: {check}.\n\n"
        "## Surrogate (leave-one-out cross-validation over the design)\n\n"
        + markdown_table(["output", "kept", "LOO RMSE, Gaussian process", "LOO RMSE, quadratic", "max |LOO error| (kept)", "standardised LOO RMS (kept)"], surrogate_rows(calibrated))
        + f"\n## Sampler\n\nemcee, {spec.mcmc.walkers} walkers x {spec.mcmc.steps} steps, first {spec.mcmc.burn} discarded (seed "
        f"{spec.mcmc.seed}); mean acceptance {_n(posterior.acceptance, 3)}; integrated autocorrelation time [steps]: {taus}; "
        f"effective samples {effective}.\n"
    )


def _csv(calibrated: Calibrated) -> tuple[str, str]:
    """design.csv (points in display units and outputs) and posterior.csv (thinned samples, display units)."""
    problem = calibrated.problem
    names = [p.label for p in problem.parameters]
    shown = np.column_stack([p.shown(calibrated.design[:, i]) for i, p in enumerate(problem.parameters)])
    design = csv_string(names + [f"{o.name} [{o.unit}]" for o in problem.outputs],
                        [[cell(float(v), None) for v in row] for row in np.hstack([shown, calibrated.design_outputs])])  # fmt: skip
    samples = calibrated.samples_shown
    step = max(1, len(samples) // POSTERIOR_ROWS)
    posterior = csv_string(names, [[cell(float(v), None) for v in row] for row in samples[::step]])
    return design, posterior


def _json(calibrated: Calibrated) -> dict:
    problem, posterior = calibrated.problem, calibrated.posterior
    q = posterior.quantiles()
    return {
        "parameters": {
            p.path: {"label": p.label, "bounds": list(p.shown_bounds), "best_fit": calibrated.best_shown[i],
                     "posterior_quantiles": {f"{level:g}%": float(p.shown(q[r, i])) for r, level in enumerate(QUANTILES)},
                     "autocorrelation_steps": float(posterior.autocorrelation_steps[i])}
            for i, p in enumerate(problem.parameters)
        },
        "outputs": {
            o.name: {"unit": o.unit, "measured": [o.value, o.sd] if o.measured else None, "best_fit_surrogate": float(calibrated.best_prediction[0][j]), "best_fit_surrogate_sd": float(calibrated.best_prediction[1][j]),
                      "posterior_predictive": dict(zip((f"{level:g}%" for level in QUANTILES), map(float, calibrated.predictive_bands[j]), strict=True)),
                      "fitted_config_run": None if calibrated.check is None else float(calibrated.check[j]),
                      "surrogate": s.kind, "loo_rmse": {kind: loo.rmse for kind, loo in s.tried.items()}}
            for j, (o, s) in enumerate(zip(problem.outputs, calibrated.surfaces, strict=True))
        },
        "chi2_best_fit": posterior.chi2,
        "mcmc": {"acceptance": posterior.acceptance, "walkers": posterior.walkers, "kept_steps": posterior.kept_steps},
        "design_points_finished": len(calibrated.design),
    }  # fmt: skip


REPORT_FILES = ("calibration.md", "calibration.json", "design.csv", "posterior.csv", "corner.png", "predictions.png", "fitted.yaml")


def write_report(folder: Path, calibrated: Calibrated, fitted: Config, report: str) -> list[Path]:
    """The report files of REPORT_FILES in ``folder``, written atomically (all or nothing)."""
    from bmes_fem.validation.plots import corner_plot, predictions_plot

    design, posterior = _csv(calibrated)
    with atomic_directory(folder, MPI.COMM_SELF) as temporary:
        (temporary / "calibration.md").write_text(report)
        (temporary / "calibration.json").write_text(json.dumps(_json(calibrated), indent=2) + "\n")
        (temporary / "design.csv").write_text(design)
        (temporary / "posterior.csv").write_text(posterior)
        corner_plot(temporary / "corner.png", calibrated)
        predictions_plot(temporary / "predictions.png", calibrated)
        (temporary / "fitted.yaml").write_text(f"# Fitted by `bmes calibrate {calibrated.problem.path}` (best fit, {folder / 'calibration.md'})\n" + fitted.to_yaml())
    return [folder / name for name in REPORT_FILES]
