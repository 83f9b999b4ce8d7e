"""bmes_fem: a finite-element poroelastic model of the epiphysis for Bone Marrow Oedema Syndrome.

Public API: :func:`load_config`, :func:`run_case`, :class:`Result`.
"""
