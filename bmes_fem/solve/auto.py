"""The ``auto`` preset: MUMPS LU or the multigrid route, by estimated memory and time.

Cost models in the number of unknowns N, fitted to MUMPS and the ``iterative`` preset on Taylor-Hood
P2/P1 Biot problems on a shared 2-core, 24 GB machine (3D: the Terzaghi column of benchmarks/peer, n^3
cubes, 29k, 77k and 216k unknowns, 40 steps, one rank: LU set-up 2.6 / 10.4 / 58.6 s, a solve 0.037 /
0.13 / 0.54 s, peak 0.71 / 1.8 / 6.5 GB; multigrid with the POD initial guess, 40 steps: 4.9e-6 / 5.5e-6 s
per unknown and step at 77k / 216k; 2D square, 91k-362k):

  LU, 3D:  memory  m_3 N^(4/3),   factorisation  f_3 N^1.6,     each solve  s_3 N^(4/3)
  LU, 2D:  memory  m_2 N log2 N,  factorisation  f_2 N^(3/2),   each solve  s_2 N log2 N
  multigrid (set-up once, each solve 8 Krylov iterations on average):  memory  m_mg N,  set-up  g N,  solve  k N

LU is chosen when its memory fits in half the free memory (psutil, rank 0's node) and its time for
the expected number of solves, t_LU = factorisation + n solve, is at most half of t_MG = set-up + n solve:
LU's memory grows as N^(4/3) against N, so a smaller gain does not pay for it (column, 77k unknowns: LU
17.6 s and 1.8 GB against multigrid 18.4 s and 0.35 GB; 216k: LU ~80 s and 6.5 GB against 53 s and 0.62 GB).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import psutil
from mpi4py import MPI

LOGGER = logging.getLogger("bmes_fem")

MEMORY_FRACTION = 0.5  # of the free memory LU may plan to use (fill-in estimates err by up to 2x)
LU_MIN_SPEEDUP = 2.0  # LU only if it takes at most 1/this of the multigrid's estimated time


@dataclass(frozen=True)
class CostModel:
    """Coefficients of the cost models above [B, s per unknown^power]."""

    lu_memory_3d_B: float = 550.0
    lu_factor_3d_s: float = 1.7e-7
    lu_solve_3d_s: float = 4.1e-8
    lu_memory_2d_B: float = 200.0
    lu_factor_2d_s: float = 8.0e-8
    lu_solve_2d_s: float = 1.0e-7
    multigrid_memory_B: float = 2500.0
    multigrid_setup_s: float = 1.5e-5
    multigrid_solve_s: float = 5.5e-6


MODEL = CostModel()


@dataclass(frozen=True)
class Estimate:
    memory_B: float
    setup_s: float
    solve_s: float

    def time_s(self, solves: int) -> float:
        return self.setup_s + solves * self.solve_s


@dataclass(frozen=True)
class PresetChoice:
    """The preset a solver uses ("direct" or "iterative") and why (for logs and run summaries)."""

    preset: str
    reason: str


def lu_estimate(dofs: int, gdim: int) -> Estimate:
    if gdim == 3:
        fill = dofs ** (4.0 / 3.0)
        return Estimate(MODEL.lu_memory_3d_B * fill, MODEL.lu_factor_3d_s * dofs**1.6, MODEL.lu_solve_3d_s * fill)
    fill = dofs * math.log2(max(dofs, 2))
    return Estimate(MODEL.lu_memory_2d_B * fill, MODEL.lu_factor_2d_s * dofs**1.5, MODEL.lu_solve_2d_s * fill)


def multigrid_estimate(dofs: int) -> Estimate:
    return Estimate(MODEL.multigrid_memory_B * dofs, MODEL.multigrid_setup_s * dofs, MODEL.multigrid_solve_s * dofs)


def choose_preset(dofs: int, gdim: int, expected_solves: int, available_B: float) -> PresetChoice:
    """LU if it fits in MEMORY_FRACTION of ``available_B`` and is LU_MIN_SPEEDUP times faster over ``expected_solves`` solves."""
    lu, mg = lu_estimate(dofs, gdim), multigrid_estimate(dofs)
    t_lu, t_mg = lu.time_s(expected_solves), mg.time_s(expected_solves)
    figures = (
        f"{dofs} dofs, {expected_solves} solve(s): LU ~{lu.memory_B / 1e9:.2g} GB and ~{t_lu:.2g} s, "
        f"multigrid ~{mg.memory_B / 1e9:.2g} GB and ~{t_mg:.2g} s; {available_B / 1e9:.3g} GB free"
    )
    if lu.memory_B > MEMORY_FRACTION * available_B:
        return PresetChoice("iterative", f"LU would not fit in memory ({figures})")
    if LU_MIN_SPEEDUP * t_lu > t_mg:
        return PresetChoice("iterative", f"LU is not {LU_MIN_SPEEDUP:g}x faster than multigrid ({figures})")
    return PresetChoice("direct", f"LU fits and is {LU_MIN_SPEEDUP:g}x faster or more ({figures})")


def available_memory_B(comm: MPI.Comm) -> float:
    """Free memory of rank 0's node [B] (psutil), the same figure on every rank."""
    return comm.bcast(psutil.virtual_memory().available if comm.rank == 0 else None, root=0)


_REPORTED: set[tuple[str, str]] = set()  # (solver, preset) choices logged at INFO in this process


def resolve_preset(preset: str, *, name: str, dofs: int, gdim: int, expected_solves: int, comm: MPI.Comm) -> PresetChoice:
    """``direct`` and ``iterative`` stand; ``auto`` chooses with :func:`choose_preset` and logs why (INFO the
    first time a solver gets a preset, DEBUG when a run of many solves, e.g. a course, makes the same choice again)."""
    if preset != "auto":
        return PresetChoice(preset, "set by solver.preset")
    choice = choose_preset(dofs, gdim, expected_solves, available_memory_B(comm))
    if comm.rank == 0:
        level = logging.DEBUG if (name, choice.preset) in _REPORTED else logging.INFO
        LOGGER.log(level, "%s solver: auto preset chose %s: %s", name, choice.preset, choice.reason)
        _REPORTED.add((name, choice.preset))
    return choice
