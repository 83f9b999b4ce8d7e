"""The report of a cross-validation, written atomically to ``<results-dir>/validation_cv/`` (REPORT_FILES;
docs/validation.md, Cross-validation):

- ``cross_validation.csv``: a row per measurement, full precision: study, measurement, unit, likelihood, measured
  value and interval, held-out prediction (median, 2.5 %, 97.5 %), verdict, z, the all-data fit (median, 2.5 %,
  97.5 %; a fit, not a validation), the fitted parameters of the row, the surrogate kind and its leave-one-out
  RMSE and largest error, finished design points, error;
- ``cross_validation.md`` (also printed): the same rounded, the parameters and the sampler;
- ``parameters.csv`` / ``parameters.md``: per fitted parameter its prior, the all-data posterior median and 95 %
  credible interval, the rows that inform it, and its median in each fold (how far leaving a study out moves it);
- ``forest.png``: held-out predictions with their 95 % predictive intervals against the measured intervals;
- ``calibrated_defaults.yaml``: dotted path -> all-data median, a ``set:`` block or ``--set PATH=VALUE`` lines.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml
from mpi4py import MPI

from bmes_fem.output.io import atomic_directory
from bmes_fem.studies.table import cell, csv_string, markdown_table
from bmes_fem.validation.crossval_file import FittedParameter
from bmes_fem.validation.crossval_fit import CrossValidated, Fit, RowModel
from bmes_fem.validation.plots import ForestRow, forest_plot
from bmes_fem.validation.posterior import QUANTILES
from bmes_fem.validation.validate import interval_text

REPORT_FILES = ("cross_validation.csv", "cross_validation.md", "parameters.csv", "parameters.md", "forest.png", "calibrated_defaults.yaml")
DIGITS = 4
NO_PARAMETER = "no fitted parameter"


def _unit(model: RowModel) -> str:
    unit = model.row.validation.unit
    return "" if unit == "-" else f" {unit}"


def _band_text(band: np.ndarray, unit: str) -> str:
    if not np.all(np.isfinite(band)):
        return ""
    return f"{cell(float(band[1]), DIGITS)} [{cell(float(band[0]), DIGITS)}, {cell(float(band[2]), DIGITS)}]{unit}"


def _parameters_of(result: CrossValidated, model: RowModel) -> list[str]:
    return [result.spec.parameters[i].path for i in model.row.active]


def _surrogate(model: RowModel) -> tuple[str, float, float]:
    """Kind kept, leave-one-out RMSE and largest |error| of the row's surrogate (empty, NaN without one)."""
    if model.surface is None:
        return "", math.nan, math.nan
    loo = model.surface.tried[model.surface.kind]
    return model.surface.kind, loo.rmse, loo.max_abs


CSV_HEADER = ["study", "measurement", "unit", "likelihood", "value", "low", "high", "prediction_median", "prediction_2.5",
              "prediction_97.5", "verdict", "z", "fit_median", "fit_2.5", "fit_97.5", "fitted_parameters", "surrogate",
              "surrogate_loo_rmse", "surrogate_loo_max_abs", "design_points", "error"]  # fmt: skip


def csv_text(result: CrossValidated) -> str:
    rows = []
    for m in result.models:
        v, held, fitted = m.row.validation, result.held_out(m), result.all_data.predictions[m.name]
        comparison = result.comparison(m)
        kind, rmse, largest = _surrogate(m)
        rows.append([v.study, v.name, v.unit, m.row.likelihood.text, *(cell(x, None) for x in (v.value, v.low, v.high)),
                     *(cell(float(held[i]), None) for i in (1, 0, 2)), comparison.verdict, cell(comparison.z, None),
                     *(cell(float(fitted[i]), None) for i in (1, 0, 2)), " ".join(_parameters_of(result, m)) or NO_PARAMETER,
                     kind, cell(rmse, None), cell(largest, None), f"{len(m.values.values)}/{len(m.row.design)}", m.error])  # fmt: skip
    return csv_string(CSV_HEADER, rows)


def _short(path: str) -> str:
    """The last key of a dotted path, with its section's initial: ``lesion_effects.filtration_factor`` -> ``l.filtration_factor``."""
    section, _, name = path.rpartition(".")
    return f"{section[0]}.{name}" if section else name


MD_HEADER = ["study", "measurement", "measured", "held-out prediction, median [95 %]", "verdict", "z", "all-data fit (not a validation)",
             "fitted parameters", "surrogate LOO RMSE"]  # fmt: skip


def rows_markdown(result: CrossValidated) -> str:
    rows = []
    for m in result.models:
        comparison = result.comparison(m)
        unit = _unit(m)
        _, rmse, _ = _surrogate(m)
        parameters = ", ".join(_short(path) for path in _parameters_of(result, m)) or NO_PARAMETER
        rows.append([m.row.study, m.name, interval_text(m.row.validation), _band_text(result.held_out(m), unit) or m.error,
                     comparison.verdict, cell(comparison.z, 3), _band_text(result.all_data.predictions[m.name], unit), parameters,
                     cell(rmse, 3)])  # fmt: skip
    return markdown_table(MD_HEADER, rows)


def _quantiles_shown(parameter: FittedParameter, fit: Fit, i: int) -> np.ndarray:
    """2.5, 50, 97.5 % of parameter ``i`` in its display unit (quantiles map through the monotone t -> x)."""
    return parameter.shown(np.percentile(fit.samples[:, i], QUANTILES))


def _informing_rows(result: CrossValidated, i: int) -> int:
    """The rows of the all-data fit whose model value depends on parameter ``i``."""
    return sum(m.in_fit and i in m.row.active for m in result.models)


def parameter_table(result: CrossValidated, digits: int | None) -> tuple[list[str], list[list[str]]]:
    """Header and rows: parameter, unit, prior, bounds, all-data median and 95 % interval, informing rows, and the
    median of each fold."""
    header = ["parameter", "unit", "prior", "min", "max", "median", "2.5 %", "97.5 %", "rows",
              *(f"median without {study}" for study in result.folds)]  # fmt: skip
    rows = []
    for i, p in enumerate(result.spec.parameters):
        low, median, high = _quantiles_shown(p, result.all_data, i)
        folds = [cell(float(p.shown(fold.medians()[i])), digits) for fold in result.folds.values()]
        rows.append([p.path, p.display.unit, p.prior, cell(float(p.shown(0.0)), digits), cell(float(p.shown(1.0)), digits),
                     cell(float(median), digits), cell(float(low), digits), cell(float(high), digits), str(_informing_rows(result, i)), *folds])  # fmt: skip
    return header, rows


def _sampler_text(result: CrossValidated) -> str:
    mcmc = result.spec.spec.mcmc
    fits = [("all data", result.all_data), *((f"without {study}", fold) for study, fold in result.folds.items())]
    lines = [f"- {name}: {len(fit.used)} rows, acceptance {fit.acceptance:.3f}, autocorrelation time {cell(float(np.max(fit.autocorrelation_steps)), 3)} steps (largest)"
             for name, fit in fits]  # fmt: skip
    return (f"emcee, {mcmc.walkers} walkers x {mcmc.steps} steps, first {mcmc.burn} discarded (seed {mcmc.seed}), in each fit:\n\n"
            + "\n".join(lines) + "\n")  # fmt: skip


def report_markdown(result: CrossValidated, runs_folder: Path) -> str:
    """The text of cross_validation.md (also printed)."""
    comparisons = [result.comparison(m) for m in result.models]
    counts = {verdict: sum(c.verdict == verdict for c in comparisons) for verdict in ("inside", "below", "above", "failed")}
    summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n)
    spec = result.spec
    header, rows = parameter_table(result, DIGITS)
    return (
        "# Cross-validation: held-out predictions of published measurements\n\n"
        f"Spec `{spec.path}`: {len(spec.parameters)} fitted parameters, {len(result.models)} measurements from "
        f"{len(result.folds)} studies ({summary}). Each study's rows are predicted by a fit to the other studies' rows "
        "(leave one source out); the verdict compares the held-out median with the measured interval as `bmes validate` "
        "does. The all-data fit uses every row: its values are fits, not validations. Runs: "
        f"`{runs_folder}/cases/<folder>/`. Method: docs/validation.md, Cross-validation.\n\n"
        + rows_markdown(result)
        + "\n## Fitted parameters (all-data posterior; the median of each fold)\n\n"
        + markdown_table(header, rows)
        + "\n## Sampler\n\n"
        + _sampler_text(result)
    )


def parameters_markdown(result: CrossValidated) -> str:
    header, rows = parameter_table(result, DIGITS)
    return (
        "# Fitted parameters\n\nAll-data posterior median and 95 % credible interval of each fitted parameter, the "
        "number of rows whose model value depends on it, and its posterior median in the fold without each study.\n\n"
        + markdown_table(header, rows)
    )


def calibrated_defaults(result: CrossValidated) -> str:
    """calibrated_defaults.yaml: dotted path -> all-data median in its display unit (4 significant digits)."""
    lines = [
        f"# Calibrated by `bmes validate --cross-validate` with {result.spec.path}: the all-data posterior medians",
        "# (95 % credible intervals in parameters.md). Use as a `set:` block, or as `--set PATH=VALUE` of `bmes run`.",
    ]
    for i, p in enumerate(result.spec.parameters):
        median = float(_quantiles_shown(p, result.all_data, i)[1])
        if not _informing_rows(result, i):
            lines.append("# no row depends on the next parameter: its median is the prior's")
        value = f"{median:.4g} {p.display.unit}" if p.display.unit else float(f"{median:.4g}")
        lines.append(yaml.safe_dump({p.path: value}, default_flow_style=False, width=1000).rstrip("\n"))
    return "\n".join(lines) + "\n"


def forest_rows(result: CrossValidated) -> list[ForestRow]:
    rows = []
    for m in result.models:
        v, held = m.row.validation, result.held_out(m)
        comparison = result.comparison(m)
        fitted = result.all_data.predictions[m.name]
        rows.append(ForestRow(v.name, v.unit, v.low, v.high, v.value, float(held[1]), comparison.verdict == "inside",
                              float(held[0]), float(held[2]), float(fitted[1]) if m.in_fit else math.nan))  # fmt: skip
    return rows


def write_report(folder: Path, result: CrossValidated, report: str) -> list[Path]:
    """REPORT_FILES in ``folder``, written atomically (all or nothing)."""
    header, rows = parameter_table(result, None)
    with atomic_directory(folder, MPI.COMM_SELF) as temporary:
        (temporary / "cross_validation.csv").write_text(csv_text(result))
        (temporary / "cross_validation.md").write_text(report)
        (temporary / "parameters.csv").write_text(csv_string(header, rows))
        (temporary / "parameters.md").write_text(parameters_markdown(result))
        forest_plot(temporary / "forest.png", forest_rows(result), model_label="held-out prediction")
        (temporary / "calibrated_defaults.yaml").write_text(calibrated_defaults(result))
    return [folder / name for name in REPORT_FILES]
