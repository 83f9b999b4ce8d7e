"""Tissue fields: region properties, the lesion indicator chi and the lesion-modified parameters.

Healthy values hold where chi = 0, the ``lesion_effects`` values where chi = 1:

- log-scaled quantities blend geometrically, ``L = L_h f_L^chi``, ``G_v = G_v,h f_v^chi``, the blood
  throughflow's ``G_b = G_b,h f_v^chi`` (the lesion's venous outflow factor acts on both), ``kappa = kappa_h f_kappa^chi``;
- pressures, the reflection coefficient, mineralisation and BV/TV blend linearly,
  ``q = q_h + chi (q_l - q_h)``;
- trabecular modulus ``E = E_tissue m^gamma_m (BV/TV)^n`` (Hernandez et al. 2001) or
  ``E = a m^gamma_m (rho_tissue BV/TV / rho_ref)^b`` (a density power law), `trabecular_modulus`, with the
  healthy BV/TV uniform or blended towards regional bands (`healthy_bone_volume_fraction`);
- the skeleton's constitutive law (`skeleton_elasticity`): isotropic, or transversely isotropic in trabecular
  bone about the fabric axis (bmes_fem.physics.elasticity);
- with ``ct_material`` the patient's CT modulus E_T per cell is the healthy trabecular modulus, times the
  lesion's factor E(m, BV/TV(chi)) / E(1, BV/TV_h) (docs/images.md);
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
from bmes_fem.physics.boundary_conditions import cell_measure, exchange_measure
from bmes_fem.physics.elasticity import (
    ElasticLaw,
    IsotropicElasticity,
    TransverselyIsotropicElasticity,
    blend,
    huber_shear_modulus,
)
from bmes_fem.physics.imaging import MM_PER_M, mask_indicator
from bmes_fem.physics.indicators import ellipsoid_indicator, region_indicator, shape_indicator

TRABECULAR, CORTICAL, SUBCHONDRAL, PHYSEAL_SCAR = "trabecular", "cortical", "subchondral_plate", "physeal_scar"
REGIONS = (TRABECULAR, CORTICAL, SUBCHONDRAL, PHYSEAL_SCAR)


def lesion_indicator(lesions: Sequence[Lesion], x_m: np.ndarray) -> np.ndarray:
    """chi(x) = max over the lesions of each one's indicator at points ``x_m`` (shape (3, N)).

    An ellipsoid lesion contributes (1 - tanh((r_e - 1) a_min / w)) / 2 (r_e its ellipsoidal radius, 1 on its
    surface, a_min its smallest semi-axis, w its falloff width): 0.5 on the surface, 0.88 at a distance w inside
    and 0.12 at w outside along the smallest axis. A region lesion contributes U (1 - V), the union of its parts
    minus that of its spared parts (bmes_fem.physics.indicators); a mask lesion its blurred voxel mask
    (bmes_fem.physics.imaging.mask_indicator).
    """
    chi = np.zeros(x_m.shape[1])
    for lesion in lesions:
        if lesion.kind == "mask":
            one = mask_indicator(read_mask(lesion.mask, lesion.label), x_m, lesion.smoothing_width)
        elif lesion.kind == "region":
            one = region_indicator(lesion.parts, lesion.spared, x_m, lesion.falloff_width)
        else:
            one = ellipsoid_indicator(x_m, lesion.centre, lesion.semi_axes, lesion.rotation, lesion.falloff_width)
        chi = np.maximum(chi, one)
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


def blood_conductance(fluid: Fluid) -> float:
    """G_b = F / (p0 - p_v) [1/(Pa s)]: the healthy blood flow F [1/s] leaves through the veins against the
    healthy gap p0 - p_v, so each Pa of excess over it drives G_b more venous outflow."""
    return fluid.blood_flow / (fluid.target_pressure - fluid.venous_pressure)


def largest_filtration_rate_per_s(config: Config) -> float:
    """max L / S over the marrow [1/s], L = L_h f_L^chi, S = 1/M + c_vasc of trabecular bone: the largest at chi = 0 or 1
    (healthy marrow, or full lesion when there are lesions)."""
    fluid = config.fluid
    factor = max(1.0, config.lesion_effects.filtration_factor) if config.lesions else 1.0
    return fluid.capillary_filtration * factor / (1.0 / config.tissue.trabecular.biot_modulus + fluid.vascular_storage)


def trabecular_modulus(trabecular: Trabecular, relative_mineralisation=1.0, bone_volume_fraction=None):
    """The trabecular modulus E [Pa] (E_L along the fabric axis); floats or UFL expressions.

    ``hernandez``: E = E_tissue m^gamma_m (BV/TV)^n (Hernandez et al. 2001); ``density_power``:
    E = a m^gamma_m (rho_tissue BV/TV / rho_ref)^b. Healthy bone: m = 1 and BV/TV = ``trabecular.bone_volume_fraction``.
    With ``trabecular.youngs_modulus`` set, that value is the healthy E and the lesion and the bands scale it:
    E = E_h m^gamma_m (BV/TV / BV/TV_h)^n (n = b for the density law).
    """
    healthy_bv_tv = trabecular.bone_volume_fraction
    bv_tv = healthy_bv_tv if bone_volume_fraction is None else bone_volume_fraction
    mineral = relative_mineralisation**trabecular.mineralisation_exponent
    if trabecular.youngs_modulus is not None:
        return trabecular.youngs_modulus * mineral * (bv_tv / healthy_bv_tv) ** trabecular.modulus_exponent()
    if trabecular.modulus_law == "density_power":
        law = trabecular.density_power
        return law.coefficient * mineral * (law.tissue_density * bv_tv / law.reference_density) ** law.exponent
    return trabecular.tissue_modulus * mineral * bv_tv**trabecular.volume_fraction_exponent


def healthy_bone_volume_fraction(trabecular: Trabecular, x_m: np.ndarray) -> np.ndarray:
    """BV/TV_h(x): ``bone_volume_fraction``, then BV/TV <- BV/TV + w_i (BV/TV_i - BV/TV) for each band i in order."""
    bv_tv = np.full(x_m.shape[1], trabecular.bone_volume_fraction)
    for band in trabecular.bone_volume_fraction_bands:
        bv_tv += shape_indicator(band, x_m, band.falloff_width) * (band.bone_volume_fraction - bv_tv)
    return bv_tv


def skeleton_elasticity(
    trabecular: Trabecular, axis: Sequence[float] | None, marrow: fem.Function, trabecular_modulus_Pa, solid_modulus_Pa, poisson_ratio
) -> ElasticLaw:
    """The constitutive law of the drained skeleton over every region.

    No fabric: isotropic, E = 1_m E_trab + (1 - 1_m) E_solid (1_m: ``marrow``, 1 in trabecular bone) and nu per region.
    A fabric: transversely isotropic in trabecular bone about the unit vector ``axis`` (`fabric_axis`), with
    E_L = E_trab, E_T = E_L / r, nu_LT, nu_TT and G_LT = ``shear_modulus_ratio`` E_L or Huber's approximation;
    the other regions stay isotropic (`blend`).
    """
    if trabecular.fabric is None:
        return IsotropicElasticity.from_youngs_modulus(
            marrow * trabecular_modulus_Pa + (1.0 - marrow) * solid_modulus_Pa, poisson_ratio
        )
    fabric = trabecular.fabric
    nu_LT, nu_TT = trabecular.fabric_poisson_ratios()
    shear_ratio = fabric.shear_modulus_ratio
    if shear_ratio is None:
        shear_ratio = huber_shear_modulus(1.0, 1.0 / fabric.anisotropy_ratio, nu_LT)
    a = ufl.as_vector(axis)
    oriented = TransverselyIsotropicElasticity.from_engineering_constants(
        a, youngs_modulus_L=trabecular_modulus_Pa, youngs_modulus_T=trabecular_modulus_Pa / fabric.anisotropy_ratio,
        poisson_ratio_LT=nu_LT, poisson_ratio_TT=nu_TT, shear_modulus_LT=shear_ratio * trabecular_modulus_Pa,
    )  # fmt: skip
    return blend(marrow, oriented, IsotropicElasticity.from_youngs_modulus(solid_modulus_Pa, poisson_ratio).as_transversely_isotropic(a))


def fabric_axis(config: Config) -> tuple[float, float, float] | None:
    """The unit fabric axis a: ``tissue.trabecular.fabric.axis``, or the joint force's direction; None without a fabric."""
    fabric = config.tissue.trabecular.fabric
    if fabric is None:
        return None
    return config.load.direction if fabric.axis == "joint_force" else fabric.axis


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
    elasticity: ElasticLaw  # sigma'(eps) of the drained skeleton
    biot_coefficient: fem.Function  # alpha [-]
    mobility: ufl.core.expr.Expr  # kappa = k / eta [m^2/(Pa s)]
    filtration: ufl.core.expr.Expr  # L = Lp S/V [1/(Pa s)]
    venous_conductance: ufl.core.expr.Expr  # G_v [1/(Pa s)]
    blood_conductance: ufl.core.expr.Expr | float  # G_b f_v^chi in marrow [1/(Pa s)] (transients only); 0.0 without blood flow
    effective_capillary_pressure: ufl.core.expr.Expr  # p_eff = p_c - sigma_r (pi_c - pi_i) [Pa]
    venous_pressure: ufl.core.expr.Expr  # p_v [Pa]
    storage: ufl.core.expr.Expr  # S = 1/M + c_vasc (marrow only) [1/Pa]
    healthy_venous_conductance: float  # calibrated G_v,h [1/(Pa s)]
    dx: ufl.Measure  # cell measure of the balance laws' integrals, at solver.quadrature_degree
    exchange_dx: ufl.Measure  # cell measure of the exchange terms L, G_v (solver.exchange_quadrature)

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

    def linear(healthy: float | fem.Function, lesion_value) -> ufl.core.expr.Expr:
        return healthy + chi_marrow * (lesion_value - healthy)

    trab = tissue.trabecular
    healthy_bv_tv = trab.bone_volume_fraction
    if trab.bone_volume_fraction_bands:
        healthy_bv_tv = fem.Function(pressure_space, name="bone_volume_fraction")
        healthy_bv_tv.interpolate(lambda x: healthy_bone_volume_fraction(trab, x))
    lesion_modulus = trabecular_modulus(
        trab, linear(1.0, lesion.relative_mineralisation), linear(healthy_bv_tv, lesion.bone_volume_fraction)
    )
    if config.ct_material is not None:  # the patient's healthy modulus from CT, scaled by the lesion (docs/images.md)
        from bmes_fem.imaging.material import healthy_trabecular_modulus

        patient = healthy_trabecular_modulus(domain, config, trabecular_modulus(trab))
        lesion_modulus = lesion_modulus / trabecular_modulus(trab, 1.0, healthy_bv_tv) * patient
    regions = {TRABECULAR: trab, CORTICAL: tissue.cortical, SUBCHONDRAL: tissue.subchondral_plate, PHYSEAL_SCAR: tissue.physeal_scar}
    solid_modulus = region_function(domain, {r: s.youngs_modulus for r, s in regions.items() if r != TRABECULAR}, "E_solid")
    permeability = region_function(domain, {r: s.permeability for r, s in regions.items()}, "permeability")
    g_v_healthy = calibrate_venous_conductance(fluid)
    reflection = linear(fluid.reflection_coefficient, lesion.reflection_coefficient)
    capillary_rise, venous_rise = (fem.Constant(domain.mesh, default_scalar_type(0.0)) for _ in range(2))
    poisson_ratio = region_function(domain, {r: s.poisson_ratio for r, s in regions.items()}, "nu")
    oncotic_interstitial = linear(fluid.interstitial_oncotic_pressure, lesion.interstitial_oncotic_pressure)
    return TissueFields(
        chi=chi,
        lesion=lesion,
        capillary_pressure_rise=capillary_rise,
        venous_pressure_rise=venous_rise,
        marrow=marrow,
        elasticity=skeleton_elasticity(trab, fabric_axis(config), marrow, lesion_modulus, solid_modulus, poisson_ratio),
        biot_coefficient=region_function(domain, {r: s.biot_coefficient for r, s in regions.items()}, "alpha"),
        mobility=permeability / tissue.fluid_viscosity * lesion.mobility_factor**chi_marrow,
        filtration=marrow * fluid.capillary_filtration * lesion.filtration_factor**chi_marrow,
        venous_conductance=marrow * g_v_healthy * lesion.venous_outflow_factor**chi_marrow,
        blood_conductance=marrow * blood_conductance(fluid) * lesion.venous_outflow_factor**chi_marrow if fluid.blood_flow else 0.0,
        effective_capillary_pressure=linear(fluid.capillary_pressure, lesion.capillary_pressure) + capillary_rise
        - reflection * (fluid.plasma_oncotic_pressure - oncotic_interstitial),
        venous_pressure=linear(fluid.venous_pressure, lesion.venous_pressure) + venous_rise,
        storage=region_function(domain, {r: 1.0 / s.biot_modulus for r, s in regions.items()}, "inverse_M")
        + marrow * fluid.vascular_storage,
        healthy_venous_conductance=g_v_healthy,
        dx=cell_measure(domain, config.solver.quadrature_degree),
        exchange_dx=exchange_measure(domain, config.solver),
    )
