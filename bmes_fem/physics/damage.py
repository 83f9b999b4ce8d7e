"""Fatigue microdamage of trabecular bone: S-N law, Miner's sum, stiffness loss and repair by remodelling (NumPy).

Each trabecular cell carries a damage D >= 0 (Miner's sum; D = 1 is fatigue failure, the microfracture criterion).

S-N law, the stress amplitude normalised by the pre-fatigue modulus E_0 and by the apparent yield strain
eps_y (Haddock et al. 2004 pooled human vertebral and bovine tibial S-N data this way; `FatigueLaw`):

    s = sigma / (E_0 eps_y)                  N_f(s) = N_ref (s / s_ref)^(-m)      cycles to failure

Stiffness loss: E = E_0 (1 - k D) with k the modulus loss that defines failure in those tests (10 %), D <= 1.
In a state solved on the current (damaged) stiffness, sigma = E eps, so with the risk index
R = max(eps_1 / eps_yt, -eps_3 / eps_yc) of that state

    s = (1 - k D) R                                                                   (`stress_ratio`)

Miner's rule with repair: n cycles per unit time at s and removal of damage at the rate r bone is renewed,

    dD/dt = n / N_f(s) - r D

over an interval dt of constant n, s and r (`accumulate`; exact):

    D(t + dt) = D e^(-r dt) + (n / N_f) (1 - e^(-r dt)) / r         -> D + n dt / N_f   as r -> 0

Constant-amplitude stress (s fixed; s does not depend on D under load control of a uniform bar) gives
D = n / N_f; blocks n_i at s_i give D = sum n_i / N_f(s_i); no load gives D = D_0 e^(-r t).

The repair rate follows the bone turnover of the course (bmes_fem.physics.turnover): damage is removed at the
rate bone is renewed, r = r_h a, with r_h the healthy cancellous turnover rate and a the osteoclast activity,
blended into each cell by the lesion indicator, a(x) = 1 + chi_m(x) (a - 1) (`repair_rate_per_s`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np


@dataclass(frozen=True)
class FatigueLaw:
    """N_f(s) = N_ref (s / s_ref)^(-m) (module docstring); s <= 0 never fails (N_f infinite)."""

    reference_ratio: float  # s_ref [-]
    reference_cycles: float  # N_ref: cycles to failure at s_ref
    exponent: float  # m

    def cycles_to_failure(self, stress_ratio) -> np.ndarray:
        """N_f(s) [cycles]; inf where s <= 0."""
        s = np.asarray(stress_ratio, dtype=float)
        with np.errstate(divide="ignore", over="ignore"):
            return np.where(
                s > 0.0, self.reference_cycles * (np.maximum(s, 1e-300) / self.reference_ratio) ** (-self.exponent), np.inf
            )


def stress_ratio(risk_index: np.ndarray, damage: np.ndarray, modulus_loss_at_failure: float) -> np.ndarray:
    """s = (1 - k D) R: the cyclic stress over E_0 eps_y from the risk index R of a state on the damaged stiffness."""
    return (1.0 - modulus_loss_at_failure * np.asarray(damage)) * np.asarray(risk_index)


def stiffness_factor(damage: np.ndarray, modulus_loss_at_failure: float) -> np.ndarray:
    """E / E_0 = 1 - k D."""
    return 1.0 - modulus_loss_at_failure * np.asarray(damage)


def accumulate(damage: np.ndarray, source_per_s: np.ndarray, repair_rate_per_s: np.ndarray, interval_s: float) -> np.ndarray:
    """D after ``interval_s`` of dD/dt = q - r D with constant q = n / N_f and r (module docstring), capped at 1."""
    decay = np.exp(-np.asarray(repair_rate_per_s) * interval_s)
    # (1 - e^(-r dt)) / r, written with expm1 so that r -> 0 gives dt to rounding
    rate_dt = np.asarray(repair_rate_per_s) * interval_s
    growth_time = np.where(rate_dt > 0.0, -np.expm1(-rate_dt) / np.where(rate_dt > 0.0, repair_rate_per_s, 1.0), interval_s)
    return np.minimum(np.asarray(damage) * decay + np.asarray(source_per_s) * growth_time, 1.0)


def repair_rate_per_s(healthy_rate_per_s: float, activity: float, lesion_indicator: np.ndarray) -> np.ndarray:
    """r(x) = r_h (1 + chi_m(x) (a - 1)): remodelling removes damage at the rate bone is renewed."""
    return healthy_rate_per_s * (1.0 + np.asarray(lesion_indicator) * (activity - 1.0))


def weight_bearing_fraction(times_s, start_s: float, duration_s: float, progression_s: float, fraction: float) -> np.ndarray:
    """Protected weight bearing: 1 before ``start_s``, ``fraction`` for ``duration_s``, then linear back to 1 over
    ``progression_s`` (at once if 0), 1 after (of the joint force or the steps per day)."""
    times = np.asarray(times_s, dtype=float)
    since = times - start_s - duration_s
    recovered = np.clip(since / progression_s, 0.0, 1.0) if progression_s > 0.0 else (since >= 0.0).astype(float)
    return np.where(times < start_s, 1.0, fraction + (1.0 - fraction) * recovered)


def scaled_law(law, factor):
    """The elastic law (bmes_fem.physics.elasticity) with every modulus times ``factor`` (a UFL expression or
    number): E -> factor E at fixed Poisson ratios and fabric, since each constant is linear in E."""
    return replace(law, **{f.name: factor * getattr(law, f.name) for f in fields(law) if f.name != "axis"})
