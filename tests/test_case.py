"""End-to-end steady cases through run_case / SteadyBiot on the parametric femoral head."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import ufl
from dolfinx import fem, la
from mpi4py import MPI

from bmes_fem.api import run_case
from bmes_fem.config.loader import load_config, parse_config
from bmes_fem.errors import ConfigError
from bmes_fem.lazy import lazy_module
from bmes_fem.mesh.build import build_domain
from bmes_fem.output.files import FIELDS_FILE, RESOLVED_CONFIG_FILE, SUMMARY_FILE
from bmes_fem.output.report import CUTAWAY_FIGURE
from bmes_fem.physics.boundary_conditions import contact_traction
from bmes_fem.solve.steady import SteadyBiot
from bmes_fem.units import PA_PER_MMHG

COARSE_MESH = {"size": "6 mm", "lesion_size": "3 mm"}


@pytest.fixture(scope="module")
def coarse_result(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    config = load_config("configs/femoral_head_coarse.yaml", {"output": {"results_dir": str(results)}})
    return run_case(config)


def test_case_folder_holds_every_output_and_nothing_partial(coarse_result):
    folder = coarse_result.case_dir
    for name in (RESOLVED_CONFIG_FILE, SUMMARY_FILE, FIELDS_FILE, CUTAWAY_FIGURE):
        assert (folder / name).stat().st_size > 0, name
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    assert json.loads((folder / SUMMARY_FILE).read_text())["pressure"] == coarse_result.summary["pressure"]


def test_every_registered_quantity_is_in_the_summary(coarse_result):
    from bmes_fem.post.quantities import summary_quantities

    names = summary_quantities(coarse_result.config)
    assert len(names) > 30
    for name in names:
        assert isinstance(coarse_result[name], (int, float)), name


def test_resolved_config_reloads_to_the_same_config(coarse_result):
    assert load_config(coarse_result.case_dir / RESOLVED_CONFIG_FILE) == coarse_result.config


def test_vtu_holds_pressure_in_mmHg_and_the_cell_fields(coarse_result):
    import pyvista

    grid = pyvista.read(coarse_result.case_dir / FIELDS_FILE)
    mesh_summary = coarse_result.summary["mesh"]
    assert (grid.n_points, grid.n_cells) == (mesh_summary["vertices"], mesh_summary["cells"])
    assert grid.point_data["p_mmHg"].max() == pytest.approx(coarse_result.summary["pressure"]["p_max_mmHg"], rel=1e-12)
    for name in ("u_m", "chi", "region", "eps1", "eps2", "eps3", "R"):
        assert name in grid.array_names
    trabecular = grid.cell_data["region"] == 1
    assert np.isfinite(grid.cell_data["R"][trabecular]).all() and np.isnan(grid.cell_data["R"][~trabecular]).all()


def _unit(*v: float) -> list[str]:
    return [f"{float(24.0 * c / np.linalg.norm(v))!r} mm" for c in v]


TWO_PATCHES = [
    {"centre": _unit(0.5, 0.0, 0.866), "radius": "8 mm", "fraction": 0.6},
    {"centre": _unit(0.8, 0.3, 0.52), "radius": "6 mm", "fraction": 0.4},
]


@pytest.mark.mpi
@pytest.mark.parametrize("patches", [[], TWO_PATCHES], ids=["cosine_cap", "two_paraboloid_patches"])
def test_contact_traction_resultant_equals_the_configured_force(patches):
    """The assembled traction load vector, dotted with each rigid translation, gives F to 1e-6."""
    load = {"force": "2.38 BW", "direction": [-0.3, 0.2, -0.9], "contact_patches": patches}
    config = parse_config({"mesh": COARSE_MESH, "load": load})
    domain = build_domain(config)
    space = fem.functionspace(domain.mesh, ("Lagrange", 2, (3,)))
    force = fem.Constant(domain.mesh, np.asarray(config.load.force_vector_N()))
    traction, ds = contact_traction(domain, config.load, ["articular"], force)
    load_vector = fem.assemble_vector(fem.form(ufl.dot(traction, ufl.TestFunction(space)) * ds))
    load_vector.scatter_reverse(la.InsertMode.add)
    owned = load_vector.array[: load_vector.index_map.size_local * 3]
    resultant = np.array([MPI.COMM_WORLD.allreduce(owned[i::3].sum(), op=MPI.SUM) for i in range(3)])
    expected = np.array(config.load.force_vector_N())
    assert np.linalg.norm(expected) == pytest.approx(2.38 * 75 * 9.80665)
    assert np.linalg.norm(resultant - expected) < 1e-6 * np.linalg.norm(expected)


def test_contact_patch_off_the_articular_surface_is_an_error():
    off = [{"centre": ["-20 mm", "0 mm", "-10 mm"], "radius": "5 mm"}]
    config = parse_config({"mesh": COARSE_MESH, "load": {"contact_patches": off}})
    with pytest.raises(ConfigError, match=r"load.contact_patches.0: the contact patch reaches beyond the joint-contact boundary articular"):
        SteadyBiot(build_domain(config), config)


def test_patch_fractions_must_add_up_to_one():
    patches = [dict(TWO_PATCHES[0], fraction=0.5), TWO_PATCHES[1]]
    with pytest.raises(ConfigError, match=r"add up to 0\.9; expected 1"):
        parse_config({"load": {"contact_patches": patches}})


@pytest.mark.mpi
def test_healthy_config_sits_at_the_calibration_target_everywhere():
    config = load_config("configs/femoral_head_healthy.yaml", {"mesh": COARSE_MESH})
    solution = SteadyBiot(build_domain(config), config).solve()
    p_mmHg = solution.pressure.x.array / PA_PER_MMHG
    assert np.abs(p_mmHg - config.fluid.target_pressure / PA_PER_MMHG).max() < 0.1


@pytest.mark.slow
def test_default_bmes_case_raises_lesion_pressure_above_healthy(tmp_path):
    """The shipped default config: lesion peak above 30 mmHg, healthy trabecular mean within 20-30 mmHg."""
    config = load_config("configs/femoral_head_bmes.yaml", {"output": {"results_dir": str(tmp_path), "figures": False}})
    pressure = run_case(config).summary["pressure"]
    print(json.dumps(pressure, indent=1))
    assert pressure["p_lesion_peak_mmHg"] > 30.0
    assert 20.0 <= pressure["p_healthy_trabecular_mean_mmHg"] <= 30.0


def test_direct_and_iterative_presets_agree():
    summaries = {}
    for preset in ("direct", "iterative"):
        config = parse_config({"mesh": COARSE_MESH, "solver": {"preset": preset}})
        solution = SteadyBiot(build_domain(config), config).solve()
        summaries[preset] = (solution.pressure.x.array.copy(), solution.displacement.x.array.copy())
    for direct, iterative in zip(summaries["direct"], summaries["iterative"], strict=True):
        assert np.linalg.norm(iterative - direct) < 1e-6 * np.linalg.norm(direct)


def test_head_with_a_physeal_scar_solves_and_keeps_the_healthy_calibration():
    """The scar region gets its own properties (no marrow exchange); healthy no-flux p stays at the target."""
    config = load_config(
        "configs/femoral_head_healthy.yaml",
        {"mesh": COARSE_MESH, "geometry.physeal_scar": {"depth": "22 mm", "thickness": "1 mm"}},
    )
    domain = build_domain(config)
    assert "physeal_scar" in domain.regions
    solution = SteadyBiot(domain, config).solve()
    p_mmHg = solution.pressure.x.array / PA_PER_MMHG
    assert np.abs(p_mmHg - 25.0).max() < 0.1


def test_the_run_driver_loads_meshers_readers_and_the_ode_integrator_only_on_first_use(tmp_path):
    """bmes_fem.lazy: ``import bmes_fem.api`` leaves gmsh, meshio, nibabel and scipy.integrate unexecuted (about
    60 MB a rank that a structured-box run never needs); the first attribute access loads the real module."""
    heavy = ("gmsh", "meshio", "nibabel", "scipy.integrate")
    probe = (
        "import sys, types, bmes_fem.api\n"
        f"print([n for n in {heavy!r} if type(sys.modules.get(n)) is types.ModuleType])\n"
        "from bmes_fem.mesh import shapes\n"
        "shapes.gmsh.initialize, shapes.gmsh.finalize\n"
        "print(type(sys.modules['gmsh']) is types.ModuleType)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path).stdout.split("\n")
    assert loaded[:2] == ["[]", "True"]
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        lazy_module("no_such_module")
