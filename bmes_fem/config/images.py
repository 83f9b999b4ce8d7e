"""Config sections of a case built from patient images: ``ct_material`` (CT to the healthy trabecular modulus)
and ``image_output`` (results resampled onto the input image grid). Densities are in g/cm^3 and moduli in
MPa, as the published laws give them; the key names carry the unit.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, model_validator

from bmes_fem.config.schema import InputPath, Point3, Positive, Section, check_input, reads_inputs

#: E = coefficient_MPa rho^exponent with rho the named density [g/cm^3] (docs/images.md, "Density to modulus")
DENSITY_MODULUS_LAWS = {
    "morgan2003_femoral_neck": (6850.0, 1.49, "apparent"),  # Morgan, Bayraktar, Keaveny 2003, J Biomech 36:897
    "morgan2003_pooled": (8920.0, 1.83, "apparent"),  # same, all sites pooled
    "keller1994": (10500.0, 2.29, "ash"),  # Keller 1994, J Biomech 27:1159, femur
}


class LinearCalibration(Section):
    """rho_QCT = slope HU + intercept [g/cm^3], the scanner's calibration."""

    kind: Literal["linear"]
    slope_g_per_cm3_per_HU: Positive
    intercept_g_per_cm3: float


class PhantomRod(Section):
    """A calibration rod: the voxels whose centres lie in the world box [min, max] (lengths, e.g. '-97 mm') hold
    the equivalent density ``density_g_per_cm3``."""

    min: Point3
    max: Point3
    density_g_per_cm3: Annotated[float, Field(ge=0.0)]


class PhantomCalibration(Section):
    """rho_QCT = slope HU + intercept fitted by least squares to the mean HU of each rod's voxels."""

    kind: Literal["phantom"]
    rods: Annotated[tuple[PhantomRod, ...], Field(min_length=2)]


Calibration = Annotated[LinearCalibration | PhantomCalibration, Field(discriminator="kind")]


class CtMaterial(Section):
    """The healthy trabecular modulus from a CT (bmes_fem.imaging.material): HU -> rho_QCT by ``calibration``;
    rho_ash = ash_slope rho_QCT + ash_intercept_g_per_cm3, rho_app = rho_ash / ash_fraction (Schileo et al. 2008);
    E = a rho^b by ``law`` (or ``law: power`` with ``coefficient_MPa``, ``exponent`` and ``law_density``), averaged
    over each cell (``integrate: modulus``, Bonemat V3) or from the cell's mean density (``density``, V2)."""

    image: InputPath
    calibration: Calibration
    law: Literal["morgan2003_femoral_neck", "morgan2003_pooled", "keller1994", "power"] = "morgan2003_femoral_neck"
    coefficient_MPa: Positive | None = None
    exponent: Positive | None = None
    law_density: Literal["apparent", "ash"] = "apparent"
    integrate: Literal["modulus", "density"] = "modulus"
    ash_slope: Positive = 0.877
    ash_intercept_g_per_cm3: float = 0.0789
    ash_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.598
    tissue_density_g_per_cm3: Positive = 2.0
    minimum_apparent_density_g_per_cm3: Positive = 0.05

    @model_validator(mode="before")
    @classmethod
    def _calibration_given(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("calibration") is None:
            raise ValueError(
                f"ct_material: the CT '{data.get('image', '?')}' has no calibration; expected ct_material.calibration: "
                "{kind: linear, slope_g_per_cm3_per_HU, intercept_g_per_cm3} or {kind: phantom, rods: [{min, max, density_g_per_cm3}, ...]}"
            )
        return data

    @model_validator(mode="after")
    def _law(self, info: ValidationInfo) -> CtMaterial:
        custom = (self.coefficient_MPa, self.exponent)
        if self.law == "power" and None in custom:
            raise ValueError("ct_material.law = 'power' needs coefficient_MPa and exponent (E = coefficient_MPa rho^exponent)")
        if self.law != "power" and custom != (None, None):
            raise ValueError(f"ct_material: coefficient_MPa and exponent belong to law: power; law = '{self.law}' has its own")
        if reads_inputs(info):
            from bmes_fem.imaging.calibration import read_ct

            check_input(lambda: read_ct(self))
        return self

    def power_law(self) -> tuple[float, float, str]:
        """(a [MPa], b, density kind) of E = a rho^b."""
        if self.law == "power":
            return self.coefficient_MPa, self.exponent, self.law_density
        return DENSITY_MODULUS_LAWS[self.law]


class ImageOutput(Section):
    """Results on the input image grid (bmes_fem.output.images), written when the case has image inputs.

    ``excess_fluid_threshold``: the predicted oedema is where the excess fluid content exceeds it (a volume
    fraction); null (the default) takes half the peak excess fluid in the bone: the half-maximum extent of the
    bright region, a convention that does not depend on the absolute scale (set by the vascular storage
    c_vasc, a derived value) and is how a blob's extent is read off an uncalibrated MRI signal.
    ``figures``: the slice figure (also needs ``output.figures``).
    """

    excess_fluid_threshold: Annotated[float, Field(gt=0.0)] | None = None
    figures: bool = True
