"""Mesh quality report, mesh levels, articular refinement, saved-mesh reuse and the unit check."""

import bmes_fem  # noqa: F401  (imports dolfinx_solver before dolfinx)

# isort: split
import math

import numpy as np
import pytest
from mpi4py import MPI

from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.build import build_domain
from bmes_fem.mesh.quality import mesh_quality, mesh_report, tetra_quality
from bmes_fem.mesh.shapes import box

BOX_M = (0.02, 0.01, 0.015)


def _config(**overrides):
    return parse_config(overrides)


def test_regular_tetrahedron_has_ideal_quality():
    corners = np.array([[[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]], dtype=float)
    low, high, ratio = tetra_quality(corners)
    assert low[0] == pytest.approx(math.degrees(math.acos(1 / 3)), rel=1e-12)
    assert high[0] == pytest.approx(low[0], rel=1e-12)
    assert ratio[0] == pytest.approx(1.0, rel=1e-12)


def test_sliver_has_small_radius_ratio_and_extreme_angles():
    corners = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.01]]], dtype=float)
    low, high, ratio = tetra_quality(corners)
    assert ratio[0] < 0.05 and low[0] < 2.0 and high[0] > 178.0


@pytest.mark.mpi
def test_box_report_counts_and_volume():
    domain = box(MPI.COMM_WORLD, lengths_m=BOX_M, mesh_size_m=0.004)
    report = mesh_quality(domain)
    trabecular = report["regions"]["trabecular"]
    assert trabecular["cells"] == report["cells"] and trabecular["vertices"] == report["vertices"]
    assert report["volume_mm3"] == pytest.approx(np.prod(BOX_M) * 1e9, rel=1e-12)
    assert 0 < report["dihedral_angle_min_deg"] < 70.53 < report["dihedral_angle_max_deg"] < 180
    assert 0 < report["radius_ratio_min"] <= report["radius_ratio_mean"] < 1


@pytest.mark.mpi
def test_report_is_independent_of_comm_size():
    config = _config(mesh={"size": "6 mm", "lesion_size": "4 mm"})
    distributed = mesh_report(config, MPI.COMM_WORLD)
    serial = mesh_report(config, MPI.COMM_SELF)
    assert set(distributed["regions"]) == {"trabecular", "cortical", "subchondral_plate"}
    for name, region in serial["regions"].items():
        assert distributed["regions"][name]["cells"] == region["cells"]
        assert distributed["regions"][name]["vertices"] == region["vertices"]
        assert distributed["regions"][name]["volume_mm3"] == pytest.approx(region["volume_mm3"], rel=1e-12)
    for key in ("dihedral_angle_min_deg", "dihedral_angle_max_deg", "radius_ratio_min", "worst_cell_midpoint_mm"):
        assert distributed[key] == pytest.approx(serial[key], rel=1e-12)


def test_level_divides_sizes_by_the_factor():
    coarse = mesh_report(_config(mesh={"size": "6 mm", "lesion_size": "6 mm"}), MPI.COMM_WORLD)
    fine = mesh_report(_config(mesh={"size": "6 mm", "lesion_size": "6 mm", "level": 1}), MPI.COMM_WORLD)
    assert fine["size_mm"] == pytest.approx(3.0) and fine["lesion_size_mm"] == [pytest.approx(3.0)]
    assert 5 < fine["cells"] / coarse["cells"] < 11  # halving the size: ~8x cells in 3D


def test_articular_refinement_adds_cells_under_the_cartilage():
    plain = mesh_report(_config(mesh={"size": "5 mm", "lesion_size": "5 mm"}), MPI.COMM_WORLD)
    refined = mesh_report(
        _config(mesh={"size": "5 mm", "lesion_size": "5 mm", "articular_size": "1.5 mm", "articular_depth": "2 mm"}),
        MPI.COMM_WORLD,
    )
    assert refined["articular_size_mm"] == pytest.approx(1.5)
    plate_plain, plate_refined = (r["regions"]["subchondral_plate"]["cells"] for r in (plain, refined))
    trab_plain, trab_refined = (r["regions"]["trabecular"]["cells"] for r in (plain, refined))
    assert plate_refined > 5 * plate_plain
    assert plate_refined / plate_plain > 2 * trab_refined / trab_plain  # the refinement is local


@pytest.mark.mpi
def test_saved_mesh_is_reused_without_remeshing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") if MPI.COMM_WORLD.rank == 0 else None
    path = MPI.COMM_WORLD.bcast(str(folder / "head.msh") if folder else None, root=0)
    original = mesh_quality(build_domain(_config(mesh={"size": "6 mm", "lesion_size": "4 mm", "save": path})))
    reused = mesh_quality(build_domain(_config(geometry={"kind": "gmsh_file", "path": path, "unit": "mm"})))
    assert reused["cells"] == original["cells"]
    for name, region in original["regions"].items():
        assert reused["regions"][name]["volume_mm3"] == pytest.approx(region["volume_mm3"], rel=1e-12)


def test_gmsh_file_with_wrong_unit_is_a_config_error(tmp_path):
    path = str(tmp_path / "head.msh")
    build_domain(_config(mesh={"size": "6 mm", "lesion_size": "6 mm", "save": path}), MPI.COMM_SELF)
    with pytest.raises(ConfigError, match=r"geometry\.unit = 'm'.*head\.msh.*is the unit 'mm'\?"):
        build_domain(_config(geometry={"kind": "gmsh_file", "path": path, "unit": "m"}), MPI.COMM_SELF)
