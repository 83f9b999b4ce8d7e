"""Linear solves with PETSc option presets given as data; an unconverged solve raises SolverError.

Presets (options set under the problem's options prefix, user overrides on top):

- ``direct``: MUMPS LU (for the coupled (u, p) system: factorised once, reused every time step).
- ``iterative``: for one field, conjugate gradients with smoothed-aggregation AMG (GAMG; for
  elasticity the six rigid-body modes are attached as near-nullspace; there is no hypre in this
  PETSc build). For the coupled (u, p) system, flexible GMRES with a block lower-triangular
  (multiplicative) field split: CG + GAMG to 1e-2 on the displacement block (rigid-body
  near-nullspace; one V-cycle alone needed 228 outer iterations on the coarse head, 17 with the inner
  CG) and one GAMG V-cycle on the fixed-stress pressure matrix
  (S + alpha^2 / K_dr) M + dt (kappa K + (L + G_v) M). The unknowns are scaled (p = P p_hat, mass rows
  times P dt), so the stopping test is on the true (unpreconditioned) residual.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem, la
from dolfinx.fem import petsc as fem_petsc
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


BLOCK_PRESETS: dict[str, dict[str, str | int | float]] = {
    "direct": PRESETS["direct"],
    "iterative": {
        "ksp_type": "fgmres",
        "ksp_gmres_restart": 200,
        "ksp_norm_type": "unpreconditioned",
        "ksp_rtol": 1.0e-12,
        "ksp_atol": 0.0,
        "ksp_max_it": 500,
        "pc_type": "fieldsplit",
        "pc_fieldsplit_type": "multiplicative",
        "fieldsplit_u_ksp_type": "cg",
        "fieldsplit_u_ksp_rtol": 1.0e-2,
        "fieldsplit_u_ksp_max_it": 200,
        "fieldsplit_u_pc_type": "gamg",
        "fieldsplit_u_pc_gamg_coarse_eq_limit": 1000,
        "fieldsplit_u_mg_levels_ksp_type": "chebyshev",
        "fieldsplit_u_mg_levels_pc_type": "jacobi",
        "fieldsplit_p_ksp_type": "preonly",
        "fieldsplit_p_pc_type": "gamg",
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
    _check_converged(ksp, name, preset, options)
    if not np.all(np.isfinite(solution.x.array)):
        raise SolverError(f"{name} solve with solver.preset '{preset}' returned non-finite values")
    iterations, residual = ksp.getIterationNumber(), ksp.getResidualNorm()
    space = solution.function_space
    dofs = space.dofmap.index_map.size_global * space.dofmap.index_map_bs
    return solution, SolveStats(name, dofs, iterations, float(residual), time.perf_counter() - start)


def _check_converged(ksp: PETSc.KSP, name: str, preset: str, options: Mapping[str, object]) -> None:
    if ksp.getConvergedReason() <= 0:
        raise SolverError(
            f"{name} solve with solver.preset '{preset}' did not converge: reason {ksp.getConvergedReason()}, "
            f"{ksp.getIterationNumber()} iterations, residual norm {ksp.getResidualNorm():.3e} (options: {dict(options)})"
        )


class BlockSolver:
    """Solve a fixed 2x2 block system [[a_uu, a_up], [a_pu, a_pp]] (x) = [l_u, l_p] many times.

    The matrix (and, for ``iterative``, the block-diagonal preconditioner [[a_uu, 0], [0, a_pp_fs]]) is
    assembled once; each :meth:`solve` assembles only the right-hand side, so a MUMPS factorisation or
    the AMG hierarchy is reused while the time step and coefficients do not change.
    """

    def __init__(
        self,
        a: list[list[ufl.Form]],
        rhs: list[ufl.Form],
        *,
        name: str,
        preset: str,
        bcs: Sequence[fem.DirichletBC] = (),
        overrides: Mapping[str, object] | None = None,
        pressure_preconditioner: ufl.Form | None = None,
        near_nullspace: PETSc.NullSpace | None = None,
    ) -> None:
        if preset not in BLOCK_PRESETS:
            raise SolverError(f"solver.preset = '{preset}' is not known; expected one of {sorted(BLOCK_PRESETS)}")
        self.name, self.preset, self.bcs = name, preset, list(bcs)
        self.options = {**BLOCK_PRESETS[preset], **(overrides or {})}
        self.a, self.rhs = fem.form(a), fem.form(rhs)
        self.spaces = [form.function_spaces[0] for form in self.rhs]
        self.A = fem_petsc.assemble_matrix(self.a, bcs=self.bcs, kind="mpi")
        self.A.assemble()
        comm = self.A.comm
        preconditioner = None
        if preset == "iterative":
            if pressure_preconditioner is None:
                raise SolverError(f"{name}: the iterative preset needs a pressure preconditioner form")
            self._P_form = fem.form([[a[0][0], None], [None, pressure_preconditioner]])
            preconditioner = fem_petsc.assemble_matrix(self._P_form, bcs=self.bcs, kind="mpi")
            preconditioner.assemble()
        self.P = preconditioner
        self._bcs_by_column = fem.bcs_by_block(fem.extract_function_spaces(self.a, 1), self.bcs)
        self._bcs_by_row = fem.bcs_by_block(self.spaces, self.bcs)
        self.b = fem_petsc.create_vector(self.spaces, kind="mpi")
        self.x = fem_petsc.create_vector(self.spaces, kind="mpi")
        self.ksp = PETSc.KSP().create(comm)
        self.ksp.setOperators(self.A, preconditioner if preconditioner is not None else self.A)
        prefix = f"bmes_{name}_"
        self.ksp.setOptionsPrefix(prefix)
        if self.options.get("pc_type") == "fieldsplit":
            is_u, is_p = self._field_index_sets()
            if near_nullspace is not None:
                is_u.compose("nearnullspace", near_nullspace)
            self.ksp.getPC().setType("fieldsplit")
            self.ksp.getPC().setFieldSplitIS(("u", is_u), ("p", is_p))
        database = PETSc.Options()
        database.prefixPush(prefix)
        for key, value in self.options.items():
            database[key] = value
        database.prefixPop()
        self.ksp.setFromOptions()
        self.ksp.setUp()  # creates the split solvers while their options are still in the database
        for key in self.options:
            database.delValue(f"-{prefix}{key}")
        self.dofs = sum(V.dofmap.index_map.size_global * V.dofmap.index_map_bs for V in self.spaces)

    def _field_index_sets(self) -> tuple[PETSc.IS, PETSc.IS]:
        """Owned rows of u and of p in the monolithic ("mpi" block) numbering."""
        (u_map, u_bs), (p_map, p_bs) = [(V.dofmap.index_map, V.dofmap.index_map_bs) for V in self.spaces]
        offset = u_map.local_range[0] * u_bs + p_map.local_range[0] * p_bs
        u_size, p_size = u_map.size_local * u_bs, p_map.size_local * p_bs
        comm = self.A.comm
        return (
            PETSc.IS().createStride(u_size, offset, 1, comm=comm),
            PETSc.IS().createStride(p_size, offset + u_size, 1, comm=comm),
        )

    def solve(self, solution: Sequence[fem.Function]) -> SolveStats:
        """Assemble the right-hand side, solve from ``solution`` as initial guess, write the result back."""
        start = time.perf_counter()
        with self.b.localForm() as local:
            local.set(0.0)
        fem_petsc.assemble_vector(self.b, self.rhs)
        fem_petsc.apply_lifting(self.b, self.a, bcs=self._bcs_by_column)
        self.b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fem_petsc.set_bc(self.b, self._bcs_by_row)
        fem_petsc.assign(solution, self.x)
        self.ksp.setInitialGuessNonzero(self.preset == "iterative")
        self.ksp.solve(self.b, self.x)
        _check_converged(self.ksp, self.name, self.preset, self.options)
        self.x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        fem_petsc.assign(self.x, solution)
        for function in solution:
            function.x.scatter_forward()
        residual = self.ksp.getResidualNorm()
        return SolveStats(self.name, self.dofs, self.ksp.getIterationNumber(), float(residual), time.perf_counter() - start)
