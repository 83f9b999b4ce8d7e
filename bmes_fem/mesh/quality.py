"""Mesh quality report: cells, vertices and volume per region, dihedral angles, radius ratio (collective).

For a tetrahedron with face normals n_i (face i opposite vertex i, outward), the dihedral angle at the
edge shared by faces i and j is ``theta_ij = pi - angle(n_i, n_j)``; the radius ratio is
``rho = 3 r_in / R_circ`` (1 for the regular tetrahedron, 0 when flat), with ``r_in = 3 V / sum A_i`` and
``R_circ = |a^2 (b x c) + b^2 (c x a) + c^2 (a x b)| / (12 V)`` (a, b, c the edges from vertex 0).
The worst cell (smallest radius ratio) is reported by midpoint and region. Degenerate cells
(|V| <= 1e-12 x mean |V|) raise MeshError (bmes_fem.mesh.domain.check_cell_volumes).
Every number is reduced over the communicator, so serial and parallel runs report the same values.
"""

from __future__ import annotations

import math

import dolfinx
import numpy as np
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.mesh.build import build_domain, mesh_sizes
from bmes_fem.mesh.domain import Domain, cell_volumes_m3, check_cell_volumes

M3_TO_MM3 = 1e9


def _owned_corners_m(mesh: dolfinx.mesh.Mesh) -> np.ndarray:
    """Vertex coordinates (n_owned, 4, 3) of the locally owned tetrahedra."""
    num_owned = mesh.topology.index_map(mesh.topology.dim).size_local
    return mesh.geometry.x[mesh.geometry.dofmaps[0][:num_owned, :4]]


def tetra_quality(corners_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(min dihedral angle [deg], max dihedral angle [deg], radius ratio) per tetrahedron (n, 4, 3)."""
    faces = ((1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2))
    centroid = corners_m.mean(axis=1)
    normals = []
    for _i, (p, q, r) in enumerate(faces):
        n = np.cross(corners_m[:, q] - corners_m[:, p], corners_m[:, r] - corners_m[:, p])
        outward = np.sign(np.einsum("ij,ij->i", n, corners_m[:, p] - centroid))
        normals.append(n * outward[:, None])
    normals = np.stack(normals, axis=1)
    areas = np.linalg.norm(normals, axis=2) / 2
    unit = normals / (2 * areas[:, :, None])
    angles = np.stack(
        [np.pi - np.arccos(np.clip(np.einsum("ij,ij->i", unit[:, i], unit[:, j]), -1.0, 1.0))
         for i in range(4) for j in range(i + 1, 4)],
        axis=1,
    )
    a, b, c = (corners_m[:, k] - corners_m[:, 0] for k in (1, 2, 3))
    volume = np.abs(np.einsum("ij,ij->i", a, np.cross(b, c))) / 6
    numerator = (
        np.sum(a * a, axis=1)[:, None] * np.cross(b, c)
        + np.sum(b * b, axis=1)[:, None] * np.cross(c, a)
        + np.sum(c * c, axis=1)[:, None] * np.cross(a, b)
    )
    circumradius = np.linalg.norm(numerator, axis=1) / (12 * volume)
    inradius = 3 * volume / areas.sum(axis=1)
    return np.degrees(angles.min(axis=1)), np.degrees(angles.max(axis=1)), 3 * inradius / circumradius


def _global_min(comm: MPI.Comm, values: np.ndarray) -> float:
    return comm.allreduce(float(values.min()) if values.size else math.inf, op=MPI.MIN)


def _region_vertex_count(mesh: dolfinx.mesh.Mesh, cells: np.ndarray) -> int:
    """Number of distinct mesh vertices touched by the given owned cells, over all ranks."""
    vertex_map = mesh.topology.index_map(0)
    marks = dolfinx.la.vector(vertex_map, 1, dtype=np.float64)
    mesh.topology.create_connectivity(mesh.topology.dim, 0)
    connectivity = mesh.topology.connectivity(mesh.topology.dim, 0)
    touched = np.unique(connectivity.array.reshape(-1, 4)[cells].ravel())
    marks.array[touched] = 1.0
    marks.scatter_reverse(dolfinx.la.InsertMode.add)
    return mesh.comm.allreduce(int(np.count_nonzero(marks.array[: vertex_map.size_local])), op=MPI.SUM)


def mesh_quality(domain: Domain) -> dict:
    """JSON-ready quality report of the domain (collective); MeshError on degenerate cells."""
    mesh = domain.mesh
    comm = mesh.comm
    check_cell_volumes(mesh, domain.source)
    num_owned = mesh.topology.index_map(mesh.topology.dim).size_local
    volumes_m3 = np.abs(cell_volumes_m3(mesh))
    min_angle, max_angle, radius_ratio = tetra_quality(_owned_corners_m(mesh))
    regions = {}
    for name, tag in sorted(domain.regions.items()):
        cells = domain.cell_tags.find(tag)
        cells = cells[cells < num_owned]
        regions[name] = {
            "cells": comm.allreduce(int(cells.size), op=MPI.SUM),
            "vertices": _region_vertex_count(mesh, cells),
            "volume_mm3": comm.allreduce(float(volumes_m3[cells].sum()), op=MPI.SUM) * M3_TO_MM3,
        }
    return {
        "source": domain.source,
        "cells": mesh.topology.index_map(3).size_global,
        "vertices": mesh.topology.index_map(0).size_global,
        "volume_mm3": comm.allreduce(float(volumes_m3.sum()), op=MPI.SUM) * M3_TO_MM3,
        "regions": regions,
        "boundaries": sorted(domain.boundaries),
        "dihedral_angle_min_deg": _global_min(comm, min_angle),
        "dihedral_angle_max_deg": -_global_min(comm, -max_angle),
        "radius_ratio_min": _global_min(comm, radius_ratio),
        "radius_ratio_mean": comm.allreduce(float(radius_ratio.sum()), op=MPI.SUM)
        / comm.allreduce(radius_ratio.size, op=MPI.SUM),
        **_worst_cell(domain, radius_ratio),
    }


def _worst_cell(domain: Domain, radius_ratio: np.ndarray) -> dict:
    """Midpoint (where to look in a viewer) and region of the cell with the smallest radius ratio over all ranks."""
    local: tuple = (math.inf, None, None)
    if radius_ratio.size:
        worst = int(np.argmin(radius_ratio))
        tag = domain.cell_tags.values[domain.cell_tags.indices == worst]
        region = {value: name for name, value in domain.regions.items()}.get(int(tag[0])) if tag.size else None
        midpoint_mm = _owned_corners_m(domain.mesh)[worst].mean(axis=0) * 1e3
        local = (float(radius_ratio[worst]), midpoint_mm.tolist(), region)
    _, midpoint_mm, region = min(domain.mesh.comm.allgather(local), key=lambda item: item[0])
    return {"worst_cell_midpoint_mm": midpoint_mm, "worst_cell_region": region}


def mesh_report(config: Config, comm: MPI.Comm = MPI.COMM_WORLD) -> dict:
    """``bmes mesh``: build the configured domain and report its sizes and quality (JSON-ready, collective)."""
    sizes = mesh_sizes(config)
    return {
        "case": config.case,
        "geometry_kind": config.geometry.kind,
        "mesh_level": config.mesh.level,
        "size_mm": sizes.global_m * 1e3,
        "lesion_size_mm": [zone.mesh_size_m * 1e3 for zone in sizes.zones],
        "articular_size_mm": None if sizes.articular is None else sizes.articular.mesh_size_m * 1e3,
        "region_size_mm": {region.region: region.mesh_size_m * 1e3 for region in sizes.regions},
        "junction_size_mm": None if sizes.junction_m is None else sizes.junction_m * 1e3,
        **mesh_quality(build_domain(config, comm)),
    }
