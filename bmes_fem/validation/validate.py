"""``bmes validate``: run the validation files, compare each model value with its measured interval, and write
the table (CSV, markdown) and a forest plot.

Every file is read and checked (and every run config built) before any case runs. The runs go through the
studies machinery as the study ``validation_cases`` (bmes_fem.validation.runs); the report is written
atomically to ``<results-dir>/validation/``:

- ``validation.csv``: a row per measurement, full precision: name, source, mark, setting, reported, basis,
  measured value, interval low and high (empty: open), unit, model value, verdict, z, model quantity, the
  calibrated parameters its value depends on, case folder(s), error;
- ``validation.md``: the same rounded, with the measured interval spelled out;
- ``forest.png``: the intervals and the model values, a panel per unit.

Verdict: ``inside`` when low <= model <= high (an open end does not bound), else ``below`` or ``above``;
``failed`` when a run did not finish. z = (model - value) / sd where the measurement is a mean and SD.

Calibrated: the parameters of the cross-validation spec (bmes_fem.validation.crossval_file) that apply to a row.
A row with any is used in the all-data fit of ``bmes validate --cross-validate``, and its case runs on the
calibrated defaults; the table marks it (a fit there, not an independent check).

A folder of validation files is read without its ``cross_validation.yaml`` (the spec, SPEC_NAME).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mpi4py import MPI

from bmes_fem.errors import ConfigError
from bmes_fem.output.files import SUMMARY_FILE
from bmes_fem.output.io import atomic_directory
from bmes_fem.post.quantities import summary_value
from bmes_fem.studies.executor import Executor
from bmes_fem.studies.table import cell, csv_string, markdown_table
from bmes_fem.validation.crossval_file import DEFAULT_SPEC, CrossValidationSpec
from bmes_fem.validation.measurements import Validation, load_validation, probe_statistic, read_probe_series
from bmes_fem.validation.plots import ForestRow, forest_plot
from bmes_fem.validation.runs import Runs, run_configs

DEFAULT_FILES = DEFAULT_SPEC.parent
SPEC_NAME = DEFAULT_SPEC.name  # skipped when a folder is expanded
CASES_STUDY = "validation_cases"
REPORT_DIR = "validation"
TABLE_CSV, TABLE_MD, FOREST_PNG = "validation.csv", "validation.md", "forest.png"
DIGITS = 4
REFERENCE = ".reference"  # label suffix of the reference run of a ratio


@dataclass(frozen=True)
class Comparison:
    """A validation with its model value (NaN if a run failed), the error of a failed run, and the calibrated
    parameters (dotted paths) its value depends on."""

    validation: Validation
    model: float
    error: str = ""
    calibrated: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        v = self.validation
        if math.isnan(self.model):
            return "failed"
        if not math.isnan(v.low) and self.model < v.low:
            return "below"
        if not math.isnan(v.high) and self.model > v.high:
            return "above"
        return "inside"

    @property
    def z(self) -> float:
        """(model - value) / sd for a mean +- SD measurement, else NaN."""
        v = self.validation
        if v.spec.measurement.sd is None:
            return math.nan
        return (self.model - v.value) / (v.high - v.value)


def validation_files(paths: Sequence[Path]) -> list[Path]:
    """The files named, folders expanded to their ``*.yaml`` but SPEC_NAME (sorted); ConfigError if a path is missing or
    a folder empty."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.yaml") if p.name != SPEC_NAME)
            if not found:
                raise ConfigError(f"validation folder '{path}' holds no *.yaml files (expected validation files, e.g. configs/validation/)")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"validation file '{path}' does not exist (expected a YAML validation file or a folder of them)")
    return files


def load_validations(paths: Sequence[Path]) -> list[Validation]:
    """Every file checked and its runs built; ConfigError (one line) on the first problem, before anything runs."""
    validations = [load_validation(path) for path in validation_files(paths)]
    names = [v.name for v in validations]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"two validation files are named '{repeated[0]}' (file names must be unique: they name the table rows)")
    return validations


def _value(validation: Validation, folder: Path) -> float:
    model = validation.spec.model
    if model.quantity is not None:
        value = summary_value(json.loads((folder / SUMMARY_FILE).read_text()), model.quantity)
        return math.nan if value is None else float(value)
    times_s, pressure = read_probe_series(folder, model.probe.name)
    return probe_statistic(times_s, pressure, model)


def run_labels(validation: Validation, label: str) -> list[str]:
    """The labels of the run(s) of ``validation`` named ``label``: the run, and the reference run of a ratio."""
    return [label] + ([label + REFERENCE] if validation.reference is not None else [])


def model_value(validation: Validation, folders: Sequence[Path]) -> float:
    """The model value of ``validation`` from its finished run folder(s) (`run_labels`): the value, or its ratio to
    the reference run's."""
    values = [_value(validation, folder) for folder in folders]
    return values[0] / values[1] if len(values) == 2 else values[0]


def compare(validation: Validation, runs: Runs, calibrated: tuple[str, ...] = ()) -> Comparison:
    """The model value of ``validation`` from its finished run(s): the value, or its ratio to the reference run."""
    labels = run_labels(validation, validation.name)
    errors = [runs.errors[label] or "not run" for label in labels if runs.folders[label] is None]
    if errors:
        return Comparison(validation, math.nan, errors[0], calibrated)
    return Comparison(validation, model_value(validation, [runs.folders[label] for label in labels]), calibrated=calibrated)


def interval_text(v: Validation) -> str:
    unit = "" if v.unit == "-" else f" {v.unit}"
    if v.spec.measurement.sd is not None:
        return f"{cell(v.value, DIGITS)} ± {cell(v.high - v.value, DIGITS)}{unit} (mean ± SD)"
    if math.isnan(v.low):
        return f"≤ {cell(v.high, DIGITS)}{unit}"
    if math.isnan(v.high):
        return f"≥ {cell(v.low, DIGITS)}{unit}"
    return f"{cell(v.low, DIGITS)} to {cell(v.high, DIGITS)}{unit}"


CSV_HEADER = ["measurement", "source", "mark", "setting", "reported", "basis", "value", "low", "high", "unit",
              "model", "verdict", "z", "model_quantity", "calibrated_parameters", "folders", "error"]  # fmt: skip
MD_HEADER = ["measurement", "source", "measured (interval)", "model", "verdict", "z", "calibrated (in the all-data fit)", "model quantity"]


def _folders(c: Comparison, runs: Runs) -> str:
    labels = run_labels(c.validation, c.validation.name)
    return " ".join(runs.folders[label].name for label in labels if runs.folders[label] is not None)


def csv_text(comparisons: Sequence[Comparison], runs: Runs) -> str:
    rows = []
    for c in comparisons:
        v, m = c.validation, c.validation.spec.measurement
        rows.append([v.name, m.source, m.mark, m.setting, m.reported, m.basis, *(cell(x, None) for x in (v.value, v.low, v.high)), v.unit,
                     cell(c.model, None), c.verdict, cell(c.z, None), v.spec.model.description, " ".join(c.calibrated), _folders(c, runs),
                     c.error])  # fmt: skip
    return csv_string(CSV_HEADER, rows)


def markdown_text(comparisons: Sequence[Comparison]) -> str:
    rows = [
        [c.validation.name, c.validation.spec.measurement.source, interval_text(c.validation),
         f"{cell(c.model, DIGITS)}{'' if c.validation.unit == '-' else ' ' + c.validation.unit}", c.verdict, cell(c.z, 3),
         "yes" if c.calibrated else "no", c.validation.spec.model.description]
        for c in comparisons
    ]  # fmt: skip
    return markdown_table(MD_HEADER, rows)


def forest_row(c: Comparison) -> ForestRow:
    """The row of ``c`` in the forest plot."""
    v = c.validation
    return ForestRow(v.name, v.unit, v.low, v.high, v.value, c.model, c.verdict == "inside")


def write_report(folder: Path, comparisons: Sequence[Comparison], runs: Runs) -> list[Path]:
    """validation.csv, validation.md and forest.png in ``folder``, written atomically (all or nothing)."""
    counts = {verdict: sum(c.verdict == verdict for c in comparisons) for verdict in ("inside", "below", "above", "failed")}
    summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n)
    intro = (
        f"# Validation against published measurements\n\n{len(comparisons)} measurements ({summary}). "
        f"Case folders: `{runs.run.folder}/cases/<folder>/`. Method and discussion: docs/validation.md.\n\n"
    )
    with atomic_directory(folder, MPI.COMM_SELF) as temporary:
        (temporary / TABLE_CSV).write_text(csv_text(comparisons, runs))
        (temporary / TABLE_MD).write_text(intro + markdown_text(comparisons))
        forest_plot(temporary / FOREST_PNG, [forest_row(c) for c in comparisons])
    return [folder / name for name in (TABLE_CSV, TABLE_MD, FOREST_PNG)]


@dataclass(frozen=True)
class ValidationRun:
    comparisons: list[Comparison]
    runs: Runs
    written: list[Path]

    @property
    def exit_code(self) -> int:
        """130 if interrupted (nothing written), 1 if a run failed, else 0 (a value outside its interval is a result)."""
        return self.runs.run.exit_code


def run_validation(validations: Sequence[Validation], executor: Executor, results_dir: Path, spec: CrossValidationSpec) -> ValidationRun:
    """Run the cases of the checked ``validations`` (`load_validations`), compare and (unless interrupted) write the
    report; ``spec`` says which rows depend on calibrated parameters."""
    configs = {}
    for v in validations:
        configs.update(zip(run_labels(v, v.name), v.configs, strict=True))
    runs = run_configs(CASES_STUDY, configs, executor, results_dir, source=validations[0].path.parent)
    if runs.interrupted:
        return ValidationRun([], runs, [])
    comparisons = [compare(v, runs, tuple(spec.parameters[i].path for i in spec.active(v))) for v in validations]
    return ValidationRun(comparisons, runs, write_report(Path(results_dir) / REPORT_DIR, comparisons, runs))
