"""Solving: linear solver presets, the steady problem, Biot time stepping."""
