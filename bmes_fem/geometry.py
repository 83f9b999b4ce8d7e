"""Tetrahedral meshes of an idealised femoral head (and a test sphere) built with gmsh/OpenCASCADE.

Frame: origin at the head centre, z superior (along the proximal shaft), x medial, y anterior.
The neck axis ``a`` is the unit vector from the neck cut towards the head centre, i.e. the head pole:
``a = (sin(ns) cos(av), sin(ns) sin(av), -cos(ns))`` with ns the neck-shaft angle and av the
anteversion. For ns = 130 deg, av = 0 it is (0.766, 0, 0.643): the head points medial-superior and
the neck leaves it lateral-inferior; anteversion turns the head anterior (+y) of the neck base.

Geometry is built in millimetres (OCC tolerances suit that scale) and scaled to metres. gmsh runs on
rank 0 of the communicator only; the mesh is then distributed by DOLFINx. Meshes are deterministic
(fixed random seed, one thread).
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gmsh
import numpy as np
from mpi4py import MPI

from bmes_fem.errors import MeshError
from bmes_fem.mesh import Domain, domain_from_gmsh_model

MM_PER_M = 1e3
RANDOM_SEED = 12345
ALGORITHM_3D = 1  # Delaunay

# Physical-group tags; names are the public interface, the numbers are arbitrary but fixed.
REGION_TAGS = {"trabecular": 1, "cortical": 2, "subchondral_plate": 3}
BOUNDARY_TAGS = {"articular": 11, "periosteal": 12, "cut": 13, "surface": 14}


@dataclass(frozen=True)
class RefinementZone:
    """Ball of finer mesh size, grading to the global size over one radius outside it."""

    centre_m: tuple[float, float, float]
    radius_m: float
    mesh_size_m: float

    def __post_init__(self):
        if not (self.radius_m > 0 and self.mesh_size_m > 0):
            raise ValueError(
                f"refinement zone needs radius_m > 0 and mesh_size_m > 0, got {self.radius_m} and {self.mesh_size_m}"
            )


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

    def __post_init__(self):
        R, rn, L = self.head_radius_m, self.neck_radius_m, self.neck_length_m
        t_ct, t_sc = self.cortical_thickness_m, self.subchondral_thickness_m
        lengths = dict(head_radius_m=R, neck_radius_m=rn, neck_length_m=L,
                       cortical_thickness_m=t_ct, subchondral_thickness_m=t_sc)
        bad = [f"{k}={v}" for k, v in lengths.items() if not v > 0]
        if bad:
            raise ValueError(f"femoral head lengths must be > 0: {', '.join(bad)}")
        if not rn + t_sc < R:
            raise ValueError(f"neck_radius_m={rn} + subchondral_thickness_m={t_sc} must be < head_radius_m={R}")
        if not t_ct < rn:
            raise ValueError(f"cortical_thickness_m={t_ct} must be < neck_radius_m={rn}")
        junction_m = math.sqrt(R**2 - rn**2)  # distance along the axis where the neck leaves the ball
        if not L > junction_m + t_ct:
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

    def neck_axis(self) -> np.ndarray:
        """Unit vector from the neck cut towards the head centre (= the head pole)."""
        ns = math.radians(self.neck_shaft_angle_deg)
        av = math.radians(self.anteversion_deg)
        return np.array([math.sin(ns) * math.cos(av), math.sin(ns) * math.sin(av), -math.cos(ns)])


def femoral_head(
    comm: MPI.Comm, shape: FemoralHeadShape, *, mesh_size_m: float, refinement: Sequence[RefinementZone] = ()
) -> Domain:
    """Mesh the femoral head: regions trabecular, cortical, subchondral_plate; boundaries articular, periosteal, cut."""
    return _mesh_domain(comm, "femoral_head", lambda: _build_femoral_head(shape), mesh_size_m, refinement)


def sphere(comm: MPI.Comm, *, radius_m: float, mesh_size_m: float) -> Domain:
    """Mesh a ball at the origin: region trabecular, boundary surface."""
    if not radius_m > 0:
        raise ValueError(f"sphere radius_m={radius_m} must be > 0")
    return _mesh_domain(comm, "sphere", lambda: _build_sphere(radius_m * MM_PER_M), mesh_size_m, ())


def _build_sphere(radius_mm: float) -> None:
    occ = gmsh.model.occ
    ball = occ.addSphere(0, 0, 0, radius_mm)
    occ.synchronize()
    gmsh.model.addPhysicalGroup(3, [ball], REGION_TAGS["trabecular"], "trabecular")
    surfaces = [tag for _, tag in gmsh.model.getBoundary([(3, ball)], oriented=False)]
    gmsh.model.addPhysicalGroup(2, surfaces, BOUNDARY_TAGS["surface"], "surface")


def _build_femoral_head(shape: FemoralHeadShape) -> None:
    """Build the three conforming regions and tag them and the outer boundary (lengths in mm)."""
    occ = gmsh.model.occ
    R = shape.head_radius_m * MM_PER_M
    rn = shape.neck_radius_m * MM_PER_M
    L = shape.neck_length_m * MM_PER_M
    t_ct = shape.cortical_thickness_m * MM_PER_M
    t_sc = shape.subchondral_thickness_m * MM_PER_M
    a = shape.neck_axis()
    cap_plane = R * math.cos(math.radians(shape.articular_half_angle_deg))
    base, neck = -L * a, L * a

    z_cross_a = np.cross([0.0, 0.0, 1.0], a)
    pole_angle_rad = math.acos(float(np.clip(a[2], -1.0, 1.0)))

    def ball(radius):
        """Ball with its OCC poles on the neck axis, so cap and neck circles are latitudes."""
        dim_tags = [(3, occ.addSphere(0, 0, 0, radius))]
        if np.linalg.norm(z_cross_a) > 1e-12:
            occ.rotate(dim_tags, 0, 0, 0, *z_cross_a, pole_angle_rad)
        return dim_tags

    def neck_cylinder(radius):
        return [(3, occ.addCylinder(*base, *neck, radius))]

    def cap_half_space():
        """Everything of the head beyond the cap plane dot(x, a) = cap_plane."""
        return [(3, occ.addCylinder(*(cap_plane * a), *((2 * R - cap_plane) * a), 2 * R))]

    outer, _ = occ.fuse(ball(R), neck_cylinder(rn))
    core, _ = occ.fuse(ball(R - t_ct), neck_cylinder(rn - t_ct))
    cap_core, _ = occ.intersect(ball(R - t_sc), cap_half_space())
    trabecular, _ = occ.fuse(core, cap_core)
    cap, _ = occ.intersect(ball(R), cap_half_space())
    plate, _ = occ.cut(cap, ball(R - t_sc))
    _, pieces_of = occ.fragment(outer, trabecular + plate)
    occ.synchronize()

    n_outer, n_trab = len(outer), len(trabecular)
    in_trabecular = {tag for pieces in pieces_of[n_outer:n_outer + n_trab] for _, tag in pieces}
    in_plate = {tag for pieces in pieces_of[n_outer + n_trab:] for _, tag in pieces}
    volumes = {tag for _, tag in gmsh.model.getEntities(3)}
    groups = {"subchondral_plate": in_plate, "trabecular": in_trabecular - in_plate}
    groups["cortical"] = volumes - in_plate - in_trabecular
    for name, tags in groups.items():
        if not tags:
            raise MeshError(f"gmsh:femoral_head: construction produced no {name} volume")
        gmsh.model.addPhysicalGroup(3, sorted(tags), REGION_TAGS[name], name)

    tol = 1e-3 * R
    faces = {"articular": [], "periosteal": [], "cut": []}
    exterior = gmsh.model.getBoundary([(3, v) for v in volumes], combined=True, oriented=False)
    for _, face in exterior:
        (volume,), _ = gmsh.model.getAdjacencies(2, face)
        centre = np.array(occ.getCenterOfMass(2, face))
        if volume in in_plate:
            faces["articular"].append(face)
        elif gmsh.model.getType(2, face) == "Plane" and abs(centre @ a + L) < tol:
            faces["cut"].append(face)
        else:
            faces["periosteal"].append(face)
    for name, tags in faces.items():
        if not tags:
            raise MeshError(f"gmsh:femoral_head: construction produced no {name} surface")
        gmsh.model.addPhysicalGroup(2, tags, BOUNDARY_TAGS[name], name)


def _set_mesh_size(size_mm: float, zones: Sequence[RefinementZone]) -> None:
    """Background field: the global size, refined in each zone's ball and graded over one radius."""
    for option in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
        gmsh.option.setNumber(f"Mesh.{option}", 0)
    field = gmsh.model.mesh.field
    sizes = [field.add("MathEval")]
    field.setString(sizes[0], "F", repr(size_mm))
    for zone in zones:
        tag = field.add("Ball")
        centre_mm = np.asarray(zone.centre_m) * MM_PER_M
        for key, value in zip(("XCenter", "YCenter", "ZCenter"), centre_mm):
            field.setNumber(tag, key, float(value))
        field.setNumber(tag, "Radius", zone.radius_m * MM_PER_M)
        field.setNumber(tag, "Thickness", zone.radius_m * MM_PER_M)
        field.setNumber(tag, "VIn", zone.mesh_size_m * MM_PER_M)
        field.setNumber(tag, "VOut", size_mm)
        sizes.append(tag)
    smallest = field.add("Min")
    field.setNumbers(smallest, "FieldsList", sizes)
    field.setAsBackgroundMesh(smallest)


def _generate(name: str, build: Callable[[], None], size_mm: float, zones: Sequence[RefinementZone]) -> None:
    """Build and mesh model `name` in the current gmsh session; MeshError if a volume stays empty."""
    gmsh.model.add(name)
    for option, value in (
        ("General.Terminal", 0),
        ("General.NumThreads", 1),
        ("Mesh.RandomSeed", RANDOM_SEED),
        ("Mesh.Algorithm3D", ALGORITHM_3D),
    ):
        gmsh.option.setNumber(option, value)
    build()
    _set_mesh_size(size_mm, zones)
    gmsh.model.mesh.generate(3)
    empty = [tag for _, tag in gmsh.model.getEntities(3) if not len(gmsh.model.mesh.getElements(3, tag)[1])]
    if empty:
        raise MeshError(f"gmsh:{name}: gmsh left volumes {empty} without tetrahedra")


def _mesh_domain(
    comm: MPI.Comm, name: str, build: Callable[[], None], mesh_size_m: float, zones: Sequence[RefinementZone]
) -> Domain:
    """Run gmsh on rank 0 of `comm` and distribute the mesh; errors are raised on every rank."""
    if not mesh_size_m > 0:
        raise ValueError(f"mesh_size_m={mesh_size_m} must be > 0")
    source = f"gmsh:{name}"
    if comm.rank != 0:
        error = comm.bcast(None, root=0)
        if error:
            raise MeshError(error)
        return domain_from_gmsh_model(comm, None, scale_to_m=1 / MM_PER_M, source=source)

    started_here = not gmsh.isInitialized()
    if started_here:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        error = None
        try:
            _generate(name, build, mesh_size_m * MM_PER_M, zones)
        except Exception as err:  # gmsh raises bare Exception; report it on every rank
            error = str(err) if isinstance(err, MeshError) else f"{source}: gmsh failed: {err}"
        comm.bcast(error, root=0)
        if error:
            raise MeshError(error)
        return domain_from_gmsh_model(comm, gmsh.model, scale_to_m=1 / MM_PER_M, source=source)
    finally:
        gmsh.model.remove()
        if started_here:
            gmsh.finalize()
