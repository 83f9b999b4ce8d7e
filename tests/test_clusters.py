"""Clusters of zone cells (facet-connected components) and depth below a surface."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import box_domain
from mpi4py import MPI

from bmes_fem.config.geometry import SphereGeometry
from bmes_fem.mesh.domain import cell_volumes_m3
from bmes_fem.mesh.meshing import MeshSizes
from bmes_fem.mesh.shapes import mesh_shape
from bmes_fem.post.clusters import boundary_triangles_m, find_clusters
from bmes_fem.post.zones import (
    Cluster,
    _pair_distance,
    distance_to_triangles,
    facet_components,
    nearest_surface_point,
    read_clusters_csv,
    write_clusters_csv,
    zone_totals,
)

BOX_MM = 24.0
BLOBS_MM = {"large": ((7.0, 7.0, 12.0), 5.0), "small": ((17.5, 17.5, 12.0), 3.5)}  # centre, radius


def _cell_centres_m(domain) -> np.ndarray:
    mesh = domain.mesh
    n_owned = mesh.topology.index_map(3).size_local
    return mesh.geometry.x[mesh.geometry.dofmaps[0][:n_owned]].mean(axis=1)


def _blob_clusters(domain, surface: str) -> list[Cluster]:
    """Zone: cells whose centre lies in one of two separated balls; value: 1 - (r / radius)^2."""
    centres_mm = _cell_centres_m(domain) * 1e3
    value = np.full(len(centres_mm), -np.inf)
    for centre, radius in BLOBS_MM.values():
        value = np.maximum(value, 1 - np.sum((centres_mm - centre) ** 2, axis=1) / radius**2)
    volume_m3 = np.abs(cell_volumes_m3(domain.mesh))
    region = np.ones(len(value), dtype=np.int32)
    return find_clusters(domain, value >= 0, value, volume_m3, region, boundary_triangles_m(domain, surface))


@pytest.mark.mpi
def test_two_separated_blobs_give_two_clusters_with_the_ball_volumes():
    domain = box_domain(n=24, length_m=BOX_MM * 1e-3)  # h = 1 mm
    clusters = _blob_clusters(domain, "surface")
    assert [c.label for c in clusters] == [1, 2]
    for cluster, (centre, radius) in zip(clusters, BLOBS_MM.values(), strict=True):
        analytic_mm3 = 4 / 3 * np.pi * radius**3
        print(f"ranks {MPI.COMM_WORLD.size}: V = {cluster.volume_mm3:.2f} mm^3, analytic {analytic_mm3:.2f}")
        assert abs(cluster.volume_mm3 - analytic_mm3) < 0.05 * analytic_mm3  # measured: +1.6 %, +2.8 %
        centroid = np.array([cluster.centroid_x_mm, cluster.centroid_y_mm, cluster.centroid_z_mm])
        assert np.linalg.norm(centroid - centre) < 0.2
        assert cluster.peak == pytest.approx(1.0, abs=0.05)
        assert cluster.region == "trabecular"
        assert cluster.depth_mm == pytest.approx(min(*centre, *(BOX_MM - np.array(centre))), abs=0.2)
        assert cluster.shallowest_depth_mm == pytest.approx(cluster.depth_mm - radius, abs=1.0)
    gathered = MPI.COMM_WORLD.allgather(clusters)
    assert all(other == clusters for other in gathered)  # identical on every rank


def test_depth_below_a_sphere_surface_matches_the_analytic_distance():
    radius_m, size_m = 0.010, 0.001
    domain = mesh_shape(MPI.COMM_WORLD, SphereGeometry(radius=radius_m), MeshSizes(size_m))
    triangles = boundary_triangles_m(domain, "surface")
    points = _cell_centres_m(domain)
    error_m = np.abs(distance_to_triangles(points, triangles) - (radius_m - np.linalg.norm(points, axis=1)))
    print(f"max depth error {error_m.max() * 1e3:.4f} mm over {len(points)} cell centres (h = 1 mm)")
    assert error_m.max() < size_m


def test_point_triangle_distance_in_the_face_edge_and_vertex_regions():
    triangle = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    points = [(0.2, 0.2, 0.5), (0.5, -1.0, 0.0), (2.0, 0.0, 1.0), (1.0, 1.0, 0.0), (-1.0, -1.0, -1.0)]
    expected = [0.5, 1.0, np.sqrt(2.0), np.sqrt(0.5), np.sqrt(3.0)]
    assert distance_to_triangles(points, triangle) == pytest.approx(expected, rel=1e-12)
    nearest = [(0.2, 0.2, 0.0), (0.5, 0.0, 0.0), (1.0, 0.0, 0.0), (0.5, 0.5, 0.0), (0.0, 0.0, 0.0)]
    for point, foot in zip(points, nearest, strict=True):
        assert nearest_surface_point(np.array(point), triangle) == pytest.approx(foot, abs=1e-12)


def test_facet_components_join_through_facets_not_through_edges_or_vertices():
    cells = np.array([[0, 1, 2, 3], [1, 2, 3, 4], [4, 5, 6, 7], [3, 4, 8, 9], [10, 11, 12, 13]])
    # 0-1 share facet (1,2,3); 2 shares vertex 4 only; 3 shares edge (3,4) only; 4 is apart
    labels = facet_components(cells)
    assert labels[0] == labels[1]
    assert len(set(labels.tolist())) == 4
    assert facet_components(np.empty((0, 4), dtype=np.int64)).size == 0


def test_clusters_csv_and_totals(tmp_path):
    cluster = Cluster(1, 10, 12.5, 1.0, 2.0, 3.0, 0.9, "trabecular", 4.0, 2.5)
    path = tmp_path / "risk_clusters.csv"
    write_clusters_csv(path, {"0.5": [cluster], "1": []}, "R_crit", "peak_R")
    rows = list(csv.DictReader(path.open()))
    assert rows == [
        {"R_crit": "0.5", "label": "1", "cells": "10", "volume_mm3": "12.5", "centroid_x_mm": "1",
         "centroid_y_mm": "2", "centroid_z_mm": "3", "peak_R": "0.9", "region": "trabecular",
         "depth_mm": "4", "shallowest_depth_mm": "2.5"}
    ]
    assert zone_totals([cluster, cluster]) == {
        "clusters": 2, "volume_mm3": 25.0, "largest_volume_mm3": 12.5, "peak": 0.9, "shallowest_depth_mm": 2.5
    }
    assert zone_totals([])["clusters"] == 0
    assert read_clusters_csv(path, "R_crit", "peak_R") == {"0.5": [cluster]}


def test_pruned_distance_equals_brute_force_over_every_triangle():
    rng = np.random.default_rng(1)
    corners = rng.uniform(-1, 1, (200, 1, 3)) + rng.normal(0, 0.2, (200, 3, 3))
    points = rng.uniform(-2, 2, (300, 3))
    brute = _pair_distance(points[:, None], corners[None]).min(axis=1)
    assert np.array_equal(distance_to_triangles(points, corners), brute)
