"""The disease course: kinetics and bone-turnover ODE (pure), the course config and its errors, and on the
coarse femoral head reversibility, monotone responses and therapies against the control."""

from __future__ import annotations

import csv
import itertools
import math

import numpy as np
import pytest

from bmes_fem.config.course import WEEK_S, Course
from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError
from bmes_fem.output.course import COURSE_TABLE, CourseOutput, back_to_healthy
from bmes_fem.physics.turnover import (
    PiecewiseLinear,
    Relaxation,
    Turnover,
    bisphosphonate_inhibition,
    infusion_effect,
    inhibited_activity,
    reverse,
)
from bmes_fem.solve.course import CourseBiot, course_table
from bmes_fem.units import PA_PER_MMHG

COARSE_MESH = {"size": "6 mm", "lesion_size": "3 mm"}
DAY_S = 86400.0
TURNOVER = Turnover(
    mineral_loss_rate_per_s=(1 / 0.85 - 1) / (3 * WEEK_S), mineralisation_time_constant_s=3 * WEEK_S,
    bone_loss_rate_per_s=(0.30 / 0.28 - 1) / (13 * WEEK_S), refill_time_constant_s=13 * WEEK_S,
)  # fmt: skip
FAST_TURNOVER = {  # m and b follow a within days: the equilibrium of the default rates at a = 2, reached fast
    "mineralisation_time_constant": "1 day", "mineral_loss_rate": f"{1 / 0.85 - 1} 1/day",
    "refill_time_constant": "1 day", "bone_loss_rate": f"{0.30 / 0.28 - 1} 1/day",
}  # fmt: skip


# --- kinetics and turnover (pure) -----------------------------------------------------------------------------


def test_relaxation_holds_then_relaxes_with_its_time_constant():
    curve = Relaxation(2.0, ((WEEK_S, 5.0, 1 / (2 * WEEK_S)), (5 * WEEK_S, 1.0, 1 / WEEK_S)))
    assert curve([0.0, 0.5 * WEEK_S]) == pytest.approx([2.0, 2.0])
    at_tau = 5.0 + (2.0 - 5.0) / math.e
    assert curve(3 * WEEK_S) == pytest.approx(at_tau, rel=1e-12)
    at_switch = 5.0 - 3.0 * math.exp(-2.0)
    assert curve(6 * WEEK_S) == pytest.approx(1.0 + (at_switch - 1.0) / math.e, rel=1e-12)
    assert curve(1e4 * WEEK_S) == pytest.approx(1.0)


def test_piecewise_linear_runs_through_the_phase_end_values_and_holds_after():
    curve = PiecewiseLinear(1.0, ((2 * WEEK_S, 3.0), (4 * WEEK_S, 1.0)))
    assert curve(np.array([0, 1, 2, 3, 4, 10]) * WEEK_S) == pytest.approx([1.0, 2.0, 3.0, 2.0, 1.0, 1.0])


def test_turnover_stays_healthy_at_normal_activity():
    times = np.arange(0, 30) * WEEK_S
    m, b = TURNOVER.integrate(lambda t: np.ones_like(t), times, 0.30)
    assert np.abs(m - 1.0).max() < 1e-12 and np.abs(b - 0.30).max() < 1e-12


def test_turnover_reaches_its_equilibrium_and_the_defaults_give_the_lesion_set_at_double_activity():
    m_star, b_star = TURNOVER.equilibrium(2.0, 0.30)
    assert (m_star, b_star) == pytest.approx((0.85, 0.28), rel=1e-12)
    m, b = TURNOVER.integrate(lambda t: np.full_like(t, 2.0), [0.0, 400 * WEEK_S], 0.30)
    assert (m[-1], b[-1]) == pytest.approx((m_star, b_star), rel=1e-8)


def test_turnover_recovers_with_its_own_time_constants_once_activity_is_normal():
    """From equilibrium at a = 2, a back to 1 at t0: 1 - m and b_h - b fall by e in tau_m and tau_b."""
    t0 = 400 * WEEK_S
    times = [0.0, t0, t0 + TURNOVER.mineralisation_time_constant_s, t0 + TURNOVER.refill_time_constant_s]
    m, b = TURNOVER.integrate(lambda t: np.where(np.asarray(t) < t0, 2.0, 1.0), times, 0.30, breakpoints_s=[t0])
    assert (1.0 - m[2]) == pytest.approx((1.0 - m[1]) / math.e, rel=1e-6)
    assert 0.30 - b[3] == pytest.approx((0.30 - b[1]) / math.e, rel=1e-6)


def test_more_osteoclast_activity_means_less_mineral_and_bone_at_every_time():
    times = np.arange(0, 20) * WEEK_S
    results = [TURNOVER.integrate(lambda t, a=a: np.full_like(t, a), times, 0.30) for a in (1.5, 2.0, 3.0)]
    for (m_low, b_low), (m_high, b_high) in itertools.pairwise(results):
        assert np.all(m_high[1:] < m_low[1:]) and np.all(b_high[1:] < b_low[1:])
    for m, b in results:  # at constant activity the fall is monotone
        assert np.all(np.diff(m) < 0) and np.all(np.diff(b) < 0)


def test_bisphosphonate_suppresses_the_excess_activity_with_its_time_constant():
    dose, tau = 10 * WEEK_S, 2 * WEEK_S
    inhibition = bisphosphonate_inhibition(dose, tau, 1.0)
    activity = inhibited_activity(np.full(4, 2.0), inhibition([dose - 1.0, dose, dose + tau, dose + 2 * tau]))
    assert activity[:2] == pytest.approx([2.0, 2.0])
    assert activity[2] - 1.0 == pytest.approx(1.0 / math.e, rel=1e-12)  # the excess (CTX-like) falls by 63 % in 2 weeks
    assert activity[3] - 1.0 == pytest.approx(math.exp(-2.0), rel=1e-12)


def test_iloprost_effect_builds_during_the_infusions_and_decays_after_them():
    start, onset, decay = 11 * WEEK_S, 6 * 3600.0, 6 * WEEK_S
    windows = [(start + i * DAY_S, start + i * DAY_S + 6 * 3600.0) for i in range(5)]
    effect = infusion_effect(windows, onset, decay)
    assert effect([0.0, start]) == pytest.approx([0.0, 0.0])
    ends = effect([end for _, end in windows])
    assert np.all(np.diff(ends) > 0) and 0.95 < ends[-1] < decay / (onset + decay)
    last = windows[-1][1]
    assert effect(last + decay) == pytest.approx(ends[-1] / math.e, rel=1e-12)


def test_reversal_is_exact_without_an_effect_and_reaches_healthy_at_full_effect():
    disease = np.array([3.0, 0.3])
    assert np.array_equal(reverse(disease, 1.0, np.zeros(2), geometric=True), disease)
    assert reverse(disease, 1.0, np.ones(2), geometric=True) == pytest.approx([1.0, 1.0])
    assert reverse(np.array([3.0]), 1.0, np.array([0.5]), geometric=True) == pytest.approx([math.sqrt(3.0)])
    assert reverse(np.array([0.6]), 0.85, np.array([0.6]), geometric=False) == pytest.approx([0.75])


def test_back_to_healthy_is_the_first_time_after_which_the_volume_stays_within_tolerance():
    times = np.arange(6.0)
    assert back_to_healthy(times, [100, 150, 90, 130, 104, 96], 100.0, 5.0) == 4.0
    assert back_to_healthy(times, [100, 101, 99, 100, 100, 100], 100.0, 5.0) == 0.0
    assert back_to_healthy(times, [100, 150, 90, 130, 104, 120], 100.0, 5.0) is None


def test_an_animation_whose_writer_fails_is_dropped_and_the_others_are_written_whole(tmp_path):
    from PIL import Image

    from bmes_fem.view.course_plots import write_animations

    frames = (np.full((96, 128, 3), 50 * k, dtype=np.uint8) for k in range(3))
    unwritable = tmp_path / "missing" / "a.mp4"
    written, failed = write_animations(frames, [tmp_path / "a.gif", unwritable])
    assert written == [tmp_path / "a.gif"] and list(failed) == [str(unwritable)]
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 3 and gif.info["duration"] == 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]  # no partial file left


# --- the course config ----------------------------------------------------------------------------------------


def _course(course: dict, **sections) -> dict:
    return {"analysis": "course", "mesh": COARSE_MESH, "course": course, **sections}


THERAPY_COURSE = {
    "phases": [{"name": "onset", "duration": "2 weeks"}, {"name": "therapy", "duration": "2 weeks"}, {"name": "recovery", "duration": "4 weeks"}],
    "sample_every": "2 weeks",
    "trajectories": {
        name: {"values": {"onset": value, "therapy": value, "recovery": "healthy"}}
        for name, value in (
            ("filtration_factor", 3), ("reflection_coefficient", 0.6), ("capillary_pressure", "50 mmHg"),
            ("venous_pressure", "25 mmHg"), ("venous_outflow_factor", 0.3), ("osteoclast_activity", 2),
        )
    },
    "turnover": FAST_TURNOVER,
    "scenarios": [
        {"name": "control"},
        {"name": "iloprost", "iloprost": {"start": "therapy"}},
        {"name": "bisphosphonate", "bisphosphonate": {"dose_time": "therapy"}},
        {"name": "both", "iloprost": {"start": "2 weeks"}, "bisphosphonate": {"dose_time": "2 weeks"}},
    ],
}  # fmt: skip


def test_shipped_course_config_loads_and_spells_out_the_default_natural_history():
    from bmes_fem.config.loader import load_config

    config = load_config("configs/femoral_head_course.yaml")
    assert config.analysis == "course" and config.course.trajectories == Course().trajectories
    assert [s.name for s in config.course.scenarios] == ["control", "iloprost", "bisphosphonate", "iloprost_and_bisphosphonate"]
    table = course_table(config)
    assert len(table.times_s) == 45 and table.times_s[-1] == pytest.approx(44 * WEEK_S)
    assert table.series["relative_mineralisation"].min() == pytest.approx(0.86, abs=0.01)  # plateau m of the lesion set


@pytest.mark.parametrize("name", ["femoral_head_course", "femoral_head_treatments"])
def test_every_shipped_course_config_passes_the_checks_of_its_run(name):
    """What `bmes run` checks before the first state (the course table, a decompression's tunnels and capillary law)."""
    from bmes_fem.config.loader import load_config

    table = course_table(load_config(f"configs/{name}.yaml"))
    assert len(table.entries()) > len(table.scenarios)


def test_every_scenario_equals_the_control_bit_for_bit_until_its_therapy_starts():
    table = course_table(parse_config(_course(THERAPY_COURSE)))
    before = table.times_s <= 2 * WEEK_S
    for name, values in table.series.items():
        assert np.array_equal(values[1:, before], np.repeat(values[:1, before], 3, axis=0)), name
    assert not np.array_equal(table.series["filtration_factor"][1], table.series["filtration_factor"][0])
    assert np.all(table.series["relative_mineralisation"][2, ~before] > table.series["relative_mineralisation"][0, ~before])


def test_each_distinct_parameter_set_is_solved_once():
    table = course_table(parse_config(_course(THERAPY_COURSE)))
    entries = table.entries()
    assert [entry.label for entry in entries[:3]] == ["healthy reference", "control week 0", "control week 2"]
    keys = [table.key(entry) for entry in entries]
    assert keys[0] == ("healthy",) and keys.count(("healthy",)) == 5  # the reference and t = 0 of each scenario
    # control weeks 2-8, each therapy from week 4 on; at week 8 the lesion parameters are healthy again, so
    # iloprost has nothing to reverse: 'iloprost' is the control there and 'both' is 'bisphosphonate'
    assert len(set(keys)) == 1 + 4 + 2 + 3 + 2


@pytest.mark.parametrize(
    ("course", "message"),
    [
        ({"phases": [{"name": "a", "duration": "-3 weeks"}]}, "course.phases.0.duration"),
        ({"phases": [{"name": "a", "duration": "3 weeks"}, {"name": "b", "duration": "2 weeks", "start": "2 weeks"}]},
         "course.phases.1.start = 2 weeks overlaps"),
        ({"phases": [{"name": "a", "duration": "3 weeks"}, {"name": "a", "duration": "2 weeks"}]}, "used twice"),
        ({"trajectories": {"capillary_leak": {"values": {"onset": 2}}}}, "unknown key 'course.trajectories.capillary_leak'"),
        ({"trajectories": {"filtration_factor": {"values": {"onsett": 2}}}}, "no phase 'onsett'"),
        ({"trajectories": {"filtration_factor": {"values": {"onset": -2}}}}, "course.trajectories.filtration_factor.values.onset"),
        ({"trajectories": {"reflection_coefficient": {"values": {"onset": "40 mmHg"}}}}, "reflection_coefficient.values.onset"),
        ({"scenarios": [{"name": "bp", "bisphosphonate": {"dose_time": "60 weeks"}}]}, "dose_time = 60 weeks is outside the course"),
        ({"scenarios": [{"name": "il", "iloprost": {"start": "-1 week"}}]}, "start = -1 weeks is outside the course"),
        ({"scenarios": [{"name": "il", "iloprost": {"start": "therapie"}}]}, "neither a time"),
        ({"scenarios": [{"name": "il", "iloprost": {"start": "onset", "interval": "2 h"}}]}, "infusions would overlap"),
        ({"sample_every": "2 years"}, "course.sample_every"),
    ],
)  # fmt: skip
def test_bad_course_input_is_a_one_line_config_error_naming_the_key(course, message):
    with pytest.raises(ConfigError, match=message) as error:
        parse_config(_course(course))
    assert "\n" not in str(error.value)


def test_a_course_section_needs_analysis_course():
    with pytest.raises(ConfigError, match="section 'course' is used by analysis: course only"):
        parse_config({"course": {"sample_every": "2 weeks"}})


def test_a_lesion_whose_venous_pressure_reaches_its_capillary_pressure_is_a_config_error():
    course = {"trajectories": {"venous_pressure": {"targets": {"onset": {"value": "60 mmHg", "time_constant": "1 week"}}}}}
    with pytest.raises(ConfigError, match=r"at week \d+ of scenario 'control' the lesion venous_pressure"):
        course_table(parse_config(_course(course)))


# --- on the coarse femoral head -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def domain():
    from bmes_fem.mesh.build import build_domain

    return build_domain(parse_config({"mesh": COARSE_MESH}))


def _run(domain, config) -> tuple[CourseBiot, list[dict[str, float]], list]:
    """Every state's course scalars, and the pressure arrays [Pa], in order."""
    problem = CourseBiot(domain, config)
    output = CourseOutput(config, problem)
    pressures = []
    for state in problem.states():
        output.on_state(state)
        pressures.append(state.pressure.x.array.copy())
    return problem, [output.values[step] for step in range(problem.state_count)], pressures


NO_FLUX = [{"boundary": "cut", "kind": "clamped"}, {"boundary": "articular", "kind": "joint_contact"}]


def test_when_every_lesion_parameter_returns_to_healthy_the_head_returns_to_its_healthy_state(domain):
    lesion = {"filtration_factor": 3, "reflection_coefficient": 0.6, "interstitial_oncotic_pressure": "12 mmHg",
              "capillary_pressure": "50 mmHg", "venous_pressure": "25 mmHg", "venous_outflow_factor": 0.3,
              "mobility_factor": 2, "osteoclast_activity": 2, "lesion_scale": 1.2}  # fmt: skip
    course = {
        "phases": [{"name": "onset", "duration": "2 weeks"}, {"name": "recovery", "duration": "2 weeks"}, {"name": "healed", "duration": "2 weeks"}],
        "sample_every": "2 weeks",
        "trajectories": {name: {"values": {"onset": value, "recovery": "healthy"}} for name, value in lesion.items()},
        "turnover": FAST_TURNOVER,
        "scenarios": [{"name": "control"}],
    }  # fmt: skip
    config = parse_config(_course(course, boundary_conditions=NO_FLUX, output={"figures": False}))
    problem, values, pressures = _run(domain, config)
    reference, ill, healed = values[0], values[2], values[-1]
    assert ill["p_lesion_peak_mmHg"] > 30.0 and ill["risk_index_max"] > reference["risk_index_max"]
    assert problem.table.series["relative_mineralisation"][0, -1] == pytest.approx(1.0, abs=1e-5)
    assert np.abs(pressures[-1] / PA_PER_MMHG - 25.0).max() < 0.1  # the calibration value, everywhere
    assert np.abs(pressures[0] / PA_PER_MMHG - 25.0).max() < 0.1
    for name in ("risk_zone_volume_R_ge_0.5_mm3", "risk_zone_volume_R_ge_1_mm3"):
        assert healed[name] == pytest.approx(reference[name], rel=1e-6, abs=1e-9)


@pytest.mark.slow
def test_more_leak_raises_more_venous_outflow_lowers_and_more_osteoclast_activity_weakens(domain):
    """One course, one parameter changed per week: f_L 1 -> 2 -> 4; then f_v 1 -> 2 -> 4; then a 1 -> 2 -> 3."""
    weeks = [{"name": f"w{i}", "duration": "1 week"} for i in range(1, 7)]
    course = {
        "phases": weeks, "sample_every": "1 week", "turnover": FAST_TURNOVER, "scenarios": [{"name": "control"}],
        "trajectories": {
            "filtration_factor": {"values": {"w1": 2, "w2": 4}},
            "venous_outflow_factor": {"values": {"w2": 1, "w3": 2, "w4": 4}},
            "osteoclast_activity": {"values": {"w4": 1, "w5": 2, "w6": 3}},
        },
    }  # fmt: skip
    config = parse_config(_course(course, output={"figures": False}))
    problem, values, _ = _run(domain, config)
    peak = [v["p_lesion_peak_mmHg"] for v in values[1:]]  # weeks 0..6
    risk = [v["risk_index_max"] for v in values[1:]]  # the femoral-neck stiffness keeps R < 0.5: no zone to grow
    modulus = problem.table.series["lesion_modulus_Pa"][0]
    assert peak[0] < peak[1] < peak[2]  # more leak
    assert peak[2] > peak[3] > peak[4]  # more venous outflow
    assert peak[4] == pytest.approx(peak[6], rel=1e-9)  # the steady pressure does not see the stiffness
    assert modulus[4] > modulus[5] > modulus[6]  # more osteoclast activity
    assert risk[4] < risk[5] < risk[6]


@pytest.mark.slow
def test_therapy_course_run_writes_its_outputs_and_every_therapy_stays_at_or_below_the_control(tmp_path):
    from bmes_fem.api import run_case

    # the lesion shrinks in recovery: the states reused before each therapy starts were solved with another chi
    trajectories = {**THERAPY_COURSE["trajectories"], "lesion_scale": {"values": {"onset": 1, "therapy": 1, "recovery": 0.7}}}
    config = parse_config(_course({**THERAPY_COURSE, "trajectories": trajectories}, case="course_test", output={"results_dir": str(tmp_path)}))
    result = run_case(config)
    folder = result.case_dir
    summary = result.summary["course"]
    for name in summary["files"]:
        assert (folder / name).stat().st_size > 0, name
    assert not [p for p in folder.rglob(".*")]  # nothing partial left behind
    with (folder / COURSE_TABLE).open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 + 4 * 5 and rows[0]["scenario"] == "healthy_reference"
    series = {}
    for row in rows[1:]:
        series.setdefault(row["scenario"], []).append(row)
    control = series["control"]
    for name in ("iloprost", "bisphosphonate"):  # therapy from week 2: weeks 0 and 2 are the control's states, reused
        for row, reference in zip(series[name][:2], control[:2], strict=True):
            assert {**row, "scenario": "control"} == reference, (name, row["time_weeks"])
    lowered = {  # what each therapy acts on: pressure (iloprost), stiffness and risk volume (bisphosphonate); the
        # largest R is not monotone in the lesion's stiffness (a softer lesion relieves the peak beside it)
        "iloprost": ("p_lesion_peak_mmHg", "p_lesion_mean_mmHg", "volume_p_above_30_mmHg_mm3", "volume_p_above_40_mmHg_mm3"),
        "bisphosphonate": ("risk_zone_volume_R_ge_0.5_mm3", "risk_zone_volume_R_ge_1_mm3"),
    }
    lowered["both"] = lowered["iloprost"] + lowered["bisphosphonate"]
    for name, columns in lowered.items():
        for row, reference in zip(series[name], control, strict=True):  # equal before the therapy starts
            for column in columns:
                assert float(row[column]) <= float(reference[column]) * (1 + 1e-9) + 1e-9, (name, row["time_weeks"], column)
            assert float(row["lesion_modulus_GPa"]) >= float(reference["lesion_modulus_GPa"]) * (1 - 1e-12)
    assert float(series["iloprost"][2]["p_lesion_peak_mmHg"]) < float(control[2]["p_lesion_peak_mmHg"]) - 1.0
    # the femoral-neck stiffness keeps every R below 0.5 (no risk zone to shrink): the bisphosphonate shows in the modulus
    assert float(series["bisphosphonate"][2]["lesion_modulus_GPa"]) > float(control[2]["lesion_modulus_GPa"]) * 1.01
    scenarios = summary["scenarios"]
    assert set(scenarios) == {"control", "iloprost", "bisphosphonate", "both"}
    assert set(scenarios["control"]["back_to_load_week"]) == {"R_ge_1", "R_ge_0.5"}
    from PIL import Image

    assert Image.open(folder / "figures" / "course_pressure.gif").n_frames == 5
