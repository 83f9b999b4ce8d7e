"""Config sections that choose the domain: a parametric geometry or a mesh file, and mesh sizes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from bmes_fem.schema import Angle, PositiveLength, Section


class FemoralHeadGeometry(Section):
    """Parametric proximal femoral epiphysis (frame: origin at head centre, x medial, y anterior, z superior)."""

    kind: Literal["femoral_head"] = "femoral_head"
    head_radius: PositiveLength = 0.024
    neck_radius: PositiveLength = 0.016
    neck_length: PositiveLength = 0.030
    neck_shaft_angle: Angle = math.radians(130.0)
    anteversion: Angle = math.radians(12.0)
    articular_half_angle: Angle = math.radians(80.0)
    cortical_thickness: PositiveLength = 0.0015
    subchondral_thickness: PositiveLength = 0.0010

    @model_validator(mode="after")
    def _consistent(self) -> FemoralHeadGeometry:
        if self.neck_radius >= self.head_radius:
            raise ValueError(
                f"geometry.neck_radius ({self.neck_radius * 1e3:g} mm) must be smaller than "
                f"geometry.head_radius ({self.head_radius * 1e3:g} mm)"
            )
        for key in ("cortical_thickness", "subchondral_thickness"):
            if getattr(self, key) >= 0.5 * self.neck_radius:
                raise ValueError(f"geometry.{key} must be below half the neck radius")
        return self


class MeshFile(Section):
    """A gmsh ``.msh`` file whose physical groups carry the region and boundary names."""

    kind: Literal["gmsh_file"]
    path: Path
    unit: Literal["mm", "m"] = "mm"

    @property
    def scale_to_m(self) -> float:
        return {"mm": 1e-3, "m": 1.0}[self.unit]


class MeshSettings(Section):
    size: PositiveLength = 0.003
    lesion_size: PositiveLength = 0.0015


#: the ``geometry.kind`` values; the first is the default when ``kind`` is left out
GEOMETRY_KINDS = ("femoral_head", "gmsh_file")
Geometry = Annotated[FemoralHeadGeometry | MeshFile, Field(discriminator="kind")]


def default_geometry() -> FemoralHeadGeometry:
    return FemoralHeadGeometry()
