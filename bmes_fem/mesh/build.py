"""The case's domain: a meshed parametric geometry or an imported mesh, as named by ``geometry.kind``."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from mpi4py import MPI

from bmes_fem.config import geometry as cg
from bmes_fem.config.case import Config
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.domain import Domain, read_gmsh_file
from bmes_fem.mesh.importers import check_extent, read_meshio_file, read_stl_surface
from bmes_fem.mesh.meshing import MeshSizes, RefinementZone, SurfaceRefinement
from bmes_fem.mesh.shapes import (
    FemoralCondyleShape,
    FemoralHeadShape,
    PhysealScarSlab,
    box,
    cylinder,
    femoral_condyle,
    femoral_head,
    sphere,
)


def mesh_sizes(config: Config) -> MeshSizes:
    """Sizes at ``mesh.level``: global, a ball of lesion_size around each lesion (radius max semi-axis +
    falloff width), and the articular layer when ``mesh.articular_size`` is set."""
    settings = config.mesh
    zones = tuple(
        RefinementZone(lesion.centre, max(lesion.semi_axes) + lesion.falloff_width, settings.at_level(settings.lesion_size))
        for lesion in config.lesions
    )
    articular = None
    if settings.articular_size is not None:
        articular = SurfaceRefinement(settings.at_level(settings.articular_size), settings.articular_depth)
    return MeshSizes(settings.at_level(settings.size), zones, articular)


def _scar(geometry) -> PhysealScarSlab | None:
    scar = geometry.physeal_scar
    return None if scar is None else PhysealScarSlab(scar.depth, scar.thickness)


def _head_shape(geometry: cg.FemoralHeadGeometry) -> FemoralHeadShape:
    return FemoralHeadShape(
        head_radius_m=geometry.head_radius,
        neck_radius_m=geometry.neck_radius,
        neck_length_m=geometry.neck_length,
        neck_shaft_angle_deg=math.degrees(geometry.neck_shaft_angle),
        anteversion_deg=math.degrees(geometry.anteversion),
        articular_half_angle_deg=math.degrees(geometry.articular_half_angle),
        cortical_thickness_m=geometry.cortical_thickness,
        subchondral_thickness_m=geometry.subchondral_thickness,
        physeal_scar=_scar(geometry),
    )


def _condyle_shape(geometry: cg.FemoralCondyleGeometry) -> FemoralCondyleShape:
    lengths = {f"{key}_m": value for key, value in geometry if key not in ("kind", "physeal_scar")}
    return FemoralCondyleShape(**lengths, physeal_scar=_scar(geometry))


def _read_gmsh(comm: MPI.Comm, geometry: cg.MeshFile) -> Domain:
    """Read the .msh and check its bounding box against ``geometry.unit``."""
    domain = read_gmsh_file(comm, geometry.path, scale_to_m=geometry.scale_to_m)
    x = domain.mesh.geometry.x
    lower, upper = np.full(3, np.inf), np.full(3, -np.inf)
    if len(x):
        lower, upper = x.min(axis=0), x.max(axis=0)
    comm.Allreduce(MPI.IN_PLACE, lower, op=MPI.MIN)
    comm.Allreduce(MPI.IN_PLACE, upper, op=MPI.MAX)
    check_extent(lower, upper, unit=geometry.unit, source=str(geometry.path))
    return domain


def build_domain(config: Config, comm: MPI.Comm = MPI.COMM_WORLD) -> Domain:
    """Mesh the configured geometry at ``mesh.level`` (refined around every lesion), or read a mesh file."""
    geometry, sizes, save = config.geometry, mesh_sizes(config), config.mesh.save
    builders: dict[type, Callable[[], Domain]] = {
        cg.FemoralHeadGeometry: lambda: femoral_head(
            comm, _head_shape(geometry), mesh_size_m=sizes.global_m, refinement=sizes.zones,
            articular=sizes.articular, save_path=save,
        ),
        cg.FemoralCondyleGeometry: lambda: femoral_condyle(
            comm, _condyle_shape(geometry), mesh_size_m=sizes.global_m, refinement=sizes.zones,
            articular=sizes.articular, save_path=save,
        ),
        cg.BoxGeometry: lambda: box(comm, lengths_m=geometry.lengths, mesh_size_m=sizes.global_m, refinement=sizes.zones),
        cg.CylinderGeometry: lambda: cylinder(
            comm, radius_m=geometry.radius, height_m=geometry.height, mesh_size_m=sizes.global_m, refinement=sizes.zones
        ),
        cg.SphereGeometry: lambda: sphere(comm, radius_m=geometry.radius, mesh_size_m=sizes.global_m, refinement=sizes.zones),
        cg.MeshFile: lambda: _read_gmsh(comm, geometry),
        cg.MeshioFile: lambda: read_meshio_file(comm, geometry),
        cg.StlSurface: lambda: read_stl_surface(comm, geometry, sizes, save_path=save),
    }
    try:
        return builders[type(geometry)]()
    except ValueError as err:  # shape dataclasses report inconsistent parameters as ValueError
        raise ConfigError(f"geometry: {err}") from None
