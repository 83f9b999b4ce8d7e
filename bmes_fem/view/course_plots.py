"""Figures of a disease course (matplotlib, pyvista; no solver stack): time series against weeks with every
therapy scenario beside the control, and the pressure cut-away over the course as an animation.

Time series: one panel per quantity, one line per scenario (the control thick black, therapies dashed), the
phases shaded and named, the healthy value dashed with its tolerance band where one applies, and a marker
where a scenario is back to healthy for good (bmes_fem.output.course).

Scenario figure: one bar chart per column of the scenario table (weeks of pain, peak damage, first microfracture,
back to load, ...), a week that never comes marked "none" at the foot of its bar.

Animation: for every sample time, the cut-away of every scenario (bone clipped through the lesion centre,
face-on, bmes_fem.view.render.cutaway_scene) of each shown field (pressure; fatigue damage with a damage model),
each field on one fixed scale, tiled into one frame (a block of scenarios per field, one above the other); each
frame is rendered once and streamed into a GIF and, when imageio-ffmpeg can encode it, an MP4.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import imageio.v2 as imageio
import matplotlib.pyplot as plt
import numpy as np
import pyvista as pv

from bmes_fem.view.render import cutaway_scene
from bmes_fem.view.variables import Variable

CONTROL_COLOUR = "black"
_PANEL_PX = (640, 480)  # one scenario's cut-away; tiles of 16 px multiples keep MP4 encoders happy
_FRAME_S = 0.4  # animation: seconds per sample time
#: fatigue damage D per cell of the course (bmes_fem.output.course), on the scale 0 to the microfracture damage
DAMAGE_VARIABLE = Variable("damage", "Fatigue damage D", "damage", "-", "magma")


@dataclass(frozen=True)
class CourseSeries:
    """A course's time series for plotting: per scenario, per sample, in display units."""

    weeks: np.ndarray  # (samples,)
    phases: tuple[tuple[str, float, float], ...]  # (name, start week, end week)
    scenarios: tuple[str, ...]
    values: Mapping[str, np.ndarray]  # column -> (scenarios, samples)


@dataclass(frozen=True)
class Panel:
    """One axis: ``column`` of `CourseSeries.values` against weeks."""

    column: str
    label: str  # y-axis label with its unit
    healthy: float | None = None  # dashed line
    tolerance: float | None = None  # band healthy +- tolerance
    back_to_healthy_weeks: Mapping[str, float | None] = field(default_factory=dict)  # scenario -> week of the marker
    levels: tuple[float, ...] = ()  # dotted reference lines (thresholds)
    unreached: str = ""  # written across the panel when every scenario stays at 0 (why the threshold is not crossed)


_DASHES = ("--", "-.", ":", (0, (5, 1, 1, 1)))  # therapies: scenarios that coincide stay visible over the control


def _styles(scenarios: Sequence[str]) -> dict[str, dict]:
    """Line style per scenario: the first (the control) thick solid black, the others coloured and dashed."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = {scenarios[0]: {"color": CONTROL_COLOUR, "lw": 3.0, "ls": "-"}}
    for index, name in enumerate(scenarios[1:]):
        styles[name] = {"color": colours[index % len(colours)], "lw": 1.8, "ls": _DASHES[index % len(_DASHES)]}
    return styles


def plot_course(png_path: Path, series: CourseSeries, panels: Sequence[Panel], title: str) -> Path:
    """The ``panels`` in a grid of two columns, one line per scenario (the first, the control, in black)."""
    rows = math.ceil(len(panels) / 2)
    fig, axes = plt.subplots(rows, 2 if len(panels) > 1 else 1, figsize=(12, 3.6 * rows), dpi=130, layout="constrained", squeeze=False)
    styles = _styles(series.scenarios)
    span = series.weeks[-1] - series.weeks[0]
    for axis, panel in zip(axes.flat, panels, strict=False):
        for index, (name, start, end) in enumerate(series.phases):
            axis.axvspan(start, end, color="0.93" if index % 2 else "white", lw=0)
            narrow = end - start < 0.08 * span  # a short phase is named vertically
            axis.annotate(name, ((start + end) / 2, 0.98), xycoords=("data", "axes fraction"), ha="center", va="top",
                          rotation=90 if narrow else 0, fontsize=7, color="0.45")
        if panel.healthy is not None:
            axis.axhline(panel.healthy, color="0.4", ls="--", lw=1, label="healthy")
            if panel.tolerance:  # a band of volumes: not below 0
                axis.axhspan(max(panel.healthy - panel.tolerance, 0.0), panel.healthy + panel.tolerance, color="C2", alpha=0.12, lw=0)
        for level in panel.levels:
            axis.axhline(level, color="C3", ls=":", lw=1)
        for index, name in enumerate(series.scenarios):
            values = series.values[panel.column][index]
            axis.plot(series.weeks, values, label=name.replace("_", " "), **styles[name])
            week = panel.back_to_healthy_weeks.get(name)
            if week is not None and week > series.weeks[0]:  # at the first sample: never left the healthy band
                axis.plot([week], [np.interp(week, series.weeks, values)], marker="v", ms=9, color=styles[name]["color"], ls="none")
        if panel.unreached and not np.any(series.values[panel.column] > 0.0):
            _say(axis, panel.unreached)
        axis.set_xlabel("time [weeks]")
        axis.set_ylabel(panel.label)
        axis.grid(alpha=0.3)
        axis.set_xlim(series.weeks[0], series.weeks[-1])
    axes.flat[0].legend(fontsize=8, loc="best")
    return _finish(fig, axes, len(panels), title, png_path)


def _finish(fig, axes, used: int, title: str, png_path: Path) -> Path:
    """Hide the axes past the first ``used``, title the figure, write it to ``png_path`` and close it."""
    for axis in axes.flat[used:]:
        axis.set_visible(False)
    fig.suptitle(title)
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(png_path)
    finally:
        plt.close(fig)
    return png_path


def cutaway_frames(
    grid: pv.UnstructuredGrid, rows: Sequence[tuple[Variable, np.ndarray, tuple[float, float]]], scenarios: Sequence[str],
    captions: Sequence[str], centre_m: Sequence[float],
) -> Iterator[np.ndarray]:  # fmt: skip
    """One RGB image per sample time, rendered when asked for: for each (variable, values (scenarios, samples, n) on
    ``grid``'s points or cells, colour limits) of ``rows``, the cut-away of each scenario in a near-square block; the
    blocks one above the other."""
    columns = math.ceil(math.sqrt(len(scenarios)))
    block_rows = math.ceil(len(scenarios) / columns)
    width, height = _PANEL_PX
    mesh = grid.copy()
    for sample, caption in enumerate(captions):
        frame = np.full((len(rows) * block_rows * height, columns * width, 3), 255, dtype=np.uint8)
        for block, (variable, values, clim) in enumerate(rows):
            for index, name in enumerate(scenarios):
                data = mesh.point_data if values.shape[-1] == mesh.n_points else mesh.cell_data
                data[variable.array] = values[index, sample]
                plotter = cutaway_scene(mesh, variable, centre_m, (0.0, 1.0, 0.0), clim, _PANEL_PX, f"{name.replace('_', ' ')}: {caption}")
                try:
                    image = plotter.screenshot(return_img=True)[:, :, :3]
                finally:
                    plotter.close()
                row, column = divmod(index, columns)
                top = (block * block_rows + row) * height
                frame[top : top + height, column * width : (column + 1) * width] = image
        yield frame


def _say(axis, text: str) -> None:
    """``text`` across the middle of an axis whose data are all zero, so that no panel is empty without a reason."""
    axis.text(0.5, 0.5, text, transform=axis.transAxes, ha="center", va="center", fontsize=9, wrap=True,
              bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6"})  # fmt: skip


def plot_scenarios(png_path: Path, header: Sequence[str], rows: Sequence[Sequence], title: str) -> Path:
    """A bar chart per numeric column of the scenario table (``header``, ``rows``: scenario first), one bar per
    scenario; a missing value (a week that never comes) is marked "none"."""
    columns = [index for index in range(1, len(header)) if any(isinstance(row[index], int | float) for row in rows)]
    grid_rows = math.ceil(len(columns) / 3)
    fig, axes = plt.subplots(grid_rows, min(3, len(columns)), figsize=(14, 3.4 * grid_rows), dpi=130, layout="constrained", squeeze=False)
    names = [str(row[0]).replace("_", " ") for row in rows]
    styles = _styles([str(row[0]) for row in rows])
    for axis, column in zip(axes.flat, columns, strict=False):
        values = [row[column] for row in rows]
        heights = [0.0 if value is None else float(value) for value in values]
        colours = [styles[str(row[0])]["color"] for row in rows]
        axis.bar(range(len(rows)), heights, color=colours)
        for position, value in enumerate(values):
            if value is None:
                axis.annotate("none", (position, 0.0), ha="center", va="bottom", fontsize=8, rotation=90)
        if not any(heights) and None not in values:
            _say(axis, "0 in every scenario")
        axis.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=8)
        axis.set_title(header[column].replace("_", " "), fontsize=9)
        axis.grid(alpha=0.3, axis="y")
    return _finish(fig, axes, len(columns), title, png_path)


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def _writer(path: Path):
    """An imageio writer of ``path``'s hidden partial file: GIF (pillow) or MP4 (imageio-ffmpeg, H.264) by suffix."""
    if path.suffix == ".gif":
        return imageio.get_writer(_partial(path), mode="I", duration=_FRAME_S * 1000.0, loop=0)
    return imageio.get_writer(_partial(path), fps=1.0 / _FRAME_S, codec="libx264", macro_block_size=16, ffmpeg_log_level="error")


def write_animations(frames: Iterable[np.ndarray], paths: Sequence[Path]) -> tuple[list[Path], dict[str, str]]:
    """Stream ``frames`` into an animation per path (GIF or MP4 by suffix), `_FRAME_S` per frame, each frame
    rendered once. Each file is written under a hidden name and renamed when complete; a writer that fails
    (no encoder) is dropped with its partial file. Returns (written paths, {path: reason} of the dropped)."""
    writers, failed = {}, {}
    try:
        for path in map(Path, paths):
            try:
                writers[path] = _writer(path)
            except (ImportError, OSError, RuntimeError, ValueError) as exc:
                failed[str(path)] = str(exc)
        for frame in frames:
            for path, writer in list(writers.items()):
                try:
                    writer.append_data(frame)
                except (OSError, RuntimeError, ValueError) as exc:
                    failed[str(path)] = str(exc)
                    writers.pop(path).close()
        written = []
        for path, writer in writers.items():
            writer.close()
            os.replace(_partial(path), path)
            written.append(path)
        return written, failed
    finally:
        for path in map(Path, paths):
            _partial(path).unlink(missing_ok=True)
