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
    ValidationInfo,
    field_validator,
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
    PositiveLength,
    PositivePressure,
    Pressure,
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


class Lesion(Section):
    """A lesion: an ellipsoid, chi = (1 - tanh((r_e - 1) a_min / w)) / 2 (r_e the ellipsoidal radius),
    or a voxel mask (NIfTI, world coordinates in mm) blurred over ``smoothing_width``.

    A mask holds each voxel's share in [0, 1], or is an integer label image whose voxels equal to
    ``label`` are the lesion (bmes_fem.inputs.masks). For a mask, ``centre`` and ``semi_axes`` still
    place the finer mesh and the figures' cut.
    """

    name: str = "lesion"
    kind: Literal["ellipsoid", "mask"] = "ellipsoid"
    centre: Point3 = (0.004, 0.004, 0.010)
    semi_axes: tuple[PositiveLength, PositiveLength, PositiveLength] = (0.010, 0.008, 0.008)
    rotation: tuple[Angle, Angle, Angle] = (0.0, 0.0, 0.0)
    falloff_width: PositiveLength = 0.002
    mask: InputPath | None = None
    label: int | None = None
    smoothing_width: Annotated[Length, Field(ge=0.0)] = 0.001

    @model_validator(mode="after")
    def _usable_mask(self, info: ValidationInfo) -> Lesion:
        if self.kind != "mask":
            if self.label is not None:
                raise ValueError(f"lesion '{self.name}': label = {self.label} is set, but kind = '{self.kind}'; a label picks a mask's voxels")
            return self
        if self.mask is None:
            raise ValueError(f"lesion '{self.name}': kind = 'mask' needs mask (a NIfTI voxel mask file)")
        if reads_inputs(info):
            check_input(lambda: read_mask(self.mask, self.label))
        return self


class LesionEffects(Section):
    """Parameter values at chi = 1 (combined BMES set, parameters.md 3.4); blended by chi."""

    filtration_factor: Positive = 3.0
    reflection_coefficient: Fraction = 0.6
    interstitial_oncotic_pressure: Pressure = mmHg(12.0)
    capillary_pressure: Pressure = mmHg(50.0)
    venous_pressure: Pressure = mmHg(25.0)
    venous_outflow_factor: Positive = 0.3
    mobility_factor: Positive = 1.0
    relative_mineralisation: Annotated[float, Field(gt=0.0, le=1.5)] = 0.85
    bone_volume_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.28


class Fluid(Section):
    """Healthy Starling exchange and venous drainage in trabecular marrow (parameters.md 0, 3.4)."""

    target_pressure: PositivePressure = mmHg(25.0)
    capillary_pressure: PositivePressure = mmHg(45.0)
    plasma_oncotic_pressure: Pressure = mmHg(25.0)
    interstitial_oncotic_pressure: Pressure = mmHg(8.0)
    reflection_coefficient: Fraction = 0.85
    capillary_filtration: Annotated[RatePerPressure, Field(ge=0.0)] = 1.0e-8  # 0: no marrow exchange
    venous_pressure: Pressure = mmHg(15.0)
    vascular_storage: Annotated[Compliance, Field(ge=0.0)] = 1.0e-6

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


class Trabecular(_RegionBase):
    """Trabecular bone: E = E_tissue m^gamma_m (BV/TV)^n (Hernandez 2001); marrow exchange inside.

    ``youngs_modulus`` (optional) replaces the healthy E of that law by a measured or benchmark value;
    the lesion still scales it by m^gamma_m (BV/TV_lesion / BV/TV)^n.
    """

    tissue_modulus: PositivePressure = 18.0e9
    youngs_modulus: PositivePressure | None = None
    bone_volume_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.30
    volume_fraction_exponent: Positive = 2.58
    mineralisation_exponent: Positive = 2.74
    biot_coefficient: Fraction = 0.95
    permeability: Annotated[Area, Field(gt=0.0)] = 1.0e-15
    biot_modulus: PositivePressure = 3.1e9


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
    fluid_viscosity: Annotated[Viscosity, Field(gt=0.0)] = 1.0e-3


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
    """R = max(eps_1 / eps_yt, -eps_3 / eps_yc) in trabecular bone (femoral neck, Morgan & Keaveny 2001)."""

    tensile_yield_strain: Positive = 0.0061
    compressive_yield_strain: Positive = 0.0085
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
