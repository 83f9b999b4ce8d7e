"""Line plots and histograms of a case (matplotlib, Agg): pressure against depth, risk index by region,
probe pressures against time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from bmes_fem.errors import BmesError
from bmes_fem.post.zones import HEALTHY_CHI_BELOW, LESION_CHI_FROM, nearest_surface_point
from bmes_fem.units import PA_PER_MMHG
from bmes_fem.view.results import CaseData
from bmes_fem.view.variables import VARIABLES

_M_TO_MM = 1e3
_LINE_SAMPLES = 400
_LINE_DEPTH_FACTOR = 2.0  # the line runs to this multiple of the lesion centre's depth
_HISTOGRAM_BINS = 40


def depth_line(case: CaseData, point_m) -> tuple[np.ndarray, np.ndarray, float]:
    """Surface point S nearest to ``point_m``, unit direction from S through it, and its depth |point - S| [m]."""
    point = np.asarray(point_m, dtype=float)
    surface_point = nearest_surface_point(point, case.surface.points[case.surface.regular_faces])
    depth_m = float(np.linalg.norm(point - surface_point))
    if depth_m == 0.0:
        raise BmesError(f"case {case.folder}: point {tuple(point)} m lies on the articular surface; no depth line")
    return surface_point, (point - surface_point) / depth_m, depth_m


def pressure_depth_profile(case: CaseData, point_m) -> dict[str, np.ndarray | float]:
    """p [mmHg] and chi sampled along the line from the nearest articular point through ``point_m``.

    Returns depth_mm (distance from the surface point), p_mmHg, chi (NaN outside the mesh) and
    the depth of ``point_m`` itself (point_depth_mm).
    """
    start, direction, depth_m = depth_line(case, point_m)
    end = start + direction * _LINE_DEPTH_FACTOR * depth_m
    line = case.fields.sample_over_line(start, end, resolution=_LINE_SAMPLES)
    inside = line.point_data["vtkValidPointMask"].astype(bool)
    depth_mm = np.linalg.norm(line.points - start, axis=1) * _M_TO_MM
    profile = {"depth_mm": depth_mm, "point_depth_mm": depth_m * _M_TO_MM}
    for name in ("p_mmHg", "chi"):
        profile[name] = np.where(inside, line.point_data[name], np.nan)
    return profile


def plot_pressure_depth(case: CaseData, png_path: Path, point_m) -> Path:
    """Pressure [mmHg] against depth [mm] along the line from the articular surface through ``point_m``."""
    profile = pressure_depth_profile(case, point_m)
    var = VARIABLES["pressure"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=150, layout="constrained")
    depth, lesion = profile["depth_mm"], profile["chi"] >= LESION_CHI_FROM
    if lesion.any():
        ax.axvspan(depth[lesion].min(), depth[lesion].max(), color="0.9", label=f"lesion (chi >= {LESION_CHI_FROM:g})")
    ax.plot(depth, profile["p_mmHg"], color="C0", lw=2, label="p")
    for threshold in case.config.risk.pressure_thresholds:
        ax.axhline(threshold / PA_PER_MMHG, color="C3", ls=":", lw=1)
        ax.annotate(f"{threshold / PA_PER_MMHG:g} mmHg", (depth.max(), threshold / PA_PER_MMHG), ha="right", va="bottom",
                    color="C3", fontsize=8)
    ax.axvline(profile["point_depth_mm"], color="k", ls="--", lw=1, label="lesion centre")
    ax.set_xlabel("Depth below the articular surface [mm]")
    ax.set_ylabel(var.title)
    ax.set_title(f"{case.config.case}: pressure along the line through the lesion centre")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, png_path)


def risk_by_region(case: CaseData) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(R, cell volume [mm^3]) of the cells with a risk index, per region; trabecular split by lesion indicator.

    Groups: '<region>, lesion' (cell-mean chi >= 0.5), '<region>, transition', '<region>, healthy' (chi < 0.05).
    """
    grid = case.fields
    risk = np.asarray(grid.cell_data[VARIABLES["risk"].array])
    chi = np.asarray(grid.point_data_to_cell_data(pass_point_data=False).cell_data["chi"])
    volume_mm3 = grid.compute_cell_sizes(length=False, area=False)["Volume"] * _M_TO_MM**3
    groups = {}
    for name, tag in case.regions.items():
        in_region = (grid.cell_data["region"] == tag) & np.isfinite(risk)
        for part, mask in (
            ("lesion", chi >= LESION_CHI_FROM),
            ("transition", (chi >= HEALTHY_CHI_BELOW) & (chi < LESION_CHI_FROM)),
            ("healthy", chi < HEALTHY_CHI_BELOW),
        ):
            if (in_region & mask).any():
                groups[f"{name}, {part}"] = (risk[in_region & mask], volume_mm3[in_region & mask])
    return groups


def plot_risk_histogram(case: CaseData, png_path: Path) -> Path:
    """Volume [mm^3] of bone per risk-index bin, one stacked bar per region group; R_crit marked."""
    groups = risk_by_region(case)
    var = VARIABLES["risk"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=150, layout="constrained")
    if groups:
        upper = max(max(float(r.max()) for r, _ in groups.values()), *case.config.risk.critical_indices) * 1.05
        ax.hist([r for r, _ in groups.values()], bins=np.linspace(0.0, upper, _HISTOGRAM_BINS + 1),
                weights=[v for _, v in groups.values()], stacked=True, label=list(groups))
    for critical in case.config.risk.critical_indices:
        ax.axvline(critical, color="C3", ls="--", lw=1)
        ax.annotate(f"R_crit = {critical:g}", (critical, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                    ha="right", va="top", color="C3", fontsize=8)
    ax.set_xlabel(var.title)
    ax.set_ylabel("Bone volume [mm$^3$]")
    ax.set_title(f"{case.config.case}: risk index by region")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, png_path)


def plot_probe_pressure(
    png_path: Path, times_s, pressure_mmHg: dict[str, np.ndarray], load_fraction, title: str
) -> Path:
    """Pressure [mmHg] at each probe against time; the load fraction (if given) on a second axis."""
    fig, axis = plt.subplots(figsize=(8, 4.5), dpi=150, layout="constrained")
    for name, values in pressure_mmHg.items():
        axis.plot(times_s, values, label=name.replace("_", " "))
    axis.set_xlabel("time [s]")
    axis.set_ylabel(VARIABLES["pressure"].title)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    lines = axis.get_legend_handles_labels()[0]
    if load_fraction is not None:
        load_axis = axis.twinx()
        load_axis.plot(times_s, load_fraction, color="0.6", linestyle="--", linewidth=1, label="load / peak")
        load_axis.set_ylabel("joint force / peak [-]", color="0.4")
        load_axis.set_ylim(0.0, 1.6)
        lines += load_axis.get_legend_handles_labels()[0]
    axis.legend(lines, [line.get_label() for line in lines], loc="upper right", fontsize=8)
    Path(png_path).parent.mkdir(exist_ok=True)
    return _save(fig, png_path)


def _save(fig: plt.Figure, png_path: Path) -> Path:
    try:
        fig.savefig(png_path)
    finally:
        plt.close(fig)
    return Path(png_path)
