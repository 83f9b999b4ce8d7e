"""The docs figure docs/lesion_patterns.png: each clinical pattern of bone marrow oedema as a schematic coronal
sketch of its MRI appearance, next to the model's lesion indicator chi on the coronal plane through the lesion.

Rows (case files): BMES / transient osteoporosis of the hip (configs/femoral_head_bmes.yaml), focal early
osteonecrosis of the femoral head (configs/femoral_head_focal_osteonecrosis.yaml), BME of the medial femoral
condyle (configs/femoral_condyle_bmes.yaml). chi is the model's `lesion_indicator` on a 0.25 mm grid of the plane
y = the lesion centre's y. The bone section and its layers (cortex, subchondral plate, trabecular core) are the
inside tests of the constructive solid geometry that bmes_fem/mesh/shapes.py gives gmsh (ball and neck cylinder;
ellipsoidal condyles, cone, shaft; each layer the solid shrunk by its thickness), so no mesh is built (about
8 s, most of it imports); checked once against the 6 mm gmsh meshes of both bones: every cell centroid of
their trabecular, cortical and plate regions falls in the same layer here.
The sketches are drawn by hand in the same outline: they show what the sources describe, not model output.

    .venv/bin/python scripts/lesion_patterns_figure.py [--output docs/lesion_patterns.png]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from bmes_fem.config.case import Config
from bmes_fem.config.geometry import FemoralCondyleGeometry, FemoralHeadGeometry
from bmes_fem.config.loader import load_config
from bmes_fem.physics.materials import lesion_indicator
from bmes_fem.studies.files import atomic_path

ROOT = Path(__file__).resolve().parents[1]
MM = 1e-3
STEP_MM = 0.25
Mask = Callable[[float], np.ndarray]  # inward offset [m] -> inside test at the grid points


@dataclass(frozen=True)
class CoronalSection:
    """A coronal section of a layered bone on a grid (x, z in mm): its layers as boolean masks."""

    x_mm: np.ndarray
    z_mm: np.ndarray
    bone: np.ndarray
    trabecular: np.ndarray
    plate: np.ndarray

    @property
    def extent(self) -> tuple[float, float, float, float]:
        half = STEP_MM / 2
        return (self.x_mm[0] - half, self.x_mm[-1] + half, self.z_mm[0] - half, self.z_mm[-1] + half)


def _layers(solid: Mask, bearing: Mask, cartilage_side: np.ndarray, cortical_m: float, subchondral_m: float):
    """(bone, trabecular core, subchondral plate) as bmes_fem.mesh.shapes._build_layered_bone cuts them."""
    plate = bearing(0.0) & cartilage_side & ~bearing(subchondral_m)
    core = (solid(cortical_m) | (bearing(subchondral_m) & cartilage_side)) & ~plate
    return solid(0.0), core, plate


def head_layers(geometry: FemoralHeadGeometry, x_m: np.ndarray):
    """Ball of radius R - o fused with the neck cylinder (radius r_n - o) from the cut (s = -L) to the centre;
    cartilage where s = x . a > R cos(psi_c)."""
    axis = np.asarray(geometry.neck_axis())
    s = axis @ x_m
    radial = np.linalg.norm(x_m - np.outer(axis, s), axis=0)
    radius = np.linalg.norm(x_m, axis=0)

    def ball(offset_m: float) -> np.ndarray:
        return radius < geometry.head_radius - offset_m

    def solid(offset_m: float) -> np.ndarray:
        return ball(offset_m) | ((s > -geometry.neck_length) & (s < 0.0) & (radial < geometry.neck_radius - offset_m))

    side = s > geometry.head_radius * math.cos(geometry.articular_half_angle)
    return _layers(solid, ball, side, geometry.cortical_thickness, geometry.subchondral_thickness)


def condyle_layers(geometry: FemoralCondyleGeometry, x_m: np.ndarray):
    """Two ellipsoids of semi-axes (width, length, height) / 2 - o at x = +-spacing / 2, a cone (radius
    metaphysis - o to shaft - o) from the condyle centres' height to the shaft, the shaft cylinder (radius
    shaft - o) to the cut; cartilage below z = articular_height."""
    semi = np.array([geometry.condyle_width, geometry.condyle_length, geometry.condyle_height]) / 2
    centre_z = semi[2]
    shaft_start = centre_z + geometry.metaphysis_length
    x, z = x_m[0], x_m[2]
    radial = np.hypot(x, x_m[1])

    def condyles(offset_m: float) -> np.ndarray:
        inside = np.zeros(x_m.shape[1], dtype=bool)
        for side in (1.0, -1.0):
            centre = np.array([side * geometry.condyle_spacing / 2, 0.0, centre_z])[:, None]
            inside |= np.sum(((x_m - centre) / (semi - offset_m)[:, None]) ** 2, axis=0) < 1.0
        return inside

    def solid(offset_m: float) -> np.ndarray:
        fraction = (z - centre_z) / (shaft_start - centre_z)
        cone_radius = (geometry.metaphysis_radius - offset_m) + fraction * (geometry.shaft_radius - geometry.metaphysis_radius)
        cone = (fraction >= 0.0) & (fraction <= 1.0) & (radial < cone_radius)
        shaft = (z >= shaft_start) & (z <= geometry.length) & (radial < geometry.shaft_radius - offset_m)
        return condyles(offset_m) | cone | shaft

    side = z < geometry.articular_height
    return _layers(solid, condyles, side, geometry.cortical_thickness, geometry.subchondral_thickness)


def coronal_section(config: Config, x_range_mm, z_range_mm) -> tuple[CoronalSection, np.ndarray]:
    """The section at y = the first lesion's centre and chi (NaN outside the bone) on its grid."""
    x_mm = np.arange(x_range_mm[0], x_range_mm[1] + STEP_MM / 2, STEP_MM)
    z_mm = np.arange(z_range_mm[0], z_range_mm[1] + STEP_MM / 2, STEP_MM)
    grid_x, grid_z = np.meshgrid(x_mm, z_mm)
    y_m = config.lesions[0].centre[1]
    points_m = np.vstack([grid_x.ravel() * MM, np.full(grid_x.size, y_m), grid_z.ravel() * MM])
    layers = head_layers if isinstance(config.geometry, FemoralHeadGeometry) else condyle_layers
    bone, trabecular, plate = (mask.reshape(grid_x.shape) for mask in layers(config.geometry, points_m))
    chi = lesion_indicator(config.lesions, points_m).reshape(grid_x.shape)
    return CoronalSection(x_mm, z_mm, bone, trabecular, plate), np.where(bone, chi, np.nan)


def _outline(ax, section: CoronalSection, colour: str = "black") -> None:
    """The bone's outline and the inner surface of its shells (cortex, plate)."""
    ax.contour(section.x_mm, section.z_mm, section.bone.astype(float), levels=[0.5], colors=colour, linewidths=1.2)
    ax.contour(section.x_mm, section.z_mm, section.trabecular.astype(float), levels=[0.5], colors=colour, linewidths=0.5)


def _frame(ax, section: CoronalSection, title: str, caption: str) -> None:
    """Limits, equal axes, the title, and the caption (sources, case file) under the axis labels."""
    ax.set_xlim(section.extent[:2])
    ax.set_ylim(section.extent[2:])
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10, loc="left")
    ax.text(0.0, -0.13, caption, transform=ax.transAxes, fontsize=7, va="top", ha="left", color="#333333")
    ax.set_xlabel("x [mm]  (medial \u2192)", fontsize=8)
    ax.set_ylabel("z [mm]  (superior / proximal \u2192)", fontsize=8)
    ax.tick_params(labelsize=7)


def draw_sketch(ax, section: CoronalSection, oedema: np.ndarray, title: str, notes: list[tuple[str, tuple, tuple]], source: str,
                spared: np.ndarray | None = None, lines: list[np.ndarray] = ()) -> None:
    """Schematic MRI (fluid-sensitive, fat-suppressed): marrow dark, oedema bright and hatched, the spared zone
    dashed, fracture or demarcation lines black; ``notes`` are (text, arrow tip or None, text position) in mm."""
    marrow = np.where(section.bone, np.where(section.trabecular, 0.25, 0.05), np.nan)
    ax.imshow(marrow, origin="lower", extent=section.extent, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    region = (oedema & section.trabecular).astype(float)
    ax.contourf(section.x_mm, section.z_mm, region, levels=[0.5, 1.5], colors=["#f4f1e0"], hatches=["////"], alpha=0.9)
    if spared is not None:
        ax.contour(section.x_mm, section.z_mm, (spared & section.trabecular).astype(float), levels=[0.5], colors="#3b8bd0",
                   linewidths=1.6, linestyles="dashed")
    for line in lines:
        ax.plot(line[0], line[1], color="black", linewidth=2.2, solid_capstyle="round")
    _outline(ax, section)
    for text, tip, where in notes:
        arrow = None if tip is None else {"arrowstyle": "-|>", "color": "#222222", "linewidth": 0.8}
        ax.annotate(text, xy=where if tip is None else tip, xytext=where, fontsize=7.5, ha="left", va="center", arrowprops=arrow,
                    bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "#999999", "linewidth": 0.5})
    _frame(ax, section, title, source)


def draw_model(ax, section: CoronalSection, chi: np.ndarray, config: Config, title: str):
    """chi where it acts (the trabecular core; cortex and plate hold no marrow, light grey), chi = 0.5 dashed,
    the lesion centre (the figures' cut and the course's scaling point) as +."""
    shells = np.where(section.bone & ~section.trabecular, 1.0, np.nan)
    ax.imshow(shells, origin="lower", extent=section.extent, cmap=ListedColormap(["#c8c8c8"]), interpolation="nearest")
    image = ax.imshow(np.where(section.trabecular, chi, np.nan), origin="lower", extent=section.extent, cmap="magma",
                      vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.contour(section.x_mm, section.z_mm, np.nan_to_num(chi), levels=[0.5], colors="#4fc3f7", linewidths=1.0, linestyles="dashed")
    _outline(ax, section)
    centre_mm = np.asarray(config.lesions[0].centre) / MM
    ax.plot(centre_mm[0], centre_mm[2], marker="+", color="#4fc3f7", markersize=10, markeredgewidth=1.8)
    lesion = config.lesions[0]
    _frame(ax, section, title, f"configs/{config.case}.yaml: kind {lesion.kind}, falloff width {lesion.falloff_width / MM:g} mm;\n"
           f"coronal plane y = {centre_mm[1]:g} mm through the lesion centre (+); dashed: chi = 0.5; grey: cortex and plate")
    return image


def _arc(radius_mm: float, from_deg: float, to_deg: float, wobble_mm: float = 0.0) -> np.ndarray:
    """Points (x, z) of a circular arc about the origin, angles from +x (medial) towards +z (superior)."""
    angles = np.radians(np.linspace(from_deg, to_deg, 60))
    radii = radius_mm + wobble_mm * np.sin(np.linspace(0.0, 9 * np.pi, angles.size))
    return np.vstack([radii * np.cos(angles), radii * np.sin(angles)])


def _grid(section: CoronalSection) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(section.x_mm, section.z_mm)


def toh_row(axes) -> None:
    config = load_config(ROOT / "configs" / "femoral_head_bmes.yaml")
    section, chi = coronal_section(config, (-36.0, 27.0), (-33.0, 27.0))
    x, z = _grid(section)
    s = (np.asarray(config.geometry.neck_axis())[[0, 2]] @ np.vstack([x.ravel(), z.ravel()])).reshape(x.shape)
    spared = np.hypot(x - 25.0, z + 3.0) < 16.0
    oedema = (s > -29.0) & ~spared
    draw_sketch(
        axes[0], section, oedema, "BMES / transient osteoporosis of the hip: MRI pattern (sketch)",
        [("diffuse oedema: head and neck,\n\u2192 intertrochanteric (sometimes)", (-14.0, -14.0), (-35.0, 20.0)),
         ("medial head spared\n(almost 90 %)", (15.0, -6.0), (6.0, -27.0)),
         ("subchondral fracture line\n(about half: 55 % of 49)", (-6.5, 19.0), (-3.0, 24.5))],
        "Hofmann et al. 1993 JBJS-Br 75:210; Radiopaedia 'Transient osteoporosis of the hip'\n"
        "(sparing after Klontzas et al. 2015, not seen); fracture lines: Geith et al. 2020",
        spared=spared, lines=[_arc(19.0, 100.0, 126.0, wobble_mm=0.5)],
    )
    draw_model(axes[1], section, chi, config, "model: chi = U (1 - V), head and neck minus the medial head")


def focal_row(axes) -> None:
    config = load_config(ROOT / "configs" / "femoral_head_focal_osteonecrosis.yaml")
    section, chi = coronal_section(config, (-36.0, 27.0), (-33.0, 27.0))
    x, z = _grid(section)
    radius, angle = np.hypot(x, z), np.degrees(np.arctan2(z, x))
    focus = (radius > 12.0) & (angle > 48.0) & (angle < 112.0)
    draw_sketch(
        axes[0], section, focus, "Early osteonecrosis of the femoral head: MRI pattern (sketch)",
        [("focal anterosuperior\nsubchondral lesion", (3.0, 18.0), (-35.0, 22.0)),
         ("demarcating (double) line", (-2.0, 12.2), (-35.0, 4.0)),
         ("necrotic volume > ~30 %\nof the head: collapse likely", None, (-2.0, -27.0))],
        "double-line sign: Mitchell et al. 1987 Radiology 162:709;\n"
        "pattern and the 30 % rule: [M], primary source not seen",
        lines=[_arc(12.0, 48.0, 112.0, wobble_mm=0.6)],
    )
    draw_model(axes[1], section, chi, config, "model: chi of the focal ellipsoid (kind ellipsoid)")


def condyle_row(axes):
    config = load_config(ROOT / "configs" / "femoral_condyle_bmes.yaml")
    section, chi = coronal_section(config, (-42.0, 42.0), (-3.0, 52.0))
    x, z = _grid(section)
    oedema = (x > 10.0) & (z < 27.0 - 0.02 * (x - 24.0) ** 2)
    fracture = np.vstack([np.linspace(19.0, 29.0, 40), 3.2 + 0.5 * np.sin(np.linspace(0, 5 * np.pi, 40))])
    draw_sketch(
        axes[0], section, oedema, "BME of the medial femoral condyle (SIFK / SONK): MRI pattern (sketch)",
        [("oedema of the medial\ncondyle (94 % medial)", (24.0, 16.0), (14.0, 40.0)),
         ("subchondral low-signal line,\nweight-bearing area", (24.0, 3.4), (-12.0, 12.0)),
         ("lateral condyle:\nnormal", None, (-33.0, 40.0))],
        "Radiopaedia 'Spontaneous insufficiency fracture of the knee' (medial condyle, weight-bearing);\n"
        "94 % medial: [M], primary source not seen",
        lines=[fracture],
    )
    return draw_model(axes[1], section, chi, config, "model: chi of the medial-condyle ellipsoid (kind ellipsoid)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "lesion_patterns.png")
    args = parser.parse_args()
    figure, axes = plt.subplots(3, 2, figsize=(12.5, 16.5))
    toh_row(axes[0])
    focal_row(axes[1])
    image = condyle_row(axes[2])
    figure.subplots_adjust(left=0.06, right=0.88, top=0.955, bottom=0.04, hspace=0.38, wspace=0.22)
    figure.colorbar(image, cax=figure.add_axes((0.905, 0.39, 0.015, 0.24)), label="lesion indicator chi [-] (trabecular bone)")
    figure.suptitle("Bone marrow oedema patterns by clinical entity: coronal MRI sketch (left) and the model's chi (right)",
                    fontsize=12, y=0.985)
    with atomic_path(args.output) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    print(args.output)


if __name__ == "__main__":
    main()
