"""Studies: many cases of one base config, run in their own processes, tabulated and plotted.

A study file (`schema`) names a base case, the quantities to collect and one design: named ``cases``,
a ``grid``, ``one_at_a_time``, ``morris``, ``sobol`` or a ``mesh`` series. `study.load_study` checks it
against the config schema before any case runs; `runner.run_study` runs the cases not finished yet on
an `executor.LocalExecutor` or `executor.DaskExecutor` and writes table.csv, table.md and plots
(`report`). `command.register` adds ``bmes study``. See docs/studies.md.

Nothing is imported here, so that ``bmes`` builds its parser without the study stack.
"""
