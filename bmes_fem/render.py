"""Off-screen pictures of solved fields: a pressure cut-away through the lesion."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pyvista as pv
from PIL import Image

from bmes_fem.errors import BmesError

CMAP = "viridis"
_M_TO_MM = 1e3
_SCALE_BAR_MM = 10.0
# VTK's bundled sans font draws "[" as "("; matplotlib ships DejaVu Sans.
_FONT = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


def load_fields(fields_vtu: Path) -> pv.UnstructuredGrid:
    """Read a fields VTU; raise BmesError naming the file if it is missing, unreadable or lacks `p_mmHg`."""
    fields_vtu = Path(fields_vtu)
    if not fields_vtu.is_file():
        raise BmesError(f"fields file {fields_vtu} does not exist")
    try:
        mesh = pv.read(fields_vtu)
    except Exception as exc:  # vtk readers raise assorted types
        raise BmesError(f"fields file {fields_vtu} could not be read: {exc}") from exc
    if not isinstance(mesh, pv.UnstructuredGrid) or "p_mmHg" not in mesh.point_data:
        raise BmesError(f"fields file {fields_vtu} has no point array 'p_mmHg' (expected an unstructured grid)")
    return mesh


def render_pressure_cutaway(
    fields_vtu: Path,
    png_path: Path,
    *,
    plane_origin_m: Sequence[float],
    plane_normal: Sequence[float],
    clim_mmHg: tuple[float, float] | None = None,
    window_size: tuple[int, int] = (1600, 1200),
    title: str = "",
) -> Path:
    """Write a PNG of the bone clipped by a plane, the cut face coloured by interstitial pressure.

    The half on the -normal side is kept and seen face-on from the +normal side (parallel
    projection, superior up when possible); the removed half is a translucent ghost. Lengths in mm.
    """
    png_path = Path(png_path)
    plotter = _scene(
        load_fields(fields_vtu),
        plane_origin_m=plane_origin_m,
        plane_normal=plane_normal,
        clim_mmHg=clim_mmHg,
        window_size=window_size,
        title=title,
    )
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


def _camera_frame(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Screen (right, up) unit vectors for a camera looking along -normal, up as close to +z as possible."""
    up = np.array([0.0, 0.0, 1.0]) - normal[2] * normal
    if np.linalg.norm(up) < 1e-6:  # looking along z: superior cannot be up, use +y
        up = np.array([0.0, 1.0, 0.0]) - normal[1] * normal
    up /= np.linalg.norm(up)
    return np.cross(up, normal), up


def _scene(
    mesh: pv.UnstructuredGrid,
    *,
    plane_origin_m: Sequence[float],
    plane_normal: Sequence[float],
    clim_mmHg: tuple[float, float] | None,
    window_size: tuple[int, int],
    title: str,
) -> pv.Plotter:
    """Build (not render) the off-screen plotter for `render_pressure_cutaway`; the caller closes it."""
    normal = np.asarray(plane_normal, dtype=float)
    if normal.shape != (3,) or not np.linalg.norm(normal) > 0:
        raise BmesError(f"plane_normal {tuple(plane_normal)} must be a non-zero 3-vector")
    normal /= np.linalg.norm(normal)
    origin = np.asarray(plane_origin_m, dtype=float) * _M_TO_MM
    mesh = mesh.copy()
    mesh.points = mesh.points * _M_TO_MM
    pressure = mesh.point_data["p_mmHg"]
    font = window_size[1] / 1200  # font sizes below are for a 1200 px high picture
    clim = clim_mmHg if clim_mmHg is not None else (float(pressure.min()), float(pressure.max()))

    kept = mesh.clip(normal=normal, origin=origin, crinkle=False)
    if kept.n_cells == 0:
        raise BmesError(f"plane through {tuple(plane_origin_m)} m with normal {tuple(plane_normal)} misses the mesh")
    skin = mesh.extract_surface(pass_pointid=False, pass_cellid=False, algorithm="dataset_surface")
    ghost = skin.clip(normal=normal, origin=origin, invert=False)

    plotter = pv.Plotter(off_screen=True, window_size=list(window_size), lighting="none")
    plotter.add_light(pv.Light(light_type="headlight"))
    _add_ghost(plotter, ghost)
    # Cut face faces the headlight, so ambient + diffuse = 1 reproduces the colour bar exactly.
    plotter.add_mesh(
        kept,
        scalars="p_mmHg",
        cmap=CMAP,
        clim=clim,
        ambient=0.3,
        diffuse=0.7,
        specular=0.0,
        scalar_bar_args=dict(
            title="Interstitial pressure [mmHg]\n",  # newline: gap between title and bar
            vertical=True,
            n_labels=5,
            fmt="%.0f",
            title_font_size=round(30 * font),
            label_font_size=round(26 * font),
            color="black",
            position_x=0.80,
            position_y=0.12,
            width=0.06,
            height=0.70,
        ),
    )
    for text in (plotter.scalar_bar.GetTitleTextProperty(), plotter.scalar_bar.GetLabelTextProperty()):
        text.SetFontFamily(pv._vtk.VTK_FONT_FILE)
        text.SetFontFile(_FONT)
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
        plotter.add_text(title, position="upper_edge", font_size=round(18 * font), color="black", font_file=_FONT)
    plotter.add_axes(color="black", xlabel="x", ylabel="y", zlabel="z (sup.)")
    return plotter


def _add_ghost(plotter: pv.Plotter, ghost: pv.PolyData) -> None:
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


def _project(plotter: pv.Plotter, points_m: Sequence[Sequence[float]]) -> np.ndarray:
    """Pixel (column, row from the top) of world points in metres, for a rendered `_scene` plotter."""
    coord = pv._vtk.vtkCoordinate()
    coord.SetCoordinateSystemToWorld()
    height = plotter.window_size[1]
    pixels = []
    for p in np.asarray(points_m, dtype=float) * _M_TO_MM:
        coord.SetValue(*p)
        x, y = coord.GetComputedDoubleDisplayValue(plotter.renderer)
        pixels.append((x, height - 1 - y))
    return np.array(pixels)
