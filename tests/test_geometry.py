"""Parametric geometries: config checks naming the key, named groups, analytic volumes and areas, tag
placement, the structured box, boundary names known at load time, MPI independence."""

import math

import basix.ufl
import dolfinx
import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import numpy as np
import pytest
import ufl
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.config.geometry import (
    BoxGeometry,
    CylinderGeometry,
    FemoralCondyleGeometry,
    FemoralHeadGeometry,
    MeshSettings,
    PhysealScar,
    SphereGeometry,
    SphereOctantGeometry,
)
from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError, MeshError
from bmes_fem.mesh.build import build_domain
from bmes_fem.mesh.domain import cell_volumes_m3, check_cell_volumes
from bmes_fem.mesh.meshing import MeshSizes, RefinementZone
from bmes_fem.mesh.shapes import mesh_shape, structured_box

HEAD = FemoralHeadGeometry()
SIZE_M = 0.004


def _measure(domain, kind: str, name: str) -> float:
    """Volume (kind 'dx', region) or area (kind 'ds', boundary) summed over ranks."""
    mesh = domain.mesh
    if kind == "dx":
        measure = ufl.Measure("dx", mesh, subdomain_data=domain.cell_tags)(domain.region_id(name))
    else:
        measure = ufl.Measure("ds", mesh, subdomain_data=domain.facet_tags)(domain.boundary_id(name))
    local = dolfinx.fem.assemble_scalar(dolfinx.fem.form(dolfinx.fem.Constant(mesh, 1.0) * measure))
    return mesh.comm.allreduce(local, op=MPI.SUM)


def _total_volume_m3(domain) -> float:
    return sum(_measure(domain, "dx", name) for name in domain.regions)


def _bone_volume_m3(head: FemoralHeadGeometry) -> float:
    """Ball plus the part of the neck cylinder (axis from the centre to the cut) outside the ball."""
    R, rn, L = head.head_radius, head.neck_radius, head.neck_length
    t0 = math.sqrt(R**2 - rn**2)  # axial distance where the cylinder leaves the sphere
    t1 = min(L, R)
    # for t0 < t < R the slice outside the ball is the annulus pi*(rn^2 - (R^2 - t^2)); beyond R the full disk
    annuli = math.pi * ((rn**2 - R**2) * (t1 - t0) + (t1**3 - t0**3) / 3)
    disks = math.pi * rn**2 * max(L - R, 0.0)
    return 4 / 3 * math.pi * R**3 + annuli + disks


def _facet_midpoints_m(domain, name: str) -> np.ndarray:
    facets = domain.facet_tags.find(domain.boundary_id(name))
    return dolfinx.mesh.compute_midpoints(domain.mesh, 2, facets)


def _global_count(domain, array: np.ndarray) -> int:
    return domain.mesh.comm.allreduce(len(array), op=MPI.SUM)


@pytest.fixture(scope="module")
def head():
    return mesh_shape(MPI.COMM_WORLD, HEAD, MeshSizes(SIZE_M))


def test_neck_axis_points_medial_superior_and_anterior():
    a = FemoralHeadGeometry(neck_shaft_angle=math.radians(130.0), anteversion=0.0).neck_axis()
    np.testing.assert_allclose(a, [0.766044, 0.0, 0.642788], atol=1e-6)
    a = HEAD.neck_axis()
    assert a[1] > 0 and math.isclose(np.linalg.norm(a), 1.0)


def test_head_has_named_groups(head):
    assert set(head.regions) == {"trabecular", "cortical", "subchondral_plate"}
    assert set(head.boundaries) == set(HEAD.boundary_names()) == {"articular", "periosteal", "cut"}
    head.require(regions=head.regions, boundaries=head.boundaries)


def test_head_volumes_match_analytic(head):
    assert _total_volume_m3(head) == pytest.approx(_bone_volume_m3(HEAD), rel=0.03)
    R, t = HEAD.head_radius, HEAD.subchondral_thickness
    cos_half = math.cos(HEAD.articular_half_angle)
    plate_m3 = 2 * math.pi / 3 * (R**3 - (R - t) ** 3) * (1 - cos_half)
    assert _measure(head, "dx", "subchondral_plate") == pytest.approx(plate_m3, rel=0.10)
    assert _measure(head, "dx", "cortical") > 0


def test_head_areas_match_analytic(head):
    R, rn = HEAD.head_radius, HEAD.neck_radius
    cos_half = math.cos(HEAD.articular_half_angle)
    assert _measure(head, "ds", "articular") == pytest.approx(2 * math.pi * R**2 * (1 - cos_half), rel=0.03)
    assert _measure(head, "ds", "cut") == pytest.approx(math.pi * rn**2, rel=0.03)


def test_boundary_facets_lie_where_named(head):
    a, R, L = np.array(HEAD.neck_axis()), HEAD.head_radius, HEAD.neck_length
    cap_plane_m = R * math.cos(HEAD.articular_half_angle)
    tol_m = 1e-9
    articular = _facet_midpoints_m(head, "articular")
    assert np.all(articular @ a >= cap_plane_m - tol_m)
    assert np.all(np.linalg.norm(articular, axis=1) > R - 0.1 * SIZE_M)  # on the outer sphere, not the plate
    assert np.all(np.abs(_facet_midpoints_m(head, "cut") @ a + L) < tol_m)
    assert np.all(_facet_midpoints_m(head, "periosteal") @ a <= cap_plane_m + tol_m)


def _mean_cell_volume_in_ball_m3(domain, centre_m, radius_m) -> float:
    mesh = domain.mesh
    cells = np.arange(mesh.topology.index_map(3).size_local, dtype=np.int32)
    inside = np.linalg.norm(dolfinx.mesh.compute_midpoints(mesh, 3, cells) - centre_m, axis=1) < radius_m
    volumes = np.abs(cell_volumes_m3(mesh))[inside]
    return mesh.comm.allreduce(volumes.sum()) / mesh.comm.allreduce(volumes.size)


def test_refinement_zone_refines_inside_and_keeps_volume(head):
    zone = RefinementZone(centre_m=(0.008, 0.0, 0.010), radius_m=0.008, mesh_size_m=0.002)
    fine = mesh_shape(MPI.COMM_WORLD, HEAD, MeshSizes(SIZE_M, [zone]))
    coarse_m3, fine_m3 = (_mean_cell_volume_in_ball_m3(d, zone.centre_m, zone.radius_m) for d in (head, fine))
    assert fine_m3 < coarse_m3 / 4  # half the edge length: ~8x smaller cells
    assert _total_volume_m3(fine) == pytest.approx(_bone_volume_m3(HEAD), rel=0.03)


def test_missing_names_raise_mesh_error(head):
    with pytest.raises(MeshError, match="no_such_region") as info:
        head.region_id("no_such_region")
    assert "trabecular" in str(info.value) and "gmsh:femoral_head" in str(info.value)
    with pytest.raises(MeshError, match=r"'a'.*'b'.*'c'"):
        head.require(regions=["a", "b"], boundaries=["c", "cut"])


CONDYLE = {"kind": "femoral_condyle"}


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"neck_length": "15 mm"}, r"geometry\.neck_length = 15 mm must exceed 19\.39 mm so the neck leaves the head "
                                   r"\(sqrt\(head_radius\^2 - neck_radius\^2\) \+ cortical_thickness\)"),
        ({"neck_radius": "23.5 mm"}, r"geometry\.neck_radius = 23\.5 mm must be below 23 mm \(head_radius - subchondral"),
        ({"cortical_thickness": "9 mm"}, r"geometry\.cortical_thickness = 9 mm must be below 8 mm \(half the neck_radius\)"),
        ({"cortical_thickness": "1.05 mm"}, r"geometry\.cortical_thickness = 1\.05 mm and geometry\.subchondral_thickness "
                                            r"= 1 mm must differ by at least 0\.1 mm"),
        ({"articular_half_angle": "170 deg"}, r"geometry\.articular_half_angle = 170 deg must lie in \(16\.6 deg, 133\.5 deg\)"),
        ({"articular_half_angle": "10 deg"}, r"geometry\.articular_half_angle = 10 deg must lie in"),
        ({"physeal_scar": {"depth": "60 mm"}}, r"geometry\.physeal_scar\.depth = 60 mm must lie in \(1\.5 mm, 52 mm\)"),
        ({**CONDYLE, "condyle_spacing": "20 mm"}, r"geometry\.condyle_spacing = 20 mm must exceed condyle_width = 30 mm"),
        ({**CONDYLE, "subchondral_thickness": "1.5 mm", "cortical_thickness": "1.5 mm"},
         r"geometry\.cortical_thickness = 1\.5 mm and geometry\.subchondral_thickness = 1\.5 mm must differ"),
        ({**CONDYLE, "subchondral_thickness": "4 mm"}, r"geometry\.subchondral_thickness = 4 mm must be below 3\.75 mm"),
        ({**CONDYLE, "shaft_radius": "2.5 mm"}, r"geometry\.cortical_thickness = 1\.5 mm must be below 1\.25 mm \(half the shaft"),
        ({**CONDYLE, "shaft_radius": "31 mm"}, r"geometry\.shaft_radius = 31 mm must be below metaphysis_radius = 30 mm"),
        ({**CONDYLE, "articular_height": "30 mm"}, r"geometry\.articular_height = 30 mm must lie in \(2 mm, 25 mm\)"),
        ({**CONDYLE, "length": "60 mm"}, r"geometry\.length = 60 mm must exceed 71\.5 mm"),
        ({**CONDYLE, "physeal_scar": {"depth": "1 mm"}}, r"geometry\.physeal_scar\.depth = 1 mm must lie in \(1\.5 mm, 98 mm\)"),
    ],
)
def test_inconsistent_geometry_is_a_config_error_naming_the_key(geometry, message):
    with pytest.raises(ConfigError, match=r"^case\.yaml: " + message):
        parse_config({"geometry": geometry}, "case.yaml")


def test_layers_exactly_the_gap_apart_are_accepted():
    geometry = parse_config({"geometry": {"cortical_thickness": "1.1 mm", "subchondral_thickness": "1 mm"}}).geometry
    assert geometry.cortical_thickness - geometry.subchondral_thickness == pytest.approx(1e-4)


def test_every_parametric_kind_lists_its_boundary_names():
    expected = {
        "femoral_head": ("articular", "periosteal", "cut"),
        "femoral_condyle": ("articular", "periosteal", "cut"),
        "box": ("xmin", "xmax", "ymin", "ymax", "zmin", "zmax"),
        "cylinder": ("bottom", "top", "side"),
        "sphere": ("surface",),
        "sphere_octant": ("x_symmetry", "y_symmetry", "z_symmetry", "surface"),
    }
    shapes = (FemoralHeadGeometry, FemoralCondyleGeometry, BoxGeometry, CylinderGeometry, SphereGeometry, SphereOctantGeometry)
    assert {shape().kind: shape().boundary_names() for shape in shapes} == expected


def test_sphere_volume_and_area():
    R = 0.024
    ball = mesh_shape(MPI.COMM_WORLD, SphereGeometry(radius=R), MeshSizes(0.003))
    assert list(ball.regions) == ["trabecular"] and list(ball.boundaries) == ["surface"]
    assert _measure(ball, "dx", "trabecular") == pytest.approx(4 / 3 * math.pi * R**3, rel=0.02)
    assert _measure(ball, "ds", "surface") == pytest.approx(4 * math.pi * R**2, rel=0.02)


def test_sphere_octant_faces_lie_on_the_symmetry_planes():
    R = 0.01
    octant = mesh_shape(MPI.COMM_WORLD, SphereOctantGeometry(radius=R), MeshSizes(0.0015))
    assert list(octant.regions) == ["trabecular"] and set(octant.boundaries) == set(SphereOctantGeometry.boundary_names())
    assert _measure(octant, "dx", "trabecular") == pytest.approx(math.pi * R**3 / 6, rel=0.02)
    assert _measure(octant, "ds", "surface") == pytest.approx(math.pi * R**2 / 2, rel=0.02)
    for axis, name in enumerate(("x_symmetry", "y_symmetry", "z_symmetry")):
        assert _measure(octant, "ds", name) == pytest.approx(math.pi * R**2 / 4, rel=0.02)
        midpoints = _facet_midpoints_m(octant, name)
        assert _global_count(octant, midpoints) > 0 and np.all(np.abs(midpoints[:, axis]) < 1e-12)
    surface = _facet_midpoints_m(octant, "surface")
    assert np.all(np.linalg.norm(surface, axis=1) > 0.98 * R) and np.all(surface > 0)


def _check_box_faces(domain, origin, lengths) -> None:
    """Every face has the area of its side and its facets on its plane."""
    lower, upper = np.array(origin), np.array(origin) + np.array(lengths)
    assert set(domain.boundaries) == set(BoxGeometry.boundary_names()) and list(domain.regions) == ["trabecular"]
    assert _measure(domain, "dx", "trabecular") == pytest.approx(np.prod(lengths), rel=1e-12)
    for index, name in enumerate(BoxGeometry.boundary_names()):
        axis, plane = index // 2, (lower, upper)[index % 2][index // 2]
        assert _measure(domain, "ds", name) == pytest.approx(np.prod(lengths) / lengths[axis], rel=1e-12)
        assert np.all(np.abs(_facet_midpoints_m(domain, name)[:, axis] - plane) < 1e-12)


def test_box_spans_origin_to_origin_plus_lengths():
    origin, lengths = (-0.01, 0.005, 0.002), (0.02, 0.01, 0.015)
    _check_box_faces(mesh_shape(MPI.COMM_WORLD, BoxGeometry(origin=origin, lengths=lengths), MeshSizes(0.004)), origin, lengths)


def test_structured_box_has_six_tetrahedra_per_division_and_tagged_faces():
    origin, lengths = (0.0, 0.0, -1.0), (1.0, 0.5, 10.0)  # a 10 m column
    geometry = BoxGeometry(origin=origin, lengths=lengths, divisions=(2, 1, 5))
    domain = structured_box(MPI.COMM_WORLD, geometry, geometry.divisions)
    assert domain.mesh.topology.index_map(3).size_global == 6 * 2 * 1 * 5
    _check_box_faces(domain, origin, lengths)
    assert _global_count(domain, _facet_midpoints_m(domain, "zmax")) == 2 * 2 * 1  # two triangles per square


def test_mesh_level_multiplies_the_box_divisions():
    """Built through build_domain; boundary conditions are not needed to build a domain."""
    geometry = BoxGeometry(lengths=(0.01, 0.01, 0.02), divisions=(1, 1, 3))
    config = Config.model_construct(geometry=geometry, mesh=MeshSettings(level=2, refinement_factor=1.5))
    assert config.mesh.divisions_at_level(geometry.divisions) == (2, 2, 7)  # round(2.25), round(6.75)
    domain = build_domain(config, MPI.COMM_WORLD)
    assert domain.mesh.topology.index_map(3).size_global == 6 * 2 * 2 * 7


def test_mesh_settings_a_box_cannot_use_are_config_errors(tmp_path):
    box = BoxGeometry(divisions=(2, 2, 2))
    with pytest.raises(ConfigError, match=r"mesh\.articular_size = 1\.5 mm .* geometry\.kind = box has xmin, xmax"):
        build_domain(Config.model_construct(geometry=box, mesh=MeshSettings(articular_size=0.0015)), MPI.COMM_WORLD)
    with pytest.raises(ConfigError, match=r"mesh\.save = .*box\.msh: only gmsh meshes are saved.*divisions = \[2, 2, 2\]"):
        build_domain(Config.model_construct(geometry=box, mesh=MeshSettings(save=tmp_path / "box.msh")), MPI.COMM_WORLD)


def test_cylinder_faces():
    radius_m, height_m = 0.01, 0.03
    cylinder = CylinderGeometry(radius=radius_m, height=height_m)
    can = mesh_shape(MPI.COMM_WORLD, cylinder, MeshSizes(0.003))
    assert set(can.boundaries) == set(cylinder.boundary_names())
    assert _measure(can, "dx", "trabecular") == pytest.approx(math.pi * radius_m**2 * height_m, rel=0.02)
    assert _measure(can, "ds", "side") == pytest.approx(2 * math.pi * radius_m * height_m, rel=0.02)
    for name, z_m in (("bottom", 0.0), ("top", height_m)):
        assert _measure(can, "ds", name) == pytest.approx(math.pi * radius_m**2, rel=0.02)
        assert np.all(np.abs(_facet_midpoints_m(can, name)[:, 2] - z_m) < 1e-9)


def _tetrahedra_mesh(points: np.ndarray, cells: np.ndarray) -> dolfinx.mesh.Mesh:
    element = basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,))
    return dolfinx.mesh.create_mesh(MPI.COMM_SELF, cells, ufl.Mesh(element), points)


def test_check_cell_volumes_flags_a_flat_cell():
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.3, 0.3, 0.0]], dtype=float)
    good = _tetrahedra_mesh(points[:4], np.array([[0, 1, 2, 3]], dtype=np.int64))
    assert abs(cell_volumes_m3(good)[0]) == pytest.approx(1 / 6)
    check_cell_volumes(good, "single tet")
    flat = _tetrahedra_mesh(points, np.array([[0, 1, 2, 3], [0, 1, 2, 4]], dtype=np.int64))
    with pytest.raises(MeshError, match="1 of 2 cells are degenerate") as info:
        check_cell_volumes(flat, "crafted")
    assert "crafted" in str(info.value)


@pytest.mark.mpi
def test_head_volume_independent_of_comm_size():
    distributed = mesh_shape(MPI.COMM_WORLD, HEAD, MeshSizes(0.006))
    serial = mesh_shape(MPI.COMM_SELF, HEAD, MeshSizes(0.006))
    for name in distributed.regions:
        assert _measure(distributed, "dx", name) == pytest.approx(_measure(serial, "dx", name), rel=1e-10)
    assert MPI.COMM_WORLD.allreduce(distributed.mesh.topology.index_map(3).size_local) == (
        serial.mesh.topology.index_map(3).size_global
    )


@pytest.mark.mpi
def test_structured_box_is_independent_of_comm_size():
    geometry = BoxGeometry(divisions=(3, 2, 2))
    distributed = structured_box(MPI.COMM_WORLD, geometry, geometry.divisions)
    serial = structured_box(MPI.COMM_SELF, geometry, geometry.divisions)
    for name in BoxGeometry.boundary_names():
        assert _measure(distributed, "ds", name) == pytest.approx(_measure(serial, "ds", name), rel=1e-12)


CONDYLE_GEOMETRY = FemoralCondyleGeometry()


@pytest.fixture(scope="module")
def condyle():
    return mesh_shape(MPI.COMM_WORLD, CONDYLE_GEOMETRY, MeshSizes(0.005))


def test_condyle_has_named_groups_where_expected(condyle):
    assert set(condyle.regions) == {"trabecular", "cortical", "subchondral_plate"}
    assert set(condyle.boundaries) == {"articular", "periosteal", "cut"}
    articular = _facet_midpoints_m(condyle, "articular")
    assert np.all(articular[:, 2] < CONDYLE_GEOMETRY.articular_height + 1e-9)
    medial = articular[:, 0] > 0
    assert 0.3 < np.count_nonzero(medial) / len(articular) < 0.7  # both condyles carry cartilage
    assert np.all(np.abs(_facet_midpoints_m(condyle, "cut")[:, 2] - CONDYLE_GEOMETRY.length) < 1e-9)
    assert _measure(condyle, "ds", "cut") == pytest.approx(math.pi * CONDYLE_GEOMETRY.shaft_radius**2, rel=0.03)


def test_condyle_distal_points_and_sagittal_radius(condyle):
    """Lowest points at z = 0: no vertex below, the lowest within the sagitta h^2 / (8 r) of one element
    (r the smaller radius of curvature there, (W/2)^2 / (H/2)); r_distal = (L/2)^2 / (H/2)."""
    x = condyle.mesh.geometry.x
    lowest_m = condyle.mesh.comm.allreduce(float(x[:, 2].min()) if len(x) else math.inf, op=MPI.MIN)
    frontal_radius_m = (CONDYLE_GEOMETRY.condyle_width / 2) ** 2 / (CONDYLE_GEOMETRY.condyle_height / 2)
    assert -1e-12 < lowest_m < 0.005**2 / (8 * frontal_radius_m)
    r_distal_m = (CONDYLE_GEOMETRY.condyle_length / 2) ** 2 / (CONDYLE_GEOMETRY.condyle_height / 2)
    assert 0.035 <= r_distal_m <= 0.045  # parameters.md section 7: distal 35-45 mm


def test_physeal_scar_is_a_thin_slab_of_the_core():
    scar = PhysealScar(depth=0.022, thickness=0.001)
    head = mesh_shape(MPI.COMM_WORLD, FemoralHeadGeometry(physeal_scar=scar), MeshSizes(SIZE_M))
    assert "physeal_scar" in head.regions
    R, t_ct = HEAD.head_radius, HEAD.cortical_thickness
    s = R - scar.depth  # the scar plane a.x = s cuts the trabecular core ball of radius R - t_ct
    slab_m3 = math.pi * ((R - t_ct) ** 2 - s**2) * scar.thickness
    assert _measure(head, "dx", "physeal_scar") == pytest.approx(slab_m3, rel=0.03)
    assert _total_volume_m3(head) == pytest.approx(_bone_volume_m3(HEAD), rel=0.03)
