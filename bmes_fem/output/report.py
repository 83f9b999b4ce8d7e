"""Tables, figures and summary entries of a case, written into its folder by ``write_report``.

Collective: the clusters are found on the distributed mesh (bmes_fem.post.clusters); files are written
and figures rendered on rank 0 only. The case folder then holds:

- ``articular_surface.vtp``: the articular boundary's triangles [m] (depths, figures);
- ``risk_clusters.csv``: clusters of trabecular cells with R >= R_crit, per ``risk.critical_indices``;
- ``pressure_clusters.csv``: clusters of cells whose mean p exceeds each ``risk.pressure_thresholds``;
- with ``output.figures``: ``figures/`` with `DEFAULT_VIEWS` (camera 'anterior'), the two plots and
  ``scene.html`` (interactive, offline: the vtk.js viewer page of trame-vtk with the scene inlined).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bmes_fem.config.case import Config
from bmes_fem.output.io import FIELDS_FILE
from bmes_fem.physics.boundary_conditions import ARTICULAR
from bmes_fem.post.clusters import Cluster, boundary_triangles_m, find_clusters, write_clusters_csv, zone_totals
from bmes_fem.post.fields import CellFields
from bmes_fem.solve.steady import SteadySolution
from bmes_fem.units import PA_PER_MMHG
from bmes_fem.view.plots import plot_pressure_depth, plot_risk_histogram
from bmes_fem.view.render import export_scene_html, figure_path, lesion_centre_m, render_views
from bmes_fem.view.results import SURFACE_FILE, CaseData, load_fields, surface_polydata

RISK_CLUSTERS_FILE = "risk_clusters.csv"
PRESSURE_CLUSTERS_FILE = "pressure_clusters.csv"
DEFAULT_VIEWS = ("cutaway", "isosurfaces", "clusters")
CUTAWAY_FIGURE = figure_path("cutaway", "anterior")
DEPTH_PLOT = Path("figures") / "pressure_depth.png"
HISTOGRAM_PLOT = Path("figures") / "risk_histogram.png"
SCENE_HTML = Path("figures") / "scene.html"


def write_report(folder: Path, config: Config, solution: SteadySolution, cells: CellFields) -> dict:
    """Write the tables and figures of a case into ``folder``; return entries for ``summary.json`` (collective)."""
    domain = solution.domain
    triangles_m = boundary_triangles_m(domain, ARTICULAR)
    risk_zones = {
        f"{critical:g}": _clusters(solution, cells, cells.trabecular & (cells.risk_index >= critical), cells.risk_index, triangles_m)
        for critical in config.risk.critical_indices
    }
    p_cell_mmHg = _cell_mean_pressure_mmHg(solution)
    pressure_zones = {
        f"{threshold / PA_PER_MMHG:g}": _clusters(solution, cells, p_cell_mmHg > threshold / PA_PER_MMHG, p_cell_mmHg, triangles_m)
        for threshold in config.risk.pressure_thresholds
    }
    entries = {
        "regions": dict(domain.regions),
        "clusters": {
            "risk": {f"R_ge_{key}": zone_totals(zones) for key, zones in risk_zones.items()},
            "pressure": {f"p_above_{key}_mmHg": zone_totals(zones) for key, zones in pressure_zones.items()},
        },
    }
    if domain.mesh.comm.rank == 0:
        write_clusters_csv(folder / RISK_CLUSTERS_FILE, risk_zones, "R_crit", "peak_R")
        write_clusters_csv(folder / PRESSURE_CLUSTERS_FILE, pressure_zones, "p_threshold_mmHg", "peak_p_mmHg")
        surface = surface_polydata(triangles_m)
        surface.save(folder / SURFACE_FILE)
        if config.output.figures:
            case = CaseData(folder, config, load_fields(folder / FIELDS_FILE), surface, dict(domain.regions))
            entries["figures"] = [str(path.relative_to(folder)) for path in write_figures(case)]
    return domain.mesh.comm.bcast(entries, root=0)


def write_figures(case: CaseData) -> list[Path]:
    """The default figures: `DEFAULT_VIEWS`, pressure against depth, R histogram, and the interactive HTML scene."""
    paths = render_views(case, DEFAULT_VIEWS)
    paths.append(plot_pressure_depth(case, case.folder / DEPTH_PLOT, lesion_centre_m(case)))
    paths.append(plot_risk_histogram(case, case.folder / HISTOGRAM_PLOT))
    paths.append(export_scene_html(case, case.folder / SCENE_HTML))
    return paths


def _clusters(solution: SteadySolution, cells: CellFields, in_zone, value, triangles_m) -> list[Cluster]:
    return find_clusters(solution.domain, in_zone, value, cells.volume_m3, cells.region, triangles_m)


def _cell_mean_pressure_mmHg(solution: SteadySolution) -> np.ndarray:
    """Mean of p over each owned cell [mmHg]: for P1 on a tetrahedron, the mean of its four vertex values."""
    space = solution.pressure.function_space
    n_owned = space.mesh.topology.index_map(space.mesh.topology.dim).size_local
    return solution.pressure.x.array[space.dofmap.list[:n_owned]].mean(axis=1) / PA_PER_MMHG
