"""The linear level of a two-level p-multigrid for a block a(u, v) on a Lagrange-family space of degree > 1.

V-cycle on A u = r (fine space V, degree k > 1; coarse space V_1, linear Lagrange, same shape):
smooth on V (Chebyshev with Jacobi or SSOR), restrict the residual with Pi^T, one GAMG V-cycle on the
rediscretised linear operator A_1 = a(u_1, v_1), prolong the correction with Pi, smooth again.
Pi: V_1 -> V interpolates; its rows of Dirichlet-constrained fine dofs and its columns of constrained
linear dofs are zeroed, so corrections never touch constrained values (without this CG diverges on the
femoral head). A_1 carries the same (homogeneous) constraints and, for a vector space, the rigid-body
modes as GAMG near-nullspace; it is integrated with a low-order rule (degree <= 2) whatever the
coefficients, since it only preconditions. After set-up, :func:`release_galerkin_products` frees GAMG's reuse data.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem
from dolfinx.fem import petsc as fem_petsc
from petsc4py import PETSc
from ufl.algorithms import estimate_total_polynomial_degree, expand_derivatives

from bmes_fem.solve.nullspace import rigid_body_modes

COARSE_QUADRATURE_DEGREE = 2  # of the linear level's operator (exact for P1 with piecewise-linear coefficients)


def needs_linear_level(space: fem.FunctionSpace) -> bool:
    """A p-multigrid pays off above degree 1; on linear elements GAMG works on the operator itself."""
    return space.ufl_element().embedded_superdegree > 1


def is_elasticity_space(space: fem.FunctionSpace) -> bool:
    """One component per space dimension: rigid-body modes are the near-nullspace."""
    return space.dofmap.index_map_bs == space.mesh.geometry.dim > 1


def _constrained(space: fem.FunctionSpace, bcs: Sequence[fem.DirichletBC]) -> fem.Function:
    """1 at every (unrolled) dof of ``space`` that a Dirichlet condition fixes, 0 elsewhere (ghosts included)."""
    indicator = fem.Function(space)
    for bc in bcs:
        indicator.x.array[bc.dof_indices()[0]] = 1.0
    return indicator


def _with_coarse_quadrature(form: ufl.Form) -> ufl.Form:
    """``form`` integrated with at most COARSE_QUADRATURE_DEGREE: the linear level only preconditions, and
    coefficients that are expressions of P1 fields (the femoral head's E(chi), nu(chi)) would otherwise
    raise the estimated degree to 6 or more, tens of points per cell for a level that needs a few."""
    integrals = []
    for integral in form.integrals():
        degree = integral.metadata().get("quadrature_degree")
        if degree is None:
            degree = estimate_total_polynomial_degree(expand_derivatives(integral.integrand()))
        integrals.append(integral.reconstruct(metadata={**integral.metadata(), "quadrature_degree": min(degree, COARSE_QUADRATURE_DEGREE)}))
    return ufl.Form(integrals)


class LinearLevel:
    """Coarse (linear) level: the interpolation Pi: V_1 -> V and the operator A_1, both assembled once."""

    def __init__(self, form: ufl.Form, bcs: Sequence[fem.DirichletBC]) -> None:
        test, trial = sorted(form.arguments(), key=lambda argument: argument.number())
        space = trial.ufl_function_space()
        self.space = fem.functionspace(space.mesh, ("Lagrange", 1, space.value_shape))
        linear = ufl.replace(form, {test: ufl.TestFunction(self.space), trial: ufl.TrialFunction(self.space)})
        self._form = fem.form(_with_coarse_quadrature(linear))
        fine = _constrained(space, bcs)
        coarse = fem.Function(self.space)
        coarse.interpolate(fine)
        self.bcs = self._coarse_bcs(coarse.x.array > 0.5)
        self.A = fem_petsc.assemble_matrix(self._form, bcs=self.bcs)
        self.A.assemble()
        if is_elasticity_space(self.space):
            self.A.setNearNullSpace(rigid_body_modes(self.space))
        preallocated = fem_petsc.interpolation_matrix(self.space, space)
        preallocated.assemble()
        self.interpolation = preallocated.duplicate(copy=True)  # keeps only the ~1/12 of the preallocation used
        preallocated.destroy()
        coarse_mask, fine_mask = self.interpolation.createVecs()
        fine_mask.array[:] = 1.0 - fine.x.array[: fine_mask.getLocalSize()]
        coarse_mask.array[:] = 1.0 - coarse.x.array[: coarse_mask.getLocalSize()]
        self.interpolation.diagonalScale(fine_mask, coarse_mask)

    def _coarse_bcs(self, constrained: np.ndarray) -> list[fem.DirichletBC]:
        """Homogeneous conditions on the linear dofs at constrained fine dofs, component by component."""
        bs = self.space.dofmap.index_map_bs
        if bs == 1:
            return [fem.dirichletbc(default_scalar_type(0.0), np.flatnonzero(constrained).astype(np.int32), self.space)]
        blocks = constrained.reshape(-1, bs)
        return [
            fem.dirichletbc(default_scalar_type(0.0), (np.flatnonzero(blocks[:, i]) * bs + i).astype(np.int32), self.space.sub(i))
            for i in range(bs)
        ]

    def reassemble(self) -> None:
        """A coefficient of a(u, v) changed: reassemble A_1 in place."""
        self.A.zeroEntries()
        fem_petsc.assemble_matrix(self.A, self._form, bcs=self.bcs)
        self.A.assemble()

    def attach(self, pc: PETSc.PC) -> None:
        """Give a two-level PCMG its interpolation and its coarse operator (before the PC is set up);
        a PC of another type (a user override) is left alone."""
        if pc.getType() != PETSc.PC.Type.MG:
            return
        pc.setMGInterpolation(1, self.interpolation)
        pc.getMGCoarseSolve().setOperators(self.A, self.A)

    def destroy(self) -> None:
        self.A.destroy()
        self.interpolation.destroy()


@functools.cache
def _petsc_library() -> ctypes.CDLL:
    return ctypes.CDLL(str(fem_petsc.get_petsc_lib()))


def release_galerkin_products(pc: PETSc.PC) -> None:
    """Free what multigrid hierarchies under ``pc`` keep to redo their Galerkin products in place.

    GAMG builds its coarse operators P^T A P and smoothed prolongators with PETSc matrix products, which
    keep their intermediate data for a later recomputation: on 2 ranks ~150 MB of the ~165 MB a GAMG on an
    89k-unknown P1 elasticity matrix holds. Walks field splits and the levels (and coarse solves) of
    PCMG / PCGAMG; afterwards those PCs must not be set up again in place (build a new KSP instead).
    petsc4py has no Mat.productClear, so MatProductClear is called through ctypes.
    """
    pc_type = pc.getType()
    if pc_type == PETSc.PC.Type.FIELDSPLIT:
        for ksp in pc.getFieldSplitSubKSP():
            release_galerkin_products(ksp.getPC())
    elif pc_type in (PETSc.PC.Type.MG, PETSc.PC.Type.GAMG):
        coarse = pc.getMGCoarseSolve()
        matrices = [coarse.getOperators()[0]]
        for level in range(1, pc.getMGLevels()):
            matrices += [pc.getMGSmoother(level).getOperators()[0], pc.getMGInterpolation(level)]
        for matrix in matrices:  # a matrix that is no product has nothing to clear
            if _petsc_library().MatProductClear(ctypes.c_void_p(matrix.handle)) != 0:
                raise RuntimeError(f"MatProductClear failed on a {matrix.getType()} matrix of a {pc_type} preconditioner")
        release_galerkin_products(coarse.getPC())
