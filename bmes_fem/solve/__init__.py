"""Solving: linear solver presets, the steady problem, Biot time stepping."""

import dolfinx_solver  # noqa: F401  (orders MPI ahead of the compiled bindings; must precede any dolfinx import)
