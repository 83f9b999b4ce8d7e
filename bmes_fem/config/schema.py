"""Building blocks of the config schema: a strict section base class and unit-carrying field types.

A field typed ``Pressure`` accepts ``"25 mmHg"``, ``"3.3 kPa"`` or a bare SI number and holds Pa;
it is written back to YAML as ``"3333.0596853750003 Pa"``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

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
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]

PositiveLength = Annotated[Length, Field(gt=0.0)]
PositivePressure = Annotated[Pressure, Field(gt=0.0)]
Vector3 = tuple[float, float, float]
Point3 = tuple[Length, Length, Length]


def mmHg(value: float) -> float:
    """Pa from mmHg (for defaults)."""
    return value * PA_PER_MMHG


class Section(BaseModel):
    """A config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
