"""The case's domain: a meshed parametric geometry or a tagged mesh file, as named by ``geometry.kind``."""

from __future__ import annotations

import math

from mpi4py import MPI

from bmes_fem.config import Config
from bmes_fem.config_geometry import MeshFile
from bmes_fem.errors import ConfigError
from bmes_fem.geometry import FemoralHeadShape, RefinementZone, femoral_head
from bmes_fem.mesh import Domain, read_gmsh_file


def build_domain(config: Config, comm: MPI.Comm = MPI.COMM_WORLD) -> Domain:
    """Mesh the configured geometry, finer (``mesh.lesion_size``) around every lesion, or read a mesh file."""
    geometry = config.geometry
    if isinstance(geometry, MeshFile):
        return read_gmsh_file(comm, geometry.path, scale_to_m=geometry.scale_to_m)
    try:
        shape = FemoralHeadShape(
            head_radius_m=geometry.head_radius,
            neck_radius_m=geometry.neck_radius,
            neck_length_m=geometry.neck_length,
            neck_shaft_angle_deg=math.degrees(geometry.neck_shaft_angle),
            anteversion_deg=math.degrees(geometry.anteversion),
            articular_half_angle_deg=math.degrees(geometry.articular_half_angle),
            cortical_thickness_m=geometry.cortical_thickness,
            subchondral_thickness_m=geometry.subchondral_thickness,
        )
    except ValueError as err:
        raise ConfigError(f"geometry: {err}") from None
    zones = [
        RefinementZone(lesion.centre, max(lesion.semi_axes) + lesion.falloff_width, config.mesh.lesion_size)
        for lesion in config.lesions
    ]
    return femoral_head(comm, shape, mesh_size_m=config.mesh.size, refinement=zones)
