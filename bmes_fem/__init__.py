"""bmes_fem: a finite-element poroelastic model of the epiphysis for Bone Marrow Oedema Syndrome.

The public API::

    from bmes_fem import load_config, run_case, with_overrides
    config = with_overrides(load_config("configs/femoral_head_bmes.yaml"), {"lesion_effects.venous_outflow_factor": 0.2})
    result = run_case(config)                      # writes results/<case>/, returns a Result
    result["pressure.p_lesion_peak_mmHg"]           # a summary scalar by its dotted name

Every name is imported on first use: ``import bmes_fem`` loads neither MPI, the configuration stack nor
the solver, so the ``bmes`` command installs its Ctrl-C handler (bmes_fem.interrupt) before any of them.
The subpackages that import DOLFINx (mesh, physics, solve, post, output, verification) import
dolfinx_solver first, as it must precede any dolfinx import; code that imports dolfinx itself does the same.
"""

import importlib

#: public name -> the module that defines it
_PUBLIC = {
    "Config": "bmes_fem.config",
    "load_config": "bmes_fem.config",
    "parse_config": "bmes_fem.config",
    "with_overrides": "bmes_fem.config",
    "Result": "bmes_fem.result",
    "run_case": "bmes_fem.api",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import version

        return version("bmes_fem")
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'bmes_fem' has no attribute {name!r}")
