"""Off-screen pictures of a case (pyvista): named views, camera presets and an interactive HTML scene.

Views: ``cutaway`` (bone clipped through the lesion centre, cut face coloured), ``slices`` (three
orthogonal face-on slices through the lesion centre), ``isosurfaces`` (pressure at the configured
thresholds inside translucent bone), ``clusters`` (the risk zone R >= min R_crit as the smooth contour
surface of the nodal R field, clusters numbered, with the subchondral plate and articular surface),
``deformed`` (warped by u times a stated factor).
The 3D views are seen from a camera preset of `CAMERAS`. Lengths are drawn in mm; colours, units and
limits come from the variable registry (bmes_fem.view.variables).
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pyvista as pv
from PIL import Image
from vtkmodules.vtkCommonCore import vtkLogger

from bmes_fem.config.case import Config
from bmes_fem.errors import BmesError
from bmes_fem.post.zones import Cluster
from bmes_fem.view.results import CaseData, load_case
from bmes_fem.view.variables import VARIABLES, Variable
from bmes_fem.view.views import CAMERA_VIEWS, CAMERAS, SLICE_PLANES, VIEWS

vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)  # no "bad X server connection" warnings off-screen

FIGURES_DIR = "figures"
SCENE_FILE = "scene.html"
_M_TO_MM = 1e3
_SCALE_BAR_MM = 10.0
_WINDOW = (1600, 1200)
_DEFORMED_FRACTION = 0.08  # largest displacement drawn as this fraction of the bone's size
# VTK's bundled sans font draws "[" as "("; matplotlib ships DejaVu Sans.
_FONT = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")

def check_names(views: Sequence[str], cameras: Sequence[str]) -> None:
    """BmesError naming an unknown view or camera and the expected names."""
    for kind, names, known in (("view", views, VIEWS), ("camera", cameras, tuple(CAMERAS))):
        unknown = [name for name in names if name not in known]
        if unknown:
            raise BmesError(f"unknown {kind} {', '.join(map(repr, unknown))} (expected one of: {', '.join(known)})")


def figure_path(view: str, camera: str) -> Path:
    """``figures/<view>.png``, or ``figures/<view>_<camera>.png`` for a view of CAMERA_VIEWS."""
    return Path(FIGURES_DIR) / (f"{view}_{camera}.png" if view in CAMERA_VIEWS else f"{view}.png")


def render_case(case_dir: Path, views: Sequence[str] = VIEWS, cameras: Sequence[str] = ("anterior",)) -> list[Path]:
    """Render ``views`` of a finished case folder to PNGs under ``figures/``; return their paths."""
    check_names(views, cameras)
    case = load_case(case_dir)
    return render_views(case, views, cameras)


def render_views(case: CaseData, views: Sequence[str], cameras: Sequence[str] = ("anterior",)) -> list[Path]:
    """Render ``views`` (each from every camera in ``cameras`` if it takes one) into ``case.folder/figures``."""
    check_names(views, cameras)
    (case.folder / FIGURES_DIR).mkdir(exist_ok=True)
    paths = []
    for view in views:
        for camera in cameras if view in CAMERA_VIEWS else cameras[:1]:
            paths.append(save_png(build_view(case, view, camera), case.folder / figure_path(view, camera)))
    return paths


def show_case(case_dir: Path, view: str = "isosurfaces", camera: str = "anterior") -> None:
    """Open an interactive window of one view; BmesError if there is no display to open it on."""
    check_names([view], [camera])
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise BmesError(
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset): use `bmes render "
            f"{case_dir}` for PNGs, or open {Path(case_dir) / FIGURES_DIR / SCENE_FILE} in a web browser"
        )
    build_view(load_case(case_dir), view, camera, off_screen=False).show()


def build_view(
    case: CaseData, view: str, camera: str = "anterior", *, window_size=_WINDOW, off_screen: bool = True
) -> pv.Plotter:
    """The plotter of one named view (not rendered); the caller shows or saves and closes it."""
    check_names([view], [camera])
    centre = lesion_centre_m(case.config)
    if view == "cutaway":
        return cutaway_scene(case.fields, VARIABLES["pressure"], centre, (0.0, 1.0, 0.0), None, window_size, case.config.case)
    if view == "slices":
        return _slices_scene(case, VARIABLES["pressure"], centre, (2 * window_size[0], window_size[1] * 3 // 4), off_screen)
    plotter = new_plotter(window_size, off_screen)
    {"isosurfaces": _add_isosurfaces, "clusters": _add_risk_zone, "deformed": _add_deformed}[view](plotter, case)
    _look_from(plotter, camera)
    plotter.add_axes(color="black", xlabel="x", ylabel="y", zlabel="z (sup.)")
    return plotter


def lesion_centre_m(config: Config) -> tuple[float, float, float]:
    """``centre`` of the first lesion (for a region lesion its given point, or its first part's reference point),
    or the head centre if the case has no lesion [m]: where the cuts go."""
    return tuple(config.lesions[0].centre if config.lesions else config.load.head_centre)


def save_png(plotter: pv.Plotter, png_path: Path) -> Path:
    """Render ``plotter`` to ``png_path`` (written atomically) and close it."""
    png_path = Path(png_path)
    try:
        image = plotter.screenshot(return_img=True)
    finally:
        plotter.close()
    fd, tmp = tempfile.mkstemp(dir=png_path.parent, prefix=f".{png_path.stem}.", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(image).save(fh, format="PNG")
        os.replace(tmp, png_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return png_path


def in_mm(dataset: pv.DataSet) -> pv.DataSet:
    scaled = dataset.copy()
    scaled.points = scaled.points * _M_TO_MM
    return scaled


def _font_scale(window_size: Sequence[int]) -> float:
    return window_size[1] / 1200  # font sizes below are for a 1200 px high picture


def new_plotter(window_size: Sequence[int], off_screen: bool = True, shape=(1, 1)) -> pv.Plotter:
    plotter = pv.Plotter(off_screen=off_screen, window_size=list(window_size), shape=shape, border=False)
    plotter.set_background("white")
    return plotter


def colour_bar_args(title: str, window_size: Sequence[int], **overrides) -> dict:
    """Scalar-bar arguments: ``title`` (name [unit]), black text, vertical on the right unless overridden."""
    font = _font_scale(window_size)
    args = dict(
        title=title + "\n",  # newline: gap between title and bar
        vertical=True,
        n_labels=5,
        fmt="%.3g",
        title_font_size=round(30 * font),
        label_font_size=round(26 * font),
        color="black",
        position_x=0.80,
        position_y=0.12,
        width=0.06,
        height=0.70,
    )
    args.update(overrides)
    return args


def use_dejavu(plotter: pv.Plotter) -> None:
    """Draw every colour bar's text in DejaVu Sans (VTK's own font has no square brackets)."""
    for bar in plotter.scalar_bars.values():
        for text in (bar.GetTitleTextProperty(), bar.GetLabelTextProperty()):
            text.SetFontFamily(pv._vtk.VTK_FONT_FILE)
            text.SetFontFile(_FONT)


def _add_title(plotter: pv.Plotter, text: str) -> None:
    font = _font_scale(plotter.window_size)
    plotter.add_text(text, position="upper_edge", font_size=round(18 * font), color="black", font_file=_FONT)


def _look_from(plotter: pv.Plotter, camera: str) -> None:
    """Camera preset: look at the scene's centre from ``CAMERAS[camera]``, perspective, zoomed to fit."""
    direction, up = (np.asarray(v) for v in CAMERAS[camera])
    plotter.reset_camera()
    focal = np.asarray(plotter.camera.focal_point)
    plotter.camera_position = [focal + direction * plotter.camera.distance, focal, up]
    plotter.reset_camera()
    plotter.camera.zoom(1.1)
    font = _font_scale(plotter.window_size)
    plotter.add_text(f"view: {camera}", position="lower_left", font_size=round(14 * font), color="black", font_file=_FONT)


def _skin(case: CaseData) -> pv.PolyData:
    return in_mm(case.fields.extract_surface(algorithm="dataset_surface"))


def _add_ghost_bone(plotter: pv.Plotter, case: CaseData, opacity: float = 0.15) -> None:
    plotter.add_mesh(_skin(case), color="lightgrey", opacity=opacity, smooth_shading=True)


def _add_isosurfaces(plotter: pv.Plotter, case: CaseData) -> None:
    """Pressure isosurfaces at ``risk.pressure_thresholds`` in translucent bone, coloured on the pressure scale."""
    from bmes_fem.units import PA_PER_MMHG

    var = VARIABLES["pressure"]
    grid = in_mm(case.fields)
    clim = var.limits(var.values(grid))
    levels_mmHg = [threshold / PA_PER_MMHG for threshold in case.config.risk.pressure_thresholds]
    _add_ghost_bone(plotter, case)
    drawn = []
    for level in levels_mmHg:
        surface = grid.contour(isosurfaces=[level], scalars=var.array)
        if surface.n_points:
            plotter.add_mesh(surface, scalars=var.array, cmap=var.cmap, clim=clim, opacity=0.7, smooth_shading=True,
                             scalar_bar_args=colour_bar_args(var.title, plotter.window_size))
            drawn.append(level)
    absent = [f"{level:g}" for level in levels_mmHg if level not in drawn]
    _add_title(
        plotter,
        f"{case.config.case}: p = {', '.join(f'{v:g}' for v in levels_mmHg)} mmHg"
        + (f" (none above {', '.join(absent)} mmHg)" if absent else ""),
    )
    use_dejavu(plotter)


def _add_risk_zone(plotter: pv.Plotter, case: CaseData) -> None:
    """The zone R >= min(critical_indices) as a smooth surface coloured by R, its clusters numbered as in
    risk_clusters.csv, inside the translucent bone with the subchondral plate and articular surface."""
    critical = min(case.config.risk.critical_indices)
    grid = in_mm(case.fields)
    legend = [("bone (translucent)", "lightgrey")]
    _add_ghost_bone(plotter, case, opacity=0.1)
    plate = grid.extract_cells(grid.cell_data["region"] == case.regions.get("subchondral_plate", -1))
    if plate.n_cells:
        plotter.add_mesh(plate.extract_surface(algorithm="dataset_surface"), color="tan", opacity=0.35, lighting=False)
        legend.append(("subchondral plate", "tan"))
    if case.surface is not None:
        plotter.add_mesh(in_mm(case.surface), color="lightskyblue", opacity=0.35, lighting=False)
        legend.append(("articular surface", "lightskyblue"))
    clusters = case.risk_zones.get(f"{critical:g}", [])
    zone_colour = _add_zone_surface(plotter, case)
    if zone_colour is not None:
        legend.append((f"risk zone R >= {critical:g}", zone_colour))
        _label_clusters(plotter, clusters)
    _add_title(plotter, f"{case.config.case}: risk zone R >= {critical:g}, {len(clusters)} cluster(s)")
    _add_legend(plotter, legend)
    use_dejavu(plotter)


def _add_legend(plotter: pv.Plotter, entries: list[tuple[str, object]]) -> None:
    """A legend of the drawn surfaces, lower right: a square in each surface's colour, its name in black."""
    width, height = plotter.window_size
    font = _font_scale(plotter.window_size)
    line_px, left_px = round(34 * font), round(width * 0.70)
    for row, (label, colour) in enumerate(reversed(entries)):
        y_px = round(height * 0.03) + row * line_px
        plotter.add_text("\u25a0", position=(left_px, y_px), font_size=round(16 * font), color=colour, font_file=_FONT)
        plotter.add_text(label, position=(left_px + line_px, y_px), font_size=round(14 * font), color="black", font_file=_FONT)


def zone_surface_mm(case: CaseData, critical: float) -> pv.PolyData:
    """The boundary of the trabecular zone where the nodal risk index R >= ``critical`` [mm].

    R (per cell) is averaged to the vertices of the trabecular cells and the trabecular mesh is
    clipped at R = critical: the zone's surface follows the contour of that nodal field, not the
    faces of whole cells.
    """
    trabecular = in_mm(case.fields).extract_cells(np.isfinite(case.fields.cell_data[VARIABLES["risk"].array]))
    nodal = trabecular.cell_data_to_point_data(pass_cell_data=False)
    if nodal.n_points == 0 or np.nanmax(nodal.point_data["R"]) < critical:
        return pv.PolyData()
    zone = nodal.clip_scalar(scalars="R", value=critical, invert=False)
    return zone.extract_surface(algorithm="dataset_surface").triangulate()


def _add_zone_surface(plotter: pv.Plotter, case: CaseData, bar: bool = True) -> tuple[float, float, float] | None:
    """Add the zone R >= min(critical_indices) (`zone_surface_mm`) coloured by R; return the colour of its
    median R (for a legend), None if the zone is empty."""
    var = VARIABLES["risk"]
    surface = zone_surface_mm(case, min(case.config.risk.critical_indices))
    if not surface.n_cells:
        return None
    plotter.add_mesh(surface, scalars=var.array, cmap=var.cmap, clim=var.limits(), show_scalar_bar=bar, smooth_shading=True,
                     scalar_bar_args=colour_bar_args(var.title, plotter.window_size, position_x=0.05))
    low, high = var.limits()
    position = (float(np.median(surface.point_data[var.array])) - low) / (high - low)
    return tuple(matplotlib.colormaps[var.cmap](np.clip(position, 0.0, 1.0))[:3])


def _label_clusters(plotter: pv.Plotter, clusters: list[Cluster]) -> None:
    """Number the clusters 1, 2, ... (largest first, as in risk_clusters.csv) at their centroids."""
    if not clusters:
        return
    centroids_mm = [(c.centroid_x_mm, c.centroid_y_mm, c.centroid_z_mm) for c in clusters]
    plotter.add_point_labels(
        np.array(centroids_mm), [str(c.label) for c in clusters], font_size=round(24 * _font_scale(plotter.window_size)),
        font_file=_FONT, text_color="black", shape_color="white", always_visible=True, show_points=False,
    )


def deformation_scale(max_displacement_mm: float, size_mm: float) -> float:
    """Largest 1-2-5 x 10^k factor drawing the largest displacement at most 8 % of the bone's size."""
    if max_displacement_mm <= 0:
        return 1.0
    target = _DEFORMED_FRACTION * size_mm / max_displacement_mm
    exponent = np.floor(np.log10(target))
    mantissa = max(m for m in (1, 2, 5) if m <= target / 10**exponent)
    return float(mantissa * 10**exponent)


def _add_deformed(plotter: pv.Plotter, case: CaseData) -> None:
    """Surface warped by scale * u, coloured by |u| [um], over the undeformed bone (translucent)."""
    var = VARIABLES["displacement"]
    skin = _skin(case)
    magnitude_um = var.values(skin)
    scale = deformation_scale(magnitude_um.max() * 1e-3, float(np.ptp(skin.points, axis=0).max()))
    skin.point_data["u_mm"] = skin.point_data[var.array] * _M_TO_MM
    var.add_to(skin)
    warped = skin.warp_by_vector("u_mm", factor=scale)
    plotter.add_mesh(skin, color="lightgrey", opacity=0.25)  # undeformed
    plotter.add_mesh(warped, scalars=var.display_array, cmap=var.cmap, clim=(0.0, float(magnitude_um.max())),
                     smooth_shading=True, scalar_bar_args=colour_bar_args(var.title, plotter.window_size))
    _add_title(plotter, f"{case.config.case}: deformed shape, displacement x {scale:g}")
    use_dejavu(plotter)


def _slices_scene(case: CaseData, var: Variable, centre_m, window_size, off_screen: bool) -> pv.Plotter:
    """Coronal, sagittal and axial slices through ``centre_m``, face-on, on one shared colour scale."""
    grid = in_mm(case.fields)
    var.add_to(grid)
    origin = np.asarray(centre_m) * _M_TO_MM
    slices = {name: grid.slice(normal=normal, origin=origin) for name, normal in SLICE_PLANES.items()}
    clim = var.limits(*(s[var.display_array] for s in slices.values()))
    plotter = new_plotter(window_size, off_screen, shape=(1, 3))
    for column, (name, normal) in enumerate(SLICE_PLANES.items()):
        plotter.subplot(0, column)
        axis = int(np.argmax(np.abs(normal)))
        title = f"{name} ({'xyz'[axis]} = {origin[axis]:.1f} mm)"
        add_slice_panel(plotter, grid, var.display_array, cmap=var.cmap, clim=clim, origin_mm=origin, normal=normal,
                        title=title, bar_title=var.title if column == 2 else None)
    use_dejavu(plotter)
    return plotter


def add_slice_panel(plotter, grid_mm, array: str, *, cmap, clim, origin_mm, normal, title: str, bar_title=None) -> None:
    """Into the active subplot: ``array`` on the slice of ``grid_mm`` through ``origin_mm``, face-on, outlined.

    ``bar_title`` (name [unit]): draw a horizontal colour bar under the panel; None: no bar. NaN is grey.
    """
    normal = np.asarray(normal, dtype=float)
    font = _font_scale(plotter.window_size)
    plotter.add_text(title, position="upper_edge", font_size=round(14 * font), color="black", font_file=_FONT)
    plotter.add_mesh(
        grid_mm.slice(normal=normal, origin=origin_mm), scalars=array, cmap=cmap, clim=clim, lighting=False,
        nan_color="lightgrey", show_scalar_bar=bar_title is not None,
        scalar_bar_args=colour_bar_args(bar_title or "", plotter.window_size, position_x=0.15, position_y=0.04,
                                        width=0.7, height=0.08, vertical=False, n_labels=4),
    )
    plotter.add_mesh(grid_mm.extract_surface(algorithm="dataset_surface").slice(normal=normal, origin=origin_mm),
                     color="black", line_width=2)
    plotter.view_vector(normal, viewup=_camera_frame(normal)[1])
    plotter.enable_parallel_projection()
    plotter.reset_camera()


def _camera_frame(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Screen (right, up) unit vectors for a camera looking along -normal, up as close to +z as possible."""
    up = np.array([0.0, 0.0, 1.0]) - normal[2] * normal
    if np.linalg.norm(up) < 1e-6:  # looking along z: superior cannot be up, use +y
        up = np.array([0.0, 1.0, 0.0]) - normal[1] * normal
    up /= np.linalg.norm(up)
    return np.cross(up, normal), up


def render_cutaway(
    fields: pv.UnstructuredGrid,
    png_path: Path,
    *,
    plane_origin_m: Sequence[float],
    plane_normal: Sequence[float],
    var: Variable = VARIABLES["pressure"],
    clim: tuple[float, float] | None = None,
    window_size: tuple[int, int] = _WINDOW,
    title: str = "",
) -> Path:
    """Write a PNG of the bone clipped by a plane, the cut face coloured by ``var`` (see `cutaway_scene`)."""
    return save_png(cutaway_scene(fields, var, plane_origin_m, plane_normal, clim, window_size, title), png_path)


def cutaway_scene(
    fields: pv.UnstructuredGrid,
    var: Variable,
    plane_origin_m: Sequence[float],
    plane_normal: Sequence[float],
    clim: tuple[float, float] | None,
    window_size: Sequence[int],
    title: str,
) -> pv.Plotter:
    """The bone clipped by a plane: the half on the -normal side, seen face-on from +normal.

    Parallel projection, superior up when possible; the removed half is a translucent ghost; a 10 mm
    scale bar. Built, not rendered; the caller closes it.
    """
    normal = np.asarray(plane_normal, dtype=float)
    if normal.shape != (3,) or not np.linalg.norm(normal) > 0:
        raise BmesError(f"plane_normal {tuple(plane_normal)} must be a non-zero 3-vector")
    normal /= np.linalg.norm(normal)
    origin = np.asarray(plane_origin_m, dtype=float) * _M_TO_MM
    mesh = in_mm(fields)
    var.add_to(mesh)
    font = _font_scale(window_size)

    kept = mesh.clip(normal=normal, origin=origin, crinkle=False)
    if kept.n_cells == 0:
        raise BmesError(f"plane through {tuple(plane_origin_m)} m with normal {tuple(plane_normal)} misses the mesh")
    skin = mesh.extract_surface(pass_pointid=False, pass_cellid=False, algorithm="dataset_surface")
    ghost = skin.clip(normal=normal, origin=origin, invert=False)

    plotter = pv.Plotter(off_screen=True, window_size=list(window_size), lighting="none")
    plotter.add_light(pv.Light(light_type="headlight"))
    _add_ghost_layer(plotter, ghost)
    # Cut face faces the headlight, so ambient + diffuse = 1 reproduces the colour bar exactly.
    plotter.add_mesh(
        kept,
        scalars=var.display_array,
        cmap=var.cmap,
        clim=clim if clim is not None else var.limits(mesh[var.display_array]),
        ambient=0.3,
        diffuse=0.7,
        specular=0.0,
        scalar_bar_args=colour_bar_args(var.title, window_size),
    )
    use_dejavu(plotter)
    plotter.add_mesh(skin.slice(normal=normal, origin=origin), color="black", line_width=2)  # cut outline

    right, up = _camera_frame(normal)
    points = mesh.points - origin
    u, v = points @ right, points @ up
    aspect = window_size[0] / window_size[1]
    # Bone fills 80 % of the height (title above, scale bar below) and the left 72 % of the width.
    half_h = max(np.ptp(v) / 2 / 0.80, np.ptp(u) / 2 / (0.72 * aspect))
    centre = origin + right * (u.min() + u.max()) / 2 + up * (v.min() + v.max()) / 2
    focal = centre + right * 0.10 * (2 * half_h * aspect)  # bone centred at 40 % of the width
    cam = plotter.camera
    cam.parallel_projection = True
    cam.focal_point = focal
    cam.position = focal + normal * 10 * np.ptp(mesh.points, axis=0).max()
    cam.up = up
    cam.parallel_scale = half_h
    plotter.reset_camera_clipping_range()

    bar_start = centre - up * (np.ptp(v) / 2 + 0.06 * half_h) + right * (np.ptp(u) / 2 - _SCALE_BAR_MM)
    plotter.add_mesh(pv.Line(bar_start, bar_start + right * _SCALE_BAR_MM), color="black", line_width=5)
    plotter.add_point_labels(
        [bar_start + right * _SCALE_BAR_MM / 2 - up * 0.02 * half_h],
        [f"{_SCALE_BAR_MM:.0f} mm"],
        font_size=round(26 * font),
        font_file=_FONT,
        text_color="black",
        shape=None,
        show_points=False,
        always_visible=True,
        justification_horizontal="center",
        justification_vertical="top",
    )
    if title:
        _add_title(plotter, title)
    plotter.add_axes(color="black", xlabel="x", ylabel="y", zlabel="z (sup.)")
    return plotter


def _add_ghost_layer(plotter: pv.Plotter, ghost: pv.PolyData) -> None:
    """Draw the removed half translucent in a layer under the main scene, so it never tints the cut face."""
    mapper = pv._vtk.vtkDataSetMapper()
    mapper.SetInputData(ghost)
    mapper.ScalarVisibilityOff()
    actor = pv._vtk.vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(0.5, 0.5, 0.5)
    actor.GetProperty().SetOpacity(0.15)
    under = pv._vtk.vtkRenderer()
    under.SetLayer(0)
    under.SetBackground(1.0, 1.0, 1.0)
    under.SetActiveCamera(plotter.camera)
    under.AddActor(actor)
    plotter.ren_win.SetNumberOfLayers(2)
    plotter.renderer.SetLayer(1)  # non-zero layers keep the colour buffer: white shows through
    plotter.ren_win.AddRenderer(under)


def project_to_pixels(plotter: pv.Plotter, points_m: Sequence[Sequence[float]]) -> np.ndarray:
    """Pixel (column, row from the top) of world points in metres, for a rendered plotter drawn in mm."""
    coord = pv._vtk.vtkCoordinate()
    coord.SetCoordinateSystemToWorld()
    height = plotter.window_size[1]
    pixels = []
    for p in np.asarray(points_m, dtype=float) * _M_TO_MM:
        coord.SetValue(*p)
        x, y = coord.GetComputedDoubleDisplayValue(plotter.renderer)
        pixels.append((x, height - 1 - y))
    return np.array(pixels)


def export_scene_html(case: CaseData, html_path: Path) -> Path:
    """A self-contained HTML file (vtk.js viewer and data inline, no network) of bone, isosurfaces and risk zone.

    Needs the package trame-vtk (its offline viewer page); the scene is serialised with its
    serialisers from an off-screen render window, no server.
    """
    try:
        from trame_vtk.modules.vtk.serializers import (
            SynchronizationContext,
            extract_array_hash,
            initialize_serializers,
            reference_id,
            serialize,
        )
        from trame_vtk.tools.vtksz2html import write_html
    except ImportError as exc:
        raise BmesError(f"the interactive export {html_path} needs trame-vtk (pip install trame-vtk): {exc}") from exc
    plotter = new_plotter((1200, 900))
    try:
        _add_isosurfaces(plotter, case)
        _add_zone_surface(plotter, case, bar=False)  # vtk.js draws one colour bar: pressure's
        _look_from(plotter, "anterior")
        plotter.render()
        initialize_serializers()
        context = SynchronizationContext()
        window = plotter.render_window
        scene = serialize(None, window, reference_id(window), context, 1)
        scene["extra"] = {"vtkRefId": reference_id(window), "centerOfRotation": plotter.camera.focal_point,
                          "camera": reference_id(plotter.camera)}
        hashes = {entry["hash"]: dict(entry, content=context.get_cached_data_array(entry["hash"], False))
                  for entry in extract_array_hash(scene)}
    finally:
        plotter.close()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zfile:
        zfile.writestr("index.json", json.dumps({"hashes": hashes, "scene": scene}))
    html = io.StringIO()
    write_html(archive.getvalue(), html)
    Path(html_path).write_text(html.getvalue(), encoding="utf-8")
    return Path(html_path)
