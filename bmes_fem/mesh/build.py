"""The case's domain: a meshed parametric geometry or an imported mesh, as named by ``geometry.kind``."""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from bmes_fem.config import geometry as cg
from bmes_fem.config.case import Config
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.domain import Domain, read_gmsh_file
from bmes_fem.mesh.importers import check_extent, read_meshio_file, read_stl_surface
from bmes_fem.mesh.meshing import MeshSizes, RefinementZone, RegionSize, SurfaceRefinement
from bmes_fem.mesh.shapes import mesh_shape, structured_box

THIN_LAYER_SIZE_FACTOR = 3.0  # element size at most this many times the thickness of a thin layer or step


def _thin_layers_m(geometry: cg.Geometry) -> tuple[dict[str, float], float | None]:
    """Thickness of each thin bone layer by region name, and the narrowest step where the layers meet
    (min(t_sc, |t_ct - t_sc|)); none for the verification shapes."""
    if not isinstance(geometry, cg.FemoralHeadGeometry | cg.FemoralCondyleGeometry):
        return {}, None
    t_ct, t_sc = geometry.cortical_thickness, geometry.subchondral_thickness
    layers = {"cortical": t_ct, "subchondral_plate": t_sc}
    if geometry.physeal_scar is not None:
        layers["physeal_scar"] = geometry.physeal_scar.thickness
    return layers, min(t_sc, abs(t_ct - t_sc))


def mesh_sizes(config: Config) -> MeshSizes:
    """Sizes at ``mesh.level``: global, a ball of lesion_size around each lesion (radius max semi-axis +
    falloff width), the articular layer when ``mesh.articular_size`` is set, and at most
    THIN_LAYER_SIZE_FACTOR x the thickness in each thin bone layer and at the steps where they meet
    (so the tetrahedra there are not slivers)."""
    settings = config.mesh
    zones = tuple(
        RefinementZone(lesion.centre, max(lesion.semi_axes) + lesion.falloff_width, settings.at_level(settings.lesion_size))
        for lesion in config.lesions
    )
    articular = None
    if settings.articular_size is not None:
        articular = SurfaceRefinement(settings.at_level(settings.articular_size), settings.articular_depth)
    layers_m, step_m = _thin_layers_m(config.geometry)
    shells = tuple(
        RegionSize(region, settings.at_level(THIN_LAYER_SIZE_FACTOR * thickness_m)) for region, thickness_m in layers_m.items()
    )
    junction_m = None if step_m is None else settings.at_level(THIN_LAYER_SIZE_FACTOR * step_m)
    return MeshSizes(settings.at_level(settings.size), zones, articular, shells, junction_m)


def _read_gmsh(comm: MPI.Comm, geometry: cg.MeshFile) -> Domain:
    """Read the .msh and check its bounding box when ``geometry.unit`` is left out."""
    domain = read_gmsh_file(comm, geometry.path, scale_to_m=geometry.scale_to_m)
    x = domain.mesh.geometry.x
    lower, upper = np.full(3, np.inf), np.full(3, -np.inf)
    if len(x):
        lower, upper = x.min(axis=0), x.max(axis=0)
    comm.Allreduce(MPI.IN_PLACE, lower, op=MPI.MIN)
    comm.Allreduce(MPI.IN_PLACE, upper, op=MPI.MAX)
    check_extent(lower, upper, geometry, source=str(geometry.path))
    return domain


def _mesh_parametric(comm: MPI.Comm, config: Config) -> Domain:
    """gmsh mesh of the parametric geometry, or the structured box when ``geometry.divisions`` is given."""
    geometry, settings = config.geometry, config.mesh
    if settings.articular_size is not None and "articular" not in geometry.boundary_names():
        raise ConfigError(
            f"mesh.articular_size = {settings.articular_size * 1e3:g} mm refines under the 'articular' boundary, but "
            f"geometry.kind = {geometry.kind} has {', '.join(geometry.boundary_names())}; remove mesh.articular_size"
        )
    if isinstance(geometry, cg.BoxGeometry) and geometry.divisions is not None:
        if settings.save is not None:
            raise ConfigError(
                f"mesh.save = {settings.save}: only gmsh meshes are saved, and geometry.divisions = "
                f"{list(geometry.divisions)} makes a structured mesh; remove mesh.save or geometry.divisions"
            )
        return structured_box(comm, geometry, settings.divisions_at_level(geometry.divisions))
    return mesh_shape(comm, geometry, mesh_sizes(config), save_path=settings.save)


def build_domain(config: Config, comm: MPI.Comm = MPI.COMM_WORLD) -> Domain:
    """Mesh the configured geometry at ``mesh.level`` (refined around every lesion), or read a mesh file."""
    geometry = config.geometry
    if isinstance(geometry, cg.MeshFile):
        return _read_gmsh(comm, geometry)
    if isinstance(geometry, cg.MeshioFile):
        return read_meshio_file(comm, geometry)
    if isinstance(geometry, cg.StlSurface):
        return read_stl_surface(comm, geometry, mesh_sizes(config), save_path=config.mesh.save)
    if isinstance(geometry, cg.SegmentationGeometry):
        from bmes_fem.imaging.segmentation import mesh_segmentation

        return mesh_segmentation(comm, geometry, mesh_sizes(config), save_path=config.mesh.save)
    return _mesh_parametric(comm, config)
