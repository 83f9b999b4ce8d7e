"""Solver scaling of the transient BMES femoral head (Biot, Taylor-Hood P2/P1, backward Euler).

For every mesh level (global element size h, lesion size h/2), solver preset (``direct``: MUMPS LU
factorised once; ``iterative``: FGMRES + fixed-stress field split, CG + GAMG on u) and MPI rank count,
one run is started as its own process (``mpirun -n R`` for R > 1), so its peak memory is its own.
Each run meshes the head, builds :class:`~bmes_fem.solve.transient.TransientBiot` (two steady solves for
the initial state + block operator assembly + preconditioner / factorisation set-up) and takes
``--steps`` backward-Euler steps under a step load. One CSV row per run (also for skipped and failed
runs) goes to ``solver_scaling.csv``; ``solver_scaling.png`` plots time, iterations and memory vs DOFs.

    .venv/bin/python benchmarks/solver_scaling.py --levels 6 4 3 2.2 1.5 --ranks 1 2
    .venv/bin/python benchmarks/solver_scaling.py --plot-only          # redraw the PNG from the CSV

``--levels`` are global element sizes in mm. ``direct`` is skipped above ``--direct-max-dofs`` (MUMPS
fill-in grows much faster than the DOFs) and every run is killed when the summed resident memory of
its processes exceeds ``--mem-limit-gb``; both are recorded in the ``status`` column.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure_command, read_rows

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "femoral_head_bmes.yaml"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "solver_scaling"
PRESETS = ("direct", "iterative")
COLUMNS = [
    "level", "size_mm", "lesion_size_mm", "cells", "dofs", "ranks", "preset", "status",
    "mesh_s", "initial_solves_s", "setup_s", "constructor_s",
    "solve_first_s", "solve_mean_s", "solve_rest_mean_s", "iterations_mean", "iterations_max",
    "inner_u_iterations_mean", "initial_iterations", "peak_rss_max_gb", "peak_rss_sum_gb", "worker_wall_s", "wall_s",
]  # fmt: skip


# --------------------------------------------------------------------------------------------- worker
def worker(args: argparse.Namespace) -> None:
    """One run in this (MPI) process group; rank 0 writes the row as JSON to ``args.row_out``."""
    start = time.perf_counter()
    import resource

    import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

    # isort: split
    from mpi4py import MPI

    from bmes_fem.config.loader import load_config
    from bmes_fem.mesh.build import build_domain
    from bmes_fem.solve.transient import TransientBiot

    class TimedTransientBiot(TransientBiot):
        """Times the block solver construction: operator (+ preconditioner matrix) assembly and KSP set-up."""

        def _block_solver(self):
            self.domain.mesh.comm.Barrier()
            tic = time.perf_counter()
            solver = super()._block_solver()
            self.domain.mesh.comm.Barrier()
            self.block_setup_s = time.perf_counter() - tic
            return solver

    comm = MPI.COMM_WORLD
    dt = args.time_step
    config = load_config(args.config, {
        "analysis": "transient", "mesh": {"size": f"{args.size} mm", "lesion_size": f"{args.size / 2} mm"},
        "solver": {"preset": args.preset}, "transient": {"time": {"time_step": f"{dt} s", "end_time": f"{args.steps * dt} s"}},
    })  # fmt: skip

    comm.Barrier()
    tic = time.perf_counter()
    domain = build_domain(config)
    comm.Barrier()
    mesh_s = time.perf_counter() - tic

    tic = time.perf_counter()
    problem = TimedTransientBiot(domain, config)
    comm.Barrier()
    constructor_s = time.perf_counter() - tic

    inner = _count_inner_iterations(problem.solver)
    steps = [stats for state in problem.states() if state.step > 0 for stats in state.solves]
    comm.Barrier()
    solve_s = [s.wall_time_s for s in steps]
    iterations = [s.iterations for s in steps]
    cells = domain.mesh.topology.index_map(domain.mesh.topology.dim).size_global

    inner = None if inner is None else [inner[0]]
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: kB
    rss_max, rss_sum = comm.allreduce(rss_gb, op=MPI.MAX), comm.allreduce(rss_gb, op=MPI.SUM)
    solve_s = [comm.allreduce(s, op=MPI.MAX) for s in solve_s]
    if comm.rank == 0:
        row = {
            "cells": cells,
            "dofs": problem.solver.dofs,
            "status": "ok",
            "mesh_s": mesh_s,
            "initial_solves_s": sum(s.wall_time_s for s in problem.initial_solves),
            "setup_s": problem.block_setup_s,
            "constructor_s": constructor_s,
            "solve_first_s": solve_s[0],
            "solve_mean_s": sum(solve_s) / len(solve_s),
            "solve_rest_mean_s": sum(solve_s[1:]) / len(solve_s[1:]) if len(solve_s) > 1 else "",
            "iterations_mean": sum(iterations) / len(iterations),
            "iterations_max": max(iterations),
            "inner_u_iterations_mean": sum(inner) / len(iterations) if inner is not None else "",
            "initial_iterations": "+".join(str(s.iterations) for s in problem.initial_solves),
            "peak_rss_max_gb": rss_max,
            "peak_rss_sum_gb": rss_sum,
            "worker_wall_s": time.perf_counter() - start,
        }
        Path(args.row_out).write_text(json.dumps(row))


def _count_inner_iterations(solver) -> list[int] | None:
    """For the field split: a monitor on the displacement CG that counts its iterations (total in [0])."""
    pc = solver.ksp.getPC()
    if pc.getType() != "fieldsplit":
        return None
    count = [0]

    def monitor(ksp, iteration, rnorm):
        if iteration > 0:
            count[0] += 1

    pc.getFieldSplitSubKSP()[0].setMonitor(monitor)
    return count


# --------------------------------------------------------------------------------------------- driver
def launch(args: argparse.Namespace, level: int, size: float, preset: str, ranks: int) -> dict:
    """Run one worker process group; return its row (status ok / failed / killed)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        row_out = Path(handle.name)
    row_out.unlink()
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--size", str(size), "--preset", preset,
               "--steps", str(args.steps), "--time-step", str(args.time_step), "--config", str(args.config),
               "--row-out", str(row_out)]  # fmt: skip
    if ranks > 1:
        command = [str(Path(sys.executable).parent / "mpirun"), "-n", str(ranks), *command]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    log = args.out / f"log_h{size:g}_{preset}_np{ranks}.txt"
    row = {"level": level, "size_mm": size, "lesion_size_mm": size / 2, "ranks": ranks, "preset": preset}
    print(f"[solver_scaling] h = {size:g} mm, {preset}, {ranks} rank(s) ...", flush=True)
    measured = measure_command(
        command, log_path=log, cwd=ROOT, env=env, poll_s=0.5, timeout_s=args.timeout, memory_limit_B=args.mem_limit_gb * 1024**3
    )
    row["wall_s"] = measured.wall_s
    if row_out.is_file():
        row.update(json.loads(row_out.read_text()))
        row_out.unlink()
        log.unlink()
    else:
        status = measured.status
        if measured.status.startswith("failed"):
            lines = [line.strip() for line in log.read_text().splitlines() if line.strip()]
            errors = [line for line in lines if "Error" in line or "error" in line] or lines[-1:] or ["no output"]
            status = f"{measured.status}: {errors[-1][:200]}"
        row["status"] = status
        row["peak_rss_sum_gb"] = measured.peak_rss_B / 1024**3
        print(f"[solver_scaling]   {status} (log: {log})", flush=True)
    return row


def append_row(path: Path, row: dict) -> None:
    new = not path.is_file()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({key: _fmt(row.get(key, "")) for key in COLUMNS})


def _fmt(value: object) -> object:
    return f"{value:.4g}" if isinstance(value, float) else value


def renumber_levels(path: Path) -> None:
    """level = index of the row's size among all sizes in the CSV, coarsest first (for --append)."""
    rows = read_rows(path)
    sizes = sorted({float(r["size_mm"]) for r in rows}, reverse=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "level": sizes.index(float(r["size_mm"]))})


def print_table(rows: list[dict]) -> None:
    print(f"{'lvl':>3} {'h mm':>5} {'DOFs':>9} {'np':>2} {'preset':>9} {'setup s':>8} {'solve s/step':>12} "
          f"{'it mean/max':>11} {'RSS max/sum GB':>14}  status")  # fmt: skip
    for r in rows:
        setup = solve = its = rss = "-"
        if r["status"] == "ok":
            setup, solve = f"{float(r['setup_s']):.1f}", f"{float(r['solve_mean_s']):.2f}"
            its = f"{float(r['iterations_mean']):.1f}/{r['iterations_max']}"
            rss = f"{float(r['peak_rss_max_gb']):.2f}/{float(r['peak_rss_sum_gb']):.2f}"
        print(
            f"{r['level']:>3} {float(r['size_mm']):>5.3g} {r['dofs'] or '-':>9} {r['ranks']:>2} {r['preset']:>9} "
            f"{setup:>8} {solve:>12} {its:>11} {rss:>14}  {r['status']}"
        )


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    ok = [r for r in rows if r["status"] == "ok"]
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    styles = {"direct": "s", "iterative": "o"}
    for preset in PRESETS:
        for ranks in sorted({int(r["ranks"]) for r in ok}):
            sel = sorted(
                (r for r in ok if r["preset"] == preset and int(r["ranks"]) == ranks), key=lambda r: int(r["dofs"])
            )
            if not sel:
                continue
            dofs = [int(r["dofs"]) for r in sel]
            label = f"{preset}, {ranks} rank{'s' if ranks > 1 else ''}"
            line = "-" if ranks == 1 else "--"
            p = axes[0].loglog(
                dofs, [float(r["solve_mean_s"]) for r in sel], styles[preset] + line, label=f"solve/step, {label}"
            )
            axes[0].loglog(dofs, [float(r["setup_s"]) for r in sel], styles[preset] + ":", color=p[0].get_color(),
                           mfc="none", label=f"setup, {label}")  # fmt: skip
            if preset == "iterative":
                axes[1].semilogx(
                    dofs, [float(r["iterations_mean"]) for r in sel], "o" + line, label=f"FGMRES mean, {label}"
                )
                axes[1].semilogx(
                    dofs, [int(r["iterations_max"]) for r in sel], "^" + line, mfc="none", label=f"FGMRES max, {label}"
                )
                inner = [float(r["inner_u_iterations_mean"]) / float(r["iterations_mean"]) for r in sel]
                axes[1].semilogx(dofs, inner, "x" + line, label=f"inner u-CG per FGMRES it, {label}")
            axes[2].loglog(dofs, [float(r["peak_rss_sum_gb"]) for r in sel], styles[preset] + line, label=label)
    if ok:
        d = sorted({int(r["dofs"]) for r in ok})
        axes[0].loglog(d, [1e-5 * x for x in d], "k-", lw=0.6, alpha=0.5, label="O(N)")
    axes[0].set(xlabel="DOFs", ylabel="time [s]", title="setup (block assembly + PC/LU) and solve/step")
    axes[1].set(xlabel="DOFs", ylabel="iterations", title="iterative: Krylov iterations per time step")
    axes[1].set_ylim(bottom=0)
    axes[2].set(xlabel="DOFs", ylabel="peak RSS summed over ranks [GB]", title="peak memory")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=6)
    figure.savefig(path, dpi=80)
    plt.close(figure)


def driver(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = args.out / "solver_scaling.csv", args.out / "solver_scaling.png"
    if args.plot_only:
        rows = read_rows(csv_path)
        print_table(rows)
        plot(rows, png_path)
        return
    if not args.append and csv_path.exists():
        csv_path.unlink()
    sizes = sorted(args.levels, reverse=True)
    dofs_by_size: dict[float, int] = {}
    if args.append and csv_path.is_file():
        dofs_by_size = {float(r["size_mm"]): int(r["dofs"]) for r in read_rows(csv_path) if r["status"] == "ok"}
    direct_blocked = False  # once direct runs out of memory, larger levels skip it
    for level, size in enumerate(sizes):
        for ranks in args.ranks:
            for preset in sorted(args.presets, key=lambda p: p != "iterative"):  # iterative first: gives the DOFs
                dofs = dofs_by_size.get(size)
                unknown = dofs is None and "iterative" in args.presets  # the iterative run here failed
                if preset == "direct" and (direct_blocked or unknown or (dofs or 0) > args.direct_max_dofs):
                    reason = "a smaller direct run ran out of memory" if direct_blocked else (
                        "DOFs unknown" if unknown else f"> {args.direct_max_dofs} DOFs")  # fmt: skip
                    row = {"level": level, "size_mm": size, "lesion_size_mm": size / 2, "ranks": ranks, "preset": preset,
                           "dofs": dofs or "", "status": f"skipped: memory ({reason})"}  # fmt: skip
                    print(f"[solver_scaling] h = {size:g} mm, direct, {ranks} rank(s): {row['status']}")
                else:
                    row = launch(args, level, size, preset, ranks)
                    if row["status"] == "ok":
                        dofs_by_size[size] = int(row["dofs"])
                    elif preset == "direct" and row["status"].startswith("killed: memory"):
                        direct_blocked = True
                append_row(csv_path, row)
                renumber_levels(csv_path)
                plot(read_rows(csv_path), png_path)
    print_table(read_rows(csv_path))
    print(f"[solver_scaling] wrote {csv_path} and {png_path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=float, nargs="+", default=[6.0, 4.0, 3.0, 2.2, 1.5],
                        help="global element sizes [mm] (lesion size = size/2); default 6 4 3 2.2 1.5")  # fmt: skip
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--presets", nargs="+", choices=PRESETS, default=list(PRESETS))
    parser.add_argument("--steps", type=int, default=3, help="backward-Euler steps per run")
    parser.add_argument("--time-step", type=float, default=0.02, help="[s]")
    parser.add_argument("--direct-max-dofs", type=int, default=300_000, help="skip direct (MUMPS) above this")
    parser.add_argument("--mem-limit-gb", type=float, default=18.0, help="kill a run whose processes exceed this RSS")
    parser.add_argument("--timeout", type=float, default=3600.0, help="kill a run after this many seconds")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--append", action="store_true", help="append to an existing CSV instead of starting anew")
    parser.add_argument(
        "--plot-only", action="store_true", help="only redraw the PNG (and print the table) from the CSV"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--preset", choices=PRESETS, help=argparse.SUPPRESS)
    parser.add_argument("--row-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
    else:
        args.out = args.out.resolve()
        driver(args)


if __name__ == "__main__":
    main()
