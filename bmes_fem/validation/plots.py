"""Figures of validation and calibration: the forest plot of measured intervals and model values, the corner plot
of the posterior, and the calibrated predictions with their credible bands (matplotlib, Agg)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

if TYPE_CHECKING:
    from bmes_fem.validation.calibration import Calibrated
    from bmes_fem.validation.validate import Comparison

INSIDE, OUTSIDE, MEASURED = "#1b7837", "#c51b7d", "#404040"
DPI = 150


def forest_plot(path: Path, comparisons: Sequence[Comparison]) -> Path:
    """A row per measurement: the measured interval (a bar; an arrow where it is open), the measured value (open
    circle) and the model value (filled diamond, green inside, magenta outside); a panel per unit."""
    units = list(dict.fromkeys(c.validation.unit for c in comparisons))
    counts = [sum(c.validation.unit == unit for c in comparisons) for unit in units]
    fig, axes = plt.subplots(len(units), 1, figsize=(9, 1.2 + 0.42 * sum(counts) + 0.6 * len(units)), height_ratios=counts, squeeze=False)
    for ax, unit in zip(axes[:, 0], units, strict=True):
        rows = [c for c in comparisons if c.validation.unit == unit]
        finite = [x for c in rows for x in (c.validation.low, c.validation.high, c.validation.value, c.model) if math.isfinite(x)]
        span = (min(finite), max(finite)) if finite else (0.0, 1.0)
        pad = 0.08 * (span[1] - span[0] or 1.0)
        left, right = span[0] - pad, span[1] + pad
        for y, c in enumerate(reversed(rows)):
            v = c.validation
            low = v.low if math.isfinite(v.low) else left
            high = v.high if math.isfinite(v.high) else right
            ax.plot([low, high], [y, y], color=MEASURED, lw=2.5, solid_capstyle="butt")
            for end, edge, marker in ((v.low, low, "<"), (v.high, high, ">")):
                if not math.isfinite(end):
                    ax.plot(edge, y, marker=marker, color=MEASURED, ms=7)
            if math.isfinite(v.value):
                ax.plot(v.value, y, "o", mfc="white", mec=MEASURED, ms=7, mew=1.5)
            if math.isfinite(c.model):
                ax.plot(c.model, y, "D", color=INSIDE if c.verdict == "inside" else OUTSIDE, ms=7)
        ax.set_yticks(range(len(rows)), [c.validation.name for c in reversed(rows)], fontsize=8)
        ax.set_xlim(left, right)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_xlabel({"-": "ratio (-)", "s": "time (s)"}.get(unit, unit))
        ax.grid(axis="x", alpha=0.3)
    handles = [
        Line2D([], [], color=MEASURED, lw=2.5, label="measured interval (arrow: open end)"),
        Line2D([], [], ls="", marker="o", mfc="white", mec=MEASURED, label="measured value"),
        Line2D([], [], ls="", marker="D", color=INSIDE, label="model, inside"),
        Line2D([], [], ls="", marker="D", color=OUTSIDE, label="model, outside"),
    ]
    fig.legend(handles=handles, loc="upper center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def corner_plot(path: Path, calibrated: Calibrated) -> Path:
    """The posterior samples (corner package) with the 2.5, 50 and 97.5 % quantiles and the best fit marked."""
    import corner

    problem = calibrated.problem
    labels = [p.short_label for p in problem.parameters]
    fig = corner.corner(
        calibrated.samples_shown, labels=labels, quantiles=[0.025, 0.5, 0.975], show_titles=True, title_fmt=".3g",
        truths=calibrated.best_shown, truth_color=OUTSIDE, range=[p.shown_bounds for p in problem.parameters], bins=30,
        title_kwargs={"fontsize": 9}, label_kwargs={"fontsize": 9},
    )  # fmt: skip
    fig.suptitle("posterior: 2.5, 50, 97.5 % quantiles (dashed); best fit (magenta)", fontsize=9, y=1.03)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def predictions_plot(path: Path, calibrated: Calibrated) -> Path:
    """Each calibrated output: the measured value +- 2 SD (grey), the design runs (dots), the posterior predictive
    median and 95 % band (bar), the surrogate at the best fit and the check run of the fitted config (diamond)."""
    outputs = calibrated.problem.outputs
    fig, axes = plt.subplots(1, len(outputs), figsize=(3.1 * len(outputs), 3.6), squeeze=False)
    for j, (ax, output) in enumerate(zip(axes[0], outputs, strict=True)):
        band = calibrated.predictive_bands[j]
        design = calibrated.design_outputs[:, j]
        ax.plot(np.full(design.shape, -0.25), design, ".", color="#999999", label="design runs")
        if output.measured:
            ax.errorbar(0.0, output.value, yerr=2 * output.sd, fmt="o", color=MEASURED, capsize=5, label="measured ± 2 SD")
        ax.errorbar(0.25, band[1], yerr=[[band[1] - band[0]], [band[2] - band[1]]], fmt="s", color=INSIDE, capsize=5, label="posterior 95 %")
        if calibrated.check is not None:
            ax.plot(0.5, calibrated.check[j], "D", color=OUTSIDE, label="fitted config, run")
        ax.set_xlim(-0.5, 0.75)
        ax.set_xticks([])
        ax.set_title(output.name, fontsize=8)
        ax.set_ylabel(output.unit)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
