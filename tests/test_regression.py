"""The boundary conditions as data reproduce the hard-wired ones of bmes_fem 0.1 to 1e-10.

tests/data/reference_v0.1.json holds what 0.1.0 (commit f1e267c) wrote for the default head and condyle
on the committed 5 mm meshes with the direct solver, and 5 gait steps of the head. The defaults of
today (cut clamped, joint contact on the articular surface, Robin drainage through the periosteum)
must give the same numbers when integrated as 0.1 did (UFL's estimated quadrature degree,
solver.quadrature_degree: null, and the exchange terms at that degree, solver.exchange_quadrature: cell); the
default degree must stay far inside the discretisation error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from bmes_fem.api import run_case
from bmes_fem.config.loader import parse_config
from bmes_fem.post.quantities import summary_value

REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_v0.1.json").read_text())
CONFIGS = Path(__file__).parents[1] / "configs"
PROBES = [
    {"name": "lesion_centre", "point": ["4 mm", "4 mm", "10 mm"]},
    {"name": "below_subchondral_plate", "point": ["5.5 mm", "1 mm", "20.5 mm"]},
    {"name": "healthy_trabecular", "point": ["-6 mm", "-8 mm", "-6 mm"]},
]


# The physics of version 0.1, which the references hold: the defaults before the calibration (2026-12-07) and, for the
# head, its focal lesion; each bone keeps the permeability its case file sets
VERSION_0_1 = {
    "fluid": {"capillary_filtration": "1e-8 1/(Pa*s)", "vascular_storage": "1e-6 1/Pa", "capillary_reabsorption": True},
    "lesion_effects": {"filtration_factor": 3, "reflection_coefficient": 0.6, "capillary_pressure": "50 mmHg", "venous_outflow_factor": 0.3},
    "tissue": {"fluid_viscosity": "1 mPa*s", "trabecular": {"modulus_law": "hernandez", "tissue_modulus": "18 GPa", "volume_fraction_exponent": 2.58}},
}
HEAD_0_1 = {"lesions": [{"name": "anterosuperior_bme", "centre": ["4 mm", "4 mm", "10 mm"], "semi_axes": ["10 mm", "8 mm", "8 mm"],
                         "falloff_width": "2 mm"}], "tissue": {"trabecular": {"permeability": "1e-15 m^2"}}}  # fmt: skip


def _merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` merged in, section by section."""
    return {**base, **{k: _merged(base.get(k, {}), v) if isinstance(v, dict) else v for k, v in changes.items()}}


def _case(bone: str, results, probes=(), estimated_quadrature: bool = True, **sections):
    data = _merged(yaml.safe_load((CONFIGS / f"femoral_{bone}_bmes.yaml").read_text()), VERSION_0_1)
    if bone == "head":
        data = _merged(data, HEAD_0_1)
    solver = {"preset": "direct", "exchange_quadrature": "cell", **({"quadrature_degree": None} if estimated_quadrature else {})}
    data.update(
        geometry={"kind": "gmsh_file", "path": str(CONFIGS.parent / "meshes" / f"femoral_{bone}_5mm.msh"), "unit": "mm"},
        solver=solver, output={"results_dir": str(results), "figures": False, "probes": list(probes)}, **sections,
    )  # fmt: skip
    return parse_config(data, f"{bone} on the 5 mm mesh")


def _close(reference: float, value: float) -> bool:
    return abs(value - reference) <= 1e-10 * max(abs(reference), 1e-12)


@pytest.mark.parametrize("bone", ["head", "condyle"])
def test_default_boundary_conditions_reproduce_version_0_1(tmp_path, bone):
    summary = run_case(_case(bone, tmp_path)).summary
    reference = REFERENCE[f"femoral_{bone}"]
    differing = {}
    for name, expected in reference.items():
        value = summary_value(summary, name)
        pairs = zip(np.atleast_1d(expected), np.atleast_1d(value), strict=True)
        if not all(_close(float(a), float(b)) for a, b in pairs):
            differing[name] = (expected, value)
    assert len(reference) > 30 and not differing, differing


def test_the_default_quadrature_degree_moves_pressures_and_strains_by_less_than_1e_4(tmp_path):
    """Degree 3 against UFL's estimate (8 for the stiffness with E(chi)), here on the 5 mm mesh. On the default
    mesh the lesion peak moves by 1.6e-6 of itself; the mesh study's GCI of that peak is 0.59 %."""
    summary = run_case(_case("head", tmp_path, estimated_quadrature=False)).summary
    reference = REFERENCE["femoral_head"]
    keys = [name for name in reference if name.startswith(("pressure.p_", "mechanics."))]
    differing = {
        name: (reference[name], summary_value(summary, name))
        for name in keys
        if not np.allclose(summary_value(summary, name), reference[name], rtol=1e-4, atol=0.0)
    }
    assert len(keys) > 8 and not differing, differing


def test_joint_contact_history_reproduces_the_gait_steps_of_version_0_1(tmp_path):
    waveform = {"kind": "waveform", "waveform": {"path": str(CONFIGS / "waveforms" / "hip_walking.csv"), "period": "1 s"}}
    config = _case(
        "head", tmp_path, PROBES, case="gait_reference", analysis="transient",
        transient={"time": {"time_step": "0.02 s", "end_time": "0.1 s"}},
        boundary_conditions=[
            {"boundary": "cut", "kind": "clamped"},
            {"boundary": "articular", "kind": "joint_contact", "history": waveform},
            {"boundary": "periosteal", "kind": "robin", "conductance": "1e-11 m/(Pa*s)", "pressure": "15 mmHg"},
        ],
    )  # fmt: skip
    case_dir = run_case(config).case_dir
    table = np.genfromtxt(case_dir / "probes.csv", delimiter=",", names=True)
    reference = REFERENCE["femoral_head_gait_probes"]
    assert np.allclose(table["load_fraction"], reference["load_fraction"], rtol=1e-12)
    for probe in PROBES:
        name = probe["name"]
        displacement = np.linalg.norm([table[f"{name}_u{axis}_um"] for axis in "xyz"], axis=0)
        assert np.allclose(table[f"{name}_p_mmHg"], reference[f"{name}_p_mmHg"], rtol=1e-10, atol=0.0), name
        assert np.allclose(displacement, reference[f"{name}_u_um"], rtol=1e-10, atol=0.0), name
