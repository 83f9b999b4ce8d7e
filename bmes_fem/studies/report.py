"""What a study writes beside its cases: ``table.csv``, ``table.md``, ``analysis.csv`` and ``plots/``.

The analysis of the design needs every case finished: one_at_a_time gives elasticities and a tornado
per quantity, morris mu* and sigma, sobol S1 and ST, mesh the observed order, Richardson extrapolate
and GCI on the three finest levels. It is in table.md (rounded) and analysis.csv (full precision, a
row per quantity and parameter). grid and one_at_a_time also plot each quantity against each
parameter; a study of at most MAX_CUTAWAY_PANELS finished cases gets its pressure cut-aways side by side.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bmes_fem.output.files import FIELDS_FILE
from bmes_fem.studies import plots, sensitivity
from bmes_fem.studies.convergence import SAFETY_FACTOR_THREE_GRIDS, richardson
from bmes_fem.studies.executor import LOGS_DIR, OK
from bmes_fem.studies.files import write_text_atomic
from bmes_fem.studies.study import Study
from bmes_fem.studies.table import (
    MARKDOWN_DIGITS,
    Row,
    cases_markdown,
    cell,
    csv_string,
    csv_text,
    markdown_table,
    quantity_matrix,
    status_counts,
)

CASES_DIR, TABLE_CSV, TABLE_MD, ANALYSIS_CSV, PLOTS_DIR = "cases", "table.csv", "table.md", "analysis.csv", "plots"


@dataclass(frozen=True)
class Analysis:
    """An analysis as one flat table (first column: the quantity), shown in table.md by quantity or as it is."""

    title: str
    intro: str
    header: list[str]
    rows: list[list[object]]
    by_quantity: bool = True

    def markdown(self) -> str:
        text = f"## {self.title}\n\n{self.intro}\n"
        if not self.by_quantity:
            return text + "\n" + markdown_table(["quantity", *self.header], [[cell(v, MARKDOWN_DIGITS) for v in r] for r in self.rows])
        for quantity in dict.fromkeys(row[0] for row in self.rows):
            table = [[cell(v, MARKDOWN_DIGITS) for v in row[1:]] for row in self.rows if row[0] == quantity]
            text += f"\n### {quantity}\n\n" + markdown_table(self.header, table)
        return text

    def csv(self) -> str:
        return csv_string(["quantity", *self.header], [[cell(v, None) for v in row] for row in self.rows])


def _written(value: object) -> str:
    """A study value as the file writes it: ``25 mmHg``, ``[8 mm, 6.4 mm, 6.4 mm]``."""
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, (list, tuple)) else str(value)


def _ranges(study: Study) -> list[str]:
    return [f"{_written(r.min)} to {_written(r.max)}" for r in getattr(study.spec, study.design).parameters]


def _against_parameters(study: Study, rows: Sequence[Row], values: np.ndarray, plots_dir: Path | None) -> None:
    """Plots of each quantity against each parameter (the grid design's only analysis)."""
    if plots_dir is not None:
        for j, quantity in enumerate(study.quantities):
            plots.quantity_vs_parameters(plots_dir / f"{quantity}_vs_parameters.png", quantity, j, study.parameters, rows)


def _one_at_a_time(study: Study, rows: Sequence[Row], values: np.ndarray, plots_dir: Path | None) -> Analysis:
    _against_parameters(study, rows, values, plots_dir)
    table = []
    for quantity, elasticities in sensitivity.one_at_a_time(study, values).items():
        ordered = sorted(elasticities, key=lambda e: -abs(e.central) if np.isfinite(e.central) else 0.0)
        table += [[quantity, e.parameter.column, *e.x, *e.q, e.low, e.high, e.central] for e in ordered]
        if plots_dir is not None:
            plots.tornado(plots_dir / f"tornado_{quantity}.png", quantity, elasticities)
    return Analysis(
        "One-at-a-time elasticities",
        "E = ((Q_high - Q_low) / Q0) / ((X_high - X_low) / X0), the percent change of Q per percent change of X; "
        "E low and E high are the one-sided values from the base case; X of a vector parameter is its norm |X|.",
        ["parameter", "X low", "X base", "X high", "Q low", "Q base", "Q high", "E low", "E high", "E"],
        table,
    )


def _morris(study: Study, rows: Sequence[Row], values: np.ndarray, plots_dir: Path | None) -> Analysis:
    spec, table = study.spec.morris, []
    for quantity, index in sensitivity.morris_indices(study, values).items():
        for i in np.argsort(-index["mu_star"]):
            table.append([quantity, study.parameters[i].path, _ranges(study)[i], *(float(index[n][i]) for n in sensitivity.MORRIS_INDICES)])
        if plots_dir is not None:
            bars = {"mu*": (index["mu_star"], index["mu_star_conf"]), "sigma": (index["sigma"], None)}
            unit = study.quantities[quantity].unit
            plots.index_bars(plots_dir / f"morris_{quantity}.png", f"Morris: {quantity}", study.parameters, bars, f"{unit} per full range")
    return Analysis(
        "Morris screening",
        f"r = {spec.trajectories} trajectories, p = {spec.levels} levels, seed {spec.seed}: mu* = mean |EE| (with its 95 % "
        "bootstrap half-width) and sigma = std EE, in the unit of the quantity per full range of the parameter.",
        ["parameter", "range", "mu*", "mu* 95 %", "mu", "sigma"],
        table,
    )


def _sobol(study: Study, rows: Sequence[Row], values: np.ndarray, plots_dir: Path | None) -> Analysis:
    spec, table = study.spec.sobol, []
    for quantity, index in sensitivity.sobol_indices(study, values).items():
        table += [[quantity, p.path, _ranges(study)[i], *(float(index[n][i]) for n in sensitivity.SOBOL_INDICES)] for i, p in enumerate(study.parameters)]
        if plots_dir is not None:
            bars = {"S1": (index["S1"], index["S1_conf"]), "ST": (index["ST"], index["ST_conf"])}
            plots.index_bars(plots_dir / f"sobol_{quantity}.png", f"Sobol': {quantity}", study.parameters, bars, "index")
    return Analysis(
        "Sobol' indices",
        f"N = {spec.samples}, seed {spec.seed}: first order S1 and total order ST with their 95 % bootstrap half-widths.",
        ["parameter", "range", "S1", "S1 95 %", "ST", "ST 95 %"],
        table,
    )


def _mesh(study: Study, rows: Sequence[Row], values: np.ndarray, plots_dir: Path | None) -> Analysis:
    h_mm = [row.case.config.mesh.at_level(row.case.config.mesh.size) * 1e3 for row in rows]
    results = {quantity: richardson(h_mm[-3:], values[-3:, j]) for j, quantity in enumerate(study.quantities)}
    if plots_dir is not None:
        for j, (quantity, result) in enumerate(results.items()):
            plots.convergence(plots_dir / f"convergence_{quantity}.png", quantity, h_mm, values[:, j], result)
    some = next(iter(results.values()))
    return Analysis(
        "Grid convergence",
        f"Three finest levels, global element size h = {', '.join(cell(h, MARKDOWN_DIGITS) for h in some.h)} mm "
        f"(ratio r = {some.ratio:.5g}). Observed order p = ln(e32 / e21) / ln r; Richardson f* = f1 + (f1 - f2) / (r^p - 1); "
        f"GCI = Fs |e / f| / (r^p - 1), Fs = {SAFETY_FACTOR_THREE_GRIDS} (Roache 1998); in the asymptotic range "
        "GCI32 / (r^p GCI21) is close to 1.",
        ["f1 (fine)", "f2", "f3 (coarse)", "p", "f*", "GCI fine %", "GCI medium %", "GCI32 / (r^p GCI21)", "convergence"],
        [
            [q, *r.values, r.order, r.extrapolated, 100 * r.gci_fine, 100 * r.gci_medium, r.asymptotic_ratio, r.behaviour]
            for q, r in results.items()
        ],
        by_quantity=False,
    )


ANALYSES = {"cases": None, "grid": _against_parameters, "one_at_a_time": _one_at_a_time, "morris": _morris, "sobol": _sobol, "mesh": _mesh}


def _heading(study: Study, rows: Sequence[Row], complete: bool) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in status_counts(rows).items())
    base = os.path.normpath(study.path.parent / study.spec.base)
    text = (
        f"# Study {study.name}\n\nDesign `{study.design}` of `{base}` (study file `{study.path}`): {len(rows)} cases ({counts}). "
        f"A case's results are in `{CASES_DIR}/<folder>/`; a failed case's standard error is in `{LOGS_DIR}/<folder>.stderr.txt`.\n"
    )
    if not complete:
        text += "\n**Interrupted**: the table holds the cases finished so far; run the same command again to resume.\n"
    return text + "\n## Cases\n\n"


def _cutaways(folder: Path, finished: Sequence[Row]) -> None:
    """The pressure cut-aways of the finished case folders holding fields.vtu (the first row of each), if at most
    MAX_CUTAWAY_PANELS."""
    first: dict[str, Row] = {}
    for row in finished:
        if (folder / CASES_DIR / row.case.key / FIELDS_FILE).is_file():
            first.setdefault(row.case.key, row)
    shown = list(first.values())
    if 0 < len(shown) <= plots.MAX_CUTAWAY_PANELS:
        plots.pressure_cutaways(folder / PLOTS_DIR / "pressure_cutaways.png", [r.case.label for r in shown],
                                [folder / CASES_DIR / r.case.key for r in shown], [r.case.config for r in shown])


def write_results(folder: Path, study: Study, rows: Sequence[Row], complete: bool) -> list[Path]:
    """Write the tables and, for a complete study with ``plots: true``, the plots; return the files written."""
    plots_dir = folder / PLOTS_DIR if complete and study.spec.plots else None
    text = _heading(study, rows, complete) + cases_markdown(study, rows)
    written = [write_text_atomic(folder / TABLE_CSV, csv_text(study, rows))]
    finished = [row for row in rows if row.status == OK]
    analyse, analysis = ANALYSES[study.design], None
    if complete and analyse is not None:
        if len(finished) == len(rows):
            analysis = analyse(study, rows, quantity_matrix(rows), plots_dir)
        else:
            text += "\nNo analysis: it needs every case finished.\n"
    if isinstance(analysis, Analysis):
        text += "\n" + analysis.markdown()
        written.append(write_text_atomic(folder / ANALYSIS_CSV, analysis.csv()))
    else:
        (folder / ANALYSIS_CSV).unlink(missing_ok=True)  # a stale analysis of an earlier run
    if plots_dir is not None:
        _cutaways(folder, finished)
    written.append(write_text_atomic(folder / TABLE_MD, text))
    return written + (sorted(plots_dir.glob("*.png")) if plots_dir is not None and plots_dir.is_dir() else [])
