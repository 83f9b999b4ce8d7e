"""Mesh convergence of the default femoral-head BMES case over mesh levels (``mesh.level``).

Level k divides every element size (global, lesion, articular) by f^k. Reported per level: cells,
DOFs, peak and mean lesion pressure, strain energy, and the relative change from the previous level
|q_k - q_(k-1)| / |q_k|. Writes ``convergence.csv`` and ``convergence.png`` to the results directory.

    .venv/bin/python benchmarks/mesh_convergence.py [--levels 3] [--factor 1.4142] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import bmes_fem  # noqa: F401  (imports dolfinx_solver before dolfinx)

# isort: split
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from mpi4py import MPI

from bmes_fem.api import run_case
from bmes_fem.config.case import load_config

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "femoral_head_bmes.yaml"
QUANTITIES = {  # column -> (summary section, key)
    "p_lesion_peak_mmHg": ("pressure", "p_lesion_peak_mmHg"),
    "p_lesion_mean_mmHg": ("pressure", "p_lesion_mean_mmHg"),
    "strain_energy_J": ("mechanics", "strain_energy_J"),
}


def run_levels(config_path: Path, levels: int, factor: float, out: Path) -> list[dict]:
    base = load_config(config_path)
    rows = []
    for level in range(levels):
        mesh = {**base.mesh.model_dump(mode="json"), "level": level, "refinement_factor": factor}
        config = load_config(
            config_path, mesh=mesh, output={"results_dir": str(out), "figures": False}, case=f"{base.case}_level{level}"
        )
        start = time.perf_counter()
        summary = run_case(config).summary
        row = {
            "level": level,
            "size_mm": config.mesh.at_level(config.mesh.size) * 1e3,
            "lesion_size_mm": config.mesh.at_level(config.mesh.lesion_size) * 1e3,
            "cells": summary["mesh"]["cells"],
            "dofs_pressure": summary["mesh"]["dofs_pressure"],
            "dofs_displacement": summary["mesh"]["dofs_displacement"],
            "wall_time_s": time.perf_counter() - start,
        }
        for column, (section, key) in QUANTITIES.items():
            row[column] = summary[section][key]
        if rows:
            for column in QUANTITIES:
                row[f"change_{column}"] = abs(row[column] - rows[-1][column]) / abs(row[column])
        rows.append(row)
    return rows


def write_outputs(rows: list[dict], out: Path) -> None:
    columns = list(rows[-1])
    with open(out / "convergence.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    figure, axes = plt.subplots(1, len(QUANTITIES), figsize=(9, 2.6), constrained_layout=True)
    for ax, column in zip(axes, QUANTITIES, strict=True):
        ax.plot([r["size_mm"] for r in rows], [r[column] for r in rows], "o-")
        ax.set_xlabel("global size [mm]")
        ax.set_title(column, fontsize=9)
        ax.invert_xaxis()
    figure.savefig(out / "convergence.png", dpi=90)
    header = f"{'level':>5} {'h [mm]':>7} {'cells':>8} {'dofs u':>9} " + " ".join(f"{c:>20}" for c in QUANTITIES)
    print(header)
    for r in rows:
        values = " ".join(
            f"{r[c]:>11.6g} ({100 * r.get('change_' + c, math.nan):5.2f}%)" for c in QUANTITIES
        )
        print(f"{r['level']:>5} {r['size_mm']:>7.3f} {r['cells']:>8} {r['dofs_displacement']:>9} {values}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--factor", type=float, default=math.sqrt(2.0), help="size ratio between levels")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/mesh_convergence"))
    args = parser.parse_args()
    rows = run_levels(args.config, args.levels, args.factor, args.out)
    if MPI.COMM_WORLD.rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        write_outputs(rows, args.out)


if __name__ == "__main__":
    main()
