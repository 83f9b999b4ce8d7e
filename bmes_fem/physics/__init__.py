"""The model: tissue fields and the lesion, weak forms, boundary conditions, loads, closed forms."""

import dolfinx_solver  # noqa: F401  (orders MPI ahead of the compiled bindings; must precede any dolfinx import)
