"""Validation against published measurements (intraosseous pressures, bone strains), and calibration of parameters to measured pressures.

- `measurements`: a validation file (one published measurement, its case, the model quantity compared);
- `validate`: ``bmes validate``, the runs, the table (CSV, markdown) and the forest plot;
- `calibration`: ``bmes calibrate``, its stages in order: `calibration_file` (the file, checked into a problem
  with its design points), `design_runs` (the design as runs, their outputs), `fit` (a surrogate per output
  (`surrogate`), a least-squares best fit, an MCMC posterior and credible bands (`posterior`); no I/O), the run of
  the fitted config, and `calibration_report` (tables, figures, fitted config);
- `crossval`: ``bmes validate --cross-validate``, its stages in order: `crossval_file` (the spec: fitted parameters,
  priors, design; which parameters apply to a row; its likelihood), `crossval_runs` (each row over a design in its
  own parameters, as runs), `crossval_fit` (a surrogate per row, the all-data fit and a fold per study, held-out
  predictions; no I/O) and `crossval_report` (tables, forest plot, calibrated defaults);
- `plots`: the figures, from plain data (arrays, labels, bounds);
- `runs`: all three run their cases through the studies machinery (bmes_fem.studies);
- `command.register` adds ``validate`` and ``calibrate`` to ``bmes``. See docs/validation.md.

Nothing is imported here, so that ``bmes`` builds its parser without the model stack.
"""
