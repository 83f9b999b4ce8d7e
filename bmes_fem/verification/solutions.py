"""The closed form of each verification case, with its parameters read from the case's own config.

Each function returns the exact field at points [m] (pressure [Pa], shape (n,); displacement [m],
shape (n, 3)) after ``step`` backward-Euler steps of the case (transient) or at steady state. The
config must be one the closed form describes; anything else is a ConfigError naming the key.
"""

from __future__ import annotations

import numpy as np

from bmes_fem.config.boundary_conditions import Drained, NormalPressure, RigidPlate, Robin
from bmes_fem.config.case import Config
from bmes_fem.config.geometry import BoxGeometry, SphereGeometry, SphereOctantGeometry
from bmes_fem.errors import ConfigError
from bmes_fem.physics import analytic
from bmes_fem.physics.materials import calibrate_venous_conductance, constrained_modulus


def _require(condition: bool, config: Config, message: str) -> None:
    if not condition:
        raise ConfigError(f"verification.solution = '{config.verification.solution}': {message}")


def _condition(config: Config, kind: type, boundary: str):
    found = [c for c in config.boundary_conditions if isinstance(c, kind) and boundary in c.boundary]
    _require(len(found) == 1, config, f"expected one {kind.__name__} condition on boundary '{boundary}'")
    return found[0]


def _elastic(config: Config) -> tuple[float, float, float, float, float]:
    """(E, nu, alpha, M_eff, kappa) of a uniform trabecular body, M_eff = 1 / (1/M + c_vasc)."""
    trabecular = config.tissue.trabecular
    _require(trabecular.youngs_modulus is not None, config, "set tissue.trabecular.youngs_modulus (a uniform body)")
    _require(not config.lesions, config, "expected no lesions (uniform coefficients)")
    storage = 1.0 / trabecular.biot_modulus + config.fluid.vascular_storage
    mobility = trabecular.permeability / config.tissue.fluid_viscosity
    return trabecular.youngs_modulus, trabecular.poisson_ratio, trabecular.biot_coefficient, 1.0 / storage, mobility


def _time_step(config: Config) -> float:
    lengths = config.transient.time.step_lengths()
    _require(config.analysis == "transient" and len(lengths) == 1, config, "expected a transient case with one time stage")
    return lengths[0][0]


def terzaghi(config: Config, points_m: np.ndarray, step: int) -> np.ndarray:
    """p of a column (box, base zmin impermeable, top zmax drained and loaded by a normal pressure)."""
    geometry = config.geometry
    _require(isinstance(geometry, BoxGeometry), config, "expected geometry.kind = box (the column along z)")
    _require(config.fluid.capillary_filtration == 0.0, config, "expected fluid.capillary_filtration = 0 (no marrow exchange)")
    load = _condition(config, NormalPressure, "zmax").value
    _require(_condition(config, Drained, "zmax").pressure == 0.0, config, "expected p = 0 on the drained top")
    youngs_modulus, nu, alpha, biot_modulus, mobility = _elastic(config)
    _require(config.analysis == "transient", config, "expected analysis: transient")
    pressure, _ = analytic.terzaghi_backward_euler_steps(
        points_m[:, 2] - geometry.origin[2], config.transient.time.time_steps()[:step], height=geometry.lengths[2], load=load,
        drained_modulus_m=1.0 / constrained_modulus(youngs_modulus, nu), storage=1.0 / biot_modulus,
        biot_coefficient=alpha, mobility=mobility,
    )  # fmt: skip
    return pressure


def mandel(config: Config, points_m: np.ndarray, step: int) -> np.ndarray:
    """p of Mandel's quarter specimen (box slab: x from xmin, rigid plate on ymax, xmax drained, plane strain)."""
    geometry = config.geometry
    _require(isinstance(geometry, BoxGeometry), config, "expected geometry.kind = box (the quarter specimen)")
    _require(config.fluid.capillary_filtration == 0.0, config, "expected fluid.capillary_filtration = 0 (no marrow exchange)")
    plate = _condition(config, RigidPlate, "ymax")
    _condition(config, Drained, "xmax")
    youngs_modulus, nu, alpha, biot_modulus, mobility = _elastic(config)
    constants = analytic.biot_constants(youngs_modulus, nu, alpha, biot_modulus, mobility)
    return analytic.mandel_pressure_backward_euler(
        points_m[:, 0] - geometry.origin[0], step, _time_step(config), a=geometry.lengths[0],
        force_per_length=plate.force / geometry.lengths[2], constants=constants,
    )  # fmt: skip


def _sphere(config: Config) -> dict:
    """The parameters of `analytic.robin_sphere_pressure` for a uniform ball with Robin drainage on its surface."""
    _require(isinstance(config.geometry, SphereGeometry | SphereOctantGeometry), config, "expected a sphere or sphere_octant")
    _require(not config.lesions, config, "expected no lesions (uniform coefficients)")
    fluid = config.fluid
    robin = _condition(config, Robin, "surface")
    filtration, venous_conductance = fluid.capillary_filtration, calibrate_venous_conductance(fluid)
    source = analytic.uniform_steady_pressure(filtration, fluid.effective_capillary_pressure(), venous_conductance, fluid.venous_pressure)
    mobility = config.tissue.trabecular.permeability / config.tissue.fluid_viscosity
    return dict(
        radius=config.geometry.radius, mobility=mobility, reaction=filtration + venous_conductance, source_pressure=source,
        conductance=robin.conductance, outside_pressure=robin.pressure,
    )  # fmt: skip


def leak_drainage_sphere(config: Config, points_m: np.ndarray, step: int) -> np.ndarray:
    """Steady p = p_s + A sinh(lambda r) / r in a ball with Robin drainage (analytic.robin_sphere_pressure)."""
    return analytic.robin_sphere_pressure(np.linalg.norm(points_m, axis=1), **_sphere(config))


def free_expansion_sphere(config: Config, points_m: np.ndarray, step: int) -> np.ndarray:
    """Steady u = u_r(r) x / r of the traction-free ball under that pressure (thermoelastic analogy)."""
    trabecular = config.tissue.trabecular
    _require(trabecular.youngs_modulus is not None, config, "set tissue.trabecular.youngs_modulus (a uniform body)")
    radius = np.linalg.norm(points_m, axis=1)
    radial = analytic.free_expansion_sphere_displacement(
        radius, youngs_modulus=trabecular.youngs_modulus, poisson_ratio=trabecular.poisson_ratio,
        biot_coefficient=trabecular.biot_coefficient, **_sphere(config),
    )  # fmt: skip
    direction = points_m / np.where(radius > 0, radius, 1.0)[:, None]
    return radial[:, None] * direction


SOLUTIONS = {
    "terzaghi": terzaghi,
    "mandel": mandel,
    "leak_drainage_sphere": leak_drainage_sphere,
    "free_expansion_sphere": free_expansion_sphere,
}


def exact_field(config: Config, points_m: np.ndarray, step: int) -> np.ndarray:
    """The closed form of ``config.verification.solution`` at ``points_m`` after ``step`` steps (0: steady)."""
    return SOLUTIONS[config.verification.solution](config, points_m, step)
