"""Zones of cells and their geometry, in plain NumPy (no DOLFINx: the pictures use it too).

- The lesion and healthy parts of the bone by the lesion indicator chi (`LESION_CHI_FROM`,
  `HEALTHY_CHI_BELOW`).
- Clusters: connected components of zone cells, two tetrahedra being connected when they share a
  facet (three vertices); `Cluster` describes one (volume, centroid, peak, region, depth).
- Depth: the exact Euclidean distance from a point to the nearest triangle of a surface, and the
  nearest point itself.
- The cluster tables (CSV) written for a case and read back by the pictures.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

HEALTHY_CHI_BELOW = 0.05  # chi < 0.05: healthy bone (about 1.5 falloff widths outside the lesion)
LESION_CHI_FROM = 0.5  # chi >= 0.5: inside the lesion ellipsoid
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


def closest_points(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """The point of each triangle nearest to each point, broadcast: points (..., 3), triangles (..., 3, 3).

    The foot of the perpendicular on the triangle's plane if it falls inside the triangle, else the
    nearest point of its nearest edge.
    """
    a, b, c = triangles[..., 0, :], triangles[..., 1, :], triangles[..., 2, :]
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    height = np.sum((points - a) * normal, axis=-1)
    foot = points - height[..., None] * normal
    inside = np.ones(height.shape, dtype=bool)
    nearest_on_edge = np.zeros(np.broadcast_shapes(points.shape, a.shape))
    edge_distance = np.full(height.shape, np.inf)
    for start, end in ((a, b), (b, c), (c, a)):
        edge = end - start
        inside &= np.sum(np.cross(edge, foot - start) * normal, axis=-1) >= 0.0
        along = np.clip(np.sum((points - start) * edge, axis=-1) / np.sum(edge * edge, axis=-1), 0.0, 1.0)
        on_edge = start + along[..., None] * edge
        distance = np.linalg.norm(points - on_edge, axis=-1)
        closer = distance < edge_distance
        nearest_on_edge = np.where(closer[..., None], on_edge, nearest_on_edge)
        edge_distance = np.minimum(edge_distance, distance)
    return np.where(inside[..., None], foot, nearest_on_edge)


def _pair_distance(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Point-triangle distance, broadcast over leading axes (see `closest_points`)."""
    return np.linalg.norm(points - closest_points(points, triangles), axis=-1)


def nearest_surface_point(point: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """The point of the surface (triangles (m, 3, 3)) nearest to ``point`` (3,)."""
    candidates = closest_points(np.asarray(point, dtype=float)[None], np.asarray(triangles, dtype=float))
    return candidates[np.argmin(np.linalg.norm(candidates - point, axis=1))]


def describe_clusters(labels, centres_m, volumes_m3, values, regions, region_names, surface_triangles_m) -> list[Cluster]:
    """One Cluster per label: volume-weighted centroid, peak value, majority region, depths (NaN without a
    surface); largest first."""

    def depth_to_surface_m(points_m: np.ndarray) -> np.ndarray:
        return distance_to_triangles(points_m, surface_triangles_m) if len(surface_triangles_m) else np.full(len(points_m), np.nan)

    depth_m = depth_to_surface_m(centres_m)
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
                depth_mm=float(depth_to_surface_m(centroid_m[None])[0]) * _M_TO_MM,
                shallowest_depth_mm=float(depth_m[member].min()) * _M_TO_MM,
            )
        )
    clusters.sort(key=lambda c: -c.volume_mm3)
    return [replace(c, label=i + 1) for i, c in enumerate(clusters)]


def write_clusters_csv(path: Path, zones: dict[str, list[Cluster]], zone_column: str, peak_column: str) -> None:
    """One row per cluster of every zone; ``zone_column`` holds the zone key, ``peak_column`` names `peak`."""
    columns = [zone_column, *(peak_column if f.name == "peak" else f.name for f in fields(Cluster))]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for zone, clusters in zones.items():
            for cluster in clusters:
                writer.writerow([zone, *(_csv_value(v) for v in asdict(cluster).values())])


def _csv_value(value: object) -> object:
    return f"{value:.6g}" if isinstance(value, float) else value


def read_clusters_csv(path: Path, zone_column: str, peak_column: str) -> dict[str, list[Cluster]]:
    """The zones of a table written by `write_clusters_csv`, in file order."""
    zones: dict[str, list[Cluster]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            values = {f.name: f.type for f in fields(Cluster)}
            row["peak"] = row.pop(peak_column)
            cluster = Cluster(**{
                name: (row[name] if kind == "str" else int(row[name]) if kind == "int" else float(row[name]))
                for name, kind in values.items()
            })  # fmt: skip
            zones.setdefault(row[zone_column], []).append(cluster)
    return zones


def zone_totals(clusters: list[Cluster]) -> dict[str, float | int | None]:
    """Summary entries of one zone: cluster count, total and largest volume [mm^3], peak, shallowest depth [mm]."""
    return {
        "clusters": len(clusters),
        "volume_mm3": float(sum(c.volume_mm3 for c in clusters)),
        "largest_volume_mm3": clusters[0].volume_mm3 if clusters else 0.0,
        "peak": max((c.peak for c in clusters), default=None),
        "shallowest_depth_mm": min((c.shallowest_depth_mm for c in clusters if np.isfinite(c.shallowest_depth_mm)), default=None),
    }
