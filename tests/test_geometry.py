"""Femoral head, condyle, box, cylinder and sphere meshes: named groups, analytic volumes and areas, tag placement, MPI independence."""

import math

import basix.ufl
import dolfinx
import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import numpy as np
import pytest
import ufl
from mpi4py import MPI

from bmes_fem.errors import MeshError
from bmes_fem.mesh.domain import cell_volumes_m3, check_cell_volumes
from bmes_fem.mesh.shapes import (
    FemoralCondyleShape,
    FemoralHeadShape,
    PhysealScarSlab,
    RefinementZone,
    box,
    cylinder,
    femoral_condyle,
    femoral_head,
    sphere,
)

SHAPE = FemoralHeadShape()
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


def _bone_volume_m3(shape: FemoralHeadShape) -> float:
    """Ball plus the part of the neck cylinder (axis from the centre to the cut) outside the ball."""
    R, rn, L = shape.head_radius_m, shape.neck_radius_m, shape.neck_length_m
    t0 = math.sqrt(R**2 - rn**2)  # axial distance where the cylinder leaves the sphere
    t1 = min(L, R)
    # for t0 < t < R the slice outside the ball is the annulus pi*(rn^2 - (R^2 - t^2)); beyond R the full disk
    annuli = math.pi * ((rn**2 - R**2) * (t1 - t0) + (t1**3 - t0**3) / 3)
    disks = math.pi * rn**2 * max(L - R, 0.0)
    return 4 / 3 * math.pi * R**3 + annuli + disks


def _facet_midpoints_m(domain, name: str) -> np.ndarray:
    facets = domain.facet_tags.find(domain.boundary_id(name))
    return dolfinx.mesh.compute_midpoints(domain.mesh, 2, facets)


@pytest.fixture(scope="module")
def head():
    return femoral_head(MPI.COMM_WORLD, SHAPE, mesh_size_m=SIZE_M)


def test_neck_axis_points_medial_superior_and_anterior():
    a = FemoralHeadShape(neck_shaft_angle_deg=130.0, anteversion_deg=0.0).neck_axis()
    np.testing.assert_allclose(a, [0.766044, 0.0, 0.642788], atol=1e-6)
    a = SHAPE.neck_axis()
    assert a[1] > 0 and math.isclose(np.linalg.norm(a), 1.0)


def test_head_has_named_groups(head):
    assert set(head.regions) == {"trabecular", "cortical", "subchondral_plate"}
    assert set(head.boundaries) == {"articular", "periosteal", "cut"}
    head.require(regions=head.regions, boundaries=head.boundaries)


def test_head_volumes_match_analytic(head):
    assert _total_volume_m3(head) == pytest.approx(_bone_volume_m3(SHAPE), rel=0.03)
    R, t = SHAPE.head_radius_m, SHAPE.subchondral_thickness_m
    cos_half = math.cos(math.radians(SHAPE.articular_half_angle_deg))
    plate_m3 = 2 * math.pi / 3 * (R**3 - (R - t) ** 3) * (1 - cos_half)
    assert _measure(head, "dx", "subchondral_plate") == pytest.approx(plate_m3, rel=0.10)
    assert _measure(head, "dx", "cortical") > 0


def test_head_areas_match_analytic(head):
    R, rn = SHAPE.head_radius_m, SHAPE.neck_radius_m
    cos_half = math.cos(math.radians(SHAPE.articular_half_angle_deg))
    assert _measure(head, "ds", "articular") == pytest.approx(2 * math.pi * R**2 * (1 - cos_half), rel=0.03)
    assert _measure(head, "ds", "cut") == pytest.approx(math.pi * rn**2, rel=0.03)


def test_boundary_facets_lie_where_named(head):
    a, R, L = SHAPE.neck_axis(), SHAPE.head_radius_m, SHAPE.neck_length_m
    cap_plane_m = R * math.cos(math.radians(SHAPE.articular_half_angle_deg))
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
    fine = femoral_head(MPI.COMM_WORLD, SHAPE, mesh_size_m=SIZE_M, refinement=[zone])
    coarse_m3, fine_m3 = (_mean_cell_volume_in_ball_m3(d, zone.centre_m, zone.radius_m) for d in (head, fine))
    assert fine_m3 < coarse_m3 / 4  # half the edge length: ~8x smaller cells
    assert _total_volume_m3(fine) == pytest.approx(_bone_volume_m3(SHAPE), rel=0.03)


def test_missing_names_raise_mesh_error(head):
    with pytest.raises(MeshError, match="no_such_region") as info:
        head.region_id("no_such_region")
    assert "trabecular" in str(info.value) and "gmsh:femoral_head" in str(info.value)
    with pytest.raises(MeshError, match=r"'a'.*'b'.*'c'"):
        head.require(regions=["a", "b"], boundaries=["c", "cut"])


def test_invalid_shape_raises_value_error():
    with pytest.raises(ValueError, match="articular_half_angle_deg"):
        FemoralHeadShape(articular_half_angle_deg=170.0)
    with pytest.raises(ValueError, match="neck_length_m"):
        FemoralHeadShape(neck_length_m=0.015)


def test_sphere_volume_and_area():
    R = 0.024
    ball = sphere(MPI.COMM_WORLD, radius_m=R, mesh_size_m=0.003)
    assert list(ball.regions) == ["trabecular"] and list(ball.boundaries) == ["surface"]
    assert _measure(ball, "dx", "trabecular") == pytest.approx(4 / 3 * math.pi * R**3, rel=0.02)
    assert _measure(ball, "ds", "surface") == pytest.approx(4 * math.pi * R**2, rel=0.02)


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
    distributed = femoral_head(MPI.COMM_WORLD, SHAPE, mesh_size_m=0.006)
    serial = femoral_head(MPI.COMM_SELF, SHAPE, mesh_size_m=0.006)
    for name in distributed.regions:
        assert _measure(distributed, "dx", name) == pytest.approx(_measure(serial, "dx", name), rel=1e-10)
    assert MPI.COMM_WORLD.allreduce(distributed.mesh.topology.index_map(3).size_local) == (
        serial.mesh.topology.index_map(3).size_global
    )


CONDYLE = FemoralCondyleShape()


@pytest.fixture(scope="module")
def condyle():
    return femoral_condyle(MPI.COMM_WORLD, CONDYLE, mesh_size_m=0.005)


def test_condyle_has_named_groups_where_expected(condyle):
    assert set(condyle.regions) == {"trabecular", "cortical", "subchondral_plate"}
    assert set(condyle.boundaries) == {"articular", "periosteal", "cut"}
    articular = _facet_midpoints_m(condyle, "articular")
    assert np.all(articular[:, 2] < CONDYLE.articular_height_m + 1e-9)
    medial = articular[:, 0] > 0
    assert 0.3 < np.count_nonzero(medial) / len(articular) < 0.7  # both condyles carry cartilage
    assert np.all(np.abs(_facet_midpoints_m(condyle, "cut")[:, 2] - CONDYLE.length_m) < 1e-9)
    assert _measure(condyle, "ds", "cut") == pytest.approx(math.pi * CONDYLE.shaft_radius_m**2, rel=0.03)


def test_condyle_distal_points_and_sagittal_radius(condyle):
    """Lowest articular points at z = 0 under each condyle centre; r_distal = (L/2)^2 / (H/2)."""
    x = condyle.mesh.geometry.x
    assert x[:, 2].min() == pytest.approx(0.0, abs=1e-9)
    r_distal_m = (CONDYLE.condyle_length_m / 2) ** 2 / (CONDYLE.condyle_height_m / 2)
    assert 0.035 <= r_distal_m <= 0.045  # parameters.md section 7: distal 35-45 mm


def test_physeal_scar_is_a_thin_slab_of_the_core():
    scar = PhysealScarSlab(depth_m=0.022, thickness_m=0.001)
    head = femoral_head(MPI.COMM_WORLD, FemoralHeadShape(physeal_scar=scar), mesh_size_m=SIZE_M)
    assert "physeal_scar" in head.regions
    R, t_ct = SHAPE.head_radius_m, SHAPE.cortical_thickness_m
    s = R - scar.depth_m  # the scar plane a.x = s cuts the trabecular core ball of radius R - t_ct
    slab_m3 = math.pi * ((R - t_ct) ** 2 - s**2) * scar.thickness_m
    assert _measure(head, "dx", "physeal_scar") == pytest.approx(slab_m3, rel=0.03)
    assert _total_volume_m3(head) == pytest.approx(_bone_volume_m3(SHAPE), rel=0.03)


def test_box_and_cylinder_volumes_and_faces():
    lengths = (0.02, 0.01, 0.015)
    brick = box(MPI.COMM_WORLD, lengths_m=lengths, mesh_size_m=0.004)
    assert _measure(brick, "dx", "trabecular") == pytest.approx(np.prod(lengths), rel=1e-12)
    assert _measure(brick, "ds", "articular") == pytest.approx(lengths[0] * lengths[1], rel=1e-12)
    assert _measure(brick, "ds", "periosteal") == pytest.approx(2 * (lengths[0] + lengths[1]) * lengths[2], rel=1e-12)
    can = cylinder(MPI.COMM_WORLD, radius_m=0.01, height_m=0.03, mesh_size_m=0.003)
    assert _measure(can, "dx", "trabecular") == pytest.approx(math.pi * 0.01**2 * 0.03, rel=0.02)
    assert np.all(np.abs(_facet_midpoints_m(can, "articular")[:, 2] - 0.03) < 1e-9)


def test_invalid_condyle_raises_value_error():
    with pytest.raises(ValueError, match="condyle_spacing_m"):
        FemoralCondyleShape(condyle_spacing_m=0.02)
    with pytest.raises(ValueError, match="must differ by at least"):
        FemoralCondyleShape(cortical_thickness_m=0.001, subchondral_thickness_m=0.001)
    with pytest.raises(ValueError, match=r"physeal_scar\.depth_m"):
        FemoralCondyleShape(physeal_scar=PhysealScarSlab(depth_m=0.2))
