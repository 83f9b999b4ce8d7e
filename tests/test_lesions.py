"""Lesions of kind region (parts minus spared parts, bmes_fem.physics.indicators) against closed forms.

Volumes of the smooth indicators, s(d) = (1 - tanh(d / w)) / 2 of a signed distance d: with the level sets of d
enclosing V(t) at d = t, the integral of s(d - 0) over space is the integral of s(t / w) V'(t) dt, a Fermi
integral with kT = w / 2 (Sommerfeld): V(0) + (pi^2 / 24) w^2 V''(0) plus terms exponentially small in
(size / w), and no more terms when V'(t) is a polynomial of degree <= 2 (a capsule, a ball, an ellipsoid in its
own radius). The integrals are taken by the midpoint rule on a grid of step w / 2, whose error for these
analytic profiles is far below the tolerances (measured: 1e-10 relative at most).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from bmes_fem.config.case import CapsuleShape, EllipsoidShape, HalfSpaceShape
from bmes_fem.config.loader import load_config, parse_config, with_overrides
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.build import build_domain, mesh_sizes
from bmes_fem.physics.indicators import region_indicator
from bmes_fem.physics.materials import lesion_indicator
from bmes_fem.solve.course import scaled_lesions

CONFIGS = Path(__file__).parents[1] / "configs"
MM = 1e-3
REL = 1e-8  # the quadrature's error and the neglected exponentially small terms are below 1e-9 of each volume


def _lesions(*lesions: dict):
    return parse_config({"lesions": list(lesions)}).lesions


def _grid_integral_m3(lesions, lower_m, upper_m, step_m: float) -> float:
    """Midpoint rule for the integral of chi over the box [lower, upper] (one x-slab of points at a time)."""
    lower, upper = np.asarray(lower_m), np.asarray(upper_m)
    counts = np.rint((upper - lower) / step_m).astype(int)
    x, y, z = (lower[i] + step_m * (np.arange(counts[i]) + 0.5) for i in range(3))
    y_grid, z_grid = (a.ravel() for a in np.meshgrid(y, z, indexing="ij"))
    total = sum(lesion_indicator(lesions, np.vstack([np.full(y_grid.size, xi), y_grid, z_grid])).sum() for xi in x)
    return float(total) * step_m**3


def test_half_space_is_one_half_on_its_plane_and_the_tanh_value_at_one_width():
    normal = np.array([0.4, -1.0, 2.0])  # not of unit length: only its direction counts
    point, width = np.array([1.0, 2.0, 3.0]) * MM, 0.7 * MM
    lesions = _lesions({"kind": "region", "falloff_width": width,
                        "parts": [{"kind": "half_space", "point": point.tolist(), "normal": normal.tolist()}]})
    unit = normal / np.linalg.norm(normal)
    in_plane = np.cross(unit, [1.0, 0.0, 0.0]) * 5 * MM
    x = np.column_stack([point, point + in_plane, point + width * unit, point - width * unit])
    np.testing.assert_allclose(lesion_indicator(lesions, x),
                               [0.5, 0.5, (1 - math.tanh(1)) / 2, (1 + math.tanh(1)) / 2], rtol=0, atol=1e-15)


def test_half_space_cuts_a_box_at_its_plane_whatever_the_width():
    """chi of z below the plane z = 6 mm - 0.2 (x - 3 mm) in the box [0, 10] x [0, 4] x [0, 10] mm: the column
    over each (x, y) integrates to the plane's height h(x) exactly (the tanh step is odd about the plane, which
    stays 4 mm = 8 w from the top and bottom), so the volume is 4 x 10 x h(5 mm) = 224 mm^3."""
    width = 0.5 * MM
    lesions = _lesions({"kind": "region", "falloff_width": width,
                        "parts": [{"kind": "half_space", "point": ["3 mm", "0 mm", "6 mm"], "normal": [0.2, 0.0, 1.0]}]})
    volume = _grid_integral_m3(lesions, (0, 0, 0), (10 * MM, 4 * MM, 10 * MM), width / 2)
    assert volume == pytest.approx(224 * MM**3, rel=1e-12)


def test_capsule_volume_is_pi_r2_L_plus_four_thirds_pi_r3_and_a_w_squared_term():
    """V(t) = pi (r + t)^2 L + 4/3 pi (r + t)^3, so the integral of chi is pi r^2 L + 4/3 pi r^3 +
    pi^3 w^2 (L / 12 + r / 3); r / w = 10 (the next term is of order exp(-2 r / w) = 2e-9)."""
    radius, length, width = 4 * MM, 4 * MM, 0.4 * MM
    lesions = _lesions({"kind": "region", "falloff_width": width,
                        "parts": [{"kind": "capsule", "start": [0, 0, 0], "end": [0, 0, length], "radius": radius}]})
    volume = _grid_integral_m3(lesions, (-8 * MM, -8 * MM, -8 * MM), (8 * MM, 8 * MM, 12 * MM), width / 2)
    sharp = math.pi * radius**2 * length + 4 / 3 * math.pi * radius**3
    w2_term = math.pi**3 * width**2 * (length / 12 + radius / 3)
    assert volume == pytest.approx(sharp + w2_term, rel=REL)
    assert w2_term / sharp > 1e6 * REL  # the O(w^2) term is resolved: w -> 0 leaves the sharp capsule


def _ellipsoid_volume_m3(semi_axes_m, width_m: float) -> float:
    """4/3 pi abc + pi^3 abc w^2 / (3 a_min^2): V(rho) = 4/3 pi abc rho^3 in the ellipsoidal radius rho,
    whose step width is w / a_min."""
    abc = float(np.prod(semi_axes_m))
    return 4 / 3 * math.pi * abc + math.pi**3 * abc * width_m**2 / (3 * min(semi_axes_m) ** 2)


def test_a_union_of_two_disjoint_ellipsoids_holds_the_sum_of_their_volumes():
    width = 0.2 * MM
    rotated = {"kind": "ellipsoid", "centre": [0, 0, 0], "semi_axes": ["3 mm", "2.5 mm", "2 mm"], "rotation": ["30 deg", "20 deg", "10 deg"]}
    ball = {"kind": "ellipsoid", "centre": ["11 mm", 0, 0], "semi_axes": ["2 mm"] * 3}
    lesions = _lesions({"kind": "region", "falloff_width": width, "parts": [rotated, ball]})
    volume = _grid_integral_m3(lesions, (-6.6 * MM, -6.6 * MM, -6.6 * MM), (15.4 * MM, 6.6 * MM, 6.6 * MM), width / 2)
    expected = _ellipsoid_volume_m3((3 * MM, 2.5 * MM, 2 * MM), width) + _ellipsoid_volume_m3((2 * MM,) * 3, width)
    assert volume == pytest.approx(expected, rel=REL)


def test_a_ball_minus_a_spared_concentric_ball_holds_the_shell_volume():
    """Capsule of zero length (a ball, R = 3 mm) minus an ellipsoid ball (r = 1.5 mm): 4/3 pi (R^3 - r^3) +
    pi^3 w^2 (R - r) / 3, since U (1 - V) = U - V up to exp(-2 (R - r) / w) where V is not 0."""
    outer, inner, width = 3 * MM, 1.5 * MM, 0.15 * MM
    lesions = _lesions({"kind": "region", "falloff_width": width,
                        "parts": [{"kind": "capsule", "start": [0, 0, 0], "end": [0, 0, 0], "radius": outer}],
                        "spared": [{"kind": "ellipsoid", "centre": [0, 0, 0], "semi_axes": [inner] * 3}]})
    volume = _grid_integral_m3(lesions, (-4.5 * MM,) * 3, (4.5 * MM,) * 3, width / 2)
    w2_term = math.pi**3 * width**2 * (outer - inner) / 3
    assert volume == pytest.approx(4 / 3 * math.pi * (outer**3 - inner**3) + w2_term, rel=REL)
    assert w2_term / volume > 1e5 * REL


def test_a_region_of_ellipsoid_parts_is_the_union_of_ellipsoid_lesions_bit_for_bit():
    first = {"centre": ["4 mm", "4 mm", "10 mm"], "semi_axes": ["10 mm", "8 mm", "8 mm"], "rotation": ["10 deg", 0, "5 deg"]}
    second = {"centre": ["-6 mm", 0, "-8 mm"], "semi_axes": ["5 mm", "6 mm", "7 mm"]}
    x = np.random.default_rng(7).uniform(-0.03, 0.03, size=(3, 2000))
    as_lesions = lesion_indicator(_lesions(first, second), x)
    as_region = lesion_indicator(_lesions({"kind": "region", "parts": [{"kind": "ellipsoid", **first}, {"kind": "ellipsoid", **second}]}), x)
    assert np.array_equal(as_lesions, as_region) and as_lesions.max() > 0.99 and as_lesions.min() < 0.01


@pytest.mark.parametrize(
    ("lesion", "expected"),
    [
        ({"kind": "region", "spared": [{"kind": "half_space", "point": [0, 0, 0], "normal": [1, 0, 0]}]},
         "key 'lesions.0': lesion 'lesion': kind = 'region' needs parts"),
        ({"kind": "region", "parts": [{"kind": "half_space", "point": [0, 0, 0], "normal": [0, 0, 0]}]},
         "key 'lesions.0.parts.0.normal': [0.0, 0.0, 0.0] is not a direction; expected a non-zero vector"),
        ({"kind": "region", "parts": [{"kind": "capsule", "start": [0, 0, 0], "end": [0, 0, 0.01], "radius": "0 mm"}]},
         "key 'lesions.0.parts.0.radius' = '0 mm': Input should be greater than 0"),
        ({"kind": "region", "parts": [{"kind": "ellipsoid", "centre": [0, 0, 0], "semi_axes": ["1 mm", "-1 mm", "1 mm"]}]},
         "key 'lesions.0.parts.0.semi_axes.1' = '-1 mm': Input should be greater than 0"),
        ({"kind": "region", "parts": [{"kind": "cylinder", "start": [0, 0, 0]}]},
         "key 'lesions.0.parts.0.kind' = 'cylinder': expected one of ellipsoid, half_space, capsule"),
        ({"kind": "region", "semi_axes": ["5 mm"] * 3, "parts": [{"kind": "capsule", "start": [0, 0, 0], "end": [0, 0, 0], "radius": 0.01}]},
         "lesion 'lesion': semi_axes is set, but kind = 'region', whose keys are name, kind, centre, falloff_width, parts, spared"),
        ({"parts": [{"kind": "capsule", "start": [0, 0, 0], "end": [0, 0, 0], "radius": 0.01}]},
         "lesion 'lesion': parts is set, but kind = 'ellipsoid'; parts and spared belong to kind: region"),
    ],
    ids=["spared_without_parts", "zero_normal", "zero_radius", "negative_semi_axis", "unknown_shape", "ellipsoid_key", "region_key"],
)
def test_a_bad_region_is_one_line_naming_the_key(lesion, expected):
    with pytest.raises(ConfigError) as error:
        parse_config({"lesions": [lesion]}, "case.yaml")
    assert str(error.value).startswith("case.yaml: ") and expected in str(error.value) and "\n" not in str(error.value)


def test_a_region_is_centred_on_its_first_part_and_round_trips_through_the_resolved_yaml():
    lesion = {"name": "tube", "kind": "region",
              "parts": [{"kind": "capsule", "start": ["2 mm", 0, 0], "end": ["6 mm", "4 mm", 0], "radius": "3 mm"},
                        {"kind": "half_space", "point": [0, 0, "-5 mm"], "normal": [0, 0, 1]}]}
    config = parse_config({"lesions": [lesion]})
    assert config.lesions[0].centre == pytest.approx((4 * MM, 2 * MM, 0.0))
    resolved = yaml.safe_load(config.to_yaml())["lesions"][0]
    assert "semi_axes" not in resolved and "mask" not in resolved
    assert parse_config(yaml.safe_load(config.to_yaml())) == config
    assert "parts" not in yaml.safe_load(parse_config({}).to_yaml())["lesions"][0]  # ellipsoid lesions as before


def test_only_bounded_parts_get_a_refinement_ball():
    """Ellipsoid: max semi-axis + w; capsule (spared too): half its length + r + w; a half-space: none."""
    config = parse_config({"mesh": {"lesion_size": "1 mm"}, "lesions": [{"kind": "region", "falloff_width": "2 mm", "parts": [
        {"kind": "half_space", "point": [0, 0, 0], "normal": [0, 0, 1]},
        {"kind": "ellipsoid", "centre": ["1 mm", "2 mm", "3 mm"], "semi_axes": ["4 mm", "6 mm", "5 mm"]}],
        "spared": [{"kind": "capsule", "start": [0, 0, 0], "end": ["8 mm", 0, 0], "radius": "1 mm"}]}]})
    zones = mesh_sizes(config).zones
    assert [(*z.centre_m, z.radius_m, z.mesh_size_m) for z in zones] == [
        pytest.approx((1 * MM, 2 * MM, 3 * MM, 8 * MM, 1 * MM)), pytest.approx((4 * MM, 0.0, 0.0, 7 * MM, 1 * MM))]
    toh = load_config(CONFIGS / "femoral_head_bmes.yaml")
    assert mesh_sizes(toh).zones == ()


def test_lesion_scale_grows_a_region_about_its_centre():
    """Every shape's signed distance obeys d_s(c + s (x - c)) = s d(x), so the scaled region at the image point
    is the original region with the width w / s (the falloff width is kept, not scaled)."""
    lesion = {"kind": "region", "centre": ["1 mm", "-2 mm", "3 mm"], "falloff_width": "1.5 mm",
              "parts": [{"kind": "capsule", "start": [0, 0, 0], "end": ["9 mm", 0, 0], "radius": "6 mm"},
                        {"kind": "ellipsoid", "centre": [0, "5 mm", 0], "semi_axes": ["7 mm", "5 mm", "4 mm"], "rotation": ["20 deg", 0, 0]}],
              "spared": [{"kind": "half_space", "point": ["4 mm", 0, 0], "normal": [-1, 0.5, 0]}]}
    (original,) = _lesions(lesion)
    scale = 1.4
    (grown,) = scaled_lesions((original,), scale)
    centre = np.asarray(original.centre)[:, None]
    x = np.random.default_rng(3).uniform(-0.02, 0.02, size=(3, 500))
    image = centre + scale * (x - centre)
    expected = region_indicator(original.parts, original.spared, x, original.falloff_width / scale)
    np.testing.assert_allclose(lesion_indicator((grown,), image), expected, rtol=0, atol=1e-12)
    assert grown.falloff_width == original.falloff_width and isinstance(grown.spared[0], HalfSpaceShape)
    assert isinstance(grown.parts[0], CapsuleShape) and isinstance(grown.parts[1], EllipsoidShape)


def test_the_case_files_of_the_three_patterns():
    """The default case (the TOH pattern) differs from the schema's defaults in its lesion only (its load direction is
    the default's to 4 digits); the focal
    osteonecrosis case is the default case with its own name and an ellipsoid lesion."""
    bmes = load_config(CONFIGS / "femoral_head_bmes.yaml").to_dict()
    focal = load_config(CONFIGS / "femoral_head_focal_osteonecrosis.yaml").to_dict()
    assert focal["case"] == "femoral_head_focal_osteonecrosis" and focal["lesions"][0]["kind"] == "ellipsoid"
    assert [key for key, value in focal.items() if bmes[key] != value] == ["case", "lesions"]
    default = parse_config({}).to_dict()
    assert [key for key, value in bmes.items() if default[key] != value] == ["lesions", "load"]
    assert bmes["load"] == {**default["load"], "direction": pytest.approx(default["load"]["direction"], abs=1e-4)}
    assert bmes["lesions"][0]["kind"] == "region" and len(bmes["lesions"][0]["spared"]) == 1


def test_toh_region_on_the_femoral_head_mesh_covers_the_neck_and_lateral_head_and_spares_the_medial_head():
    """Nodes of the coarse head mesh (6 mm): s = x . a along the neck axis (head-neck junction at
    s = -sqrt(R^2 - r_n^2) = -17.9 mm; the oedema ends at s = -27 mm), x medial (spared beyond x = 8 mm).
    At 2.5 falloff widths (5 mm) inside chi >= (1 + tanh 2.5) / 2 = 0.993, outside chi <= 0.0067."""
    config = with_overrides(load_config(CONFIGS / "femoral_head_bmes.yaml"), {"mesh.size": "6 mm", "mesh.lesion_size": "3 mm"})
    x_m = build_domain(config).mesh.geometry.x.T
    chi = lesion_indicator(config.lesions, x_m)
    s_mm = np.asarray(config.geometry.neck_axis()) @ x_m / MM
    x_mm = x_m[0] / MM
    junction_mm = -math.sqrt(24.0**2 - 16.0**2)
    neck = (s_mm > -22.0) & (s_mm < junction_mm)
    lateral_head = (s_mm > junction_mm) & (x_mm < 3.0)
    medial_head = x_mm > 13.0
    assert min(neck.sum(), lateral_head.sum(), medial_head.sum()) > 20
    assert chi[neck].min() > 0.99 and chi[lateral_head].min() > 0.99 and chi[medial_head].max() < 0.01
