"""The transient BMES run: steady limit, presets, load histories, probes and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from bmes_fem.config.histories import TimeFunction, Waveform
from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.build import build_domain
from bmes_fem.physics.loading import ForceHistory
from bmes_fem.post.probes import ProbePoints
from bmes_fem.solve.steady import SteadyBiot
from bmes_fem.solve.transient import TransientBiot
from bmes_fem.units import PA_PER_MMHG

COARSE = {"mesh": {"size": "6 mm", "lesion_size": "3 mm"}}
PROBES = [{"name": "lesion_centre", "point": ["4 mm", "4 mm", "10 mm"]}]


def _transient(time: dict, **sections):
    output = {"probes": PROBES, **sections.pop("output", {})}
    return parse_config({**COARSE, "analysis": "transient", "transient": {"time": time}, "output": output, **sections})


def _probe_pressure_mmHg(problem: TransientBiot) -> np.ndarray:
    """Step through every state; the probes' pressures [mmHg], one row per state."""
    points = ProbePoints(problem.domain, problem.config.output.probes)
    return np.array([points.values(state.pressure)[:, 0] / PA_PER_MMHG for state in problem.states()])


@pytest.mark.mpi
def test_long_step_load_reaches_the_steady_solution():
    """Under a constant load the transient settles on the steady solver's (u, p) (4 steps of 1e5 s; the linear Starling
    law, as filtration only limits dt to S / L)."""
    config = _transient({"time_step": "1e5 s", "end_time": "4e5 s"}, fluid={"capillary_reabsorption": True})
    domain = build_domain(config)
    problem = TransientBiot(domain, config)
    for _ in problem.states():
        pass
    steady = SteadyBiot(domain, config).solve()
    pressure, displacement = problem.pressure.x.array, problem.u.x.array
    assert np.linalg.norm(pressure - steady.pressure.x.array) < 1e-6 * np.linalg.norm(steady.pressure.x.array)
    assert np.linalg.norm(displacement - steady.displacement.x.array) < 1e-6 * np.linalg.norm(steady.displacement.x.array)


@pytest.mark.mpi
def test_first_step_is_undrained_and_pressure_rises_in_the_lesion():
    config = _transient({"time_step": "1e-4 s", "end_time": "1e-4 s"})
    before, after = _probe_pressure_mmHg(TransientBiot(build_domain(config), config))
    assert after[0] > before[0] + 1.0  # the load step compresses the lesion: pore pressure rises at once


def test_direct_and_iterative_presets_agree_on_the_bmes_case_at_every_step():
    histories, iterations = {}, []
    for preset in ("direct", "iterative"):
        config = _transient({"time_step": "0.05 s", "end_time": "0.25 s"}, solver={"preset": preset})
        problem = TransientBiot(build_domain(config), config)
        points = ProbePoints(problem.domain, config.output.probes)
        pressure = []
        for state in problem.states():
            pressure.append(points.values(state.pressure)[:, 0] / PA_PER_MMHG)
            if preset == "iterative" and state.step > 0:
                iterations += [s.iterations for s in state.solves]
        histories[preset] = (np.array(pressure), problem)
    direct, iterative = (histories[k][0] for k in ("direct", "iterative"))
    assert np.abs(iterative - direct).max() <= 1e-6 * np.abs(direct).max()
    for name in ("u", "p_hat"):
        d, i = (getattr(histories[k][1], name).x.array for k in ("direct", "iterative"))
        assert np.linalg.norm(i - d) <= 1e-6 * np.linalg.norm(d)
    print("field-split GMRES iterations per step:", iterations)
    assert min(iterations) > 0


def test_ramp_and_waveform_histories(tmp_path):
    load = parse_config({"load": {"force": "1000 N", "direction": [0, 0, -1]}}).load
    ramp = ForceHistory(TimeFunction(kind="ramp", ramp_duration=0.2), load)
    assert [ramp.fraction(t) for t in (0.0, 0.1, 0.2, 5.0)] == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert ramp.force_vector_N(0.1) == pytest.approx([0.0, 0.0, -500.0])
    table = tmp_path / "wave.csv"
    table.write_text("time_s,fraction,dx,dy,dz\n0,0.2,0,0,-1\n0.5,1.0,1,0,-1\n1.0,0.2,0,0,-1\n")
    wave = ForceHistory(TimeFunction(kind="waveform", waveform=Waveform(path=table)), load)
    assert wave.fraction(0.25) == pytest.approx(0.6) and wave.fraction(1.25) == pytest.approx(0.6)
    assert wave.force_vector_N(0.5) == pytest.approx(1000.0 * np.array([1.0, 0.0, -1.0]) / np.sqrt(2.0))


@pytest.mark.parametrize(
    ("transient", "fragment"),
    [
        ({"time": {"time_step": "0 s"}}, "transient.time.time_step"),
        ({"time": {"time_step": "-0.1 s"}}, "transient.time.time_step"),
        ({"time": {"time_step": "2 s", "end_time": "1 s"}}, "longer than transient.time.end_time"),
        ({"time": {"time_step": "0.1 kg"}}, "expected a time"),
    ],
)
def test_bad_time_stepping_names_the_key(transient, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_config({"analysis": "transient", "transient": transient}, "gait.yaml")


def test_non_monotone_waveform_names_the_file_and_row(tmp_path):
    table = tmp_path / "wave.csv"
    table.write_text("time_s,fraction\n0,0.1\n0.4,0.9\n0.3,0.5\n1.0,0.1\n")
    history = {"kind": "waveform", "waveform": {"path": str(table)}}
    with pytest.raises(ConfigError, match=r"wave.csv': time must increase, but row 4 has time_s = 0.3 after 0.4"):
        parse_config({"boundary_conditions": [{"boundary": "articular", "kind": "joint_contact", "history": history}]})


@pytest.mark.mpi
def test_probe_outside_the_mesh_names_the_probe():
    config = parse_config({**COARSE, "output": {"probes": [{"name": "in_the_air", "point": ["0 mm", "0 mm", "40 mm"]}]}})
    with pytest.raises(ConfigError, match=r"output.probes.0 'in_the_air' at \(0, 0, 40\) mm lies outside the mesh"):
        ProbePoints(build_domain(config), config.output.probes)


def test_unconverged_solve_names_preset_iterations_and_residual_and_writes_nothing(tmp_path):
    from bmes_fem.api import run_case
    from bmes_fem.errors import SolverError

    config = _transient(
        {"time_step": "0.05 s", "end_time": "0.1 s"},
        solver={"preset": "iterative", "petsc_options": {"ksp_max_it": 2}},
        output={"results_dir": str(tmp_path / "results")},
    )
    with pytest.raises(SolverError, match=r"solver.preset 'iterative' did not converge: reason -3, 2 iterations, residual norm"):
        run_case(config)
    assert not (tmp_path / "results").exists()
