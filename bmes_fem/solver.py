"""Linear solves with PETSc option presets given as data; an unconverged solve raises SolverError.

Presets (options set under the problem's options prefix, user overrides on top):

- ``direct``: MUMPS LU.
- ``iterative``: conjugate gradients with smoothed-aggregation AMG (GAMG); for elasticity the six
  rigid-body modes are attached as near-nullspace (there is no hypre in this PETSc build).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from dolfinx import fem, la
from dolfinx.fem.petsc import LinearProblem
from petsc4py import PETSc

from bmes_fem.errors import SolverError

PRESETS: dict[str, dict[str, str | int | float]] = {
    "direct": {
        "ksp_type": "preonly",
        "pc_type": "lu",
        "pc_factor_mat_solver_type": "mumps",
    },
    "iterative": {
        "ksp_type": "cg",
        "ksp_norm_type": "preconditioned",
        "ksp_rtol": 1.0e-12,
        "ksp_atol": 0.0,
        "ksp_max_it": 1000,
        "pc_type": "gamg",
        "pc_gamg_coarse_eq_limit": 1000,
        "mg_levels_ksp_type": "chebyshev",
        "mg_levels_pc_type": "jacobi",
    },
}


@dataclass(frozen=True)
class SolveStats:
    """What a solve cost: unknowns, Krylov iterations, final residual norm, wall time [s]."""

    name: str
    dofs: int
    iterations: int
    residual_norm: float
    wall_time_s: float


def rigid_body_modes(space: fem.FunctionSpace) -> PETSc.NullSpace:
    """The six rigid-body modes (3 translations, 3 rotations about the centroid) of a 3D vector space."""
    index_map, block_size = space.dofmap.index_map, space.dofmap.index_map_bs
    modes = [la.vector(index_map, bs=block_size, dtype=PETSc.ScalarType) for _ in range(6)]
    arrays = [mode.array for mode in modes]
    dofs = [space.sub(i).dofmap.list.ravel() for i in range(3)]
    x = space.tabulate_dof_coordinates()[space.dofmap.list.ravel()]
    x = x - x.mean(axis=0)
    for i in range(3):
        arrays[i][dofs[i]] = 1.0
    arrays[3][dofs[0]], arrays[3][dofs[1]] = -x[:, 1], x[:, 0]
    arrays[4][dofs[0]], arrays[4][dofs[2]] = x[:, 2], -x[:, 0]
    arrays[5][dofs[2]], arrays[5][dofs[1]] = x[:, 1], -x[:, 2]
    la.orthonormalize(modes)
    owned = index_map.size_local * block_size
    vectors = [PETSc.Vec().createWithArray(a[:owned], bsize=block_size, comm=space.mesh.comm) for a in arrays]
    return PETSc.NullSpace().create(vectors=vectors)


def solve_linear(
    a: fem.Form,
    rhs: fem.Form,
    *,
    name: str,
    preset: str,
    bcs: Sequence[fem.DirichletBC] = (),
    overrides: Mapping[str, object] | None = None,
    near_nullspace: PETSc.NullSpace | None = None,
) -> tuple[fem.Function, SolveStats]:
    """Assemble and solve a(u, v) = rhs(v); raise SolverError naming the preset if KSP diverged."""
    if preset not in PRESETS:
        raise SolverError(f"solver.preset = '{preset}' is not known; expected one of {sorted(PRESETS)}")
    options = {**PRESETS[preset], **(overrides or {})}
    start = time.perf_counter()
    problem = LinearProblem(a, rhs, bcs=list(bcs), petsc_options_prefix=f"bmes_{name}_", petsc_options=options)
    if near_nullspace is not None:
        problem.A.setNearNullSpace(near_nullspace)
    solution = problem.solve()
    ksp = problem.solver
    reason = ksp.getConvergedReason()
    iterations, residual = ksp.getIterationNumber(), ksp.getResidualNorm()
    if reason <= 0 or not np.all(np.isfinite(solution.x.array)):
        raise SolverError(
            f"{name} solve with solver.preset '{preset}' did not converge: reason {reason}, "
            f"{iterations} iterations, residual norm {residual:.3e} (options: {options})"
        )
    space = solution.function_space
    dofs = space.dofmap.index_map.size_global * space.dofmap.index_map_bs
    return solution, SolveStats(name, dofs, iterations, float(residual), time.perf_counter() - start)
