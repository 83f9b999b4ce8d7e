"""The radiologist's view of a result: coronal and axial slices through the lesion, on the input image grid.

Each panel shows the input image in grey (the CT, else the label image), the predicted excess fluid content
over it (a colormap, alpha-blended, shown where it is above zero), the contour of the input lesion mask
and the contour of the risk zone. Slices are taken across the voxel axis closest to the world y (coronal)
or z (axial) axis, through the centre of mass of the lesion mask; panels follow the radiological
convention: the patient's right (+x in RAS+) on the viewer's left, anterior (axial) or superior (coronal) up.
An oblique affine is drawn along its nearest world axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PERCENT = 100.0
OVERLAY_ALPHA = 0.6
GREY_PERCENTILES = (1.0, 99.8)
WORLD_AXES = "xyz"
PLANES = {"coronal": (1, 0, 2), "axial": (2, 0, 1)}  # world axis across the slice, horizontal, vertical
ORIENTATION = {0: ("L", "R"), 1: ("P", "A"), 2: ("I", "S")}  # letters at the low / high end of each world axis


@dataclass(frozen=True)
class SliceImages:
    """Images on one grid (affine voxel -> RAS+ mm) for the figure; masks are boolean."""

    affine: np.ndarray
    background: np.ndarray
    background_name: str
    excess_fluid: np.ndarray  # volume fraction
    inside: np.ndarray
    lesion_mask: np.ndarray
    risk_zone: np.ndarray
    risk_label: str


def _voxel_axis(affine: np.ndarray, world_axis: int) -> int:
    """The voxel axis whose direction is closest to the world axis."""
    return int(np.argmax(np.abs(affine[world_axis, :3]) / np.linalg.norm(affine[:3, :3], axis=0)))


def slice_centre(images: SliceImages) -> np.ndarray:
    """Voxel indices of the lesion mask's centre of mass (of the mesh's voxels without a mask)."""
    weights = images.lesion_mask if images.lesion_mask.any() else images.inside
    return np.rint(np.argwhere(weights).mean(axis=0)).astype(int)


def _cut_through(volume: np.ndarray, affine: np.ndarray, plane: str, centre: np.ndarray) -> np.ndarray:
    """The slice of ``plane`` through voxel ``centre``, indexed [horizontal, vertical]."""
    axes = [_voxel_axis(affine, w) for w in PLANES[plane]]
    return np.transpose(np.take(volume, centre[axes[0]], axis=axes[0]), [a - (a > axes[0]) for a in axes[1:]])


def _panel(ax, images: SliceImages, plane: str, centre: np.ndarray, overlay_max: float):
    import matplotlib.pyplot as plt

    across, horizontal, vertical = PLANES[plane]
    affine = images.affine
    axes = [_voxel_axis(affine, w) for w in (across, horizontal, vertical)]

    def cut(volume: np.ndarray) -> np.ndarray:
        return _cut_through(volume, affine, plane, centre)

    def world(axis_index: int, world_axis: int, index: np.ndarray) -> np.ndarray:
        at = np.repeat(centre[:, None].astype(float), len(index), axis=1)
        at[axis_index] = index
        return (affine[:3, :3] @ at + affine[:3, 3:])[world_axis]

    size_h, size_v = images.background.shape[axes[1]], images.background.shape[axes[2]]
    h_edges, v_edges = world(axes[1], horizontal, np.array([-0.5, size_h - 0.5])), world(axes[2], vertical, np.array([-0.5, size_v - 0.5]))
    extent = (*h_edges, *v_edges)
    grey = cut(images.background).T
    low, high = np.percentile(images.background, GREY_PERCENTILES)
    ax.imshow(grey, origin="lower", extent=extent, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    excess = np.ma.masked_where(~cut(images.inside) | (cut(images.excess_fluid) <= 0), cut(images.excess_fluid) * PERCENT)
    shown = ax.imshow(excess.T, origin="lower", extent=extent, cmap="inferno", vmin=0.0, vmax=overlay_max, alpha=OVERLAY_ALPHA, interpolation="nearest")
    h_centres, v_centres = world(axes[1], horizontal, np.arange(size_h)), world(axes[2], vertical, np.arange(size_v))
    for mask, colour, style in ((images.lesion_mask, "cyan", "solid"), (images.risk_zone, "lime", "dashed")):
        if cut(mask).any():
            ax.contour(h_centres, v_centres, cut(mask).T.astype(float), levels=[0.5], colors=colour, linestyles=style, linewidths=1.6)
    ax.set_xlim(max(h_edges), min(h_edges))  # the patient's right on the viewer's left
    ax.set_ylim(min(v_edges), max(v_edges))
    at_mm = world(axes[0], across, np.array([float(centre[axes[0]])]))[0]
    ax.set_title(f"{plane}, {WORLD_AXES[across]} = {at_mm:.1f} mm")
    ax.set_xlabel(f"{ORIENTATION[horizontal][1]}  <-  {WORLD_AXES[horizontal]} (mm)  ->  {ORIENTATION[horizontal][0]}")
    ax.set_ylabel(f"{ORIENTATION[vertical][0]}  <-  {WORLD_AXES[vertical]} (mm)  ->  {ORIENTATION[vertical][1]}")
    ax.set_aspect("equal")
    plt.setp(ax.get_xticklabels(), fontsize=8)
    plt.setp(ax.get_yticklabels(), fontsize=8)
    return shown


def plot_lesion_slices(images: SliceImages, path: Path, title: str) -> Path:
    """Coronal and axial panels through the lesion (module docstring) as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    centre = slice_centre(images)
    positive = images.excess_fluid[images.inside & (images.excess_fluid > 0)]
    overlay_max = float(positive.max()) * PERCENT if positive.size else 1.0
    figure, axes = plt.subplots(1, 2, figsize=(12.0, 6.0), layout="constrained")
    for ax, plane in zip(axes, PLANES, strict=True):
        shown = _panel(ax, images, plane, centre, overlay_max)
    figure.colorbar(shown, ax=axes, shrink=0.8, label="excess fluid content zeta - zeta_h (% of bulk volume)")
    shown_risk = any(_cut_through(images.risk_zone, images.affine, plane, centre).any() for plane in PLANES)
    handles = [
        Line2D([], [], color="cyan", label="input lesion mask"),
        Line2D([], [], color="lime", linestyle="dashed", label=images.risk_label + ("" if shown_risk else " (not in these slices)")),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    figure.suptitle(f"{title}: predicted excess fluid over the {images.background_name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)
    return path
