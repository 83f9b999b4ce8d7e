"""Figures of validation and calibration, drawn from plain data (numbers, arrays, labels; matplotlib, Agg): the
forest plot of measured intervals and model values, the corner plot of a posterior (a 1D marginal for one
parameter), and the calibrated outputs with their credible bands."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

from bmes_fem.validation.posterior import QUANTILES

INSIDE, OUTSIDE, MEASURED, GREY = "#1b7837", "#c51b7d", "#404040", "#999999"
DPI = 150
BINS = 30
MARGINAL_SIZE_IN = (4.5, 3.4)  # the figure of a one-parameter posterior


class ForestRow(NamedTuple):
    """A measurement of the forest plot: its interval [low, high] (NaN: an open end), the measured value (NaN: none
    reported), the model value (NaN: the run failed) and whether the model lies inside the interval; optionally the
    model's 95 % interval [model_low, model_high] (a held-out prediction's) and a fitted value ``fit``."""

    name: str
    unit: str
    low: float
    high: float
    value: float
    model: float
    inside: bool
    model_low: float = math.nan
    model_high: float = math.nan
    fit: float = math.nan


def forest_plot(path: Path, measurements: Sequence[ForestRow], model_label: str = "model") -> Path:
    """A row per measurement: the measured interval (a bar; an arrow where it is open), the measured value (open
    circle), the model value (filled diamond, green inside, magenta outside; ``model_label`` in the legend) with its
    95 % interval (a thin line, where given) and the fitted value (grey cross, where given); a panel per unit."""
    units = list(dict.fromkeys(m.unit for m in measurements))
    counts = [sum(m.unit == unit for m in measurements) for unit in units]
    fig, axes = plt.subplots(len(units), 1, figsize=(9, 1.2 + 0.42 * sum(counts) + 0.6 * len(units)), height_ratios=counts, squeeze=False)
    for ax, unit in zip(axes[:, 0], units, strict=True):
        rows = [m for m in measurements if m.unit == unit]
        finite = [x for v in rows for x in (v.low, v.high, v.value, v.model, v.model_low, v.model_high, v.fit) if math.isfinite(x)]
        span = (min(finite), max(finite)) if finite else (0.0, 1.0)
        pad = 0.08 * (span[1] - span[0] or 1.0)
        left, right = span[0] - pad, span[1] + pad
        for y, v in enumerate(reversed(rows)):
            low = v.low if math.isfinite(v.low) else left
            high = v.high if math.isfinite(v.high) else right
            ax.plot([low, high], [y, y], color=MEASURED, lw=2.5, solid_capstyle="butt")
            for end, edge, marker in ((v.low, low, "<"), (v.high, high, ">")):
                if not math.isfinite(end):
                    ax.plot(edge, y, marker=marker, color=MEASURED, ms=7)
            if math.isfinite(v.value):
                ax.plot(v.value, y, "o", mfc="white", mec=MEASURED, ms=7, mew=1.5)
            colour = INSIDE if v.inside else OUTSIDE
            if math.isfinite(v.model_low) and math.isfinite(v.model_high):
                ax.plot([v.model_low, v.model_high], [y - 0.22, y - 0.22], color=colour, lw=1.2)
            if math.isfinite(v.fit):
                ax.plot(v.fit, y + 0.22, "x", color=GREY, ms=6, mew=1.5)
            if math.isfinite(v.model):
                ax.plot(v.model, y, "D", color=colour, ms=7)
        ax.set_yticks(range(len(rows)), [v.name for v in reversed(rows)], fontsize=8)
        ax.set_xlim(left, right)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_xlabel({"-": "ratio (-)", "s": "time (s)"}.get(unit, unit))
        ax.grid(axis="x", alpha=0.3)
    handles = [
        Line2D([], [], color=MEASURED, lw=2.5, label="measured interval (arrow: open end)"),
        Line2D([], [], ls="", marker="o", mfc="white", mec=MEASURED, label="measured value"),
        Line2D([], [], ls="", marker="D", color=INSIDE, label=f"{model_label}, inside"),
        Line2D([], [], ls="", marker="D", color=OUTSIDE, label=f"{model_label}, outside"),
    ]
    if any(math.isfinite(m.model_low) for m in measurements):
        handles.append(Line2D([], [], color=GREY, lw=1.2, label="95 % predictive interval"))
    if any(math.isfinite(m.fit) for m in measurements):
        handles.append(Line2D([], [], ls="", marker="x", color=GREY, mew=1.5, label="all-data fit (not a validation)"))
    fig.legend(handles=handles, loc="upper center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 * math.ceil(len(handles) / 4) / fig.get_figheight()))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def corner_plot(path: Path, samples: np.ndarray, labels: Sequence[str], bounds: Sequence[tuple[float, float]], best: Sequence[float]) -> Path:
    """The posterior ``samples`` (rows: samples; columns: the k parameters) between their prior ``bounds``, with the
    2.5, 50 and 97.5 % quantiles and the ``best`` fit marked: the corner package for k >= 2, `marginal_plot` for k = 1."""
    samples = np.asarray(samples, dtype=float).reshape(len(samples), -1)
    if samples.shape[1] == 1:
        return marginal_plot(path, samples[:, 0], labels[0], bounds[0], best[0])
    import corner

    fig = corner.corner(
        samples, labels=list(labels), quantiles=[q / 100.0 for q in QUANTILES], show_titles=True, title_fmt=".3g",
        truths=list(best), truth_color=OUTSIDE, range=list(bounds), bins=BINS,
        title_kwargs={"fontsize": 9}, label_kwargs={"fontsize": 9},
    )  # fmt: skip
    fig.suptitle("posterior: 2.5, 50, 97.5 % quantiles (dashed); best fit (magenta)", fontsize=9, y=1.03)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def marginal_plot(path: Path, samples: np.ndarray, label: str, bounds: tuple[float, float], best: float) -> Path:
    """The posterior of one parameter (`draw_marginal`) as a figure of its own."""
    fig, ax = plt.subplots(figsize=MARGINAL_SIZE_IN)
    draw_marginal(ax, samples, label, bounds, best)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def draw_marginal(ax: plt.Axes, samples: np.ndarray, label: str, bounds: tuple[float, float], best: float) -> None:
    """The posterior of one parameter on ``ax``: a density histogram of ``samples`` over the prior ``bounds`` (grey
    lines; the uniform prior density 1 / (high - low) dotted), the 95 % credible interval (2.5 to 97.5 % quantiles,
    shaded) with its median (dashed), and the ``best`` fit (magenta)."""
    low, high = bounds
    lower, median, upper = np.percentile(samples, QUANTILES)
    ax.hist(samples, bins=BINS, range=(low, high), density=True, histtype="stepfilled", color=MEASURED, alpha=0.55, label="posterior")
    ax.axvspan(lower, upper, color=INSIDE, alpha=0.15, lw=0, label="95 % credible interval")
    ax.axvline(median, color=INSIDE, ls="--", lw=1.2, label="posterior median")
    ax.axvline(best, color=OUTSIDE, lw=1.5, label="best fit")
    ax.hlines(1.0 / (high - low), low, high, colors=GREY, linestyles=":", lw=1.2, label="prior (uniform)")
    for end, legend in ((low, "prior bounds"), (high, "_nolegend_")):
        ax.axvline(end, color=GREY, lw=1.5, label=legend)
    pad = 0.04 * (high - low)
    ax.set_xlim(low - pad, high + pad)
    ax.set_xlabel(label, fontsize=9)
    ax.set_ylabel("posterior density", fontsize=9)
    ax.set_title(f"{median:.3g} [{lower:.3g}, {upper:.3g}] (median [95 %])", fontsize=9)
    ax.legend(fontsize=7, loc="best")


def predictions_plot(
    path: Path, names: Sequence[str], units: Sequence[str], design_outputs: np.ndarray, bands: np.ndarray,
    measured: np.ndarray, check: np.ndarray | None = None,
) -> Path:  # fmt: skip
    """A panel per output j: the design runs ``design_outputs[:, j]`` (dots), the measured value +- 2 SD
    (``measured[j]`` = (value, sd); NaN for a prediction), the posterior predictive median and 95 % band
    (``bands[j]`` = 2.5, 50, 97.5 %) and the run of the fitted config ``check[j]`` (diamond)."""
    fig, axes = plt.subplots(1, len(names), figsize=(3.1 * len(names), 3.6), squeeze=False)
    for j, (ax, name, unit) in enumerate(zip(axes[0], names, units, strict=True)):
        band = bands[j]
        design = design_outputs[:, j]
        ax.plot(np.full(design.shape, -0.25), design, ".", color=GREY, label="design runs")
        value, sd = measured[j]
        if math.isfinite(value):
            ax.errorbar(0.0, value, yerr=2 * sd, fmt="o", color=MEASURED, capsize=5, label="measured ± 2 SD")
        ax.errorbar(0.25, band[1], yerr=[[band[1] - band[0]], [band[2] - band[1]]], fmt="s", color=INSIDE, capsize=5, label="posterior 95 %")
        if check is not None:
            ax.plot(0.5, check[j], "D", color=OUTSIDE, label="fitted config, run")
        ax.set_xlim(-0.5, 0.75)
        ax.set_xticks([])
        ax.set_title(name, fontsize=8)
        ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
