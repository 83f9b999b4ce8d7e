"""Calibration: the surrogates' leave-one-out errors equal brute-force refits; the sampler recovers an analytic
Gaussian posterior; a bad calibration file is one line before any run; on the coarse head, pressures made by
the model at known parameters plus noise are recovered inside their 95 % intervals (coverage over 10 seeds),
and a fit to the BMES range 40-60 mmHg gives a config whose run lies inside it."""

from __future__ import annotations

import ast
import csv
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from conftest import DRAINED_BALL, EXCHANGE_LENGTH_8_MM
from scipy.linalg import cho_factor, cho_solve
from scipy.stats import qmc

from bmes_fem.cli import main
from bmes_fem.config.loader import load_config
from bmes_fem.errors import BmesError, ConfigError
from bmes_fem.studies.executor import LocalExecutor
from bmes_fem.units import PA_PER_MMHG
from bmes_fem.validation import calibration
from bmes_fem.validation.calibration_file import load_calibration
from bmes_fem.validation.calibration_report import REPORT_FILES, report_markdown, write_report
from bmes_fem.validation.design_runs import read_outputs, run_design
from bmes_fem.validation.fit import calibrate, fit_surfaces, fit_to_measurements
from bmes_fem.validation.plots import DPI, MARGINAL_SIZE_IN, corner_plot, draw_marginal
from bmes_fem.validation.posterior import McmcSpec, best_fit, fit_posterior
from bmes_fem.validation.runs import run_configs
from bmes_fem.validation.surrogate import SURFACES, GaussianProcess, QuadraticSurface, fit_surface

ROOT = Path(__file__).resolve().parents[1]
COARSE = ROOT / "configs" / "femoral_head_coarse.yaml"
BMES_RANGE_COARSE = ROOT / "configs" / "calibration" / "bmes_range_coarse.yaml"
LESION_CENTRE = ["4 mm", "4 mm", "10 mm"]


def _smooth(t: np.ndarray) -> np.ndarray:
    return 30.0 + 10.0 * np.tanh(2.0 * t[:, 0] - 1.0) + 5.0 * t[:, 1] ** 2 + 3.0 * t[:, 0] * t[:, 1]


def test_gaussian_process_leave_one_out_is_the_refit_without_the_point():
    t = qmc.LatinHypercube(d=2, rng=3).random(14)
    y = _smooth(t)
    gp = GaussianProcess(t, y)
    loo = gp.leave_one_out()
    z = (y - gp.offset) / gp.scale
    for i in range(len(t)):
        keep = np.arange(len(t)) != i
        k = gp._covariance(t[keep], t[keep]) + gp.nugget * np.eye(keep.sum())
        factor = cho_factor(k)
        k_star = gp._covariance(t[i : i + 1], t[keep])[0]
        mean = k_star @ cho_solve(factor, z[keep])
        variance = gp.signal - k_star @ cho_solve(factor, k_star)
        assert loo.errors[i] == pytest.approx(gp.scale * (z[i] - mean), rel=1e-6, abs=1e-9)
        assert loo.sd[i] == pytest.approx(gp.scale * math.sqrt(variance + gp.nugget), rel=1e-6)
    test = qmc.LatinHypercube(d=2, rng=4).random(200)
    error = np.sqrt(np.mean((gp.predict(test)[0] - _smooth(test)) ** 2))
    assert error < 0.01 * np.ptp(y)  # 14 points of a smooth function over an 18-unit range
    assert 0.5 * error < loo.rmse < 2.0 * error  # leave-one-out estimates the error away from the design


def test_quadratic_surface_is_exact_on_a_quadratic_and_press_is_the_refit():
    t = qmc.LatinHypercube(d=3, rng=5).random(16)
    exact = 1.0 + t @ [1.0, -2.0, 0.5] + 3.0 * t[:, 0] * t[:, 2] - t[:, 1] ** 2
    surface = QuadraticSurface(t, exact)
    assert surface.leave_one_out().max_abs < 1e-9
    y = exact + np.sin(7.0 * t[:, 0])
    press = QuadraticSurface(t, y).leave_one_out().errors
    for i in range(len(t)):
        keep = np.arange(len(t)) != i
        assert press[i] == pytest.approx(y[i] - QuadraticSurface(t[keep], y[keep]).predict(t[i : i + 1])[0][0], rel=1e-8)
    applies = [kind for kind in SURFACES if kind != "log_gaussian_process" or np.min(y) > 0.0]
    assert set(fit_surface(t, y).tried) == set(applies)
    assert fit_surface(t, y).kind == min(applies, key=lambda kind: fit_surface(t, y, kind).tried[kind].rmse)


def test_log_gaussian_process_is_log_normal_and_kept_for_an_output_over_decades():
    """y = 25 exp(4 t_0 - 3 t_1) (a decay over three decades, as a pressure exp(-t / tau)): the GP of ln y is
    kept by auto with a leave-one-out RMSE under a tenth of the GP of y; its leave-one-out errors are y_i minus
    the log-normal mean exp(m_-i + v_-i / 2) of the closed-form GP of ln y without point i; its draws are
    exp(m + sqrt(v) e), positive at e = -5; a non-positive output is refused by name and skipped by auto."""
    t = qmc.LatinHypercube(d=2, rng=3).random(14)
    y = 25.0 * np.exp(4.0 * t[:, 0] - 3.0 * t[:, 1])
    auto = fit_surface(t, y)
    assert auto.kind == "log_gaussian_process"
    assert auto.tried["log_gaussian_process"].rmse < 0.1 * auto.tried["gaussian_process"].rmse
    surface = auto.surface
    gp = surface.log
    z = (np.log(y) - gp.offset) / gp.scale
    loo = surface.leave_one_out()
    for i in range(len(t)):
        keep = np.arange(len(t)) != i
        factor = cho_factor(gp._covariance(t[keep], t[keep]) + gp.nugget * np.eye(keep.sum()))
        k_star = gp._covariance(t[i : i + 1], t[keep])[0]
        m = gp.offset + gp.scale * (k_star @ cho_solve(factor, z[keep]))
        v = gp.scale**2 * (gp.signal - k_star @ cho_solve(factor, k_star) + gp.nugget)
        assert loo.errors[i] == pytest.approx(y[i] - math.exp(m + v / 2), rel=1e-6, abs=1e-9 * y[i])  # y_i - mean cancels
        assert loo.sd[i] == pytest.approx(math.sqrt(math.expm1(v) * math.exp(2 * m + v)), rel=1e-6)
    test = qmc.LatinHypercube(d=2, rng=4).random(50)
    m, v = gp.predict(test)
    mean, variance = surface.predict(test)
    assert mean == pytest.approx(np.exp(m + v / 2), rel=1e-12) and variance == pytest.approx(np.expm1(v) * np.exp(2 * m + v), rel=1e-12)
    assert auto.draw(test, np.full(len(test), -5.0)) == pytest.approx(np.exp(m - 5.0 * np.sqrt(v)), rel=1e-12)
    assert np.all(auto.draw(test, np.full(len(test), -5.0)) > 0.0)
    shifted = y - np.min(y)  # one zero
    with pytest.raises(ValueError, match="a surface of ln y needs positive outputs, got a smallest of 0"):
        fit_surface(t, shifted, "log_gaussian_process")
    assert set(fit_surface(t, shifted).tried) == {"gaussian_process", "quadratic"}


class _Line:
    """A surrogate mu(t) = a + b t_0, exact (zero variance)."""

    def __init__(self, a: float, b: float) -> None:
        self.a, self.b = a, b

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.atleast_2d(t)
        return self.a + self.b * t[:, 0], np.zeros(len(t))


def test_posterior_of_a_linear_model_is_the_analytic_gaussian():
    """y = 20 + 40 t, measured 40 +- 2: the posterior of t is N(0.5, 0.05^2) (the box [0, 1] is 10 SD away)."""
    surfaces, y, sd = [_Line(20.0, 40.0)], np.array([40.0]), np.array([2.0])
    design = qmc.LatinHypercube(d=1, rng=1).random(8)
    posterior = fit_posterior(surfaces, y, sd, McmcSpec(walkers=16, steps=3000, burn=500, seed=2), design)
    assert posterior.best[0] == pytest.approx(0.5, abs=1e-6)
    assert posterior.chi2 == pytest.approx(0.0, abs=1e-10)
    low, median, high = posterior.quantiles()[:, 0]
    assert (low, median, high) == pytest.approx((0.5 - 1.96 * 0.05, 0.5, 0.5 + 1.96 * 0.05), abs=0.006)
    assert 0.5 < posterior.acceptance < 0.9
    assert best_fit(surfaces, np.array([70.0]), sd, np.array([[0.5]]))[0][0] == pytest.approx(1.0)  # the bound holds




def _calibration(folder: Path, name: str = "c", **changes) -> Path:
    base = folder / "size_sensitive_coarse_head.yaml"
    base.write_text(yaml.safe_dump({**yaml.safe_load(COARSE.read_text()), **EXCHANGE_LENGTH_8_MM}, sort_keys=False))
    data = {
        "name": "synthetic",
        "base": str(base),
        "parameters": [
            {"path": "lesion_effects.filtration_factor", "min": 1.5, "max": 6},
            {"path": "lesions.0.semi_axes", "factor": [0.8, 1.25]},
        ],
        "measurements": [
            {"name": "lesion_centre", "point": LESION_CENTRE, "value": "30 mmHg", "sd": "0.5 mmHg"},
            {"name": "lesion_edge", "point": ["4 mm", "12 mm", "10 mm"], "value": "28 mmHg", "sd": "0.5 mmHg"},
            {"name": "healthy", "region": "healthy_trabecular_mean", "value": "25 mmHg", "sd": "0.5 mmHg"},
        ],
        "predictions": ["pressure.p_lesion_peak_mmHg"],
        "design": {"kind": "latin_hypercube", "samples": 16, "seed": 1},
        "mcmc": {"walkers": 16, "steps": 2500, "burn": 500, "seed": 1},
    }
    data.update(changes)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


PARAMETER = {"path": "lesion_effects.filtration_factor", "min": 1.5, "max": 6}
BAD_CALIBRATIONS = {
    "unknown_path": ({"parameters": [{**PARAMETER, "path": "lesion_effects.filtration_fctor"}]},
                     "parameters.0.min", "unknown key 'lesion_effects.filtration_fctor'"),
    "no_bounds": ({"parameters": [{"path": "lesion_effects.filtration_factor"}]}, "parameters.0", "has no bounds"),
    "min_below_schema": ({"parameters": [{**PARAMETER, "min": 0}]}, "parameters.0.min", "filtration_factor"),
    "max_above_schema": ({"parameters": [{"path": "lesion_effects.reflection_coefficient", "min": 0.5, "max": 1.2}]},
                         "parameters.0.max", "reflection_coefficient"),
    "factor_above_schema": ({"parameters": [{"path": "lesion_effects.reflection_coefficient", "factor": [0.5, 2]}]},
                            "parameters.0.factor.1", "reflection_coefficient"),
    "min_not_below_max": ({"parameters": [{**PARAMETER, "min": 6, "max": 1.5}]}, "parameters.0", "is not below"),
    "vector_min_max": ({"parameters": [{"path": "lesions.0.semi_axes", "min": ["8 mm"] * 3, "max": ["12 mm"] * 3}]},
                       "parameters.0", "factor"),
    "wrong_unit": ({"parameters": [{"path": "lesion_effects.capillary_pressure", "min": "45 mm", "max": "60 mmHg"}]},
                   "parameters.0.min", "expected a pressure"),
    "point_outside_mesh": ({"measurements": [{"name": "far", "point": ["100 mm", "0 mm", "0 mm"], "value": "30 mmHg", "sd": "1 mmHg"}]},
                           "measurements.0.point = (100, 0, 0) mm", "outside the mesh"),
    "time_on_steady": ({"measurements": [{"name": "n", "point": LESION_CENTRE, "time": "1 s", "value": "30 mmHg", "sd": "1 mmHg"}]},
                       "measurements.0.time", "transient base"),
    "no_spread": ({"measurements": [{"name": "n", "point": LESION_CENTRE, "value": "30 mmHg"}]}, "measurements", "give value and sd"),
    "point_and_region": ({"measurements": [{"name": "n", "point": LESION_CENTRE, "region": "lesion_mean", "value": "3 mmHg", "sd": "1 mmHg"}]},
                         "measurements", "give a point"),
    "unknown_prediction": ({"predictions": ["pressure.p_lesion_peek_mmHg"]}, "predictions", "p_lesion_peek_mmHg"),
    "too_few_samples": ({"design": {"samples": 6}}, "design.samples = 6", "at least 7"),
    "sobol_not_power_of_two": ({"design": {"kind": "sobol", "samples": 12}}, "design", "power of 2"),
    "odd_walkers": ({"mcmc": {"walkers": 15}}, "mcmc", "even"),
    "unknown_key": ({"surogate": "auto"}, "surogate", "unknown key"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BAD_CALIBRATIONS))
def test_bad_calibration_is_one_line_before_any_run(tmp_path, name):
    changes, key, expected = BAD_CALIBRATIONS[name]
    path = _calibration(tmp_path, **changes)
    with pytest.raises(ConfigError) as error:
        load_calibration(path)
    message = str(error.value)
    assert key in message and expected in message and "\n" not in message, message
    assert str(path) in message
    assert not (tmp_path / "results").exists()


TRUTH = {"lesion_effects.filtration_factor": 3.7, "lesions.0.semi_axes": 1.1}  # filtration factor; size factor
NOISE_SD_MMHG = 0.5
SEEDS = range(10)
#: the drained ball with a focal lesion: a run takes under a second (the coarse head ~5 s); one mesh for every
#: lesion size (lesion_size = size), so the outputs are smooth in the size factor
LESION_BALL = {
    **DRAINED_BALL,
    "case": "lesion_ball",
    "mesh": {"size": "6 mm", "lesion_size": "6 mm"},
    "lesions": [{"name": "focal", "centre": ["8 mm"] * 3, "semi_axes": ["7 mm"] * 3, "falloff_width": "2 mm"}],
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The lesion ball's design (16 + 4 corner runs) and the run at TRUTH, once for the module."""
    folder = tmp_path_factory.mktemp("synthetic")
    (folder / "lesion_ball.yaml").write_text(yaml.safe_dump(LESION_BALL, sort_keys=False))
    measurements = [
        {"name": "lesion_centre", "point": ["8 mm"] * 3, "value": "30 mmHg", "sd": "0.5 mmHg"},
        {"name": "lesion_edge", "point": ["8 mm", "14 mm", "8 mm"], "value": "24 mmHg", "sd": "0.5 mmHg"},
        {"name": "healthy", "region": "healthy_trabecular_mean", "value": "18 mmHg", "sd": "0.5 mmHg"},
    ]
    mcmc = {"walkers": 64, "steps": 625, "burn": 125, "seed": 1}  # the samples of 16 x 2500 (500 burnt) in a quarter of the steps
    problem = load_calibration(_calibration(folder, base=str(folder / "lesion_ball.yaml"), measurements=measurements, mcmc=mcmc))
    t_truth = np.array([(TRUTH[p.path] - p.low) / (p.high - p.low) for p in problem.parameters])
    with LocalExecutor(jobs=2) as executor:
        runs, design, outputs = run_design(problem, executor, folder / "results")
        truth_runs = run_configs("truth", {"truth": problem.config_at(t_truth)}, executor, folder / "results", problem.path)
    assert runs.run.exit_code == 0 and len(design) == 16 + 4  # Latin hypercube and the corners
    return problem, design, outputs, t_truth, read_outputs(problem, truth_runs.folder("truth"))


@pytest.mark.slow
def test_synthetic_data_are_recovered_in_9_of_10_seeds(synthetic):
    """Truth + N(0, 0.5 mmHg) noise on the three measurements; both parameters inside their 95 % intervals."""
    problem, design, outputs, t_truth, truth = synthetic
    measured = problem.measured
    surfaces = fit_surfaces(design, outputs, problem.spec.surrogate)  # the noise is in the data, not in the runs
    covered, widths = [], []
    for seed in SEEDS:
        noisy = truth[measured] + np.random.default_rng(seed).normal(0.0, NOISE_SD_MMHG, len(measured))
        calibrated = fit_to_measurements(problem, design, outputs, surfaces, values=noisy)
        low, _, high = calibrated.posterior.quantiles()
        covered.append(bool(np.all((low <= t_truth) & (t_truth <= high))))
        widths.append(high - low)
    for j, surface in enumerate(calibrated.surfaces[: len(measured)]):
        assert surface.tried[surface.kind].rmse < 0.3 * NOISE_SD_MMHG, problem.outputs[j].name
    print(f"synthetic coverage: {sum(covered)} of {len(SEEDS)} seeds; mean 95 % interval widths (fraction of the bounds) {np.mean(widths, axis=0)}")
    assert sum(covered) >= 9, covered
    # the data inform both parameters: on average at least 10 % narrower than the prior's central 95 % interval
    # (0.95 of the box), which a posterior equal to the prior would give (measured: 0.62 and 0.51; 9 of 10 seeds covered)
    assert np.all(np.mean(widths, axis=0) < 0.9 * 0.95)


@pytest.mark.slow
def test_range_fit_gives_a_config_inside_the_range(tmp_path, capsys):
    """`bmes calibrate` with the shipped range calibration (bmes_range_coarse.yaml: its parameters, predictions,
    design and sampler) on the lesion ball, whose lesion centre reaches 22-37 mmHg over the box: the range asked is
    25-35 mmHg, and the fitted config's run lands in it where the surrogate said."""
    (tmp_path / "lesion_ball.yaml").write_text(yaml.safe_dump(LESION_BALL, sort_keys=False))
    spec = yaml.safe_load(BMES_RANGE_COARSE.read_text())
    spec["base"] = str(tmp_path / "lesion_ball.yaml")
    spec["measurements"][0].update(point=["8 mm"] * 3, range=["25 mmHg", "35 mmHg"])
    (tmp_path / "range.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    results = tmp_path / "results"
    assert main(["calibrate", str(tmp_path / "range.yaml"), "--results-dir", str(results), "--jobs", "2"]) == 0
    folder = results / spec["name"]
    report = json.loads((folder / "calibration.json").read_text())
    run = report["outputs"]["lesion_centre"]["fitted_config_run"]
    assert 25.0 <= run <= 35.0
    assert run == pytest.approx(report["outputs"]["lesion_centre"]["best_fit_surrogate"], abs=1.0)
    fitted = load_config(folder / "fitted.yaml")
    best = report["parameters"]["lesion_effects.capillary_pressure"]["best_fit"]
    assert fitted.lesion_effects.capillary_pressure / 133.322387415 == pytest.approx(best, rel=1e-9)
    for name in ("corner.png", "predictions.png", "design.csv", "posterior.csv", "calibration.md"):
        assert (folder / name).stat().st_size > 100
    assert "95 % credible interval" in capsys.readouterr().out


def _png_size(path: Path) -> tuple[int, int]:
    """(height, width) in pixels of a written figure."""
    return plt.imread(path).shape[:2]


def test_corner_plot_is_a_marginal_for_one_parameter_and_a_corner_for_three(tmp_path):
    """k = 1: the histogram over the prior bounds (its area 1), the 95 % interval, the median and the best fit at
    their values, in the marginal's own figure; k = 3: the corner package's 3 x 3 grid."""
    bounds = [(20.0, 40.0), (1.0, 3.0), (0.0, 1.0)]
    samples = np.clip(np.random.default_rng(7).normal([30.0, 2.0, 0.5], [2.0, 0.3, 0.1], size=(4000, 3)), *np.transpose(bounds))
    labels, best = ["p [mmHg]", "f factor", "t"], [31.0, 2.1, 0.45]
    fig, ax = plt.subplots()
    draw_marginal(ax, samples[:, 0], labels[0], bounds[0], best[0])
    artists = {a.get_label(): a for a in [*ax.lines, *ax.patches, *ax.collections]}
    x, y = artists["posterior"].get_xy().T
    assert 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) == pytest.approx(1.0)  # a density over the bounds
    low, median, high = np.percentile(samples[:, 0], [2.5, 50.0, 97.5])
    interval = artists["95 % credible interval"]
    assert (interval.get_x(), interval.get_x() + interval.get_width()) == pytest.approx((low, high))
    assert artists["posterior median"].get_xdata()[0] == pytest.approx(median)
    assert artists["best fit"].get_xdata()[0] == best[0]
    assert {line.get_xdata()[0] for line in ax.lines if line.get_color() == artists["prior bounds"].get_color()} == set(bounds[0])
    plt.close(fig)
    one = corner_plot(tmp_path / "one.png", samples[:, :1], labels[:1], bounds[:1], best[:1])
    assert _png_size(one) == (round(MARGINAL_SIZE_IN[1] * DPI), round(MARGINAL_SIZE_IN[0] * DPI))
    height, width = _png_size(corner_plot(tmp_path / "three.png", samples, labels, bounds, best))
    assert abs(height - width) < 0.15 * width and width > 1.2 * _png_size(one)[1]  # a square grid of 3 x 3 panels


def _one_parameter(folder: Path, design: dict) -> Path:
    """A calibration of the filtration factor alone to one measured pressure (no prediction: one output)."""
    return _calibration(folder, parameters=[PARAMETER], predictions=[], design=design,
                        measurements=[{"name": "lesion_centre", "point": LESION_CENTRE, "value": "25 mmHg", "sd": "0.5 mmHg"}],
                        mcmc={"walkers": 16, "steps": 1500, "burn": 300, "seed": 3})  # fmt: skip


@pytest.mark.parametrize(("design", "points"), [({"kind": "latin_hypercube", "samples": 4, "corners": True}, 4 + 2),
                                                 ({"kind": "sobol", "samples": 8, "corners": False}, 8)])  # fmt: skip
def test_one_parameter_calibration_fits_and_reports_on_synthetic_outputs(tmp_path, design, points):
    """k = 1 with its two corners and with a Sobol' design; one output y = 20 + 10 t measured 25 +- 0.5: the posterior
    is N(0.5, 0.05^2) in t, the band of the one output holds 25, and every report file is written."""
    problem = load_calibration(_one_parameter(tmp_path, design), check_mesh=False)
    t = problem.design[:, 0]
    assert problem.design.shape == (points, 1) and len(np.unique(t)) == points and t.min() >= 0.0 and t.max() <= 1.0
    assert not design["corners"] or {0.0, 1.0} <= set(t)
    calibrated = calibrate(problem, problem.design, (20.0 + 10.0 * t)[:, None])
    assert calibrated.posterior.best[0] == pytest.approx(0.5, abs=1e-3)
    low, median, high = calibrated.posterior.quantiles()[:, 0]
    assert (low, median, high) == pytest.approx((0.5 - 1.96 * 0.05, 0.5, 0.5 + 1.96 * 0.05), abs=0.01)
    assert calibrated.predictive_bands.shape == (1, 3)
    band = calibrated.predictive_bands[0]
    assert band[0] < 25.0 < band[2] and band[1] == pytest.approx(25.0, abs=0.1)
    fitted = problem.config_at(calibrated.posterior.best)
    folder = tmp_path / "report"
    written = write_report(folder, calibrated, fitted, report_markdown(calibrated, tmp_path / "synthetic_design", None))
    assert [path.name for path in written] == list(REPORT_FILES) and all(path.stat().st_size > 100 for path in written)
    assert _png_size(folder / "corner.png") == (round(MARGINAL_SIZE_IN[1] * DPI), round(MARGINAL_SIZE_IN[0] * DPI))
    rows = list(csv.reader((folder / "posterior.csv").open()))
    assert rows[0] == [problem.parameters[0].label] and len(rows) > 1000
    assert float(rows[1][0]) == pytest.approx(float(problem.parameters[0].shown(calibrated.posterior.samples[0, 0])))
    report = json.loads((folder / "calibration.json").read_text())
    assert report["parameters"][PARAMETER["path"]]["best_fit"] == pytest.approx(1.5 + 0.5 * 4.5, abs=0.01)
    assert list(report["outputs"]) == ["lesion_centre"]
    assert "did not run" in (folder / "calibration.md").read_text()


SPHERE = DRAINED_BALL
DRAINAGE = "boundary_conditions.1.pressure"


@pytest.mark.slow  # five runs of the ball in subprocesses: 23-57 s measured on the shared 2-core machine
def test_one_parameter_calibrate_command_end_to_end(tmp_path, monkeypatch, capsys):
    """`bmes calibrate` with one parameter (drainage pressure, design with its corners) and one measured point: a
    fit stage that fails leaves the design runs and says so in one line; the rerun reuses them and writes the whole
    report, the corner plot as the 1D marginal, and a fitted config whose run matches the measurement."""
    (tmp_path / "sphere.yaml").write_text(yaml.safe_dump(SPHERE, sort_keys=False))
    path = _calibration(tmp_path, base="sphere.yaml", predictions=["pressure.p_healthy_trabecular_mean_mmHg"],
                        parameters=[{"path": DRAINAGE, "min": "10 mmHg", "max": "20 mmHg"}],
                        measurements=[{"name": "centre", "point": ["4 mm"] * 3, "value": "22 mmHg", "sd": "0.3 mmHg"}],
                        design={"samples": 4, "corners": False}, mcmc={"walkers": 8, "steps": 600, "burn": 200})  # fmt: skip
    results = tmp_path / "results"
    command = ["calibrate", str(path), "--results-dir", str(results), "--jobs", "2"]

    def failing_fit(*args, **kwargs):
        raise BmesError("the fit failed (test)")

    monkeypatch.setattr(calibration, "calibrate", failing_fit)
    assert main(command) == 1
    errors = capsys.readouterr().err.splitlines()
    notes = [line for line in errors if "no report written" in line]
    assert len(notes) == 1 and str(results / "synthetic_design") in notes[0] and "reuses them" in notes[0], errors
    assert "bmes: error: the fit failed (test)" in errors
    assert not (results / "synthetic").exists()
    design_summaries = {p: p.stat().st_mtime_ns for p in (results / "synthetic_design" / "cases").glob("*/summary.json")}
    assert len(design_summaries) == 4

    def interrupted_fit(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(calibration, "calibrate", interrupted_fit)  # Ctrl-C in the fit, after the design (reused)
    assert main(command) == 130
    errors = capsys.readouterr().err.splitlines()
    assert [line for line in errors if "no report written" in line] == notes and "bmes: interrupted" in errors

    monkeypatch.undo()
    assert main(command) == 0
    assert {p: p.stat().st_mtime_ns for p in (results / "synthetic_design" / "cases").glob("*/summary.json")} == design_summaries  # reused
    folder = results / "synthetic"
    for name in REPORT_FILES:
        assert (folder / name).stat().st_size > 100, name
    assert _png_size(folder / "corner.png") == (round(MARGINAL_SIZE_IN[1] * DPI), round(MARGINAL_SIZE_IN[0] * DPI))
    assert next(csv.reader((folder / "posterior.csv").open())) == [f"{DRAINAGE} [mmHg]"]
    report = json.loads((folder / "calibration.json").read_text())
    assert report["outputs"]["centre"]["fitted_config_run"] == pytest.approx(22.0, abs=0.3)  # within the measurement's SD
    best = report["parameters"][DRAINAGE]["best_fit"]
    assert load_config(folder / "fitted.yaml").boundary_conditions[1].pressure / PA_PER_MMHG == pytest.approx(best, rel=1e-9)
    assert "95 % credible interval" in capsys.readouterr().out


def _validation_imports() -> dict[str, dict[str, bool]]:
    """Module -> {imported bmes_fem.validation module: whether imported inside a function}, from the source."""
    package = ROOT / "bmes_fem" / "validation"
    graph: dict[str, dict[str, bool]] = {}
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text())
        in_function = {id(node) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for node in ast.walk(f)}
        edges = graph.setdefault(path.stem, {})
        for node in ast.walk(tree):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name and name.startswith("bmes_fem.validation."):
                    target = name.split(".")[2]
                    edges[target] = edges.get(target, False) or id(node) in in_function
    return graph


def test_validation_modules_import_each_other_without_a_circle():
    """The imports between the modules of bmes_fem.validation (at any level, TYPE_CHECKING included) form no cycle,
    so each module imports first in any order; only the command imports inside functions (the parser is built
    without the model stack)."""
    graph = _validation_imports()
    assert {"calibration_file", "design_runs", "fit", "calibration_report", "calibration", "plots"} <= set(graph)
    assert {module for module, edges in graph.items() if any(edges.values())} == {"command"}
    state: dict[str, str] = {}

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert state.get(module) != "open", f"import circle: {' -> '.join((*path, module))}"
        if state.get(module) is None:
            state[module] = "open"
            for target in graph[module]:
                visit(target, (*path, module))
            state[module] = "done"

    for module in graph:
        visit(module, ())
