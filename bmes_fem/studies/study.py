"""A study loaded and checked: the base config, the varied parameters, and every case's config and key.

Whatever a study file gets wrong is found here, before any case runs, as a one-line ConfigError naming
the study file, the key, the value and what was expected: a parameter path the config does not have,
a unit that does not fit the parameter (each written value is applied to the base config with
``with_overrides``, so the schema checks it), min not below max, a case the schema rejects (every
case config is built and validated), an unknown quantity name.

A case is keyed by a hash of its resolved config without the case name and the output settings: equal
physics share one folder, and a rerun finds the cases it has already finished.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pint
import yaml

from bmes_fem.config.case import Config
from bmes_fem.config.loader import load_config, with_overrides
from bmes_fem.errors import ConfigError
from bmes_fem.post.quantities import Quantity, check_quantity_names, summary_quantities
from bmes_fem.studies.sampling import grid_design, morris_design, scaled, sobol_design
from bmes_fem.studies.schema import Change, StudyFile, read_study
from bmes_fem.units import UREG

DISPLAY_UNITS = {"Pa": "mmHg", "m": "mm", "m**2": "m^2", "rad": "deg"}  # shown in these unless the study writes a unit
KEY_DIGITS = 16  # hex digits of the sha256 kept in a case folder's name
_NOT_KEYED = ("case", "output")  # config sections that do not change a case's results


@dataclass(frozen=True)
class Parameter:
    """A varied config value: its dotted path and its display unit (shown value = ``scale`` x SI value)."""

    path: str
    unit: str = ""
    scale: float = 1.0

    @property
    def column(self) -> str:
        """Table heading, e.g. ``fluid.target_pressure [mmHg]``."""
        return f"{self.path} [{self.unit}]" if self.unit else self.path

    def shown(self, value: Any) -> Any:
        """An SI value (number or vector) in the display unit; anything else as it is."""
        if isinstance(value, tuple):
            return tuple(self.scale * component for component in value)
        if isinstance(value, float):
            return self.scale * value
        return value


@dataclass(frozen=True)
class Case:
    """One design point: label, overrides on top of the study's ``set``, validated config, key, and the
    parameters' values in its resolved config (SI number, vector as a tuple, or the value as written)."""

    label: str
    overrides: dict[str, Any]
    config: Config
    key: str
    values: dict[str, Any]

    def config_yaml(self) -> str:
        """The case file a run gets: the resolved config, named by its key (results go to <dir>/<key>/)."""
        data = self.config.to_dict()
        data["case"] = self.key
        return yaml.safe_dump(data, sort_keys=False)


@dataclass(frozen=True)
class Study:
    """A checked study; ``unit_sample`` holds the Morris / Sobol' design t in [0, 1]^k, a row per case."""

    path: Path
    spec: StudyFile
    base: Config
    parameters: tuple[Parameter, ...]
    cases: tuple[Case, ...]
    quantities: dict[str, Quantity]
    unit_sample: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def design(self) -> str:
        return self.spec.design


def case_key(config: Config) -> str:
    """The first KEY_DIGITS hex digits of sha256(resolved config without case name and output settings)."""
    return _key(config.to_dict())


def _key(data: dict) -> str:
    physics = {section: value for section, value in data.items() if section not in _NOT_KEYED}
    return hashlib.sha256(json.dumps(physics, sort_keys=True).encode()).hexdigest()[:KEY_DIGITS]


def _read(data: Any, path: str) -> Any:
    """``data[a][b][0]`` for ``path = "a.b.0"``; KeyError, IndexError or ValueError if a step is missing."""
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _si(value: Any) -> float | int | tuple[float, ...] | None:
    """The SI magnitude of a resolved value (``'3333.06 Pa'`` -> 3333.06; a list elementwise); None if not a number."""
    if isinstance(value, list):
        parts = [_si(part) for part in value]
        return tuple(float(p) for p in parts) if parts and all(isinstance(p, (int, float)) for p in parts) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, str):
        try:
            return float(value.partition(" ")[0])
        except ValueError:
            return None
    return value


def _value(data: dict, path: str) -> Any:
    """A case's value at ``path``: SI magnitude, else as written; None if the case has no such entry."""
    try:
        raw = _read(data, path)
    except (KeyError, IndexError, ValueError, TypeError):  # e.g. lesions.0.semi_axes in a case without lesions
        return None
    magnitude = _si(raw)
    return raw if magnitude is None else magnitude


def _si_unit(data: dict, path: str) -> str:
    """The SI unit the resolved config spells ``path`` in (``'Pa'``; ``''`` for a plain number or a missing path)."""
    try:
        value = _read(data, path)
    except (KeyError, IndexError, ValueError, TypeError):
        return ""
    while isinstance(value, list) and value:
        value = value[0]
    return value.partition(" ")[2] if isinstance(value, str) else ""


def _written_unit(value: Any) -> str:
    """The unit a study writes a value in (``'25 mmHg'`` -> ``'mmHg'``); '' for a bare number or text."""
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
    if not isinstance(value, str):
        return ""
    number, _, unit = value.strip().partition(" ")
    try:
        float(number)
    except ValueError:
        return ""
    return unit.strip()


def _parameter(path: str, written: Any, base_data: dict) -> Parameter:
    """Shown in the unit the study writes it in, else in DISPLAY_UNITS or SI (SI when pint cannot convert, e.g. BW)."""
    si_unit = _si_unit(base_data, path)
    unit = _written_unit(written) or DISPLAY_UNITS.get(si_unit, si_unit)
    try:
        scale = float(UREG.Quantity(1.0, si_unit or "dimensionless").to(unit or "dimensionless").magnitude)
    except (pint.errors.PintError, ValueError):
        return Parameter(path, si_unit)
    return Parameter(path, unit, scale)


def _magnitude(base: Config, path: str, value: Any, where: str) -> np.ndarray:
    """SI magnitude of a written value, after the schema has checked path, unit and bounds."""
    magnitude = _si(_read(with_overrides(base, {path: value}, source=where).to_dict(), path))
    if magnitude is None:
        raise ConfigError(f"{where}: '{path}' = {value!r} is not a number (expected a numeric parameter with a unit)")
    return np.asarray(magnitude, dtype=float)


def _interval(base: Config, path: str, low: Any, high: Any, where: str, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) in SI; ConfigError unless low < high (in every component of a vector)."""
    a = _magnitude(base, path, low, f"{where}.{names[0]}")
    b = _magnitude(base, path, high, f"{where}.{names[1]}")
    if a.shape != b.shape:
        raise ConfigError(f"{where}: {names[0]} = {low!r} and {names[1]} = {high!r} for '{path}' differ in length (expected two values of one shape)")
    if not np.all(a < b):
        raise ConfigError(f"{where}: {names[0]} = {low!r} is not below {names[1]} = {high!r} for '{path}' (expected {names[0]} < {names[1]})")
    return a, b


def _relative_interval(base: Config, change: Change, where: str) -> tuple[np.ndarray, np.ndarray]:
    """x0 (1 -+ percent / 100) around the base value x0 (SI)."""
    try:
        value = _read(base.to_dict(), change.path)
    except (KeyError, IndexError, ValueError, TypeError):
        raise ConfigError(f"{where}.path: '{change.path}' is not a parameter of the base config (e.g. fluid.target_pressure)") from None
    magnitude = _si(value)
    if magnitude is None or not np.any(magnitude):
        raise ConfigError(f"{where}.percent: '{change.path}' = {value!r} in the base config (expected a non-zero number for percent; else give low and high)")
    x0 = np.asarray(magnitude, dtype=float)
    return x0 * (1.0 - change.percent / 100.0), x0 * (1.0 + change.percent / 100.0)


def _config_value(magnitude: np.ndarray) -> float | list[float]:
    """An SI magnitude as a config value (a bare number is SI)."""
    return magnitude.tolist()


Points = list[tuple[str, dict[str, Any]]]


def _one_at_a_time(spec: StudyFile, base: Config, source: str) -> tuple[list[Parameter], Points]:
    """The base case, then each parameter at low and at high (2k + 1 cases)."""
    data = base.to_dict()
    parameters, points = [], [("base", {})]
    for i, change in enumerate(spec.one_at_a_time):
        where = f"{source}: one_at_a_time.{i}"
        if change.percent is None:
            low, high = _interval(base, change.path, change.low, change.high, where, ("low", "high"))
        else:
            low, high = _relative_interval(base, change, where)
        parameters.append(_parameter(change.path, change.low, data))
        points += [(f"{change.path} {side}", {change.path: _config_value(x)}) for side, x in (("low", low), ("high", high))]
    return parameters, points


def _global(spec: StudyFile, base: Config, source: str) -> tuple[list[Parameter], Points, np.ndarray]:
    """Morris or Sobol' points, each parameter at min + t (max - min)."""
    method = getattr(spec, spec.design)
    ranges = method.parameters
    bounds = [_interval(base, r.path, r.min, r.max, f"{source}: {spec.design}.parameters.{i}", ("min", "max")) for i, r in enumerate(ranges)]
    if spec.design == "morris":
        sample = morris_design(len(ranges), method.trajectories, method.levels, method.seed)
    else:
        sample = sobol_design(len(ranges), method.samples, method.seed)
    data = base.to_dict()
    points = [
        (f"{spec.design}_{j:03d}", {r.path: _config_value(scaled(t, *b)) for r, t, b in zip(ranges, row, bounds, strict=True)})
        for j, row in enumerate(sample)
    ]
    return [_parameter(r.path, r.min, data) for r in ranges], points, sample


def _design(spec: StudyFile, base: Config, source: str) -> tuple[list[Parameter], Points, np.ndarray | None]:
    """Parameters, (label, overrides) per case and the unit-hypercube sample (Morris, Sobol') of the design."""
    data = base.to_dict()
    if spec.cases is not None:
        written: dict[str, Any] = {}
        for case in spec.cases:
            for path, value in case.set.items():
                written.setdefault(path, value)
        return [_parameter(p, v, data) for p, v in written.items()], [(c.name, dict(c.set)) for c in spec.cases], None
    if spec.grid is not None:
        for path, values in spec.grid.items():
            for i, value in enumerate(values):
                with_overrides(base, {path: value}, source=f"{source}: grid.{path}.{i}")
        combinations = grid_design(list(spec.grid.values()))
        points = [(f"grid_{i:03d}", dict(zip(spec.grid, values, strict=True))) for i, values in enumerate(combinations)]
        return [_parameter(p, values[0], data) for p, values in spec.grid.items()], points, None
    if spec.one_at_a_time is not None:
        return (*_one_at_a_time(spec, base, source), None)
    if spec.mesh is not None:
        factor = {} if spec.mesh.refinement_factor is None else {"mesh.refinement_factor": spec.mesh.refinement_factor}
        return [Parameter("mesh.level")], [(f"level_{k}", {"mesh.level": k, **factor}) for k in spec.mesh.levels], None
    return _global(spec, base, source)


def load_study(path: str | Path) -> Study:
    """Read a study file and build every case config; ConfigError (one line) on anything wrong."""
    path = Path(path)
    spec = read_study(path)
    source = str(path)
    base = with_overrides(load_config(path.parent / spec.base), spec.set, source=f"{source}: set")
    check_quantity_names(base, list(spec.quantities), f"{source}: quantities")
    parameters, points, sample = _design(spec, base, source)
    cases = []
    for label, overrides in points:
        config = with_overrides(base, overrides, source=f"{source}: case '{label}'")
        check_quantity_names(config, list(spec.quantities), f"{source}: quantities (case '{label}')")
        data = config.to_dict()
        values = {p.path: _value(data, p.path) for p in parameters}
        cases.append(Case(label, overrides, config, _key(data), values))
    registry = summary_quantities(base)
    return Study(path, spec, base, tuple(parameters), tuple(cases), {q: registry[q] for q in spec.quantities}, sample)
