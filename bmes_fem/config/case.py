"""The case configuration: YAML validated into typed, unit-resolved objects (all SI inside).

Every value may carry a unit (``"25 mmHg"``, ``"24 mm"``, ``"2.4 BW"``); a bare number is SI.
Every key has a default taken from the literature (sources in README.md, "Parameters").
Unknown keys, wrong dimensions and non-physical values raise :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import yaml
from pydantic import (
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from bmes_fem.config.boundary_conditions import Condition, Sources, bone_defaults, check_conditions
from bmes_fem.config.course import Course
from bmes_fem.config.geometry import (
    GEOMETRY_KINDS,
    Geometry,
    MeshSettings,
    default_geometry,
)
from bmes_fem.config.images import CtMaterial, ImageOutput
from bmes_fem.config.schema import (
    Angle,
    Area,
    Compliance,
    Fraction,
    InputPath,
    Length,
    Mass,
    Point3,
    Positive,
    PositiveDensity,
    PositiveLength,
    PositivePressure,
    Pressure,
    Rate,
    RatePerPressure,
    Section,
    Vector3,
    Viscosity,
    check_input,
    mmHg,
    reads_inputs,
)
from bmes_fem.config.transient import Transient
from bmes_fem.config.verification import Verification
from bmes_fem.inputs.masks import read_mask
from bmes_fem.units import PA_PER_MMHG, force_to_newton, format_si


class EllipsoidShape(Section):
    """Ellipsoid |diag(1/a) Q^T (x - c)| <= 1: centre c, semi-axes a, Q the intrinsic z-y'-x'' rotation by ``rotation``."""

    kind: Literal["ellipsoid"]
    centre: Point3
    semi_axes: tuple[PositiveLength, PositiveLength, PositiveLength]
    rotation: tuple[Angle, Angle, Angle] = (0.0, 0.0, 0.0)

    def reference_point(self) -> Point3:
        """The centre."""
        return self.centre

    def bounding_ball(self) -> tuple[Point3, float]:
        """(centre, radius) [m] of a ball holding the shape: the centre and the largest semi-axis."""
        return self.centre, max(self.semi_axes)

    def scaled_about(self, origin: Point3, factor: float) -> EllipsoidShape:
        """The image under x -> o + f (x - o): centre moved, semi-axes times f, rotation kept."""
        return self.model_copy(update={"centre": _scaled_point(self.centre, origin, factor),
                                       "semi_axes": tuple(a * factor for a in self.semi_axes)})


class HalfSpaceShape(Section):
    """Half-space (x - p) . n <= 0: the side of the plane through ``point`` p that its outward ``normal`` n points
    away from (only the direction of n counts). On a bone it is "the bone on one side of a plane"."""

    kind: Literal["half_space"]
    point: Point3
    normal: Vector3

    @field_validator("normal")
    @classmethod
    def _non_zero_normal(cls, value: Vector3) -> Vector3:
        if not any(value):
            raise ValueError(f"{list(value)} is not a direction; expected a non-zero vector (the plane's outward normal)")
        return value

    def reference_point(self) -> Point3:
        """The point on the plane."""
        return self.point

    def bounding_ball(self) -> None:
        """None: a half-space is unbounded."""
        return None

    def scaled_about(self, origin: Point3, factor: float) -> HalfSpaceShape:
        """The image under x -> o + f (x - o): the plane's point moved, its normal kept."""
        return self.model_copy(update={"point": _scaled_point(self.point, origin, factor)})


class CapsuleShape(Section):
    """Capsule: the points within ``radius`` r of the segment [``start``, ``end``] (a ball when start = end)."""

    kind: Literal["capsule"]
    start: Point3
    end: Point3
    radius: PositiveLength

    def reference_point(self) -> Point3:
        """The midpoint of the segment."""
        return tuple((p + q) / 2 for p, q in zip(self.start, self.end, strict=True))

    def bounding_ball(self) -> tuple[Point3, float]:
        """(midpoint, |end - start| / 2 + r) [m]: a ball holding the capsule."""
        return self.reference_point(), math.dist(self.start, self.end) / 2 + self.radius

    def scaled_about(self, origin: Point3, factor: float) -> CapsuleShape:
        """The image under x -> o + f (x - o): both ends moved, radius times f."""
        return self.model_copy(update={"start": _scaled_point(self.start, origin, factor),
                                       "end": _scaled_point(self.end, origin, factor), "radius": self.radius * factor})


def _scaled_point(point: Point3, origin: Point3, factor: float) -> Point3:
    """o + f (x - o)."""
    return tuple(o + factor * (x - o) for x, o in zip(point, origin, strict=True))


#: a shape with a smooth indicator (bmes_fem.physics.indicators): a region lesion's parts and spared parts
Shape = Annotated[EllipsoidShape | HalfSpaceShape | CapsuleShape, Field(discriminator="kind")]
_SHAPE_ADAPTER = TypeAdapter(Shape)
_ELLIPSOID_OR_MASK_KEYS = ("name", "kind", "centre", "semi_axes", "rotation", "falloff_width", "mask", "label", "smoothing_width")
#: the keys each lesion kind takes (a key of another kind is an error, and left out of the resolved config)
LESION_KEYS = {
    "ellipsoid": _ELLIPSOID_OR_MASK_KEYS, "mask": _ELLIPSOID_OR_MASK_KEYS,
    "region": ("name", "kind", "centre", "falloff_width", "parts", "spared"),
}


class Lesion(Section):
    """A lesion, by ``kind``:

    - ``ellipsoid``: chi = (1 - tanh((r_e - 1) a_min / w)) / 2 (r_e the ellipsoidal radius, a_min the smallest
      semi-axis, w ``falloff_width``);
    - ``mask``: a voxel mask (NIfTI, world coordinates in mm) blurred over ``smoothing_width``. It holds each
      voxel's share in [0, 1], or is an integer label image whose voxels equal to ``label`` are the lesion
      (bmes_fem.inputs.masks); ``centre`` and ``semi_axes`` still place the finer mesh and the figures' cut;
    - ``region``: chi = U (1 - V), U the largest indicator of the ``parts``, V that of the ``spared`` parts, each
      a shape (ellipsoid, half_space, capsule) with a smooth indicator of width w (bmes_fem.physics.indicators):
      the oedema of a clinical pattern, e.g. the femoral head and neck minus the medial head. ``centre`` (where
      the figures cut and about which a course's lesion_scale scales) defaults to the first part's reference
      point (an ellipsoid's centre, a capsule's midpoint, a half-space's point).
    """

    name: str = "lesion"
    kind: Literal["ellipsoid", "mask", "region"] = "ellipsoid"
    centre: Point3 = (0.004, 0.004, 0.010)
    semi_axes: tuple[PositiveLength, PositiveLength, PositiveLength] = (0.010, 0.008, 0.008)
    rotation: tuple[Angle, Angle, Angle] = (0.0, 0.0, 0.0)
    falloff_width: PositiveLength = 0.002
    mask: InputPath | None = None
    label: int | None = None
    smoothing_width: Annotated[Length, Field(ge=0.0)] = 0.001
    parts: tuple[Shape, ...] = ()
    spared: tuple[Shape, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _region_centre(cls, data: object) -> object:
        """A region lesion without ``centre`` gets its first part's reference point (a first part that does not
        validate is left for its own error)."""
        if not (isinstance(data, dict) and data.get("kind") == "region" and "centre" not in data and data.get("parts")):
            return data
        try:
            first = _SHAPE_ADAPTER.validate_python(data["parts"][0])
        except (ValidationError, KeyError, TypeError):
            return data
        return {**data, "centre": first.reference_point()}

    @model_validator(mode="after")
    def _keys_of_the_kind(self, info: ValidationInfo) -> Lesion:
        wrong = [key for key in type(self).model_fields if key in self.model_fields_set and key not in LESION_KEYS[self.kind]]
        if wrong and self.kind == "region":
            raise ValueError(f"lesion '{self.name}': {wrong[0]} is set, but kind = 'region', whose keys are "
                             f"{', '.join(LESION_KEYS['region'])}")
        if wrong:
            raise ValueError(f"lesion '{self.name}': {wrong[0]} is set, but kind = '{self.kind}'; parts and spared belong "
                             "to kind: region")
        if self.kind == "region" and not self.parts:
            raise ValueError(f"lesion '{self.name}': kind = 'region' needs parts (at least one shape: ellipsoid, "
                             "half_space or capsule); spared parts are taken away from the parts")
        if self.kind != "mask":
            if self.label is not None:
                raise ValueError(f"lesion '{self.name}': label = {self.label} is set, but kind = '{self.kind}'; a label picks a mask's voxels")
            return self
        if self.mask is None:
            raise ValueError(f"lesion '{self.name}': kind = 'mask' needs mask (a NIfTI voxel mask file)")
        if reads_inputs(info):
            check_input(lambda: read_mask(self.mask, self.label))
        return self

    @model_serializer(mode="wrap")
    def _keys_of_its_kind(self, handler: SerializerFunctionWrapHandler) -> dict:
        """The resolved lesion holds the keys of its kind only, so it validates back to an equal Lesion."""
        return {key: value for key, value in handler(self).items() if key in LESION_KEYS[self.kind]}


class LesionEffects(Section):
    """Parameter values at chi = 1 (combined BMES set, parameters.md 3.4); blended by chi."""

    filtration_factor: Positive = 3.928
    reflection_coefficient: Fraction = 0.667
    interstitial_oncotic_pressure: Pressure = mmHg(12.0)
    capillary_pressure: Pressure = mmHg(61.17)
    venous_pressure: Pressure = mmHg(25.0)
    venous_outflow_factor: Positive = 0.3147
    mobility_factor: Positive = 1.0
    relative_mineralisation: Annotated[float, Field(gt=0.0, le=1.5)] = 0.85
    bone_volume_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.28


class Fluid(Section):
    """Healthy Starling exchange and venous drainage in trabecular marrow (parameters.md 0, 3.4), and whether the
    capillaries take fluid back where the pore pressure exceeds the Starling equilibrium (``capillary_reabsorption``)."""

    target_pressure: PositivePressure = mmHg(25.0)
    capillary_pressure: PositivePressure = mmHg(45.0)
    plasma_oncotic_pressure: Pressure = mmHg(25.0)
    interstitial_oncotic_pressure: Pressure = mmHg(8.0)
    reflection_coefficient: Fraction = 0.85
    capillary_filtration: Annotated[RatePerPressure, Field(ge=0.0)] = 5.888e-9  # 0: no marrow exchange
    venous_pressure: Pressure = mmHg(15.0)
    vascular_storage: Annotated[Compliance, Field(ge=0.0)] = 2.32e-7
    # marrow blood flow per tissue volume [1/s] (e.g. "0.04 mL/min/mL"); 0: no blood throughflow term. In a transient,
    # an excess of p over the run's initial state drives extra venous blood outflow G_b = F / (p0 - p_v) per Pa
    # (docs/model.md 4.8); the steady balances do not see it
    blood_flow: Annotated[Rate, Field(ge=0.0)] = 0.0
    # true: q_cap = L (p_eff - p), absorbing where p > p_eff; false: q_cap = L (p_eff - p)^+, filtration only
    # (revised Starling principle, Levick & Michel 2010; docs/model.md 4.6)
    capillary_reabsorption: bool = False

    def effective_capillary_pressure(self) -> float:
        """p_eff = p_c - sigma_r (pi_c - pi_i) [Pa]: the Starling equilibrium pressure."""
        return self.capillary_pressure - self.reflection_coefficient * (
            self.plasma_oncotic_pressure - self.interstitial_oncotic_pressure
        )

    @model_validator(mode="after")
    def _orderable(self) -> Fluid:
        p_eff, p0, p_v = self.effective_capillary_pressure(), self.target_pressure, self.venous_pressure
        if not p_v < p0:
            raise ValueError(
                f"fluid.venous_pressure = {p_v / PA_PER_MMHG:.4g} mmHg must be below "
                f"fluid.target_pressure = {p0 / PA_PER_MMHG:.4g} mmHg (drainage needs p_v < p0)"
            )
        if not p0 < p_eff:
            raise ValueError(
                f"fluid.target_pressure = {p0 / PA_PER_MMHG:.4g} mmHg must be below the Starling "
                f"equilibrium p_c - sigma_r (pi_c - pi_i) = {p_eff / PA_PER_MMHG:.4g} mmHg"
            )
        return self


class _RegionBase(Section):
    poisson_ratio: Annotated[float, Field(gt=-1.0, lt=0.5)] = 0.3
    permeability: Annotated[Area, Field(gt=0.0)] = 1.0e-16
    biot_modulus: PositivePressure  # M, 1/M = phi/K_f + (alpha - phi)/K_s


class DensityPowerLaw(Section):
    """E = a m^gamma_m (rho_app / rho_ref)^b with rho_app = rho_tissue BV/TV, the apparent wet density.

    Defaults: femoral-neck trabecular bone, E = 6850 MPa rho_app^1.49 with rho_app in g/cm^3 (Morgan, Bayraktar &
    Keaveny 2003, J Biomech 36:897), tissue density 2.0 g/cm^3: 3.2 GPa at BV/TV 0.30 along the loaded axis.
    """

    coefficient: PositivePressure = 6850.0e6  # a: E at rho_app = rho_ref
    exponent: Positive = 1.49  # b
    tissue_density: PositiveDensity = 2000.0  # rho_tissue
    reference_density: PositiveDensity = 1000.0  # rho_ref, the density unit of the regression


class TransverseIsotropy(Section):
    """Trabecular fabric: transversely isotropic about ``axis`` (bmes_fem.physics.elasticity), E_L from the modulus
    law, E_T = E_L / ``anisotropy_ratio``, G_LT = ``shear_modulus_ratio`` E_L.

    ``axis``: a vector, or ``joint_force``, the direction of ``load.direction`` (into the bone).
    ``poisson_ratio_LT``/``poisson_ratio_TT`` null: the region's ``poisson_ratio``. ``shear_modulus_ratio`` null:
    Huber's approximation G_LT = sqrt(E_L E_T) / (2 (1 + sqrt(nu_LT nu_TL))) (Huber 1923).
    """

    axis: Vector3 | Literal["joint_force"]
    anisotropy_ratio: Annotated[float, Field(ge=1.0)]  # E_L / E_T: the axis is the stiff direction
    poisson_ratio_LT: Annotated[float, Field(ge=0.0)] | None = None
    poisson_ratio_TT: Annotated[float, Field(ge=0.0)] | None = None
    shear_modulus_ratio: Positive | None = None  # G_LT / E_L

    @field_validator("axis", mode="before")
    @classmethod
    def _vector_or_joint_force(cls, value: object) -> object:
        if value != "joint_force" and not (isinstance(value, (list, tuple)) and len(value) == 3):
            raise ValueError(f"tissue.trabecular.fabric.axis = {value!r}; expected a vector [x, y, z] or joint_force")
        return value

    @field_validator("axis")
    @classmethod
    def _unit_axis(cls, value: Vector3 | str) -> Vector3 | str:
        if isinstance(value, str):
            return value
        norm = math.sqrt(sum(c * c for c in value))
        if norm == 0.0:
            raise ValueError("tissue.trabecular.fabric.axis = [0, 0, 0]; expected a non-zero vector or joint_force")
        return tuple(c / norm for c in value)


class _Band(Section):
    """A part of the trabecular bone with its own BV/TV, blended in by w = (1 - tanh(d / w_f)) / 2, d the distance
    outside its surface (negative inside; for an ellipsoid (r_e - 1) a_min, as for a lesion): w = 0.5 on the
    surface, 0.88 at ``falloff_width`` inside, 0.12 at ``falloff_width`` outside."""

    name: str = "band"
    bone_volume_fraction: Annotated[float, Field(gt=0.0, lt=1.0)]
    falloff_width: PositiveLength = 0.002


class EllipsoidBand(_Band, EllipsoidShape):
    """An ellipsoid band (the shape of bmes_fem.physics.indicators, as a lesion part)."""


class CapsuleBand(_Band, CapsuleShape):
    """The points within ``radius`` of the segment [``start``, ``end``]: a trabecular group (e.g. the principal
    compressive group, from the superior dome to the medial neck cortex)."""


Band = Annotated[EllipsoidBand | CapsuleBand, Field(discriminator="kind")]


class Trabecular(_RegionBase):
    """Trabecular bone: the modulus law, fabric and regional BV/TV; marrow exchange inside.

    ``modulus_law``: ``hernandez``, E = E_tissue m^gamma_m (BV/TV)^n (Hernandez 2001), or ``density_power``,
    E = a m^gamma_m (rho_tissue BV/TV / rho_ref)^b (``density_power``). With a ``fabric`` E is E_L, along its axis.
    ``youngs_modulus`` (optional) replaces the healthy E of that law by a measured or benchmark value;
    the lesion still scales it by m^gamma_m (BV/TV_lesion / BV/TV)^n (n = b for the density law).
    BV/TV is ``bone_volume_fraction`` blended towards each of ``bone_volume_fraction_bands`` in turn
    (BV/TV <- BV/TV + w_i (BV/TV_i - BV/TV): a later band wins where two overlap).
    """

    tissue_modulus: PositivePressure = 18.0e9
    youngs_modulus: PositivePressure | None = None
    bone_volume_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.30
    volume_fraction_exponent: Positive = 2.58
    mineralisation_exponent: Positive = 2.74
    modulus_law: Literal["hernandez", "density_power"] = "density_power"
    density_power: DensityPowerLaw = DensityPowerLaw()
    fabric: TransverseIsotropy | None = None
    bone_volume_fraction_bands: tuple[Band, ...] = ()
    biot_coefficient: Fraction = 0.95
    permeability: Annotated[Area, Field(gt=0.0)] = 4.5e-18  # k / mu = 6.4e-15 m^2/(Pa s), Baxter & Jain 1989
    biot_modulus: PositivePressure = 3.1e9

    def modulus_exponent(self) -> float:
        """The exponent of BV/TV in the modulus law: n (hernandez) or b (density_power)."""
        return self.density_power.exponent if self.modulus_law == "density_power" else self.volume_fraction_exponent

    def fabric_poisson_ratios(self) -> tuple[float, float]:
        """(nu_LT, nu_TT) of the fabric, the region's ``poisson_ratio`` where not given."""
        fabric = self.fabric
        return tuple(self.poisson_ratio if nu is None else nu for nu in (fabric.poisson_ratio_LT, fabric.poisson_ratio_TT))

    @model_validator(mode="after")
    def _fabric_positive_definite(self) -> Trabecular:
        """|nu_TT| < 1 and nu_LT^2 < (1 - nu_TT) E_L / (2 E_T) (Lempriere 1968): otherwise C is not positive definite."""
        if self.fabric is None:
            return self
        nu_LT, nu_TT = self.fabric_poisson_ratios()
        ratio = self.fabric.anisotropy_ratio
        if min(nu_LT, nu_TT) < 0.0:
            raise ValueError(
                f"tissue.trabecular.poisson_ratio = {self.poisson_ratio:g} is the fabric's poisson_ratio_LT/TT where they are "
                "not given; expected >= 0 (Huber's shear modulus and trabecular bone)"
            )
        if not nu_TT < 1.0:
            raise ValueError(
                f"tissue.trabecular.fabric.poisson_ratio_TT = {nu_TT:g} makes the stiffness indefinite (expected < 1)"
            )
        if not nu_LT**2 < (1.0 - nu_TT) * ratio / 2.0:
            raise ValueError(
                f"tissue.trabecular.fabric: poisson_ratio_LT = {nu_LT:g} with poisson_ratio_TT = {nu_TT:g} and "
                f"anisotropy_ratio = {ratio:g} makes the stiffness indefinite (expected poisson_ratio_LT^2 < "
                f"(1 - poisson_ratio_TT) anisotropy_ratio / 2 = {(1.0 - nu_TT) * ratio / 2.0:g})"
            )
        return self


class SolidRegion(_RegionBase):
    """A region with a given drained Young's modulus and no marrow exchange."""

    youngs_modulus: PositivePressure
    biot_coefficient: Fraction


class Tissue(Section):
    trabecular: Trabecular = Trabecular()
    cortical: SolidRegion = SolidRegion(youngs_modulus=17.0e9, biot_coefficient=0.3, biot_modulus=26.0e9)
    subchondral_plate: SolidRegion = SolidRegion(youngs_modulus=2.0e9, biot_coefficient=0.5, biot_modulus=14.0e9)
    physeal_scar: SolidRegion = SolidRegion(
        youngs_modulus=1.5e9, biot_coefficient=0.7, biot_modulus=14.0e9, permeability=1.0e-16
    )
    fluid_viscosity: Annotated[Viscosity, Field(gt=0.0)] = 0.7e-3  # water at 37 C


class ContactPatch(Section):
    """A share of the joint force spread as w = max(1 - |x - c|^2 / r^2, 0) around a surface point c."""

    centre: Point3
    radius: PositiveLength
    fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0


class JointLoad(Section):
    """Joint contact force F on the articular surface.

    Without ``contact_patches`` F is spread over a cosine cap (``contact_half_angle``) around the point
    where F enters a spherical head centred at ``head_centre``; with patches, each carries its fraction.
    """

    body_mass: Annotated[Mass, Field(gt=0.0)] = 75.0
    force: Annotated[float, Field(ge=0.0), PlainSerializer(lambda v: format_si(v, "force"), return_type=str)] = (
        2.38 * 75.0 * 9.80665
    )
    direction: Vector3 = (-math.sin(math.radians(16.0)), 0.0, -math.cos(math.radians(16.0)))
    contact_half_angle: Angle = math.radians(30.0)
    head_centre: Point3 = (0.0, 0.0, 0.0)
    contact_patches: tuple[ContactPatch, ...] = ()

    @field_validator("force", mode="before")
    @classmethod
    def _force_in_newton(cls, value: object, info: ValidationInfo) -> float:
        return force_to_newton(value, info.data.get("body_mass", 75.0))

    @field_validator("direction")
    @classmethod
    def _unit_direction(cls, value: Vector3) -> Vector3:
        norm = math.sqrt(sum(c * c for c in value))
        if norm == 0.0:
            raise ValueError("load.direction must be a non-zero vector")
        return tuple(c / norm for c in value)

    @field_validator("contact_patches")
    @classmethod
    def _fractions_sum_to_one(cls, patches: tuple[ContactPatch, ...]) -> tuple[ContactPatch, ...]:
        total = sum(patch.fraction for patch in patches)
        if patches and abs(total - 1.0) > 1e-9:
            raise ValueError(f"the fractions of load.contact_patches add up to {total:g}; expected 1")
        return patches

    def force_vector_N(self) -> tuple[float, float, float]:
        return tuple(self.force * c for c in self.direction)


class Risk(Section):
    """R = max(eps_1 / eps_yt, -eps_3 / eps_yc) in trabecular bone (femoral neck, Morgan & Keaveny 2001);
    ``microdamage_strain``: the effective strain max(|eps_1|, |eps_3|) above which trabecular volume is reported
    (Frost 2003, the mechanostat's microdamage threshold of about 3000 microstrain)."""

    tensile_yield_strain: Positive = 0.0061
    compressive_yield_strain: Positive = 0.0085
    microdamage_strain: Positive = 0.003
    critical_indices: tuple[Positive, ...] = (1.0, 0.5)
    pressure_thresholds: tuple[Pressure, ...] = (mmHg(30.0), mmHg(40.0))


class Solver(Section):
    """PETSc presets (bmes_fem.solve.presets): ``auto`` picks MUMPS LU or the multigrid route per solve from
    its size, the number of solves and the free memory (the choice is logged and in summary.json);
    ``petsc_options`` override single options."""

    preset: Literal["auto", "direct", "iterative"] = "auto"
    petsc_options: dict[str, str | int | float | bool] = {}
    # Quadrature degree of the model's volume integrals (cell_measure): 3 is exact for the P2 stiffness with a
    # linear coefficient (P2 needs 2 for its optimal rates). null: UFL's estimate, 8 for the stiffness with
    # E(chi) = E_h m(chi)^2.74 (BV/TV(chi))^2.58 (45 points per tetrahedron against 5); the v0.1 behaviour.
    quadrature_degree: Annotated[int, Field(ge=2, le=12)] | None = 3
    # The exchange terms (L + G_v) p q: "vertex" lumps them (quadrature at the vertices; the discrete maximum principle
    # holds however short the exchange length sqrt(kappa/(L + G_v)) against the elements), "cell": at quadrature_degree
    # like the other terms (v0.1; P1 then over- and undershoots where chi changes over less than an element).
    exchange_quadrature: Literal["vertex", "cell"] = "vertex"


class Probe(Section):
    """A named point [m] where every state's pressure and displacement are recorded (``probes.csv``)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]
    point: Point3


class Output(Section):
    """Where a case is written (``results_dir`` relative to the current directory), figures, and what is
    recorded at every state: ``probes`` (p and u at points, ``probes.csv``) and ``boundaries`` (force
    through and mean p on named boundaries, ``boundaries.csv``), pressures in ``pressure_unit``."""

    results_dir: Path = Path("results")
    figures: bool = True
    probes: tuple[Probe, ...] = ()
    boundaries: tuple[str, ...] = ()
    pressure_unit: Literal["mmHg", "Pa"] = "mmHg"

    @field_validator("probes")
    @classmethod
    def _unique_probe_names(cls, probes: tuple[Probe, ...]) -> tuple[Probe, ...]:
        names = [probe.name for probe in probes]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"output.probes: the name(s) {', '.join(repeated)} are used twice; expected unique names")
        return probes


SHAPES_WITHOUT_DEFAULTS = ("box", "cylinder", "sphere", "sphere_octant")
#: sections that only one analysis reads: section -> analysis
ANALYSIS_SECTIONS = {"transient": "transient", "course": "course"}


class Config(Section):
    case: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = "femoral_head_bmes"
    geometry: Geometry = default_geometry()
    mesh: MeshSettings = MeshSettings()
    lesions: tuple[Lesion, ...] = (Lesion(),)
    lesion_effects: LesionEffects = LesionEffects()
    fluid: Fluid = Fluid()
    tissue: Tissue = Tissue()
    boundary_conditions: tuple[Condition, ...]
    sources: Sources = Sources()
    load: JointLoad = JointLoad()
    risk: Risk = Risk()
    solver: Solver = Solver()
    output: Output = Output()
    analysis: Literal["steady", "transient", "course"] = "steady"
    transient: Transient = Transient()
    course: Course = Course()
    verification: Verification | None = None
    ct_material: CtMaterial | None = None
    image_output: ImageOutput = ImageOutput()

    @field_validator("geometry", mode="before")
    @classmethod
    def _default_geometry_kind(cls, value: object) -> object:
        """A geometry without ``kind`` is the default kind, if its keys are that kind's; otherwise the missing
        ``kind`` is the error (bmes_fem.config.messages names it before the keys that fail because of it)."""
        if isinstance(value, dict) and "kind" not in value and set(value) <= set(type(default_geometry()).model_fields):
            return {"kind": GEOMETRY_KINDS[0], **value}
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_boundary_conditions(cls, data: object) -> object:
        """Bone geometries without ``boundary_conditions`` get `bone_defaults`; verification shapes need them given."""
        if not isinstance(data, dict) or "boundary_conditions" in data:
            return data
        geometry = data.get("geometry")
        kind = geometry.get("kind", GEOMETRY_KINDS[0]) if isinstance(geometry, dict) else GEOMETRY_KINDS[0]
        if kind in SHAPES_WITHOUT_DEFAULTS:
            raise ValueError(
                f"geometry.kind = '{kind}' is a verification shape without default boundary conditions; "
                "set boundary_conditions (e.g. [{boundary: zmin, kind: clamped}, ...]; see docs/config.md)"
            )
        return {**data, "boundary_conditions": bone_defaults()}

    @model_validator(mode="after")
    def _boundary_conditions_fit_the_geometry(self) -> Config:
        names = self.geometry.boundary_names()
        check_conditions(self.boundary_conditions, names)
        if self.verification is not None:
            times = self.transient.time.times() if self.analysis == "transient" else np.empty(0)
            for index, reference in enumerate(self.verification.times):
                if not np.any(np.isclose(times, reference, rtol=1e-9, atol=0.0)):
                    raise ValueError(f"verification.times.{index} = {reference:g} s is not a step time of the transient run")
        unknown = [name for name in self.output.boundaries if names is not None and name not in names]
        if unknown:
            raise ValueError(f"output.boundaries: {', '.join(unknown)} not in the mesh (its boundaries: {', '.join(names)})")
        return self

    @model_validator(mode="after")
    def _lesion_pressures_orderable(self) -> Config:
        effects = self.lesion_effects
        if self.lesions and effects.venous_pressure >= effects.capillary_pressure:
            raise ValueError(
                f"lesion_effects.venous_pressure = {effects.venous_pressure / PA_PER_MMHG:.4g} mmHg must be "
                f"below lesion_effects.capillary_pressure = {effects.capillary_pressure / PA_PER_MMHG:.4g} mmHg"
            )
        return self

    @model_validator(mode="after")
    def _sections_used_by_the_analysis(self) -> Config:
        unused = [name for name, analysis in ANALYSIS_SECTIONS.items() if name in self.model_fields_set and analysis != self.analysis]
        if unused:
            raise ValueError(
                f"section '{unused[0]}' is used by analysis: {ANALYSIS_SECTIONS[unused[0]]} only, but analysis = "
                f"'{self.analysis}' (set analysis: {ANALYSIS_SECTIONS[unused[0]]}, or remove the section)"
            )
        return self

    @model_validator(mode="after")
    def _images_share_a_grid(self, info: ValidationInfo) -> Config:
        """The label image, the CT and the lesion masks lie on one voxel grid, and a mask meets the bone label."""
        if reads_inputs(info):
            from bmes_fem.imaging.inputs import check_image_inputs

            check_input(lambda: check_image_inputs(self))
        return self

    @property
    def case_dir(self) -> Path:
        return self.output.results_dir / self.case

    def to_dict(self) -> dict:
        """The resolved configuration as plain data (SI values with their units spelled out), without
        the sections the analysis does not use; it validates back to an equal Config."""
        unused = {name for name, analysis in ANALYSIS_SECTIONS.items() if analysis != self.analysis}
        return self.model_dump(mode="json", exclude=unused)

    def to_yaml(self) -> str:
        """`to_dict` as YAML: the ``config.resolved.yaml`` of a case."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)
