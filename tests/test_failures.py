"""A run that fails after it started: one ``bmes: error:`` line naming the solve, where it failed (step and
time, or the state) and the likely cause, exit code 1, no native abort, nothing left in the results folder."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import ufl
import yaml
from dolfinx import fem

from bmes_fem.config import parse_config
from bmes_fem.errors import SolverError
from bmes_fem.mesh.build import build_domain
from bmes_fem.solve.linear import solve_linear
from bmes_fem.solve.steady import SteadyBiot

WAVEFORM = {"kind": "waveform", "waveform": {"path": "load.csv", "period": "1 s"}}


def _column(history: dict | None = None, **sections) -> dict:
    """A drained column (structured box, 4 x 6 tetrahedra) pressed on top, transient with ``history``, else steady."""
    load = {"boundary": "zmax", "kind": "normal_pressure", "value": "1e4 Pa", **({"history": history} if history else {})}
    return {
        "case": "column",
        "geometry": {"kind": "box", "lengths": ["12.5 mm", "12.5 mm", "50 mm"], "divisions": [1, 1, 4]},
        "lesions": [],
        "boundary_conditions": [
            {"boundary": ["xmin", "xmax", "ymin", "ymax", "zmin"], "kind": "roller"},
            load,
            {"boundary": "zmax", "kind": "drained", "pressure": "0 Pa"},
        ],
        "output": {"figures": False},
        **({"analysis": "transient", "transient": {"time": {"time_step": "0.1 s", "end_time": "0.4 s"}}} if history else {}),
        **sections,
    }


# The waveform reader's own checks are bypassed: NaN from t = 0.15 s on, as a file that passed them could give.
NAN_PAST_FIRST_STEP = """
    import sys
    import dataclasses
    import numpy as np
    from bmes_fem.config.histories import Waveform

    read = Waveform.read

    def with_nan(self):
        table = read(self)
        return dataclasses.replace(table, fraction=np.where(table.time_s > 0.15, np.nan, table.fraction))

    Waveform.read = with_nan
    from bmes_fem.cli import main

    raise SystemExit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("preset", ["direct", "iterative"])
def test_nan_in_a_waveform_mid_run_is_one_line_naming_the_step_time_condition_and_file(tmp_path, preset):
    (tmp_path / "load.csv").write_text("time_s,fraction\n0,0\n0.1,0.5\n0.2,1\n0.3,0.5\n1.0,0\n")
    config = tmp_path / "column.yaml"
    config.write_text(yaml.safe_dump(_column(WAVEFORM, solver={"preset": preset})))
    results = tmp_path / "results"
    command = [sys.executable, "-c", textwrap.dedent(NAN_PAST_FIRST_STEP), "run", str(config), "--results-dir", str(results)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr  # not -6: the time-series writers are closed before the folder goes
    assert len(run.stderr.splitlines()) == 1, run.stderr
    message = run.stderr.strip()
    assert message.startswith("bmes: error: step 2, t = 0.2 s: biot solve with solver.preset ")
    assert message.endswith(
        f"likely cause: boundary_conditions.1 (normal_pressure on zmax): load fraction nan at t = 0.2 s from waveform file '{tmp_path / 'load.csv'}'"
    )
    assert not results.exists(), sorted(results.rglob("*"))


@pytest.mark.mpi
def test_a_non_finite_tissue_coefficient_is_named_with_the_state():
    config = parse_config(_column())
    problem = SteadyBiot(build_domain(config), config)
    problem.tissue.chi.x.array[:] = np.nan
    with pytest.raises(SolverError) as failure:
        problem.solve("healthy reference")
    message = str(failure.value)
    assert message.startswith(
        "state 'healthy reference': pressure solve with solver.preset 'direct' failed: the operator has non-finite entries (NaN or Inf); "
        "likely cause: non-finite tissue coefficients: chi, "
    )
    assert "mobility" in message and "poisson_ratio" not in message  # what chi enters, not what it does not


@pytest.mark.mpi
def test_a_singular_operator_is_named(box):
    """A failed factorisation (here of a mass matrix that vanishes on half of the box) names a singular operator:
    a zero pivot on one rank; MUMPS runs out of workspace with its delayed pivots on two."""
    space = fem.functionspace(box.mesh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(space), ufl.TestFunction(space)
    x = ufl.SpatialCoordinate(box.mesh)
    density = ufl.conditional(ufl.lt(x[0], 0.01), 1.0, 0.0)
    with pytest.raises(SolverError) as failure:
        solve_linear(density * u * v * ufl.dx, v * ufl.dx, name="mass", preset="direct")
    message = str(failure.value)
    assert message.startswith("mass solve with solver.preset 'direct' failed: ")
    assert "singular operator" in message and "check that rigid motion is constrained" in message
    if box.mesh.comm.size == 1:
        assert "(FACTOR_NUMERIC_ZEROPIVOT)" in message


def test_the_error_names_no_cause_when_no_check_finds_one(tmp_path):
    """An unconverged solve with finite inputs: where it failed, and no guessed cause."""
    results = tmp_path / "results"
    solver = {"preset": "iterative", "petsc_options": {"ksp_max_it": 1}}
    config = parse_config(_column({"kind": "step"}, solver=solver, output={"figures": False, "results_dir": str(results)}))
    from bmes_fem.api import run_case

    with pytest.raises(SolverError, match=r"^initial state, t = 0 s: pressure solve with solver.preset 'iterative' did not converge: reason -3, 1 iterations") as failure:
        run_case(config)
    assert "likely cause" not in str(failure.value)
    assert not results.exists()
