"""The case's domain: a meshed parametric geometry or an imported mesh, as named by ``geometry.kind``."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
from mpi4py import MPI

from bmes_fem.config import geometry as cg
from bmes_fem.config.case import Config, Lesion
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.cache import cached_mesh_path, publish
from bmes_fem.mesh.domain import Domain, read_gmsh_file
from bmes_fem.mesh.importers import check_extent, read_meshio_file, read_stl_surface
from bmes_fem.mesh.meshing import MeshSizes, RefinementZone, RegionSize, SurfaceRefinement
from bmes_fem.mesh.shapes import MM_PER_M, mesh_shape, structured_box

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


def lesion_balls_m(lesion: Lesion) -> list[tuple[tuple[float, float, float], float]]:
    """(centre, radius) [m] of the balls refined for a lesion, each its shape's ball plus the falloff width w.

    Ellipsoid and mask: one ball around ``centre`` of radius max semi-axis + w. Region: one ball around each
    bounded part and spared part (ellipsoid: max semi-axis + w; capsule: half its length + r + w), since chi
    changes at their surfaces; none for a half-space, whose plane crosses the whole bone (a ball holding it
    would refine the whole bone): there chi changes over the global size.
    """
    if lesion.kind != "region":
        return [(lesion.centre, max(lesion.semi_axes) + lesion.falloff_width)]
    balls = [shape.bounding_ball() for shape in (*lesion.parts, *lesion.spared)]
    return [(centre, radius + lesion.falloff_width) for centre, radius in [ball for ball in balls if ball is not None]]


def tunnel_balls_m(tunnel: cg.Tunnel, size_m: float) -> list[tuple[tuple[float, float, float], float]]:
    """(centre, radius) [m] of balls along a tunnel from its entry to its target, each of the tunnel's radius plus two
    elements, spaced one ball radius apart: the element size ``size_m`` holds on and around its wall."""
    radius_m = tunnel.diameter / 2 + 2 * size_m
    count = max(2, math.ceil(tunnel.length_m() / radius_m) + 1)
    entry, axis = np.array(tunnel.entry), np.array(tunnel.axis())
    return [(tuple(entry + t * axis), radius_m) for t in np.linspace(0.0, tunnel.length_m(), count)]


def mesh_sizes(config: Config) -> MeshSizes:
    """Sizes at ``mesh.level``: global, lesion_size in the balls of `lesion_balls_m` around each lesion, each drilled
    tunnel's size in the balls of `tunnel_balls_m`, the
    articular layer when ``mesh.articular_size`` is set, and at most THIN_LAYER_SIZE_FACTOR x the thickness in
    each thin bone layer and at the steps where they meet (so the tetrahedra there are not slivers)."""
    settings = config.mesh
    lesion_size_m = settings.at_level(settings.lesion_size)
    zones = tuple(
        RefinementZone(centre, radius, lesion_size_m) for lesion in config.lesions for centre, radius in lesion_balls_m(lesion)
    )
    decompression = getattr(config.geometry, "core_decompression", None)
    for tunnel in decompression.tunnels if decompression is not None else ():
        size_m = settings.at_level(tunnel.wall_size_m())
        zones += tuple(RefinementZone(centre, radius, size_m) for centre, radius in tunnel_balls_m(tunnel, size_m))
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
    return _mesh_through_cache(comm, geometry, mesh_sizes(config), settings.save)


def _mesh_through_cache(comm: MPI.Comm, geometry: cg.ParametricGeometry, sizes: MeshSizes, save: Path | None) -> Domain:
    """The gmsh mesh of ``geometry``, read from the mesh cache (bmes_fem.mesh.cache); a mesh not there yet is made
    and kept there first, then read like any other, so a first and a later run see the same mesh bit for bit.
    ``save`` (``mesh.save``) gets a copy."""
    cached, hit = cached_mesh_path(geometry, sizes, comm)
    if cached is None:
        return mesh_shape(comm, geometry, sizes, save_path=save)
    if not hit:
        written = cached.with_name(f".{cached.stem}.{os.getpid()}.msh")
        mesh_shape(comm, geometry, sizes, save_path=written)
        if comm.rank == 0:
            publish(written, cached)
    if save is not None and comm.rank == 0:
        save.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, save)
    return read_gmsh_file(comm, cached, scale_to_m=1.0 / MM_PER_M, source=f"gmsh:{geometry.kind}")


def build_domain(config: Config, comm: MPI.Comm = MPI.COMM_WORLD) -> Domain:
    """Mesh the configured geometry at ``mesh.level`` (refined around every lesion, `lesion_balls_m`), or read a mesh file."""
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
