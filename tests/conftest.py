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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort: a module's tests keep their order). ``make test`` hands whole modules to
    its workers (``--dist loadfile``: a module fixture is built once), so the modules holding slow tests start
    first and the workers finish together (longest first)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


#: k / mu = 1e-12 m^2/(Pa s): an 8 mm exchange length (the defaults' interstitial 6.4e-15 gives 0.8 mm), so that a
#: drainage pressure or a lesion's size shows at a needle millimetres inside and a fit can identify it
EXCHANGE_LENGTH_8_MM = {"tissue": {"fluid_viscosity": "1 mPa*s", "trabecular": {"permeability": "1e-15 m^2"}}}
#: an octant of a ball drained through its surface, no lesion, steady: a run takes seconds (calibration tests)
DRAINED_BALL = {
    "case": "sphere",
    "geometry": {"kind": "sphere_octant", "radius": "24 mm"},
    "mesh": {"size": "8 mm"},
    "lesions": [],
    "boundary_conditions": [{"boundary": ["x_symmetry", "y_symmetry", "z_symmetry"], "kind": "roller"},
                            {"boundary": "surface", "kind": "robin", "conductance": "1e-9 m/(Pa*s)", "pressure": "15 mmHg"}],
    "solver": {"preset": "direct"},
    **EXCHANGE_LENGTH_8_MM,
}  # fmt: skip
