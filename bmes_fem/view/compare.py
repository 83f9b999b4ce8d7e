"""Side-by-side comparison of two cases: A, B and the difference B - A on one coronal slice.

A and B share one colour scale (the variable's fixed limits, else the range over both). On the same
mesh (same points and cells) B's values are used as they are; otherwise B is interpolated onto A's
points (pyvista ``sample``, a probe filter) and points of A outside B's mesh are NaN (grey).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyvista as pv

from bmes_fem.view.render import (
    SLICE_PLANES,
    add_slice_panel,
    in_mm,
    lesion_centre_m,
    new_plotter,
    save_png,
    use_dejavu,
)
from bmes_fem.view.results import CaseData, load_case
from bmes_fem.view.variables import variable

DIFFERENCE_CMAP = "RdBu_r"
_WINDOW = (2400, 900)


def same_mesh(a: pv.UnstructuredGrid, b: pv.UnstructuredGrid) -> bool:
    """True if both grids have the same points (to 1e-12 of the size) and the same cells."""
    if (a.n_points, a.n_cells) != (b.n_points, b.n_cells):
        return False
    tolerance = 1e-12 * float(np.ptp(a.points, axis=0).max())
    return np.allclose(a.points, b.points, rtol=0.0, atol=tolerance) and np.array_equal(
        a.cell_connectivity, b.cell_connectivity
    )


def values_on(target: pv.UnstructuredGrid, source: pv.UnstructuredGrid, var_name: str) -> np.ndarray:
    """``var_name`` of ``source`` at the points or cells of ``target`` (display units; NaN outside ``source``)."""
    var = variable(var_name)
    if same_mesh(target, source):
        return var.values(source)
    association = "point" if var.array in source.point_data else "cell"
    probe = target if association == "point" else target.cell_centers()
    sampled = probe.sample(source)
    values = var.values(sampled)
    return np.where(sampled.point_data["vtkValidPointMask"].astype(bool), values, np.nan)


def compare_render(case_a: Path, case_b: Path, png_path: Path, variable_name: str = "pressure") -> Path:
    """PNG of A | B | B - A on the coronal slice through A's lesion centre (see module docstring)."""
    a, b = load_case(case_a), load_case(case_b)
    return save_png(comparison_scene(a, b, variable_name), png_path)


def comparison_scene(a: CaseData, b: CaseData, variable_name: str = "pressure") -> pv.Plotter:
    """The three-panel plotter of `compare_render` (not rendered; the caller closes it)."""
    var = variable(variable_name)
    grid = in_mm(a.fields)
    values_a, values_b = var.values(a.fields), values_on(a.fields, b.fields, variable_name)
    data = grid.point_data if var.array in a.fields.point_data else grid.cell_data
    data["A"], data["B"], data["difference"] = values_a, values_b, values_b - values_a
    clim = var.limits(values_a, values_b)
    largest = float(np.nanmax(np.abs(data["difference"]))) if np.isfinite(data["difference"]).any() else 0.0
    spread = largest if largest > 0 else 1.0
    origin = np.asarray(lesion_centre_m(a.config)) * 1e3
    plotter = new_plotter(_WINDOW, shape=(1, 3))
    panels = (
        ("A", f"A: {a.config.case}", var.cmap, clim, var.title),
        ("B", f"B: {b.config.case}", var.cmap, clim, None),
        ("difference", f"B - A (max abs(B - A) = {largest:.3g} {var.unit})", DIFFERENCE_CMAP, (-spread, spread),
         f"{var.label} B - A [{var.unit}]"),
    )
    for column, (array, title, cmap, limits, bar_title) in enumerate(panels):
        plotter.subplot(0, column)
        add_slice_panel(plotter, grid, array, cmap=cmap, clim=limits, origin_mm=origin, normal=SLICE_PLANES["coronal"],
                        title=title, bar_title=bar_title)
    plotter.link_views()
    use_dejavu(plotter)
    return plotter
