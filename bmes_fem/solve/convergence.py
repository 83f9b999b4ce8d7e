"""A Krylov stopping test that holds for every field of a nest system, not only for the whole vector.

Converged when, for each field f (momentum u, mass p),  ||r_f|| <= rtol ref_f + atol,  r = b - A x,
ref_f = max(||b_f||, ||r0_f||) (the field's own right-hand side, or its initial residual if larger; the
whole system's if both vanish). The Krylov method reports ||r|| each iteration, which bounds every
||r_f||: below the sufficient bound ||r|| <= rtol min_f ref_f + atol the test stops without looking at
the fields; above the necessary bound ||r|| <= rtol sqrt(sum_f ref_f^2) + atol it never stops. In
between the per-field residuals are built (a check: for right-preconditioned GMRES one solution update,
preconditioner and operator application, about one more iteration), and stopping needs a passing check.

The first check comes at the necessary bound (on the Terzaghi column it passes there: one check a
solve); after a failed check the next waits until ||r|| has fallen by the factor the worst field still
lacked. The passing check's field norms are those of the returned solution:
:meth:`FieldwiseConvergence.final_norms` reuses them instead of applying the operator once more.
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
        self._passed: tuple[int, np.ndarray] | None = None  # (iteration, field norms) of this solve's passing check
        self.checks = 0  # per-field residual builds in this solve
        ksp.setConvergenceTest(self._test)

    def residual_norms(self, b: PETSc.Vec, x: PETSc.Vec) -> np.ndarray:
        """||b_f - (A x)_f|| for every field (one operator application)."""
        self.ksp.getOperators()[0].mult(x, self._residual)
        self._residual.aypx(-1.0, b)
        return field_norms(self._residual)

    def _bounds(self) -> tuple[float, float]:
        """(sufficient, necessary) bounds on ||r|| (module docstring)."""
        rtol, atol, _, _ = self.ksp.getTolerances()
        return rtol * float(self.references.min()) + atol, rtol * float(np.linalg.norm(self.references)) + atol

    def prepare(self, b: PETSc.Vec, x0: PETSc.Vec) -> None:
        """Per-field references from the right-hand side and the initial residual b - A x0."""
        references = np.maximum(field_norms(b), self.residual_norms(b, x0))
        self.references = np.where(references > 0.0, references, np.linalg.norm(references))
        self._next_check = self._bounds()[1]
        self._passed, self.checks = None, 0

    def final_norms(self, b: PETSc.Vec, x: PETSc.Vec) -> np.ndarray:
        """||r_f|| of the solution the KSP returned: the passing check's if it checked the last iterate,
        otherwise built (one operator application)."""
        if self._passed is not None and self._passed[0] == self.ksp.getIterationNumber():
            return self._passed[1]
        return self.residual_norms(b, x)

    def _test(self, ksp: PETSc.KSP, iteration: int, norm: float) -> int:
        rtol, atol, _, _ = ksp.getTolerances()
        if not math.isfinite(norm):
            return Reason.DIVERGED_NANORINF
        if norm <= self._bounds()[0]:
            return Reason.CONVERGED_RTOL
        if norm > self._next_check:
            return Reason.CONVERGED_ITERATING
        self.checks += 1
        norms = field_norms(ksp.buildResidual(self._residual))
        lacking = float(np.max(norms / (rtol * self.references + atol)))
        if lacking <= 1.0:
            self._passed = (iteration, norms)
            return Reason.CONVERGED_RTOL
        self._next_check = norm / lacking
        return Reason.CONVERGED_ITERATING

    def destroy(self) -> None:
        self._residual.destroy()
