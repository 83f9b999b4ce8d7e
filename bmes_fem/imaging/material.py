"""The healthy trabecular modulus of a patient from CT, per cell, integrated over the cell as Bonemat does.

For each trabecular cell T (Taddei, Pancanti, Viceconti 2004 Med Eng Phys 26:61; Taddei et al. 2007 Med Eng
Phys 29:973):

    integrate: modulus (Bonemat V3, the default)   E_T = (1/|T|) int_T E(rho_app(x)) dV
    integrate: density (Bonemat V2)                E_T = E((1/|T|) int_T rho_app(x) dV)

with rho_app(x) from the trilinear interpolation of the CT numbers at x (bmes_fem.imaging.calibration), and
the integral a Gauss-Jacobi rule with m points along each direction of the cell, m = ceil(longest edge /
smallest voxel edge) clipped to [2, 6]: at least one point per voxel crossed (up to 216 points a cell).
The cell's bone volume fraction is BV/TV_T = rho_app,T / rho_tissue (ct_material.tissue_density_g_per_cm3).

The lesion multiplies this modulus (bmes_fem.physics.materials): E = E_T m^gamma_m (BV/TV(chi) / BV/TV_h)^n,
the relative loss of the ``lesion_effects`` values (docs/images.md). Cells of other regions keep their
regional moduli; porosity, permeability and the Biot coefficients stay regional.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dolfinx import fem
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.config.images import CtMaterial
from bmes_fem.errors import ConfigError
from bmes_fem.imaging.calibration import DensityCalibration, apparent_density, hu_out_of_range, modulus_MPa, read_ct
from bmes_fem.imaging.volume import ImageVolume, outside_image, sample_trilinear
from bmes_fem.lazy import lazy_module
from bmes_fem.mesh.domain import Domain

basix = lazy_module("basix")

MM_PER_M, PA_PER_MPA = 1e3, 1e6
POINTS_PER_DIRECTION = (2, 6)  # Gauss-Jacobi points along each direction of a cell: at least, at most


@dataclass(frozen=True)
class CellMaterial:
    """Per owned cell of the region: mean apparent density [g/cm^3] and modulus [MPa]; the share of quadrature
    points whose density was raised to the minimum."""

    cells: np.ndarray
    apparent_density_g_per_cm3: np.ndarray
    modulus_MPa: np.ndarray
    raised_share: float


def _reference_rule(points_per_direction: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Jacobi points (n, 3) and weights (sum 1/6) on the reference tetrahedron, m^3 points."""
    points, weights = basix.make_quadrature(basix.CellType.tetrahedron, 2 * points_per_direction - 1, basix.QuadratureType.gauss_jacobi)
    return np.asarray(points), np.asarray(weights)


def cell_averages(corners_mm: np.ndarray, voxel_mm: float, value_at) -> np.ndarray:
    """(1/|T|) int_T f dV for tetrahedra with vertices ``corners_mm`` (n, 4, 3); ``value_at(x_mm)`` gives f at
    points (3, N). Each cell gets m points per direction, m = ceil(longest edge / voxel_mm) in POINTS_PER_DIRECTION."""
    edges = corners_mm[:, [1, 2, 3, 2, 3, 3]] - corners_mm[:, [0, 0, 0, 1, 1, 2]]
    longest_mm = np.linalg.norm(edges, axis=2).max(axis=1)
    per_direction = np.clip(np.ceil(longest_mm / voxel_mm), *POINTS_PER_DIRECTION).astype(int)
    averages = np.empty(len(corners_mm))
    for m in np.unique(per_direction):
        chosen = np.flatnonzero(per_direction == m)
        reference, weights = _reference_rule(int(m))
        origin = corners_mm[chosen, 0]
        jacobian = corners_mm[chosen, 1:] - origin[:, None, :]  # rows: x1 - x0, x2 - x0, x3 - x0
        points = origin[:, None, :] + np.einsum("qk,ckd->cqd", reference, jacobian)
        values = value_at(points.reshape(-1, 3).T).reshape(len(chosen), -1)
        averages[chosen] = values @ weights / weights.sum()
    return averages


def _first_error(comm: MPI.Comm, message: str | None) -> None:
    """Raise ConfigError on every rank with the first rank's message, if any rank has one (collective)."""
    messages = [m for m in comm.allgather(message) if m]
    if messages:
        raise ConfigError(messages[0])


def integrate_cells(
    domain: Domain, ct: CtMaterial, volume: ImageVolume, calibration: DensityCalibration, region: str
) -> CellMaterial:
    """Density and modulus of each owned cell of ``region`` (module docstring); ConfigError on every rank for a cell
    reaching beyond the image or a CT number out of range at a quadrature point's nearest voxel (collective)."""
    mesh = domain.mesh
    n_owned = mesh.topology.index_map(mesh.topology.dim).size_local
    cells = domain.cell_tags.find(domain.region_id(region))
    cells = cells[cells < n_owned]
    corners_mm = mesh.geometry.x[mesh.geometry.dofmaps[0][cells, :4]] * MM_PER_M
    problem = None
    beyond = np.flatnonzero(outside_image(volume, corners_mm.reshape(-1, 3).T))
    if beyond.size:
        x = corners_mm.reshape(-1, 3)[beyond[0]]
        problem = (
            f"CT image '{volume.path}' (shape {volume.values.shape}) does not cover the mesh: the {region} vertex at "
            f"({', '.join(f'{c:.4g}' for c in x)}) mm lies outside it; expected a CT of the whole bone, in the mesh's world frame"
        )
    _first_error(mesh.comm, problem)
    problems: list[str] = []
    raised = []

    def apparent_at(x_mm: np.ndarray) -> np.ndarray:
        if not problems:
            nearest = np.clip(np.rint(volume.index_of(x_mm)).astype(int), 0, np.array(volume.values.shape)[:, None] - 1)
            problems.extend(filter(None, [hu_out_of_range(volume, nearest)]))
        rho = apparent_density(ct, calibration.density_qct(sample_trilinear(volume, x_mm)))
        raised.append((int(np.count_nonzero(rho <= ct.minimum_apparent_density_g_per_cm3)), rho.size))
        return rho

    voxel_mm = float(volume.voxel_size_mm().min())
    density = cell_averages(corners_mm, voxel_mm, apparent_at)
    if ct.integrate == "modulus":
        modulus = cell_averages(corners_mm, voxel_mm, lambda x: modulus_MPa(ct, apparent_at(x)))
    else:
        modulus = modulus_MPa(ct, density)
    _first_error(mesh.comm, problems[0] if problems else None)
    counts = mesh.comm.allreduce(np.sum(raised, axis=0) if raised else np.zeros(2), op=MPI.SUM)
    return CellMaterial(cells, density, modulus, float(counts[0] / counts[1]) if counts[1] else 0.0)


def ct_cell_material(domain: Domain, config: Config, region: str = "trabecular") -> CellMaterial:
    """Read the CT of ``config.ct_material`` and integrate its density and modulus over the region's cells (collective)."""
    ct = config.ct_material
    volume, calibration = read_ct(ct)
    return integrate_cells(domain, ct, volume, calibration, region)


def healthy_trabecular_modulus(domain: Domain, config: Config, fallback_Pa: float) -> fem.Function:
    """The patient's healthy trabecular modulus E_T [Pa] as a DG0 field (``fallback_Pa`` on cells of other regions,
    whose modulus is regional) (collective)."""
    material = ct_cell_material(domain, config)
    space = fem.functionspace(domain.mesh, ("DG", 0))
    modulus = fem.Function(space, name="E_ct")
    modulus.x.array[:] = fallback_Pa
    modulus.x.array[space.dofmap.list[material.cells, 0]] = material.modulus_MPa * PA_PER_MPA
    modulus.x.scatter_forward()
    return modulus
