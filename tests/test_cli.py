"""The ``bmes`` command: bad input gives a one-line error naming it, exit != 0, nothing in results/;
``mpirun -n 2 bmes run`` gives the serial summary."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

BIN = Path(sys.executable).parent
COARSE = yaml.safe_load(Path("configs/femoral_head_coarse.yaml").read_text())


def _bmes(*args: str, mpi_ranks: int = 1, cwd: Path | None = None) -> subprocess.CompletedProcess:
    command = [str(BIN / "bmes"), *args]
    if mpi_ranks > 1:
        command = [str(BIN / "mpirun"), "-n", str(mpi_ranks), *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd)


def _write_config(folder: Path, data: dict) -> Path:
    path = folder / "case.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _sphere_msh_without_articular(path: Path) -> Path:
    import gmsh

    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        ball = gmsh.model.occ.addSphere(0, 0, 0, 20.0)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [ball], 1, "trabecular")
        surfaces = [tag for _, tag in gmsh.model.getBoundary([(3, ball)], oriented=False)]
        gmsh.model.addPhysicalGroup(2, surfaces, 2, "cut")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 8.0)
        gmsh.model.mesh.generate(3)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()
    return path


BAD_INPUTS = {
    "unknown_key": ({"fluid": {"target_presure": "25 mmHg"}}, ["fluid.target_presure", "unknown key", "target_pressure"]),
    "pressure_in_kg": ({"fluid": {"target_pressure": "25 kg"}}, ["fluid.target_pressure", "25 kg", "pressure"]),
    "venous_above_target": ({"fluid": {"venous_pressure": "28 mmHg"}}, ["fluid.venous_pressure", "28 mmHg", "target_pressure"]),
    "negative_permeability": (
        {"tissue": {"trabecular": {"permeability": "-1e-15 m^2"}}},
        ["tissue.trabecular.permeability", "greater than 0"],
    ),
    "infinite_factor": ({"lesion_effects": {"filtration_factor": float("inf")}}, ["lesion_effects.filtration_factor", "finite"]),
    "section_the_analysis_ignores": (
        {"transient": {"time": {"time_step": "0.1 s"}}},
        ["section 'transient'", "analysis = 'steady'", "analysis: transient"],
    ),
    "shape_without_boundary_conditions": ({"geometry": {"kind": "sphere"}}, ["geometry.kind = 'sphere'", "set boundary_conditions"]),
    "two_names_on_one_tag": (
        {"geometry": {"kind": "mesh_file", "path": str(Path("meshes/femoral_head_5mm.vtu").resolve()), "unit": "mm",
                      "tag_map": {"regions": {"trabecular": 1}, "boundaries": {"articular": 11, "periosteal": [12, 11]}}}},
        ["geometry.tag_map.boundaries", "tag 11", "'articular'", "'periosteal'"],
    ),
    "rigid_motion_left_free": (
        {"lesions": [], "geometry": {"kind": "box", "divisions": [1, 1, 1]}, "boundary_conditions": [{"boundary": "zmin", "kind": "roller"}]},
        ["boundary_conditions leave rigid motion free", "translation along x"],
    ),
}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary", ["case.yaml", "not UTF-8"]),
        (b"", ["case.yaml", "empty"]),
    ],
)
def test_binary_or_empty_config_file_is_a_one_line_error(tmp_path, content, expected):
    config = tmp_path / "case.yaml"
    config.write_bytes(content)
    run = _bmes("run", str(config), "--results-dir", str(tmp_path / "results"))
    assert run.returncode == 1
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert all(fragment in run.stderr for fragment in expected), run.stderr
    assert not (tmp_path / "results").exists()


def test_a_case_runs_from_another_directory_and_reloads_without_its_inputs(tmp_path):
    """The gait config names its waveform relative to itself; run from elsewhere, then reload the case."""
    from bmes_fem.physics.materials import largest_filtration_rate_per_s
    from bmes_fem.result import Result
    from bmes_fem.solve.transient import cutoff_solves
    from bmes_fem.view.results import load_case

    config = Path("configs/femoral_head_gait.yaml").resolve()
    run = _bmes(
        "run", str(config), "--results-dir", "out", "--set", "transient.time.end_time=0.06 s",
        "--set", "mesh.size=8 mm", "--set", "mesh.lesion_size=4 mm", "--set", "output.figures=false", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "time steps" in run.stdout and "4/4" in run.stdout and "ETA" in run.stdout
    case_dir = tmp_path / "out" / "femoral_head_gait"
    result = Result.read(case_dir)
    contact = next(c for c in result.config.boundary_conditions if c.kind == "joint_contact")
    assert contact.history.waveform.path == config.parent / "waveforms" / "hip_walking.csv"
    # filtration only: each of the 3 steps iterates the cut-off's fixed point, at most k + 1 solves (bmes_fem.solve.transient)
    ((time_step_s, steps),) = result.config.transient.time.step_lengths()
    k = cutoff_solves(time_step_s, largest_filtration_rate_per_s(result.config))
    assert steps == 3 and k >= 2 and steps < result["solver.biot.solves"] <= steps * (k + 1)
    with pytest.MonkeyPatch.context() as patch:  # the waveform must not be opened again
        patch.setattr("bmes_fem.config.histories.Waveform.read", lambda self: pytest.fail("input reopened"))
        assert load_case(case_dir).config == result.config


def test_version_and_help_name_the_choices():
    from bmes_fem import __version__

    assert _bmes("--version").stdout.strip() == f"bmes_fem {__version__}"
    render_help = _bmes("render", "-h").stdout
    assert "{cutaway,slices,isosurfaces,clusters,deformed}" in render_help and "{anterior,lateral,superior}" in render_help
    assert "--set KEY=VALUE" in _bmes("run", "-h").stdout
    bad = _bmes("render", "results/x", "--view", "sideways")
    assert bad.returncode == 2 and "invalid choice: 'sideways'" in bad.stderr


def test_pictures_and_config_import_no_solver_stack():
    code = (
        "import sys, bmes_fem.view.render, bmes_fem.view.compare, bmes_fem.view.plots, bmes_fem.output.report, bmes_fem.result; "
        "import bmes_fem.cli, bmes_fem.config.loader; bmes_fem.cli.parser(); "  # bmes --help, --version, a refused config
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dolfinx', 'petsc4py', 'ufl', 'basix', 'ffcx')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_config_is_a_one_line_error_naming_the_key(tmp_path, case):
    data, expected = BAD_INPUTS[case]
    results = tmp_path / "results"
    run = _bmes("run", str(_write_config(tmp_path, data)), "--results-dir", str(results))
    assert run.returncode != 0
    message = run.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for fragment in expected:
        assert fragment in message
    assert not results.exists()


def test_missing_config_file_is_named(tmp_path):
    run = _bmes("run", str(tmp_path / "nowhere.yaml"), "--results-dir", str(tmp_path / "results"))
    assert run.returncode != 0
    assert "nowhere.yaml" in run.stderr and "does not exist" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()


def test_mesh_without_a_required_physical_group_is_named(tmp_path):
    msh = _sphere_msh_without_articular(tmp_path / "ball.msh")
    config = _write_config(tmp_path, {"geometry": {"kind": "gmsh_file", "path": str(msh), "unit": "mm"}, "lesions": []})
    run = _bmes("run", str(config), "--results-dir", str(tmp_path / "results"))
    assert run.returncode != 0
    assert "ball.msh" in run.stderr and "'articular'" in run.stderr and "cut" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()


def _scalars(summary: dict) -> dict[str, float]:
    return {
        f"{section}.{key}": value
        for section in ("mesh", "pressure", "mechanics")
        for key, value in summary[section].items()
        if isinstance(value, (int, float))
    }


@pytest.mark.slow
def test_two_mpi_ranks_give_the_serial_summary(tmp_path):
    if shutil.which(str(BIN / "mpirun")) is None:
        pytest.fail("mpirun from the mpich wheel is missing from the virtualenv")
    config = _write_config(tmp_path, {**COARSE, "output": {"figures": False}})
    summaries = {}
    for ranks in (1, 2):
        results = tmp_path / f"results_{ranks}"
        run = _bmes("run", str(config), "--results-dir", str(results), mpi_ranks=ranks)
        assert run.returncode == 0, run.stderr
        summaries[ranks] = json.loads((results / COARSE["case"] / "summary.json").read_text())
    assert summaries[2]["mpi_ranks"] == 2
    serial, parallel = _scalars(summaries[1]), _scalars(summaries[2])
    assert serial.keys() == parallel.keys() and len(serial) > 15
    for key, value in serial.items():
        assert parallel[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key


@pytest.mark.slow
def test_transient_run_on_two_ranks_matches_serial_to_1e_8(tmp_path):
    gait = yaml.safe_load(Path("configs/femoral_head_gait.yaml").read_text())
    gait.update(COARSE, case="gait_parity", output={**gait["output"], "figures": False})
    contact = next(c for c in gait["boundary_conditions"] if c["kind"] == "joint_contact")
    contact["history"]["waveform"]["path"] = str(Path("configs/waveforms/hip_walking.csv").resolve())
    gait["transient"]["time"] = {"time_step": "0.04 s", "end_time": "0.2 s", "snapshot_every": 2}
    config = _write_config(tmp_path, gait)
    tables = {}
    for ranks in (1, 2):
        results = tmp_path / f"results_{ranks}"
        run = _bmes("run", str(config), "--results-dir", str(results), mpi_ranks=ranks)
        assert run.returncode == 0, run.stderr
        folder = results / "gait_parity"
        tables[ranks] = np.loadtxt(folder / "probes.csv", delimiter=",", skiprows=1)
        assert (folder / "pressure_mmHg.bp").is_dir() and (folder / "displacement_m.bp").is_dir()
    assert tables[1].shape == (6, 2 + 4 * len(gait["output"]["probes"]))  # time, load; p, ux, uy, uz per probe
    assert np.abs(tables[2] - tables[1]).max() <= 1e-8 * np.abs(tables[1]).max()


def test_mesh_command_prints_the_quality_report():
    run = _bmes("mesh", "configs/femoral_head_coarse.yaml")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert set(report["regions"]) == {"trabecular", "cortical", "subchondral_plate"}
    assert sum(r["volume_mm3"] for r in report["regions"].values()) == pytest.approx(report["volume_mm3"], rel=1e-12)
    assert 0.0 < report["dihedral_angle_min_deg"] < 70.5 < report["dihedral_angle_max_deg"] < 180.0
