"""Linear solves: one-field steady solves (:func:`solve_linear`), a one-field system solved again after its
coefficients change in place (:class:`LinearSystem`, the states of a disease course) and a 2x2 block system
solved many times with the same operator (:class:`BlockSolver`, the Biot time step).

Presets (``direct``, ``iterative``, ``auto``) are PETSc options as data (:mod:`bmes_fem.solve.presets`),
set under the prefix ``bmes_<name>_`` with the user's ``solver.petsc_options`` on top; ``auto`` picks
one of the other two by estimated memory and time (:mod:`bmes_fem.solve.auto`). A failed solve raises
SolverError: a failed factorisation as a singular operator, a non-finite residual or solution as such,
an unconverged iteration naming the preset, the KSP reason, the iterations, the residual and the options.
The solve that failed adds where (bmes_fem.solve.failure).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from bmes_fem.errors import SolverError
from bmes_fem.solve.auto import PresetChoice, resolve_preset
from bmes_fem.solve.convergence import FieldwiseConvergence
from bmes_fem.solve.multigrid import LinearLevel, is_elasticity_space, needs_linear_level, release_galerkin_products
from bmes_fem.solve.nullspace import rigid_body_modes
from bmes_fem.solve.presets import DIRECT, PRESET_NAMES, block_iterative, options_set, single_field_iterative

__all__ = ["BlockSolver", "LinearSystem", "SolveStats", "rigid_body_modes", "solve_linear"]

#: LinearSystem: a solve that took more than this many times the iterations of the first solve after the
#: preconditioner was built rebuilds it for the next solve (the operator has drifted from it)
STALE_PRECONDITIONER_ITERATIONS = 2.0

NEST_KIND = [["baij", "aij"], ["aij", "aij"]]  # displacement block with block size gdim: faster products
REASONS = {getattr(PETSc.KSP.ConvergedReason, key): key for key in dir(PETSc.KSP.ConvergedReason) if key.isupper()}
PC_FAILURES = {getattr(PETSc.PC.FailedReason, key): key for key in dir(PETSc.PC.FailedReason) if key.isupper()}
#: factorisation failures that mean a singular operator: a zero pivot, or another MUMPS error (FACTOR_OTHER)
SINGULAR = {PETSc.PC.FailedReason.FACTOR_STRUCT_ZEROPIVOT, PETSc.PC.FailedReason.FACTOR_NUMERIC_ZEROPIVOT, PETSc.PC.FailedReason.FACTOR_OTHER}


@dataclass(frozen=True)
class SolveStats:
    """What a solve cost: unknowns, Krylov iterations, true residual norm ||b - A x||, wall time [s].

    ``preset`` is the preset used ("direct" or "iterative", also when ``auto`` chose it) and ``preset_reason``
    why (the estimate of ``auto``, or "set by solver.preset");
    ``field_residuals`` (block systems, iterative) are ||r_f|| / ref_f per field (u, p), see
    :mod:`bmes_fem.solve.convergence`.
    """

    name: str
    dofs: int
    iterations: int
    residual_norm: float
    wall_time_s: float
    preset: str = ""
    field_residuals: tuple[float, ...] = ()
    preset_reason: str = ""


def _test_space(form: ufl.Form) -> fem.FunctionSpace:
    """The (Python) space of the test function of a UFL form."""
    return next(argument for argument in form.arguments() if argument.number() == 0).ufl_function_space()


def _dofs(spaces: Sequence[fem.FunctionSpace]) -> int:
    return sum(V.dofmap.index_map.size_global * V.dofmap.index_map_bs for V in spaces)


def _check_preset(preset: str) -> None:
    if preset not in PRESET_NAMES:
        raise SolverError(f"solver.preset = '{preset}' is not known; expected one of {list(PRESET_NAMES)}")


def _check_converged(
    ksp: PETSc.KSP, name: str, preset: str, options: Mapping[str, object], field_residuals: Sequence[float] = ()
) -> None:
    """SolverError unless ``ksp`` converged: a failed preconditioner (a singular operator when a factorisation of
    finite entries failed), a non-finite residual, or an unconverged iteration with its residuals and options."""
    reason = ksp.getConvergedReason()
    if reason > 0:
        return
    solve = f"{name} solve with solver.preset '{preset}'"
    if reason == PETSc.KSP.ConvergedReason.DIVERGED_PCSETUP_FAILED:
        failed = ksp.getPC().getFailedReason()
        if failed in SINGULAR:
            if not _finite_operator(ksp):
                raise SolverError(f"{solve} failed: the operator has non-finite entries (NaN or Inf)")
            raise SolverError(f"{solve} failed: singular operator ({PC_FAILURES[failed]}): check that rigid motion is constrained")
        if failed == PETSc.PC.FailedReason.FACTOR_OUTMEMORY:  # MUMPS: also the delayed pivots of a singular operator in parallel
            raise SolverError(
                f"{solve} failed: the factorisation ran out of memory (FACTOR_OUTMEMORY): a singular operator (check that rigid "
                f"motion is constrained) or a problem too large for the direct preset (try solver.preset: iterative)"
            )
        raise SolverError(f"{solve} failed: the preconditioner failed ({PC_FAILURES.get(failed, failed)})")
    if reason == PETSc.KSP.ConvergedReason.DIVERGED_NANORINF:
        raise SolverError(f"{solve} failed: the residual is not finite (NaN or Inf) after {ksp.getIterationNumber()} iterations")
    fields = f"; per-field relative residuals {', '.join(f'{r:.2e}' for r in field_residuals)}" if field_residuals else ""
    raise SolverError(
        f"{solve} did not converge: reason {reason}, {ksp.getIterationNumber()} "
        f"iterations, residual norm {ksp.getResidualNorm():.3e} ({REASONS.get(reason, 'unknown')}{fields}; options: {dict(options)})"
    )


def _finite_operator(ksp: PETSc.KSP) -> bool:
    """The (monolithic) operator of ``ksp`` has only finite entries (collective; a nest counts as finite)."""
    operator = ksp.getOperators()[0]
    return operator.getType() == PETSc.Mat.Type.NEST or bool(np.isfinite(operator.norm(PETSc.NormType.FROBENIUS)))


def _check_finite(functions: Sequence[fem.Function], name: str, preset: str) -> None:
    """SolverError on every rank if a solution has a non-finite value on any rank (collective)."""
    local = all(np.all(np.isfinite(function.x.array)) for function in functions)
    if not functions[0].function_space.mesh.comm.allreduce(local, op=MPI.LAND):
        raise SolverError(f"{name} solve with solver.preset '{preset}' returned non-finite values (NaN or Inf)")


def _local_vectors(vector: PETSc.Vec) -> list[PETSc.Vec]:
    return vector.getNestSubVecs() if vector.getType() == PETSc.Vec.Type.NEST else [vector]


def _zero(vector: PETSc.Vec) -> None:
    for block in _local_vectors(vector):
        with block.localForm() as local:
            local.set(0.0)


def _accumulate_ghosts(vector: PETSc.Vec) -> None:
    for block in _local_vectors(vector):
        block.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)


def _dirichlet_values_vanish(bcs: Sequence[fem.DirichletBC], comm) -> bool:
    """Every Dirichlet value is zero on every rank: the lifting -A g vanishes and need not be assembled
    (a Function-valued g counts as non-zero if any of its entries is)."""
    local = True
    for bc in bcs:
        g = bc.g
        values = g.x.array if hasattr(g, "x") else getattr(g, "value", g)  # a (C++) Function, Constant or array
        local = local and not np.any(np.asarray(values) != 0.0)
    return bool(comm.allreduce(local, op=MPI.LAND))


def _create_ksp(operator: PETSc.Mat, prefix: str) -> PETSc.KSP:
    ksp = PETSc.KSP().create(operator.comm)
    ksp.setOperators(operator, operator)
    ksp.setOptionsPrefix(prefix)
    return ksp


def solve_linear(
    a: ufl.Form,
    rhs: ufl.Form,
    *,
    name: str,
    preset: str,
    bcs: Sequence[fem.DirichletBC] = (),
    overrides: Mapping[str, object] | None = None,
    near_nullspace: PETSc.NullSpace | None = None,
) -> tuple[fem.Function, SolveStats]:
    """Assemble and solve a(u, v) = rhs(v) once.

    ``iterative``: CG with a p-multigrid (degree > 1) or GAMG (degree 1) V-cycle; a vector space with one
    component per dimension is stored as BAIJ and gets the rigid-body modes (built here) as near-nullspace
    of its GAMG level. ``near_nullspace``, if given, is attached to the operator instead (used when the
    options put GAMG on it). A right-hand side that vanishes (loads and Dirichlet values all zero) gives
    u = 0 at once: no operator is assembled and no preconditioner built (0 iterations).
    """
    _check_preset(preset)
    start = time.perf_counter()
    a_form, rhs_form = fem.form(a), fem.form(rhs)
    space = _test_space(a)
    comm = space.mesh.comm
    dofs = _dofs([space])
    choice = resolve_preset(preset, name=name, dofs=dofs, gdim=space.mesh.geometry.dim, expected_solves=1, comm=comm)
    iterative, elasticity = choice.preset == "iterative", is_elasticity_space(space)
    multigrid = iterative and needs_linear_level(space)
    options = {**(single_field_iterative(multigrid) if iterative else DIRECT), **(overrides or {})}
    b = fem_petsc.assemble_vector(rhs_form)
    lifted = not _dirichlet_values_vanish(bcs, comm)
    if lifted:
        fem_petsc.apply_lifting(b, [a_form], bcs=[list(bcs)])
    _accumulate_ghosts(b)
    fem_petsc.set_bc(b, list(bcs))
    solution = fem.Function(space)
    if b.norm(PETSc.NormType.NORM_INFINITY) == 0.0:  # e.g. an unloaded initial state: u = 0 exactly
        b.destroy()
        return solution, SolveStats(name, dofs, 0, 0.0, time.perf_counter() - start, choice.preset, preset_reason=choice.reason)
    A = fem_petsc.assemble_matrix(a_form, bcs=list(bcs), diag=0.0 if lifted else 1.0, kind="baij" if iterative and elasticity else None)
    A.assemble()
    if lifted:  # rows d u_i = d g_i, weighed like the others (LinearSystem)
        fem_petsc.set_bc(b, list(bcs), alpha=_scale_constrained_rows(A, bcs))
    if near_nullspace is not None or (iterative and elasticity and not multigrid):
        A.setNearNullSpace(near_nullspace if near_nullspace is not None else rigid_body_modes(space))
    x = A.createVecRight()
    ksp = _create_ksp(A, f"bmes_{name}_")
    linear_level = LinearLevel(a, bcs) if multigrid else None
    with options_set(ksp.getOptionsPrefix(), options):
        ksp.setFromOptions()
        if linear_level is not None:
            linear_level.attach(ksp.getPC())
        ksp.setUp()
        ksp.setUpOnBlocks()
        release_galerkin_products(ksp.getPC())
        ksp.solve(b, x)
    _check_converged(ksp, name, choice.preset, options)
    solution.x.array[: x.getLocalSize()] = x.array_r
    solution.x.scatter_forward()
    _check_finite([solution], name, choice.preset)
    stats = SolveStats(
        name, dofs, ksp.getIterationNumber(), _residual_norm(A, x, b), time.perf_counter() - start, choice.preset, preset_reason=choice.reason
    )
    for obj in (ksp, A, b, x):
        obj.destroy()
    if linear_level is not None:
        linear_level.destroy()
    return solution, stats


class LinearSystem:
    """a(u, v) = rhs(v) on one space, solved again after coefficients of the forms changed in place (collective).

    What :func:`solve_linear` does once, kept across solves: the forms are compiled once, the matrix is
    reassembled into the same storage, and each solve starts from the previous solution. ``iterative``: the
    preconditioner (p-multigrid or GAMG hierarchy) built at the first solve is reused while the operator changes
    (a weekly course state moves the lesion's coefficients; CG then still converges to the same tolerance, on the
    true residual, with a few more iterations); it is rebuilt at the next solve after :meth:`set_bcs` changed the
    constraints, after a solve took more than STALE_PRECONDITIONER_ITERATIONS times the iterations of the first
    solve on a fresh one, or when :meth:`rebuild_preconditioner` is called; a solve that fails on a reused one
    (e.g. DIVERGED_INDEFINITE_PC: the Chebyshev smoother's eigenvalue bounds are the old operator's) is repeated
    once on a fresh one. ``direct``: LU factors are computed for
    every new operator (they are the solver, not a preconditioner). The solution is `solution`, updated in place.

    A constrained row is d u_i = d g_i with d the mean diagonal of the other rows (`diagonal`), not 1:
    the pressure rows carry (L + G_v) x volume ~ 1e-16 1/(Pa s) m^3, so a unit row with g_i in Pa would make
    ||b|| the constrained values alone, and the relative stopping test would pass before the balance is solved.
    """

    def __init__(
        self, a: ufl.Form, rhs: ufl.Form, *, name: str, preset: str, bcs: Sequence[fem.DirichletBC] = (),
        overrides: Mapping[str, object] | None = None,
    ) -> None:  # fmt: skip
        _check_preset(preset)
        self.name, self.bcs = name, list(bcs)
        self._ufl_a = a
        self.a, self.rhs = fem.form(a), fem.form(rhs)
        space = _test_space(a)
        self.dofs = _dofs([space])
        choice = resolve_preset(preset, name=name, dofs=self.dofs, gdim=space.mesh.geometry.dim, expected_solves=1, comm=space.mesh.comm)
        self.preset, self.preset_reason = choice.preset, choice.reason
        self.iterative, elasticity = choice.preset == "iterative", is_elasticity_space(space)
        self.multigrid = self.iterative and needs_linear_level(space)
        self.options = {**(single_field_iterative(self.multigrid) if self.iterative else DIRECT), **(overrides or {})}
        self._kind = "baij" if self.iterative and elasticity else None
        self._near_nullspace = rigid_body_modes(space) if self.iterative and elasticity and not self.multigrid else None
        self.A = self._assemble_operator()
        self.b, self.x = fem_petsc.create_vector(space), self.A.createVecRight()
        self.solution = fem.Function(space)
        self.ksp: PETSc.KSP | None = None
        self._preconditioned: PETSc.Mat | None = None
        self._linear_level: LinearLevel | None = None
        self._fresh_iterations: int | None = None  # iterations of the first solve on the current preconditioner

    def set_bcs(self, bcs: Sequence[fem.DirichletBC]) -> None:
        """New Dirichlet conditions (e.g. a drained tunnel): the operator's constrained rows change."""
        if list(bcs) != self.bcs:
            self.bcs = list(bcs)
            self.rebuild_preconditioner()

    def rebuild_preconditioner(self) -> None:
        """Build the preconditioner anew at the next solve."""
        self._destroy_ksp()

    def _assemble_operator(self) -> PETSc.Mat:
        """A new matrix of a(u, v) with the current coefficients, constrained rows scaled (`diagonal`)."""
        A = fem_petsc.assemble_matrix(self.a, bcs=self.bcs, diag=0.0, kind=self._kind)
        A.assemble()
        self.diagonal = _scale_constrained_rows(A, self.bcs)
        if self._near_nullspace is not None:
            A.setNearNullSpace(self._near_nullspace)
        return A

    def _reassemble(self) -> None:
        """The operator with the current coefficients, in a new matrix: PETSc keeps the inverted diagonal blocks that
        SOR smooths with across a reassembly in place (MatAssemblyEnd returns early when the nonzero pattern is
        unchanged), so an SOR smoother rebuilt on it would use the first operator's blocks (a drilled course state:
        182 CG iterations instead of 30), and a duplicate of a BAIJ matrix has no SOR. A reused preconditioner keeps
        the operator it was built from."""
        fresh = self._assemble_operator()
        if self.A is not self._preconditioned:
            self.A.destroy()
        self.A = fresh
        if self.ksp is not None:  # direct: new LU factors; iterative: the preconditioner of its own operator, reused
            self.ksp.setOperators(self.A, self._preconditioned if self.iterative else self.A)

    def _build_ksp(self) -> None:
        self._release_preconditioned()
        self._preconditioned = self.A  # the operator the preconditioner is built from
        self.ksp = _create_ksp(self.A, f"bmes_{self.name}_")
        self._linear_level = LinearLevel(self._ufl_a, self.bcs) if self.multigrid else None
        with options_set(self.ksp.getOptionsPrefix(), self.options):
            self.ksp.setFromOptions()
            if self._linear_level is not None:
                self._linear_level.attach(self.ksp.getPC())
            self.ksp.setUp()
            self.ksp.setUpOnBlocks()
        release_galerkin_products(self.ksp.getPC())
        self.ksp.getPC().setReusePreconditioner(self.iterative)
        self.ksp.setInitialGuessNonzero(self.iterative)
        self._fresh_iterations = None

    def solve(self, operator_changed: bool = True) -> tuple[fem.Function, SolveStats]:
        """Reassemble the right-hand side and, if ``operator_changed`` (the coefficients of a(u, v) may have), the
        operator with the current coefficients, and solve from the current `solution` (class docstring)."""
        start = time.perf_counter()
        if operator_changed:
            self._reassemble()
        _zero(self.b)
        fem_petsc.assemble_vector(self.b, self.rhs)
        if not _dirichlet_values_vanish(self.bcs, self.solution.function_space.mesh.comm):
            fem_petsc.apply_lifting(self.b, [self.a], bcs=[self.bcs])
        _accumulate_ghosts(self.b)
        fem_petsc.set_bc(self.b, self.bcs, alpha=self.diagonal)
        if self.ksp is None:
            self._build_ksp()
        self.x.array[:] = self.solution.x.array[: self.x.getLocalSize()]
        self.ksp.solve(self.b, self.x)
        if self.ksp.getConvergedReason() <= 0 and self._fresh_iterations is not None:  # reused, stale: once more on a fresh one
            self._destroy_ksp()
            self._build_ksp()
            self.x.array[:] = self.solution.x.array[: self.x.getLocalSize()]
            self.ksp.solve(self.b, self.x)
        _check_converged(self.ksp, self.name, self.preset, self.options)
        self.solution.x.array[: self.x.getLocalSize()] = self.x.array_r
        self.solution.x.scatter_forward()
        _check_finite([self.solution], self.name, self.preset)
        iterations = self.ksp.getIterationNumber()
        if self.iterative:
            if self._fresh_iterations is None:
                self._fresh_iterations = max(iterations, 1)
            elif iterations > STALE_PRECONDITIONER_ITERATIONS * self._fresh_iterations:
                self.rebuild_preconditioner()
        stats = SolveStats(
            self.name, self.dofs, iterations, _residual_norm(self.A, self.x, self.b), time.perf_counter() - start, self.preset,
            preset_reason=self.preset_reason,
        )  # fmt: skip
        return self.solution, stats

    def _release_preconditioned(self) -> None:
        """Free the operator of the last preconditioner unless it is the current one."""
        if self._preconditioned is not None and self._preconditioned is not self.A:
            self._preconditioned.destroy()
        self._preconditioned = None

    def _destroy_ksp(self) -> None:
        if self.ksp is not None:
            self.ksp.destroy()
            self.ksp = None
        if self._linear_level is not None:
            self._linear_level.destroy()
            self._linear_level = None
        self._release_preconditioned()

    def destroy(self) -> None:
        """Free the PETSc objects now (otherwise at garbage collection)."""
        self._destroy_ksp()
        for obj in (self.A, self.b, self.x):
            obj.destroy()


def _scale_constrained_rows(A: PETSc.Mat, bcs: Sequence[fem.DirichletBC]) -> float:
    """Set the diagonal of the constrained rows (assembled with 0 there) to d, the mean |A_ii| of the other rows, and
    return d (collective): the rows d u_i = d g_i then weigh like the balance's own rows in a relative stopping test."""
    diagonal = A.getDiagonal()
    values = diagonal.array
    comm = A.comm.tompi4py()
    magnitudes = np.abs(values)
    count = comm.allreduce(int(np.count_nonzero(magnitudes)), op=MPI.SUM)
    scale = comm.allreduce(float(magnitudes.sum()), op=MPI.SUM) / count if count else 1.0
    for bc in bcs:
        dofs, owned = bc.dof_indices()  # unrolled local dofs, the owned first
        values[dofs[:owned]] = scale
    A.setDiagonal(diagonal)
    A.assemble()
    diagonal.destroy()
    return scale


def _residual_norm(A: PETSc.Mat, x: PETSc.Vec, b: PETSc.Vec) -> float:
    """||b - A x|| (one operator application)."""
    residual = A.createVecLeft()
    A.mult(x, residual)
    residual.aypx(-1.0, b)
    norm = residual.norm()
    residual.destroy()
    return float(norm)


def _with_transposed_coupling(nest: PETSc.Mat, factor: float) -> PETSc.Mat:
    """The 2x2 ``nest`` (block (1, 0) empty) with block (1, 0) the view ``factor`` A_01^T; ``nest`` is freed."""
    coupling = PETSc.Mat().createTranspose(nest.getNestSubMatrix(0, 1))
    coupling.scale(factor)
    blocks = [[nest.getNestSubMatrix(0, 0), nest.getNestSubMatrix(0, 1)], [coupling, nest.getNestSubMatrix(1, 1)]]
    operator = PETSc.Mat().createNest(blocks, comm=nest.getComm())
    nest.destroy()
    coupling.destroy()  # the new nest holds its reference
    return operator


class BlockSolver:
    """Solve [[a_uu, a_up], [a_pu, a_pp]] (u, p) = (l_u, l_p) many times with the same operator.

    Set up once: the operator (``direct``: one AIJ matrix, MUMPS factors; ``iterative``: a nest with a
    BAIJ displacement block, the fixed-stress Schur preconditioner matrix, the p-multigrid's linear level
    and all hierarchies) and the Dirichlet lifting -A g. Each :meth:`solve` assembles only the right-hand
    side: b = l + (-A g), b = g on constrained rows. Call :meth:`dirichlet_changed` after changing the
    values of the Dirichlet functions and :meth:`reassemble` after changing a coefficient of the operator
    (e.g. the time step Constant).

    ``preset`` "auto" picks by size, ``expected_solves`` (default 1) and free memory; the choice and why
    are in :attr:`preset` and :attr:`preset_reason`. ``near_nullspace`` is deprecated (built internally).

    ``coupling_transpose``: the factor c when a_10(u, q) = c a_01(q, u) (the Biot step: c = -1,
    :data:`bmes_fem.physics.forms.BIOT_COUPLING_TRANSPOSE`). The iterative nest then holds A_10 as the
    view c A_01^T (A_10 x = c A_01^T x) instead of a second copy of the coupling: a_10 is not assembled.
    Dirichlet conditions keep the identity, since a constrained row of A_01 is a constrained column of A_10.
    """

    def __init__(
        self,
        a: Sequence[Sequence[ufl.Form]],
        rhs: Sequence[ufl.Form],
        *,
        name: str,
        preset: str,
        bcs: Sequence[fem.DirichletBC] = (),
        overrides: Mapping[str, object] | None = None,
        pressure_preconditioner: ufl.Form | None = None,
        expected_solves: int | None = None,
        near_nullspace: PETSc.NullSpace | None = None,
        coupling_transpose: float | None = None,
    ) -> None:
        _check_preset(preset)
        if near_nullspace is not None:
            warnings.warn("BlockSolver(near_nullspace=...) is ignored: the rigid-body modes are built internally", DeprecationWarning, stacklevel=2)
        self.name = name
        self.a, self.rhs = fem.form(a), fem.form(rhs)
        self.spaces = [form.function_spaces[0] for form in self.rhs]
        self.dofs = _dofs(self.spaces)
        displacement_space = _test_space(rhs[0])
        comm = displacement_space.mesh.comm
        choice: PresetChoice = resolve_preset(
            preset, name=name, dofs=self.dofs, gdim=displacement_space.mesh.geometry.dim,
            expected_solves=expected_solves or 1, comm=comm,
        )  # fmt: skip
        self.preset, self.preset_reason = choice.preset, choice.reason
        self.iterative = self.preset == "iterative"
        if self.iterative and pressure_preconditioner is None:
            raise SolverError(f"{name}: the iterative preset needs a pressure (fixed-stress) preconditioner form")
        self.bcs = list(bcs)
        self._bcs_by_row = fem.bcs_by_block(self.spaces, self.bcs)
        self._bcs_by_column = fem.bcs_by_block(fem.extract_function_spaces(self.a, 1), self.bcs)
        multigrid = self.iterative and needs_linear_level(displacement_space)
        self.options = {**(block_iterative(multigrid) if self.iterative else DIRECT), **(overrides or {})}
        coupling_view = self.iterative and coupling_transpose is not None
        self._assembled = [list(self.a[0]), [None, self.a[1][1]]] if coupling_view else self.a
        self.A = fem_petsc.assemble_matrix(self._assembled, bcs=self.bcs, kind=NEST_KIND if self.iterative else "mpi")
        self.A.assemble()
        if coupling_view:
            self.A = _with_transposed_coupling(self.A, coupling_transpose)
        self._schur_form = fem.form(pressure_preconditioner) if self.iterative else None
        self.S = fem_petsc.assemble_matrix(self._schur_form, bcs=self._bcs_by_row[1]) if self.iterative else None
        if self.S is not None:
            self.S.assemble()
        self._linear_level = LinearLevel(a[0][0], self._bcs_by_row[0]) if multigrid else None
        if self.iterative and not multigrid and is_elasticity_space(displacement_space):
            self.A.getNestSubMatrix(0, 0).setNearNullSpace(rigid_body_modes(displacement_space))
        vector_kind = "nest" if self.iterative else "mpi"
        self.b = fem_petsc.create_vector(self.spaces, kind=vector_kind)
        self.x = fem_petsc.create_vector(self.spaces, kind=vector_kind)
        self._lifting = fem_petsc.create_vector(self.spaces, kind=vector_kind)
        self._lifting_current, self._lifting_zero = False, False
        self.ksp: PETSc.KSP
        self._convergence: FieldwiseConvergence | None = None
        self._build_ksp()

    def _build_ksp(self) -> None:
        """KSP and preconditioner, set up completely (factors, hierarchies) while the options are set."""
        self.ksp = _create_ksp(self.A, f"bmes_{self.name}_")
        if self.iterative:
            pc = self.ksp.getPC()
            pc.setType("fieldsplit")
            (is_u, is_p), _ = self.A.getNestISs()
            pc.setFieldSplitIS(("u", is_u), ("p", is_p))
        with options_set(self.ksp.getOptionsPrefix(), self.options):
            self.ksp.setFromOptions()
            pc = self.ksp.getPC()
            if self.iterative:  # after the options, which would reset the user matrix
                pc.setFieldSplitSchurPreType(PETSc.PC.FieldSplitSchurPreType.USER, self.S)
            pc.setUp()  # not KSPSetUp: its work vectors would be monolithic; the first solve makes nest ones
            if self._linear_level is not None:
                self._linear_level.attach(pc.getFieldSplitSubKSP()[0].getPC())
            pc.setUpOnBlocks()
        release_galerkin_products(pc)
        if self.iterative:
            self._convergence = FieldwiseConvergence(self.ksp, self.b)

    def dirichlet_changed(self) -> None:
        """The values of the Dirichlet functions changed: recompute the lifting at the next solve."""
        self._lifting_current = False

    def reassemble(self) -> None:
        """A coefficient of the operator changed: reassemble the matrices, rebuild the preconditioner."""
        for matrix, form in self._assembled_blocks():
            matrix.zeroEntries()
            fem_petsc.assemble_matrix(matrix, form, bcs=self.bcs)
            matrix.assemble()
        if self.S is not None:
            self.S.zeroEntries()
            fem_petsc.assemble_matrix(self.S, self._schur_form, bcs=self._bcs_by_row[1])
            self.S.assemble()
        if self._linear_level is not None:
            self._linear_level.reassemble()
        self._destroy_ksp()
        self._build_ksp()
        self._lifting_current = False

    def _assembled_blocks(self) -> list[tuple[PETSc.Mat, fem.Form]]:
        """(matrix, form) of what assembly fills: the AIJ operator, or each nest block but the transpose view
        (assembled one by one: assembling the nest would assemble the view, which resets its factor)."""
        if not self.iterative:
            return [(self.A, self.a)]
        return [
            (self.A.getNestSubMatrix(i, j), form) for i, row in enumerate(self._assembled) for j, form in enumerate(row) if form is not None
        ]

    def _update_lifting(self) -> None:
        """-A g on every row (g: Dirichlet values, zero elsewhere), owned entries accumulated; not assembled
        (and not added to the right-hand side) while every Dirichlet value is zero."""
        _zero(self._lifting)
        self._lifting_zero = _dirichlet_values_vanish(self.bcs, self.spaces[0].mesh.comm)
        if not self._lifting_zero:
            fem_petsc.apply_lifting(self._lifting, self.a, bcs=self._bcs_by_column)
            _accumulate_ghosts(self._lifting)
        self._lifting_current = True

    def solve(self, solution: Sequence[fem.Function], rhs: Sequence[fem.Form] | None = None) -> SolveStats:
        """Assemble the right-hand side (``rhs``: another compiled one on the same spaces), solve from
        ``solution`` as initial guess (iterative), write the result back."""
        start = time.perf_counter()
        if not self._lifting_current:
            self._update_lifting()
        _zero(self.b)
        fem_petsc.assemble_vector(self.b, self.rhs if rhs is None else rhs)
        _accumulate_ghosts(self.b)
        if not self._lifting_zero:
            self.b.axpy(1.0, self._lifting)
        fem_petsc.set_bc(self.b, self._bcs_by_row)
        fem_petsc.assign(solution, self.x)
        self.ksp.setInitialGuessNonzero(self.iterative)
        if self._convergence is not None:
            self._convergence.prepare(self.b, self.x)
        self.ksp.solve(self.b, self.x)
        if self._convergence is not None:
            norms = self._convergence.final_norms(self.b, self.x)
            field_residuals, residual = tuple(norms / self._convergence.references), float(np.linalg.norm(norms))
        else:
            field_residuals, residual = (), _residual_norm(self.A, self.x, self.b)
        _check_converged(self.ksp, self.name, self.preset, self.options, field_residuals)
        fem_petsc.assign(self.x, solution)
        for function in solution:
            function.x.scatter_forward()
        _check_finite(solution, self.name, self.preset)  # a direct solve of non-finite data "converges"
        iterations = self.ksp.getIterationNumber()
        return SolveStats(
            self.name, self.dofs, iterations, residual, time.perf_counter() - start, self.preset, field_residuals, self.preset_reason
        )

    def _destroy_ksp(self) -> None:
        if self._convergence is not None:
            self._convergence.destroy()
        self.ksp.destroy()

    def destroy(self) -> None:
        """Free the PETSc objects now (otherwise at garbage collection)."""
        self._destroy_ksp()
        for obj in (self.A, self.S, self.b, self.x, self._lifting):
            if obj is not None:
                obj.destroy()
        if self._linear_level is not None:
            self._linear_level.destroy()
