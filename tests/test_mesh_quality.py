"""Mesh quality report, the default head's quality, mesh levels, articular refinement, saved-mesh reuse and units."""

import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

# isort: split
import math

import dolfinx.fem
import gmsh
import numpy as np
import pytest
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.config.geometry import BoxGeometry, MeshSettings, SphereGeometry
from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.build import build_domain, mesh_sizes
from bmes_fem.mesh.meshing import MeshSizes
from bmes_fem.mesh.quality import mesh_quality, mesh_report, tetra_quality
from bmes_fem.mesh.shapes import mesh_shape

BOX_M = (0.02, 0.01, 0.015)
# the default case (configs/femoral_head_bmes.yaml: 3 mm, lesion 1.5 mm) before its mesh was optimised
SLIVER_MESH_DOFS_PRESSURE, SLIVER_MESH_DOFS_DISPLACEMENT = 6451, 149112


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
    domain = mesh_shape(MPI.COMM_WORLD, BoxGeometry(lengths=BOX_M), MeshSizes(0.004))
    report = mesh_quality(domain)
    assert report["worst_cell_region"] == "trabecular"
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
    assert distributed["worst_cell_region"] == serial["worst_cell_region"] in serial["regions"]


def test_default_head_mesh_has_no_slivers_within_the_dof_budget():
    """Thin shells (1 mm plate, 1.5 mm cortex) and the step where they meet are meshed without slivers,
    with at most 1.5 x the DOFs of the sliver mesh."""
    config = _config()
    assert (config.mesh.size, config.mesh.lesion_size, config.geometry.subchondral_thickness) == (0.003, 0.0015, 0.001)
    domain = build_domain(config, MPI.COMM_WORLD)
    report = mesh_quality(domain)
    assert report["dihedral_angle_min_deg"] >= 10.0
    assert report["radius_ratio_min"] >= 0.1
    displacement_space = dolfinx.fem.functionspace(domain.mesh, ("Lagrange", 2, (3,)))
    displacement_dofs = displacement_space.dofmap.index_map.size_global * displacement_space.dofmap.index_map_bs
    assert report["vertices"] <= 1.5 * SLIVER_MESH_DOFS_PRESSURE
    assert displacement_dofs <= 1.5 * SLIVER_MESH_DOFS_DISPLACEMENT
    assert report["worst_cell_region"] in {"trabecular", "cortical", "subchondral_plate"}


def test_level_divides_sizes_by_the_factor():
    """Every size (global, lesion, thin bone layers, layer junction) shrinks by the factor; in a shape
    without thin layers halving the sizes gives ~8x cells (built without boundary conditions)."""
    coarse = mesh_sizes(_config(mesh={"size": "6 mm", "lesion_size": "4 mm"}))
    fine = mesh_sizes(_config(mesh={"size": "6 mm", "lesion_size": "4 mm", "level": 1}))
    assert (fine.global_m, fine.zones[0].mesh_size_m, fine.junction_m) == pytest.approx((0.003, 0.002, 0.00075))
    assert {r.region: r.mesh_size_m for r in fine.regions} == pytest.approx({"cortical": 0.00225, "subchondral_plate": 0.0015})
    assert coarse.junction_m == pytest.approx(2 * fine.junction_m)
    ball = SphereGeometry(radius=0.02)
    cells = [
        mesh_report(Config.model_construct(geometry=ball, mesh=MeshSettings(size=0.006, lesion_size=0.006, level=level)))["cells"]
        for level in (0, 1)
    ]
    assert 5 < cells[1] / cells[0] < 11


def _cells_below_m(domain, axis: np.ndarray, plane_m: float) -> int:
    """Owned cells whose midpoint x has axis . x < plane_m, over all ranks."""
    mesh = domain.mesh
    cells = np.arange(mesh.topology.index_map(3).size_local, dtype=np.int32)
    below = np.count_nonzero(dolfinx.mesh.compute_midpoints(mesh, 3, cells) @ axis < plane_m)
    return mesh.comm.allreduce(int(below), op=MPI.SUM)


def test_articular_refinement_adds_cells_under_the_cartilage():
    """1 mm within 2 mm of the cartilage: the plate (3 mm, 3 x its thickness, without) gets > 5x the cells,
    while the cells more than 2 depth + size below the cartilage edge plane stay within 10 %."""
    sizes = {"size": "5 mm", "lesion_size": "5 mm"}
    configs = [_config(mesh={**sizes, **extra}) for extra in ({}, {"articular_size": "1 mm", "articular_depth": "2 mm"})]
    plain, refined = (build_domain(config) for config in configs)
    assert mesh_sizes(configs[0]).regions[1].mesh_size_m == pytest.approx(0.003)
    plate_plain, plate_refined = (mesh_quality(d)["regions"]["subchondral_plate"]["cells"] for d in (plain, refined))
    assert plate_refined > 5 * plate_plain
    head = configs[0].geometry
    far_m = head.head_radius * math.cos(head.articular_half_angle) - (2 * 0.002 + 0.005)
    far_plain, far_refined = (_cells_below_m(d, np.array(head.neck_axis()), far_m) for d in (plain, refined))
    assert far_refined == pytest.approx(far_plain, rel=0.10)


@pytest.mark.mpi
def test_saved_mesh_is_reused_without_remeshing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") if MPI.COMM_WORLD.rank == 0 else None
    path = MPI.COMM_WORLD.bcast(str(folder / "head.msh") if folder else None, root=0)
    original = mesh_quality(build_domain(_config(mesh={"size": "6 mm", "lesion_size": "4 mm", "save": path})))
    for unit in ({"unit": "mm"}, {}):  # mm given, or left out (checked)
        reused = mesh_quality(build_domain(_config(geometry={"kind": "gmsh_file", "path": path, **unit})))
        assert reused["cells"] == original["cells"]
        for name, region in original["regions"].items():
            assert reused["regions"][name]["volume_mm3"] == pytest.approx(region["volume_mm3"], rel=1e-12)


def _scaled_copy(source: str, target: str, factor: float) -> None:
    """The .msh file ``source`` with every coordinate multiplied by ``factor``, written to ``target``."""
    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.open(source)
        gmsh.model.mesh.affineTransform([factor, 0, 0, 0, 0, factor, 0, 0, 0, 0, factor, 0])
        gmsh.write(target)
    finally:
        gmsh.finalize()


def test_unit_left_out_checks_the_extent_and_an_explicit_unit_does_not(tmp_path):
    in_mm, in_m = str(tmp_path / "head.msh"), str(tmp_path / "head_m.msh")
    original = mesh_quality(build_domain(_config(mesh={"size": "6 mm", "lesion_size": "6 mm", "save": in_mm}), MPI.COMM_SELF))
    _scaled_copy(in_mm, in_m, 1e-3)
    with pytest.raises(ConfigError, match=r"geometry\.unit is not set.*head_m\.msh.* spans 0\.0\d+ x .* mm; expected a bone "
                                          r"5 mm to 600 mm across \(is the unit 'm'\? set geometry\.unit: m"):
        build_domain(_config(geometry={"kind": "gmsh_file", "path": in_m}), MPI.COMM_SELF)
    for path, unit, volume_factor in ((in_m, "m", 1.0), (in_mm, "m", 1e9), (in_mm, "cm", 1e3)):  # a 70 m head loads too
        read = mesh_quality(build_domain(_config(geometry={"kind": "gmsh_file", "path": path, "unit": unit}), MPI.COMM_SELF))
        assert read["volume_mm3"] == pytest.approx(volume_factor * original["volume_mm3"], rel=1e-12)
