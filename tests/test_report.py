"""The report of a solved case: cluster tables agree with the zone volumes of the summary, figures by pixels."""

from __future__ import annotations

import csv

import matplotlib.image
import numpy as np
import pytest
from mpi4py import MPI

from bmes_fem.api import run_case
from bmes_fem.config.loader import load_config
from bmes_fem.output.files import PRESSURE_CLUSTERS_FILE, RISK_CLUSTERS_FILE
from bmes_fem.view import render
from bmes_fem.view.results import load_case
from bmes_fem.view.variables import VARIABLES


def _run(config_file: str, results_dir, figures: bool):
    config = load_config(config_file, {"output": {"results_dir": str(results_dir), "figures": figures}})
    return run_case(config)


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    results = MPI.COMM_WORLD.bcast(str(tmp_path_factory.mktemp("results")) if MPI.COMM_WORLD.rank == 0 else None)
    return _run("configs/femoral_head_coarse.yaml", results, figures=MPI.COMM_WORLD.size == 1)


@pytest.mark.mpi
def test_cluster_tables_match_the_zone_volumes_of_post(coarse):
    """Risk clusters partition the zone post.py integrates: same total volume; p clusters near the p volume."""
    summary = coarse.summary
    for key, totals in summary["clusters"]["risk"].items():
        critical = key.removeprefix("R_ge_")
        assert totals["volume_mm3"] == pytest.approx(summary["mechanics"][f"risk_zone_volume_R_ge_{critical}_mm3"], rel=1e-9)
    for key, totals in summary["clusters"]["pressure"].items():
        quadrature = summary["pressure"][f"volume_{key.removeprefix('p_')}_mm3".replace("above_", "p_above_")]
        assert totals["volume_mm3"] == pytest.approx(quadrature, rel=0.15, abs=50.0)  # cell means vs points
    if MPI.COMM_WORLD.rank == 0:
        rows = list(csv.DictReader((coarse.case_dir / RISK_CLUSTERS_FILE).open()))
        for critical in {row["R_crit"] for row in rows}:
            volume = sum(float(r["volume_mm3"]) for r in rows if r["R_crit"] == critical)
            assert volume == pytest.approx(summary["clusters"]["risk"][f"R_ge_{critical}"]["volume_mm3"], rel=1e-5)
        assert (coarse.case_dir / PRESSURE_CLUSTERS_FILE).read_text().startswith("p_threshold_mmHg,label,cells")
        for row in rows:
            assert 0 <= float(row["shallowest_depth_mm"]) <= float(row["depth_mm"])


def test_case_folder_holds_tables_figures_and_reloads(coarse):
    folder = coarse.case_dir
    for name in coarse.summary["figures"]:
        assert (folder / name).stat().st_size > 0, name
    case = load_case(folder)
    assert case.regions == {"trabecular": 1, "cortical": 2, "subchondral_plate": 3}
    assert case.surface.n_cells > 0


def _cutaway_lesion_and_far_field(case_dir):
    """Colormap positions of the rendered cut-away at the lesion centre and at a healthy point 2/3 of a radius away."""
    case = load_case(case_dir)
    centre = np.array(render.lesion_centre_m(case.config))
    head = np.array(case.config.load.head_centre)
    far = head - 0.6 * (centre - head) / np.linalg.norm(centre - head) * case.config.geometry.head_radius
    far[1] = centre[1]  # in the cut plane
    image = matplotlib.image.imread(case_dir / render.figure_path("cutaway", "anterior"))[:, :, :3]
    plotter = render.build_view(case, "cutaway")
    try:
        plotter.render()
        pixels = render.project_to_pixels(plotter, [centre, far])
    finally:
        plotter.close()
    table = matplotlib.colormaps[VARIABLES["pressure"].cmap](np.linspace(0, 1, 256))[:, :3]

    def value(px):
        col, row = np.rint(px).astype(int)
        patch = image[row - 2 : row + 3, col - 2 : col + 3].reshape(-1, 3)
        return float(np.median([np.argmin(np.sum((table - rgb) ** 2, axis=1)) / 255 for rgb in patch]))

    return value(pixels[0]), value(pixels[1])


def test_coarse_cutaway_is_high_in_the_lesion_and_low_far_away(coarse):
    lesion, far = _cutaway_lesion_and_far_field(coarse.case_dir)
    print(f"colormap position: lesion {lesion:.2f}, far field {far:.2f}")
    assert lesion > 0.75 and far < 0.35


@pytest.mark.slow
def test_default_case_cutaway_is_high_in_the_lesion_and_low_far_away(tmp_path):
    result = _run("configs/femoral_head_bmes.yaml", tmp_path, figures=True)
    lesion, far = _cutaway_lesion_and_far_field(result.case_dir)
    print(f"colormap position: lesion {lesion:.2f}, far field {far:.2f}")
    assert lesion > 0.75 and far < 0.35
