"""Disease kinetics and bone turnover over a BMES course: pure NumPy/SciPy, times in seconds (docs/course.md).

Every time course below is a callable ``f(times_s) -> values`` (vectorised).

Piecewise first-order relaxation (`Relaxation`): from ``initial`` at t = 0, piece k (from its start s_k
until the next piece) relaxes toward its target q*_k at the rate r_k = 1/tau_k (r_k = 0: hold):

    dq/dt = r_k (q*_k - q)   ->   q(t) = q*_k + (q(s_k) - q*_k) exp(-r_k (t - s_k))

It gives the first-order kinetics of a lesion parameter (a target and a time constant from the start of
a phase), the iloprost effect and the bisphosphonate inhibition. `PiecewiseLinear` is the other kind of
trajectory: linear between values at the phase ends, constant after the last.

Iloprost (`infusion_effect`): the drug effect e(t) in [0, 1) builds during each infusion and decays
between and after them,

    de/dt = u(t) (1 - e) / tau_on - e / tau_off,       u = 1 during an infusion, 0 otherwise,

and moves a lesion parameter q_d (its disease value) back toward its healthy value q_h by the
fraction w_q e(t) (`reverse`): q = q_d + w_q e (q_h - q_d) for pressures and the reflection
coefficient, q = q_d^(1 - w_q e) q_h^(w_q e) for the factors (which blend geometrically).

Bisphosphonate (`bisphosphonate_inhibition`, `inhibited_activity`): after the dose at t_d the excess
osteoclast activity is suppressed, I(t) = I_max (1 - exp(-(t - t_d) / tau_bp)) for t >= t_d, 0 before,

    a(t) = 1 + (a_d(t) - 1) (1 - I(t))          (a = 1: normal activity; a_d the disease drive).

Bone turnover (`Turnover`): excess osteoclast activity replaces mineralised bone by new, poorly
mineralised osteoid and opens remodelling space; osteoid mineralises and the space refills:

    dm/dt = -k_m (a - 1) m + (1 - m) / tau_m                   relative mineralisation m (healthy 1)
    db/dt = -k_b (a - 1) b + (b_h - b) / tau_b                 bone volume fraction b = BV/TV (healthy b_h)

At constant a both are linear and relax to m* = 1 / (1 + k_m tau_m (a - 1)) and
b* = b_h / (1 + k_b tau_b (a - 1)); once a = 1, m and b return to 1 and b_h with tau_m and tau_b.
The stiffness follows through E = E_tissue m^gamma_m b^n (bmes_fem.physics.materials.trabecular_modulus).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bmes_fem.lazy import lazy_module

integrate = lazy_module("scipy.integrate")

_ODE_RTOL, _ODE_ATOL = 1e-10, 1e-12


@dataclass(frozen=True)
class Relaxation:
    """Piecewise first-order relaxation: ``pieces`` are (start [s], target, rate [1/s]), starts increasing
    and after 0; before the first piece the value holds at ``initial``."""

    initial: float
    pieces: tuple[tuple[float, float, float], ...] = ()

    def __call__(self, times_s) -> np.ndarray:
        times = np.asarray(times_s, dtype=float)
        values = np.full(times.shape, float(self.initial))
        start_value, pieces = float(self.initial), [(0.0, self.initial, 0.0), *self.pieces]
        for (start, target, rate), end in zip(pieces, [*(p[0] for p in pieces[1:]), np.inf], strict=True):
            inside = (times >= start) & (times < end)
            values[inside] = target + (start_value - target) * np.exp(-rate * (times[inside] - start))
            if np.isfinite(end):
                start_value = target + (start_value - target) * np.exp(-rate * (end - start))
        return values


@dataclass(frozen=True)
class PiecewiseLinear:
    """Linear between (t_k [s], q_k), starting at (0, ``initial``); constant after the last point."""

    initial: float
    points: tuple[tuple[float, float], ...]

    def __call__(self, times_s) -> np.ndarray:
        knots = [(0.0, self.initial), *self.points]
        return np.interp(np.asarray(times_s, dtype=float), [t for t, _ in knots], [q for _, q in knots])


def infusion_effect(windows_s: Sequence[tuple[float, float]], onset_s: float, decay_s: float) -> Relaxation:
    """e(t) of infusions during the (start, end) ``windows_s``: toward tau_off / (tau_on + tau_off) at the rate
    1/tau_on + 1/tau_off while infusing, toward 0 at 1/tau_off otherwise (module docstring)."""
    on_rate = 1.0 / onset_s + 1.0 / decay_s
    on_level = (1.0 / onset_s) / on_rate
    pieces = []
    for start, end in windows_s:
        pieces += [(start, on_level, on_rate), (end, 0.0, 1.0 / decay_s)]
    return Relaxation(0.0, tuple(pieces))


def bisphosphonate_inhibition(dose_s: float, time_constant_s: float, inhibition: float) -> Relaxation:
    """I(t) = I_max (1 - exp(-(t - t_d) / tau_bp)) after the dose, 0 before it."""
    return Relaxation(0.0, ((dose_s, inhibition, 1.0 / time_constant_s),))


def inhibited_activity(drive: np.ndarray, inhibition: np.ndarray) -> np.ndarray:
    """a = 1 + (a_d - 1)(1 - I): the inhibition suppresses the excess over normal activity."""
    return 1.0 + (drive - 1.0) * (1.0 - inhibition)


def reverse(disease: np.ndarray, healthy: float, fraction: np.ndarray, geometric: bool) -> np.ndarray:
    """q_d moved toward q_h by ``fraction`` (0: unchanged, 1: healthy): linearly, or in log scale for factors.

    Exact at fraction 0 (q_d^1 q_h^0 = q_d, q_d + 0 = q_d), so an untreated time equals the control bit for bit.
    """
    if geometric:
        return disease ** (1.0 - fraction) * healthy**fraction
    return disease + fraction * (healthy - disease)


@dataclass(frozen=True)
class Turnover:
    """Rates of the turnover ODE (module docstring); rates per unit excess activity."""

    mineral_loss_rate_per_s: float  # k_m
    mineralisation_time_constant_s: float  # tau_m
    bone_loss_rate_per_s: float  # k_b
    refill_time_constant_s: float  # tau_b

    def equilibrium(self, activity: float, healthy_bv_tv: float) -> tuple[float, float]:
        """(m*, b*) at constant activity a."""
        excess = activity - 1.0
        m = 1.0 / (1.0 + self.mineral_loss_rate_per_s * self.mineralisation_time_constant_s * excess)
        b = healthy_bv_tv / (1.0 + self.bone_loss_rate_per_s * self.refill_time_constant_s * excess)
        return m, b

    def rates(self, activity: float, state: np.ndarray, healthy_bv_tv: float) -> np.ndarray:
        """(dm/dt, db/dt) [1/s] at activity a and state (m, b)."""
        m, b = state
        excess = activity - 1.0
        return np.array([
            -self.mineral_loss_rate_per_s * excess * m + (1.0 - m) / self.mineralisation_time_constant_s,
            -self.bone_loss_rate_per_s * excess * b + (healthy_bv_tv - b) / self.refill_time_constant_s,
        ])

    def integrate(
        self, activity: Callable[[np.ndarray], np.ndarray], times_s: Sequence[float], healthy_bv_tv: float,
        breakpoints_s: Sequence[float] = (),
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """(m, b) at ``times_s`` (increasing, from 0) starting healthy, a(t) = ``activity(t)``.

        Integrated piece by piece between consecutive times and ``breakpoints_s`` (kinks of a(t): phase
        boundaries, a dose), so no step crosses a kink and a course that equals another up to some time
        gives the same values up to that time.
        """
        times = np.asarray(times_s, dtype=float)
        edges = np.unique(np.concatenate([[0.0], times, [t for t in breakpoints_s if 0.0 < t < times[-1]]]))
        state = np.array([1.0, healthy_bv_tv])
        at_edge = {0.0: state}
        for start, end in itertools.pairwise(edges):
            solution = integrate.solve_ivp(
                lambda t, y: self.rates(float(activity(t)), y, healthy_bv_tv), (start, end), state,
                method="RK45", rtol=_ODE_RTOL, atol=_ODE_ATOL,
            )  # fmt: skip
            state = solution.y[:, -1]
            at_edge[float(end)] = state
        values = np.array([at_edge[float(t)] for t in times])
        return values[:, 0], values[:, 1]
