"""The rows of a cross-validation as runs of the model: each validation row over a design in the fitted
parameters that apply to it (bmes_fem.validation.crossval_file), every run through the studies machinery as the
study ``validation_cv_cases`` (bmes_fem.validation.runs), and the row's model value at each finished point.

Run labels: ``<row>.<point>`` (``<point>`` three digits) and ``<row>.<point>.reference`` for the reference run
of a ratio; a row with no fitted parameter runs once as ``<row>``. Rows whose runs have equal physics (the rows
of one case, a ratio's reference and the row of that case) get the same design points in unit coordinates, hence
the same configs: the studies machinery keys cases by their physics and runs each once, and a rerun reuses them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bmes_fem.config.case import Config
from bmes_fem.config.loader import with_overrides
from bmes_fem.studies.executor import Executor
from bmes_fem.studies.study import _value
from bmes_fem.validation.crossval_file import CrossValidationSpec, RowLikelihood
from bmes_fem.validation.measurements import Validation
from bmes_fem.validation.runs import Runs, run_configs
from bmes_fem.validation.validate import model_value, run_labels

CASES_STUDY = "validation_cv_cases"


@dataclass(frozen=True)
class Row:
    """A validation row planned: its fitted parameters (``active``, indices into the spec's parameters), its design
    points (rows: points; columns: the active parameters, unit coordinates), its likelihood and every run config by
    label."""

    validation: Validation
    active: tuple[int, ...]
    design: np.ndarray
    likelihood: RowLikelihood
    configs: dict[str, Config]

    @property
    def name(self) -> str:
        return self.validation.name

    @property
    def study(self) -> str:
        return self.validation.study

    def point_labels(self, j: int) -> list[str]:
        """The labels of the run(s) at design point ``j``."""
        return run_labels(self.validation, _label(self.validation, self.active, j))


def _label(validation: Validation, active: tuple[int, ...], j: int) -> str:
    """``<row>.<j>`` (three digits), or ``<row>`` for a row without fitted parameters (one run)."""
    return f"{validation.name}.{j:03d}" if active else validation.name


def _at(config: Config, spec: CrossValidationSpec, indices: Sequence[int], t: dict[int, float], source: str) -> Config:
    """``config`` with the parameters ``indices`` at their unit coordinates ``t`` (SI values; the schema checks them)."""
    if not indices:
        return config
    return with_overrides(config, {spec.parameters[i].path: float(spec.parameters[i].x(t[i])) for i in indices}, source=source)


def plan_row(spec: CrossValidationSpec, validation: Validation) -> Row:
    """The row's parameters, design, likelihood and every run config (each validated); ConfigError before any run."""
    in_run, reference_active = spec.applying(validation)
    active = spec.active(validation)
    design = spec.spec.design.unit_points(len(active))
    configs: dict[str, Config] = {}
    for j, point in enumerate(design):
        t = dict(zip(active, point, strict=True))
        source = f"{spec.path}: row {validation.name}, parameters at t = {np.round(point, 4).tolist()}"
        runs = [_at(validation.config, spec, in_run, t, source)]
        if validation.reference is not None:
            runs.append(_at(validation.reference, spec, reference_active, t, source))
        configs.update(zip(run_labels(validation, _label(validation, active, j)), runs, strict=True))
    return Row(validation, active, design, spec.likelihood(validation), configs)


@dataclass(frozen=True)
class RowValues:
    """A row's finished design points (unit coordinates of its active parameters) and its model value at each;
    ``error``: the first error of a run that did not finish ("" if all did)."""

    row: Row
    design: np.ndarray
    values: np.ndarray
    error: str


def row_values(row: Row, runs: Runs) -> RowValues:
    """The model value at every design point whose run(s) finished with a finite value."""
    kept, values, errors = [], [], []
    for j in range(len(row.design)):
        labels = row.point_labels(j)
        missing = [runs.errors[label] or "not run" for label in labels if runs.folders[label] is None]
        if missing:
            errors.append(missing[0])
            continue
        value = model_value(row.validation, [runs.folders[label] for label in labels])
        if math.isfinite(value):
            kept.append(j)
            values.append(value)
        else:
            errors.append(f"model value {value} at design point {j}")
    return RowValues(row, row.design[kept], np.array(values), errors[0] if errors else "")


def run_rows(spec: CrossValidationSpec, rows: Sequence[Row], executor: Executor, results_dir: Path) -> tuple[Runs, list[RowValues]]:
    """Every run of every row as the study ``validation_cv_cases`` (equal physics run once; finished cases reused),
    with every fitted parameter's value in each run in its table; the runs, and each row's values (none if interrupted)."""
    configs = {label: config for row in rows for label, config in row.configs.items()}
    values = {label: {p.path: _value(config.to_dict(), p.path) for p in spec.parameters} for label, config in configs.items()}
    source = rows[0].validation.path.parent
    runs = run_configs(CASES_STUDY, configs, executor, results_dir, source, parameters=[p.display for p in spec.parameters], values=values)
    if runs.interrupted:
        return runs, []
    return runs, [row_values(row, runs) for row in rows]
