"""bmes_fem: a finite-element poroelastic model of the epiphysis for Bone Marrow Oedema Syndrome.

Public API: :func:`load_config`, :func:`parse_config`, :func:`run_case`, :class:`Result`.
"""

import dolfinx_solver  # noqa: F401  (sets up the PETSc/MPI libraries; must precede any dolfinx import)
