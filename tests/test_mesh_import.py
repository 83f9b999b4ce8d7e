"""Import paths: meshio files with a tag map (round trip through VTU), closed STL surfaces, and bad input."""

import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

# isort: split
import math

import dolfinx.fem
import meshio
import numpy as np
import pytest
import ufl
from mpi4py import MPI

from bmes_fem.api import run_case
from bmes_fem.config.geometry import FemoralHeadGeometry, MeshFile, MeshioFile, StlSurface
from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError, MeshError
from bmes_fem.mesh.build import build_domain
from bmes_fem.mesh.importers import read_meshio_file, read_stl_surface
from bmes_fem.mesh.meshing import MeshSizes
from bmes_fem.mesh.quality import mesh_quality

AXIS = list(FemoralHeadGeometry().neck_axis())
TAG_MAP = {
    "regions": {"trabecular": 1, "cortical": 2, "subchondral_plate": 3},
    "boundaries": {"articular": 11, "periosteal": 12, "cut": 13},
}
STL_BOUNDARIES = {  # the head's cartilage cap (80 deg half angle) and the flat neck cut
    "articular": [
        {"kind": "normal_cone", "axis": AXIS, "half_angle": "81 deg"},
        {"kind": "sphere", "centre": [0, 0, 0], "radius": "24.5 mm"},
    ],
    "cut": [{"kind": "normal_cone", "axis": [-v for v in AXIS], "half_angle": "1 deg"}],
}
COARSE = {"size": "5 mm", "lesion_size": "2.5 mm"}


def _case(tmp_path, name, **overrides):
    return parse_config(
        {"case": name, "output": {"results_dir": str(tmp_path), "figures": False}, "solver": {"preset": "direct"}, **overrides}
    )


def _coarse_head_config(tmp_path, name="parametric", **overrides):
    return _case(tmp_path, name, mesh=COARSE, **overrides)


@pytest.fixture(scope="module")
def head_files(tmp_path_factory):
    """The coarse default head case's mesh saved as .msh, converted to VTU (tags in 'tag') and STL (outer surface)."""
    folder = tmp_path_factory.mktemp("head")
    msh = folder / "head.msh"
    build_domain(_case(folder, "save", mesh={**COARSE, "save": str(msh)}), MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        mesh = meshio.read(msh)
        meshio.write(folder / "head.vtu", meshio.Mesh(mesh.points, mesh.cells, cell_data={"tag": mesh.cell_data["gmsh:physical"]}))
        triangles = np.concatenate([c.data for c in mesh.cells if c.type == "triangle"])
        meshio.write(folder / "head.stl", meshio.Mesh(mesh.points, [("triangle", triangles)]))
        meshio.write(folder / "open.stl", meshio.Mesh(mesh.points, [("triangle", triangles[1:])]))
    MPI.COMM_WORLD.barrier()
    return folder


def _mesh_file(path, tag_map=TAG_MAP, unit=None):
    return MeshioFile(kind="mesh_file", path=path, unit=unit, tag_map=tag_map)


def _scalars(summary: dict) -> dict[str, float]:
    """Flatten the pressure and mechanics sections into name -> float."""
    flat = {}
    for section in ("pressure", "mechanics"):
        for key, value in summary[section].items():
            for i, v in enumerate(np.atleast_1d(value)):
                flat[f"{section}.{key}.{i}"] = float(v)
    return flat


def test_vtu_round_trip_gives_the_same_summary(head_files, tmp_path):
    parametric = run_case(_coarse_head_config(tmp_path))
    geometry = {"kind": "mesh_file", "path": str(head_files / "head.vtu"), "unit": "mm", "tag_map": TAG_MAP}
    imported = run_case(_coarse_head_config(tmp_path, "imported", geometry=geometry))
    assert imported.summary["mesh"] == parametric.summary["mesh"]
    expected, got = _scalars(parametric.summary), _scalars(imported.summary)
    scale = {key: max(abs(v) for k, v in expected.items() if k.rsplit(".", 1)[0] == key.rsplit(".", 1)[0]) for key in expected}
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-10, abs=1e-10 * scale[key]), key


@pytest.mark.mpi
def test_vtu_import_keeps_region_cells_and_volumes(head_files):
    parametric = mesh_quality(build_domain(_coarse_head_config(head_files), MPI.COMM_WORLD))
    imported = mesh_quality(read_meshio_file(MPI.COMM_WORLD, _mesh_file(head_files / "head.vtu")))
    for name, region in parametric["regions"].items():
        assert imported["regions"][name]["cells"] == region["cells"]
        assert imported["regions"][name]["volume_mm3"] == pytest.approx(region["volume_mm3"], rel=1e-12)
    assert imported["boundaries"] == ["articular", "cut", "periosteal"]


def test_missing_tag_in_map_names_key_value_and_file(head_files):
    tag_map = {**TAG_MAP, "regions": {**TAG_MAP["regions"], "cortical": [2, 7]}}
    with pytest.raises(MeshError, match=r"geometry\.tag_map\.regions\.cortical = \[2, 7\]: tag\(s\) \[7\]") as info:
        read_meshio_file(MPI.COMM_WORLD, _mesh_file(head_files / "head.vtu", tag_map))
    assert "head.vtu" in str(info.value)


def test_unmapped_volume_tag_is_an_error(head_files):
    tag_map = {**TAG_MAP, "regions": {"trabecular": 1, "cortical": 2}}
    with pytest.raises(MeshError, match=r"tags \[3\] are in no geometry\.tag_map\.regions entry"):
        read_meshio_file(MPI.COMM_WORLD, _mesh_file(head_files / "head.vtu", tag_map))


def test_unit_left_out_is_checked_and_suggested(head_files, tmp_path):
    """A file in metres read without ``unit`` (as mm) is 0.07 mm across: the error suggests 'm'; with
    ``unit: m`` it loads, and ``unit: m`` on the mm file gives a 70 m bone without complaint."""
    mesh = meshio.read(head_files / "head.vtu")
    in_m = tmp_path / "head_m.vtu"
    if MPI.COMM_WORLD.rank == 0:
        meshio.write(in_m, meshio.Mesh(mesh.points * 1e-3, mesh.cells, cell_data=mesh.cell_data))
    MPI.COMM_WORLD.barrier()
    with pytest.raises(ConfigError, match=r"geometry\.unit is not set, so mesh '.*head_m\.vtu' is read in mm and spans "
                                          r"0\.0\d+ x .* mm.*\(is the unit 'm'\? set geometry\.unit: m"):
        read_meshio_file(MPI.COMM_WORLD, _mesh_file(in_m))
    in_mm = mesh_quality(read_meshio_file(MPI.COMM_WORLD, _mesh_file(head_files / "head.vtu")))["volume_mm3"]
    for path, unit, volume_factor in ((in_m, "m", 1.0), (head_files / "head.vtu", "m", 1e9)):
        volume_mm3 = mesh_quality(read_meshio_file(MPI.COMM_WORLD, _mesh_file(path, unit=unit)))["volume_mm3"]
        assert volume_mm3 == pytest.approx(volume_factor * in_mm, rel=1e-12)


@pytest.mark.parametrize("key", ["regions", "boundaries"])
def test_a_tag_with_two_names_is_a_config_error(key):
    names = {"regions": {"trabecular": 1, "cortical": [2, 3], "subchondral_plate": 3}, "boundaries": {"articular": 11, "cut": 11}}
    tag_map = {**TAG_MAP, key: names[key]}
    geometry = {"kind": "mesh_file", "path": "head.vtu", "tag_map": tag_map}
    tag, first, second = (3, "cortical", "subchondral_plate") if key == "regions" else (11, "articular", "cut")
    with pytest.raises(ConfigError, match=rf"^case\.yaml: geometry\.tag_map\.{key}: tag {tag} is mapped to both '{first}' and '{second}'"):
        parse_config({"geometry": geometry}, "case.yaml")


def test_file_kinds_list_the_boundary_names_they_know_at_load_time():
    assert MeshFile(kind="gmsh_file", path="head.msh").boundary_names() is None  # in the file
    assert _mesh_file("head.vtu").boundary_names() == ("articular", "periosteal", "cut")
    stl = StlSurface(kind="stl_surface", path="head.stl", boundaries=STL_BOUNDARIES)
    assert stl.boundary_names() == ("articular", "cut", "periosteal")


def test_inverted_cell_is_an_error(tmp_path):
    points = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10], [0, 0, -10]], dtype=float)
    cells = np.array([[0, 1, 2, 3], [0, 1, 2, 4], [0, 2, 1, 4]])  # cell 1 is numbered the wrong way round
    path = tmp_path / "inverted.vtu"
    if MPI.COMM_WORLD.rank == 0:
        meshio.write(path, meshio.Mesh(points, [("tetra", cells)], cell_data={"tag": [np.ones(3, dtype=np.int32)]}))
    MPI.COMM_WORLD.barrier()
    with pytest.raises(MeshError, match=r"inverted\.vtu.*1 inverted tetrahedra \(first: \[1\]\) of 3"):
        read_meshio_file(MPI.COMM_WORLD, _mesh_file(path, {"regions": {"trabecular": 1}}))


def test_open_stl_is_an_error(head_files):
    geometry = StlSurface(kind="stl_surface", path=head_files / "open.stl", boundaries=STL_BOUNDARIES)
    with pytest.raises(MeshError, match=r"open\.stl.*not a closed surface: 3 edges belong to one triangle only"):
        read_stl_surface(MPI.COMM_WORLD, geometry, MeshSizes(0.005))


@pytest.mark.mpi
def test_stl_boundaries_follow_the_rules(head_files):
    geometry = StlSurface(kind="stl_surface", path=head_files / "head.stl", boundaries=STL_BOUNDARIES)
    domain = read_stl_surface(MPI.COMM_WORLD, geometry, MeshSizes(0.005))
    quality = mesh_quality(domain)
    assert list(quality["regions"]) == ["trabecular"]
    imported = mesh_quality(read_meshio_file(MPI.COMM_WORLD, _mesh_file(head_files / "head.vtu")))
    assert quality["volume_mm3"] == pytest.approx(imported["volume_mm3"], rel=1e-9)  # same closed surface
    cap_m2 = 2 * math.pi * 0.024**2 * (1 - math.cos(math.radians(80.0)))
    assert _area_m2(domain, "articular") == pytest.approx(cap_m2, rel=0.03)
    assert _area_m2(domain, "cut") == pytest.approx(math.pi * 0.016**2, rel=0.03)


def _area_m2(domain, name: str) -> float:
    ds = ufl.Measure("ds", domain.mesh, subdomain_data=domain.facet_tags)(domain.boundary_id(name))
    form = dolfinx.fem.form(dolfinx.fem.Constant(domain.mesh, 1.0) * ds)
    return domain.mesh.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)


def test_stl_head_peak_lesion_pressure_matches_parametric(tmp_path):
    parametric = run_case(_case(tmp_path, "parametric", mesh={**COARSE, "save": str(tmp_path / "head.msh")}))
    if MPI.COMM_WORLD.rank == 0:
        mesh = meshio.read(tmp_path / "head.msh")
        triangles = np.concatenate([c.data for c in mesh.cells if c.type == "triangle"])
        meshio.write(tmp_path / "head.stl", meshio.Mesh(mesh.points, [("triangle", triangles)]))
    MPI.COMM_WORLD.barrier()
    geometry = {"kind": "stl_surface", "path": str(tmp_path / "head.stl"), "boundaries": STL_BOUNDARIES}
    imported = run_case(_case(tmp_path, "stl", mesh=COARSE, geometry=geometry))
    peak = parametric.summary["pressure"]["p_lesion_peak_mmHg"]
    assert imported.summary["pressure"]["p_lesion_peak_mmHg"] == pytest.approx(peak, rel=0.02)
