"""Regenerate the README's benchmark tables from the CSVs under benchmarks/results/.

A table sits between two marker lines of README.md and is rebuilt from the CSV that `TABLES` names:

    <!-- table: mesh_convergence -->
    | level | h (mm) | ... |
    <!-- /table: mesh_convergence -->

README.md is rewritten (atomically) only if a table changed. Without NAMEs every table of `TABLES` whose
markers are in the README is rebuilt; a NAME without markers, or a missing CSV or column, is an error.

    .venv/bin/python scripts/readme_tables.py [NAME ...] [--readme README.md]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bmes_fem.studies.files import write_text_atomic
from bmes_fem.studies.table import markdown_table

ROOT = Path(__file__).resolve().parents[1]
SIGNIFICANT_DIGITS = 5


@dataclass(frozen=True)
class Table:
    """A README table: the CSV (relative to the repository), its columns (CSV name -> heading), a row filter."""

    csv: str
    columns: dict[str, str]
    where: dict[str, str] = field(default_factory=dict)


TABLES = {
    "verification": Table(
        "benchmarks/results/verification/table.csv",
        {"solution": "case", "field": "field", "level": "mesh level", "dofs": "DOFs",
         "error": "relative RMS error at the reference points", "rate": "observed rate", "expected_rate": "theory",
         "status": "status"},
    ),
    "solver_scaling": Table(
        "benchmarks/results/solver_scaling/solver_scaling.csv",
        {"size_mm": "h (mm)", "dofs": "DOFs", "ranks": "ranks", "preset": "preset", "setup_s": "setup (s)",
         "solve_mean_s": "solve (s/step)", "iterations_mean": "iterations", "peak_rss_max_gb": "peak RSS (GB)",
         "wall_s": "wall (s)", "status": "status"},
    ),
    "mesh_gci": Table(
        "benchmarks/results/mesh_default/analysis.csv",
        {"quantity": "quantity", "f1 (fine)": "fine", "f2": "medium", "f3 (coarse)": "coarse", "p": "observed order p",
         "f*": "Richardson f*", "GCI fine %": "GCI fine (%)", "convergence": "convergence"},
    ),
    "oat_lesion": Table(
        "benchmarks/results/oat_lesion/analysis.csv",
        {"parameter": "parameter", "X low": "low", "X base": "base", "X high": "high", "Q base": "peak lesion p (mmHg)",
         "E low": "E low", "E high": "E high", "E": "elasticity E"},
        where={"quantity": "pressure.p_lesion_peak_mmHg"},
    ),
    "peer_terzaghi": Table(
        "benchmarks/results/peer_terzaghi/peer_terzaghi.csv",
        {"code": "code", "n": "n", "ranks": "ranks", "dofs": "DOFs", "preset": "preset", "wall_s": "wall (s)",
         "peak_rss_mb": "peak RSS (MB)", "error": "base-pressure error / p0", "iterations_mean": "iterations per step",
         "load_1min": "load at start", "status": "status"},
    ),
}


def _cell(text: str) -> str:
    """A CSV value for the README: integers as they are, other numbers to SIGNIFICANT_DIGITS, text as it is."""
    try:
        return str(int(text))
    except ValueError:
        pass
    try:
        return f"{float(text):.{SIGNIFICANT_DIGITS}g}"
    except ValueError:
        return text


def table_markdown(table: Table, root: Path = ROOT) -> str:
    """The markdown table of ``table``'s CSV: its columns, the rows matching ``where``."""
    path = root / table.csv
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (run the benchmark or study that writes it)")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [column for column in [*table.columns, *table.where] if rows and column not in rows[0]]
    if missing:
        raise KeyError(f"{path} has no column {missing[0]!r} (columns: {', '.join(rows[0])})")
    chosen = [row for row in rows if all(row[key] == value for key, value in table.where.items())]
    return markdown_table(list(table.columns.values()), [[_cell(row[column]) for column in table.columns] for row in chosen])


def _markers(name: str) -> re.Pattern:
    return re.compile(rf"^(<!-- table: {re.escape(name)} -->\n).*?^(<!-- /table: {re.escape(name)} -->)$", re.M | re.S)


def replace_table(text: str, name: str, table: str) -> str:
    """``text`` with the lines between ``<!-- table: name -->`` and ``<!-- /table: name -->`` replaced by ``table``."""
    pattern = _markers(name)
    if not pattern.search(text):
        raise ValueError(f"no marker lines '<!-- table: {name} -->' and '<!-- /table: {name} -->' (each on a line of its own)")
    return pattern.sub(lambda match: match.group(1) + table + match.group(2), text, count=1)


def update_readme(readme: Path, tables: dict[str, Table], root: Path = ROOT) -> bool:
    """Rebuild every table of ``tables`` in ``readme``; write it only if that changed it. True if written."""
    text = readme.read_text(encoding="utf-8")
    updated = text
    for name, table in tables.items():
        updated = replace_table(updated, name, table_markdown(table, root))
    if updated == text:
        return False
    write_text_atomic(readme, updated)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"tables to rebuild: {', '.join(TABLES)} (default all)", metavar="NAME")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in TABLES]
    if unknown:
        parser.error(f"unknown table {unknown[0]!r} (expected one of: {', '.join(TABLES)})")
    try:
        names = args.names or [name for name in TABLES if _markers(name).search(args.readme.read_text(encoding="utf-8"))]
        changed = update_readme(args.readme, {name: TABLES[name] for name in names})
    except (OSError, KeyError, ValueError) as err:
        print(f"readme_tables: {args.readme}: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        return 1
    print(f"{args.readme}: {', '.join(names) or 'no table markers'}: {'updated' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
