"""The fit of a calibration, a pure function of the finished design points, their outputs and the measurements
(no I/O): a surrogate per output (bmes_fem.validation.surrogate), then the least-squares best fit, the MCMC
posterior and the credible bands of every output (bmes_fem.validation.posterior).

The stages are separate so that a fit to another set of measurements (a cross-validation leaving one source out:
an output turned into a prediction with ``dataclasses.replace(output, measured=False)``) reuses the surrogates:
``fit_to_measurements(problem, design, outputs, fit_surfaces(design, outputs, kind))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bmes_fem.validation.calibration_file import RANGE_Z, CalibrationProblem
from bmes_fem.validation.posterior import Posterior, fit_posterior, predict, predictive_bands
from bmes_fem.validation.surrogate import FittedSurface, fit_surface


@dataclass(frozen=True)
class Calibrated:
    """Everything the report shows: surrogates, posterior, bands, the design's outputs and the check run."""

    problem: CalibrationProblem
    design: np.ndarray  # finished design points, unit coordinates
    design_outputs: np.ndarray  # their outputs (rows: points; columns: problem.outputs)
    surfaces: list[FittedSurface]
    posterior: Posterior
    predictive_bands: np.ndarray  # rows: outputs; columns: 2.5, 50, 97.5 %
    check: np.ndarray | None = None  # outputs of the run of the fitted config

    @property
    def samples_shown(self) -> np.ndarray:
        """The posterior samples in display units (rows: samples; columns: parameters)."""
        return np.column_stack([p.shown(self.posterior.samples[:, i]) for i, p in enumerate(self.problem.parameters)])

    @property
    def best_shown(self) -> list[float]:
        """The best fit of each parameter in display units."""
        return [float(p.shown(self.posterior.best[i])) for i, p in enumerate(self.problem.parameters)]

    @property
    def best_prediction(self) -> tuple[np.ndarray, np.ndarray]:
        """Surrogate mean and standard deviation of every output at the best fit."""
        mean, variance = predict(self.surfaces, self.posterior.best[None, :])
        return mean[0], np.sqrt(variance[0])

    def surrogate_misses(self) -> list[str]:
        """Outputs whose run of the fitted config lies outside the surrogate's mean +- 1.96 SD at the best fit."""
        if self.check is None:
            return []
        mean, sd = self.best_prediction
        return [o.name for o, run, m, s in zip(self.problem.outputs, self.check, mean, sd, strict=True) if abs(run - m) > RANGE_Z * s]


def fit_surfaces(design: np.ndarray, outputs: np.ndarray, kind: str) -> list[FittedSurface]:
    """A surrogate of each output (a column of ``outputs``) over the finished design points (rows of ``design``)."""
    return [fit_surface(design, outputs[:, j], kind) for j in range(outputs.shape[1])]


def fit_to_measurements(
    problem: CalibrationProblem, design: np.ndarray, outputs: np.ndarray, surfaces: list[FittedSurface], values: np.ndarray | None = None
) -> Calibrated:
    """Best fit, posterior and bands of the measured outputs of ``problem`` on the given surrogates (one per output).

    ``values``: measured values to fit instead of the file's (synthetic data); spreads stay the file's.
    """
    measured = problem.measured
    y = np.array([problem.outputs[j].value for j in measured]) if values is None else np.asarray(values, dtype=float)
    sd = np.array([problem.outputs[j].sd for j in measured])
    posterior = fit_posterior([surfaces[j] for j in measured], y, sd, problem.spec.mcmc, design)
    bands = predictive_bands(surfaces, posterior.samples, problem.spec.mcmc.seed)
    return Calibrated(problem, design, outputs, surfaces, posterior, bands)


def calibrate(problem: CalibrationProblem, design: np.ndarray, outputs: np.ndarray, values: np.ndarray | None = None) -> Calibrated:
    """Surrogates of every output over the finished design (``problem.spec.surrogate``), then the fit to the measurements."""
    return fit_to_measurements(problem, design, outputs, fit_surfaces(design, outputs, problem.spec.surrogate), values)
