"""Pressure cut-away picture: checked by pixel colours at projected world points."""

from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np
import pytest
import pyvista as pv

from bmes_fem import render
from bmes_fem.errors import BmesError

RADIUS = 0.024
LESION = np.array([0.008, 0.0, 0.010])
FAR = np.array([-0.016, 0.0, -0.010])  # in the cut plane, 31 mm from the lesion
NORMAL = (0.0, 1.0, 0.0)


def _pressure(points: np.ndarray) -> np.ndarray:
    return 25.0 + 20.0 * np.exp(-np.sum((points - LESION) ** 2, axis=1) / (2 * 0.005**2))


@pytest.fixture(scope="module")
def ball_vtu(tmp_path_factory) -> Path:
    """Tetrahedralised ball (Delaunay of jittered interior grid + Fibonacci surface points) with all fields."""
    rng = np.random.default_rng(0)
    axis = np.arange(-RADIUS, RADIUS + 1e-9, 0.002)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid[np.linalg.norm(grid, axis=1) < RADIUS - 0.0015]
    grid += rng.uniform(-2e-4, 2e-4, grid.shape)
    k = np.arange(2000) + 0.5
    polar, azimuth = np.arccos(1 - 2 * k / k.size), np.pi * (1 + 5**0.5) * k
    surface = RADIUS * np.column_stack(
        [np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)]
    )
    mesh = pv.PolyData(np.vstack([grid, LESION, surface])).delaunay_3d()
    centres = mesh.cell_centers().points
    r = np.linalg.norm(centres, axis=1)
    mesh.point_data["p_mmHg"] = _pressure(mesh.points)
    mesh.point_data["u_m"] = 1e-5 * mesh.points / RADIUS
    mesh.cell_data["region"] = np.where(r > 0.022, 2, np.where((r > 0.020) & (centres[:, 2] > 0), 3, 1))
    mesh.cell_data["chi"] = np.exp(-np.sum((centres - LESION) ** 2, axis=1) / (2 * 0.006**2))
    mesh.cell_data["R"] = 0.5 + mesh.cell_data["chi"]
    mesh.cell_data["eps1"] = 1e-3 * (1 + mesh.cell_data["chi"])
    mesh.cell_data["eps3"] = -1.5e-3 * (1 + mesh.cell_data["chi"])
    path = tmp_path_factory.mktemp("fields") / "ball.vtu"
    mesh.save(path)
    return path


def _colormap_value(rgb: np.ndarray) -> float:
    """Position in [0, 1] of the colormap entry nearest to an RGB colour in [0, 1]."""
    table = matplotlib.colormaps[render.CMAP](np.linspace(0.0, 1.0, 256))[:, :3]
    return float(np.argmin(np.sum((table - rgb) ** 2, axis=1)) / 255)


def test_cutaway_colours_lesion_high_and_far_field_low(ball_vtu, tmp_path):
    kwargs = dict(plane_origin_m=LESION, plane_normal=NORMAL, window_size=(800, 600))
    png = render.render_pressure_cutaway(ball_vtu, tmp_path / "cut.png", title="synthetic ball", **kwargs)
    assert png == tmp_path / "cut.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.png"]  # no temporary left behind
    image = matplotlib.image.imread(png)[:, :, :3]
    assert image.shape == (600, 800, 3)
    assert np.allclose(image[5, 5], 1.0)  # white background behind the ghost layer

    plotter = render._scene(render.load_fields(ball_vtu), clim_mmHg=None, title="", **kwargs)
    try:
        plotter.render()
        (lesion_px, far_px) = np.rint(render._project(plotter, [LESION, FAR])).astype(int)
    finally:
        plotter.close()

    def value_at(px):  # median colormap position over a 5x5 patch
        col, row = px
        patch = image[row - 2 : row + 3, col - 2 : col + 3].reshape(-1, 3)
        return float(np.median([_colormap_value(rgb) for rgb in patch]))

    assert value_at(lesion_px) > 0.8
    assert value_at(far_px) < 0.2


def test_missing_file_raises_naming_path(tmp_path):
    missing = tmp_path / "nope.vtu"
    with pytest.raises(BmesError, match="nope.vtu"):
        render.render_pressure_cutaway(missing, tmp_path / "x.png", plane_origin_m=(0, 0, 0), plane_normal=NORMAL)
    assert not (tmp_path / "x.png").exists()


def test_file_without_pressure_raises(tmp_path):
    path = tmp_path / "bare.vtu"
    pv.ImageData(dimensions=(3, 3, 3)).cast_to_unstructured_grid().save(path)
    with pytest.raises(BmesError, match=r"bare\.vtu.*p_mmHg"):
        render.load_fields(path)
