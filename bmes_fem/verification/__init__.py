"""Verification: cases with a closed-form solution (configs/verification/) and ``bmes verify``, which runs
them on a mesh series and tabulates the errors and observed convergence rates."""
