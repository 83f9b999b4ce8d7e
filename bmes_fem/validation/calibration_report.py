"""The report of a calibration: tables (parameters, outputs, surrogates), the markdown text, design.csv,
posterior.csv, calibration.json, the corner and predictions figures and fitted.yaml, written atomically to
``<results-dir>/<name>/`` (REPORT_FILES; docs/validation.md §4, Outputs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.output.io import atomic_directory
from bmes_fem.studies.table import cell, csv_string, markdown_table
from bmes_fem.validation.fit import Calibrated
from bmes_fem.validation.plots import corner_plot, predictions_plot
from bmes_fem.validation.posterior import QUANTILES
from bmes_fem.validation.surrogate import SURFACES

POSTERIOR_ROWS = 10000  # samples kept in posterior.csv
BOUND_TOLERANCE = 1e-3  # a best fit this close to 0 or 1 in unit coordinates is reported as on its bound
DIGITS = 4


def _n(value: float, digits: int = DIGITS) -> str:
    return cell(float(value), digits)


def parameter_rows(calibrated: Calibrated) -> list[list[str]]:
    """parameter, prior bounds, best fit, posterior median, 95 % credible interval (display units)."""
    q = calibrated.posterior.quantiles()
    rows = []
    for i, p in enumerate(calibrated.problem.parameters):
        low, high = p.shown_bounds
        shown = p.shown(q[:, i])
        t = calibrated.posterior.best[i]
        bound = " (lower bound)" if t < BOUND_TOLERANCE else " (upper bound)" if t > 1.0 - BOUND_TOLERANCE else ""
        rows.append([p.label, f"{_n(low)} to {_n(high)}", _n(calibrated.best_shown[i]) + bound, _n(shown[1]), f"{_n(shown[0])} to {_n(shown[2])}"])
    return rows


def output_rows(calibrated: Calibrated) -> list[list[str]]:
    """output, unit, measured, surrogate at the best fit, posterior predictive median [95 %], run of the fitted config."""
    mean, sd = calibrated.best_prediction
    rows = []
    for j, o in enumerate(calibrated.problem.outputs):
        band = calibrated.predictive_bands[j]
        measured = f"{_n(o.value)} ± {_n(o.sd)}" if o.measured else ""
        check = "" if calibrated.check is None else _n(calibrated.check[j])
        rows.append([o.name, o.unit, measured, f"{_n(mean[j])} ± {_n(sd[j], 2)}", f"{_n(band[1])} [{_n(band[0])}, {_n(band[2])}]", check])
    return rows


def surrogate_rows(calibrated: Calibrated) -> list[list[str]]:
    """output, kind kept, leave-one-out RMSE of each kind tried, max |error| and standardised RMS of the kept one."""
    rows = []
    for o, s in zip(calibrated.problem.outputs, calibrated.surfaces, strict=True):
        kept = s.tried[s.kind]
        rmse = [(_n(s.tried[kind].rmse, 3) if kind in s.tried else "") for kind in SURFACES]
        rows.append([o.name, s.kind, *rmse, _n(kept.max_abs, 3), _n(kept.standardised_rms, 3)])
    return rows


def report_markdown(calibrated: Calibrated, design_folder: Path, fitted_folder: Path | None) -> str:
    """The report text (also printed): method, parameters, outputs, surrogates, sampler; the runs in ``design_folder``
    (the design study) and ``fitted_folder`` (the case of the fitted config; None if it did not run)."""
    problem, posterior = calibrated.problem, calibrated.posterior
    spec = problem.spec
    n_measured = len(problem.measured)
    taus = ", ".join(f"{p.path} {_n(t, 3)}" for p, t in zip(problem.parameters, posterior.autocorrelation_steps, strict=True))
    effective = ", ".join(_n(n, 3) for n in posterior.effective_samples)
    check = "did not run" if calibrated.check is None else f"`{fitted_folder}`"
    misses = calibrated.surrogate_misses()
    if misses:
        check += (f". The run lies outside the surrogate's mean ± 1.96 SD for {', '.join(misses)}: the surrogate is least "
                  "accurate at the best fit there; more design points near it (or narrower bounds) would help")
    return (
        f"# Calibration {problem.name}\n\n"
        f"File `{problem.path}`, base `{spec.base}`. Design: {spec.design.kind}, {len(problem.design)} points (seed "
        f"{spec.design.seed}), {len(calibrated.design)} finished with every output (runs in `{design_folder}`). "
        f"Uniform priors on the bounds; Gaussian likelihood of {n_measured} measurement(s) with the surrogate variance "
        "added; best fit by least squares, posterior by emcee (docs/validation.md).\n\n"
        "## Parameters\n\n"
        + markdown_table(["parameter", "prior bounds", "best fit", "posterior median", "95 % credible interval"], parameter_rows(calibrated))
        + f"\nchi^2 at the best fit = {_n(posterior.chi2, 3)} for {n_measured} measurement(s) and {len(problem.parameters)} parameter(s).\n\n"
        "## Outputs\n\n"
        + markdown_table(["output", "unit", "measured (value ± SD)", "best fit (surrogate ± SD)", "posterior predictive median [95 %]", "fitted config, run"], output_rows(calibrated))
        + f"\nFitted config run: {check}.\n\n"
        "## Surrogate (leave-one-out cross-validation over the design)\n\n"
        + markdown_table(["output", "kept", *(f"LOO RMSE, {kind.replace('_', ' ')}" for kind in SURFACES), "max |LOO error| (kept)", "standardised LOO RMS (kept)"], surrogate_rows(calibrated))
        + f"\n## Sampler\n\nemcee, {spec.mcmc.walkers} walkers x {spec.mcmc.steps} steps, first {spec.mcmc.burn} discarded (seed "
        f"{spec.mcmc.seed}); mean acceptance {_n(posterior.acceptance, 3)}; integrated autocorrelation time [steps]: {taus}; "
        f"effective samples {effective}.\n"
    )


def _csv(calibrated: Calibrated) -> tuple[str, str]:
    """design.csv (points in display units and outputs) and posterior.csv (thinned samples, display units)."""
    problem = calibrated.problem
    names = [p.label for p in problem.parameters]
    shown = np.column_stack([p.shown(calibrated.design[:, i]) for i, p in enumerate(problem.parameters)])
    design = csv_string(names + [f"{o.name} [{o.unit}]" for o in problem.outputs],
                        [[cell(float(v), None) for v in row] for row in np.hstack([shown, calibrated.design_outputs])])  # fmt: skip
    samples = calibrated.samples_shown
    step = max(1, len(samples) // POSTERIOR_ROWS)
    posterior = csv_string(names, [[cell(float(v), None) for v in row] for row in samples[::step]])
    return design, posterior


def _json(calibrated: Calibrated) -> dict:
    problem, posterior = calibrated.problem, calibrated.posterior
    q = posterior.quantiles()
    return {
        "parameters": {
            p.path: {"label": p.label, "bounds": list(p.shown_bounds), "best_fit": calibrated.best_shown[i],
                     "posterior_quantiles": {f"{level:g}%": float(p.shown(q[r, i])) for r, level in enumerate(QUANTILES)},
                     "autocorrelation_steps": float(posterior.autocorrelation_steps[i])}
            for i, p in enumerate(problem.parameters)
        },
        "outputs": {
            o.name: {"unit": o.unit, "measured": [o.value, o.sd] if o.measured else None, "best_fit_surrogate": float(calibrated.best_prediction[0][j]), "best_fit_surrogate_sd": float(calibrated.best_prediction[1][j]),
                      "posterior_predictive": dict(zip((f"{level:g}%" for level in QUANTILES), map(float, calibrated.predictive_bands[j]), strict=True)),
                      "fitted_config_run": None if calibrated.check is None else float(calibrated.check[j]),
                      "surrogate": s.kind, "loo_rmse": {kind: loo.rmse for kind, loo in s.tried.items()}}
            for j, (o, s) in enumerate(zip(problem.outputs, calibrated.surfaces, strict=True))
        },
        "chi2_best_fit": posterior.chi2,
        "mcmc": {"acceptance": posterior.acceptance, "walkers": posterior.walkers, "kept_steps": posterior.kept_steps},
        "design_points_finished": len(calibrated.design),
    }  # fmt: skip


REPORT_FILES = ("calibration.md", "calibration.json", "design.csv", "posterior.csv", "corner.png", "predictions.png", "fitted.yaml")


def write_report(folder: Path, calibrated: Calibrated, fitted: Config, report: str) -> list[Path]:
    """The report files of REPORT_FILES in ``folder``, written atomically (all or nothing)."""
    problem = calibrated.problem
    parameters, outputs = problem.parameters, problem.outputs
    measured = np.array([(o.value, o.sd) for o in outputs])  # NaN for a prediction
    design, posterior = _csv(calibrated)
    with atomic_directory(folder, MPI.COMM_SELF) as temporary:
        (temporary / "calibration.md").write_text(report)
        (temporary / "calibration.json").write_text(json.dumps(_json(calibrated), indent=2) + "\n")
        (temporary / "design.csv").write_text(design)
        (temporary / "posterior.csv").write_text(posterior)
        corner_plot(temporary / "corner.png", calibrated.samples_shown, [p.short_label for p in parameters],
                    [p.shown_bounds for p in parameters], calibrated.best_shown)  # fmt: skip
        predictions_plot(temporary / "predictions.png", [o.name for o in outputs], [o.unit for o in outputs], calibrated.design_outputs,
                         calibrated.predictive_bands, measured, calibrated.check)  # fmt: skip
        (temporary / "fitted.yaml").write_text(f"# Fitted by `bmes calibrate {problem.path}` (best fit, {folder / 'calibration.md'})\n" + fitted.to_yaml())
    return [folder / name for name in REPORT_FILES]
