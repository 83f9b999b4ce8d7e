"""The statistics of `bmes calibrate` on fitted surrogates mu_j(t), s_j^2(t) (bmes_fem.validation.surrogate) of the
measured outputs y_j +- sd_j, in unit coordinates t in [0, 1]^k:

- best fit: least squares of r_j(t) = (mu_j(t) - y_j) / sd_j within the box (scipy.optimize.least_squares, trust
  region), started at the centre and at the LEAST_SQUARES_STARTS design points of least misfit;
- posterior: emcee's affine-invariant ensemble sampler (Goodman & Weare 2010; Foreman-Mackey et al. 2013) on

      log p(t | y) = log L(mu(t), s^2(t))   inside the box (uniform prior), -inf outside,

  with, for a calibration, the Gaussian likelihood whose variance holds the surrogate's too (`GaussianLikelihood`)

      log L = -1/2 sum_j [(mu_j(t) - y_j)^2 / (sd_j^2 + s_j^2(t)) + log 2 pi (sd_j^2 + s_j^2(t))];

  any other likelihood of the surrogates' means and variances samples the same way (a cross-validation's, with
  one-sided limits: bmes_fem.validation.crossval).
  Walkers start uniform in the box; the first ``burn`` steps are discarded; 95 % credible intervals are the
  2.5 and 97.5 % quantiles of the samples;
- credible bands of any output: quantiles of mu_j(t) + s_j(t) e, e ~ N(0, 1), over posterior samples.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol

import numpy as np
from pydantic import Field, model_validator
from scipy.optimize import least_squares

from bmes_fem.config.schema import Section

QUANTILES = (2.5, 50.0, 97.5)
BAND_DRAWS = 4000  # posterior samples used for the credible bands
LEAST_SQUARES_STARTS = 3  # design points (lowest misfit) used as starts besides the centre


class McmcSpec(Section):
    """emcee's affine-invariant ensemble sampler: ``walkers`` x ``steps``, the first ``burn`` steps discarded."""

    walkers: Annotated[int, Field(ge=4)] = 32
    steps: Annotated[int, Field(ge=100)] = 4000
    burn: Annotated[int, Field(ge=0)] = 1000
    seed: int = 1

    @model_validator(mode="after")
    def _sensible(self) -> McmcSpec:
        if self.burn >= self.steps:
            raise ValueError(f"mcmc.burn = {self.burn} must be below mcmc.steps = {self.steps}")
        if self.walkers % 2:
            raise ValueError(f"mcmc.walkers = {self.walkers}: expected an even number (emcee's stretch move splits the ensemble)")
        return self



@dataclass(frozen=True)
class Posterior:
    """Best fit (least squares) and MCMC samples, in unit coordinates t in [0, 1]^k."""

    best: np.ndarray
    chi2: float
    samples: np.ndarray
    acceptance: float
    autocorrelation_steps: np.ndarray
    walkers: int
    kept_steps: int

    def quantiles(self) -> np.ndarray:
        """2.5, 50 and 97.5 % quantiles of each parameter (rows: quantile; columns: parameter), unit coordinates."""
        return np.percentile(self.samples, QUANTILES, axis=0)

    @property
    def effective_samples(self) -> np.ndarray:
        """walkers x kept steps / integrated autocorrelation time, per parameter."""
        return self.walkers * self.kept_steps / self.autocorrelation_steps


class Surrogate(Protocol):
    """An output's surrogate: mean and variance at the rows of t, and draws of its prediction there from standard
    normal deviates (a `bmes_fem.validation.surrogate.FittedSurface`)."""

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def draw(self, t: np.ndarray, normal: np.ndarray) -> np.ndarray: ...


LogLikelihood = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (means, variances) -> log L per point


def predict(surfaces: Sequence[Surrogate], t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances (rows: points; columns: surfaces; none: no column)."""
    if not surfaces:
        empty = np.zeros((len(np.atleast_2d(t)), 0))
        return empty, empty
    pairs = [surface.predict(t) for surface in surfaces]
    return np.column_stack([m for m, _ in pairs]), np.column_stack([v for _, v in pairs])


@dataclass(frozen=True)
class GaussianLikelihood:
    """log L = -1/2 sum_j [(mu_j - y_j)^2 / (sd_j^2 + s_j^2) + log 2 pi (sd_j^2 + s_j^2)] of the measured y_j +- sd_j."""

    y: np.ndarray
    sd: np.ndarray

    def __call__(self, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
        total = self.sd**2 + variance
        return -0.5 * np.sum((mean - self.y) ** 2 / total + np.log(2 * np.pi * total), axis=1)


def log_posterior(t: np.ndarray, surfaces: Sequence[Surrogate], log_likelihood: LogLikelihood) -> np.ndarray:
    """log p(t | y) up to a constant for the rows of ``t``: the likelihood of the surrogates' means and variances
    inside [0, 1]^k (uniform prior), -inf outside."""
    t = np.atleast_2d(t)
    inside = np.all((t >= 0.0) & (t <= 1.0), axis=1)
    result = np.full(len(t), -np.inf)
    if inside.any():
        result[inside] = log_likelihood(*predict(surfaces, t[inside]))
    return result


def best_fit(surfaces: Sequence[Surrogate], y: np.ndarray, sd: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares of (mu_j(t) - y_j) / sd_j within [0, 1]^k from each start; (t, chi^2) of the best."""

    def residuals(t: np.ndarray) -> np.ndarray:
        return (predict(surfaces, t[None, :])[0][0] - y) / sd

    fits = [least_squares(residuals, np.clip(start, 1e-6, 1 - 1e-6), bounds=(0.0, 1.0), method="trf") for start in starts]
    best = min(fits, key=lambda fit: fit.cost)
    return best.x, float(2.0 * best.cost)


def sample_posterior(
    surfaces: Sequence[Surrogate], log_likelihood: LogLikelihood, spec: McmcSpec, k: int
) -> tuple[np.ndarray, float, np.ndarray]:
    """emcee samples of `log_posterior` after burn-in (flattened), mean acceptance fraction and autocorrelation time
    [steps] per parameter."""
    import emcee

    rng = np.random.default_rng(spec.seed)
    sampler = emcee.EnsembleSampler(spec.walkers, k, log_posterior, args=(surfaces, log_likelihood), vectorize=True)
    sampler.random_state = np.random.RandomState(spec.seed).get_state()
    sampler.run_mcmc(rng.uniform(size=(spec.walkers, k)), spec.steps, progress=False)
    emcee_log = logging.getLogger("emcee")
    level = emcee_log.level
    emcee_log.setLevel(logging.ERROR)  # a short chain warns through emcee's logger; the report gives N / tau instead
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tau = np.atleast_1d(sampler.get_autocorr_time(discard=spec.burn, quiet=True))
    finally:
        emcee_log.setLevel(level)
    return sampler.get_chain(discard=spec.burn, flat=True), float(np.mean(sampler.acceptance_fraction)), tau


def fit_posterior(surfaces: Sequence[Surrogate], y: np.ndarray, sd: np.ndarray, spec: McmcSpec, design: np.ndarray) -> Posterior:
    """Best fit from the centre and the design points of least misfit, then the MCMC posterior (Gaussian likelihood)."""
    k = design.shape[1]
    misfit = np.sum(((predict(surfaces, design)[0] - y) / sd) ** 2, axis=1)
    starts = np.vstack([np.full(k, 0.5), design[np.argsort(misfit)[:LEAST_SQUARES_STARTS]]])
    best, chi2 = best_fit(surfaces, y, sd, starts)
    samples, acceptance, tau = sample_posterior(surfaces, GaussianLikelihood(y, sd), spec, k)
    return Posterior(best, chi2, samples, acceptance, tau, spec.walkers, spec.steps - spec.burn)


def predictive_bands(surfaces: Sequence[Surrogate], samples: np.ndarray, seed: int) -> np.ndarray:
    """2.5, 50, 97.5 % quantiles of the surrogates' draws at posterior samples (rows: outputs): mu_j(t) + s_j(t) e,
    or exp(m_j(t) + sqrt(v_j(t)) e) for a surrogate of the logarithm, e ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    chosen = samples[rng.choice(len(samples), size=min(BAND_DRAWS, len(samples)), replace=False)]
    normal = rng.standard_normal((len(chosen), len(surfaces)))
    draws = np.column_stack([surface.draw(chosen, normal[:, j]) for j, surface in enumerate(surfaces)])
    return np.percentile(draws, QUANTILES, axis=0).T
