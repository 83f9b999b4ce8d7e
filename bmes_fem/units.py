"""Physical units: parse config values such as ``"25 mmHg"`` or ``"2.4 BW"`` into SI floats.

A bare number is taken as SI. Body weight ``BW`` is its own dimension; it becomes newtons
only with a body mass (``force = n_BW * m_body * g``).
"""

from __future__ import annotations

import functools
import os
import shutil

import pint
import platformdirs


def _unit_registry() -> pint.UnitRegistry:
    """pint's registry, its parsed definition files cached on disk (0.04 s to build instead of 0.4 s, in every
    process a study starts). pint fills a cache folder file by file, so the folder is filled under a name of this
    process and renamed into place whole; a process that finds it only reads it. No cache if it cannot be made."""
    folder = platformdirs.user_cache_path("bmes_fem", appauthor=False) / f"pint-{pint.__version__}"
    if folder.is_dir():
        return pint.UnitRegistry(cache_folder=folder)
    filling = folder.with_name(f".{folder.name}.{os.getpid()}")
    try:
        registry = pint.UnitRegistry(cache_folder=filling)
    except OSError:  # no writable cache folder: the registry works without it
        return pint.UnitRegistry()
    try:
        filling.rename(folder)
    except OSError:  # another process renamed its folder first
        shutil.rmtree(filling, ignore_errors=True)
    return registry


UREG = _unit_registry()
UREG.define("BW = [body_weight]")

PA_PER_MMHG = float(UREG("1 mmHg").to("Pa").magnitude)  # 133.322387415 Pa
STANDARD_GRAVITY_M_PER_S2 = 9.80665

#: dimension name -> (SI unit written in the resolved config, an example for error messages)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "length": ("m", "24 mm"),
    "pressure": ("Pa", "25 mmHg"),
    "force": ("N", "1750 N or 2.4 BW"),
    "mass": ("kg", "75 kg"),
    "angle": ("rad", "16 deg"),
    "dimensionless": ("", "0.85"),
    "area": ("m**2", "1e-15 m^2"),
    "viscosity": ("Pa*s", "1 mPa*s"),
    "time": ("s", "0.02 s"),
    "compliance": ("1/Pa", "1e-6 1/Pa"),
    "rate_per_pressure": ("1/(Pa*s)", "1e-8 1/(Pa*s)"),
    "conductance_per_area": ("m/(Pa*s)", "1e-11 m/(Pa*s)"),
    "velocity": ("m/s", "1e-7 m/s"),
    "force_density": ("N/m**3", "-9810 N/m^3"),
    "rate": ("1/s", "1e-4 1/s"),
    "volume_rate": ("m**3/s", "5 ml/min"),
    "density": ("kg/m**3", "2.0 g/cm^3"),
}


def to_si(value: object, dimension: str) -> float:
    """Return ``value`` in the SI unit of ``dimension``; raise ValueError saying what was expected."""
    example = DIMENSIONS[dimension][1]
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a {dimension} (expected e.g. '{example}')")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a {dimension} (expected e.g. '{example}')")
    return _string_to_si(value, dimension)


@functools.lru_cache(maxsize=4096)
def _string_to_si(value: str, dimension: str) -> float:
    """`to_si` of a string, remembered: pint takes ~0.2 ms a parse, and a study validates the same few dozen
    strings in every one of its cases' configs (a 768-case Sobol design: 35,000 parses)."""
    si_unit, example = DIMENSIONS[dimension]
    try:
        quantity = UREG.Quantity(value)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, ValueError, TypeError) as err:
        raise ValueError(f"'{value}' is not a quantity pint can read ({err}); expected e.g. '{example}'") from None
    if not isinstance(quantity, UREG.Quantity):  # a bare number written as a string
        return float(quantity)
    try:
        return float(quantity.to(si_unit or "dimensionless").magnitude)
    except pint.errors.DimensionalityError:
        raise ValueError(
            f"'{value}' has dimension {quantity.dimensionality}, expected a {dimension} "
            f"(e.g. '{example}')"
        ) from None


def force_to_newton(value: object, body_mass_kg: float) -> float:
    """Force in N from ``"1750 N"``, ``"2.4 BW"`` (times ``body_mass_kg * g``) or a bare number (N)."""
    if isinstance(value, str):
        try:
            quantity = UREG.Quantity(value)
        except Exception:
            quantity = None
        if isinstance(quantity, UREG.Quantity) and quantity.check("[body_weight]"):
            return float(quantity.to("BW").magnitude) * body_mass_kg * STANDARD_GRAVITY_M_PER_S2
    return to_si(value, "force")


def format_si(value: float, dimension: str) -> str:
    """The resolved-config spelling of an SI value, e.g. ``3333.0596853750003 Pa`` (round-trips exactly)."""
    unit = DIMENSIONS[dimension][0]
    return f"{float(value)!r} {unit}".strip()
