"""Shared pieces of the validation and calibration files: one-line errors for a schema, and measured values in a unit.

A file is validated like a case config: an unknown key, a missing key or a bad value is a ConfigError of one
line naming the file, the dotted key, the value and what was expected, before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pint
from pydantic import BaseModel, ValidationError

from bmes_fem.config.loader import read_yaml
from bmes_fem.config.messages import first_error
from bmes_fem.errors import ConfigError
from bmes_fem.units import UREG


def validate[M: BaseModel](model: type[M], data: Any, source: str) -> M:
    """``model`` validated from ``data``; ConfigError with one line for the first problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys ({', '.join(model.model_fields)}), got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(first_error(err.errors(), source, model)) from None


def read_file[M: BaseModel](model: type[M], path: Path) -> M:
    """A YAML file validated into ``model`` (ConfigError naming the file when it is missing or invalid)."""
    return validate(model, read_yaml(path), str(path))


def in_unit(value: Any, unit: str, where: str) -> float:
    """``value`` (``"29.8 mmHg"``, ``"1 min"``) as a number in ``unit``; a bare number only for a ratio or a count
    (``unit`` ``-``); ConfigError naming ``where`` if the dimension does not fit or a unit is missing."""
    dimensionless = unit in ("-", "")
    target = "dimensionless" if dimensionless else unit.replace("^", "**")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where} = {value!r}: expected a quantity in {unit} (e.g. '30 {unit}')")
    if isinstance(value, (int, float)):
        if not dimensionless:
            raise ConfigError(f"{where} = {value!r}: expected a quantity with its unit, e.g. '{value} {unit}'")
        return float(value)
    try:
        quantity = UREG.Quantity(value)
        return float(quantity.to(target).magnitude) if isinstance(quantity, UREG.Quantity) else float(quantity)
    except (pint.errors.PintError, ValueError, TypeError, AttributeError) as err:
        raise ConfigError(f"{where} = {value!r}: expected a quantity in {unit} ({str(err).splitlines()[0]})") from None
