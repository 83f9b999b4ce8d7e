"""Parametric bone and verification geometries meshed with gmsh/OpenCASCADE from their config sections.

The sections (bmes_fem.config.geometry) hold SI metres and are checked when the config is loaded; the
builders here work in mm for OCC (the Domain is in metres).

Bones are layered (``_build_layered_bone``): a cortical shell of thickness t_ct over a trabecular core
that reaches the cut, a subchondral plate of thickness t_sc under the articular (cartilage-bearing)
surface, and optionally a physeal scar: a slab of the trabecular core between two parallel planes.

- Femoral head (origin at the head centre, x medial, y anterior, z superior): ball fused with a neck
  cylinder along the neck axis ``a``, cut perpendicular to ``a`` at distance neck_length; cartilage
  where ``a.x > R cos(psi_c)``.
- Distal femur (origin at the distal-most level midway between the condyles, z proximal along the shaft,
  x medial, y anterior): two ellipsoidal condyles at x = +-spacing/2 with their lowest points at z = 0,
  a truncated-cone metaphysis from the condyle centre height to the shaft, a shaft cylinder cut at
  z = length; cartilage on the condyles where z < articular_height.
- Verification shapes, region trabecular, boundaries named after their faces: box (xmin ... zmax),
  cylinder (bottom, top, side), sphere (surface), sphere octant (x_symmetry, y_symmetry, z_symmetry,
  surface). A box with ``divisions`` is meshed by DOLFINx (structured, 6 tetrahedra per hexahedron).
- Core decompression (head, condyle, cylinder; ``geometry.core_decompression``): each tunnel is a cylinder from
  its entry (extended outwards by its radius, so it leaves the bone cleanly) to its flat end at the target. The
  volumes are fragmented with the tunnels, so every piece keeps the region it came from and the walls are element
  faces; drilled tunnels are then removed and their walls tagged ``tunnel`` (a face on a tunnel's cylinder or its
  end disc), tunnels kept as bone stay (their parts outside the bone are removed).

gmsh runs on rank 0 of the communicator only (bmes_fem.mesh.meshing); the mesh is distributed by DOLFINx.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import dolfinx
import numpy as np
from mpi4py import MPI

from bmes_fem.config.geometry import (
    BONE_BOUNDARIES,
    BoxGeometry,
    CoreDecompression,
    CylinderGeometry,
    FemoralCondyleGeometry,
    FemoralHeadGeometry,
    ParametricGeometry,
    PhysealScar,
    SphereGeometry,
    SphereOctantGeometry,
)
from bmes_fem.errors import MeshError
from bmes_fem.lazy import lazy_module
from bmes_fem.mesh.domain import Domain
from bmes_fem.mesh.meshing import BOUNDARY_TAGS, REGION_TAGS, MeshSizes, mesh_on_root

gmsh = lazy_module("gmsh")

MM_PER_M = 1e3
MESH_ADAPT_2D = 1  # gmsh's 2D MeshAdapt: copes with the distorted parametrisation of BSpline faces
CONDYLE_POLE_TILT_RAD = math.radians(4.0)  # see _femoral_condyle_bone

DimTags = list[tuple[int, int]]


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
    decompression: CoreDecompression | None = None


TUNNEL_TOLERANCE = 1e-6  # relative to a tunnel's radius: a face within it of the wall or end disc is the tunnel's
_FACE_SAMPLES = 4  # per parametric direction, to test whether a face lies on a tunnel's wall


def _drill(groups: dict[str, set[int]], decompression: CoreDecompression | None) -> dict[str, set[int]]:
    """Fragment the volumes of ``groups`` (region -> volume tags) with the tunnels (module docstring); each piece
    keeps its volume's region; drilled: the pieces in a tunnel are removed. Synchronises the model."""
    if decompression is None:
        return groups
    occ = gmsh.model.occ
    owners = [(region, tag) for region, tags in groups.items() for tag in sorted(tags)]
    objects = [(3, tag) for _, tag in owners]
    tools = []
    for tunnel in decompression.tunnels:
        radius_mm, axis = tunnel.diameter / 2 * MM_PER_M, np.array(tunnel.axis())
        start = np.array(tunnel.entry) * MM_PER_M - radius_mm * axis
        tools.append((3, occ.addCylinder(*start, *((tunnel.length_m() * MM_PER_M + radius_mm) * axis), radius_mm)))
    _, pieces_of = occ.fragment(objects, tools)
    in_bone = {tag for dim_tags in pieces_of[: len(objects)] for _, tag in dim_tags}
    in_tunnel = {tag for dim_tags in pieces_of[len(objects) :] for _, tag in dim_tags}
    removed = in_tunnel if decompression.drilled else in_tunnel - in_bone
    occ.remove([(3, tag) for tag in sorted(removed)], recursive=True)
    occ.synchronize()
    drilled = {region: set() for region in groups}
    for (region, _), dim_tags in zip(owners, pieces_of[: len(objects)], strict=True):
        drilled[region] |= {tag for _, tag in dim_tags} - removed
    return drilled


def _on_tunnel(face: int, decompression: CoreDecompression | None) -> bool:
    """The face lies on the wall (a cylinder of the tunnel's radius about its axis) or the end disc of a drilled tunnel."""
    if decompression is None or not decompression.drilled:
        return False
    low, high = gmsh.model.getParametrizationBounds(2, face)
    u, v = np.meshgrid(*(np.linspace(a, b, _FACE_SAMPLES + 2)[1:-1] for a, b in zip(low, high, strict=True)))
    points_mm = np.reshape(gmsh.model.getValue(2, face, np.column_stack([u.ravel(), v.ravel()]).ravel()), (-1, 3))
    kind = gmsh.model.getType(2, face)
    for tunnel in decompression.tunnels:
        radius_mm, axis = tunnel.diameter / 2 * MM_PER_M, np.array(tunnel.axis())
        relative = points_mm - np.array(tunnel.entry) * MM_PER_M
        axial = relative @ axis
        radial = np.linalg.norm(relative - axial[:, None] * axis, axis=1)
        tolerance = TUNNEL_TOLERANCE * radius_mm
        if kind == "Cylinder" and np.all(np.abs(radial - radius_mm) < tolerance):
            return True
        centre = np.array(gmsh.model.occ.getCenterOfMass(2, face)) - np.array(tunnel.entry) * MM_PER_M
        off_axis = np.linalg.norm(centre - (centre @ axis) * axis)
        if kind == "Plane" and np.all(np.abs(axial - tunnel.length_m() * MM_PER_M) < tolerance) and off_axis < tolerance:
            return True
    return False


def _add_boundary_groups(name: str, faces: dict[str, list[int]]) -> None:
    """One physical group per boundary name; MeshError naming a boundary that got no face."""
    for boundary, tags in faces.items():
        if not tags:
            raise MeshError(f"gmsh:{name}: construction produced no {boundary} surface")
        gmsh.model.addPhysicalGroup(2, tags, BOUNDARY_TAGS[boundary], boundary)


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
    groups = _drill(groups, bone.decompression)
    in_plate, volumes = groups["subchondral_plate"], set().union(*groups.values())
    for region, tags in groups.items():
        if not tags:
            raise MeshError(f"gmsh:{name}: construction produced no {region} volume")
        gmsh.model.addPhysicalGroup(3, sorted(tags), REGION_TAGS[region], region)

    tol_mm = 1e-3 * bone.cortical_mm
    drilled = bone.decompression is not None and bone.decompression.drilled
    faces: dict[str, list[int]] = {boundary: [] for boundary in (*BONE_BOUNDARIES, *(("tunnel",) if drilled else ()))}
    exterior = gmsh.model.getBoundary([(3, v) for v in volumes], combined=True, oriented=False)
    for _, face in exterior:
        (volume,), _ = gmsh.model.getAdjacencies(2, face)
        centre = np.array(occ.getCenterOfMass(2, face))
        if _on_tunnel(face, bone.decompression):
            faces["tunnel"].append(face)
        elif volume in in_plate:
            faces["articular"].append(face)
        elif gmsh.model.getType(2, face) == "Plane" and abs((centre - bone.cut_point_mm) @ bone.cut_normal) < tol_mm:
            faces["cut"].append(face)
        else:
            faces["periosteal"].append(face)
    _add_boundary_groups(name, faces)
    for _, face in gmsh.model.getEntities(2):
        if gmsh.model.getType(2, face) == "BSpline surface":  # the dilated spheres of the condyles
            gmsh.model.mesh.setAlgorithm(2, face, MESH_ADAPT_2D)


def _scar_slab(
    scar: PhysealScar | None, outward: np.ndarray, *, apex_mm: float, radius_mm: float
) -> Callable[[], DimTags] | None:
    """Adds a disc of the scar's thickness centred on the plane outward.x = apex - depth (None without a scar)."""
    if scar is None:
        return None
    centre_mm = apex_mm - scar.depth * MM_PER_M
    thickness_mm = scar.thickness * MM_PER_M

    def add() -> DimTags:
        start = (centre_mm - thickness_mm / 2) * outward
        return [(3, gmsh.model.occ.addCylinder(*start, *(thickness_mm * outward), radius_mm))]

    return add


def _femoral_head_bone(geometry: FemoralHeadGeometry) -> _LayeredBone:
    occ = gmsh.model.occ
    R = geometry.head_radius * MM_PER_M
    rn = geometry.neck_radius * MM_PER_M
    L = geometry.neck_length * MM_PER_M
    a = np.array(geometry.neck_axis())
    cap_plane = R * math.cos(geometry.articular_half_angle)
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

    scar_slab = _scar_slab(geometry.physeal_scar, a, apex_mm=R, radius_mm=2 * R)
    return _LayeredBone(
        solid, ball, cartilage_side, -L * a, a,
        geometry.cortical_thickness * MM_PER_M, geometry.subchondral_thickness * MM_PER_M, scar_slab, geometry.core_decompression,
    )


def _femoral_condyle_bone(geometry: FemoralCondyleGeometry) -> _LayeredBone:
    """Condyles are dilated unit spheres (BSpline faces). Their mesh degrades at a sphere pole where the two
    tangent semi-axes differ (width/2 and length/2 at the distal point), so each sphere is turned to put
    its poles on the medial-lateral axis (tangent semi-axes length/2 and height/2, nearly equal), tilted
    proximally by CONDYLE_POLE_TILT_RAD: the notch-side pole then lies inside the metaphysis, off the
    cone's base plane (a pole on that plane breaks the OCC fuse)."""
    occ = gmsh.model.occ
    semi = np.array([geometry.condyle_width, geometry.condyle_length, geometry.condyle_height]) * MM_PER_M / 2
    spacing = geometry.condyle_spacing * MM_PER_M
    metaphysis_radius, shaft_radius = geometry.metaphysis_radius * MM_PER_M, geometry.shaft_radius * MM_PER_M
    length = geometry.length * MM_PER_M
    centre_z = semi[2]
    shaft_start = centre_z + geometry.metaphysis_length * MM_PER_M
    axis_z = np.array([0.0, 0.0, 1.0])
    reach = 2 * (spacing + semi.max())  # beyond the bone in every direction

    def condyles(offset: float) -> DimTags:
        parts = []
        for side in (1.0, -1.0):
            x0 = side * spacing / 2
            ball = [(3, occ.addSphere(x0, 0.0, centre_z, 1.0))]
            occ.rotate(ball, x0, 0.0, centre_z, 0, 1, 0, -side * (math.pi / 2 - CONDYLE_POLE_TILT_RAD))
            occ.dilate(ball, x0, 0.0, centre_z, *(semi - offset))
            parts += ball
        fused, _ = occ.fuse(parts[:1], parts[1:])
        return fused

    def solid(offset: float) -> DimTags:
        cone = occ.addCone(0, 0, centre_z, 0, 0, shaft_start - centre_z, metaphysis_radius - offset, shaft_radius - offset)
        shaft = occ.addCylinder(0, 0, shaft_start, 0, 0, length - shaft_start, shaft_radius - offset)
        fused, _ = occ.fuse(condyles(offset), [(3, cone), (3, shaft)])
        return fused

    def cartilage_side() -> DimTags:
        return [(3, occ.addBox(-reach, -reach, -reach, 2 * reach, 2 * reach, reach + geometry.articular_height * MM_PER_M))]

    scar_slab = _scar_slab(geometry.physeal_scar, -axis_z, apex_mm=0.0, radius_mm=reach)
    return _LayeredBone(
        solid, condyles, cartilage_side, length * axis_z, axis_z,
        geometry.cortical_thickness * MM_PER_M, geometry.subchondral_thickness * MM_PER_M, scar_slab, geometry.core_decompression,
    )


def _tag_single_region(
    name: str, boundary_names: tuple[str, ...], boundary_of: Callable[[np.ndarray], str], decompression: CoreDecompression | None = None
) -> None:
    """Tag the OCC volume trabecular (drilled by ``decompression``, `_drill`) and each face of its boundary ``tunnel``
    if on a drilled tunnel, else ``boundary_of(centre of mass in mm)``."""
    gmsh.model.occ.synchronize()
    (_, volume), = gmsh.model.getEntities(3)
    volumes = sorted(_drill({"trabecular": {volume}}, decompression)["trabecular"])
    gmsh.model.addPhysicalGroup(3, volumes, REGION_TAGS["trabecular"], "trabecular")
    faces: dict[str, list[int]] = {boundary: [] for boundary in boundary_names}
    for _, face in gmsh.model.getBoundary([(3, v) for v in volumes], combined=True, oriented=False):
        boundary = "tunnel" if _on_tunnel(face, decompression) else boundary_of(np.array(gmsh.model.occ.getCenterOfMass(2, face)))
        faces[boundary].append(face)
    _add_boundary_groups(name, faces)


def _box_planes(geometry: BoxGeometry, length_scale: float) -> dict[str, tuple[int, float]]:
    """Face name -> (axis, coordinate of its plane) of the box, lengths in metres times ``length_scale``."""
    lower = np.array(geometry.origin) * length_scale
    upper = lower + np.array(geometry.lengths) * length_scale
    return {name: (index // 2, float((lower, upper)[index % 2][index // 2])) for index, name in enumerate(geometry.boundary_names())}


def _box(geometry: BoxGeometry) -> None:
    """Box from origin to origin + lengths; a face is named by the plane its centre lies on."""
    gmsh.model.occ.addBox(*(np.array(geometry.origin) * MM_PER_M), *(np.array(geometry.lengths) * MM_PER_M))
    planes = _box_planes(geometry, MM_PER_M)

    def face_name(centre: np.ndarray) -> str:
        return min(planes, key=lambda name: abs(centre[planes[name][0]] - planes[name][1]))

    _tag_single_region("box", geometry.boundary_names(), face_name)


def _cylinder(geometry: CylinderGeometry) -> None:
    height = geometry.height * MM_PER_M
    gmsh.model.occ.addCylinder(0, 0, 0, 0, 0, height, geometry.radius * MM_PER_M)
    tol_mm = 1e-6 * height

    def face_name(centre: np.ndarray) -> str:
        return "bottom" if abs(centre[2]) < tol_mm else "top" if abs(centre[2] - height) < tol_mm else "side"

    _tag_single_region("cylinder", geometry.boundary_names(), face_name, geometry.core_decompression)


def _sphere(geometry: SphereGeometry) -> None:
    gmsh.model.occ.addSphere(0, 0, 0, geometry.radius * MM_PER_M)
    _tag_single_region("sphere", geometry.boundary_names(), lambda _centre: "surface")


def _sphere_octant(geometry: SphereOctantGeometry) -> None:
    """Ball intersected with the octant box [0, R]^3; a planar face's centre has one coordinate 0."""
    occ = gmsh.model.occ
    radius = geometry.radius * MM_PER_M
    occ.intersect([(3, occ.addSphere(0, 0, 0, radius))], [(3, occ.addBox(0, 0, 0, radius, radius, radius))])
    tol_mm = 1e-6 * radius

    def face_name(centre: np.ndarray) -> str:
        axis = int(np.argmin(np.abs(centre)))
        return f"{'xyz'[axis]}_symmetry" if abs(centre[axis]) < tol_mm else "surface"

    _tag_single_region("sphere_octant", geometry.boundary_names(), face_name)


_MODELS: dict[type, Callable] = {
    FemoralHeadGeometry: lambda geometry: _build_layered_bone("femoral_head", _femoral_head_bone(geometry)),
    FemoralCondyleGeometry: lambda geometry: _build_layered_bone("femoral_condyle", _femoral_condyle_bone(geometry)),
    BoxGeometry: _box,
    CylinderGeometry: _cylinder,
    SphereGeometry: _sphere,
    SphereOctantGeometry: _sphere_octant,
}


def mesh_shape(comm: MPI.Comm, geometry: ParametricGeometry, sizes: MeshSizes, *, save_path: Path | None = None) -> Domain:
    """Mesh the parametric ``geometry`` with gmsh (a box's ``divisions`` are not used here: see ``structured_box``).

    ``save_path``: also write the tagged mesh as gmsh .msh (mm).
    """
    build = partial(_MODELS[type(geometry)], geometry)
    return mesh_on_root(comm, f"gmsh:{geometry.kind}", build, sizes, unit_to_m=1 / MM_PER_M, save_path=save_path)


def structured_box(comm: MPI.Comm, geometry: BoxGeometry, divisions: tuple[int, ...]) -> Domain:
    """The box as nx x ny x nz hexahedra, each split into 6 tetrahedra (DOLFINx), faces tagged by plane."""
    lower = np.array(geometry.origin)
    mesh = dolfinx.mesh.create_box(
        comm, [lower, lower + np.array(geometry.lengths)], list(divisions), dolfinx.mesh.CellType.tetrahedron
    )
    cell_map = mesh.topology.index_map(3)
    cells = np.arange(cell_map.size_local + cell_map.num_ghosts, dtype=np.int32)
    cell_tags = dolfinx.mesh.meshtags(mesh, 3, cells, np.full_like(cells, REGION_TAGS["trabecular"]))
    tol_m = 1e-9 * min(geometry.lengths)
    facets, values = [], []
    for boundary, (axis, plane_m) in _box_planes(geometry, 1.0).items():
        found = dolfinx.mesh.locate_entities_boundary(mesh, 2, lambda x, axis=axis, plane_m=plane_m: np.abs(x[axis] - plane_m) < tol_m)
        facets.append(found)
        values.append(np.full_like(found, BOUNDARY_TAGS[boundary]))
    facets, values = np.concatenate(facets), np.concatenate(values)
    order = np.argsort(facets)
    facet_tags = dolfinx.mesh.meshtags(mesh, 2, facets[order], values[order])
    boundaries = {boundary: BOUNDARY_TAGS[boundary] for boundary in geometry.boundary_names()}
    return Domain(mesh, cell_tags, facet_tags, {"trabecular": REGION_TAGS["trabecular"]}, boundaries, "dolfinx:box")
