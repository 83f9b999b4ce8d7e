"""A validation file: one published measurement, the case that reproduces its setting, and the model quantity
compared with it. ``bmes validate`` runs every file of configs/validation/ (docs/validation.md).

    measurement:                       # what was measured, with its source (not part of the case config)
      study: hungerford1975            # short key of the source: a cross-validation fold holds out all its rows
      source: Hungerford DS 1975, Johns Hopkins Med J 137:270-275
      mark: S                          # reliability mark of docs/parameters.md: S seen, M from memory, D derived
      setting: normal human IOP, intertrochanteric, controls
      reported: "< 30 mmHg in all controls"        # as published
      high: 30 mmHg                    # the interval: value and sd (value - sd .. value + sd), or low and/or high
      basis: upper limit of the controls           # how the interval was read from the report
    case: ../femoral_head_bmes.yaml    # a case config or another validation file (its case and set), relative
                                       # to this file; or an inline case mapping
    set: {lesions: []}                 # dotted overrides of the case
    model:
      quantity: pressure.p_healthy_trabecular_mean_mmHg     # a summary scalar (bmes_fem.post.quantities), or
      # probe: {name: needle, point: [0 mm, 0 mm, 0 mm]}    # a point recorded at every state, and
      # statistic: rise_at             # final, value_at, rise_at, peak_rise or time_to_fraction (below)
      # time: 330 s                    # for value_at and rise_at
      # fraction: 0.9                  # for time_to_fraction
      # relative_to_case: true         # the ratio of the value to the same value in the run of `case` alone
      description: mean p in healthy trabecular bone         # what the model value stands for

Probe statistics of the pressure series p(t) at the probe (t_0 = 0 the initial state, t_end the last step):

    final             p(t_end)                 (a steady case: its one state)
    value_at          p(time)                  (linear between steps)
    rise_at           p(time) - p(0)
    peak_rise         max_t p(t) - p(0)
    time_to_fraction  first t with p(t) - p(0) >= fraction (max_t p - p(0))   (linear between steps)

An interval given by a mean and a standard deviation is the mean +- 1 SD (the spread of the published subjects);
an open end (only ``low`` or only ``high``) is a one-sided limit.

The paths a file sets itself (`Validation.fixed`: the keys of its ``set`` and of an inline case, and those of a
validation file it builds on) are the row's own choices: a cross-validation does not fit a parameter there
(bmes_fem.validation.crossval_file, FittedParameter.applies). A case config file sets none: it holds the defaults.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from bmes_fem.config.case import Config, Probe
from bmes_fem.config.loader import parse_config, read_yaml, with_overrides
from bmes_fem.config.schema import Section, Time
from bmes_fem.errors import BmesError, ConfigError
from bmes_fem.output.files import PROBE_TABLE
from bmes_fem.post.quantities import summary_quantities
from bmes_fem.validation.schema import in_unit, read_file

STATISTICS = ("final", "value_at", "rise_at", "peak_rise", "time_to_fraction")
NEEDS_TIME = ("value_at", "rise_at")
PROBE_UNIT = "mmHg"  # runs write probes.csv in mmHg (output.pressure_unit, set by the runner)
Number = float | int | str


class Measured(Section):
    """The published measurement and the interval the model is held against (module docstring)."""

    study: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    source: Annotated[str, Field(min_length=1)]
    mark: Literal["S", "M", "D", "S/M", "M/D", "S/D"]
    setting: Annotated[str, Field(min_length=1)]
    reported: Annotated[str, Field(min_length=1)]
    basis: Annotated[str, Field(min_length=1)]
    value: Number | None = None
    sd: Number | None = None
    low: Number | None = None
    high: Number | None = None

    @model_validator(mode="after")
    def _one_interval(self) -> Measured:
        if self.sd is not None and (self.value is None or self.low is not None or self.high is not None):
            raise ValueError("measurement: sd needs value, and no low or high (the interval is value +- sd)")
        if self.sd is None and self.low is None and self.high is None:
            raise ValueError("measurement: give value and sd, or low and/or high (an open end is a one-sided limit)")
        return self


class ModelQuantity(Section):
    """The model value compared: a summary scalar or a statistic of a probe's pressure series."""

    description: Annotated[str, Field(min_length=1)]
    quantity: str | None = None
    probe: Probe | None = None
    statistic: Literal[STATISTICS] | None = None
    time: Time | None = None
    fraction: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    relative_to_case: bool = False

    @model_validator(mode="after")
    def _complete(self) -> ModelQuantity:
        if (self.quantity is None) == (self.probe is None):
            raise ValueError("model: give either quantity (a summary scalar) or probe with a statistic")
        if self.probe is not None and self.statistic is None:
            raise ValueError(f"model.statistic: a probe needs a statistic, one of {', '.join(STATISTICS)}")
        if self.quantity is not None and (self.statistic, self.time, self.fraction) != (None, None, None):
            raise ValueError("model: statistic, time and fraction apply to a probe, not to a summary quantity")
        if (self.statistic in NEEDS_TIME) != (self.time is not None):
            raise ValueError(f"model.time: needed by statistic {', '.join(NEEDS_TIME)} only (statistic = {self.statistic})")
        if (self.statistic == "time_to_fraction") != (self.fraction is not None):
            raise ValueError(f"model.fraction: needed by statistic time_to_fraction only (statistic = {self.statistic})")
        return self

    def unit(self, config: Config) -> str:
        """The unit of the compared value in a run of ``config``; ``-`` for a ratio."""
        if self.relative_to_case:
            return "-"
        if self.quantity is not None:
            return summary_quantities(config)[self.quantity].unit
        return "s" if self.statistic == "time_to_fraction" else PROBE_UNIT


class ValidationFile(Section):
    measurement: Measured
    case: Path | dict[str, Any]
    set: dict[str, Any] = {}
    model: ModelQuantity


@dataclass(frozen=True)
class Validation:
    """A checked validation file: the run compared (``config``, with its probe), the reference run of a ratio,
    and the measured interval in ``unit`` (NaN for an open end)."""

    name: str
    path: Path
    spec: ValidationFile
    config: Config
    reference: Config | None
    unit: str
    value: float
    low: float
    high: float
    case_fixed: frozenset[str]  # dotted paths the case sets itself (inline, or a validation file's)

    @property
    def configs(self) -> tuple[Config, ...]:
        return (self.config,) if self.reference is None else (self.config, self.reference)

    @property
    def study(self) -> str:
        return self.spec.measurement.study

    @property
    def fixed(self) -> frozenset[str]:
        """The dotted paths this row sets itself: its case's and its ``set``'s (module docstring)."""
        return self.case_fixed | written_paths(self.spec.set)


def written_paths(data: dict[str, Any], prefix: str = "") -> frozenset[str]:
    """The dotted paths of the leaves of a mapping as written (``{fluid: {capillary_filtration: 0}}`` ->
    ``fluid.capillary_filtration``; a dotted key stays one path; a list is a leaf)."""
    paths: set[str] = set()
    for key, value in data.items():
        path = f"{prefix}{key}"
        paths |= written_paths(value, f"{path}.") if isinstance(value, dict) and value else {path}
    return frozenset(paths)


def _with_probe(config: Config, probe: Probe | None, source: str) -> Config:
    """``config`` recording ``probe`` too (a probe of the same name must sit at the same point)."""
    if probe is None:
        return config
    same = [p for p in config.output.probes if p.name == probe.name]
    if same and same[0].point != probe.point:
        raise ConfigError(f"{source}: model.probe '{probe.name}' is also a probe of the case at another point; rename one")
    if same:
        return config
    probes = [p.model_dump(mode="json") for p in (*config.output.probes, probe)]
    return with_overrides(config, {"output.probes": probes}, source=source)


def _case_config(case: Path | dict, path: Path, seen: tuple[Path, ...]) -> tuple[Config, frozenset[str]]:
    """The config ``case`` names (an inline mapping, a case file, or another validation file's run) and the paths
    it sets itself (an inline case's, a validation file's `Validation.fixed`; none for a case file)."""
    source = f"{path}: case"
    if isinstance(case, dict):
        return parse_config(case, source, base_dir=path.parent), written_paths(case)
    target = (path.parent / case).resolve()
    data = read_yaml(target, f"{source} = '{case}':", "a case config or a validation file")
    if isinstance(data, dict) and "measurement" in data:
        if target in seen:
            raise ConfigError(f"{source} = {case}: the validation files refer to each other in a loop ({' -> '.join(map(str, seen))})")
        validation = load_validation(target, (*seen, target))
        return validation.config, validation.fixed
    return parse_config(data, str(target), base_dir=target.parent), frozenset()


def _check_model(model: ModelQuantity, config: Config, source: str) -> None:
    """The quantity exists for this run, and a probe statistic fits its analysis and time range."""
    if model.quantity is not None and model.quantity not in summary_quantities(config):
        raise ConfigError(f"{source}: model.quantity = {model.quantity!r} is not reported by this case (e.g. pressure.p_lesion_peak_mmHg)")
    if model.statistic in (None, "final"):
        return
    if config.analysis != "transient":
        raise ConfigError(f"{source}: model.statistic = {model.statistic!r} needs a time series (analysis: transient), the case is {config.analysis}")
    end = float(config.transient.time.times()[-1])
    if model.time is not None and not 0.0 <= model.time <= end:
        raise ConfigError(f"{source}: model.time = {model.time:g} s lies outside the run, 0 to {end:g} s")


def _interval(measured: Measured, unit: str, source: str) -> tuple[float, float, float]:
    """(value, low, high) in ``unit``; NaN for an open end or a missing value."""

    def number(key: str) -> float:
        raw = getattr(measured, key)
        return math.nan if raw is None else in_unit(raw, unit, f"{source}: measurement.{key}")

    value = number("value")
    if measured.sd is not None:
        sd = number("sd")
        if sd <= 0:
            raise ConfigError(f"{source}: measurement.sd = {measured.sd!r}: expected a positive spread")
        return value, value - sd, value + sd
    low, high = number("low"), number("high")
    if low >= high:
        raise ConfigError(f"{source}: measurement.low = {measured.low!r} is not below measurement.high = {measured.high!r}")
    return value, low, high


def load_validation(path: str | Path, seen: tuple[Path, ...] = ()) -> Validation:
    """Read and check a validation file and build its run(s); ConfigError (one line) before anything runs."""
    path = Path(path).resolve()
    spec = read_file(ValidationFile, path)
    case, case_fixed = _case_config(spec.case, path, (*seen, path))
    config = _with_probe(with_overrides(case, spec.set, source=f"{path}: set"), spec.model.probe, f"{path}: model.probe")
    reference = _with_probe(case, spec.model.probe, f"{path}: model.probe") if spec.model.relative_to_case else None
    for run in (config,) if reference is None else (config, reference):
        _check_model(spec.model, run, str(path))
    unit = spec.model.unit(config)
    value, low, high = _interval(spec.measurement, unit, str(path))
    return Validation(path.stem, path, spec, config, reference, unit, value, low, high, case_fixed)


def probe_statistic(times_s: np.ndarray, pressure: np.ndarray, model: ModelQuantity) -> float:
    """The statistic of the module docstring of a pressure series p(t_k)."""
    rise = pressure - pressure[0]
    if model.statistic == "final":
        return float(pressure[-1])
    if model.statistic == "value_at":
        return float(np.interp(model.time, times_s, pressure))
    if model.statistic == "rise_at":
        return float(np.interp(model.time, times_s, rise))
    if model.statistic == "peak_rise":
        return float(rise.max())
    target = model.fraction * rise.max()
    k = int(np.argmax(rise >= target))
    if k == 0:
        return float(times_s[0])
    return float(np.interp(target, rise[k - 1 : k + 1], times_s[k - 1 : k + 1]))


def read_probe_series(case_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(time [s], pressure [mmHg]) of probe ``name`` from a finished case folder's probes.csv."""
    table = case_dir / PROBE_TABLE
    column = f"{name}_p_{PROBE_UNIT}"
    if not table.is_file():
        raise BmesError(f"{case_dir} has no {PROBE_TABLE} (a case folder of an earlier run without probes? delete it to rerun)")
    with table.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows or column not in rows[0]:
        raise BmesError(f"{table} has no column {column} (written by a run with other probes; delete {case_dir} to rerun)")
    return np.array([float(r["time_s"]) for r in rows]), np.array([float(r[column]) for r in rows])
