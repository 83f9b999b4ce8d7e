"""The study table: one row per case (label, varied parameter values, quantities, status, folder, error).

``table.csv`` keeps full precision (parameters to 12 significant digits in their display unit,
quantities as summary.json holds them); markdown cells round to 5 significant digits. A quantity
is empty where the case did not finish or its summary holds null (e.g. no lesion volume).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bmes_fem.errors import BmesError
from bmes_fem.output.files import SUMMARY_FILE
from bmes_fem.post.quantities import summary_value
from bmes_fem.studies.executor import NOT_RUN, OK, Outcome
from bmes_fem.studies.study import Case, Study

MARKDOWN_DIGITS = 5
CSV_PARAMETER_DIGITS = 12


@dataclass(frozen=True)
class Row:
    """A case with its outcome and its quantities (NaN where missing)."""

    case: Case
    status: str
    error: str
    quantities: tuple[float, ...]


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _quantities(study: Study, summary_path: Path) -> tuple[float, ...]:
    summary = json.loads(summary_path.read_text())
    try:
        return tuple(_number(summary_value(summary, name)) for name in study.quantities)
    except KeyError as err:
        raise BmesError(f"{summary_path}: {err.args[0]} (written by another bmes_fem? delete {summary_path.parent} to rerun it)") from None


def table_rows(study: Study, cases_dir: Path, outcomes: Mapping[str, Outcome]) -> list[Row]:
    """Rows in design order; a case without an outcome is ``not run``."""
    rows = []
    for case in study.cases:
        outcome = outcomes.get(case.key, Outcome(case.key, NOT_RUN))
        missing = (math.nan,) * len(study.quantities)
        quantities = _quantities(study, cases_dir / case.key / SUMMARY_FILE) if outcome.status == OK else missing
        rows.append(Row(case, outcome.status, outcome.error, quantities))
    return rows


def quantity_matrix(rows: Sequence[Row]) -> np.ndarray:
    """values[case, quantity]."""
    return np.array([row.quantities for row in rows], dtype=float).reshape(len(rows), -1)


def cell(value: Any, digits: int | None) -> str:
    """A table cell: a number to ``digits`` significant digits (None: exact), a vector as [a, b, c], NaN and None empty."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "[" + ", ".join(cell(v, digits) for v in value) + "]"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(float(value)) if digits is None else f"{value:.{digits}g}"
    if isinstance(value, (int, str)):
        return str(value)
    return json.dumps(value)


def _header(study: Study) -> list[str]:
    return ["case", *(p.column for p in study.parameters), *study.quantities, "status", "folder", "error"]


def _cells(study: Study, row: Row, parameter_digits: int, quantity_digits: int | None) -> list[str]:
    parameters = [cell(p.shown(row.case.values[p.path]), parameter_digits) for p in study.parameters]
    quantities = [cell(q, quantity_digits) for q in row.quantities]
    return [row.case.label, *parameters, *quantities, row.status, row.case.key, row.error]


def csv_string(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """CSV text of a header and rows of cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def csv_text(study: Study, rows: Sequence[Row]) -> str:
    return csv_string(_header(study), [_cells(study, row, CSV_PARAMETER_DIGITS, None) for row in rows])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table (``|`` inside a cell escaped)."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(str(c).replace("|", "\\|") for c in line) + " |" for line in lines) + "\n"


def cases_markdown(study: Study, rows: Sequence[Row]) -> str:
    return markdown_table(_header(study), [_cells(study, row, MARKDOWN_DIGITS, MARKDOWN_DIGITS) for row in rows])


def status_counts(rows: Sequence[Row]) -> dict[str, int]:
    """Cases per status, e.g. {'ok': 14, 'failed': 1}."""
    return dict(Counter(row.status for row in rows))
