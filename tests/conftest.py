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


def _shared_fixtures(item: pytest.Item) -> list[str]:
    """The project's module- or session-scoped fixtures a test uses (their set-up is paid once per xdist worker;
    pytest's own, such as tmp_path_factory, cost nothing)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    return sorted(
        name for name in info.names_closure
        if (definitions := info.name2fixturedefs.get(name)) and definitions[-1].scope in ("module", "session")
        and not definitions[-1].func.__module__.startswith("_pytest")
    )  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """For ``pytest -n N --dist loadgroup`` (make test): tests that share a module- or session-scoped fixture run
    on one worker (the fixture is built once, not once per worker), and slow tests are handed out first, so the
    workers finish together (longest first)."""
    for item in items:
        shared = _shared_fixtures(item)
        if shared:
            item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}:{'+'.join(shared)}"))
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
