"""Response surfaces of model outputs over the unit box of calibrated parameters, with leave-one-out errors.

Inputs are the design points t in [0, 1]^k (parameter i = min_i + t_i (max_i - min_i)); each output gets
its own surface.

**Gaussian process** (Rasmussen & Williams 2006, ch. 2 and 5). Output standardised, z = (y - mean y) / std y;
constant mean, squared-exponential kernel with one length per parameter and a nugget:

    k(t, t') = s_f^2 exp(-1/2 sum_i (t_i - t'_i)^2 / l_i^2) + s_n^2 [t = t']

(s_f, l_i, s_n) maximise the log marginal likelihood -1/2 z^T K^-1 z - 1/2 log|K| - n/2 log 2 pi. Prediction at
t*: mean k*^T K^-1 z, variance s_f^2 - k*^T K^-1 k*. Leave-one-out in closed form (R&W eq. 5.12):
z_i - mu_-i = [K^-1 z]_i / [K^-1]_ii, variance 1 / [K^-1]_ii.

**Gaussian process of the logarithm**, for positive outputs that vary over decades (a pressure that decays as
exp(-t / tau(c_vasc))): the GP above on ln y. Its prediction is log-normal; ``predict`` gives its mean
exp(m + v/2) and variance (exp(v) - 1) exp(2m + v), ``draw`` exp(m + sqrt(v) e), which stays positive; the
leave-one-out errors are y_i minus the log-normal mean of the GP of ln y left without point i.

**Quadratic response surface.** Least squares in the 1 + 2k + k(k-1)/2 monomials 1, t_i, t_i t_j (i <= j);
leave-one-out by the PRESS residuals e_i / (1 - h_ii), h the hat matrix diagonal. Its predictive variance is
the leave-one-out mean square, constant over the box.

`fit_surface` fits the requested kind, or every kind that applies (``auto``: the logarithm's GP only for
positive outputs) keeping the one with the smallest leave-one-out root mean square error in the output's unit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import minimize

LENGTH_BOUNDS = (0.03, 30.0)  # kernel lengths in units of the parameter range
SIGNAL_BOUNDS = (1e-2, 1e2)  # s_f^2 of the standardised output
NUGGET_BOUNDS = (1e-10, 1e-2)  # s_n^2 of the standardised output: FE outputs are deterministic up to solver tolerance


@dataclass(frozen=True)
class LeaveOneOut:
    """Leave-one-out errors y_i - mu_-i(t_i) [output unit] and their predicted standard deviations."""

    errors: np.ndarray
    sd: np.ndarray

    @property
    def rmse(self) -> float:
        return float(np.sqrt(np.mean(self.errors**2)))

    @property
    def max_abs(self) -> float:
        return float(np.max(np.abs(self.errors)))

    @property
    def standardised_rms(self) -> float:
        """sqrt(mean((e_i / sd_i)^2)): about 1 when the predicted variance fits the errors."""
        return float(np.sqrt(np.mean((self.errors / self.sd) ** 2)))


class GaussianPredictive:
    """A surface whose prediction is normal: a draw is mean + sd e."""

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def draw(self, t: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """Samples of the prediction at the rows of ``t`` from standard normal deviates ``normal`` (one per row)."""
        mean, variance = self.predict(t)
        return mean + np.sqrt(variance) * normal


class GaussianProcess(GaussianPredictive):
    """A GP on the design (module docstring); ``predict`` gives mean and variance in the output's unit."""

    kind = "gaussian_process"

    def __init__(self, t: np.ndarray, y: np.ndarray) -> None:
        self.t = np.asarray(t, dtype=float)
        y = np.asarray(y, dtype=float)
        self.offset = float(np.mean(y))
        self.scale = float(np.std(y)) or 1.0
        self.z = (y - self.offset) / self.scale
        self.log_params = self._maximise_evidence()
        self.signal, self.lengths, self.nugget = self._unpack(self.log_params)
        self.factor = cho_factor(self._covariance(self.t, self.t) + self.nugget * np.eye(len(self.t)), lower=True)
        self.alpha = cho_solve(self.factor, self.z)
        self.whitening = solve_triangular(self.factor[0], np.eye(len(self.t)), lower=True)  # L^-1, K = L L^T

    @staticmethod
    def _unpack(log_params: np.ndarray) -> tuple[float, np.ndarray, float]:
        values = np.exp(log_params)
        return float(values[0]), values[1:-1], float(values[-1])

    def _covariance(self, a: np.ndarray, b: np.ndarray, signal: float | None = None, lengths: np.ndarray | None = None) -> np.ndarray:
        signal = self.signal if signal is None else signal
        lengths = self.lengths if lengths is None else lengths
        d2 = (((a[:, None, :] - b[None, :, :]) / lengths) ** 2).sum(axis=2)
        return signal * np.exp(-0.5 * d2)

    def _negative_log_evidence(self, log_params: np.ndarray) -> float:
        signal, lengths, nugget = self._unpack(log_params)
        k = self._covariance(self.t, self.t, signal, lengths) + nugget * np.eye(len(self.t))
        try:
            factor = cho_factor(k, lower=True)
        except np.linalg.LinAlgError:
            return 1e25
        alpha = cho_solve(factor, self.z)
        return float(0.5 * self.z @ alpha + np.log(np.diag(factor[0])).sum() + 0.5 * len(self.z) * np.log(2 * np.pi))

    def _maximise_evidence(self) -> np.ndarray:
        """Log (s_f^2, l_1..l_k, s_n^2) from L-BFGS-B started at lengths 0.2, 0.5 and 1.5 of the range (deterministic)."""
        k = self.t.shape[1]
        bounds = [np.log(SIGNAL_BOUNDS)] + [np.log(LENGTH_BOUNDS)] * k + [np.log(NUGGET_BOUNDS)]
        best = None
        for length in (0.2, 0.5, 1.5):
            start = np.log([1.0, *([length] * k), 1e-6])
            result = minimize(self._negative_log_evidence, start, method="L-BFGS-B", bounds=bounds)
            if best is None or result.fun < best.fun:
                best = result
        return best.x

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance at the rows of ``t`` (shape (m, k)) in the output's unit."""
        t = np.atleast_2d(np.asarray(t, dtype=float))
        k_star = self._covariance(t, self.t)
        mean = k_star @ self.alpha
        whitened = k_star @ self.whitening.T  # k*^T K^-1 k* = |L^-1 k*|^2: a product per call, no solve
        variance = np.maximum(self.signal - np.einsum("ij,ij->i", whitened, whitened), 0.0)
        return self.offset + self.scale * mean, self.scale**2 * variance

    def leave_one_out(self) -> LeaveOneOut:
        inverse = cho_solve(self.factor, np.eye(len(self.t)))
        diagonal = np.diag(inverse)
        return LeaveOneOut(self.scale * self.alpha / diagonal, self.scale / np.sqrt(diagonal))


def quadratic_features(t: np.ndarray) -> np.ndarray:
    """Columns 1, t_i, t_i t_j (i <= j) of the rows of ``t``."""
    t = np.atleast_2d(t)
    pairs = itertools.combinations_with_replacement(range(t.shape[1]), 2)
    return np.column_stack([np.ones(len(t)), t, *(t[:, i] * t[:, j] for i, j in pairs)])


def _log_normal_moments(log_mean: np.ndarray, log_variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean exp(m + v/2) and variance (exp(v) - 1) exp(2m + v) of exp(X), X ~ N(m, v)."""
    return np.exp(log_mean + 0.5 * log_variance), np.expm1(log_variance) * np.exp(2.0 * log_mean + log_variance)


class LogGaussianProcess:
    """The GP of ln y (module docstring): log-normal predictions of a positive output."""

    kind = "log_gaussian_process"

    def __init__(self, t: np.ndarray, y: np.ndarray) -> None:
        self.y = np.asarray(y, dtype=float)
        if not np.all(self.y > 0.0):
            raise ValueError(f"a surface of ln y needs positive outputs, got a smallest of {np.min(self.y):.4g}")
        self.log = GaussianProcess(t, np.log(self.y))

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _log_normal_moments(*self.log.predict(t))

    def draw(self, t: np.ndarray, normal: np.ndarray) -> np.ndarray:
        log_mean, log_variance = self.log.predict(t)
        return np.exp(log_mean + np.sqrt(log_variance) * normal)

    def leave_one_out(self) -> LeaveOneOut:
        log_loo = self.log.leave_one_out()
        mean, variance = _log_normal_moments(np.log(self.y) - log_loo.errors, log_loo.sd**2)
        return LeaveOneOut(self.y - mean, np.sqrt(variance))


class QuadraticSurface(GaussianPredictive):
    """Full quadratic least squares (module docstring); needs more design points than monomials."""

    kind = "quadratic"

    def __init__(self, t: np.ndarray, y: np.ndarray) -> None:
        a = quadratic_features(np.asarray(t, dtype=float))
        if a.shape[0] <= a.shape[1]:
            raise ValueError(f"a quadratic surface in {t.shape[1]} parameters needs more than {a.shape[1]} design points, got {a.shape[0]}")
        y = np.asarray(y, dtype=float)
        self.coefficients, *_ = np.linalg.lstsq(a, y, rcond=None)
        hat = np.einsum("ij,ji->i", a, np.linalg.pinv(a))
        press = (y - a @ self.coefficients) / (1.0 - hat)
        self._loo = LeaveOneOut(press, np.full(len(y), np.sqrt(np.mean(press**2))))
        self.variance = self._loo.rmse**2  # the predictive variance, constant over the box

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = quadratic_features(np.asarray(t, dtype=float)) @ self.coefficients
        return mean, np.full(mean.shape, self.variance)

    def leave_one_out(self) -> LeaveOneOut:
        return self._loo


Surface = GaussianProcess | LogGaussianProcess | QuadraticSurface
SURFACES = {surface.kind: surface for surface in (GaussianProcess, LogGaussianProcess, QuadraticSurface)}


@dataclass(frozen=True)
class FittedSurface:
    """The surface kept for one output, and the leave-one-out errors of every kind tried."""

    surface: Surface
    tried: dict[str, LeaveOneOut]

    @property
    def kind(self) -> str:
        return self.surface.kind

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.surface.predict(t)

    def draw(self, t: np.ndarray, normal: np.ndarray) -> np.ndarray:
        return self.surface.draw(t, normal)


def fit_surface(t: np.ndarray, y: np.ndarray, kind: str = "auto") -> FittedSurface:
    """``kind`` = gaussian_process, log_gaussian_process, quadratic, or auto (each that applies, the smallest
    leave-one-out RMSE kept)."""
    kinds = tuple(SURFACES) if kind == "auto" else (kind,)
    surfaces: dict[str, Surface] = {}
    for name in kinds:
        try:
            surfaces[name] = SURFACES[name](t, y)
        except ValueError:
            if kind != "auto":
                raise
    tried = {name: surface.leave_one_out() for name, surface in surfaces.items()}
    best = min(surfaces, key=lambda name: tried[name].rmse)
    return FittedSurface(surfaces[best], tried)
