"""Shared fixtures: small tagged domains built without gmsh, and a coarse case config."""

from __future__ import annotations

import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

# isort: split
import numpy as np
import pytest
from dolfinx import mesh as dmesh
from mpi4py import MPI

from bmes_fem.mesh.domain import Domain


def box_domain(n: int = 4, length_m: float = 0.02, comm: MPI.Comm = MPI.COMM_WORLD) -> Domain:
    """A cube [0, L]^3 of tetrahedra, every cell in region 'trabecular', every boundary facet 'surface'."""
    mesh = dmesh.create_box(comm, [[0.0, 0.0, 0.0], [length_m] * 3], [n, n, n], dmesh.CellType.tetrahedron)
    tdim = mesh.topology.dim
    n_cells = mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts
    cells = np.arange(n_cells, dtype=np.int32)
    cell_tags = dmesh.meshtags(mesh, tdim, cells, np.ones_like(cells))
    mesh.topology.create_connectivity(tdim - 1, tdim)
    facets = dmesh.exterior_facet_indices(mesh.topology)
    facet_tags = dmesh.meshtags(mesh, tdim - 1, facets, np.ones_like(facets))
    return Domain(mesh, cell_tags, facet_tags, {"trabecular": 1}, {"surface": 1}, "test box")


@pytest.fixture
def box() -> Domain:
    return box_domain()
