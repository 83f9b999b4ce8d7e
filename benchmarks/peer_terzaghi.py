"""The race against OpenGeoSys: the same 3D Terzaghi column run by both codes, side by side, by size.

Column: box 0.1 m, rollers on the four sides and the base, drained top loaded by 1e4 Pa from t = 0+;
E = 1e7 Pa, nu = 0.25, alpha = 1, M = 1e9 Pa, k/mu = 1e-10 m^2/(Pa s); backward Euler, 40 steps of 0.25 s.

- bmes: ``bmes run benchmarks/peer/terzaghi_column.yaml --set "geometry.divisions=[n, n, n]"`` (n^3 cubes
  of 6 tetrahedra, P2 u / P1 p, solver preset auto, figures off, a probe at the centre of the base), on
  1 rank and under ``mpirun -n 2``.
- OpenGeoSys 6.5.9: ``ogs benchmarks/peer/terzaghi_hm.prj`` (HYDRO_MECHANICS, hex20 u / hex8 p) on the
  mesh of its recipe (generateStructuredMesh, createQuadraticMesh, ExtractSurface; timed apart as
  ``mesh_s``), ``OMP_NUM_THREADS=1``. Its base pressure is read from its output VTUs.

Each run is its own process (group) in a fresh temporary folder; wall time and the peak resident memory
of the whole process tree are measured from outside (:mod:`measure`). Sizes run in turn, the order of
the codes alternating from one size to the next; with ``--max-load`` each run waits for the machine's
1-minute load average to fall below it (the load at the start of each run is recorded). A first small
bmes run (not recorded) fills the form compiler's cache.

Error (both codes, equal spatial error is the point of comparing at equal n): max over OpenGeoSys's
output times (0.5, 1, 2, 5, 10 s) of |p_h(base centre, t_n) - p_BE(0, t_n)| / p0 with the backward-Euler
Terzaghi series (:func:`bmes_fem.physics.analytic.terzaghi_backward_euler`: same time discretisation, so
this is the spatial error); for bmes also over all 40 steps. bmes's inner work comes from PETSc's
``-log_view`` (set through ``PETSC_OPTIONS``): KSPSolve floating-point operations and preconditioner
applications per step (an application beyond the outer iterations is a per-field residual check).

    .venv/bin/python benchmarks/peer_terzaghi.py --sizes 6 10 14 20 30 --max-load 1.2
    .venv/bin/python benchmarks/peer_terzaghi.py --report-only

The ``ogs`` tools are looked up in ``--ogs-bin`` or on PATH (``pip install .[peer]`` installs them);
without them only bmes runs, and the report says so. Outputs in benchmarks/results/peer_terzaghi/:
peer_terzaghi.csv (one row per run), peer_terzaghi.md (tables, ratios OGS/bmes) and peer_terzaghi.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from column import (
    BIOT_COEFFICIENT,
    BIOT_MODULUS_PA,
    LENGTH_M,
    LOAD_PA,
    MOBILITY_M2_PER_PA_S,
    STEPS,
    TIME_STEP_S,
    drained_modulus_Pa,
)
from measure import load_1min, measure_command, read_rows, wait_for_quiet, write_rows

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "benchmarks" / "peer"
CONFIG = PEER / "terzaghi_column.yaml"
PROJECT = PEER / "terzaghi_hm.prj"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "peer_terzaghi"
VENV_BIN = Path(sys.executable).parent

OGS_OUTPUT_TIMES_S = (0.5, 1.0, 2.0, 5.0, 10.0)  # the project's fixed output times
BASE_CENTRE_M = (0.05, 0.05, 0.0)
# generateStructuredMesh / ExtractSurface: surface name -> inward normal (the recipe of terzaghi_hm.prj)
SURFACES = {"top": (0, 0, -1), "bottom": (0, 0, 1), "xmin": (1, 0, 0), "xmax": (-1, 0, 0), "ymin": (0, 1, 0), "ymax": (0, -1, 0)}

COLUMNS = [
    "code", "n", "ranks", "dofs", "preset", "status", "wall_s", "mesh_s", "solve_s", "peak_rss_mb", "error", "error_all_steps",
    "iterations_mean", "iterations_max", "pc_applies_per_step", "gflop_per_step", "load_1min",
]  # fmt: skip
MEANING = {
    "code": "bmes (`bmes run`, preset auto) or ogs (OpenGeoSys 6.5.9)",
    "dofs": "unknowns of the coupled (u, p) system",
    "preset": "bmes: the preset auto chose for the Biot steps (direct: MUMPS LU; iterative: GMRES + Schur field split)",
    "wall_s": "wall time of the whole process (bmes: start-up, mesh, set-up, 40 steps, output; ogs: the `ogs` run)",
    "mesh_s": "ogs only: its mesh recipe (generateStructuredMesh, createQuadraticMesh, 6 x ExtractSurface), not in wall_s",
    "solve_s": "bmes: the time-stepping stage of `bmes run` (summary.json wall_time_s.solve)",
    "peak_rss_mb": "peak resident memory of the process tree (all ranks and mpirun), polled every 0.1 s",
    "error": "max over t = 0.5, 1, 2, 5, 10 s of |p_h(base centre) - p_BE(0, t)| / p0 (backward-Euler series)",
    "error_all_steps": "bmes: the same over all 40 steps",
    "iterations_mean": "bmes: outer Krylov iterations per step, mean / max (1 for direct)",
    "pc_applies_per_step": "bmes: preconditioner applications per step (outer iterations + per-field residual checks)",
    "gflop_per_step": "bmes: floating-point work of KSPSolve per step, summed over ranks (PETSc -log_view)",
    "load_1min": "1-minute load average of the machine when the run started",
}


# --------------------------------------------------------------------------------------- reference
def series_base_pressure_Pa(steps: np.ndarray) -> tuple[np.ndarray, float]:
    """(p_BE(0, t_n) for each step number n, p0): the backward-Euler Terzaghi series at the base."""
    from bmes_fem.physics import analytic

    column = dict(
        height=LENGTH_M, load=LOAD_PA, drained_modulus_m=1.0 / drained_modulus_Pa(), storage=1.0 / BIOT_MODULUS_PA,
        biot_coefficient=BIOT_COEFFICIENT, mobility=MOBILITY_M2_PER_PA_S, terms=4000,
    )  # fmt: skip
    pressures = np.array([analytic.terzaghi_backward_euler(np.zeros(1), int(n), TIME_STEP_S, **column)[0][0] for n in steps])
    p0 = analytic.undrained_pressure(
        LOAD_PA, drained_modulus_m=column["drained_modulus_m"], storage=column["storage"], biot_coefficient=BIOT_COEFFICIENT
    )
    return pressures, float(p0)


def base_pressure_error(times_s: np.ndarray, pressures_Pa: np.ndarray, only_at: tuple[float, ...] | None) -> float:
    """max |p_h - p_BE| / p0 over the steps at ``times_s`` (t > 0), or only at the times ``only_at``."""
    steps = np.rint(np.asarray(times_s) / TIME_STEP_S).astype(int)
    keep = steps > 0
    if only_at is not None:
        keep &= np.isin(steps, np.rint(np.array(only_at) / TIME_STEP_S).astype(int))
    exact, p0 = series_base_pressure_Pa(steps[keep])
    return float(np.max(np.abs(np.asarray(pressures_Pa)[keep] - exact)) / p0)


# --------------------------------------------------------------------------------------- bmes
def petsc_log_figures(path: Path) -> dict:
    """KSPSolve floating-point operations (summed over ranks) and PCApply count from a -log_view file."""
    figures = {}
    if not path.is_file():
        return figures
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) > 10 and fields[0] in ("KSPSolve", "PCApply"):
            time_max_s, rate_Mflop_s = float(fields[3]), float(fields[-1])  # total rate = summed flops / max time
            figures[fields[0]] = {"count": int(fields[1]), "flop": rate_Mflop_s * 1e6 * time_max_s}
    return figures


def run_bmes(args: argparse.Namespace, n: int, ranks: int, folder: Path, record: bool = True) -> dict:
    """One ``bmes run`` of the column at size ``n`` on ``ranks`` processes."""
    log_view = folder / "petsc_log.txt"
    command = [str(VENV_BIN / "bmes"), "run", str(CONFIG), "--set", f"geometry.divisions=[{n}, {n}, {n}]", "--results-dir", str(folder)]
    command += [f"--set=solver.preset={args.preset}"] if args.preset != "auto" else []
    if ranks > 1:
        command = [str(VENV_BIN / "mpirun"), "-n", str(ranks), *command]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PETSC_OPTIONS": f"-log_view :{log_view}" if record else ""}
    measured = measure_command(command, log_path=folder / "bmes.log", cwd=folder, env=env, timeout_s=args.timeout,
                               memory_limit_B=args.mem_limit_gb * 1e9)  # fmt: skip
    row = {"code": "bmes", "n": n, "ranks": ranks, "status": measured.status, "wall_s": measured.wall_s,
           "peak_rss_mb": measured.peak_rss_B / 2**20, "load_1min": measured.load_1min}  # fmt: skip
    case = folder / "peer_terzaghi"
    if measured.status != "ok" or not (case / "summary.json").is_file():
        row["status"] = measured.status if measured.status != "ok" else "failed (no summary)"
        keep_log(args, folder / "bmes.log", f"bmes_n{n}_np{ranks}")
        return row
    summary = json.loads((case / "summary.json").read_text())
    biot = summary["solver"]["biot"]
    with open(case / "probes.csv", newline="") as handle:
        probes = list(csv.DictReader(handle))
    times_s, base_Pa = np.array([float(r["time_s"]) for r in probes]), np.array([float(r["base_p_Pa"]) for r in probes])
    petsc = petsc_log_figures(log_view)
    row.update(
        dofs=biot["dofs"], preset=biot["preset"], solve_s=summary["wall_time_s"]["solve"],
        iterations_mean=biot["iterations_per_solve_mean"], iterations_max=biot["iterations_per_solve_max"],
        error=base_pressure_error(times_s, base_Pa, OGS_OUTPUT_TIMES_S), error_all_steps=base_pressure_error(times_s, base_Pa, None),
    )  # fmt: skip
    if "KSPSolve" in petsc:
        row["gflop_per_step"] = petsc["KSPSolve"]["flop"] / STEPS / 1e9
    if "PCApply" in petsc and biot["preset"] == "iterative":
        row["pc_applies_per_step"] = petsc["PCApply"]["count"] / STEPS
    return row


# --------------------------------------------------------------------------------------- OpenGeoSys
def ogs_tool(args: argparse.Namespace, name: str) -> str | None:
    """Path of an OpenGeoSys executable: in ``--ogs-bin``, else on PATH."""
    if args.ogs_bin is not None and (args.ogs_bin / name).is_file():
        return str(args.ogs_bin / name)
    return shutil.which(name)


def ogs_dofs(n: int) -> int:
    """3 x (corner + mid-edge nodes of the hex20 mesh) + corner nodes (hex8 pressure)."""
    corners, mid_edges = (n + 1) ** 3, 3 * n * (n + 1) ** 2
    return 3 * (corners + mid_edges) + corners


def make_ogs_mesh(args: argparse.Namespace, n: int, folder: Path) -> None:
    """The project's mesh recipe in ``folder``: cube.vtu (hex20) and the six boundary meshes."""
    tool = lambda name: ogs_tool(args, name)  # noqa: E731
    quiet = dict(cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    length = str(LENGTH_M)
    subprocess.run([tool("generateStructuredMesh"), "-e", "hex", "--lx", length, "--ly", length, "--lz", length,
                    "--nx", str(n), "--ny", str(n), "--nz", str(n), "-o", "lin.vtu"], **quiet)  # fmt: skip
    subprocess.run([tool("createQuadraticMesh"), "-i", "lin.vtu", "-o", "cube.vtu"], **quiet)
    for name, (x, y, z) in SURFACES.items():
        subprocess.run([tool("ExtractSurface"), "-i", "cube.vtu", "-o", f"{name}.vtu", "-x", str(x), "-y", str(y), "-z", str(z), "-a", "1"], **quiet)


def ogs_base_pressure(out: Path) -> tuple[np.ndarray, np.ndarray]:
    """(times, pressure at the base centre) from the bottom-mesh VTUs ``terzaghi_bottom_ts_<k>_t_<t>.vtu``."""
    import meshio

    records = []
    for path in out.glob("terzaghi_bottom_ts_*_t_*.vtu"):
        time_s = float(re.search(r"_t_([0-9.eE+-]+)\.vtu$", path.name).group(1))
        mesh = meshio.read(path)
        nearest = int(np.argmin(np.linalg.norm(mesh.points - np.array(BASE_CENTRE_M), axis=1)))
        records.append((time_s, float(mesh.point_data["pressure"][nearest])))
    records.sort()
    return np.array([t for t, _ in records]), np.array([p for _, p in records])


def run_ogs(args: argparse.Namespace, n: int, folder: Path) -> dict:
    """Mesh recipe, then one ``ogs`` run of the project at size ``n``."""
    tic = time.perf_counter()
    make_ogs_mesh(args, n, folder)
    mesh_s = time.perf_counter() - tic
    shutil.copy(PROJECT, folder / PROJECT.name)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    measured = measure_command([ogs_tool(args, "ogs"), PROJECT.name, "-o", "out"], log_path=folder / "ogs.log", cwd=folder, env=env,
                               timeout_s=args.timeout, memory_limit_B=args.mem_limit_gb * 1e9)  # fmt: skip
    row = {"code": "ogs", "n": n, "ranks": 1, "dofs": ogs_dofs(n), "preset": "BiCGSTAB + Jacobi", "status": measured.status,
           "wall_s": measured.wall_s, "mesh_s": mesh_s, "peak_rss_mb": measured.peak_rss_B / 2**20, "load_1min": measured.load_1min}  # fmt: skip
    if measured.status == "ok":
        times_s, base_Pa = ogs_base_pressure(folder / "out")
        row["error"] = base_pressure_error(times_s, base_Pa, OGS_OUTPUT_TIMES_S)
    else:
        keep_log(args, folder / "ogs.log", f"ogs_n{n}")
    return row


# --------------------------------------------------------------------------------------- driver
def keep_log(args: argparse.Namespace, log: Path, name: str) -> None:
    if log.is_file():
        shutil.copy(log, args.out / f"log_{name}.txt")


def _value(row: dict | None, key: str) -> float | None:
    return float(row[key]) if row is not None and row.get(key) not in (None, "") else None


def _fmt(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def write_markdown(path: Path, rows: list[dict], note: str) -> None:
    runs = [
        "| code | n | ranks | dofs | preset | wall [s] | peak RSS [MB] | error (5 times) | error (40 steps) | iterations mean / max "
        "| PC applies / step | GFlop / step | load | status |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in sorted(rows, key=lambda r: (int(r["n"]), r["code"], int(r["ranks"]))):
        iterations = f"{_fmt(_value(r, 'iterations_mean'), '.1f')} / {r.get('iterations_max') or '-'}" if r["code"] == "bmes" else "-"
        runs.append(
            f"| {r['code']} | {r['n']} | {r['ranks']} | {r.get('dofs') or '-'} | {r.get('preset') or '-'} | {_fmt(_value(r, 'wall_s'), '.1f')} "
            f"| {_fmt(_value(r, 'peak_rss_mb'), '.0f')} | {_fmt(_value(r, 'error'), '.2e')} | {_fmt(_value(r, 'error_all_steps'), '.2e')} "
            f"| {iterations} | {_fmt(_value(r, 'pc_applies_per_step'), '.1f')} | {_fmt(_value(r, 'gflop_per_step'), '.2f')} "
            f"| {_fmt(_value(r, 'load_1min'), '.2f')} | {r['status']} |"
        )
    ratios = [
        "| n | dofs bmes / ogs | error bmes / ogs | wall ogs [s] | wall bmes 1 / 2 ranks [s] | time ratio ogs/bmes 1 rank | 2 ranks "
        "| RSS ogs [MB] | RSS bmes 1 / 2 ranks [MB] | memory ratio bmes/ogs 1 rank | 2 ranks |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    find = lambda code, n, ranks: next(  # noqa: E731
        (r for r in rows if r["code"] == code and int(r["n"]) == n and int(r["ranks"]) == ranks and r["status"] == "ok"), None
    )
    for n in sorted({int(r["n"]) for r in rows}):
        ogs, one, two = find("ogs", n, 1), find("bmes", n, 1), find("bmes", n, 2)
        ratio = lambda a, b, key: _fmt(_value(a, key) / _value(b, key), ".2f") if _value(a, key) and _value(b, key) else "-"  # noqa: E731
        ratios.append(
            f"| {n} | {(one or two or {}).get('dofs', '-')} / {(ogs or {}).get('dofs', '-')} "
            f"| {_fmt(_value(one or two, 'error'), '.2e')} / {_fmt(_value(ogs, 'error'), '.2e')} | {_fmt(_value(ogs, 'wall_s'), '.1f')} "
            f"| {_fmt(_value(one, 'wall_s'), '.1f')} / {_fmt(_value(two, 'wall_s'), '.1f')} | {ratio(ogs, one, 'wall_s')} | {ratio(ogs, two, 'wall_s')} "
            f"| {_fmt(_value(ogs, 'peak_rss_mb'), '.0f')} | {_fmt(_value(one, 'peak_rss_mb'), '.0f')} / {_fmt(_value(two, 'peak_rss_mb'), '.0f')} "
            f"| {ratio(one, ogs, 'peak_rss_mb')} | {ratio(two, ogs, 'peak_rss_mb')} |"
        )
    legend = "\n".join(f"- `{key}`: {text}" for key, text in MEANING.items())
    text = "# Terzaghi column: bmes against OpenGeoSys\n\n" + (f"{note}\n\n" if note else "")
    text += "## OpenGeoSys / bmes by size\n\n" + "\n".join(ratios) + "\n\n## Runs\n\n" + "\n".join(runs) + f"\n\nColumns:\n\n{legend}\n"
    path.write_text(text)


def plot(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for code, ranks, style, label in (("ogs", 1, "k^-", "OpenGeoSys 6.5.9, 1 process"), ("bmes", 1, "o-", "bmes, 1 rank"),
                                      ("bmes", 2, "s--", "bmes, mpirun -n 2")):  # fmt: skip
        chosen = sorted((r for r in rows if r["code"] == code and int(r["ranks"]) == ranks and r["status"] == "ok"), key=lambda r: int(r["dofs"]))
        if chosen:
            dofs = [int(r["dofs"]) for r in chosen]
            time_axis.loglog(dofs, [float(r["wall_s"]) for r in chosen], style, label=label)
            memory_axis.loglog(dofs, [float(r["peak_rss_mb"]) for r in chosen], style, label=label)
    time_axis.set(xlabel="dofs", ylabel="wall time of the run [s]", title="Terzaghi column, 40 steps")
    memory_axis.set(xlabel="dofs", ylabel="peak RSS of the process tree [MB]", title="memory")
    for axis in (time_axis, memory_axis):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def report(out: Path, note: str = "") -> None:
    rows = read_rows(out / "peer_terzaghi.csv")
    write_markdown(out / "peer_terzaghi.md", rows, note)
    plot(out / "peer_terzaghi.png", rows)
    print((out / "peer_terzaghi.md").read_text())


def driver(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "peer_terzaghi.csv"
    have_ogs = ogs_tool(args, "ogs") is not None and all(ogs_tool(args, t) for t in ("generateStructuredMesh", "createQuadraticMesh", "ExtractSurface"))
    note = "" if have_ogs else "OpenGeoSys (`ogs`) was not found (`pip install .[peer]` or `--ogs-bin`): bmes ran alone."
    if args.report_only:
        report(args.out, note)
        return
    if not have_ogs:
        print(f"[peer_terzaghi] {note}", flush=True)
    rows = read_rows(csv_path) if args.append else []
    say = lambda text: print(f"[peer_terzaghi] {text}", flush=True)  # noqa: E731
    for preset in dict.fromkeys(["iterative", args.preset]):  # warm-up: fill the form compiler's cache
        with tempfile.TemporaryDirectory() as folder:
            warm_up = run_bmes(argparse.Namespace(**{**vars(args), "preset": preset}), 2, 1, Path(folder), record=False)
        say(f"warm-up ({preset}): {warm_up['status']}, {warm_up['wall_s']:.1f} s")
    for index, n in enumerate(args.sizes):
        jobs = [("bmes", ranks) for ranks in args.ranks] + ([("ogs", 1)] if have_ogs else [])
        for code, ranks in jobs if index % 2 == 0 else jobs[::-1]:
            if args.max_load is not None:
                wait_for_quiet(args.max_load, max_wait_s=args.max_wait, say=say)
            say(f"n = {n}: {code}{f' on {ranks} rank(s)' if code == 'bmes' else ''} (load {load_1min():.2f}) ...")
            with tempfile.TemporaryDirectory() as folder:
                row = run_bmes(args, n, ranks, Path(folder)) if code == "bmes" else run_ogs(args, n, Path(folder))
            say(f"  {row['status']}, {row['wall_s']:.1f} s, {row['peak_rss_mb']:.0f} MB, error {row.get('error', float('nan')):.2e}")
            rows = [r for r in rows if (r["code"], int(r["n"]), int(r["ranks"])) != (code, n, ranks)] + [row]
            write_rows(csv_path, rows, COLUMNS)
    report(args.out, note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 10, 14, 20, 30], help="cubes along an edge (even: a node at the base centre)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="MPI processes of the bmes runs")
    parser.add_argument("--preset", choices=("auto", "direct", "iterative"), default="auto", help="bmes solver preset")
    parser.add_argument("--ogs-bin", type=Path, help="folder of the OpenGeoSys executables (default: PATH)")
    parser.add_argument("--max-load", type=float, help="before each run wait until the 1-minute load average is below this")
    parser.add_argument("--max-wait", type=float, default=900.0, help="longest wait for a quiet machine before a run [s]")
    parser.add_argument("--timeout", type=float, default=3600.0, help="kill a run after this many seconds")
    parser.add_argument("--mem-limit-gb", type=float, default=18.0, help="kill a run whose process tree exceeds this RSS")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--append", action="store_true", help="keep the CSV's other rows (the same code, n and ranks replaced)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the tables and the plot from the CSV")
    args = parser.parse_args()
    args.out = args.out.resolve()
    driver(args)


if __name__ == "__main__":
    main()
