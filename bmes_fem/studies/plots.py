"""Study figures (matplotlib figures without pyplot state; every PNG written atomically).

Each quantity against each parameter, a tornado of one-at-a-time elasticities, Morris and Sobol'
index bars, a mesh series against h with its Richardson extrapolate, and the cases' pressure
cut-aways side by side on one colour scale (rendered from each case's fields.vtu).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bmes_fem.config.case import Config
from bmes_fem.output.files import FIELDS_FILE
from bmes_fem.studies.convergence import GridConvergence
from bmes_fem.studies.files import atomic_path
from bmes_fem.studies.sensitivity import Elasticity, magnitude
from bmes_fem.studies.study import Parameter
from bmes_fem.studies.table import Row, cell

DPI = 110
MAX_CUTAWAY_PANELS = 16  # larger studies get no cut-away figure
_CUTAWAY_WINDOW = (800, 600)
_CUTAWAY_COLUMNS = 4
_CORONAL = (0.0, 1.0, 0.0)


def _save(figure: Figure, path: Path) -> Path:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=DPI)
    return path


def quantity_vs_parameters(path: Path, quantity: str, j: int, parameters: Sequence[Parameter], rows: Sequence[Row]) -> Path:
    """A panel per numeric parameter: quantity ``j`` against it, one line per set of the other parameters' values."""
    numeric = [p for p in parameters if all(math.isfinite(magnitude(p, row.case.values[p.path])) for row in rows)]
    figure = Figure(figsize=(3.4 * max(len(numeric), 1), 3.0), layout="constrained")
    for ax, parameter in zip(figure.subplots(1, max(len(numeric), 1), squeeze=False)[0], numeric, strict=False):
        lines: dict[tuple[str, ...], list[tuple[float, float]]] = {}
        for row in rows:
            others = tuple(cell(row.case.values[p.path], None) for p in parameters if p is not parameter)
            lines.setdefault(others, []).append((magnitude(parameter, row.case.values[parameter.path]), row.quantities[j]))
        for points in lines.values():
            if len(points) > 1:
                ax.plot(*zip(*sorted(points), strict=True), "o-", markersize=4)
        vector = isinstance(rows[0].case.values[parameter.path], tuple)
        ax.set_xlabel(parameter.column.replace(parameter.path, f"|{parameter.path}|") if vector else parameter.column, fontsize=8)
        ax.set_ylabel(quantity, fontsize=8)
        ax.tick_params(labelsize=7)
    return _save(figure, path)


def tornado(path: Path, quantity: str, elasticities: Sequence[Elasticity]) -> Path:
    """Central elasticities as bars (largest on top), the one-sided ones as markers."""
    ordered = sorted(elasticities, key=lambda e: abs(e.central) if math.isfinite(e.central) else -1.0)
    y = np.arange(len(ordered))
    figure = Figure(figsize=(7.0, 1.0 + 0.45 * len(ordered)), layout="constrained")
    ax = figure.subplots()
    ax.barh(y, [e.central for e in ordered], color=["tab:red" if e.central > 0 else "tab:blue" for e in ordered], alpha=0.7,
            label="central, X low to X high (red > 0, blue < 0)")
    ax.plot([e.low for e in ordered], y, "<", color="black", label="low side")
    ax.plot([e.high for e in ordered], y, ">", color="grey", label="high side")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels=[e.parameter.path for e in ordered], fontsize=8)
    ax.set_xlabel("elasticity (dQ/Q) / (dX/X)")
    ax.set_title(quantity, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return _save(figure, path)


def index_bars(path: Path, title: str, parameters: Sequence[Parameter], bars: dict[str, tuple[np.ndarray, np.ndarray | None]], ylabel: str) -> Path:
    """Grouped bars per parameter, one series per entry of ``bars`` (values, 95 % half-widths or None)."""
    x = np.arange(len(parameters))
    width = 0.8 / len(bars)
    figure = Figure(figsize=(1.2 + 0.9 * len(parameters), 3.6), layout="constrained")
    ax = figure.subplots()
    for i, (label, (values, errors)) in enumerate(bars.items()):
        ax.bar(x + (i - (len(bars) - 1) / 2) * width, values, width, yerr=errors, capsize=3, label=label)
    ax.set_xticks(x, labels=[p.path for p in parameters], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(figure, path)


def convergence(path: Path, quantity: str, h_mm: Sequence[float], values: Sequence[float], result: GridConvergence) -> Path:
    """The quantity against h, with f* + C h^p through the finest level and the Richardson extrapolate f* at h = 0."""
    figure = Figure(figsize=(4.5, 3.4), layout="constrained")
    ax = figure.subplots()
    ax.plot(h_mm, values, "o", label="mesh levels")
    if math.isfinite(result.extrapolated):
        h = np.linspace(0.0, max(h_mm), 50)
        slope = (result.values[0] - result.extrapolated) / result.h[0] ** result.order
        ax.plot(h, result.extrapolated + slope * h**result.order, "--", label=f"f* + C h^p, p = {result.order:.2f}")
        ax.plot([0.0], [result.extrapolated], "*", markersize=10, label=f"Richardson f* = {result.extrapolated:.5g}")
    ax.set_xlim(left=0.0)
    ax.set_xlabel("element size h [mm]")
    ax.set_ylabel(quantity, fontsize=8)
    ax.set_title(f"GCI fine = {100 * result.gci_fine:.3g} % ({result.behaviour})", fontsize=9)
    ax.legend(fontsize=7)
    return _save(figure, path)


def pressure_cutaways(path: Path, labels: Sequence[str], case_dirs: Sequence[Path], configs: Sequence[Config]) -> Path:
    """Coronal pressure cut-aways of the cases side by side, on the colour limits of all of them."""
    from bmes_fem.view.render import cutaway_scene, lesion_centre_m
    from bmes_fem.view.results import load_fields
    from bmes_fem.view.variables import VARIABLES

    pressure = VARIABLES["pressure"]
    fields = [load_fields(folder / FIELDS_FILE) for folder in case_dirs]
    limits = pressure.limits(*(pressure.values(grid) for grid in fields))
    columns = min(_CUTAWAY_COLUMNS, len(fields))
    rows = math.ceil(len(fields) / columns)
    figure = Figure(figsize=(4.0 * columns, 3.1 * rows + 0.4), layout="constrained")
    for i, (label, grid, config) in enumerate(zip(labels, fields, configs, strict=True)):
        plotter = cutaway_scene(grid, pressure, lesion_centre_m(config), _CORONAL, limits, _CUTAWAY_WINDOW, label)
        try:
            image = plotter.screenshot(return_img=True)
        finally:
            plotter.close()
        ax = figure.add_subplot(rows, columns, i + 1)
        ax.imshow(image)
        ax.set_axis_off()
    figure.suptitle(f"{pressure.title}: coronal cut-aways, one colour scale ({limits[0]:.4g} to {limits[1]:.4g})", fontsize=10)
    return _save(figure, path)
