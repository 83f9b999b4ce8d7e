"""The design of a calibration as runs of the model: each design point a case of the study ``<name>_design``
(bmes_fem.validation.runs), and the calibration's outputs read from a finished case folder.

A rerun of the same design reuses every finished case (the studies machinery keys cases by their physics), so
a calibration that stopped after its design, or a cross-validation over the same file, costs no new runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from bmes_fem.output.files import SUMMARY_FILE
from bmes_fem.post.quantities import summary_value
from bmes_fem.studies.executor import Executor
from bmes_fem.validation.calibration_file import CalibrationProblem, Output
from bmes_fem.validation.measurements import read_probe_series
from bmes_fem.validation.runs import Runs, run_configs


def output_value(output: Output, folder: Path, summary: dict) -> float:
    """The summary scalar of ``output`` (NaN if the summary lacks it), or its probe pressure at ``time_s`` (linear
    between the written states)."""
    if output.quantity is not None:
        value = summary_value(summary, output.quantity)
        return math.nan if value is None else float(value)
    times_s, pressure = read_probe_series(folder, output.probe)
    return float(np.interp(output.time_s, times_s, pressure))


def read_outputs(problem: CalibrationProblem, folder: Path) -> np.ndarray:
    """Every output of ``problem`` from the finished case in ``folder``, in the order of ``problem.outputs``."""
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    return np.array([output_value(output, folder, summary) for output in problem.outputs])


def _table_value(value: float | list[float]) -> float | tuple[float, ...]:
    """A config value as the study table shows it (a vector as a tuple)."""
    return tuple(value) if isinstance(value, list) else value


def run_design(problem: CalibrationProblem, executor: Executor, results_dir: Path) -> tuple[Runs, np.ndarray, np.ndarray]:
    """Run the design as the study ``<name>_design``; (runs, finished points, their outputs)."""
    labels = problem.design_labels()
    configs = {label: problem.config_at(t) for label, t in zip(labels, problem.design, strict=True)}
    values = {label: {p.path: _table_value(p.config_value(float(ti))) for p, ti in zip(problem.parameters, t, strict=True)}
              for label, t in zip(labels, problem.design, strict=True)}  # fmt: skip
    displays = [p.display for p in problem.parameters]
    quantities = [o.quantity for o in problem.outputs if o.quantity is not None]
    runs = run_configs(problem.design_study, configs, executor, results_dir, problem.path, quantities, displays, values)
    finished = [i for i, label in enumerate(labels) if runs.folders[label] is not None]
    outputs = np.array([read_outputs(problem, runs.folders[labels[i]]) for i in finished]).reshape(len(finished), len(problem.outputs))
    return runs, problem.design[finished], outputs
