"""Validation files: the shipped ones load and name their sources; a bad file is one line before any run; the
probe statistics and the verdicts are right on known series; `bmes validate` runs cases through the studies
machinery and reproduces a closed form (healthy head with no-flux walls at its target; a venous tourniquet
in uniform marrow follows the lumped backward-Euler balance); the shipped suite reproduces its documented table."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from bmes_fem.cli import main
from bmes_fem.config.loader import load_config
from bmes_fem.errors import ConfigError
from bmes_fem.physics.analytic import uniform_steady_pressure
from bmes_fem.physics.materials import blood_conductance, calibrate_venous_conductance
from bmes_fem.studies.study import case_key
from bmes_fem.units import PA_PER_MMHG
from bmes_fem.validation.measurements import ModelQuantity, load_validation, probe_statistic
from bmes_fem.validation.validate import DEFAULT_FILES, REPORT_DIR, Comparison, load_validations

ROOT = Path(__file__).resolve().parents[1]
HEALTHY = ROOT / "configs" / "femoral_head_healthy.yaml"
COARSE_MESH = {"mesh.size": "6 mm", "mesh.lesion_size": "3 mm"}

MEASURED = {"study": "test2000", "source": "test source", "mark": "D", "setting": "test", "reported": "10-30 mmHg", "basis": "test",
            "low": "10 mmHg", "high": "30 mmHg"}  # fmt: skip
HEALTHY_MEAN = {"quantity": "pressure.p_healthy_trabecular_mean_mmHg", "description": "healthy mean"}


def _write(folder: Path, name: str, data: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _file(folder: Path, name: str = "v", measurement: dict | None = None, model: dict | None = None, **extra) -> Path:
    """A validation file of the coarse healthy head; ``measurement`` entries replace MEASURED's (None removes one)."""
    measured = {key: value for key, value in {**MEASURED, **(measurement or {})}.items() if value is not None}
    data = {"measurement": measured, "case": str(HEALTHY), "set": COARSE_MESH, "model": model or HEALTHY_MEAN}
    return _write(folder, name, {**data, **extra})


def test_shipped_files_name_their_sources_and_share_runs():
    validations = load_validations([DEFAULT_FILES])
    assert len(validations) == 17
    sources = " ".join(v.spec.measurement.source for v in validations)
    for author in ("Altai", "Hungerford", "Ficat", "Arnoldi", "Hofmann", "Uchio", "Beverly", "Downey"):
        assert author in sources
    for v in validations:
        assert math.isfinite(v.low) or math.isfinite(v.high), v.name
    keys = {case_key(config) for v in validations for config in v.configs}
    assert len(keys) == 9  # 17 measurements (3 ratios) on 9 distinct runs
    by_name = {v.name: v for v in validations}
    reference = case_key(by_name["downey1988_ramp_0.1s"].config)
    assert case_key(by_name["downey1988_ramp_0.03s"].reference) == reference == case_key(by_name["downey1988_ramp_1s"].reference)
    assert by_name["downey1988_ramp_0.03s"].config.boundary_conditions[1].history.ramp_duration == pytest.approx(0.03)
    tourniquet = by_name["beverly2019_tourniquet_rise"].config.transient.vascular
    assert tourniquet.capillary_pressure_rise == pytest.approx(0.8 * tourniquet.venous_pressure_rise)  # Pappenheimer-Soto-Rivera
    assert by_name["downey1988_ramp_0.1s"].config.fluid.capillary_filtration == 0.0  # a cadaver: no perfusion


def test_the_blood_flow_files_are_the_in_vivo_transient_rows_with_the_term():
    """configs/validation/with_blood_flow/ (docs/validation.md 3): the tourniquet and stress-test rows, transient, with
    Cook's 0.039 mL/min/mL and the c_vasc of a 60 s filling time, S = t90 (L + G_v + G_b) / ln 10, to 3 digits."""
    validations = load_validations([DEFAULT_FILES / "with_blood_flow"])
    assert sorted(v.spec.measurement.study for v in validations) == ["beverly2019", "beverly2019", "ficat1985", "ficat1985"]
    for v in validations:
        fluid = v.config.fluid
        assert v.config.analysis == "transient" and fluid.blood_flow == pytest.approx(0.039 / 60.0, rel=1e-12), v.name
        exchange = fluid.capillary_filtration + calibrate_venous_conductance(fluid) + blood_conductance(fluid)
        storage = 1.0 / v.config.tissue.trabecular.biot_modulus + fluid.vascular_storage
        assert storage == pytest.approx(60.0 * exchange / math.log(10.0), rel=5e-3), v.name


BAD_FILES = {
    "unknown_key": ({"measurment": MEASURED}, "unknown key 'measurment'"),
    "no_source": ({"measurement": {"source": None}}, "key 'measurement.source'"),
    "no_study": ({"measurement": {"study": None}}, "key 'measurement.study'"),
    "bad_study": ({"measurement": {"study": "Ficat 1985"}}, "measurement.study"),
    "no_interval": ({"measurement": {"low": None, "high": None}}, "give value and sd, or low and/or high"),
    "sd_without_value": ({"measurement": {"low": None, "high": None, "sd": "5 mmHg"}}, "sd needs value"),
    "wrong_unit": ({"measurement": {"high": "30 mm"}}, "measurement.high = '30 mm': expected a quantity in mmHg"),
    "bare_number": ({"measurement": {"low": 10}}, "measurement.low = 10: expected a quantity with its unit"),
    "low_above_high": ({"measurement": {"low": "40 mmHg"}}, "measurement.low = '40 mmHg' is not below"),
    "unknown_quantity": ({"model": {**HEALTHY_MEAN, "quantity": "pressure.p_lesion_peek_mmHg"}}, "model.quantity = 'pressure.p_lesion_peek_mmHg'"),
    "statistic_on_steady": ({"model": {"probe": {"name": "n", "point": ["0 mm"] * 3}, "statistic": "peak_rise", "description": "x"}},
                            "model.statistic = 'peak_rise' needs a time series"),
    "time_missing": ({"model": {"probe": {"name": "n", "point": ["0 mm"] * 3}, "statistic": "rise_at", "description": "x"}}, "model.time"),
    "fraction_missing": ({"model": {"probe": {"name": "n", "point": ["0 mm"] * 3}, "statistic": "time_to_fraction", "description": "x"}},
                         "model.fraction"),
    "both_quantity_and_probe": ({"model": {**HEALTHY_MEAN, "probe": {"name": "n", "point": ["0 mm"] * 3}}}, "give either quantity"),
    "missing_case": ({"case": "no_such_case.yaml"}, "no_such_case.yaml' does not exist"),
    "bad_set": ({"set": {"fluid.target_presure": "25 mmHg"}}, "unknown key 'fluid.target_presure'"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_is_one_line_naming_the_key(tmp_path, name):
    data, expected = BAD_FILES[name]
    path = _file(tmp_path, **data) if "measurment" not in data else _write(tmp_path, "v", {**data, "case": str(HEALTHY), "model": HEALTHY_MEAN})
    with pytest.raises(ConfigError) as error:
        load_validation(path)
    message = str(error.value)
    assert expected in message and "\n" not in message and str(path) in message


def test_time_outside_the_run_and_a_loop_of_files(tmp_path):
    transient = {"analysis": "transient", "transient": {"time": {"time_step": "1 s", "end_time": "3 s"}}, **COARSE_MESH}
    model = {"probe": {"name": "n", "point": ["0 mm"] * 3}, "statistic": "rise_at", "time": "5 s", "description": "x"}
    with pytest.raises(ConfigError, match=r"model.time = 5 s lies outside the run, 0 to 3 s"):
        load_validation(_file(tmp_path, set=transient, model=model))
    _file(tmp_path, "a", case="b.yaml")
    _file(tmp_path, "b", case="a.yaml")
    with pytest.raises(ConfigError, match="refer to each other in a loop"):
        load_validation(tmp_path / "a.yaml")


def test_probe_statistics_of_an_exponential_filling():
    """p = 25 + 10 (1 - exp(-t / 64 s)) sampled every 5 s: the 90 % time is 64 ln 10 = 147.4 s."""
    tau, times = 64.0, np.arange(0.0, 305.0, 5.0)
    pressure = 25.0 + 10.0 * (1.0 - np.exp(-times / tau))
    probe = {"probe": {"name": "n", "point": ["0 mm"] * 3}, "description": "x"}

    def statistic(**kwargs) -> float:
        return probe_statistic(times, pressure, ModelQuantity.model_validate({**probe, **kwargs}))

    assert statistic(statistic="final") == pytest.approx(pressure[-1])
    assert statistic(statistic="peak_rise") == pytest.approx(10.0 * (1.0 - math.exp(-300.0 / tau)))
    assert statistic(statistic="rise_at", time="102.5 s") == pytest.approx(0.5 * (pressure[20] + pressure[21]) - 25.0)
    assert statistic(statistic="value_at", time="100 s") == pytest.approx(pressure[20])
    plateau = 1.0 - math.exp(-300.0 / tau)  # the 90 % of the rise reached at 300 s
    exact = -tau * math.log(1.0 - 0.9 * plateau)
    assert statistic(statistic="time_to_fraction", fraction=0.9) == pytest.approx(exact, abs=0.3)


def test_verdicts_and_z(tmp_path):
    ranged = load_validation(_file(tmp_path, "r"))
    assert [Comparison(ranged, m).verdict for m in (9.9, 10.0, 25.0, 30.0, 30.1, math.nan)] == ["below", "inside", "inside", "inside", "above", "failed"]
    assert math.isnan(Comparison(ranged, 20.0).z)
    open_high = load_validation(_file(tmp_path, "o", measurement={"low": None}))
    assert math.isnan(open_high.low) and Comparison(open_high, -1e3).verdict == "inside" and Comparison(open_high, 31.0).verdict == "above"
    sd = load_validation(_file(tmp_path, "s", measurement={"low": None, "high": None, "value": "62.8 mmHg", "sd": "27.3 mmHg"}))
    assert (sd.low, sd.high) == pytest.approx((35.5, 90.1))
    assert Comparison(sd, 35.0).verdict == "below"
    assert Comparison(sd, 37.27).z == pytest.approx((37.27 - 62.8) / 27.3)


def test_validate_reproduces_closed_forms(tmp_path, capsys):
    """Healthy head, no-flux walls, coarse mesh: p = p0 = 25 mmHg (inside 10-30, below 40-60). A venous tourniquet
    (dp_v = 30, dp_c = 24 mmHg) in the same head, unloaded (the joint load would step on at t = 0+ and add its
    undrained pressure): at its centre the rise after n steps of dt follows the lumped backward Euler
    p_n = p_inf (1 - r^n), r = (S/dt) / (S/dt + L + G_v), p_inf = (L dp_c + G_v dp_v) / (L + G_v),
    S = 1/M + c_vasc (Biot coupling alpha^2/K_dr ~ 1e-3 S neglected)."""
    inside = _file(tmp_path, "healthy_inside")
    below = _file(tmp_path, "healthy_below", measurement={"low": "40 mmHg", "high": "60 mmHg"})
    rise = {"capillary_pressure_rise": "24 mmHg", "venous_pressure_rise": "30 mmHg", "history": {"kind": "step"}}
    tourniquet = {"analysis": "transient", "transient": {"time": {"time_step": "20 s", "end_time": "60 s"}, "vascular": rise},
                  "load.force": "0 N", **COARSE_MESH}
    model = {"probe": {"name": "centre", "point": ["0 mm"] * 3}, "statistic": "rise_at", "time": "60 s", "description": "rise at 60 s"}
    lumped = _file(tmp_path, "tourniquet", measurement={"low": "10 mmHg", "high": "20 mmHg"}, set=tourniquet, model=model)
    results = tmp_path / "results"
    assert main(["validate", str(inside), str(below), str(lumped), "--results-dir", str(results), "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    rows = {row["measurement"]: row for row in csv.DictReader((results / REPORT_DIR / "validation.csv").open())}
    assert float(rows["healthy_inside"]["model"]) == pytest.approx(25.0, abs=0.01)
    assert (rows["healthy_inside"]["verdict"], rows["healthy_below"]["verdict"]) == ("inside", "below")
    config = load_config(HEALTHY)
    fluid, trabecular = config.fluid, config.tissue.trabecular
    filtration, drainage = fluid.capillary_filtration, calibrate_venous_conductance(fluid)
    storage_per_dt = (1.0 / trabecular.biot_modulus + fluid.vascular_storage) / 20.0
    ratio = storage_per_dt / (storage_per_dt + filtration + drainage)
    p_inf = (filtration * 24.0 + drainage * 30.0) / (filtration + drainage)
    assert float(rows["tourniquet"]["model"]) == pytest.approx(p_inf * (1.0 - ratio**3), rel=0.01)
    assert "healthy_below" in printed and (results / REPORT_DIR / "forest.png").stat().st_size > 10_000
    # the example spec fits L everywhere and the storage in a transient case: both rows use calibrated defaults
    assert rows["healthy_inside"]["calibrated_parameters"] == "fluid.capillary_filtration"
    assert rows["tourniquet"]["calibrated_parameters"] == "fluid.capillary_filtration fluid.vascular_storage"
    assert "| calibrated (in the all-data fit) |" in printed and "| yes |" in printed
    assert len(list((results / "validation_cases" / "cases").iterdir())) == 2  # the two healthy rows share one run


#: the table of docs/validation.md (default meshes): model value and verdict per measurement
DOCUMENTED = {
    "altai2021_femoral_neck_compression": (-2575.07, "inside"),
    "altai2021_femoral_neck_tension": (1129.07, "below"),
    "arnoldi1972_rest_pain": (51.333, "inside"),
    "beverly2019_tourniquet_filling_time": (64.1416, "inside"),
    "beverly2019_tourniquet_rise": (26.141, "inside"),
    "downey1988_ramp_0.03s": (3.23772, "inside"),
    "downey1988_ramp_0.1s": (1.09766, "inside"),
    "downey1988_ramp_1s": (0.100888, "inside"),
    "ficat1985_basal": (24.5169, "inside"),
    "ficat1985_early_osteonecrosis": (51.333, "inside"),
    "ficat1985_stress_test_normal": (99.7168, "above"),
    "ficat1985_stress_test_osteonecrosis": (2347.49, "inside"),
    "hofmann1993_bmes": (51.333, "inside"),
    "hungerford1975_normal": (24.5169, "inside"),
    "hungerford1975_osteonecrosis": (51.333, "inside"),
    "uchio2001_lateral_condyle": (24.771, "inside"),
    "uchio2001_medial_condyle_osteonecrosis": (41.8649, "inside"),
}


@pytest.mark.slow
def test_shipped_suite_reproduces_the_documented_table(tmp_path):
    """The table of docs/validation.md; and the default lesion's peak is its uniform Starling balance within 1 %: the
    exchange length sqrt(kappa / (L_l + G_l)) is below 1 mm, against a lesion tens of mm across."""
    results = tmp_path / "results"
    assert main(["validate", "--results-dir", str(results), "--jobs", "2"]) == 0
    rows = {row["measurement"]: row for row in csv.DictReader((results / REPORT_DIR / "validation.csv").open())}
    assert set(rows) == set(DOCUMENTED)
    for name, (model, verdict) in DOCUMENTED.items():
        assert float(rows[name]["model"]) == pytest.approx(model, rel=2e-3), name
        assert rows[name]["verdict"] == verdict, name
    config = load_config(ROOT / "configs" / "femoral_head_bmes.yaml")
    fluid, effects = config.fluid, config.lesion_effects
    filtration, drainage = fluid.capillary_filtration, calibrate_venous_conductance(fluid)
    lesion_filtration, lesion_drainage = effects.filtration_factor * filtration, effects.venous_outflow_factor * drainage
    p_eff = effects.capillary_pressure - effects.reflection_coefficient * (fluid.plasma_oncotic_pressure - effects.interstitial_oncotic_pressure)
    lesion_balance = uniform_steady_pressure(lesion_filtration, p_eff, lesion_drainage, effects.venous_pressure)
    mobility = config.tissue.trabecular.permeability / config.tissue.fluid_viscosity
    assert math.sqrt(mobility / (lesion_filtration + lesion_drainage)) < 1e-3
    assert float(rows["ficat1985_early_osteonecrosis"]["model"]) == pytest.approx(lesion_balance / PA_PER_MMHG, rel=0.01)
