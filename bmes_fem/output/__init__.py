"""Writing a case: the atomic results folder, fields for ParaView, tables, the report."""

import dolfinx_solver  # noqa: F401  (orders MPI ahead of the compiled bindings; must precede any dolfinx import)
