"""Tissue fields: region properties, the lesion indicator chi and the lesion-modified parameters.

Healthy values hold where chi = 0, the ``lesion_effects`` values where chi = 1:

- log-scaled quantities blend geometrically, ``L = L_h f_L^chi``, ``G_v = G_v,h f_v^chi``,
  ``kappa = kappa_h f_kappa^chi``;
- pressures, the reflection coefficient, mineralisation and BV/TV blend linearly,
  ``q = q_h + chi (q_l - q_h)``;
- trabecular modulus ``E = E_tissue m^gamma_m (BV/TV)^n`` (Hernandez et al. 2001), `trabecular_modulus`; with
  ``ct_material`` the patient's CT modulus E_T per cell times the lesion's factor m^gamma_m (BV/TV / BV/TV_h)^n;
- storage ``S = 1/M + c_vasc``: the Biot modulus of each region plus, in marrow, the vascular
  compliance that makes intraosseous pressure fill over about a minute (Beverly et al. 2019).

Capillary exchange and venous drainage act in the marrow, i.e. in the ``trabecular`` region only;
the lesion modifies trabecular properties only (cortex, subchondral plate and the physeal scar, a
partial flow barrier, hold no marrow).

The lesion parameters are DOLFINx Constants and chi a Function, so a disease course changes them
(`TissueFields.set_lesion_effects`, `TissueFields.set_lesions`) without rebuilding any form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem
from mpi4py import MPI

from bmes_fem.config.case import Config, Fluid, Lesion, LesionEffects, Trabecular
from bmes_fem.errors import ConfigError, MeshError
from bmes_fem.inputs.masks import read_mask
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.boundary_conditions import cell_measure
from bmes_fem.physics.imaging import MM_PER_M, mask_indicator

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
            chi = np.maximum(chi, mask_indicator(read_mask(lesion.mask, lesion.label), x_m, lesion.smoothing_width))
            continue
        local = rotation_matrix(lesion.rotation).T @ (x_m - np.asarray(lesion.centre)[:, None])
        radius = np.sqrt(np.sum((local / np.asarray(lesion.semi_axes)[:, None]) ** 2, axis=0))
        scale = min(lesion.semi_axes) / lesion.falloff_width
        chi = np.maximum(chi, 0.5 * (1.0 - np.tanh((radius - 1.0) * scale)))
    return chi


def _box_mm(lower_mm: np.ndarray, upper_mm: np.ndarray) -> str:
    return " x ".join(f"[{low:.4g}, {high:.4g}]" for low, high in zip(lower_mm, upper_mm, strict=True))


def check_masks_meet_the_mesh(mesh, lesions: Sequence[Lesion]) -> None:
    """ConfigError on every rank if a mask lesion has chi = 0 at every mesh node (collective): the message
    gives the world boxes (mm) of the lesion's voxels and of the mesh, which do not meet."""
    x_m = mesh.geometry.x.T
    for index, lesion in enumerate(lesions):
        if lesion.kind != "mask":
            continue
        mask = read_mask(lesion.mask, lesion.label)
        touches = bool(np.any(mask_indicator(mask, x_m, lesion.smoothing_width) > 0.0))
        if mesh.comm.allreduce(touches, op=MPI.LOR):
            continue
        lower_m = x_m.min(axis=1) if x_m.size else np.full(3, np.inf)
        upper_m = x_m.max(axis=1) if x_m.size else np.full(3, -np.inf)
        mesh.comm.Allreduce(MPI.IN_PLACE, lower_m, op=MPI.MIN)
        mesh.comm.Allreduce(MPI.IN_PLACE, upper_m, op=MPI.MAX)
        raise ConfigError(
            f"lesions.{index}.mask '{lesion.mask}': chi = 0 at every mesh point: the lesion's voxels span "
            f"{_box_mm(*mask.lesion_bounds_mm())} mm, the mesh {_box_mm(lower_m * MM_PER_M, upper_m * MM_PER_M)} mm; "
            "expected a mask that overlaps the mesh, in its world frame and in mm"
        )


def calibrate_venous_conductance(fluid: Fluid) -> float:
    """G_v = L (p_eff - p0) / (p0 - p_v) [1/(Pa s)]: the healthy marrow then sits at p0."""
    p_eff, p0 = fluid.effective_capillary_pressure(), fluid.target_pressure
    return fluid.capillary_filtration * (p_eff - p0) / (p0 - fluid.venous_pressure)


def trabecular_modulus(trabecular: Trabecular, relative_mineralisation=1.0, bone_volume_fraction=None):
    """E = E_tissue m^gamma_m (BV/TV)^n [Pa] (Hernandez et al. 2001); floats or UFL expressions.

    Healthy bone: m = 1 and BV/TV = ``trabecular.bone_volume_fraction``. With ``trabecular.youngs_modulus``
    set, that value is the healthy E and the lesion scales it: E = E_h m^gamma_m (BV/TV / BV/TV_h)^n.
    """
    healthy_bv_tv = trabecular.bone_volume_fraction
    bv_tv = healthy_bv_tv if bone_volume_fraction is None else bone_volume_fraction
    mineral = relative_mineralisation**trabecular.mineralisation_exponent
    if trabecular.youngs_modulus is None:
        return trabecular.tissue_modulus * mineral * bv_tv**trabecular.volume_fraction_exponent
    return trabecular.youngs_modulus * mineral * (bv_tv / healthy_bv_tv) ** trabecular.volume_fraction_exponent


def constrained_modulus(youngs_modulus: float, poisson_ratio: float) -> float:
    """K_dr + 4G/3 = E (1 - nu) / ((1 + nu)(1 - 2 nu)) [Pa]: the 1D (oedometric) drained modulus."""
    return youngs_modulus * (1.0 - poisson_ratio) / ((1.0 + poisson_ratio) * (1.0 - 2.0 * poisson_ratio))


def pressure_scale_Pa(config: Config) -> float:
    """P = K_dr + 4G/3 of healthy trabecular bone: the unknown is p_hat = p / P (both rows in momentum units)."""
    trabecular = config.tissue.trabecular
    return constrained_modulus(trabecular_modulus(trabecular), trabecular.poisson_ratio)


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


class LesionParameters:
    """The ``lesion_effects`` values (chi = 1) as Constants named like the config keys (SI units)."""

    def __init__(self, mesh, effects: LesionEffects) -> None:
        for name in type(effects).model_fields:
            setattr(self, name, fem.Constant(mesh, default_scalar_type(getattr(effects, name))))

    def set(self, effects: LesionEffects) -> None:
        for name in type(effects).model_fields:
            getattr(self, name).value = getattr(effects, name)


@dataclass(frozen=True)
class TissueFields:
    """Material coefficients as UFL expressions over the domain (SI units).

    ``chi`` (a P1 Function) and ``lesion`` (Constants) may be changed in place; every expression
    below follows, so forms built from them need no rebuilding (only reassembly).
    """

    chi: fem.Function  # lesion indicator, P1
    lesion: LesionParameters  # chi = 1 values
    capillary_pressure_rise: fem.Constant  # added to p_c everywhere [Pa] (e.g. venous occlusion), 0 by default
    venous_pressure_rise: fem.Constant  # added to p_v everywhere [Pa]
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
    dx: ufl.Measure  # cell measure of the balance laws' integrals, at solver.quadrature_degree

    def lame_parameters(self) -> tuple[ufl.core.expr.Expr, ufl.core.expr.Expr]:
        """mu = E / (2 (1 + nu)), lambda = E nu / ((1 + nu)(1 - 2 nu))."""
        E, nu = self.youngs_modulus, self.poisson_ratio
        return E / (2.0 * (1.0 + nu)), E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))

    def drained_bulk_modulus(self) -> ufl.core.expr.Expr:
        """K_dr = E / (3 (1 - 2 nu))."""
        return self.youngs_modulus / (3.0 * (1.0 - 2.0 * self.poisson_ratio))

    def set_lesions(self, lesions: Sequence[Lesion]) -> None:
        """Re-interpolate chi for new lesion geometry (size, position, mask)."""
        self.chi.interpolate(lambda x: lesion_indicator(lesions, x))

    def set_lesion_effects(self, effects: LesionEffects) -> None:
        """New chi = 1 parameter values (a disease-course state, a therapy)."""
        self.lesion.set(effects)


def build_tissue_fields(domain: Domain, config: Config, pressure_space: fem.FunctionSpace) -> TissueFields:
    """Interpolate chi into ``pressure_space`` and build every coefficient of the fluid and momentum balance."""
    domain.require(regions=[TRABECULAR])
    unknown = sorted(set(domain.regions) - set(REGIONS))
    if unknown:
        raise MeshError(
            f"mesh {domain.source}: region(s) {', '.join(map(repr, unknown))} have no material "
            f"(expected region names among {', '.join(REGIONS)})"
        )
    tissue, fluid = config.tissue, config.fluid
    lesion = LesionParameters(domain.mesh, config.lesion_effects)
    chi = fem.Function(pressure_space, name="chi")
    chi.interpolate(lambda x: lesion_indicator(config.lesions, x))
    check_masks_meet_the_mesh(domain.mesh, config.lesions)
    marrow = region_function(domain, {region: float(region == TRABECULAR) for region in REGIONS}, "marrow")
    chi_marrow = chi * marrow

    def linear(healthy: float, lesion_value) -> ufl.core.expr.Expr:
        return healthy + chi_marrow * (lesion_value - healthy)

    trab = tissue.trabecular
    lesion_modulus = trabecular_modulus(
        trab, linear(1.0, lesion.relative_mineralisation), linear(trab.bone_volume_fraction, lesion.bone_volume_fraction)
    )
    if config.ct_material is not None:  # the patient's healthy modulus from CT, scaled by the lesion (docs/images.md)
        from bmes_fem.imaging.material import healthy_trabecular_modulus

        healthy = trabecular_modulus(trab)
        lesion_modulus = lesion_modulus / healthy * healthy_trabecular_modulus(domain, config, healthy)
    regions = {TRABECULAR: trab, CORTICAL: tissue.cortical, SUBCHONDRAL: tissue.subchondral_plate, PHYSEAL_SCAR: tissue.physeal_scar}
    solid_modulus = region_function(domain, {r: s.youngs_modulus for r, s in regions.items() if r != TRABECULAR}, "E_solid")
    permeability = region_function(domain, {r: s.permeability for r, s in regions.items()}, "permeability")
    g_v_healthy = calibrate_venous_conductance(fluid)
    reflection = linear(fluid.reflection_coefficient, lesion.reflection_coefficient)
    capillary_rise, venous_rise = (fem.Constant(domain.mesh, default_scalar_type(0.0)) for _ in range(2))
    oncotic_interstitial = linear(fluid.interstitial_oncotic_pressure, lesion.interstitial_oncotic_pressure)
    return TissueFields(
        chi=chi,
        lesion=lesion,
        capillary_pressure_rise=capillary_rise,
        venous_pressure_rise=venous_rise,
        marrow=marrow,
        youngs_modulus=marrow * lesion_modulus + (1.0 - marrow) * solid_modulus,
        poisson_ratio=region_function(domain, {r: s.poisson_ratio for r, s in regions.items()}, "nu"),
        biot_coefficient=region_function(domain, {r: s.biot_coefficient for r, s in regions.items()}, "alpha"),
        mobility=permeability / tissue.fluid_viscosity * lesion.mobility_factor**chi_marrow,
        filtration=marrow * fluid.capillary_filtration * lesion.filtration_factor**chi_marrow,
        venous_conductance=marrow * g_v_healthy * lesion.venous_outflow_factor**chi_marrow,
        effective_capillary_pressure=linear(fluid.capillary_pressure, lesion.capillary_pressure) + capillary_rise
        - reflection * (fluid.plasma_oncotic_pressure - oncotic_interstitial),
        venous_pressure=linear(fluid.venous_pressure, lesion.venous_pressure) + venous_rise,
        storage=region_function(domain, {r: 1.0 / s.biot_modulus for r, s in regions.items()}, "inverse_M")
        + marrow * fluid.vascular_storage,
        healthy_venous_conductance=g_v_healthy,
        dx=cell_measure(domain, config.solver.quadrature_degree),
    )
