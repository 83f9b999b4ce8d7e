"""Connected zones of cells (risk index or pressure above a threshold) and their depth below a surface.

A cluster is a connected component of zone cells, two cells being connected when they share a facet
(three vertices). Under MPI the zone cells are gathered to rank 0 with their partition-independent
input vertex ids (``mesh.geometry.input_global_indices``, as ``fields.vtu`` is written) and labelled
there, so the clusters do not depend on the partition and no ghost exchange is needed; the result is
broadcast to every rank.

Depth is the Euclidean distance from a point to the nearest triangle of a named boundary
(the articular surface), computed exactly per triangle.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import dolfinx
import numpy as np

from bmes_fem.mesh.domain import Domain

_M_TO_MM = 1e3
_DISTANCE_CHUNK_PAIRS = 4_000_000  # point-to-centroid bounds computed at once (~100 MB)
_CANDIDATES = 8  # triangles per point measured exactly before pruning


@dataclass(frozen=True)
class Cluster:
    """A connected zone: ``label`` 1 is the largest. ``peak`` is the zone variable's maximum (R or p in mmHg)."""

    label: int
    cells: int
    volume_mm3: float
    centroid_x_mm: float
    centroid_y_mm: float
    centroid_z_mm: float
    peak: float
    region: str  # the region holding most of the cluster's volume
    depth_mm: float  # distance from the centroid to the surface
    shallowest_depth_mm: float  # smallest distance of a cell centroid to the surface


def facet_components(cell_vertices: np.ndarray) -> np.ndarray:
    """Component label (0..k-1, by first appearance) of each tetrahedron, joined through shared facets."""
    n = len(cell_vertices)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    corners = np.sort(np.asarray(cell_vertices, dtype=np.int64), axis=1)
    facets = np.concatenate([np.delete(corners, k, axis=1) for k in range(4)])  # (4n, 3), facet k omits vertex k
    owner = np.tile(np.arange(n), 4)
    order = np.lexsort(facets.T[::-1])
    facets, owner = facets[order], owner[order]
    shared = np.all(facets[1:] == facets[:-1], axis=1)
    return _components(n, owner[:-1][shared], owner[1:][shared])


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the graph with edges (a_i, b_i): hook roots to the smaller root, compress."""
    parent = np.arange(n)
    while True:
        root_a, root_b = parent[a], parent[b]
        if np.array_equal(root_a, root_b):
            break
        low = np.minimum(root_a, root_b)
        np.minimum.at(parent, root_a, low)
        np.minimum.at(parent, root_b, low)
        while not np.array_equal(parent[parent], parent):
            parent = parent[parent]
    return np.unique(parent, return_inverse=True)[1]


def distance_to_triangles(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Distance from each point (n, 3) to the nearest of the triangles (m, 3, 3), exact.

    Pruned search: with c_j, r_j a triangle's centroid and the radius of its vertices about it,
    d_j >= |p - c_j| - r_j; the exact distances to the `_CANDIDATES` triangles of smallest bound
    give an upper bound u, and every other triangle whose bound is below u is checked too.
    """
    points = np.atleast_2d(np.asarray(points, dtype=float))
    triangles = np.asarray(triangles, dtype=float)
    if len(triangles) == 0:
        return np.full(len(points), np.inf)
    centres = triangles.mean(axis=1)
    radii = np.linalg.norm(triangles - centres[:, None], axis=2).max(axis=1)
    k = min(_CANDIDATES, len(triangles))
    chunk = max(1, _DISTANCE_CHUNK_PAIRS // len(triangles))
    result = np.empty(len(points))
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk]
        squared = np.sum(p**2, 1)[:, None] + np.sum(centres**2, 1)[None] - 2 * p @ centres.T
        bound = np.sqrt(np.maximum(squared, 0.0)) - radii
        candidates = np.argpartition(bound, k - 1, axis=1)[:, :k]
        best = _pair_distance(p[:, None], triangles[candidates]).min(axis=1)
        bound[np.arange(len(p))[:, None], candidates] = np.inf
        rows, cols = np.nonzero(bound < best[:, None])
        np.minimum.at(best, rows, _pair_distance(p[rows], triangles[cols]))
        result[start : start + chunk] = best
    return result


def _pair_distance(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Point-triangle distance, broadcast over leading axes: points (..., 3), triangles (..., 3, 3).

    The distance to the triangle's plane if the point projects inside it, else to its nearest edge.
    """
    a, b, c = triangles[..., 0, :], triangles[..., 1, :], triangles[..., 2, :]
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    height = np.sum((points - a) * normal, axis=-1)
    foot = points - height[..., None] * normal
    inside = np.ones(height.shape, dtype=bool)
    edge_distance = np.full(height.shape, np.inf)
    for start, end in ((a, b), (b, c), (c, a)):
        edge = end - start
        inside &= np.sum(np.cross(edge, foot - start) * normal, axis=-1) >= 0.0
        along = np.clip(np.sum((points - start) * edge, axis=-1) / np.sum(edge * edge, axis=-1), 0.0, 1.0)
        edge_distance = np.minimum(edge_distance, np.linalg.norm(points - start - along[..., None] * edge, axis=-1))
    return np.where(inside, np.abs(height), edge_distance)


def boundary_triangles_m(domain: Domain, boundary: str) -> np.ndarray:
    """Corner coordinates (m, 3, 3) [m] of the facets tagged ``boundary``, gathered to every rank (collective)."""
    mesh = domain.mesh
    fdim = mesh.topology.dim - 1
    facets = domain.facet_tags.find(domain.boundary_id(boundary))
    facets = facets[facets < mesh.topology.index_map(fdim).size_local]  # owned only: each facet once
    nodes = dolfinx.mesh.entities_to_geometry(mesh, fdim, facets)
    local = mesh.geometry.x[nodes].reshape(-1, 3, 3)
    return np.concatenate(mesh.comm.allgather(local))


def find_clusters(
    domain: Domain,
    in_zone: np.ndarray,
    value: np.ndarray,
    volume_m3: np.ndarray,
    region: np.ndarray,
    surface_triangles_m: np.ndarray,
) -> list[Cluster]:
    """Clusters of the owned cells with ``in_zone`` True, largest first, on every rank (collective).

    ``value``, ``volume_m3`` and ``region`` (tag value) hold one entry per owned cell;
    depths are to ``surface_triangles_m`` (see `boundary_triangles_m`).
    """
    mesh = domain.mesh
    n_owned = mesh.topology.index_map(mesh.topology.dim).size_local
    nodes = mesh.geometry.dofmaps[0][:n_owned][in_zone]
    local = (
        mesh.geometry.input_global_indices[nodes],
        mesh.geometry.x[nodes].mean(axis=1),
        np.asarray(volume_m3)[in_zone],
        np.asarray(value)[in_zone],
        np.asarray(region)[in_zone],
    )
    pieces = mesh.comm.gather(local, root=0)
    clusters = None
    if mesh.comm.rank == 0:
        vertices, centres, volumes, values, regions = (np.concatenate(column) for column in zip(*pieces, strict=True))
        names = {tag: name for name, tag in domain.regions.items()}
        clusters = _describe(facet_components(vertices), centres, volumes, values, regions, names, surface_triangles_m)
    return mesh.comm.bcast(clusters, root=0)


def _describe(labels, centres_m, volumes_m3, values, regions, region_names, surface_triangles_m) -> list[Cluster]:
    """One Cluster per label: volume-weighted centroid, peak value, majority region, depths; largest first."""
    depth_m = distance_to_triangles(centres_m, surface_triangles_m)
    clusters = []
    for label in np.unique(labels):
        member = labels == label
        volume = volumes_m3[member]
        centroid_m = volume @ centres_m[member] / volume.sum()
        tags, inverse = np.unique(regions[member], return_inverse=True)
        main_tag = int(tags[np.argmax(np.bincount(inverse, weights=volume))])
        x_mm, y_mm, z_mm = (float(c) * _M_TO_MM for c in centroid_m)
        clusters.append(
            Cluster(
                label=0,
                cells=int(member.sum()),
                volume_mm3=float(volume.sum()) * _M_TO_MM**3,
                centroid_x_mm=x_mm,
                centroid_y_mm=y_mm,
                centroid_z_mm=z_mm,
                peak=float(values[member].max()),
                region=region_names.get(main_tag, str(main_tag)),
                depth_mm=float(distance_to_triangles(centroid_m, surface_triangles_m)[0]) * _M_TO_MM,
                shallowest_depth_mm=float(depth_m[member].min()) * _M_TO_MM,
            )
        )
    clusters.sort(key=lambda c: -c.volume_mm3)
    return [replace(c, label=i + 1) for i, c in enumerate(clusters)]


def write_clusters_csv(path: Path, zones: dict[str, list[Cluster]], zone_column: str, peak_column: str) -> None:
    """One row per cluster of every zone; ``zone_column`` holds the zone key, ``peak_column`` names `peak`."""
    fields = [zone_column, *(peak_column if f == "peak" else f for f in Cluster.__dataclass_fields__)]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        for zone, clusters in zones.items():
            for cluster in clusters:
                writer.writerow([zone, *(_csv_value(v) for v in asdict(cluster).values())])


def _csv_value(value: object) -> object:
    return f"{value:.6g}" if isinstance(value, float) else value


def zone_totals(clusters: list[Cluster]) -> dict[str, float | int | None]:
    """Summary entries of one zone: cluster count, total and largest volume [mm^3], peak, shallowest depth [mm]."""
    return {
        "clusters": len(clusters),
        "volume_mm3": float(sum(c.volume_mm3 for c in clusters)),
        "largest_volume_mm3": clusters[0].volume_mm3 if clusters else 0.0,
        "peak": max((c.peak for c in clusters), default=None),
        "shallowest_depth_mm": min((c.shallowest_depth_mm for c in clusters), default=None),
    }
