"""The default figures of a case, drawn from a `CaseData` (in memory after a run, or read back from a
case folder by ``bmes render``): the cut-away, isosurface and risk-zone views (camera 'anterior'),
pressure against depth, the risk histogram, and ``scene.html`` (interactive, offline: the vtk.js
viewer page of trame-vtk with the scene inlined)."""

from __future__ import annotations

from pathlib import Path

from bmes_fem.output.files import FIGURES_DIR
from bmes_fem.view.plots import plot_pressure_depth, plot_risk_histogram
from bmes_fem.view.render import export_scene_html, figure_path, lesion_centre_m, render_views
from bmes_fem.view.results import CaseData

DEFAULT_VIEWS = ("cutaway", "isosurfaces", "clusters")
CUTAWAY_FIGURE = figure_path("cutaway", "anterior")
DEPTH_PLOT = FIGURES_DIR / "pressure_depth.png"
HISTOGRAM_PLOT = FIGURES_DIR / "risk_histogram.png"
SCENE_HTML = FIGURES_DIR / "scene.html"


def write_figures(case: CaseData) -> list[Path]:
    """The default figures into ``case.folder`` (rank 0 only); the depth plot needs an articular surface."""
    paths = render_views(case, DEFAULT_VIEWS)
    if case.surface is not None:
        paths.append(plot_pressure_depth(case, case.folder / DEPTH_PLOT, lesion_centre_m(case.config)))
    paths.append(plot_risk_histogram(case, case.folder / HISTOGRAM_PLOT))
    paths.append(export_scene_html(case, case.folder / SCENE_HTML))
    return paths
