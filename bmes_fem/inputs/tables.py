"""Numeric CSV tables: a header row of column names, then rows of finite numbers; ``#`` lines are comments.

Rows are named by their 1-based line number in the file (comments, blank lines and the header count),
so "row 7" is the seventh line an editor shows. Checked, each naming the file, the row and the column:
the header is one of the accepted column layouts; every row has one cell per column; every cell is a
finite number (not empty, not text, not nan or inf); there are at least ``min_rows`` rows.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bmes_fem.errors import ConfigError
from bmes_fem.inputs.files import input_file, read_text


@dataclass(frozen=True)
class NumericTable:
    """The columns of a CSV file, its values (one row per data line) and each row's line number."""

    path: Path
    columns: tuple[str, ...]
    values: np.ndarray  # shape (rows, columns), finite
    lines: np.ndarray  # 1-based line number of each row in the file

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.columns.index(name)]


def _cell(text: str, column: str, line: int, where: str) -> float:
    """The finite number in one cell; ConfigError naming the row and column otherwise."""
    problem = None
    if not text:
        problem = "is empty"
    else:
        try:
            value = float(text)
        except ValueError:
            problem = f"= {text!r} is not a number"
        else:
            if math.isfinite(value):
                return value
            problem = f"= {text!r} is not finite"
    raise ConfigError(f"{where}: row {line}, column '{column}' {problem}; expected a finite number in every cell")


def read_numeric_table(path: str | Path, what: str, layouts: Sequence[Sequence[str]], *, min_rows: int = 2) -> NumericTable:
    """Read and check a numeric CSV whose header is one of ``layouts`` (module docstring); ConfigError otherwise."""
    accepted = " or ".join(", ".join(layout) for layout in layouts)
    expected = f"a CSV table with a header row of columns {accepted}"
    path = input_file(path, what, expected)
    where = f"{what} '{path}'"
    header: tuple[str, ...] | None = None
    rows, lines = [], []
    for line, text in enumerate(read_text(path, what, expected).removeprefix("\ufeff").splitlines(), start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            cells = [cell.strip() for cell in next(csv.reader([text]))]
        except csv.Error as err:
            raise ConfigError(f"{where}: row {line} is not a CSV row ({err}); expected {expected}") from None
        if header is None:
            header = tuple(cells)
            if list(header) not in [list(layout) for layout in layouts]:
                raise ConfigError(f"{where}: the header (row {line}) is {', '.join(header)}; expected the columns {accepted}")
            continue
        if len(cells) != len(header):
            raise ConfigError(f"{where}: row {line} has {len(cells)} cells; expected {len(header)}, one per column ({', '.join(header)})")
        rows.append([_cell(cell, column, line, where) for cell, column in zip(cells, header, strict=True)])
        lines.append(line)
    if header is None:
        raise ConfigError(f"{where} holds only comments and blank lines; expected {expected}")
    if len(rows) < min_rows:
        raise ConfigError(f"{where} has {len(rows)} data row(s); expected at least {min_rows}")
    return NumericTable(path, header, np.array(rows, dtype=float).reshape(len(rows), len(header)), np.array(lines))
