"""Figures of a case, checked by pixel colours at projected world points, and the bad-input errors."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np
import pytest
import pyvista as pv

from bmes_fem.config.loader import parse_config
from bmes_fem.errors import BmesError
from bmes_fem.output.files import PRESSURE_CLUSTERS_FILE, RISK_CLUSTERS_FILE, SURFACE_FILE
from bmes_fem.post.zones import describe_clusters, facet_components, write_clusters_csv
from bmes_fem.view import render
from bmes_fem.view.compare import comparison_scene, same_mesh, values_on
from bmes_fem.view.results import load_case, load_fields, surface_polydata
from bmes_fem.view.variables import VARIABLES

RADIUS = 0.024
LESION = np.array([0.008, 0.0, 0.010])
FAR = np.array([-0.016, 0.0, -0.010])  # in the cut plane, 31 mm from the lesion
NORMAL = (0.0, 1.0, 0.0)
PRESSURE = VARIABLES["pressure"]


def _pressure(points: np.ndarray) -> np.ndarray:
    return 25.0 + 20.0 * np.exp(-np.sum((points - LESION) ** 2, axis=1) / (2 * 0.005**2))


def ball_grid(spacing_m: float = 0.002, seed: int = 0) -> pv.UnstructuredGrid:
    """Tetrahedralised ball (Delaunay of jittered interior grid + Fibonacci surface points) with all fields."""
    rng = np.random.default_rng(seed)
    axis = np.arange(-RADIUS, RADIUS + 1e-9, spacing_m)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid[np.linalg.norm(grid, axis=1) < RADIUS - 0.0015]
    grid += rng.uniform(-2e-4, 2e-4, grid.shape)
    k = np.arange(2000) + 0.5
    polar, azimuth = np.arccos(1 - 2 * k / k.size), np.pi * (1 + 5**0.5) * k
    surface = RADIUS * np.column_stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)])
    mesh = pv.PolyData(np.vstack([grid, LESION, surface])).delaunay_3d()
    mesh = pv.UnstructuredGrid({pv.CellType.TETRA: mesh.cell_connectivity.reshape(-1, 4)}, mesh.points)
    centres = mesh.cell_centers().points
    r = np.linalg.norm(centres, axis=1)
    chi_cell = np.exp(-np.sum((centres - LESION) ** 2, axis=1) / (2 * 0.006**2))
    mesh.point_data["p_mmHg"] = _pressure(mesh.points)
    mesh.point_data["u_m"] = 1e-5 * mesh.points / RADIUS
    mesh.point_data["chi"] = np.exp(-np.sum((mesh.points - LESION) ** 2, axis=1) / (2 * 0.006**2))
    mesh.cell_data["region"] = np.where(r > 0.022, 2, np.where((r > 0.020) & (centres[:, 2] > 0), 3, 1))
    trabecular = mesh.cell_data["region"] == 1
    mesh.cell_data["R"] = np.where(trabecular, 0.3 + chi_cell, np.nan)
    for name, scale in (("eps1", 1e-3), ("eps2", 0.0), ("eps3", -1.5e-3)):
        mesh.cell_data[name] = scale * (1 + chi_cell)
    return mesh


def write_case(folder: Path, grid: pv.UnstructuredGrid, case: str = "ball") -> Path:
    """A case folder as bmes run writes it, around a synthetic grid (articular cap: the sphere's top)."""
    folder.mkdir(parents=True)
    grid.save(folder / "fields.vtu")
    skin = grid.extract_surface(algorithm="dataset_surface").triangulate()
    cap = skin.extract_cells(skin.cell_centers().points[:, 2] > 0).extract_surface(algorithm="dataset_surface")
    triangles = cap.points[cap.regular_faces]
    surface_polydata(triangles).save(folder / SURFACE_FILE)
    volumes = grid.compute_cell_sizes(length=False, area=False)["Volume"]
    centres, tets = grid.cell_centers().points, grid.cell_connectivity.reshape(-1, 4)
    p_cell = grid.point_data_to_cell_data(pass_point_data=False)["p_mmHg"]
    names = {1: "trabecular", 2: "cortical", 3: "subchondral_plate"}

    def clusters(in_zone, value):
        labels = facet_components(tets[in_zone])
        return describe_clusters(labels, centres[in_zone], volumes[in_zone], value[in_zone], grid["region"][in_zone], names, triangles)

    with np.errstate(invalid="ignore"):
        risk = {f"{c:g}": clusters(grid["R"] >= c, grid["R"]) for c in (1.0, 0.5)}
    write_clusters_csv(folder / RISK_CLUSTERS_FILE, risk, "R_crit", "peak_R")
    pressure = {f"{t:g}": clusters(p_cell > t, p_cell) for t in (30.0, 40.0)}
    write_clusters_csv(folder / PRESSURE_CLUSTERS_FILE, pressure, "p_threshold_mmHg", "peak_p_mmHg")
    config = parse_config({"case": case, "lesions": [{"centre": LESION.tolist()}]})
    (folder / "config.resolved.yaml").write_text(config.to_yaml())
    regions = {"trabecular": 1, "cortical": 2, "subchondral_plate": 3}
    from importlib.metadata import version

    (folder / "summary.json").write_text(json.dumps({"bmes_fem_version": version("bmes_fem"), "regions": regions}))
    return folder


@pytest.fixture(scope="module")
def ball_case(tmp_path_factory) -> Path:
    return write_case(tmp_path_factory.mktemp("results") / "ball", ball_grid())


def _colormap_value(rgb: np.ndarray, cmap: str) -> float:
    """Position in [0, 1] of the colormap entry nearest to an RGB colour in [0, 1]."""
    table = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]
    return float(np.argmin(np.sum((table - rgb) ** 2, axis=1)) / 255)


def _value_at(image: np.ndarray, px, cmap: str) -> float:
    """Median colormap position over a 5x5 patch around pixel (column, row)."""
    col, row = np.rint(px).astype(int)
    patch = image[row - 2 : row + 3, col - 2 : col + 3].reshape(-1, 3)
    return float(np.median([_colormap_value(rgb, cmap) for rgb in patch]))


def test_cutaway_colours_lesion_high_and_far_field_low(ball_case, tmp_path):
    kwargs = dict(plane_origin_m=LESION, plane_normal=NORMAL, window_size=(800, 600))
    fields = load_fields(ball_case / "fields.vtu")
    png = render.render_cutaway(fields, tmp_path / "cut.png", title="synthetic ball", **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.png"]  # no temporary left behind
    image = matplotlib.image.imread(png)[:, :, :3]
    assert image.shape == (600, 800, 3)
    assert np.allclose(image[5, 5], 1.0)  # white background behind the ghost layer

    plotter = render.cutaway_scene(fields, PRESSURE, LESION, NORMAL, None, (800, 600), "")
    try:
        plotter.render()
        lesion_px, far_px = render.project_to_pixels(plotter, [LESION, FAR])
        assert plotter.scalar_bar.GetTitle().strip() == "Interstitial pressure [mmHg]"
    finally:
        plotter.close()
    assert _value_at(image, lesion_px, PRESSURE.cmap) > 0.8
    assert _value_at(image, far_px, PRESSURE.cmap) < 0.2


@pytest.mark.parametrize("view", render.VIEWS)
def test_every_view_renders_with_unit_on_every_colour_bar(ball_case, view):
    plotter = render.build_view(load_case(ball_case), view, "lateral", window_size=(640, 480))
    try:
        image = plotter.screenshot(return_img=True)
        titles = [bar.GetTitle() for bar in plotter.scalar_bars.values()]
    finally:
        plotter.close()
    assert titles and all(re.search(r"\[.+\]", title) for title in titles), titles
    assert image.std() > 10  # not a blank picture


def test_isosurface_colour_is_the_threshold_on_the_pressure_scale(ball_case):
    """The 30 and 40 mmHg isosurfaces (p = 25..45 mmHg): their pixels sit at 0.25 and 0.75 of the colormap."""
    case = load_case(ball_case)
    plotter = render.build_view(case, "isosurfaces", "anterior", window_size=(800, 600))
    try:
        image = plotter.screenshot(return_img=True)[:, :, :3] / 255
        low, high = plotter.scalar_bar.GetLookupTable().GetRange()
    finally:
        plotter.close()
    expected = [(level - low) / (high - low) for level in (30.0, 40.0)]
    saturated = image[(image.max(axis=2) - image.min(axis=2)) > 0.25]  # coloured, not grey bone or text
    positions = np.array([_colormap_value(rgb, PRESSURE.cmap) for rgb in saturated[:: max(1, len(saturated) // 2000)]])
    for value in expected:
        assert np.mean(np.abs(positions - value) < 0.12) > 0.05, value


def test_render_case_writes_named_pngs_for_each_camera(ball_case):
    paths = render.render_case(ball_case, ["clusters", "slices"], ["anterior", "superior"])
    names = sorted(p.name for p in paths)
    assert names == ["clusters_anterior.png", "clusters_superior.png", "slices.png"]
    for path in paths:
        assert matplotlib.image.imread(path).std() > 0.05


def test_risk_zone_is_the_contour_of_the_nodal_risk_index(ball_case):
    """The drawn zone is clipped at R = 0.5 of the vertex-averaged R: most of its surface lies on that
    contour (not on cell faces), and the legend names only what is drawn, with the clusters numbered."""
    case = load_case(ball_case)
    surface = render.zone_surface_mm(case, 0.5)
    on_contour = np.abs(surface.point_data["R"] - 0.5) < 1e-9
    assert surface.n_cells > 0 and on_contour.mean() > 0.5
    plotter = render.build_view(case, "clusters", "anterior", window_size=(640, 480))
    try:
        texts = [actor.GetInput() for actor in plotter.renderer.actors.values() if hasattr(actor, "GetInput")]
    finally:
        plotter.close()
    for label in ("bone (translucent)", "subchondral plate", "articular surface", "risk zone R >= 0.5"):
        assert label in texts, texts
    no_plate = write_case(ball_case.parent / "no_plate", ball_grid().extract_cells(ball_grid()["region"] != 3).cast_to_unstructured_grid())
    plotter = render.build_view(load_case(no_plate), "clusters", "anterior", window_size=(640, 480))
    try:
        texts = [actor.GetInput() for actor in plotter.renderer.actors.values() if hasattr(actor, "GetInput")]
    finally:
        plotter.close()
    assert "subchondral plate" not in texts and "risk zone R >= 0.5" in texts


def test_deformation_scale_is_a_round_factor_stated_in_the_title():
    assert render.deformation_scale(0.22, 60.0) == 20.0
    assert render.deformation_scale(0.001, 50.0) == 2000.0
    assert render.deformation_scale(0.0, 50.0) == 1.0


def test_comparison_shares_limits_and_interpolates_another_mesh(ball_case, tmp_path):
    other = ball_grid(spacing_m=0.003, seed=1)
    other.point_data["p_mmHg"] = other.point_data["p_mmHg"] + 2.0
    case_b = write_case(tmp_path / "ball_b", other, case="ball_b")
    a, b = load_case(ball_case), load_case(case_b)
    assert same_mesh(a.fields, a.fields) and not same_mesh(a.fields, b.fields)
    difference = values_on(a.fields, b.fields, "pressure") - PRESSURE.values(a.fields)
    inside = np.isfinite(difference)
    assert inside.mean() > 0.95
    assert np.median(difference[inside]) == pytest.approx(2.0, abs=0.1)  # P1 interpolation error << 2 mmHg
    plotter = comparison_scene(a, b)
    try:
        plotter.render()
        mappers = [actor.GetMapper() for r in plotter.renderers for actor in r.actors.values()]
        ranges = [m.GetScalarRange() for m in mappers if m is not None and m.GetArrayName() in ("A", "B")]
    finally:
        plotter.close()
    assert len(ranges) == 2 and ranges[0] == ranges[1]
    assert ranges[0][1] == pytest.approx(PRESSURE.values(b.fields).max())


def test_scene_html_embeds_the_scene_and_needs_no_network(ball_case, tmp_path):
    html = render.export_scene_html(load_case(ball_case), tmp_path / "scene.html").read_text()
    assert not re.search(r"""<script[^>]+src=["']https?:""", html)  # viewer inline, nothing fetched
    encoded = re.search(r'const base64Str = "([A-Za-z0-9+/=]+)"', html).group(1)
    index = json.loads(zipfile.ZipFile(io.BytesIO(base64.b64decode(encoded))).read("index.json"))
    points = [entry for entry in index["hashes"].values() if entry["vtk"] == "vtkPoints"]
    assert index["scene"]["type"].endswith("RenderWindow")
    assert len(points) >= 4  # bone, isosurfaces at 30 and 40 mmHg, risk zone
    assert all(len(base64.b64decode(entry["content"])) > 0 for entry in points)


def test_incomplete_or_incompatible_folder_and_unknown_names_raise(ball_case, tmp_path):
    with pytest.raises(BmesError, match=r"nope does not exist"):
        load_case(tmp_path / "nope")
    partial = tmp_path / "partial"
    shutil.copytree(ball_case, partial)
    (partial / RISK_CLUSTERS_FILE).unlink()
    with pytest.raises(BmesError, match=rf"{partial} is incomplete: missing {RISK_CLUSTERS_FILE}"):
        render.render_case(partial)
    old = tmp_path / "old"
    shutil.copytree(ball_case, old)
    (old / "summary.json").write_text(json.dumps({"bmes_fem_version": "0.0.1", "regions": {}}))
    with pytest.raises(BmesError, match=r"summary.json: bmes_fem_version = '0.0.1' is incompatible.*expected"):
        load_case(old)
    with pytest.raises(BmesError, match=r"unknown view 'sideways' \(expected one of: cutaway, slices"):
        render.render_case(ball_case, ["sideways"])
    with pytest.raises(BmesError, match=r"unknown camera 'posterior' \(expected one of: anterior, lateral, superior\)"):
        render.render_case(ball_case, ["clusters"], ["posterior"])


def test_show_without_a_display_says_what_to_do(ball_case, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(BmesError, match=r"no display.*bmes render.*scene.html"):
        render.show_case(ball_case)
