"""Config sections that choose the domain: a parametric geometry or a mesh file, and mesh sizes.

``geometry.kind``: femoral_head (default), femoral_condyle, box, cylinder, sphere (parametric, meshed
with gmsh), gmsh_file (a ``.msh`` with named physical groups), mesh_file (any meshio-readable volume
mesh with a tag map), stl_surface (a closed STL surface meshed with gmsh, boundaries chosen by rules).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from bmes_fem.config.schema import Angle, InputPath, Point3, PositiveLength, Section, Vector3

MESH_UNITS_TO_M = {"mm": 1e-3, "m": 1.0}


class PhysealScar(Section):
    """Physeal scar: a slab of trabecular bone (region ``physeal_scar``) around a plane ``depth`` below the
    articular apex (head: along the neck axis from the pole; condyle: proximal from the distal-most point)."""

    depth: PositiveLength
    thickness: PositiveLength = 0.001


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
    physeal_scar: PhysealScar | None = None

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


class FemoralCondyleGeometry(Section):
    """Parametric distal femur (frame: origin at the distal-most level midway between the condyles,
    z proximal along the shaft, x medial, y anterior; the cut is proximal at z = length)."""

    kind: Literal["femoral_condyle"]
    condyle_spacing: PositiveLength = 0.048
    condyle_width: PositiveLength = 0.030
    condyle_length: PositiveLength = 0.060
    condyle_height: PositiveLength = 0.050
    metaphysis_radius: PositiveLength = 0.030
    metaphysis_length: PositiveLength = 0.045
    shaft_radius: PositiveLength = 0.014
    length: PositiveLength = 0.100
    articular_height: PositiveLength = 0.020
    cortical_thickness: PositiveLength = 0.0015
    subchondral_thickness: PositiveLength = 0.0010
    physeal_scar: PhysealScar | None = None


class BoxGeometry(Section):
    """Verification box [-lx/2, lx/2] x [-ly/2, ly/2] x [0, lz]: articular top, cut bottom, periosteal sides."""

    kind: Literal["box"]
    lengths: tuple[PositiveLength, PositiveLength, PositiveLength] = (0.02, 0.02, 0.02)


class CylinderGeometry(Section):
    """Verification cylinder along z from 0 to height: articular top, cut bottom, periosteal side."""

    kind: Literal["cylinder"]
    radius: PositiveLength = 0.01
    height: PositiveLength = 0.03


class SphereGeometry(Section):
    """Verification ball at the origin: one boundary, ``surface``."""

    kind: Literal["sphere"]
    radius: PositiveLength = 0.024


class _MeshFileBase(Section):
    path: InputPath
    unit: Literal["mm", "m"] = "mm"

    @property
    def scale_to_m(self) -> float:
        return MESH_UNITS_TO_M[self.unit]


class MeshFile(_MeshFileBase):
    """A gmsh ``.msh`` file whose physical groups carry the region and boundary names."""

    kind: Literal["gmsh_file"]


Tags = int | tuple[int, ...]


class TagMap(Section):
    """Model names to the file's integer tags: ``regions`` (volume cells), ``boundaries`` (surface cells)."""

    cell_data: str | None = None  # name of the tag array; None: the file's only integer cell-data array
    regions: dict[str, Tags]
    boundaries: dict[str, Tags] = {}


class MeshioFile(_MeshFileBase):
    """Any meshio-readable tetrahedral mesh (VTU, XDMF, Abaqus INP, MED, ...) with a tag map."""

    kind: Literal["mesh_file"]
    tag_map: TagMap


class SelectBox(Section):
    """Facets whose midpoint lies in the axis-aligned box [min, max]."""

    kind: Literal["box"]
    min: Point3
    max: Point3


class SelectSphere(Section):
    """Facets whose midpoint lies within radius of centre."""

    kind: Literal["sphere"]
    centre: Point3
    radius: PositiveLength


class SelectNormalCone(Section):
    """Facets whose outward unit normal n satisfies n . axis >= cos(half_angle)."""

    kind: Literal["normal_cone"]
    axis: Vector3
    half_angle: Angle


Selection = Annotated[SelectBox | SelectSphere | SelectNormalCone, Field(discriminator="kind")]


class StlSurface(_MeshFileBase):
    """A closed STL bone surface filled with tetrahedra by gmsh (region trabecular).

    ``boundaries`` maps a boundary name to rules that must all hold for a surface facet; the first
    matching name wins, unmatched facets are ``periosteal``. The model needs ``articular`` and ``cut``.
    """

    kind: Literal["stl_surface"]
    boundaries: dict[str, tuple[Selection, ...]]

    @model_validator(mode="after")
    def _names(self) -> StlSurface:
        missing = [name for name in ("articular", "cut") if name not in self.boundaries]
        if missing:
            raise ValueError(f"geometry.boundaries needs rules for {', '.join(missing)} (the rest is periosteal)")
        if "periosteal" in self.boundaries:
            raise ValueError("geometry.boundaries.periosteal: takes no rules (it is every facet no rule selects)")
        return self


class MeshSettings(Section):
    """Element sizes at level 0; level k divides every size by refinement_factor**k.

    ``articular_size`` (optional) holds within ``articular_depth`` of the articular surface, graded to
    ``size`` at twice that depth. ``save``: also write the generated mesh as a gmsh .msh (mm) for reuse
    with ``geometry.kind: gmsh_file``.
    """

    size: PositiveLength = 0.003
    lesion_size: PositiveLength = 0.0015
    articular_size: PositiveLength | None = None
    articular_depth: PositiveLength = 0.003
    level: Annotated[int, Field(ge=0)] = 0
    refinement_factor: Annotated[float, Field(gt=1.0)] = 2.0
    save: Path | None = None

    def at_level(self, size_m: float) -> float:
        """h_k = h_0 / f^k."""
        return size_m / self.refinement_factor**self.level


#: the ``geometry.kind`` values; the first is the default when ``kind`` is left out
GEOMETRY_KINDS = (
    "femoral_head", "femoral_condyle", "box", "cylinder", "sphere", "gmsh_file", "mesh_file", "stl_surface",
)
Geometry = Annotated[
    FemoralHeadGeometry
    | FemoralCondyleGeometry
    | BoxGeometry
    | CylinderGeometry
    | SphereGeometry
    | MeshFile
    | MeshioFile
    | StlSurface,
    Field(discriminator="kind"),
]


def default_geometry() -> FemoralHeadGeometry:
    return FemoralHeadGeometry()
