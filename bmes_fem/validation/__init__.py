"""Validation against published intraosseous pressures, and calibration of parameters to measured pressures.

- `measurements`: a validation file (one published measurement, its case, the model quantity compared);
- `validate`: ``bmes validate``, the runs, the table (CSV, markdown) and the forest plot;
- `calibration`: ``bmes calibrate``, a design over parameter bounds, a surrogate (`surrogate`), a least-squares
  best fit, an MCMC posterior (emcee), credible bands and the fitted config;
- `runs`: both run their cases through the studies machinery (bmes_fem.studies);
- `command.register` adds both sub-commands to ``bmes``. See docs/validation.md.

Nothing is imported here, so that ``bmes`` builds its parser without the model stack.
"""
