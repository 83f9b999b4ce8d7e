"""Run gmsh on rank 0 of a communicator: build a model, set size fields, mesh it, distribute it as a Domain.

Size fields (gmsh background mesh, the smallest of): the global size everywhere, a smaller size in each
refinement ball (graded to the global size over one radius outside it), optionally under the articular
surface (``size(d) = s_fine`` for distances d < depth, graded linearly to the global size at 2 depth),
a size in each named thin region (the bone shells), and a size at the layer junction (the narrow planar
steps where cortex, subchondral plate and core meet), graded to the global size over one global size.
Tetrahedra are Delaunay, improved by gmsh's optimiser and then Netgen's (which removes the slivers).
Meshes are deterministic (fixed random seed, one thread). Errors raised while building on rank 0, and a
Ctrl-C there, are raised, with the same class and message, on every rank.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI

from bmes_fem.errors import BmesError, ConfigError, MeshError
from bmes_fem.lazy import lazy_module
from bmes_fem.mesh.domain import Domain, domain_from_gmsh_model

gmsh = lazy_module("gmsh")

RANDOM_SEED = 12345
JUNCTION_SAMPLING = 200  # points per junction curve for the distance field
JUNCTION_DIST_MIN = 0.5  # the junction size holds within this many junction sizes of the curves ...
JUNCTION_GRADING = 1.0  # ... and grows linearly to the global size over this many global sizes
ALGORITHM_3D = 1  # Delaunay
_ERRORS = {cls.__name__: cls for cls in (ConfigError, MeshError, KeyboardInterrupt)}  # raised on every rank

# Physical-group tags of every model built here; names are the public interface, the numbers are fixed.
REGION_TAGS = {"trabecular": 1, "cortical": 2, "subchondral_plate": 3, "physeal_scar": 4}
BOUNDARY_TAGS = {
    "articular": 11, "periosteal": 12, "cut": 13, "surface": 14,
    "xmin": 15, "xmax": 16, "ymin": 17, "ymax": 18, "zmin": 19, "zmax": 20,
    "bottom": 21, "top": 22, "side": 23,
    "x_symmetry": 24, "y_symmetry": 25, "z_symmetry": 26, "tunnel": 27,
}


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
class SurfaceRefinement:
    """Finer mesh size within depth_m of the ``articular`` boundary, graded to the global size at 2 depth_m."""

    mesh_size_m: float
    depth_m: float

    def __post_init__(self):
        if not (self.mesh_size_m > 0 and self.depth_m > 0):
            raise ValueError(f"articular refinement needs mesh_size_m > 0 and depth_m > 0, got {self.mesh_size_m}, {self.depth_m}")


@dataclass(frozen=True)
class RegionSize:
    """A size in every volume (and on its bounding surfaces) of the physical group ``region``."""

    region: str
    mesh_size_m: float


@dataclass(frozen=True)
class MeshSizes:
    """Everything that sets element sizes: the global size, refinement balls, an optional refined boundary
    layer, sizes in named regions (the thin bone shells) and at the layer junction (see ``_junction_curves``)."""

    global_m: float
    zones: Sequence[RefinementZone] = ()
    articular: SurfaceRefinement | None = None
    regions: Sequence[RegionSize] = ()
    junction_m: float | None = None

    def __post_init__(self):
        if not self.global_m > 0:
            raise ValueError(f"global mesh size global_m={self.global_m} must be > 0")


def _junction_curves() -> list[int]:
    """Curves of the planar faces between the cortical shell and another layer that touch the subchondral
    plate: the narrow steps (|t_ct - t_sc| and t_sc wide) where cortex, plate and core meet under the
    edge of the cartilage."""
    cortical = set(gmsh.model.getEntitiesForPhysicalGroup(3, REGION_TAGS["cortical"]))
    plate = [(3, tag) for tag in gmsh.model.getEntitiesForPhysicalGroup(3, REGION_TAGS["subchondral_plate"])]
    plate_faces = gmsh.model.getBoundary(plate, combined=False, oriented=False)
    plate_curves = {tag for _, tag in gmsh.model.getBoundary(plate_faces, combined=False, oriented=False)}
    curves: set[int] = set()
    for _, face in gmsh.model.getEntities(2):
        volumes = set(gmsh.model.getAdjacencies(2, face)[0])
        if len(volumes) == 2 and volumes & cortical and gmsh.model.getType(2, face) == "Plane":
            face_curves = {tag for _, tag in gmsh.model.getBoundary([(2, face)], oriented=False)}
            if face_curves & plate_curves:
                curves |= face_curves
    return sorted(curves)


def _set_background_field(sizes: MeshSizes, unit_to_m: float) -> None:
    """Background field min(global, balls, boundary layer, regions, junction), in model units (lengths / unit_to_m)."""
    for option in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
        gmsh.option.setNumber(f"Mesh.{option}", 0)
    field = gmsh.model.mesh.field
    size = sizes.global_m / unit_to_m
    fields = [field.add("MathEval")]
    field.setString(fields[0], "F", repr(size))
    for zone in sizes.zones:
        tag = field.add("Ball")
        for key, value in zip(("XCenter", "YCenter", "ZCenter"), np.asarray(zone.centre_m) / unit_to_m, strict=True):
            field.setNumber(tag, key, float(value))
        field.setNumber(tag, "Radius", zone.radius_m / unit_to_m)
        field.setNumber(tag, "Thickness", zone.radius_m / unit_to_m)
        field.setNumber(tag, "VIn", zone.mesh_size_m / unit_to_m)
        field.setNumber(tag, "VOut", size)
        fields.append(tag)
    if sizes.articular is not None:
        surface = sizes.articular
        distance = field.add("Distance")
        field.setNumbers(distance, "SurfacesList", gmsh.model.getEntitiesForPhysicalGroup(2, BOUNDARY_TAGS["articular"]))
        field.setNumber(distance, "Sampling", 20)
        threshold = field.add("Threshold")
        field.setNumber(threshold, "InField", distance)
        field.setNumber(threshold, "SizeMin", surface.mesh_size_m / unit_to_m)
        field.setNumber(threshold, "SizeMax", size)
        field.setNumber(threshold, "DistMin", surface.depth_m / unit_to_m)
        field.setNumber(threshold, "DistMax", 2 * surface.depth_m / unit_to_m)
        fields.append(threshold)
    for region in sizes.regions:
        tag = field.add("Constant")
        field.setNumbers(tag, "VolumesList", gmsh.model.getEntitiesForPhysicalGroup(3, REGION_TAGS[region.region]))
        field.setNumber(tag, "VIn", region.mesh_size_m / unit_to_m)
        field.setNumber(tag, "VOut", size)
        fields.append(tag)
    if sizes.junction_m is not None:
        junction = sizes.junction_m / unit_to_m
        distance = field.add("Distance")
        field.setNumbers(distance, "CurvesList", _junction_curves())
        field.setNumber(distance, "Sampling", JUNCTION_SAMPLING)
        threshold = field.add("Threshold")
        field.setNumber(threshold, "InField", distance)
        field.setNumber(threshold, "SizeMin", junction)
        field.setNumber(threshold, "SizeMax", size)
        field.setNumber(threshold, "DistMin", JUNCTION_DIST_MIN * junction)
        field.setNumber(threshold, "DistMax", JUNCTION_DIST_MIN * junction + JUNCTION_GRADING * size)
        fields.append(threshold)
    smallest = field.add("Min")
    field.setNumbers(smallest, "FieldsList", fields)
    field.setAsBackgroundMesh(smallest)


def _generate(name: str, build: Callable[[], None], sizes: MeshSizes, unit_to_m: float) -> None:
    """Build and mesh model `name` in the current gmsh session; MeshError if a volume stays empty."""
    gmsh.model.add(name)
    for option, value in (
        ("General.Terminal", 0),
        ("General.NumThreads", 1),
        ("Mesh.RandomSeed", RANDOM_SEED),
        ("Mesh.Algorithm3D", ALGORITHM_3D),
        ("Mesh.OptimizeNetgen", 1),
    ):
        gmsh.option.setNumber(option, value)
    build()
    _set_background_field(sizes, unit_to_m)
    gmsh.model.mesh.generate(3)
    empty = [tag for _, tag in gmsh.model.getEntities(3) if not len(gmsh.model.mesh.getElements(3, tag)[1])]
    if empty:
        raise MeshError(f"gmsh:{name}: gmsh left volumes {empty} without tetrahedra")


def mesh_on_root(
    comm: MPI.Comm,
    source: str,
    build: Callable[[], None],
    sizes: MeshSizes | None,
    *,
    unit_to_m: float,
    save_path: Path | None = None,
    after_meshing: Callable[[], None] | None = None,
) -> Domain:
    """Run ``build`` (and, with ``sizes``, the 3D mesher, then ``after_meshing``) in a gmsh model on rank 0
    and distribute the mesh.

    ``build`` adds entities and physical groups in model units (metres = units x unit_to_m). With
    ``save_path`` the tagged mesh is also written there as a gmsh ``.msh`` file (model units).
    A BmesError, gmsh failure or Ctrl-C on rank 0 is raised on every rank.
    """
    if comm.rank != 0:
        error = comm.bcast(None, root=0)
        if error:
            raise _ERRORS.get(error[0], MeshError)(error[1])
        return domain_from_gmsh_model(comm, None, scale_to_m=unit_to_m, source=source)

    started_here = not gmsh.isInitialized()
    if started_here:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        error = None
        try:
            if sizes is None:
                gmsh.model.add(source)
                build()
            else:
                _generate(source, build, sizes, unit_to_m)
            if after_meshing is not None:
                after_meshing()
            if save_path is not None:
                save_path.parent.mkdir(parents=True, exist_ok=True)
                gmsh.write(str(save_path))
        except (BmesError, KeyboardInterrupt) as err:  # Ctrl-C too: the other ranks wait in the broadcast below
            error = (type(err).__name__, str(err))
        except Exception as err:  # gmsh raises bare Exception; report it on every rank
            error = ("MeshError", f"{source}: gmsh failed: {err}")
        comm.bcast(error, root=0)
        if error:
            raise _ERRORS.get(error[0], MeshError)(error[1])
        return domain_from_gmsh_model(comm, gmsh.model, scale_to_m=unit_to_m, source=source)
    finally:
        gmsh.model.remove()
        if started_here:
            gmsh.finalize()
