"""Studies: a bad study file is one line before any case runs; designs have their sizes; Richardson and
the GCI recover a known order and limit; a case key ignores output settings; a study gives the same
table with 1 or 2 processes and on a Dask LocalCluster, resumes after Ctrl-C without recomputing, and
its one-at-a-time elasticity matches the closed-form uniform Starling balance."""

from __future__ import annotations

import csv
import importlib.util
import io
import itertools
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from conftest import DRAINED_BALL

from bmes_fem.cli import main
from bmes_fem.config.loader import load_config, with_overrides
from bmes_fem.physics.analytic import uniform_steady_pressure
from bmes_fem.physics.materials import calibrate_venous_conductance
from bmes_fem.studies import sensitivity
from bmes_fem.studies.convergence import richardson
from bmes_fem.studies.report import write_results
from bmes_fem.studies.study import case_key, load_study
from bmes_fem.studies.table import Row
from bmes_fem.units import PA_PER_MMHG

ROOT = Path(__file__).resolve().parents[1]
COARSE = ROOT / "configs" / "femoral_head_coarse.yaml"
QUANTITY = "pressure.p_lesion_mean_mmHg"


def _write(folder: Path, data: dict, name: str = "study.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _on_coarse_head(**design) -> dict:
    return {"name": "t", "base": str(COARSE), "set": {"output.figures": False}, "quantities": [QUANTITY], "plots": False, **design}


def _table(folder: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((folder / "table.csv").read_text())))


PRESSURE_RANGE = {"path": "fluid.target_pressure", "min": "20 mmHg", "max": "28 mmHg"}
BAD_STUDIES = {
    "bad_path": (
        {"morris": {"parameters": [{**PRESSURE_RANGE, "path": "fluid.target_presure"}]}},
        ["morris.parameters.0.min", "unknown key 'fluid.target_presure'", "target_pressure"],
    ),
    "bad_percent_path": (
        {"one_at_a_time": [{"path": "lesion_effects.filtration_fctor", "percent": 20}]},
        ["one_at_a_time.0.path", "lesion_effects.filtration_fctor", "not a parameter"],
    ),
    "min_above_max": (
        {"sobol": {"parameters": [{**PRESSURE_RANGE, "min": "28 mmHg", "max": "20 mmHg"}], "samples": 8}},
        ["sobol.parameters.0", "min = '28 mmHg' is not below max = '20 mmHg'", "fluid.target_pressure"],
    ),
    "unit_does_not_fit": (
        {"one_at_a_time": [{"path": "fluid.target_pressure", "low": "20 kg", "high": "28 mmHg"}]},
        ["one_at_a_time.0.low", "'20 kg'", "expected a pressure"],
    ),
    "unknown_quantity": (
        {"quantities": ["pressure.p_lesion_peek_mmHg"], "mesh": {"levels": [0, 1, 2]}},
        ["quantities", "unknown quantity 'pressure.p_lesion_peek_mmHg'"],
    ),
    "unknown_study_key": ({"grid": {"fluid.target_pressure": ["25 mmHg"]}, "sampels": 3}, ["unknown key 'sampels'", "quantities"]),
    "two_designs": (
        {"grid": {"fluid.target_pressure": ["25 mmHg"]}, "mesh": {"levels": [0, 1, 2]}},
        ["exactly one design", "grid, mesh"],
    ),
    "grid_unit_does_not_fit": (
        {"grid": {"fluid.target_pressure": ["25 mmHg", "3 kg"]}},
        ["grid.fluid.target_pressure.1", "'3 kg'", "expected a pressure"],
    ),
    "combination_the_schema_rejects": (
        {"grid": {"fluid.venous_pressure": ["15 mmHg", "22 mmHg"], "fluid.target_pressure": ["20 mmHg", "25 mmHg"]}},
        ["case 'grid_002'", "fluid.venous_pressure = 22 mmHg", "below fluid.target_pressure = 20 mmHg"],
    ),
    "levels_not_equally_spaced": ({"mesh": {"levels": [0, 1, 3]}}, ["mesh.levels", "equally spaced"]),
}


@pytest.mark.parametrize("case", sorted(BAD_STUDIES))
def test_bad_study_is_a_one_line_error_before_any_case_runs(tmp_path, capsys, case):
    design, fragments = BAD_STUDIES[case]
    results = tmp_path / "results"
    exit_code = main(["study", str(_write(tmp_path, _on_coarse_head(**design))), "--results-dir", str(results)])
    message = capsys.readouterr().err.strip()
    assert exit_code == 1
    assert len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, message
    assert not results.exists()


@pytest.mark.parametrize(
    ("design", "cases"),
    [
        ({"grid": {"fluid.target_pressure": ["22 mmHg", "25 mmHg", "28 mmHg"], "lesion_effects.filtration_factor": [2, 4]}}, 3 * 2),
        ({"one_at_a_time": [{"path": p, "percent": 20} for p in ("lesion_effects.filtration_factor", "lesion_effects.venous_outflow_factor",
                                                                 "lesions.0.semi_axes")]}, 2 * 3 + 1),
        ({"morris": {"parameters": [{"path": p, "min": 0.2, "max": 0.8} for p in ("lesion_effects.reflection_coefficient",
                                                                                  "lesion_effects.venous_outflow_factor")]
                     + [PRESSURE_RANGE, {"path": "lesions.0.semi_axes", "min": ["8 mm"] * 3, "max": ["12 mm"] * 3}],
                     "trajectories": 3}}, 3 * (4 + 1)),
        ({"sobol": {"parameters": [PRESSURE_RANGE, {"path": "lesion_effects.filtration_factor", "min": 2, "max": 4}], "samples": 8}}, 8 * (2 + 2)),
        ({"mesh": {"levels": [0, 1, 2], "refinement_factor": 1.5}}, 3),
    ],
    ids=["grid", "one_at_a_time", "morris", "sobol", "mesh"],
)
def test_design_sizes(tmp_path, design, cases):
    study = load_study(_write(tmp_path, _on_coarse_head(**design)))
    assert len(study.cases) == cases
    assert len({case.key for case in study.cases}) == cases  # every point is a different config


def test_designs_place_their_points(tmp_path):
    grid = load_study(_write(tmp_path, _on_coarse_head(grid={"fluid.target_pressure": ["22 mmHg", "28 mmHg"],
                                                             "lesion_effects.filtration_factor": [2, 4]})))
    pressures = {round(c.values["fluid.target_pressure"] / PA_PER_MMHG, 9) for c in grid.cases}
    assert pressures == {22.0, 28.0}
    assert {(round(c.values["fluid.target_pressure"] / PA_PER_MMHG), c.values["lesion_effects.filtration_factor"]) for c in grid.cases} == {
        (22, 2.0), (22, 4.0), (28, 2.0), (28, 4.0)}

    oat = load_study(_write(tmp_path, _on_coarse_head(one_at_a_time=[{"path": "lesions.0.semi_axes", "percent": 20}])))
    assert [c.label for c in oat.cases] == ["base", "lesions.0.semi_axes low", "lesions.0.semi_axes high"]
    np.testing.assert_allclose([c.values["lesions.0.semi_axes"] for c in oat.cases],
                               [[0.010, 0.008, 0.008], [0.008, 0.0064, 0.0064], [0.012, 0.0096, 0.0096]], rtol=1e-12)
    assert oat.parameters[0].column == "lesions.0.semi_axes [mm]"

    morris = load_study(_write(tmp_path, _on_coarse_head(morris={"parameters": [PRESSURE_RANGE, {"path": "lesion_effects.filtration_factor",
                                                                                                "min": 2, "max": 5}], "trajectories": 4})))
    steps = np.diff(morris.unit_sample.reshape(4, 3, 2), axis=1)  # r trajectories of k + 1 = 3 points
    assert np.all(np.count_nonzero(steps, axis=2) == 1)  # each step moves one parameter
    assert np.allclose(np.abs(steps[steps != 0]), 4 / 6)  # by Delta = p / (2 (p - 1)) on the 4-level grid
    low, high = 20 * PA_PER_MMHG, 28 * PA_PER_MMHG
    np.testing.assert_allclose([c.values["fluid.target_pressure"] for c in morris.cases], low + morris.unit_sample[:, 0] * (high - low))


def test_case_key_is_stable_and_ignores_output_settings(tmp_path):
    base = load_config(COARSE)
    key = case_key(base)
    assert len(key) == 16 and key == case_key(load_config(COARSE))
    same_physics = {"output.figures": False, "output.results_dir": str(tmp_path), "case": "renamed", "fluid.target_pressure": "25 mmHg"}
    assert case_key(with_overrides(base, same_physics)) == key
    assert case_key(with_overrides(base, {"fluid.target_pressure": "25.5 mmHg"})) != key
    fresh = subprocess.run(
        [sys.executable, "-c", f"from bmes_fem.config.loader import load_config as l; from bmes_fem.studies.study import case_key as k; print(k(l({str(COARSE)!r})))"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert fresh.stdout.strip() == key


@pytest.mark.parametrize("order", [1.0, 1.6, 2.0])
def test_richardson_and_gci_recover_a_power_law(order):
    """f(h) = f* + C h^p on h = 3, 3/sqrt(2), 1.5: p and f* exactly; GCI_fine = Fs |f1 - f*| / |f1|."""
    f_star, c = 32.7, -0.4
    h = [3.0, 3.0 / math.sqrt(2.0), 1.5]
    f = [f_star + c * x**order for x in h]
    result = richardson(h, f)
    assert result.behaviour == "monotone"
    assert result.ratio == pytest.approx(math.sqrt(2.0), rel=1e-12)
    assert result.order == pytest.approx(order, abs=1e-9)
    assert result.extrapolated == pytest.approx(f_star, abs=1e-9)
    assert result.gci_fine == pytest.approx(1.25 * abs(f[2] - f_star) / abs(f[2]), rel=1e-9)
    assert result.gci_medium == pytest.approx(1.25 * abs(f[1] - f_star) / abs(f[1]), rel=1e-9)
    assert result.asymptotic_ratio == pytest.approx(f[2] / f[1], rel=1e-9)  # exactly f1 / f2 for a pure power law


def test_richardson_flags_oscillation_and_uneven_ratios():
    oscillating = richardson([1.0, 0.5, 0.25], [1.5, 2.0, 1.0])
    assert oscillating.behaviour == "oscillatory" and math.isnan(oscillating.order) and math.isnan(oscillating.gci_fine)
    with pytest.raises(ValueError, match="constant refinement ratio"):
        richardson([1.0, 0.5, 0.2], [3.0, 2.0, 1.5])


def _analysis(tmp_path, design: dict, model, plots: bool = False) -> dict[str, dict[str, str]]:
    """analysis.csv rows by parameter (or quantity) for a study whose cases "returned" model(case)."""
    study = load_study(_write(tmp_path, {**_on_coarse_head(**design), "plots": plots}))
    rows = [Row(case, "ok", "", (model(case),)) for case in study.cases]
    write_results(tmp_path / "out", study, rows, complete=True)
    analysis = list(csv.DictReader(io.StringIO((tmp_path / "out" / "analysis.csv").read_text())))
    return {row.get("parameter", row["quantity"]): row for row in analysis}


def test_one_at_a_time_elasticities_of_a_power_law(tmp_path):
    """Q = f_L f_v^2: central differences of x and x^2 are exact, so E = 1 and 2; one-sided 1.8 and 2.2 at +-20 %."""
    paths = ("lesion_effects.filtration_factor", "lesion_effects.venous_outflow_factor")
    design = {"one_at_a_time": [{"path": path, "percent": 20} for path in paths]}
    analysis = _analysis(tmp_path, design, lambda case: case.values[paths[0]] * case.values[paths[1]] ** 2, plots=True)
    assert float(analysis[paths[0]]["E"]) == pytest.approx(1.0, rel=1e-12)
    assert float(analysis[paths[1]]["E"]) == pytest.approx(2.0, rel=1e-12)
    assert (float(analysis[paths[1]]["E low"]), float(analysis[paths[1]]["E high"])) == pytest.approx((1.8, 2.2), rel=1e-12)
    for plot in (f"tornado_{QUANTITY}.png", f"{QUANTITY}_vs_parameters.png"):
        assert (tmp_path / "out" / "plots" / plot).stat().st_size > 10_000


def test_morris_analysis_of_a_linear_model_gives_slope_times_range(tmp_path):
    """Q = a1 p0 + a2 f_L: every elementary effect per full range is a_i (max_i - min_i), so mu* = |a_i| range_i, sigma = 0."""
    slopes = {"fluid.target_pressure": 2e-3, "lesion_effects.filtration_factor": -0.7}
    design = {"morris": {"parameters": [PRESSURE_RANGE, {"path": "lesion_effects.filtration_factor", "min": 2, "max": 5}], "trajectories": 5}}
    analysis = _analysis(tmp_path, design, lambda case: sum(a * case.values[p] for p, a in slopes.items()), plots=True)
    assert float(analysis["fluid.target_pressure"]["mu*"]) == pytest.approx(2e-3 * 8 * PA_PER_MMHG, rel=1e-9)
    assert float(analysis["lesion_effects.filtration_factor"]["mu*"]) == pytest.approx(0.7 * 3, rel=1e-9)
    assert float(analysis["lesion_effects.filtration_factor"]["mu"]) == pytest.approx(-0.7 * 3, rel=1e-9)
    assert all(abs(float(row["sigma"])) < 1e-9 for row in analysis.values())
    assert (tmp_path / "out" / "plots" / f"morris_{QUANTITY}.png").stat().st_size > 10_000


def test_sobol_analysis_of_an_additive_model_shares_the_variance(tmp_path):
    """Q = a1 X1 + a2 X2, X uniform: S1_i = ST_i = (a_i r_i)^2 / sum_j (a_j r_j)^2 (here 0.8 and 0.2)."""
    design = {"sobol": {"parameters": [{"path": "lesion_effects.filtration_factor", "min": 2, "max": 4},
                                       {"path": "lesion_effects.venous_outflow_factor", "min": 0.2, "max": 0.6}], "samples": 128}}
    analysis = _analysis(tmp_path, design, lambda case: 2.0 * case.values["lesion_effects.filtration_factor"]
                         + 5.0 * case.values["lesion_effects.venous_outflow_factor"])
    for parameter, share in (("lesion_effects.filtration_factor", 0.8), ("lesion_effects.venous_outflow_factor", 0.2)):
        assert float(analysis[parameter]["S1"]) == pytest.approx(share, abs=0.05)
        assert float(analysis[parameter]["ST"]) == pytest.approx(share, abs=0.05)


def test_mesh_study_analysis_extrapolates_a_second_order_series(tmp_path):
    """f = 30 + 0.5 h^2 (h the global size in mm at each level): observed order 2 and f* = 30."""
    analysis = _analysis(tmp_path, {"mesh": {"levels": [0, 1, 2], "refinement_factor": math.sqrt(2.0)}},
                         lambda case: 30.0 + 0.5 * (case.config.mesh.at_level(case.config.mesh.size) * 1e3) ** 2, plots=True)
    row = analysis[QUANTITY]
    assert float(row["p"]) == pytest.approx(2.0, abs=1e-9)
    assert float(row["f*"]) == pytest.approx(30.0, abs=1e-9)
    assert row["convergence"] == "monotone"
    assert "## Grid convergence" in (tmp_path / "out" / "table.md").read_text()
    assert (tmp_path / "out" / "plots" / f"convergence_{QUANTITY}.png").stat().st_size > 10_000
    assert not (tmp_path / "out" / "plots" / "pressure_cutaways.png").exists()  # no case has fields.vtu here


def test_failed_case_is_recorded_with_its_error_and_the_exit_code_is_1(tmp_path, capsys):
    not_a_mesh = {"geometry": {"kind": "gmsh_file", "path": str(COARSE)}}
    study = _write(tmp_path, _on_coarse_head(cases=[{"name": "broken", "set": not_a_mesh}]))
    assert main(["study", str(study), "--results-dir", str(tmp_path / "results")]) == 1
    folder = tmp_path / "results" / "t"
    [row] = _table(folder)
    assert row["status"] == "failed" and row[QUANTITY] == ""
    assert "could not be read as a gmsh mesh" in row["error"]
    assert "could not be read as a gmsh mesh" in (folder / "logs" / f"{row['folder']}.stderr.txt").read_text()
    assert not (folder / "cases" / row["folder"]).exists()
    assert "some cases failed" in capsys.readouterr().out


def _readme_tables():
    """scripts/readme_tables.py as a module (registered, as its dataclasses need)."""
    if "readme_tables" not in sys.modules:
        spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "scripts" / "readme_tables.py")
        sys.modules["readme_tables"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["readme_tables"])
    return sys.modules["readme_tables"]


def test_readme_tables_rewrites_only_between_the_markers(tmp_path):
    tables = _readme_tables()
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "t.csv").write_text("level,value,note\n0,1.23456789,x\n1,2.5,y\n")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- table: t -->\nold table\n<!-- /table: t -->\nafter\n")
    mapping = {"t": tables.Table("bench/t.csv", {"level": "level", "value": "value (mm)"})}
    assert tables.update_readme(readme, mapping, tmp_path) is True
    assert readme.read_text() == (
        "intro\n<!-- table: t -->\n| level | value (mm) |\n| --- | --- |\n| 0 | 1.2346 |\n| 1 | 2.5 |\n<!-- /table: t -->\nafter\n"
    )
    written = readme.stat().st_mtime_ns
    assert tables.update_readme(readme, mapping, tmp_path) is False
    assert readme.stat().st_mtime_ns == written
    only_y = {"t": tables.Table("bench/t.csv", {"note": "note"}, where={"note": "y"})}
    assert tables.update_readme(readme, only_y, tmp_path) is True
    assert "| note |\n| --- |\n| y |\n<!-- /table: t -->" in readme.read_text()
    with pytest.raises(ValueError, match="<!-- table: absent -->"):
        tables.update_readme(readme, {"absent": mapping["t"]}, tmp_path)


def test_every_readme_table_is_made_from_its_committed_csv():
    """Each table marked in README.md has its CSV under benchmarks/results/ with the mapped columns, and the
    README holds exactly what the script would write (the tables are generated, not typed)."""
    tables = _readme_tables()
    readme = (ROOT / "README.md").read_text()
    marked = [name for name in tables.TABLES if f"<!-- table: {name} -->" in readme]
    assert {"verification", "mesh_gci", "oat_lesion"} <= set(marked)
    for name in marked:
        markdown = tables.table_markdown(tables.TABLES[name])
        assert markdown.count("\n") >= 3, name  # header, rule, at least one row
        assert f"<!-- table: {name} -->\n{markdown}" in readme, name


# --- studies that run cases: an octant of a ball with no-flux walls and one lesion covering the whole bone ----
# (the study machinery is what these test: a case takes about a second where the coarse head takes five)

CLOSED_BALL = {  # the drained ball of conftest without its drainage: rollers on the symmetry planes, no-flux walls
    **DRAINED_BALL,
    "case": "closed_ball",
    "mesh": {"size": "8 mm", "lesion_size": "8 mm"},
    "boundary_conditions": DRAINED_BALL["boundary_conditions"][:1],
}
UNIFORM = {
    "name": "uniform",
    "set": {
        "output.figures": False,
        "lesions": [{"name": "everywhere", "centre": ["0 mm"] * 3, "semi_axes": ["1 m"] * 3, "falloff_width": "1 mm"}],
    },
    "quantities": [QUANTITY, "pressure.p_max_mmHg"],
    "plots": False,
    "one_at_a_time": [{"path": "fluid.target_pressure", "percent": 10}],
}


def _study(*args: str, results: Path, study: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "bmes_fem.cli", "study", str(study), "--results-dir", str(results), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def uniform(tmp_path_factory):
    """The uniform study file (plots off) and the results of a run of it with --jobs 1 and plots on."""
    folder = tmp_path_factory.mktemp("uniform")
    study = {**UNIFORM, "base": str(_write(folder, CLOSED_BALL, "closed_ball.yaml"))}
    run = _study("--jobs", "1", results=folder / "jobs1", study=_write(folder, {**study, "plots": True}, "plotted.yaml"))
    assert run.returncode == 0, run.stderr[-2000:]
    return _write(folder, study), folder / "jobs1" / "uniform"


def _uniform_pressure_mmHg(config) -> float:
    """p = (L p_eff + G_v p_v) / (L + G_v) with the chi = 1 values and G_v = f_v G_v,h(p0)."""
    fluid, effects = config.fluid, config.lesion_effects
    p_eff = effects.capillary_pressure - effects.reflection_coefficient * (fluid.plasma_oncotic_pressure - effects.interstitial_oncotic_pressure)
    filtration = fluid.capillary_filtration * effects.filtration_factor
    drainage = calibrate_venous_conductance(fluid) * effects.venous_outflow_factor
    return uniform_steady_pressure(filtration, p_eff, drainage, effects.venous_pressure) / PA_PER_MMHG


@pytest.mark.slow
def test_one_at_a_time_elasticity_matches_the_uniform_starling_balance(uniform):
    """d ln p / d ln p0 through the calibration G_v,h = L (p_eff - p0) / (p0 - p_v): closed form to 1e-6."""
    study_path, folder = uniform
    study = load_study(study_path)
    rows = _table(folder)
    expected = [_uniform_pressure_mmHg(case.config) for case in study.cases]
    measured = [float(row[QUANTITY]) for row in rows]
    np.testing.assert_allclose(measured, expected, rtol=1e-6)
    np.testing.assert_allclose([float(row["pressure.p_max_mmHg"]) for row in rows], expected, rtol=1e-6)
    values = np.array([[float(row[quantity]) for quantity in study.quantities] for row in rows])
    [elasticity] = sensitivity.one_at_a_time(study, values)[QUANTITY]
    x = [case.values["fluid.target_pressure"] for case in study.cases]  # base, low, high
    closed_form = sensitivity.elasticity(x[1], x[2], expected[1], expected[2], x[0], expected[0])
    assert abs(closed_form) > 0.05  # not trivial: p0 moves the balance through G_v,h
    assert elasticity.central == pytest.approx(closed_form, rel=1e-6)
    tables = _readme_tables()  # the analysis.csv columns that the README's oat_lesion table reads
    readme_rows = tables.Table("analysis.csv", {"parameter": "p", "E": "E"}, where={"quantity": QUANTITY})
    assert f"| fluid.target_pressure [mmHg] | {elasticity.central:.5g} |" in tables.table_markdown(readme_rows, folder)
    image = plt.imread(folder / "plots" / "pressure_cutaways.png")[..., :3]
    height, width = image.shape[:2]
    assert width > 3 * height  # three cut-aways side by side
    panels = [panel.reshape(-1, 3) for panel in np.array_split(image, 3, axis=1)]
    colours = [np.mean(panel[np.ptp(panel, axis=1) > 0.2], axis=0) for panel in panels]  # the coloured pixels
    assert min(np.abs(a - b).sum() for a, b in itertools.combinations(colours, 2)) > 0.1  # one colour scale, three pressures


@pytest.mark.slow
def test_two_jobs_give_the_table_of_one(uniform, tmp_path):
    study, folder = uniform
    run = _study("--jobs", "2", results=tmp_path, study=study)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "uniform" / "table.csv").read_text() == (folder / "table.csv").read_text()


@pytest.mark.slow
def test_dask_local_cluster_gives_the_table_of_one_process(uniform, tmp_path):
    study, folder = uniform
    run = _study("--executor", "dask", "--jobs", "2", results=tmp_path, study=study)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "uniform" / "table.csv").read_text() == (folder / "table.csv").read_text()


@pytest.mark.slow
def test_interrupted_study_resumes_without_recomputing_finished_cases(uniform, tmp_path):
    study, folder = uniform
    cases = tmp_path / "uniform" / "cases"
    command = [sys.executable, "-m", "bmes_fem.cli", "study", str(study), "--results-dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not list(cases.glob("*/summary.json")):
        assert process.poll() is None and time.monotonic() < deadline, "no case finished"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, err[-2000:]
    assert "interrupted" in out

    finished = {path.parent.name: path.stat().st_mtime_ns for path in cases.glob("*/summary.json")}
    assert sorted(path.name for path in cases.iterdir()) == sorted(finished)  # no half-written case folder
    rows = _table(tmp_path / "uniform")
    assert {row["folder"] for row in rows if row["status"] == "ok"} == set(finished)
    assert all(row["status"] == "not run" and row[QUANTITY] == "" for row in rows if row["folder"] not in finished)
    assert len(finished) < len(rows)

    rerun = _study(results=tmp_path, study=study)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{len(finished)} reused" in rerun.stdout
    assert {name: (cases / name / "summary.json").stat().st_mtime_ns for name in finished} == finished
    assert (tmp_path / "uniform" / "table.csv").read_text() == (folder / "table.csv").read_text()
