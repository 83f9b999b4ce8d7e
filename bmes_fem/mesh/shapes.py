"""Parametric bone and verification geometries built with gmsh/OpenCASCADE (lengths in mm, meshes in metres).

Bones are layered (``_build_layered_bone``): a cortical shell of thickness t_ct over a trabecular core
that reaches the cut, a subchondral plate of thickness t_sc under the articular (cartilage-bearing)
surface, and optionally a physeal scar: a slab of the trabecular core between two parallel planes.

- Femoral head (origin at the head centre, x medial, y anterior, z superior): ball fused with a neck
  cylinder along the neck axis ``a = (sin(ns) cos(av), sin(ns) sin(av), -cos(ns))`` (ns neck-shaft angle,
  av anteversion), cut perpendicular to ``a`` at distance neck_length; cartilage where ``a.x > R cos(psi_c)``.
- Distal femur (origin at the distal-most level midway between the condyles, z proximal along the shaft,
  x medial, y anterior): two ellipsoidal condyles at x = +-spacing/2 with their lowest points at z = 0,
  a truncated-cone metaphysis from the condyle centre height to the shaft, a shaft cylinder cut at
  z = length; cartilage on the condyles where z < articular_height.
- Verification shapes: box and cylinder (articular top z = height, cut bottom z = 0, periosteal sides),
  sphere (one boundary, ``surface``). All single-region ``trabecular``.

gmsh runs on rank 0 of the communicator only (bmes_fem.mesh.meshing); the mesh is distributed by DOLFINx.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gmsh
import numpy as np
from mpi4py import MPI

from bmes_fem.errors import MeshError
from bmes_fem.mesh.domain import Domain
from bmes_fem.mesh.meshing import (
    BOUNDARY_TAGS,
    REGION_TAGS,
    MeshSizes,
    RefinementZone,
    SurfaceRefinement,
    mesh_on_root,
)

MM_PER_M = 1e3

DimTags = list[tuple[int, int]]


LAYER_GAP_M = 1e-4  # cortical and subchondral thicknesses must differ by this, or OCC fragments fail


def _check_positive(kind: str, **lengths: float) -> None:
    bad = [f"{k}={v}" for k, v in lengths.items() if not v > 0]
    if bad:
        raise ValueError(f"{kind} lengths must be > 0: {', '.join(bad)}")


def _check_layers(cortical_thickness_m: float, subchondral_thickness_m: float) -> None:
    """The plate's inner surface must not coincide with the core's surface (|t_ct - t_sc| >= 0.1 mm)."""
    if abs(cortical_thickness_m - subchondral_thickness_m) < LAYER_GAP_M:
        raise ValueError(
            f"cortical_thickness_m={cortical_thickness_m} and subchondral_thickness_m={subchondral_thickness_m} "
            f"must differ by at least {LAYER_GAP_M} m (coincident layer surfaces)"
        )


@dataclass(frozen=True)
class PhysealScarSlab:
    """Physeal scar: trabecular bone within thickness/2 of a plane at ``depth_m`` below the articular apex."""

    depth_m: float
    thickness_m: float = 0.001

    def __post_init__(self):
        _check_positive("physeal scar", depth_m=self.depth_m, thickness_m=self.thickness_m)


@dataclass(frozen=True)
class FemoralHeadShape:
    """Ball (head) fused with a cylinder (neck) cut perpendicular to the neck axis; lengths in metres."""

    head_radius_m: float = 0.024
    neck_radius_m: float = 0.016
    neck_length_m: float = 0.030
    neck_shaft_angle_deg: float = 130.0
    anteversion_deg: float = 12.0
    articular_half_angle_deg: float = 80.0
    cortical_thickness_m: float = 0.0015
    subchondral_thickness_m: float = 0.0010
    physeal_scar: PhysealScarSlab | None = None

    def __post_init__(self):
        R, rn, L = self.head_radius_m, self.neck_radius_m, self.neck_length_m
        t_ct, t_sc = self.cortical_thickness_m, self.subchondral_thickness_m
        _check_positive("femoral head", head_radius_m=R, neck_radius_m=rn, neck_length_m=L,
                        cortical_thickness_m=t_ct, subchondral_thickness_m=t_sc)
        _check_layers(t_ct, t_sc)
        if not rn + t_sc < R:
            raise ValueError(f"neck_radius_m={rn} + subchondral_thickness_m={t_sc} must be < head_radius_m={R}")
        if not t_ct < rn:
            raise ValueError(f"cortical_thickness_m={t_ct} must be < neck_radius_m={rn}")
        junction_m = math.sqrt(R**2 - rn**2)  # distance along the axis where the neck leaves the ball
        if not junction_m + t_ct < L:
            raise ValueError(
                f"neck_length_m={L} must exceed {junction_m + t_ct:.4g} m so the neck leaves the head "
                f"(sqrt(head_radius^2 - neck_radius^2) + cortical_thickness)"
            )
        if not 0 < self.articular_half_angle_deg < 180:
            raise ValueError(f"articular_half_angle_deg={self.articular_half_angle_deg} must be in (0, 180)")
        cap_plane_m = R * math.cos(math.radians(self.articular_half_angle_deg))
        lowest_m = -math.sqrt((R - t_sc) ** 2 - rn**2)
        if not lowest_m < cap_plane_m < R - t_sc:
            lo_deg = math.degrees(math.acos(lowest_m / R))
            hi_deg = math.degrees(math.acos((R - t_sc) / R))
            raise ValueError(
                f"articular_half_angle_deg={self.articular_half_angle_deg} must lie in ({hi_deg:.1f}, {lo_deg:.1f}) "
                f"so the cartilage cap spans the subchondral plate and stays clear of the neck"
            )
        if self.physeal_scar is not None:
            scar = self.physeal_scar
            _check_slab_inside("physeal_scar.depth_m", scar, low_m=t_sc, high_m=R + L - t_ct)

    def neck_axis(self) -> np.ndarray:
        """Unit vector from the neck cut towards the head centre (= the head pole)."""
        ns = math.radians(self.neck_shaft_angle_deg)
        av = math.radians(self.anteversion_deg)
        return np.array([math.sin(ns) * math.cos(av), math.sin(ns) * math.sin(av), -math.cos(ns)])


@dataclass(frozen=True)
class FemoralCondyleShape:
    """Distal femur: two ellipsoidal condyles, a conical metaphysis and a shaft; lengths in metres.

    Condyle semi-axes (width/2, length/2, height/2) give sagittal radii of curvature
    r_distal = (length/2)^2 / (height/2) and r_posterior = (height/2)^2 / (length/2).
    """

    condyle_spacing_m: float = 0.048  # medial-lateral distance between the condyle centres
    condyle_width_m: float = 0.030  # medial-lateral extent of one condyle
    condyle_length_m: float = 0.060  # anterior-posterior extent
    condyle_height_m: float = 0.050  # proximal-distal extent
    metaphysis_radius_m: float = 0.030  # cone radius at the condyle centre height
    metaphysis_length_m: float = 0.045  # cone length up to the shaft
    shaft_radius_m: float = 0.014
    length_m: float = 0.100  # distal-most point to the cut
    articular_height_m: float = 0.020  # cartilage on the condyles below this height
    cortical_thickness_m: float = 0.0015
    subchondral_thickness_m: float = 0.0010
    physeal_scar: PhysealScarSlab | None = None

    def __post_init__(self):
        _check_positive("femoral condyle", **{k: v for k, v in vars(self).items() if k.endswith("_m")})
        t_ct, t_sc = self.cortical_thickness_m, self.subchondral_thickness_m
        _check_layers(t_ct, t_sc)
        semi_min_m = min(self.condyle_width_m, self.condyle_length_m, self.condyle_height_m) / 2
        if not max(t_ct, t_sc) < 0.25 * semi_min_m:
            raise ValueError(
                f"cortical_thickness_m={t_ct} and subchondral_thickness_m={t_sc} must be below "
                f"a quarter of the smallest condyle semi-axis ({semi_min_m} m)"
            )
        if not self.condyle_spacing_m > self.condyle_width_m:
            raise ValueError(
                f"condyle_spacing_m={self.condyle_spacing_m} must exceed condyle_width_m={self.condyle_width_m} "
                f"(the intercondylar notch lies between the condyles)"
            )
        if not self.shaft_radius_m < self.metaphysis_radius_m:
            raise ValueError(f"shaft_radius_m={self.shaft_radius_m} must be < metaphysis_radius_m={self.metaphysis_radius_m}")
        if not 2 * t_sc < self.articular_height_m < self.condyle_height_m / 2:
            raise ValueError(
                f"articular_height_m={self.articular_height_m} must lie in ({2 * t_sc}, {self.condyle_height_m / 2}) "
                f"(above the plate, below the condyle centres)"
            )
        shaft_start_m = self.condyle_height_m / 2 + self.metaphysis_length_m
        if not self.length_m > shaft_start_m + t_ct:
            raise ValueError(f"length_m={self.length_m} must exceed {shaft_start_m + t_ct:.4g} m (condyles + metaphysis)")
        if self.physeal_scar is not None:
            _check_slab_inside("physeal_scar.depth_m", self.physeal_scar, low_m=t_sc, high_m=self.length_m - t_ct)


def _check_slab_inside(key: str, scar: PhysealScarSlab, *, low_m: float, high_m: float) -> None:
    half = scar.thickness_m / 2
    if not low_m + half < scar.depth_m < high_m - half:
        raise ValueError(f"{key}={scar.depth_m} must lie in ({low_m + half:.4g}, {high_m - half:.4g}) so the scar is inside the bone")


@dataclass(frozen=True)
class _LayeredBone:
    """Callables that add OCC solids (mm) for the layered-bone construction, each offset inwards by ``o``."""

    solid: Callable[[float], DimTags]  # the whole bone shrunk by o
    bearing: Callable[[float], DimTags]  # the cartilage-bearing parts shrunk by o
    cartilage_side: Callable[[], DimTags]  # half-space (large solid) where cartilage lies
    cut_point_mm: np.ndarray
    cut_normal: np.ndarray
    cortical_mm: float
    subchondral_mm: float
    scar_slab: Callable[[], DimTags] | None = None


def _build_layered_bone(name: str, bone: _LayeredBone) -> None:
    """Tag trabecular, cortical, subchondral_plate (and physeal_scar) and articular, periosteal, cut."""
    occ = gmsh.model.occ

    def trabecular_core() -> DimTags:
        cap_core, _ = occ.intersect(bone.bearing(bone.subchondral_mm), bone.cartilage_side())
        core, _ = occ.fuse(bone.solid(bone.cortical_mm), cap_core)
        return core

    outer = bone.solid(0.0)
    trabecular = trabecular_core()
    cap, _ = occ.intersect(bone.bearing(0.0), bone.cartilage_side())
    plate, _ = occ.cut(cap, bone.bearing(bone.subchondral_mm))
    scar = []
    if bone.scar_slab is not None:
        scar, _ = occ.intersect(bone.scar_slab(), trabecular_core())
    _, pieces_of = occ.fragment(outer, trabecular + plate + scar)
    occ.synchronize()

    def pieces(first: int, count: int) -> set[int]:
        return {tag for dim_tags in pieces_of[first:first + count] for _, tag in dim_tags}

    n_outer, n_trab, n_plate = len(outer), len(trabecular), len(plate)
    in_trabecular = pieces(n_outer, n_trab)
    in_plate = pieces(n_outer + n_trab, n_plate)
    in_scar = pieces(n_outer + n_trab + n_plate, len(scar)) - in_plate
    volumes = {tag for _, tag in gmsh.model.getEntities(3)}
    groups = {"subchondral_plate": in_plate, "trabecular": in_trabecular - in_plate - in_scar}
    groups["cortical"] = volumes - in_plate - in_trabecular - in_scar
    if bone.scar_slab is not None:
        groups["physeal_scar"] = in_scar
    for region, tags in groups.items():
        if not tags:
            raise MeshError(f"gmsh:{name}: construction produced no {region} volume")
        gmsh.model.addPhysicalGroup(3, sorted(tags), REGION_TAGS[region], region)

    tol_mm = 1e-3 * bone.cortical_mm
    faces = {"articular": [], "periosteal": [], "cut": []}
    exterior = gmsh.model.getBoundary([(3, v) for v in volumes], combined=True, oriented=False)
    for _, face in exterior:
        (volume,), _ = gmsh.model.getAdjacencies(2, face)
        centre = np.array(occ.getCenterOfMass(2, face))
        if volume in in_plate:
            faces["articular"].append(face)
        elif gmsh.model.getType(2, face) == "Plane" and abs((centre - bone.cut_point_mm) @ bone.cut_normal) < tol_mm:
            faces["cut"].append(face)
        else:
            faces["periosteal"].append(face)
    for boundary, tags in faces.items():
        if not tags:
            raise MeshError(f"gmsh:{name}: construction produced no {boundary} surface")
        gmsh.model.addPhysicalGroup(2, tags, BOUNDARY_TAGS[boundary], boundary)


def _scar_slab(
    scar: PhysealScarSlab | None, outward: np.ndarray, *, apex_mm: float, radius_mm: float
) -> Callable[[], DimTags] | None:
    """Adds a disc of the scar's thickness centred on the plane outward.x = apex - depth (None without a scar)."""
    if scar is None:
        return None
    centre_mm = apex_mm - scar.depth_m * MM_PER_M
    thickness_mm = scar.thickness_m * MM_PER_M

    def add() -> DimTags:
        start = (centre_mm - thickness_mm / 2) * outward
        return [(3, gmsh.model.occ.addCylinder(*start, *(thickness_mm * outward), radius_mm))]

    return add


def _femoral_head_bone(shape: FemoralHeadShape) -> _LayeredBone:
    occ = gmsh.model.occ
    R = shape.head_radius_m * MM_PER_M
    rn = shape.neck_radius_m * MM_PER_M
    L = shape.neck_length_m * MM_PER_M
    a = shape.neck_axis()
    cap_plane = R * math.cos(math.radians(shape.articular_half_angle_deg))
    z_cross_a = np.cross([0.0, 0.0, 1.0], a)
    pole_angle_rad = math.acos(float(np.clip(a[2], -1.0, 1.0)))

    def ball(offset: float) -> DimTags:
        """Ball with its OCC poles on the neck axis, so cap and neck circles are latitudes."""
        dim_tags = [(3, occ.addSphere(0, 0, 0, R - offset))]
        if np.linalg.norm(z_cross_a) > 1e-12:
            occ.rotate(dim_tags, 0, 0, 0, *z_cross_a, pole_angle_rad)
        return dim_tags

    def solid(offset: float) -> DimTags:
        fused, _ = occ.fuse(ball(offset), [(3, occ.addCylinder(*(-L * a), *(L * a), rn - offset))])
        return fused

    def cartilage_side() -> DimTags:
        """Everything of the head beyond the cap plane dot(x, a) = cap_plane."""
        return [(3, occ.addCylinder(*(cap_plane * a), *((2 * R - cap_plane) * a), 2 * R))]

    scar_slab = _scar_slab(shape.physeal_scar, a, apex_mm=R, radius_mm=2 * R)
    return _LayeredBone(
        solid, ball, cartilage_side, -L * a, a,
        shape.cortical_thickness_m * MM_PER_M, shape.subchondral_thickness_m * MM_PER_M, scar_slab,
    )


def _femoral_condyle_bone(shape: FemoralCondyleShape) -> _LayeredBone:
    occ = gmsh.model.occ
    mm = {k: v * MM_PER_M for k, v in vars(shape).items() if k.endswith("_m")}
    semi = np.array([mm["condyle_width_m"], mm["condyle_length_m"], mm["condyle_height_m"]]) / 2
    centre_z = semi[2]
    shaft_start = centre_z + mm["metaphysis_length_m"]
    axis_z = np.array([0.0, 0.0, 1.0])

    def condyles(offset: float) -> DimTags:
        parts = []
        for side in (1.0, -1.0):
            x0 = side * mm["condyle_spacing_m"] / 2
            ball = [(3, occ.addSphere(x0, 0.0, centre_z, 1.0))]
            occ.dilate(ball, x0, 0.0, centre_z, *(semi - offset))
            parts += ball
        fused, _ = occ.fuse(parts[:1], parts[1:])
        return fused

    def solid(offset: float) -> DimTags:
        cone = occ.addCone(0, 0, centre_z, 0, 0, mm["metaphysis_length_m"],
                           mm["metaphysis_radius_m"] - offset, mm["shaft_radius_m"] - offset)
        shaft = occ.addCylinder(0, 0, shaft_start, 0, 0, mm["length_m"] - shaft_start, mm["shaft_radius_m"] - offset)
        fused, _ = occ.fuse(condyles(offset), [(3, cone), (3, shaft)])
        return fused

    def cartilage_side() -> DimTags:
        reach = 2 * (mm["condyle_spacing_m"] + semi.max())
        return [(3, occ.addBox(-reach, -reach, -reach, 2 * reach, 2 * reach, reach + mm["articular_height_m"]))]

    scar_slab = _scar_slab(shape.physeal_scar, -axis_z, apex_mm=0.0, radius_mm=2 * (mm["condyle_spacing_m"] + semi.max()))
    return _LayeredBone(
        solid, condyles, cartilage_side, mm["length_m"] * axis_z, axis_z,
        mm["cortical_thickness_m"], mm["subchondral_thickness_m"], scar_slab,
    )


def femoral_head(
    comm: MPI.Comm,
    shape: FemoralHeadShape,
    *,
    mesh_size_m: float,
    refinement: Sequence[RefinementZone] = (),
    articular: SurfaceRefinement | None = None,
    save_path: Path | None = None,
) -> Domain:
    """Mesh the femoral head: regions trabecular, cortical, subchondral_plate (+ physeal_scar);
    boundaries articular, periosteal, cut. ``save_path``: also write the tagged mesh as gmsh .msh (mm)."""
    sizes = MeshSizes(mesh_size_m, tuple(refinement), articular)
    build = lambda: _build_layered_bone("femoral_head", _femoral_head_bone(shape))  # noqa: E731
    return _mesh(comm, "femoral_head", build, sizes, save_path)


def femoral_condyle(
    comm: MPI.Comm,
    shape: FemoralCondyleShape,
    *,
    mesh_size_m: float,
    refinement: Sequence[RefinementZone] = (),
    articular: SurfaceRefinement | None = None,
    save_path: Path | None = None,
) -> Domain:
    """Mesh the distal femur with the femoral head's region and boundary names (condyles articular)."""
    sizes = MeshSizes(mesh_size_m, tuple(refinement), articular)
    build = lambda: _build_layered_bone("femoral_condyle", _femoral_condyle_bone(shape))  # noqa: E731
    return _mesh(comm, "femoral_condyle", build, sizes, save_path)


def _tag_single_region(faces_by_boundary: Callable[[list[int]], dict[str, list[int]]]) -> None:
    """Tag the one OCC volume trabecular and its faces by ``faces_by_boundary(face tags)``."""
    gmsh.model.occ.synchronize()
    (_, volume), = gmsh.model.getEntities(3)
    gmsh.model.addPhysicalGroup(3, [volume], REGION_TAGS["trabecular"], "trabecular")
    faces = [tag for _, tag in gmsh.model.getBoundary([(3, volume)], oriented=False)]
    for boundary, tags in faces_by_boundary(faces).items():
        gmsh.model.addPhysicalGroup(2, tags, BOUNDARY_TAGS[boundary], boundary)


def _top_bottom_sides(height_mm: float) -> Callable[[list[int]], dict[str, list[int]]]:
    """articular: faces at z = height, cut: faces at z = 0, periosteal: the rest (by face centre)."""
    def split(faces: list[int]) -> dict[str, list[int]]:
        z_mm = {face: gmsh.model.occ.getCenterOfMass(2, face)[2] for face in faces}
        tol_mm = 1e-6 * height_mm
        groups = {
            "articular": [f for f in faces if abs(z_mm[f] - height_mm) < tol_mm],
            "cut": [f for f in faces if abs(z_mm[f]) < tol_mm],
        }
        groups["periosteal"] = [f for f in faces if f not in groups["articular"] + groups["cut"]]
        return groups

    return split


def box(comm: MPI.Comm, *, lengths_m: tuple[float, float, float], mesh_size_m: float, refinement: Sequence[RefinementZone] = ()) -> Domain:
    """Mesh [-lx/2, lx/2] x [-ly/2, ly/2] x [0, lz]: trabecular; articular top, cut bottom, periosteal sides."""
    _check_positive("box", lx_m=lengths_m[0], ly_m=lengths_m[1], lz_m=lengths_m[2])
    lx, ly, lz = (v * MM_PER_M for v in lengths_m)

    def build():
        gmsh.model.occ.addBox(-lx / 2, -ly / 2, 0.0, lx, ly, lz)
        _tag_single_region(_top_bottom_sides(lz))

    return _mesh(comm, "box", build, MeshSizes(mesh_size_m, tuple(refinement)), None)


def cylinder(comm: MPI.Comm, *, radius_m: float, height_m: float, mesh_size_m: float, refinement: Sequence[RefinementZone] = ()) -> Domain:
    """Mesh the cylinder x^2 + y^2 < r^2, 0 < z < h: trabecular; articular top, cut bottom, periosteal side."""
    _check_positive("cylinder", radius_m=radius_m, height_m=height_m)

    def build():
        gmsh.model.occ.addCylinder(0, 0, 0, 0, 0, height_m * MM_PER_M, radius_m * MM_PER_M)
        _tag_single_region(_top_bottom_sides(height_m * MM_PER_M))

    return _mesh(comm, "cylinder", build, MeshSizes(mesh_size_m, tuple(refinement)), None)


def sphere(comm: MPI.Comm, *, radius_m: float, mesh_size_m: float, refinement: Sequence[RefinementZone] = ()) -> Domain:
    """Mesh a ball at the origin: region trabecular, boundary surface."""
    _check_positive("sphere", radius_m=radius_m)

    def build():
        gmsh.model.occ.addSphere(0, 0, 0, radius_m * MM_PER_M)
        _tag_single_region(lambda faces: {"surface": faces})

    return _mesh(comm, "sphere", build, MeshSizes(mesh_size_m, tuple(refinement)), None)


def _mesh(comm: MPI.Comm, name: str, build: Callable[[], None], sizes: MeshSizes, save_path: Path | None) -> Domain:
    return mesh_on_root(comm, f"gmsh:{name}", build, sizes, unit_to_m=1 / MM_PER_M, save_path=save_path)
