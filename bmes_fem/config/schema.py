"""Building blocks of the config schema: a strict section base class and unit-carrying field types.

A field typed ``Pressure`` accepts ``"25 mmHg"``, ``"3.3 kPa"`` or a bare SI number and holds Pa;
it is written back to YAML as ``"3333.0596853750003 Pa"``. Every number must be finite.

A field typed ``InputPath`` names an input file; a relative path is taken relative to the folder of
the YAML file that gives it (validation context ``base_dir``), so a case runs from any directory.
Validators that read an input file do so only when the context's ``read_inputs`` is true (the
default): a finished case reloads from its resolved config without opening its inputs again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationInfo

from bmes_fem.errors import ConfigError
from bmes_fem.units import PA_PER_MMHG, format_si, to_si


def _quantity(dimension: str) -> Any:
    return Annotated[
        float,
        BeforeValidator(lambda value: to_si(value, dimension)),
        PlainSerializer(lambda value: format_si(value, dimension), return_type=str),
    ]


Length = _quantity("length")
Pressure = _quantity("pressure")
Mass = _quantity("mass")
Angle = _quantity("angle")
Area = _quantity("area")
Viscosity = _quantity("viscosity")
Time = _quantity("time")
Compliance = _quantity("compliance")
RatePerPressure = _quantity("rate_per_pressure")
ConductancePerArea = _quantity("conductance_per_area")
Force = _quantity("force")
Velocity = _quantity("velocity")
ForceDensity = _quantity("force_density")
Rate = _quantity("rate")
VolumeRate = _quantity("volume_rate")
Density = _quantity("density")
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]

PositiveLength = Annotated[Length, Field(gt=0.0)]
PositivePressure = Annotated[Pressure, Field(gt=0.0)]
PositiveTime = Annotated[Time, Field(gt=0.0)]
PositiveDensity = Annotated[Density, Field(gt=0.0)]
Vector3 = tuple[float, float, float]
Point3 = tuple[Length, Length, Length]


def _resolve_input_path(path: Path, info: ValidationInfo) -> Path:
    """``path`` relative to the context's ``base_dir`` (the config file's folder), made absolute."""
    base_dir = (info.context or {}).get("base_dir")
    path = path.expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path.absolute()


InputPath = Annotated[Path, AfterValidator(_resolve_input_path)]


def reads_inputs(info: ValidationInfo) -> bool:
    """Whether validators may open input files (false when a finished case is reloaded)."""
    return (info.context or {}).get("read_inputs", True)


def check_input[T](read: Callable[[], T]) -> T:
    """``read()`` (an input-file reader) called in a validator: its ConfigError, which names the file, becomes
    the ValueError pydantic reports under the key that names the file."""
    try:
        return read()
    except ConfigError as err:
        raise ValueError(str(err)) from None


def mmHg(value: float) -> float:
    """Pa from mmHg (for defaults)."""
    return value * PA_PER_MMHG


class Section(BaseModel):
    """A config section: unknown keys are errors, numbers are finite, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
