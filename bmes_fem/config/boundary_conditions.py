"""Boundary conditions and sources as data: a list of conditions, each on one or more named boundaries.

Mechanics (u):
- ``clamped``: u = 0;  ``roller``: u . n = 0 on a plane face (also a symmetry plane);
- ``displacement``: chosen components ``u_x``, ``u_y``, ``u_z`` prescribed (times ``history``);
- ``traction``: t = value (a vector, times ``history``);  ``normal_pressure``: t = -value n (positive compresses);
- ``joint_contact``: the joint force of the ``load`` section spread over the boundary (cosine cap or patches);
- ``rigid_plate``: the face moves as one rigid, frictionless plate along its normal under a total
  compressive ``force`` (times ``history``); the plate displacement is an unknown (by superposition).
Fluid (p):
- ``no_flux`` (also what a boundary without a fluid condition gets);  ``drained``: p = pressure;
- ``robin``: -kappa grad p . n = conductance (p - pressure);  ``flux``: -kappa grad p . n = value (outward).

Rules checked when the config is loaded: every boundary name exists (for parametric geometries; a
mesh file's names are checked when it is read), at most one fluid condition per boundary, and no two
mechanical conditions on one face that fight (two constraints on one displacement component, or a
load on a clamped face or a plate). A mechanics problem that leaves rigid motion free is an error
when the mesh is built (bmes_fem.physics.boundary_conditions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from bmes_fem.config.histories import Step, TimeFunction
from bmes_fem.config.schema import (
    ConductancePerArea,
    Force,
    ForceDensity,
    Length,
    Point3,
    PositiveLength,
    Pressure,
    Rate,
    Section,
    Velocity,
    VolumeRate,
    check_input,
    mmHg,
    reads_inputs,
)

MECHANICS, FLUID = "mechanics", "fluid"


class _Condition(Section):
    """A condition on the named boundaries (``boundary``: one name or a list)."""

    boundary: tuple[str, ...]
    FIELD: ClassVar[str] = MECHANICS

    @field_validator("boundary", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("boundary")
    @classmethod
    def _not_empty(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if not names:
            raise ValueError("needs at least one boundary name")
        return names



class Clamped(_Condition):
    kind: Literal["clamped"]


class Roller(_Condition):
    kind: Literal["roller"]


class Displacement(_Condition):
    kind: Literal["displacement"]
    u_x: Length | None = None
    u_y: Length | None = None
    u_z: Length | None = None
    history: Step

    def components(self) -> dict[int, float]:
        """Prescribed components {axis: value [m]}."""
        return {axis: value for axis, value in enumerate((self.u_x, self.u_y, self.u_z)) if value is not None}


class Traction(_Condition):
    kind: Literal["traction"]
    value: tuple[Pressure, Pressure, Pressure]
    history: Step


class NormalPressure(_Condition):
    kind: Literal["normal_pressure"]
    value: Pressure
    history: Step


class JointContact(_Condition):
    kind: Literal["joint_contact"]
    history: Step

    @field_validator("history")
    @classmethod
    def _pushes_only(cls, history: TimeFunction, info: ValidationInfo) -> TimeFunction:
        """A compressive contact cannot pull: f >= 0 at every point of a ``table`` and every row of a waveform."""
        rule = "the joint contact pushes and cannot pull; expected fractions >= 0"
        if history.kind == "table":
            for index, (time_s, fraction) in enumerate(history.table):
                if fraction < 0:
                    raise ValueError(f"table.{index} = [{time_s:g} s, {fraction:g}]: {rule}")
        elif history.kind == "waveform" and reads_inputs(info):
            table = check_input(history.waveform.read)
            negative = np.flatnonzero(table.fraction < 0)
            if negative.size:
                k = negative[0]
                raise ValueError(
                    f"waveform file '{history.waveform.path}': row {table.lines[k]} has fraction = {table.fraction[k]:g}: {rule}"
                )
        return history


class RigidPlate(_Condition):
    kind: Literal["rigid_plate"]
    force: Force  # total compressive force on the plate [N]
    history: Step


class NoFlux(_Condition):
    kind: Literal["no_flux"]
    FIELD: ClassVar[str] = FLUID


class Drained(_Condition):
    kind: Literal["drained"]
    pressure: Pressure = 0.0
    FIELD: ClassVar[str] = FLUID


class Robin(_Condition):
    kind: Literal["robin"]
    conductance: Annotated[ConductancePerArea, Field(ge=0.0)]
    pressure: Pressure
    FIELD: ClassVar[str] = FLUID


class Flux(_Condition):
    kind: Literal["flux"]
    value: Velocity  # outward normal flux -kappa grad p . n [m/s]
    history: Step
    FIELD: ClassVar[str] = FLUID


Condition = Annotated[
    Clamped | Roller | Displacement | Traction | NormalPressure | JointContact | RigidPlate | NoFlux | Drained | Robin | Flux,
    Field(discriminator="kind"),
]


def bone_defaults() -> list[dict]:
    """The conditions of the bone geometries when a config gives none: the cut clamped, the joint force on
    the articular cartilage (no flux through it), Robin drainage through the periosteal cortex."""
    return [
        {"boundary": "cut", "kind": "clamped"},
        {"boundary": "articular", "kind": "joint_contact"},
        {"boundary": "periosteal", "kind": "robin", "conductance": 1.0e-11, "pressure": mmHg(15.0)},
    ]


EXCLUSIVE = ("clamped", "rigid_plate")  # no other mechanical condition may share their face


def check_conditions(conditions: Sequence[_Condition], boundary_names: Sequence[str] | None) -> None:
    """ValueError naming the condition (``boundary_conditions.<i>``) that uses an unknown boundary or fights another.

    Fights found here: two fluid conditions on a face (a drained face with a flux among them), a clamped
    face or a plate with any other mechanical condition, two rollers, two displacement conditions on one
    component. A roller and a displacement on the face's normal component are found when the mesh is known.
    """
    fluid_on: dict[str, int] = {}
    mechanics_on: dict[str, list[int]] = {}
    for index, condition in enumerate(conditions):
        key = f"boundary_conditions.{index} ({condition.kind})"
        for name in condition.boundary:
            if boundary_names is not None and name not in boundary_names:
                raise ValueError(f"{key}: boundary '{name}' is not in the mesh (its boundaries: {', '.join(boundary_names)})")
            if condition.FIELD == FLUID:
                if name in fluid_on:
                    other = conditions[fluid_on[name]]
                    what = "a drained face with a flux" if {other.kind, condition.kind} == {"drained", "flux"} else "two fluid conditions"
                    raise ValueError(f"{key}: boundary '{name}' already has {other.kind} (boundary_conditions.{fluid_on[name]}): {what} on one face")
                fluid_on[name] = index
                continue
            for earlier in mechanics_on.setdefault(name, []):
                other = conditions[earlier]
                both = {other.kind, condition.kind}
                overlap = (
                    both & set(EXCLUSIVE)
                    or (other.kind == condition.kind == "roller")
                    or (both == {"displacement"} and set(other.components()) & set(condition.components()))
                )
                if overlap:
                    raise ValueError(
                        f"{key}: boundary '{name}' already has {other.kind} (boundary_conditions.{earlier}); "
                        "the two conditions fight on one face (a clamped face or a plate takes no other mechanical "
                        "condition; one constraint per displacement component)"
                    )
            mechanics_on[name].append(index)


class Injection(Section):
    """A fluid source of volume rate ``rate`` [m^3/s] spread over a ball, g = rate w(x) / int w dx with
    w = max(1 - |x - c|^2 / r^2, 0) (e.g. saline injected through a needle)."""

    centre: Point3
    radius: PositiveLength
    rate: VolumeRate
    history: TimeFunction = TimeFunction()


class Sources(Section):
    """Volume sources: a body force f [N/m^3] (e.g. gravity), a uniform fluid source g [1/s], injections."""

    body_force: tuple[ForceDensity, ForceDensity, ForceDensity] = (0.0, 0.0, 0.0)
    fluid_source: Rate = 0.0
    injections: tuple[Injection, ...] = ()
