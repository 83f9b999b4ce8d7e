"""Post-processing in memory: strains, risk index, summary scalars, clusters, probes."""

import dolfinx_solver  # noqa: F401  (orders MPI ahead of the compiled bindings; must precede any dolfinx import)
