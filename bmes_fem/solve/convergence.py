"""A Krylov stopping test that holds for every field of a nest system, not only for the whole vector.

Converged when, for each field f (momentum u, mass p),  ||r_f|| <= rtol ref_f + atol,  r = b - A x,
ref_f = max(||b_f||, ||r0_f||) (the field's own right-hand side, or its initial residual if larger; the
whole system's if both vanish). The Krylov method reports ||r|| each iteration, which bounds every
||r_f||, so the per-field residuals are built (one solution update, operator and preconditioner
application) only between the necessary bound ||r|| <= rtol sqrt(sum_f ref_f^2) + atol and the
sufficient one ||r|| <= rtol min_f ref_f + atol; after a failed check the next waits until ||r|| has
fallen by the factor the worst field still lacks.
"""

from __future__ import annotations

import math

import numpy as np
from petsc4py import PETSc

Reason = PETSc.KSP.ConvergedReason


def field_norms(vector: PETSc.Vec) -> np.ndarray:
    """||v_f|| of every block of a nest vector."""
    return np.array([block.norm() for block in vector.getNestSubVecs()])


class FieldwiseConvergence:
    """The stopping test of a KSP with a nest operator; call :meth:`prepare` before every solve."""

    def __init__(self, ksp: PETSc.KSP, template: PETSc.Vec) -> None:
        """Install the test on ``ksp``; ``template``: a nest vector laid out like the right-hand side."""
        self.ksp = ksp
        self._residual = template.duplicate()
        self.references = np.zeros(0)
        self._next_check = math.inf
        ksp.setConvergenceTest(self._test)

    def residual_norms(self, b: PETSc.Vec, x: PETSc.Vec) -> np.ndarray:
        """||b_f - (A x)_f|| for every field (one operator application)."""
        self.ksp.getOperators()[0].mult(x, self._residual)
        self._residual.aypx(-1.0, b)
        return field_norms(self._residual)

    def prepare(self, b: PETSc.Vec, x0: PETSc.Vec) -> None:
        """Per-field references from the right-hand side and the initial residual b - A x0."""
        references = np.maximum(field_norms(b), self.residual_norms(b, x0))
        self.references = np.where(references > 0.0, references, np.linalg.norm(references))
        rtol, atol, _, _ = self.ksp.getTolerances()
        self._next_check = rtol * float(np.linalg.norm(self.references)) + atol

    def _test(self, ksp: PETSc.KSP, iteration: int, norm: float) -> int:
        rtol, atol, _, _ = ksp.getTolerances()
        if not math.isfinite(norm):
            return Reason.DIVERGED_NANORINF
        if norm <= rtol * float(self.references.min()) + atol:
            return Reason.CONVERGED_RTOL
        if norm > self._next_check:
            return Reason.CONVERGED_ITERATING
        lacking = float(np.max(field_norms(ksp.buildResidual(self._residual)) / (rtol * self.references + atol)))
        if lacking <= 1.0:
            return Reason.CONVERGED_RTOL
        self._next_check = norm / lacking
        return Reason.CONVERGED_ITERATING

    def destroy(self) -> None:
        self._residual.destroy()
