"""``bmes verify``: each verification case on its mesh series, the errors against the closed forms and the
observed rates (slope of log error against log h by least squares, h = h_0 / refinement_factor^level).

Writes ``table.csv`` (one row per case and level) and ``table.md`` (the same, and per case the observed
rate against theory, pass or fail) into the results folder, atomically.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI

from bmes_fem.api import run_case
from bmes_fem.config.loader import load_config, with_overrides
from bmes_fem.errors import ConfigError
from bmes_fem.output.io import atomic_directory, write_text
from bmes_fem.physics.analytic import observed_rate

DEFAULT_CASES = Path(__file__).resolve().parents[2] / "configs" / "verification"
RATE_TOLERANCE = 0.3  # |observed - expected rate| the suite accepts
COLUMNS = ("case", "solution", "field", "level", "h_relative", "dofs", "error", "rate", "expected_rate", "status")


@dataclass(frozen=True)
class Row:
    case: str
    solution: str
    field: str
    level: int
    h_relative: float
    dofs: int
    error: float
    rate: float | None  # on the finest level's row: the fitted rate over all levels
    expected_rate: float
    status: str  # on the finest level's row: "ok" or what failed


def verify_case(path: Path, levels: Sequence[int] | None, cases_dir: Path, comm: MPI.Comm) -> list[Row]:
    """Run one verification config at each mesh level; rows with the errors and, on the last, the rate."""
    config = load_config(path)
    verification = config.verification
    if verification is None:
        raise ConfigError(f"{path}: no verification section (expected a case from configs/verification/)")
    levels = tuple(levels or verification.levels)
    if len(levels) < 3:
        raise ConfigError(f"{path}: levels {list(levels)}: a rate needs at least three meshes")
    errors, dofs = [], []
    for level in levels:
        case = with_overrides(config, {
            "mesh.level": level, "case": f"{config.case}_level{level}",
            "output.results_dir": str(cases_dir), "output.figures": False,
        })  # fmt: skip
        summary = run_case(case, comm).summary
        errors.append(summary["verification"]["error"])
        dofs.append(summary["mesh"]["dofs_pressure"] + summary["mesh"]["dofs_displacement"])
    h = config.mesh.refinement_factor ** -np.asarray(levels, dtype=float)
    rate = observed_rate(h, np.asarray(errors))
    failures = []
    if errors[-1] > verification.tolerance:
        failures.append(f"error {errors[-1]:.2e} > {verification.tolerance:g}")
    if abs(rate - verification.expected_rate) > RATE_TOLERANCE:
        failures.append(f"rate {rate:.2f} not within {RATE_TOLERANCE} of {verification.expected_rate:g}")
    rows = []
    for i, level in enumerate(levels):
        last = i == len(levels) - 1
        rows.append(Row(
            config.case, verification.solution, verification.field, level, float(h[i]), dofs[i], float(errors[i]),
            rate if last else None, verification.expected_rate, ("; ".join(failures) or "ok") if last else "",
        ))  # fmt: skip
    return rows


def csv_table(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row.case, row.solution, row.field, row.level, f"{row.h_relative:g}", row.dofs, repr(row.error),
                         "" if row.rate is None else f"{row.rate:.4f}", f"{row.expected_rate:g}", row.status])  # fmt: skip
    return buffer.getvalue()


def markdown_table(rows: Sequence[Row]) -> str:
    lines = [
        "| case | field | level | DOFs | relative RMS error at the reference points | observed rate (theory) | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rate = "" if row.rate is None else f"{row.rate:.2f} ({row.expected_rate:g})"
        lines.append(f"| {row.solution} | {row.field} | {row.level} | {row.dofs:,} | {row.error:.2e} | {rate} | {row.status} |")
    return "\n".join(lines) + "\n"


def run_suite(paths: Sequence[Path], results_dir: Path, levels: Sequence[int] | None = None, comm: MPI.Comm = MPI.COMM_WORLD) -> list[Row]:
    """Every case of ``paths`` (files or folders of YAML files) on its mesh series; tables into ``results_dir``."""
    files = sorted(f for path in map(Path, paths) for f in (sorted(path.glob("*.yaml")) if path.is_dir() else [path]))
    if not files:
        raise ConfigError(f"no verification configs in {', '.join(map(str, paths))} (expected YAML files with a verification section)")
    rows: list[Row] = []
    with atomic_directory(results_dir, comm) as folder:
        for path in files:
            rows += verify_case(path, levels, folder / "cases", comm)
        write_text(folder / "table.csv", csv_table(rows), comm)
        write_text(folder / "table.md", markdown_table(rows), comm)
    return rows
