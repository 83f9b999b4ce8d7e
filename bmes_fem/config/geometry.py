"""Config sections that choose the domain: a parametric geometry or a mesh file, and mesh sizes.

``geometry.kind``: femoral_head (default) and femoral_condyle (layered bones: regions trabecular,
cortical, subchondral_plate, optionally physeal_scar; boundaries articular, periosteal, cut, and ``tunnel`` when
``core_decompression`` drills tunnels into them, as into a cylinder); box,
cylinder, sphere and sphere_octant (verification shapes: region trabecular, boundaries named after the
faces); gmsh_file (a ``.msh`` with named physical groups), mesh_file (any meshio-readable volume mesh
with a tag map), stl_surface (a closed STL surface meshed with gmsh, boundaries chosen by rules),
segmentation (a label image: its bone surface meshed with gmsh, boundaries from labels, the image edge and rules).

Every consistency check of a parametric shape runs here, when the config is loaded, and names the
key; the gmsh builders (bmes_fem.mesh.shapes) take these sections as they are (SI metres).
``boundary_names()`` of each section lists the boundaries its mesh will carry.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, model_validator

from bmes_fem.config.schema import Angle, InputPath, Point3, PositiveLength, Section, Vector3, check_input, reads_inputs

MESH_UNITS_TO_M = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}
DEFAULT_MESH_UNIT = "mm"  # a mesh file without ``unit``: read in mm, its bounding box checked
LAYER_GAP_M = 1e-4  # cortical and subchondral thicknesses must differ by this, or OCC fragments fail
BONE_BOUNDARIES = ("articular", "periosteal", "cut")


def _mm(length_m: float) -> str:
    return f"{length_m * 1e3:.4g} mm"


def _deg(angle_rad: float) -> str:
    return f"{math.degrees(angle_rad):.4g} deg"


class _Parametric(Section):
    """A shape meshed by bmes_fem.mesh.shapes; ``BOUNDARIES`` are the boundary names of its mesh."""

    BOUNDARIES: ClassVar[tuple[str, ...]]

    @classmethod
    def boundary_names(cls) -> tuple[str, ...]:
        """The boundary names the mesh of this kind carries."""
        return cls.BOUNDARIES


class PhysealScar(Section):
    """Physeal scar: a slab of trabecular bone (region ``physeal_scar``) around a plane ``depth`` below the
    articular apex (head: along the neck axis from the pole; condyle: proximal from the distal-most point)."""

    depth: PositiveLength
    thickness: PositiveLength = 0.001


class Tunnel(Section):
    """A drilled tunnel: the cylinder of ``diameter`` from ``entry`` (on or outside the bone surface, e.g. the lateral
    cortex) to ``target`` (e.g. in the lesion), flat-ended at the target. ``mesh_size``: the element size along the
    tunnel at mesh level 0 (None: pi diameter / 24, 24 elements around its circumference)."""

    entry: Point3
    target: Point3
    diameter: PositiveLength = 0.0032
    mesh_size: PositiveLength | None = None

    @model_validator(mode="after")
    def _longer_than_wide(self) -> Tunnel:
        if not self.length_m() > self.diameter:
            raise ValueError(
                f"tunnel from entry {_point_mm(self.entry)} to target {_point_mm(self.target)} is {_mm(self.length_m())} long; "
                f"expected longer than its diameter {_mm(self.diameter)}"
            )
        return self

    def length_m(self) -> float:
        return math.dist(self.entry, self.target)

    def axis(self) -> tuple[float, float, float]:
        """Unit vector from the entry to the target."""
        return tuple((t - e) / self.length_m() for e, t in zip(self.entry, self.target, strict=True))

    def wall_size_m(self) -> float:
        """Element size along the tunnel at level 0."""
        return self.mesh_size if self.mesh_size is not None else math.pi * self.diameter / 24.0


class CoreDecompression(Section):
    """Tunnels drilled into the bone (one core or several small drillings).

    ``drilled: true``: the tunnels are void; their wall is the boundary ``tunnel`` (give it a condition, e.g.
    ``{kind: drained, boundary: tunnel, pressure: 15 mmHg}``). ``drilled: false``: the tunnels are meshed (their
    walls are element faces) but stay bone, so one mesh serves a disease course whose decompression scenarios drill
    them at a chosen time (``course.scenarios.<i>.decompression``) and whose other scenarios never do.
    """

    tunnels: Annotated[tuple[Tunnel, ...], Field(min_length=1)]
    drilled: bool = True


class _Drillable(_Parametric):
    """A parametric shape into which ``core_decompression`` may drill tunnels (boundary ``tunnel`` when drilled)."""

    core_decompression: CoreDecompression | None = None

    def boundary_names(self) -> tuple[str, ...]:
        drilled = self.core_decompression is not None and self.core_decompression.drilled
        return (*self.BOUNDARIES, "tunnel") if drilled else self.BOUNDARIES


def _point_mm(point_m) -> str:
    return "(" + ", ".join(f"{c * 1e3:.4g}" for c in point_m) + ") mm"


def _check_layers(cortical_thickness_m: float, subchondral_thickness_m: float) -> None:
    """The plate's inner surface must not coincide with the core's surface."""
    if abs(cortical_thickness_m - subchondral_thickness_m) < LAYER_GAP_M * (1 - 1e-9):  # 1.1 mm - 1 mm passes
        raise ValueError(
            f"geometry.cortical_thickness = {_mm(cortical_thickness_m)} and geometry.subchondral_thickness = "
            f"{_mm(subchondral_thickness_m)} must differ by at least {_mm(LAYER_GAP_M)} (coincident layer surfaces)"
        )


def _check_scar(scar: PhysealScar | None, *, low_m: float, high_m: float, low_is: str, high_is: str) -> None:
    """The scar slab (depth +- thickness/2 below the apex) must lie between depths low_m and high_m."""
    if scar is None:
        return
    half_m = scar.thickness / 2
    if not low_m + half_m < scar.depth < high_m - half_m:
        raise ValueError(
            f"geometry.physeal_scar.depth = {_mm(scar.depth)} must lie in ({_mm(low_m + half_m)}, {_mm(high_m - half_m)}) "
            f"so the scar is inside the bone ({low_is} + thickness/2, {high_is} - thickness/2)"
        )


class FemoralHeadGeometry(_Drillable):
    """Parametric proximal femoral epiphysis (frame: origin at head centre, x medial, y anterior, z superior).

    A ball fused with a neck cylinder along the neck axis ``a`` (:meth:`neck_axis`), cut perpendicular
    to ``a`` at distance neck_length; cartilage where ``a.x > head_radius cos(articular_half_angle)``.
    """

    BOUNDARIES: ClassVar[tuple[str, ...]] = BONE_BOUNDARIES

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

    def neck_axis(self) -> tuple[float, float, float]:
        """Unit vector from the neck cut towards the head centre (= the head pole):
        ``(sin(ns) cos(av), sin(ns) sin(av), -cos(ns))``, ns the neck-shaft angle, av the anteversion."""
        ns, av = self.neck_shaft_angle, self.anteversion
        return (math.sin(ns) * math.cos(av), math.sin(ns) * math.sin(av), -math.cos(ns))

    @model_validator(mode="after")
    def _consistent(self) -> FemoralHeadGeometry:
        R, rn, L = self.head_radius, self.neck_radius, self.neck_length
        t_ct, t_sc = self.cortical_thickness, self.subchondral_thickness
        _check_layers(t_ct, t_sc)
        if not rn + t_sc < R:
            raise ValueError(
                f"geometry.neck_radius = {_mm(rn)} must be below {_mm(R - t_sc)} (head_radius - subchondral_thickness)"
            )
        for key in ("cortical_thickness", "subchondral_thickness"):
            if not getattr(self, key) < 0.5 * rn:
                raise ValueError(
                    f"geometry.{key} = {_mm(getattr(self, key))} must be below {_mm(0.5 * rn)} (half the neck_radius)"
                )
        junction_m = math.sqrt(R**2 - rn**2)  # distance along the axis where the neck leaves the ball
        if not junction_m + t_ct < L:
            raise ValueError(
                f"geometry.neck_length = {_mm(L)} must exceed {_mm(junction_m + t_ct)} so the neck leaves the head "
                f"(sqrt(head_radius^2 - neck_radius^2) + cortical_thickness)"
            )
        lowest_m = -math.sqrt((R - t_sc) ** 2 - rn**2)  # where the plate's inner sphere meets the neck
        low_rad, high_rad = math.acos((R - t_sc) / R), math.acos(lowest_m / R)
        if not low_rad < self.articular_half_angle < high_rad:
            raise ValueError(
                f"geometry.articular_half_angle = {_deg(self.articular_half_angle)} must lie in "
                f"({_deg(low_rad)}, {_deg(high_rad)}) so the cartilage cap spans the subchondral plate and stays "
                f"clear of the neck"
            )
        _check_scar(self.physeal_scar, low_m=t_sc, high_m=R + L - t_ct, low_is="subchondral_thickness",
                    high_is="head_radius + neck_length - cortical_thickness")
        return self


class FemoralCondyleGeometry(_Drillable):
    """Parametric distal femur (frame: origin at the distal-most level midway between the condyles,
    z proximal along the shaft, x medial, y anterior; the cut is proximal at z = length).

    Two ellipsoidal condyles at x = +-condyle_spacing/2 with semi-axes (width, length, height)/2 and their
    lowest points at z = 0 (sagittal radii of curvature: distal (length/2)^2 / (height/2), posterior
    (height/2)^2 / (length/2)), a truncated-cone metaphysis from the condyle centre height to the shaft,
    a shaft cylinder; cartilage on the condyles below z = articular_height.
    """

    BOUNDARIES: ClassVar[tuple[str, ...]] = BONE_BOUNDARIES

    kind: Literal["femoral_condyle"] = "femoral_condyle"
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

    @model_validator(mode="after")
    def _consistent(self) -> FemoralCondyleGeometry:
        t_ct, t_sc = self.cortical_thickness, self.subchondral_thickness
        _check_layers(t_ct, t_sc)
        semi_min_m = min(self.condyle_width, self.condyle_length, self.condyle_height) / 2
        for key in ("cortical_thickness", "subchondral_thickness"):
            if not getattr(self, key) < 0.25 * semi_min_m:
                raise ValueError(
                    f"geometry.{key} = {_mm(getattr(self, key))} must be below {_mm(0.25 * semi_min_m)} (a quarter of "
                    f"the smallest condyle semi-axis, min(condyle_width, condyle_length, condyle_height) / 2)"
                )
        if not t_ct < 0.5 * self.shaft_radius:
            raise ValueError(
                f"geometry.cortical_thickness = {_mm(t_ct)} must be below {_mm(0.5 * self.shaft_radius)} (half the shaft_radius)"
            )
        if not self.condyle_spacing > self.condyle_width:
            raise ValueError(
                f"geometry.condyle_spacing = {_mm(self.condyle_spacing)} must exceed condyle_width = "
                f"{_mm(self.condyle_width)} (the intercondylar notch lies between the condyles)"
            )
        if not self.shaft_radius < self.metaphysis_radius:
            raise ValueError(
                f"geometry.shaft_radius = {_mm(self.shaft_radius)} must be below metaphysis_radius = "
                f"{_mm(self.metaphysis_radius)}"
            )
        if not 2 * t_sc < self.articular_height < self.condyle_height / 2:
            raise ValueError(
                f"geometry.articular_height = {_mm(self.articular_height)} must lie in ({_mm(2 * t_sc)}, "
                f"{_mm(self.condyle_height / 2)}) (above the plate, 2 subchondral_thickness; below the condyle "
                f"centres, condyle_height / 2)"
            )
        shaft_start_m = self.condyle_height / 2 + self.metaphysis_length
        if not self.length > shaft_start_m + t_ct:
            raise ValueError(
                f"geometry.length = {_mm(self.length)} must exceed {_mm(shaft_start_m + t_ct)} "
                f"(condyle_height / 2 + metaphysis_length + cortical_thickness)"
            )
        _check_scar(self.physeal_scar, low_m=t_sc, high_m=self.length - t_ct, low_is="subchondral_thickness",
                    high_is="length - cortical_thickness")
        return self


class BoxGeometry(_Parametric):
    """Verification box from ``origin`` to ``origin + lengths``; boundaries are its faces (xmin at x = origin_x, ...).

    With ``divisions: [nx, ny, nz]`` the mesh is structured (each of nx ny nz hexahedra split into 6
    tetrahedra; ``mesh.level`` multiplies the divisions by refinement_factor**level) instead of gmsh's.
    """

    BOUNDARIES: ClassVar[tuple[str, ...]] = ("xmin", "xmax", "ymin", "ymax", "zmin", "zmax")

    kind: Literal["box"] = "box"
    origin: Point3 = (0.0, 0.0, 0.0)
    lengths: tuple[PositiveLength, PositiveLength, PositiveLength] = (0.02, 0.02, 0.02)
    divisions: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] | None = None


class CylinderGeometry(_Drillable):
    """Verification cylinder x^2 + y^2 < radius^2 along z from 0 to height: boundaries bottom (z = 0), top, side
    (and ``tunnel``: a coaxial drilled tunnel makes it the hollow cylinder of the drained-tunnel closed form)."""

    BOUNDARIES: ClassVar[tuple[str, ...]] = ("bottom", "top", "side")

    kind: Literal["cylinder"] = "cylinder"
    radius: PositiveLength = 0.01
    height: PositiveLength = 0.03


class SphereGeometry(_Parametric):
    """Verification ball at the origin: one boundary, ``surface``."""

    BOUNDARIES: ClassVar[tuple[str, ...]] = ("surface",)

    kind: Literal["sphere"] = "sphere"
    radius: PositiveLength = 0.024


class SphereOctantGeometry(_Parametric):
    """The part x, y, z >= 0 of the ball at the origin: boundaries x_symmetry (plane x = 0), y_symmetry,
    z_symmetry and the spherical ``surface``."""

    BOUNDARIES: ClassVar[tuple[str, ...]] = ("x_symmetry", "y_symmetry", "z_symmetry", "surface")

    kind: Literal["sphere_octant"] = "sphere_octant"
    radius: PositiveLength = 0.024


ParametricGeometry = (
    FemoralHeadGeometry | FemoralCondyleGeometry | BoxGeometry | CylinderGeometry | SphereGeometry | SphereOctantGeometry
)


class MeshFileBase(Section):
    """A mesh file; ``unit`` (mm, cm, m) of its coordinates. Left out: mm, and the bounding box must
    span 5 mm to 0.6 m (a plausible bone); given: taken as it is (verification meshes of any size)."""

    path: InputPath
    unit: Literal["mm", "cm", "m"] | None = None

    @property
    def scale_to_m(self) -> float:
        return MESH_UNITS_TO_M[self.unit or DEFAULT_MESH_UNIT]


class MeshFile(MeshFileBase):
    """A gmsh ``.msh`` file whose physical groups carry the region and boundary names."""

    kind: Literal["gmsh_file"]

    @classmethod
    def boundary_names(cls) -> None:
        """None: the names are the file's physical groups, known once it is read."""
        return None


Tags = int | tuple[int, ...]


class TagMap(Section):
    """Model names to the file's integer tags: ``regions`` (volume cells), ``boundaries`` (surface cells).

    A tag belongs to one region and to at most one boundary.
    """

    cell_data: str | None = None  # name of the tag array; None: the file's only integer cell-data array
    regions: dict[str, Tags]
    boundaries: dict[str, Tags] = {}

    @model_validator(mode="after")
    def _one_name_per_tag(self) -> TagMap:
        for key, singular, names in (("regions", "region", self.regions), ("boundaries", "boundary", self.boundaries)):
            owner: dict[int, str] = {}
            for name, tags in names.items():
                for tag in (tags,) if isinstance(tags, int) else tags:
                    if owner.setdefault(tag, name) != name:
                        raise ValueError(
                            f"geometry.tag_map.{key}: tag {tag} is mapped to both '{owner[tag]}' and '{name}'; "
                            f"expected each tag in one {singular} only"
                        )
        return self


class MeshioFile(MeshFileBase):
    """Any meshio-readable tetrahedral mesh (VTU, XDMF, Abaqus INP, MED, ...) with a tag map."""

    kind: Literal["mesh_file"]
    tag_map: TagMap

    def boundary_names(self) -> tuple[str, ...]:
        """The boundaries of the tag map."""
        return tuple(self.tag_map.boundaries)


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


class StlSurface(MeshFileBase):
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

    def boundary_names(self) -> tuple[str, ...]:
        """The named boundaries and ``periosteal`` (every facet no rule selects)."""
        return (*self.boundaries, "periosteal")


class SegmentationGeometry(Section):
    """A bone segmented in a label image (NIfTI, RAS+ world in mm), meshed by bmes_fem.imaging.segmentation.

    ``bone``: the label values of bone; of these, ``cortical`` ones make region cortical (by the label at each
    cell's centroid), the rest trabecular. Boundaries: ``articular`` where the bone surface lies within one
    voxel of the ``articular`` label (cartilage drawn next to the bone), ``cut`` where the bone leaves the image,
    ``periosteal`` elsewhere; rules under ``boundaries`` (as for stl_surface) take precedence and may replace
    either. ``smoothing_iterations`` of Taubin smoothing of the marching-cubes surface.
    """

    kind: Literal["segmentation"]
    labels: InputPath
    bone: tuple[int, ...] = (1,)
    cortical: tuple[int, ...] = ()
    articular: int | None = None
    boundaries: dict[str, tuple[Selection, ...]] = {}
    smoothing_iterations: Annotated[int, Field(ge=0, le=200)] = 20

    @model_validator(mode="after")
    def _consistent_labels(self, info: ValidationInfo) -> SegmentationGeometry:
        outside = [label for label in self.cortical if label not in self.bone]
        if outside:
            raise ValueError(f"geometry.cortical = {list(self.cortical)}: label(s) {outside} are not in geometry.bone = {list(self.bone)}")
        if self.articular is not None and self.articular in self.bone:
            raise ValueError(f"geometry.articular = {self.articular} is a bone label; expected the label of the cartilage next to the bone")
        if self.articular is None and "articular" not in self.boundaries:
            raise ValueError("geometry: set articular (the cartilage label) or rules for geometry.boundaries.articular")
        if "periosteal" in self.boundaries:
            raise ValueError("geometry.boundaries.periosteal: takes no rules (it is every facet no rule selects)")
        if reads_inputs(info):
            from bmes_fem.imaging.segmentation import read_labels

            check_input(lambda: read_labels(self))
        return self

    def boundary_names(self) -> tuple[str, ...]:
        """articular, cut, the names of other rules, and periosteal."""
        return tuple(dict.fromkeys(("articular", "cut", *self.boundaries, "periosteal")))


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

    def divisions_at_level(self, divisions: tuple[int, ...]) -> tuple[int, ...]:
        """n_k = round(n_0 f^k) for each division of a structured mesh."""
        return tuple(max(1, round(n * self.refinement_factor**self.level)) for n in divisions)


#: the ``geometry.kind`` values; the first is the default when ``kind`` is left out
GEOMETRY_KINDS = (
    "femoral_head", "femoral_condyle", "box", "cylinder", "sphere", "sphere_octant", "gmsh_file", "mesh_file",
    "stl_surface", "segmentation",
)
Geometry = Annotated[
    FemoralHeadGeometry
    | FemoralCondyleGeometry
    | BoxGeometry
    | CylinderGeometry
    | SphereGeometry
    | SphereOctantGeometry
    | MeshFile
    | MeshioFile
    | StlSurface
    | SegmentationGeometry,
    Field(discriminator="kind"),
]


def default_geometry() -> FemoralHeadGeometry:
    return FemoralHeadGeometry()
