"""Speed, memory and accuracy of the Biot solvers on a 3D Terzaghi column against its size.

Column: box L = 0.1 m, n^3 cubes of 6 tetrahedra (P2 u / P1 p), rollers on the four sides and the
base, top drained (p = 0) and loaded by q = 1e4 Pa from t = 0+; E = 1e7 Pa, nu = 0.25, alpha = 1,
M = 1e9 Pa, k/mu = 1e-10 m^2/(Pa s); backward Euler, 40 steps of 0.25 s. Built directly from
:func:`~bmes_fem.physics.forms.biot_step_forms` and :class:`~bmes_fem.solve.linear.BlockSolver`.

Error: max over the steps of |p_h(base) - p_BE(0, t_n)| / p0, with the backward-Euler Terzaghi series
p_BE(z, t_n) = (4 p0 / pi) sum_k (-1)^(k-1) / (2k-1) cos((2k-1) pi z / 2L) (1 + lambda_k dt)^(-n),
lambda_k = (2k-1)^2 pi^2 c / (4 L^2): the time discretisation is the same, so this is the spatial error.

Each (n, ranks) run is its own process (``mpirun -n R`` for R > 1), so its peak memory is its own:
:func:`measure.measure_command` polls the resident memory of the whole process tree. Runs are sequential; the
first is a small warm-up that fills the form compiler's cache and is not recorded.

    .venv/bin/python benchmarks/terzaghi_column.py --sizes 6 10 14 20 30 --ranks 1 2
    .venv/bin/python benchmarks/terzaghi_column.py --report-only    # table and plot from the CSV

Outputs in benchmarks/results/terzaghi_column/: terzaghi_column.csv (one row per run, failed ones
included), terzaghi_column.md (table) and terzaghi_column.png (time and memory against dofs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from column import (
    BIOT_COEFFICIENT,
    BIOT_MODULUS_PA,
    LENGTH_M,
    LOAD_PA,
    MOBILITY_M2_PER_PA_S,
    POISSON_RATIO,
    YOUNGS_MODULUS_PA,
    drained_modulus_Pa,
)
from measure import Measurement, measure_command, read_rows, write_rows

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "terzaghi_column"

COLUMNS = [
    "n", "ranks", "preset", "used_preset", "status", "steps", "dofs", "wall_s", "mesh_s", "setup_s", "step_mean_s",
    "step_max_s", "ksp_s_per_step", "iterations_mean", "iterations_max", "gflop_per_step", "peak_rss_mb",
    "peak_rss_tree_mb", "base_pressure_error",
]  # fmt: skip
MEANING = {
    "n": "cubes along each edge (6 n^3 tetrahedra)",
    "ranks": "MPI processes",
    "preset": "requested solver preset; used_preset: what ran (auto picks one)",
    "steps": "backward-Euler steps of 0.25 s (40 unless a run was shortened)",
    "dofs": "unknowns of the coupled (u, p) system",
    "wall_s": "wall time of the whole process (start-up, imports, mesh, set-up, steps)",
    "mesh_s": "mesh, spaces and forms",
    "setup_s": "BlockSolver construction: assembly of all matrices, preconditioner / factorisation set-up",
    "step_mean_s": "mean (max) wall time of a step: right-hand side assembly + solve (max over ranks)",
    "ksp_s_per_step": "of which in KSPSolve",
    "iterations_mean": "outer Krylov iterations per step, mean / max (1 for direct)",
    "gflop_per_step": "inner work: floating-point operations of KSPSolve per step, summed over ranks",
    "peak_rss_mb": "peak resident memory summed over ranks (each rank's getrusage maximum)",
    "peak_rss_tree_mb": "peak of the polled resident memory of the whole process tree (incl. mpirun)",
    "base_pressure_error": "max_n |p_h(base, t_n) - p_BE(0, t_n)| / p0",
}


# --------------------------------------------------------------------------------------- the column
def storage_coefficient_per_Pa() -> float:
    """S + alpha^2 m with S = 1/M, m = 1/P."""
    return 1.0 / BIOT_MODULUS_PA + BIOT_COEFFICIENT**2 / drained_modulus_Pa()


def undrained_pressure_Pa() -> float:
    """p0 = alpha m q / (S + alpha^2 m)."""
    return BIOT_COEFFICIENT * LOAD_PA / drained_modulus_Pa() / storage_coefficient_per_Pa()


def backward_euler_base_pressure_Pa(steps: int, time_step_s: float, terms: int = 2000) -> list[float]:
    """p_BE(0, t_n) for n = 1..steps (module docstring), c = (k/mu) / (S + alpha^2 m)."""
    import numpy as np

    odd = 2 * np.arange(1, terms + 1) - 1
    rates = odd**2 * np.pi**2 * (MOBILITY_M2_PER_PA_S / storage_coefficient_per_Pa()) / (4 * LENGTH_M**2)
    coefficients = 4 * undrained_pressure_Pa() / np.pi * (-1.0) ** np.arange(terms) / odd
    return [float(np.sum(coefficients * (1.0 + rates * time_step_s) ** -n)) for n in range(1, steps + 1)]


def worker(args: argparse.Namespace) -> None:
    """One run in this (MPI) process group; rank 0 writes its row as JSON to ``args.row_out``."""
    import resource

    import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

    # isort: split
    import numpy as np
    import ufl
    from dolfinx import default_scalar_type, fem
    from dolfinx import mesh as dmesh
    from mpi4py import MPI
    from petsc4py import PETSc

    from bmes_fem.physics.elasticity import IsotropicElasticity
    from bmes_fem.physics.forms import BIOT_COUPLING_TRANSPOSE, biot_step_forms, fixed_stress_pressure_form
    from bmes_fem.solve.linear import BlockSolver

    comm = MPI.COMM_WORLD
    PETSc.Log.begin()
    comm.Barrier()
    tic = time.perf_counter()
    n, L = args.n, LENGTH_M
    mesh = dmesh.create_box(comm, [[0.0, 0.0, 0.0], [L, L, L]], [n, n, n], dmesh.CellType.tetrahedron)
    V = fem.functionspace(mesh, ("Lagrange", 2, (3,)))
    Q = fem.functionspace(mesh, ("Lagrange", 1))
    constant = lambda value: fem.Constant(mesh, default_scalar_type(value))  # noqa: E731
    nu, scale = POISSON_RATIO, drained_modulus_Pa()
    mu_Pa, lmbda_Pa = YOUNGS_MODULUS_PA / (2 * (1 + nu)), YOUNGS_MODULUS_PA * nu / ((1 + nu) * (1 - 2 * nu))
    u_prev, p_hat_prev = fem.Function(V), fem.Function(Q)
    u, p_hat = fem.Function(V), fem.Function(Q)
    mesh.topology.create_connectivity(2, 3)
    top = dmesh.locate_entities_boundary(mesh, 2, lambda x: np.isclose(x[2], L))
    ds_top = ufl.Measure("ds", domain=mesh, subdomain_data=dmesh.meshtags(mesh, 2, top, np.ones_like(top)))(1)
    dx = ufl.Measure("dx", domain=mesh)
    trial_u, trial_p, test_u, test_p = ufl.TrialFunction(V), ufl.TrialFunction(Q), ufl.TestFunction(V), ufl.TestFunction(Q)
    time_step = constant(args.time_step)
    shared = dict(
        time_step=time_step, pressure_scale=scale, biot_coefficient=constant(BIOT_COEFFICIENT),
        storage=constant(1.0 / BIOT_MODULUS_PA), mobility=constant(MOBILITY_M2_PER_PA_S), filtration=constant(0.0),
        venous_conductance=constant(0.0), drainage=[], dx=dx, exchange_dx=dx,
    )  # fmt: skip
    a, rhs = biot_step_forms(
        trial_u, trial_p, test_u, test_p, u_prev=u_prev, p_hat_prev=p_hat_prev, elasticity=IsotropicElasticity.from_lame(constant(mu_Pa), constant(lmbda_Pa)),
        effective_capillary_pressure=constant(0.0), venous_pressure=constant(0.0),
        tractions=[(ufl.as_vector([0.0, 0.0, -LOAD_PA]), ds_top)], body_force=fem.Constant(mesh, np.zeros(3)),
        fluid_source=constant(0.0), **shared,
    )  # fmt: skip
    fixed_stress = fixed_stress_pressure_form(
        trial_p, test_p, drained_bulk_modulus=constant(lmbda_Pa + 2 * mu_Pa / 3), **shared
    )

    def rollers(component: int, where) -> fem.DirichletBC:
        sub = V.sub(component)
        dofs = fem.locate_dofs_geometrical((sub, sub.collapse()[0]), where)[0]
        return fem.dirichletbc(default_scalar_type(0.0), dofs, sub)

    bcs = [
        rollers(0, lambda x: np.isclose(x[0], 0.0) | np.isclose(x[0], L)),
        rollers(1, lambda x: np.isclose(x[1], 0.0) | np.isclose(x[1], L)),
        rollers(2, lambda x: np.isclose(x[2], 0.0)),
        fem.dirichletbc(default_scalar_type(0.0), fem.locate_dofs_geometrical(Q, lambda x: np.isclose(x[2], L)), Q),
    ]
    base = fem.locate_dofs_geometrical(Q, lambda x: np.isclose(x[2], 0.0))
    base = base[base < Q.dofmap.index_map.size_local]
    base_count = comm.allreduce(base.size, op=MPI.SUM)
    comm.Barrier()
    mesh_s = time.perf_counter() - tic

    tic = time.perf_counter()
    solver = BlockSolver(
        a, rhs, name="column", preset=args.preset, bcs=bcs, pressure_preconditioner=fixed_stress,
        expected_solves=args.steps, coupling_transpose=BIOT_COUPLING_TRANSPOSE,
    )  # fmt: skip
    comm.Barrier()
    setup_s = time.perf_counter() - tic

    ksp_event = PETSc.Log.Event("KSPSolve")
    ksp_before = ksp_event.getPerfInfo()
    stats, base_pressure_Pa = [], []
    for _ in range(args.steps):
        stats.append(solver.solve([u, p_hat]))
        u_prev.x.array[:], p_hat_prev.x.array[:] = u.x.array, p_hat.x.array
        base_pressure_Pa.append(comm.allreduce(float(p_hat.x.array[base].sum()), op=MPI.SUM) * scale / base_count)
    ksp_after = ksp_event.getPerfInfo()
    step_s = [comm.allreduce(s.wall_time_s, op=MPI.MAX) for s in stats]
    ksp_s = comm.allreduce(ksp_after["time"] - ksp_before["time"], op=MPI.MAX)
    flop = comm.allreduce(ksp_after["flops"] - ksp_before["flops"], op=MPI.SUM)
    rss_MB = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, op=MPI.SUM)  # Linux: kB
    exact_Pa = backward_euler_base_pressure_Pa(args.steps, args.time_step)
    iterations = [s.iterations for s in stats]
    if comm.rank == 0:
        row = {
            "used_preset": solver.preset,
            "dofs": solver.dofs,
            "mesh_s": mesh_s,
            "setup_s": setup_s,
            "step_mean_s": float(np.mean(step_s)),
            "step_max_s": float(np.max(step_s)),
            "ksp_s_per_step": ksp_s / args.steps,
            "iterations_mean": float(np.mean(iterations)),
            "iterations_max": int(np.max(iterations)),
            "gflop_per_step": flop / args.steps / 1e9,
            "peak_rss_mb": rss_MB,
            "base_pressure_error": float(np.max(np.abs(np.array(base_pressure_Pa) - exact_Pa))) / undrained_pressure_Pa(),
        }
        Path(args.row_out).write_text(json.dumps(row))


# --------------------------------------------------------------------------------------- driver
def run(args: argparse.Namespace, n: int, ranks: int, steps: int, row_out: Path | None) -> tuple[Measurement, dict]:
    """Start one worker process group for size ``n``; return its measurement and its row (empty if it failed)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--n", str(n), "--preset", args.preset,
               "--steps", str(steps), "--time-step", str(args.time_step), "--row-out", str(row_out or os.devnull)]  # fmt: skip
    if ranks > 1:
        command = [str(Path(sys.executable).parent / "mpirun"), "-n", str(ranks), *command]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    log = args.out / f"log_n{n}_{args.preset}_np{ranks}.txt"
    measurement = measure_command(command, log_path=log, env=env, timeout_s=args.timeout, memory_limit_B=args.mem_limit_gb * 1e9)
    row = json.loads(row_out.read_text()) if row_out is not None and row_out.is_file() else {}
    if measurement.status == "ok":
        log.unlink()
    return measurement, row


def measure(args: argparse.Namespace, n: int, ranks: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        measurement, row = run(args, n, ranks, args.steps, Path(folder) / "row.json")
    status = measurement.status if measurement.status != "ok" or row else "failed (no result)"
    return {
        **row, "n": n, "ranks": ranks, "preset": args.preset, "status": status, "steps": args.steps, "wall_s": measurement.wall_s,
        "peak_rss_tree_mb": measurement.peak_rss_B / 2**20,
    }  # fmt: skip


def _number(row: dict, key: str, form: str) -> str:
    return format(float(row[key]), form) if row.get(key) not in (None, "") else "-"


def write_markdown(path: Path, rows: list[dict]) -> None:
    lines = [
        "| n | ranks | preset | steps | dofs | wall [s] | mesh [s] | set-up [s] | step mean / max [s] | KSP [s/step] "
        "| iterations mean / max | GFlop/step | peak RSS [MB] | tree RSS [MB] | base p error | status |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in sorted(rows, key=lambda r: (int(r["ranks"]), int(r["n"]))):
        preset = r["preset"] if r.get("used_preset") in (None, "", r["preset"]) else f"{r['preset']} ({r['used_preset']})"
        lines.append(
            f"| {r['n']} | {r['ranks']} | {preset} | {r.get('steps') or '-'} | {r.get('dofs') or '-'} | {_number(r, 'wall_s', '.1f')} "
            f"| {_number(r, 'mesh_s', '.2f')} | {_number(r, 'setup_s', '.2f')} "
            f"| {_number(r, 'step_mean_s', '.3f')} / {_number(r, 'step_max_s', '.3f')} | {_number(r, 'ksp_s_per_step', '.3f')} "
            f"| {_number(r, 'iterations_mean', '.1f')} / {r.get('iterations_max') or '-'} | {_number(r, 'gflop_per_step', '.2f')} "
            f"| {_number(r, 'peak_rss_mb', '.0f')} | {_number(r, 'peak_rss_tree_mb', '.0f')} "
            f"| {_number(r, 'base_pressure_error', '.2e')} | {r['status']} |"
        )
    legend = [f"- `{key}`: {text}" for key, text in MEANING.items()]
    path.write_text("# Terzaghi column: solver cost against size\n\n" + "\n".join(lines) + "\n\nColumns:\n\n" + "\n".join(legend) + "\n")


def plot(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["status"] == "ok"]
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for preset, ranks in sorted({(r["used_preset"], int(r["ranks"])) for r in ok}):
        chosen = sorted((r for r in ok if r["used_preset"] == preset and int(r["ranks"]) == ranks), key=lambda r: int(r["dofs"]))
        dofs = [int(r["dofs"]) for r in chosen]
        label, line = f"{preset}, {ranks} rank{'s' if ranks > 1 else ''}", "o-" if ranks == 1 else "s--"
        time_axis.loglog(dofs, [float(r["wall_s"]) for r in chosen], line, label=f"wall, {label}")
        time_axis.loglog(dofs, [float(r["step_mean_s"]) for r in chosen], line, mfc="none", alpha=0.6, label=f"per step, {label}")
        memory_axis.loglog(dofs, [float(r["peak_rss_mb"]) for r in chosen], line, label=label)
    time_axis.set(xlabel="dofs", ylabel="time [s]", title="whole run and one time step")
    memory_axis.set(xlabel="dofs", ylabel="peak RSS summed over ranks [MB]", title="memory")
    for axis in (time_axis, memory_axis):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def report(out: Path) -> None:
    rows = read_rows(out / "terzaghi_column.csv")
    write_markdown(out / "terzaghi_column.md", rows)
    plot(out / "terzaghi_column.png", rows)
    print((out / "terzaghi_column.md").read_text())


def driver(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "terzaghi_column.csv"
    if args.report_only:
        report(args.out)
        return
    rows = read_rows(csv_path) if args.append and csv_path.is_file() else []
    warm_up, _ = run(args, 2, 1, 1, None)
    print(f"[terzaghi_column] warm-up (form compilation): {warm_up.status}, {warm_up.wall_s:.1f} s", flush=True)
    for n in args.sizes:
        for ranks in args.ranks:
            print(f"[terzaghi_column] n = {n}, {ranks} rank(s), {args.preset} ...", flush=True)
            row = measure(args, n, ranks)
            print(f"[terzaghi_column]   {row['status']}, {row['wall_s']:.1f} s", flush=True)
            rows = [r for r in rows if (int(r["n"]), int(r["ranks"]), r["preset"]) != (n, ranks, args.preset)] + [row]
            write_rows(csv_path, rows, COLUMNS)
    report(args.out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 10, 14, 20, 30], help="cubes along an edge")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--preset", choices=("direct", "iterative", "auto"), default="iterative")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--time-step", type=float, default=0.25, help="[s]")
    parser.add_argument("--timeout", type=float, default=3600.0, help="kill a run after this many seconds")
    parser.add_argument("--mem-limit-gb", type=float, default=18.0, help="kill a run whose process tree exceeds this RSS")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--append", action="store_true", help="keep the CSV's other rows (same n, ranks, preset replaced)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the table and plot from the CSV")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--row-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
    else:
        args.out = args.out.resolve()
        driver(args)


if __name__ == "__main__":
    main()
