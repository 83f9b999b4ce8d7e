"""The calibration file of ``bmes calibrate`` and the checked problem it describes.

The file (validated like a case config; every problem is one line before any case runs):

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
    surrogate: auto                        # gaussian_process, log_gaussian_process (positive outputs), quadratic, or auto (smallest leave-one-out error)
    mcmc: {walkers: 32, steps: 4000, burn: 1000, seed: 1}

A region is ``lesion_mean``, ``lesion_peak`` or ``healthy_trabecular_mean`` (the summary's region values). A
measurement range [a, b] becomes value (a + b) / 2 and sd (b - a) / (2 x 1.96).

Checked before any run: every key and unit; each parameter path exists in the base config and is a number;
both ends of its bounds (or of base x factor) pass the config schema (the same check as `bmes study`); every
design case validates; a time needs a transient base and lies in its run; every measurement point lies in
the mesh of the base case (the mesh is built for that); every prediction is a summary scalar of the base.

`load_calibration` reads the file into a `CalibrationProblem`: the base config (with a probe per point
measurement), each parameter as one number x in [low, high] (`CalibratedParameter`), the outputs compared or
predicted (`Output`) and the design points in unit coordinates (`DesignSpec.unit_points`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from mpi4py import MPI
from pydantic import Field, model_validator
from scipy.stats import qmc

from bmes_fem.config.case import Config, Probe
from bmes_fem.config.loader import load_config, with_overrides
from bmes_fem.config.schema import Point3, PositivePressure, Pressure, Section, Time
from bmes_fem.errors import ConfigError
from bmes_fem.post.quantities import check_quantity_names, summary_quantities
from bmes_fem.studies.schema import Name, Overrides, ParameterPath
from bmes_fem.studies.study import Parameter, _interval, _magnitude, _value
from bmes_fem.studies.study import _parameter as display_parameter
from bmes_fem.units import PA_PER_MMHG
from bmes_fem.validation.posterior import McmcSpec
from bmes_fem.validation.schema import read_file

REGIONS = {
    "lesion_mean": "pressure.p_lesion_mean_mmHg",
    "lesion_peak": "pressure.p_lesion_peak_mmHg",
    "healthy_trabecular_mean": "pressure.p_healthy_trabecular_mean_mmHg",
}
RANGE_Z = 1.959963984540054  # a range is read as mean +- 1.96 SD (95 % of a normal)
MAX_CORNER_PARAMETERS = 5  # design.corners adds 2^k runs



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

    def unit_points(self, k: int) -> np.ndarray:
        """``samples`` points in [0, 1]^k, a Latin hypercube or a scrambled Sobol' sequence (scipy.stats.qmc, seeded),
        then the 2^k corners if ``corners``; rows: points."""
        if self.kind == "sobol":
            points = qmc.Sobol(d=k, scramble=True, rng=self.seed).random(self.samples)
        else:
            points = qmc.LatinHypercube(d=k, rng=self.seed).random(self.samples)
        if self.corners:
            points = np.vstack([points, np.array(list(itertools.product((0.0, 1.0), repeat=k)))])
        return points


class CalibrationFile(Section):
    """The calibration file (module docstring)."""

    name: Name
    base: Path
    set: Overrides = {}
    parameters: Annotated[tuple[ParameterSpec, ...], Field(min_length=1)]
    measurements: Annotated[tuple[MeasurementSpec, ...], Field(min_length=1)]
    predictions: tuple[str, ...] = ()
    design: DesignSpec = DesignSpec()
    surrogate: Literal["auto", "gaussian_process", "log_gaussian_process", "quadratic"] = "auto"
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
    """A model output of the calibration: a measurement (``measured``, value and sd in ``unit``) or a prediction; a
    summary scalar (``quantity``) or, for a point measurement at a time, the pressure of ``probe`` at ``time_s``."""

    name: str
    unit: str
    quantity: str | None  # a summary scalar, or None for a probe value at a time
    probe: str | None = None
    time_s: float | None = None
    measured: bool = False
    value: float = math.nan
    sd: float = math.nan


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
    def design_study(self) -> str:
        """The study of the design runs, ``<results-dir>/<name>_design/``."""
        return f"{self.name}_design"

    @property
    def fitted_study(self) -> str:
        """The study of the run of the fitted config, ``<results-dir>/<name>_fitted/``."""
        return f"{self.name}_fitted"

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


def minimum_design_points(k: int) -> int:
    """(k + 1)(k + 2)/2 + 1: one more point than a full quadratic in k parameters has terms."""
    return (k + 1) * (k + 2) // 2 + 1


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
    needed = minimum_design_points(k)
    if spec.design.samples < needed:
        raise ConfigError(f"{source}: design.samples = {spec.design.samples}: {k} parameters need at least {needed} space-filling points (a full quadratic has {needed - 1} terms)")
    if spec.design.corners and k > MAX_CORNER_PARAMETERS:
        raise ConfigError(f"{source}: design.corners with {k} parameters would add 2^{k} runs; expected at most {MAX_CORNER_PARAMETERS} parameters, or corners: false")
    problem = CalibrationProblem(path, spec, base, parameters, tuple(outputs), spec.design.unit_points(k))
    for t in problem.design:
        problem.config_at(t)  # every design case passes the schema
    if check_mesh:
        _check_points_in_mesh(base, spec, source)
    return problem
