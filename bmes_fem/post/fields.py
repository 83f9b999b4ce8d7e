"""Derived quantities: principal strains, microfracture-risk index, region means, threshold volumes.

Risk index in trabecular bone (model.md section 9):  R = max(eps_1 / eps_yt, -eps_3 / eps_yc),
from the principal strains eps_1 >= eps_2 >= eps_3 at each cell's midpoint. R is undefined (NaN)
outside trabecular bone. The trabecular strain distribution is summarised by volume-weighted
percentiles of eps_3, eps_1 and the effective strain max(|eps_1|, |eps_3|) (`weighted_percentile`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.physics.boundary_conditions import cell_measure
from bmes_fem.physics.forms import strain, strain_energy_density
from bmes_fem.physics.materials import TRABECULAR
from bmes_fem.post.quantities import STRAIN_PERCENTILES, strain_percentile_key
from bmes_fem.post.zones import HEALTHY_CHI_BELOW, LESION_CHI_FROM
from bmes_fem.solve.state import State
from bmes_fem.units import PA_PER_MMHG

THRESHOLD_QUADRATURE_DEGREE = 4


@dataclass(frozen=True)
class CellFields:
    """Per-cell values on this rank's owned cells."""

    principal_strains: np.ndarray  # (n, 3), eps_1 >= eps_2 >= eps_3
    risk_index: np.ndarray  # (n,), NaN outside trabecular bone
    volume_m3: np.ndarray  # (n,)
    region: np.ndarray  # (n,), cell tag value (0 if untagged)
    trabecular: np.ndarray  # (n,), bool


def _owned_cell_values(function: fem.Function) -> np.ndarray:
    """Values of a DG0 function on the owned cells, shape (n, value_size)."""
    space = function.function_space
    n_owned = space.mesh.topology.index_map(space.mesh.topology.dim).size_local
    block = space.dofmap.index_map_bs
    dofs = space.dofmap.list[:n_owned, 0]
    return function.x.array.reshape(-1, block)[dofs]


def cell_fields(state: State, config: Config) -> CellFields:
    """Principal strains at cell midpoints, the risk index, cell volumes and region tags; the state's void cells (a
    drilled tunnel) are no bone: not trabecular, no risk index, their strains NaN (the void's displacement means nothing)."""
    domain = state.domain
    mesh = domain.mesh
    tdim = mesh.topology.dim
    n_owned = mesh.topology.index_map(tdim).size_local
    tensor_space = fem.functionspace(mesh, ("DG", 0, (tdim, tdim)))
    strain_dg0 = fem.Function(tensor_space)
    strain_dg0.interpolate(fem.Expression(strain(state.displacement), tensor_space.element.interpolation_points))
    eps = _owned_cell_values(strain_dg0).reshape(-1, tdim, tdim)
    principal = np.linalg.eigvalsh(0.5 * (eps + eps.transpose(0, 2, 1)))[:, ::-1]

    scalar_space = fem.functionspace(mesh, ("DG", 0))
    volumes = fem.assemble_vector(fem.form(ufl.TestFunction(scalar_space) * ufl.dx(domain=mesh))).array
    volume_m3 = volumes[scalar_space.dofmap.list[:n_owned, 0]]

    region = np.zeros(n_owned, dtype=np.int32)
    tagged = domain.cell_tags.indices < n_owned
    region[domain.cell_tags.indices[tagged]] = domain.cell_tags.values[tagged]
    principal[state.void_cells] = np.nan
    trabecular = region == domain.region_id(TRABECULAR)
    trabecular[state.void_cells] = False
    risk = config.risk
    risk_index = np.maximum(principal[:, 0] / risk.tensile_yield_strain, -principal[:, 2] / risk.compressive_yield_strain)
    risk_index[~trabecular] = np.nan
    return CellFields(principal, risk_index, volume_m3, region, trabecular)


def _sum(comm: MPI.Comm, value: float) -> float:
    return float(comm.allreduce(value, op=MPI.SUM))


def _integral(comm: MPI.Comm, integrand, measure) -> float:
    return _sum(comm, fem.assemble_scalar(fem.form(integrand * measure)))


def _max_or_none(comm: MPI.Comm, values: np.ndarray) -> float | None:
    local = float(values.max()) if values.size else -np.inf
    result = comm.allreduce(local, op=MPI.MAX)
    return None if result == -np.inf else result


def pressure_summary(state: State, config: Config) -> dict[str, float | None]:
    """Mean p in healthy trabecular bone, peak and mean p in the lesion [mmHg], volumes above thresholds [mm^3]."""
    domain, p, chi = state.domain, state.pressure, state.tissue.chi
    comm = domain.mesh.comm
    dx = cell_measure(domain)
    dx_trabecular = dx(domain.region_id(TRABECULAR))
    healthy = ufl.conditional(ufl.lt(chi, HEALTHY_CHI_BELOW), 1.0, 0.0)
    lesion = ufl.conditional(ufl.ge(chi, LESION_CHI_FROM), 1.0, 0.0)
    healthy_volume = _integral(comm, healthy, dx_trabecular)
    lesion_volume = _integral(comm, lesion, dx_trabecular)
    n_owned = p.function_space.dofmap.index_map.size_local
    p_owned, chi_owned = p.x.array[:n_owned], chi.x.array[:n_owned]  # chi lives in p's space
    summary: dict[str, float | None] = {
        "p_healthy_trabecular_mean_mmHg": _integral(comm, p * healthy, dx_trabecular) / healthy_volume / PA_PER_MMHG
        if healthy_volume > 0
        else None,
        "p_lesion_mean_mmHg": _integral(comm, p * lesion, dx_trabecular) / lesion_volume / PA_PER_MMHG
        if lesion_volume > 0
        else None,
        "p_lesion_peak_mmHg": _scaled(_max_or_none(comm, p_owned[chi_owned >= LESION_CHI_FROM]), 1 / PA_PER_MMHG),
        "p_max_mmHg": _scaled(_max_or_none(comm, p_owned), 1 / PA_PER_MMHG),
        "p_min_mmHg": -_max_or_none(comm, -p_owned) / PA_PER_MMHG,
        "lesion_volume_mm3": lesion_volume * 1e9,
    }
    dx_threshold = ufl.Measure("dx", domain=domain.mesh, metadata={"quadrature_degree": THRESHOLD_QUADRATURE_DEGREE})
    for threshold in config.risk.pressure_thresholds:
        above = ufl.conditional(ufl.gt(p, threshold), 1.0, 0.0)
        summary[f"volume_p_above_{threshold / PA_PER_MMHG:g}_mmHg_mm3"] = _integral(comm, above, dx_threshold) * 1e9
    return summary


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def weighted_percentile(comm: MPI.Comm, values: np.ndarray, weights: np.ndarray, percent: float) -> float | None:
    """The weighted ``percent``-th percentile of the values of every rank (inverted CDF): the smallest value v with
    W(x <= v) >= percent/100 W, W the sum of the weights (numpy.percentile(..., weights=, method="inverted_cdf")).

    None when W = 0. Collective and exact without gathering the values: a parallel selection keeps the candidates
    in (low, high], W(x <= low) < target <= W(x <= high), and narrows them around a pivot, the count-weighted
    median of each rank's middle candidate (each step discards at least a quarter of them).
    """
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    cumulative = np.concatenate(([0.0], np.cumsum(weights[order])))
    total = _sum(comm, cumulative[-1])
    if total <= 0.0:
        return None
    if percent <= 0.0:
        return -_max_or_none(comm, -sorted_values)

    def weight_up_to(value: float, side: str) -> float:  # W(x <= value) with side "right", W(x < value) with "left"
        return _sum(comm, cumulative[np.searchsorted(sorted_values, value, side=side)])

    target, low, high = percent / 100.0 * total, -np.inf, np.inf
    while True:
        first, end = np.searchsorted(sorted_values, [low, high], side="right")
        middle = [(float(sorted_values[(first + end) // 2]), int(end - first))] if end > first else []
        proposals = sorted(proposal for part in comm.allgather(middle) for proposal in part)
        counts = np.cumsum([count for _, count in proposals])
        pivot = proposals[int(np.searchsorted(counts, counts[-1] / 2.0))][0]
        if weight_up_to(pivot, "right") < target:
            low = pivot
        elif weight_up_to(pivot, "left") < target:
            return pivot
        else:
            high = np.nextafter(pivot, -np.inf)


def strain_statistics(comm: MPI.Comm, cells: CellFields, microdamage_strain: float) -> dict[str, float | None]:
    """Volume-weighted percentiles of eps_3, eps_1 and max(|eps_1|, |eps_3|) in trabecular bone [microstrain],
    the largest of the latter, and the trabecular volume where it exceeds ``microdamage_strain`` [mm^3]; collective."""
    principal, volume_m3 = cells.principal_strains[cells.trabecular], cells.volume_m3[cells.trabecular]
    strains = {"eps3": principal[:, 2], "eps1": principal[:, 0], "effective_strain": np.abs(principal[:, [0, 2]]).max(axis=1)}
    summary = {
        strain_percentile_key(name, percent): _scaled(weighted_percentile(comm, strains[name], volume_m3, percent), 1e6)
        for name, percents in STRAIN_PERCENTILES.items()
        for percent in percents
    }
    summary["effective_strain_trabecular_max_microstrain"] = _scaled(_max_or_none(comm, strains["effective_strain"]), 1e6)
    summary["microdamage_volume_mm3"] = _sum(comm, float(volume_m3[strains["effective_strain"] > microdamage_strain].sum())) * 1e9
    return summary


def mechanics_summary(state: State, cells: CellFields, config: Config) -> dict[str, float | None]:
    """Risk-zone volumes [mm^3], max risk index, strain energy [J], peak displacement [um], the trabecular strain
    statistics (`strain_statistics`); collective."""
    comm = state.domain.mesh.comm
    u = state.displacement
    n_owned_u = u.function_space.dofmap.index_map.size_local
    magnitude = np.linalg.norm(u.x.array.reshape(-1, 3)[:n_owned_u], axis=1)
    risk = cells.risk_index[cells.trabecular]
    bone = cells.principal_strains[~np.isnan(cells.principal_strains[:, 0])]  # without the state's void cells (NaN)
    gdim = state.domain.mesh.geometry.dim
    resultant = [sum(_integral(comm, traction[i], ds) for traction, ds in state.loads.joint_tractions) for i in range(gdim)]
    summary: dict[str, float | list[float] | None] = {
        "contact_resultant_N": resultant if state.loads.joint_tractions else None,
        "risk_index_max": _max_or_none(comm, risk),
        "strain_energy_J": _integral(comm, strain_energy_density(u, state.tissue.elasticity), state.tissue.dx),
        "displacement_max_um": _max_or_none(comm, magnitude) * 1e6,
        "eps1_max_microstrain": _max_or_none(comm, bone[:, 0]) * 1e6,
        "eps3_min_microstrain": -_max_or_none(comm, -bone[:, 2]) * 1e6,
    }
    for critical in config.risk.critical_indices:
        in_zone = cells.trabecular & (cells.risk_index >= critical)
        summary[f"risk_zone_volume_R_ge_{critical:g}_mm3"] = _sum(comm, float(cells.volume_m3[in_zone].sum())) * 1e9
    summary.update(strain_statistics(comm, cells, config.risk.microdamage_strain))
    return summary
