"""Everything derived from a solved state, computed once in memory (collective) and handed to the outputs.

Per-cell strains and risk index, the summary scalars (pressures, volumes above thresholds, risk
zones, strain energy, contact resultant), and the connected zones (R >= R_crit, mean p above each
threshold) with their depth below the articular surface when the mesh has one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bmes_fem.config.case import Config
from bmes_fem.post.clusters import boundary_triangles_m, find_clusters
from bmes_fem.post.fields import CellFields, cell_fields, mechanics_summary, pressure_summary
from bmes_fem.post.zones import Cluster, zone_totals
from bmes_fem.solve.state import State
from bmes_fem.units import PA_PER_MMHG

DEPTH_SURFACE = "articular"  # depths of zones are measured below this boundary, when the mesh has it


@dataclass(frozen=True)
class StateAnalysis:
    """Derived data of one state: per-cell fields (owned cells), zones (same on every rank), summary entries."""

    state: State
    cells: CellFields
    risk_zones: dict[str, list[Cluster]]  # R_crit (as written, e.g. "0.5") -> clusters
    pressure_zones: dict[str, list[Cluster]]  # threshold in mmHg (e.g. "30") -> clusters
    surface_triangles_m: np.ndarray  # (m, 3, 3) triangles of DEPTH_SURFACE, empty if absent
    summary: dict


def cell_mean_pressure_mmHg(state: State) -> np.ndarray:
    """Mean of p over each owned cell [mmHg]: for P1 on a tetrahedron, the mean of its four vertex values."""
    space = state.pressure.function_space
    n_owned = space.mesh.topology.index_map(space.mesh.topology.dim).size_local
    return state.pressure.x.array[space.dofmap.list[:n_owned]].mean(axis=1) / PA_PER_MMHG


def analyse(state: State, config: Config) -> StateAnalysis:
    """Cell fields, summary entries and zones of ``state`` (collective)."""
    domain = state.domain
    cells = cell_fields(state, config)
    triangles_m = boundary_triangles_m(domain, DEPTH_SURFACE) if DEPTH_SURFACE in domain.boundaries else np.empty((0, 3, 3))

    def clusters(in_zone: np.ndarray, value: np.ndarray) -> list[Cluster]:
        return find_clusters(domain, in_zone, value, cells.volume_m3, cells.region, triangles_m)

    risk_zones = {
        f"{critical:g}": clusters(cells.trabecular & (cells.risk_index >= critical), cells.risk_index)
        for critical in config.risk.critical_indices
    }
    p_cell_mmHg = cell_mean_pressure_mmHg(state)
    pressure_zones = {
        f"{threshold / PA_PER_MMHG:g}": clusters(p_cell_mmHg > threshold / PA_PER_MMHG, p_cell_mmHg)
        for threshold in config.risk.pressure_thresholds
    }
    summary = {
        "pressure": pressure_summary(state, config),
        "mechanics": mechanics_summary(state, cells, config),
        "clusters": {
            "risk": {f"R_ge_{key}": zone_totals(zones) for key, zones in risk_zones.items()},
            "pressure": {f"p_above_{key}_mmHg": zone_totals(zones) for key, zones in pressure_zones.items()},
        },
    }
    return StateAnalysis(state, cells, risk_zones, pressure_zones, triangles_m, summary)
