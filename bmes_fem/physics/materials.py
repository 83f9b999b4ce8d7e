"""Tissue fields: region properties, the lesion indicator chi and the lesion-modified parameters.

Healthy values hold where chi = 0, the ``lesion_effects`` values where chi = 1 (model.md section 5):

- log-scaled quantities blend geometrically, ``L = L_h f_L^chi``, ``G_v = G_v,h f_v^chi``,
  ``kappa = kappa_h f_kappa^chi``;
- pressures, the reflection coefficient, mineralisation and BV/TV blend linearly,
  ``q = q_h + chi (q_l - q_h)``;
- trabecular modulus ``E = E_tissue m^gamma_m (BV/TV)^n`` (Hernandez et al. 2001);
- storage ``S = 1/M + c_vasc``: the Biot modulus of each region plus, in marrow, the vascular
  compliance that makes intraosseous pressure fill over about a minute (Beverly et al. 2019).

Capillary exchange and venous drainage act in the marrow, i.e. in the ``trabecular`` region only;
the lesion modifies trabecular properties only (cortex, subchondral plate and the physeal scar, a
partial flow barrier, hold no marrow).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem

from bmes_fem.config.case import Config, Fluid, Lesion
from bmes_fem.errors import MeshError
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.imaging import mask_indicator

TRABECULAR, CORTICAL, SUBCHONDRAL, PHYSEAL_SCAR = "trabecular", "cortical", "subchondral_plate", "physeal_scar"
REGIONS = (TRABECULAR, CORTICAL, SUBCHONDRAL, PHYSEAL_SCAR)


def rotation_matrix(angles_rad: Sequence[float]) -> np.ndarray:
    """Intrinsic z-y'-x'' rotation (yaw, pitch, roll) taking lesion axes to the bone frame."""
    yaw, pitch, roll = angles_rad
    cz, sz, cy, sy, cx, sx = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    return rz @ ry @ rx


def lesion_indicator(lesions: Sequence[Lesion], x_m: np.ndarray) -> np.ndarray:
    """chi(x) = max_i (1 - tanh((r_i(x) - 1) a_min,i / w_i)) / 2 at points ``x_m`` (shape (3, N)).

    A mask lesion contributes its blurred voxel mask instead (bmes_fem.physics.imaging.mask_indicator).
    r_i is the ellipsoidal radius of x in lesion i (1 on its surface), a_min,i its smallest
    semi-axis and w_i its falloff width: chi = 0.5 on the ellipsoid surface, 0.88 at a distance w
    inside and 0.12 at w outside it (along the smallest axis).
    """
    chi = np.zeros(x_m.shape[1])
    for lesion in lesions:
        if lesion.kind == "mask":
            chi = np.maximum(chi, mask_indicator(lesion.mask, x_m, lesion.smoothing_width))
            continue
        local = rotation_matrix(lesion.rotation).T @ (x_m - np.asarray(lesion.centre)[:, None])
        radius = np.sqrt(np.sum((local / np.asarray(lesion.semi_axes)[:, None]) ** 2, axis=0))
        scale = min(lesion.semi_axes) / lesion.falloff_width
        chi = np.maximum(chi, 0.5 * (1.0 - np.tanh((radius - 1.0) * scale)))
    return chi


def calibrate_venous_conductance(fluid: Fluid) -> float:
    """G_v = L (p_eff - p0) / (p0 - p_v) [1/(Pa s)]: the healthy marrow then sits at p0 (model.md 3)."""
    p_eff, p0 = fluid.effective_capillary_pressure(), fluid.target_pressure
    return fluid.capillary_filtration * (p_eff - p0) / (p0 - fluid.venous_pressure)


def region_function(domain: Domain, values: dict[str, float], name: str) -> fem.Function:
    """A cell-wise constant (DG0) field with ``values[region]`` in each named region the mesh has."""
    space = fem.functionspace(domain.mesh, ("DG", 0))
    field = fem.Function(space, name=name)
    for region, value in values.items():
        if region not in domain.regions:
            continue
        cells = domain.cell_tags.find(domain.regions[region])
        field.x.array[space.dofmap.list[cells, 0]] = value
    field.x.scatter_forward()
    return field


@dataclass(frozen=True)
class TissueFields:
    """Material coefficients as UFL expressions over the domain (SI units)."""

    chi: fem.Function  # lesion indicator, P1
    marrow: fem.Function  # 1 in trabecular bone (where marrow exchange happens), DG0
    youngs_modulus: ufl.core.expr.Expr  # E [Pa]
    poisson_ratio: fem.Function  # nu [-]
    biot_coefficient: fem.Function  # alpha [-]
    mobility: ufl.core.expr.Expr  # kappa = k / eta [m^2/(Pa s)]
    filtration: ufl.core.expr.Expr  # L = Lp S/V [1/(Pa s)]
    venous_conductance: ufl.core.expr.Expr  # G_v [1/(Pa s)]
    effective_capillary_pressure: ufl.core.expr.Expr  # p_eff = p_c - sigma_r (pi_c - pi_i) [Pa]
    venous_pressure: ufl.core.expr.Expr  # p_v [Pa]
    storage: ufl.core.expr.Expr  # S = 1/M + c_vasc (marrow only) [1/Pa]
    healthy_venous_conductance: float  # calibrated G_v,h [1/(Pa s)]

    def lame_parameters(self) -> tuple[ufl.core.expr.Expr, ufl.core.expr.Expr]:
        """mu = E / (2 (1 + nu)), lambda = E nu / ((1 + nu)(1 - 2 nu))."""
        E, nu = self.youngs_modulus, self.poisson_ratio
        return E / (2.0 * (1.0 + nu)), E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))

    def drained_bulk_modulus(self) -> ufl.core.expr.Expr:
        """K_dr = E / (3 (1 - 2 nu))."""
        return self.youngs_modulus / (3.0 * (1.0 - 2.0 * self.poisson_ratio))


def build_tissue_fields(domain: Domain, config: Config, pressure_space: fem.FunctionSpace) -> TissueFields:
    """Interpolate chi into ``pressure_space`` and build every coefficient of model.md section 3."""
    domain.require(regions=[TRABECULAR])
    unknown = sorted(set(domain.regions) - set(REGIONS))
    if unknown:
        raise MeshError(
            f"mesh {domain.source}: region(s) {', '.join(map(repr, unknown))} have no material "
            f"(expected region names among {', '.join(REGIONS)})"
        )
    tissue, fluid, effects = config.tissue, config.fluid, config.lesion_effects
    chi = fem.Function(pressure_space, name="chi")
    chi.interpolate(lambda x: lesion_indicator(config.lesions, x))
    marrow = region_function(domain, {region: float(region == TRABECULAR) for region in REGIONS}, "marrow")
    chi_marrow = chi * marrow

    def linear(healthy: float, lesion: float) -> ufl.core.expr.Expr:
        return healthy + chi_marrow * (lesion - healthy)

    trab = tissue.trabecular
    trabecular_modulus = (
        trab.tissue_modulus
        * linear(1.0, effects.relative_mineralisation) ** trab.mineralisation_exponent
        * linear(trab.bone_volume_fraction, effects.bone_volume_fraction) ** trab.volume_fraction_exponent
    )
    regions = {TRABECULAR: trab, CORTICAL: tissue.cortical, SUBCHONDRAL: tissue.subchondral_plate, PHYSEAL_SCAR: tissue.physeal_scar}
    solid_modulus = region_function(domain, {r: s.youngs_modulus for r, s in regions.items() if r != TRABECULAR}, "E_solid")
    permeability = region_function(domain, {r: s.permeability for r, s in regions.items()}, "permeability")
    g_v_healthy = calibrate_venous_conductance(fluid)
    reflection = linear(fluid.reflection_coefficient, effects.reflection_coefficient)
    oncotic_interstitial = linear(fluid.interstitial_oncotic_pressure, effects.interstitial_oncotic_pressure)
    return TissueFields(
        chi=chi,
        marrow=marrow,
        youngs_modulus=marrow * trabecular_modulus + (1.0 - marrow) * solid_modulus,
        poisson_ratio=region_function(domain, {r: s.poisson_ratio for r, s in regions.items()}, "nu"),
        biot_coefficient=region_function(domain, {r: s.biot_coefficient for r, s in regions.items()}, "alpha"),
        mobility=permeability / tissue.fluid_viscosity * effects.mobility_factor**chi_marrow,
        filtration=marrow * fluid.capillary_filtration * effects.filtration_factor**chi_marrow,
        venous_conductance=marrow * g_v_healthy * effects.venous_outflow_factor**chi_marrow,
        effective_capillary_pressure=linear(fluid.capillary_pressure, effects.capillary_pressure)
        - reflection * (fluid.plasma_oncotic_pressure - oncotic_interstitial),
        venous_pressure=linear(fluid.venous_pressure, effects.venous_pressure),
        storage=region_function(domain, {r: 1.0 / s.biot_modulus for r, s in regions.items()}, "inverse_M")
        + marrow * fluid.vascular_storage,
        healthy_venous_conductance=g_v_healthy,
    )
