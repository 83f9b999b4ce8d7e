"""Clusters of zone cells on the distributed mesh, and the triangles of a named boundary (collective).

Under MPI the zone cells are gathered to rank 0 with their partition-independent input vertex ids
(``mesh.geometry.input_global_indices``, as ``fields.vtu`` is written) and labelled there
(bmes_fem.post.zones), so the clusters do not depend on the partition and no ghost exchange is needed;
the result is broadcast to every rank.
"""

from __future__ import annotations

import dolfinx
import numpy as np

from bmes_fem.mesh.domain import Domain
from bmes_fem.post.zones import Cluster, describe_clusters, facet_components


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
        clusters = describe_clusters(facet_components(vertices), centres, volumes, values, regions, names, surface_triangles_m)
    return mesh.comm.bcast(clusters, root=0)
