"""bmes_fem: a finite-element poroelastic model of the epiphysis for Bone Marrow Oedema Syndrome.

The public API::

    from bmes_fem import load_config, run_case, with_overrides
    config = with_overrides(load_config("configs/femoral_head_bmes.yaml"), {"lesion_effects.venous_outflow_factor": 0.2})
    result = run_case(config)                      # writes results/<case>/, returns a Result
    result["pressure.p_lesion_peak_mmHg"]           # a summary scalar by its dotted name

`run_case` is imported on first use, so the configuration and the pictures (bmes_fem.view) load
without the solver stack.
"""

from importlib.metadata import version

import dolfinx_solver  # noqa: F401  (orders MPI ahead of the compiled bindings; must precede any dolfinx import)

from bmes_fem.config import Config, load_config, parse_config, with_overrides
from bmes_fem.result import Result

__version__ = version("bmes_fem")
__all__ = ["Config", "Result", "__version__", "load_config", "parse_config", "run_case", "with_overrides"]


def __getattr__(name: str):
    if name == "run_case":
        from bmes_fem.api import run_case

        return run_case
    raise AttributeError(f"module 'bmes_fem' has no attribute {name!r}")
