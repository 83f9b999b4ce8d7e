"""The scalar quantities a case reports in ``summary.json``, by dotted name, with their units.

Studies, the disease course and calibration address a result by its dotted name
(``pressure.p_lesion_peak_mmHg``); :func:`summary_quantities` lists the names a config will produce,
so a name can be checked before any case runs, and :func:`summary_value` reads one from a summary.
Some keys hold a dot themselves (``risk_zone_volume_R_ge_0.5_mm3``): lookup matches the longest key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bmes_fem.config.case import Config
from bmes_fem.errors import ConfigError
from bmes_fem.units import PA_PER_MMHG

#: volume-weighted percentiles of trabecular strains in the mechanics summary: strain -> percents
STRAIN_PERCENTILES = {"eps3": (5, 50), "eps1": (50, 95), "effective_strain": (50, 95)}
STRAIN_DESCRIPTIONS = {
    "eps3": "third (most compressive) principal strain",
    "eps1": "first (most tensile) principal strain",
    "effective_strain": "effective strain max(|eps_1|, |eps_3|)",
}


def strain_percentile_key(strain: str, percent: float) -> str:
    """The mechanics summary key of a trabecular strain percentile, e.g. ``eps3_trabecular_p5_microstrain``."""
    return f"{strain}_trabecular_p{percent:g}_microstrain"


@dataclass(frozen=True)
class Quantity:
    """A summary scalar: its unit (``-`` for a count or a ratio) and what it is."""

    unit: str
    description: str


def _threshold_keys(config: Config) -> tuple[list[str], list[str]]:
    pressures = [f"{threshold / PA_PER_MMHG:g}" for threshold in config.risk.pressure_thresholds]
    indices = [f"{critical:g}" for critical in config.risk.critical_indices]
    return pressures, indices


def summary_quantities(config: Config) -> dict[str, Quantity]:
    """Every scalar entry of the summary a run of ``config`` writes, by dotted name."""
    pressures, indices = _threshold_keys(config)
    q: dict[str, Quantity] = {
        "mesh.cells": Quantity("-", "tetrahedra"),
        "mesh.vertices": Quantity("-", "mesh vertices"),
        "mesh.dofs_pressure": Quantity("-", "pressure unknowns (P1)"),
        "mesh.dofs_displacement": Quantity("-", "displacement unknowns (P2)"),
        "mesh_quality.dihedral_angle_min_deg": Quantity("deg", "smallest dihedral angle"),
        "mesh_quality.radius_ratio_min": Quantity("-", "smallest radius ratio 3 r_in / R_circ"),
        "calibration.healthy_venous_conductance_per_Pa_s": Quantity("1/(Pa s)", "calibrated healthy G_v"),
        "pressure.p_healthy_trabecular_mean_mmHg": Quantity("mmHg", "mean p in healthy trabecular bone (chi < 0.05)"),
        "pressure.p_lesion_mean_mmHg": Quantity("mmHg", "mean p in the lesion (chi >= 0.5)"),
        "pressure.p_lesion_peak_mmHg": Quantity("mmHg", "peak p in the lesion"),
        "pressure.p_max_mmHg": Quantity("mmHg", "largest p anywhere"),
        "pressure.p_min_mmHg": Quantity("mmHg", "smallest p anywhere"),
        "pressure.lesion_volume_mm3": Quantity("mm^3", "trabecular volume with chi >= 0.5"),
        "mechanics.risk_index_max": Quantity("-", "largest microfracture risk index R"),
        "mechanics.strain_energy_J": Quantity("J", "strain energy"),
        "mechanics.displacement_max_um": Quantity("um", "largest |u|"),
        "mechanics.eps1_max_microstrain": Quantity("microstrain", "largest first principal strain"),
        "mechanics.eps3_min_microstrain": Quantity("microstrain", "smallest third principal strain"),
        "mechanics.effective_strain_trabecular_max_microstrain": Quantity(
            "microstrain", "largest effective strain max(|eps_1|, |eps_3|) in trabecular bone"
        ),
        "mechanics.microdamage_volume_mm3": Quantity(
            "mm^3", "trabecular volume with max(|eps_1|, |eps_3|) above risk.microdamage_strain"
        ),
    }
    for strain, percents in STRAIN_PERCENTILES.items():
        for percent in percents:
            q[f"mechanics.{strain_percentile_key(strain, percent)}"] = Quantity(
                "microstrain", f"{percent:g}th volume-weighted percentile of the {STRAIN_DESCRIPTIONS[strain]} in trabecular bone"
            )
    q["wall_time_s.total"] = Quantity("s", "wall time of the run")
    for solver in ("pressure", "displacement", *(("biot",) if config.analysis == "transient" else ())):
        q[f"solver.{solver}.dofs"] = Quantity("-", f"unknowns of the {solver} solve")
        q[f"solver.{solver}.iterations"] = Quantity("-", f"Krylov iterations of the {solver} solves, in all")
        q[f"solver.{solver}.iterations_per_solve_max"] = Quantity("-", f"most Krylov iterations of one {solver} solve")
        q[f"solver.{solver}.wall_time_s"] = Quantity("s", f"wall time of the {solver} solves")
    for probe in config.output.probes:
        for key, unit in (("p_peak_mmHg", "mmHg"), ("p_final_mmHg", "mmHg"), ("u_peak_um", "um")):
            q[f"probes.{probe.name}.{key}"] = Quantity(unit, f"{key.replace('_', ' ')} at probe {probe.name}")
    for level in pressures:
        q[f"pressure.volume_p_above_{level}_mmHg_mm3"] = Quantity("mm^3", f"volume with p above {level} mmHg")
        q[f"clusters.pressure.p_above_{level}_mmHg.clusters"] = Quantity("-", f"connected zones with p above {level} mmHg")
    for critical in indices:
        q[f"mechanics.risk_zone_volume_R_ge_{critical}_mm3"] = Quantity("mm^3", f"trabecular volume with R >= {critical}")
        q[f"clusters.risk.R_ge_{critical}.clusters"] = Quantity("-", f"connected zones with R >= {critical}")
    return q


def summary_value(summary: Mapping, name: str) -> object:
    """The entry ``name`` (dotted) of a summary; KeyError naming the missing step.

    At each level the longest key that matches the start of the remaining path is taken, so keys
    holding a dot (``R_ge_0.5``) are found.
    """
    node: object = summary
    rest = name
    while rest:
        if not isinstance(node, Mapping):
            raise KeyError(f"summary entry '{name}': '{name[: len(name) - len(rest) - 1]}' is a value, not a section")
        matches = [key for key in node if rest == key or rest.startswith(f"{key}.")]
        if not matches:
            raise KeyError(f"summary entry '{name}': no key matching '{rest}' (keys here: {', '.join(node)})")
        key = max(matches, key=len)
        node, rest = node[key], rest[len(key) + 1 :]
    return node


def check_quantity_names(config: Config, names: list[str], source: str) -> None:
    """ConfigError naming the first name that a run of ``config`` would not report."""
    known = summary_quantities(config)
    for name in names:
        if name not in known:
            raise ConfigError(
                f"{source}: unknown quantity '{name}' (expected one of: {', '.join(sorted(known))})"
            )
