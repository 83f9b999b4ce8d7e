"""Domains: parametric bone and verification geometries meshed with gmsh, imported meshes, quality."""

import dolfinx_solver  # noqa: F401  (orders MPI ahead of the compiled bindings; must precede any dolfinx import)
