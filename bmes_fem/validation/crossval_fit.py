"""The fit of a cross-validation, a pure function of the rows' model values at their design points (no I/O).

1. *Surrogates.* Each row with fitted parameters gets a surrogate mu_j(t), s_j^2(t) of its model value over its
   own parameters (bmes_fem.validation.surrogate: a Gaussian process of the value or of its logarithm, or a
   quadratic, by leave-one-out error), seen from the unit box of all K fitted parameters, t in [0, 1]^K. It needs
   at least k + 2 finished design points.
2. *Likelihood* of a set of rows: the sum of each row's `RowLikelihood` (a Gaussian, or the smooth step of a
   one-sided limit) with the surrogate's variance added (`JointLikelihood`); the prior is uniform in t (uniform
   or log-uniform in x), the posterior sampled by emcee (bmes_fem.validation.posterior.sample_posterior).
3. *Fits.* The all-data fit uses every row with fitted parameters; the fold of a study uses every such row of the
   other studies, so a held-out row's measured value does not enter its own prediction.
4. *Predictions.* The posterior predictive of a row: the 2.5, 50 and 97.5 % quantiles of mu_j(t) + s_j(t) e
   (exp(m_j(t) + sqrt(v_j(t)) e) for a surrogate of the logarithm),
   e ~ N(0, 1), over posterior samples t (bmes_fem.validation.posterior.predictive_bands). The fold's held-out
   rows are the validation (the median is the point prediction); the all-data fit's rows are fits. A row without
   fitted parameters is predicted by its one run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

from bmes_fem.validation.crossval_file import CrossValidationSpec, RowLikelihood
from bmes_fem.validation.crossval_runs import Row, RowValues
from bmes_fem.validation.posterior import predictive_bands, sample_posterior
from bmes_fem.validation.surrogate import FittedSurface, fit_surface
from bmes_fem.validation.validate import Comparison

NO_PREDICTION = np.full(3, math.nan)


@dataclass(frozen=True)
class RowModel:
    """A row, its values and its surrogate (None without fitted parameters, or if it could not be fitted: then
    ``error`` says why)."""

    values: RowValues
    surface: FittedSurface | None
    error: str

    @property
    def row(self) -> Row:
        return self.values.row

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def in_fit(self) -> bool:
        """Whether the row enters the likelihood: it has fitted parameters and a surrogate."""
        return self.surface is not None

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Surrogate mean and variance at the rows of ``t`` (unit coordinates of all K fitted parameters)."""
        return self.surface.predict(np.atleast_2d(t)[:, list(self.row.active)])

    def draw(self, t: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """Samples of the surrogate's prediction at the rows of ``t`` from standard normal deviates ``normal``."""
        return self.surface.draw(np.atleast_2d(t)[:, list(self.row.active)], normal)

    @property
    def run_prediction(self) -> np.ndarray:
        """(v, v, v): the one run's value of a row without fitted parameters; NaN if it failed or has parameters."""
        if self.row.active or self.error or not len(self.values.values):
            return NO_PREDICTION
        return np.full(3, self.values.values[0])


def fit_row(values: RowValues, kind: str, fitted: dict[bytes, FittedSurface]) -> RowModel:
    """The row's surrogate over its finished design points (``kind``: gaussian_process, quadratic or auto); rows with
    the same kind, points and values (the rows of one case and quantity) share the one in ``fitted``."""
    k = len(values.row.active)
    finished = len(values.values)
    if k == 0:
        return RowModel(values, None, values.error if finished == 0 else "")
    if finished < k + 2:
        return RowModel(values, None, f"{finished} of {len(values.row.design)} design runs finished, a surrogate in {k} parameters needs {k + 2}: {values.error}")
    key = f"{kind} {values.design.shape}".encode() + values.design.tobytes() + values.values.tobytes()
    try:
        if key not in fitted:
            fitted[key] = fit_surface(values.design, values.values, kind)
    except ValueError as err:
        return RowModel(values, None, str(err))
    return RowModel(values, fitted[key], "")


@dataclass(frozen=True)
class JointLikelihood:
    """log L(t) = sum_j log L_j(mu_j(t), s_j^2(t)) over rows j (crossval_file.RowLikelihood):

    gaussian: -1/2 [(mu_j - y_j)^2 / (w_j^2 + s_j^2) + log 2 pi (w_j^2 + s_j^2)];
    at_least: log Phi((mu_j - L_j) / sqrt(w_j^2 + s_j^2));   at_most: log Phi((L_j - mu_j) / sqrt(w_j^2 + s_j^2)).
    """

    likelihoods: tuple[RowLikelihood, ...]

    def __call__(self, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
        centre = np.array([row.centre for row in self.likelihoods])
        width = np.array([row.width for row in self.likelihoods])
        sign = np.array([{"at_least": 1.0, "at_most": -1.0}.get(row.kind, 0.0) for row in self.likelihoods])
        total = width**2 + variance
        gaussian = -0.5 * ((mean - centre) ** 2 / total + np.log(2.0 * np.pi * total))
        step = log_ndtr(sign * (mean - centre) / np.sqrt(total))
        return np.where(sign == 0.0, gaussian, step).sum(axis=1)


@dataclass(frozen=True)
class Fit:
    """A posterior over the K fitted parameters (unit coordinates) from the rows ``used``, and the posterior
    predictive quantiles (2.5, 50, 97.5 %) of the rows it predicts; ``held_out`` the study left out (None: all data)."""

    held_out: str | None
    used: tuple[str, ...]
    samples: np.ndarray
    acceptance: float
    autocorrelation_steps: np.ndarray
    predictions: dict[str, np.ndarray]

    def medians(self) -> np.ndarray:
        """The posterior median of each parameter, unit coordinates."""
        return np.median(self.samples, axis=0)


def fit(spec: CrossValidationSpec, used: Sequence[RowModel], predicted: Sequence[RowModel], held_out: str | None) -> Fit:
    """MCMC on the likelihood of ``used`` (rows with surrogates), then the posterior predictive of ``predicted``."""
    mcmc = spec.spec.mcmc
    samples, acceptance, tau = sample_posterior(used, JointLikelihood(tuple(m.row.likelihood for m in used)), mcmc, len(spec.parameters))
    fitted = [m for m in predicted if m.in_fit]
    bands = predictive_bands(fitted, samples, mcmc.seed) if fitted else np.zeros((0, 3))
    predictions = {m.name: m.run_prediction for m in predicted} | {m.name: band for m, band in zip(fitted, bands, strict=True)}
    return Fit(held_out, tuple(m.name for m in used), samples, acceptance, tau, predictions)


@dataclass(frozen=True)
class CrossValidated:
    """The rows with their surrogates, the all-data fit and a fold per study (in the rows' order)."""

    spec: CrossValidationSpec
    models: list[RowModel]
    all_data: Fit
    folds: dict[str, Fit]

    def held_out(self, model: RowModel) -> np.ndarray:
        """The row's held-out prediction: 2.5, 50, 97.5 % of the posterior predictive of its study's fold."""
        return self.folds[model.row.study].predictions[model.name]

    def comparison(self, model: RowModel) -> Comparison:
        """The held-out median against the measured interval, judged as ``bmes validate`` judges a model value."""
        return Comparison(model.row.validation, float(self.held_out(model)[1]), model.error)


def cross_validate(
    spec: CrossValidationSpec, values: Sequence[RowValues], surfaces: dict[bytes, FittedSurface] | None = None
) -> CrossValidated:
    """Surrogates, the all-data fit and a fold per study (module docstring). ``surfaces`` (by kind, design points and
    values, as `fit_row` keys them), if given, is filled and reused: calls on the same runs with other measured
    values (synthetic noise draws) fit each surrogate once."""
    fitted_surfaces = {} if surfaces is None else surfaces
    models = [fit_row(v, spec.spec.surrogate, fitted_surfaces) for v in values]
    studies = list(dict.fromkeys(m.row.study for m in models))
    fitted = [m for m in models if m.in_fit]
    all_data = fit(spec, fitted, models, None)
    folds = {
        study: fit(spec, [m for m in fitted if m.row.study != study], [m for m in models if m.row.study == study], study)
        for study in studies
    }
    return CrossValidated(spec, models, all_data, folds)
