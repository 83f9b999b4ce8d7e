"""Fatigue microdamage (bmes_fem.physics.damage): Miner's sum, stiffness loss and repair against closed forms, pure
and in a disease course of a uniform bar; protected weight bearing; the healthy head's null case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bmes_fem.config.course import DAY_S, WEEK_S, YEAR_S
from bmes_fem.config.loader import parse_config
from bmes_fem.physics.damage import FatigueLaw, accumulate, repair_rate_per_s, stress_ratio, weight_bearing_fraction

LAW = FatigueLaw(reference_ratio=0.5, reference_cycles=10.0**5.5, exponent=5.5 / math.log10(2.0))
LOSS = 0.1  # modulus loss at failure, k


# --- the law (pure) ------------------------------------------------------------------------------------------


def test_the_s_n_law_passes_its_reference_point_and_fails_in_one_cycle_at_yield():
    assert LAW.cycles_to_failure(0.5) == pytest.approx(10.0**5.5, rel=1e-12)
    assert LAW.cycles_to_failure(1.0) == pytest.approx(1.0, rel=1e-12)
    assert np.isinf(LAW.cycles_to_failure(0.0)) and np.isinf(LAW.cycles_to_failure(-0.3))


def test_constant_amplitude_under_load_control_reaches_miner_n_over_n_f():
    """A uniform bar under a fixed stress: its strain, so R, grows as 1 / (1 - k D) with the stiffness loss, and
    s = (1 - k D) R stays the stress amplitude; after n cycles D = n / N_f, in one interval or in many."""
    risk_0, cycles_per_s, weeks = 0.5, 5000.0 / DAY_S, 8
    damage, history = np.zeros(1), []
    for _ in range(weeks):
        risk = risk_0 / (1.0 - LOSS * damage)  # the state solved on the damaged stiffness
        ratio = stress_ratio(risk, damage, LOSS)
        damage = accumulate(damage, cycles_per_s / LAW.cycles_to_failure(ratio), np.zeros(1), WEEK_S)
        history.append(damage[0])
    cycles = cycles_per_s * WEEK_S * np.arange(1, weeks + 1)
    expected = cycles / LAW.cycles_to_failure(risk_0)
    assert 0.5 < expected[-1] < 1.0  # the stiffness loss matters: 9 % at the end
    np.testing.assert_allclose(history, expected, rtol=1e-10, atol=0.0)


def test_block_loading_with_two_amplitudes_sums_as_miners_rule():
    blocks = [(0.55, 20_000.0), (0.48, 150_000.0), (0.55, 10_000.0)]  # (s, cycles)
    damage = np.zeros(1)
    for ratio, cycles in blocks:
        interval_s = 3 * DAY_S
        damage = accumulate(damage, cycles / interval_s / LAW.cycles_to_failure(ratio), np.zeros(1), interval_s)
    expected = sum(cycles / LAW.cycles_to_failure(ratio) for ratio, cycles in blocks)
    assert 0.1 < expected < 1.0
    assert damage[0] == pytest.approx(expected, rel=1e-12)


def test_repair_without_load_removes_damage_as_exp_minus_r_t_and_with_load_tends_to_q_over_r():
    rate = 0.3 / YEAR_S
    times = np.array([0.0, 1.0, 10.0, 52.0]) * WEEK_S
    unloaded = [accumulate(np.array([0.8]), np.zeros(1), np.array([rate]), t)[0] for t in times]
    np.testing.assert_allclose(unloaded, 0.8 * np.exp(-rate * times), rtol=1e-13)
    source = 0.05 / YEAR_S
    damage = np.zeros(1)
    for _ in range(20):  # 20 years in yearly steps: the exact update is independent of the step
        damage = accumulate(damage, np.array([source]), np.array([rate]), YEAR_S)
    assert damage[0] == pytest.approx(source / rate * (1.0 - math.exp(-rate * 20 * YEAR_S)), rel=1e-12)
    small = accumulate(np.zeros(1), np.array([source]), np.array([1e-30]), YEAR_S)  # r -> 0: Miner without repair
    assert small[0] == pytest.approx(source * YEAR_S, rel=1e-12)


def test_damage_is_capped_at_failure_and_the_repair_rate_follows_the_osteoclast_activity():
    assert accumulate(np.array([0.9]), np.array([1.0]), np.zeros(1), 1.0)[0] == 1.0
    np.testing.assert_allclose(repair_rate_per_s(2.0, 3.0, np.array([0.0, 0.5, 1.0])), [2.0, 4.0, 6.0])


def test_protected_weight_bearing_holds_its_fraction_then_returns_linearly():
    weeks = np.array([0.0, 1.0, 2.0, 7.0, 8.0, 10.0, 12.0, 20.0])
    fraction = weight_bearing_fraction(weeks * WEEK_S, 2 * WEEK_S, 6 * WEEK_S, 4 * WEEK_S, 0.25)
    np.testing.assert_allclose(fraction, [1.0, 1.0, 0.25, 0.25, 0.25, 0.625, 1.0, 1.0])
    at_once = weight_bearing_fraction(weeks * WEEK_S, 2 * WEEK_S, 6 * WEEK_S, 0.0, 0.25)
    np.testing.assert_allclose(at_once, [1.0, 1.0, 0.25, 0.25, 1.0, 1.0, 1.0, 1.0])


# --- a uniform bar in a course (finite elements) -------------------------------------------------------------

BAR_STEPS_PER_DAY = 10_000.0  # half a cycle per step: 5,000 cycles a day


def _bar(damage: dict, weeks: int = 4, **sections) -> dict:
    """A bar 10 x 10 x 40 mm (structured, 24 tetrahedra) on rollers, pressed on top by 3.5 MPa: uniaxial stress."""
    return {
        "analysis": "course",
        "case": "bar",
        "geometry": {"kind": "box", "lengths": ["10 mm", "10 mm", "40 mm"], "divisions": [1, 1, 4]},
        "lesions": [],
        "boundary_conditions": [
            {"boundary": ["xmin", "ymin", "zmin"], "kind": "roller"},
            {"boundary": "zmax", "kind": "normal_pressure", "value": "3.5 MPa"},
        ],
        "output": {"figures": False},
        "tissue": {"trabecular": {"modulus_law": "hernandez"}},  # 0.81 GPa: 3.5 MPa puts R near the S-N reference point
        "course": {
            "phases": [{"name": "walking", "duration": f"{weeks} weeks"}], "sample_every": "1 week", "trajectories": {},
            "damage": {"steps_per_day": BAR_STEPS_PER_DAY, **damage}, "scenarios": [{"name": "control"}],
        },
        **sections,
    }  # fmt: skip


def _bar_states(config):
    from bmes_fem.mesh.build import build_domain
    from bmes_fem.solve.course import CourseBiot

    problem = CourseBiot(build_domain(config), config)
    rows = []
    for state in problem.states():
        cells = problem.cells
        rows.append((state.time_s, cells.risk_index[cells.trabecular].copy(), problem.damage.damage[cells.trabecular].copy()))
    return rows


@pytest.mark.parametrize("remodelling_per_year", [0.0, 10.0])
def test_a_bar_under_constant_stress_accumulates_the_closed_form_damage_and_softens_by_1_minus_k_d(remodelling_per_year):
    """D(t) = q (1 - e^(-r t)) / r (q t without repair), q = n / N_f(R_0); R(t) (1 - k D(t)) = R_0 in every cell."""
    config = parse_config(_bar({"remodelling_rate": f"{remodelling_per_year} 1/year"}))
    rows = _bar_states(config)
    risk_0 = rows[0][1]
    assert np.ptp(risk_0) < 1e-12 * risk_0.max() and 0.5 < risk_0[0] < 0.52  # uniform, near the S-N reference point
    source = BAR_STEPS_PER_DAY * 0.5 / DAY_S / LAW.cycles_to_failure(risk_0[0])
    rate = remodelling_per_year / YEAR_S
    for time_s, risk, damage in rows[1:]:  # the reference, then week 0 ... 4
        expected = source * time_s if rate == 0.0 else source / rate * -math.expm1(-rate * time_s)
        np.testing.assert_allclose(damage, expected, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(risk * (1.0 - LOSS * damage), risk_0, rtol=1e-10)
    assert rows[-1][2][0] > 0.3


def test_a_bar_course_reports_its_first_microfracture_week_and_writes_the_damage_field(tmp_path):
    import pyvista

    from bmes_fem.api import run_case

    config = parse_config(
        _bar({"remodelling_rate": "0 1/year"}, weeks=8, output={"figures": False, "results_dir": str(tmp_path)})
    )
    result = run_case(config)
    damage = result.summary["course"]["scenarios"]["control"]["damage"]
    weekly = [row[2][0] for row in _bar_states(config)[1:]]  # weeks 0..8
    first = next(week for week, value in enumerate(weekly) if value >= 1.0)
    assert 0.5 < weekly[first - 1] < 0.99  # not a rounding decision (0.981)
    assert damage["first_microfracture_week"] == first
    zone = damage["microfracture_zone"]
    assert zone["volume_mm3"] == pytest.approx(10 * 10 * 40, rel=1e-9) and zone["region"] == "trabecular"
    assert damage["back_to_full_load_week"] is None  # full walking keeps growing it to the end
    fields = pyvista.read(result.case_dir / "fields.vtu")
    np.testing.assert_allclose(fields.cell_data["damage"], 1.0)
    table = (result.case_dir / "course_scenarios.csv").read_text().splitlines()
    assert table[0].split(",")[-4:] == [
        "damage_peak",
        "first_microfracture_week",
        "microfracture_depth_mm",
        "back_to_full_load_week",
    ]
    assert table[1].startswith("control,")


# --- the healthy head -----------------------------------------------------------------------------------------


def test_a_healthy_head_walking_for_a_year_has_no_microfracture_and_stays_far_below_failure():
    """The null case on the coarse head with the femoral-neck density law (E = 6850 rho^1.49 MPa): 10,000 steps a day
    (Tudor-Locke et al. 2011: healthy adults 4,000-18,000) for 52 weeks leave D below 1e-4 of the microfracture damage."""
    config = parse_config({
        "analysis": "course", "mesh": {"size": "6 mm", "lesion_size": "3 mm"}, "output": {"figures": False},
        "tissue": {"trabecular": {"modulus_law": "density_power"}},
        "course": {"phases": [{"name": "healthy", "duration": "52 weeks"}], "sample_every": "13 weeks", "trajectories": {},
                   "damage": {}, "scenarios": [{"name": "control"}]},
    })  # fmt: skip
    rows = _bar_states(config)
    strain = rows[0][1] * config.risk.compressive_yield_strain  # R = -eps_3 / eps_yc where compression governs
    assert strain.max() == pytest.approx(1.5e-3, abs=0.3e-3)  # the healthy walking strain, 1.2e-3 to 1.8e-3 (coarse head)
    assert max(row[2].max() for row in rows) < 1e-4 * config.course.damage.microfracture_damage
    assert rows[-1][2].max() > rows[2][2].max() > 0.0  # it does accumulate, slowly


# --- protected weight bearing on the coarse head --------------------------------------------------------------


def test_protected_weight_bearing_lowers_the_strain_and_its_full_load_growth_is_the_controls():
    """Half the joint force from week 2: the state's largest R falls, its damage source falls, and the damage growth
    full walking would give (a second solve at full load) equals the control's at the same state and damage."""
    from bmes_fem.mesh.build import build_domain
    from bmes_fem.solve.course import CourseBiot

    config = parse_config({
        "analysis": "course", "mesh": {"size": "6 mm", "lesion_size": "3 mm"}, "output": {"figures": False},
        "course": {"phases": [{"name": "walking", "duration": "4 weeks"}], "sample_every": "2 weeks", "trajectories": {},
                   "damage": {}, "scenarios": [{"name": "control"},
                                               {"name": "crutches", "weight_bearing": {"start": "2 weeks", "load_fraction": 0.5}}]},
    })  # fmt: skip
    problem = CourseBiot(build_domain(config), config)
    found = {}
    for state in problem.states():
        found[state.label] = (problem.cells.risk_index.copy(), problem.damage.damage.copy(), problem.damage.full_load_growth_per_s.copy())
    assert problem.table.series["load_fraction"][1].tolist() == [1.0, 0.5, 0.5]
    assert problem.table.series["steps_fraction"][1].tolist() == [1.0, 0.5, 0.5]
    control, crutches = found["control week 2"], found["crutches week 2"]
    np.testing.assert_array_equal(crutches[1], control[1])  # the same history up to week 2
    assert np.nanmax(crutches[0]) < 0.75 * np.nanmax(control[0])
    np.testing.assert_allclose(crutches[2], control[2], rtol=1e-6)
