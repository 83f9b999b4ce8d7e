"""Sensitivities: one-at-a-time elasticities, Morris elementary effects and Sobol' indices (SALib).

Normalised elasticity, the percent change of a quantity Q per percent change of a parameter X, from
the base case (X0, Q0) and the cases at X_low and X_high (every other parameter at its base value):

    central      E      = ((Q_high - Q_low) / Q0) / ((X_high - X_low) / X0)
    one-sided    E_low  = ((Q_low - Q0) / Q0) / ((X_low - X0) / X0),   E_high likewise

A vector parameter (``lesions.0.semi_axes``) enters by its Euclidean norm |X|.

Morris (1991) on the unit hypercube t = (X - min) / (max - min): elementary effects
EE_i = (Q(t + Delta e_i) - Q(t)) / Delta; mu* = mean |EE_i| (Campolongo et al. 2007), sigma = std(EE_i),
both in the unit of Q per full range of X_i. Sobol' (Saltelli et al. 2010): first order
S_i = V[E(Q | X_i)] / V(Q), total order S_Ti = E[V(Q | X_~i)] / V(Q), with bootstrap 95 % intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze

from bmes_fem.studies.sampling import unit_problem
from bmes_fem.studies.study import Parameter, Study

MORRIS_INDICES = ("mu_star", "mu_star_conf", "mu", "sigma")
SOBOL_INDICES = ("S1", "S1_conf", "ST", "ST_conf")


def elasticity(x_from: float, x_to: float, q_from: float, q_to: float, x0: float, q0: float) -> float:
    """((q_to - q_from) / q0) / ((x_to - x_from) / x0); NaN where q0 or x_to - x_from is 0."""
    if q0 == 0.0 or x_to == x_from:
        return math.nan
    return ((q_to - q_from) / q0) / ((x_to - x_from) / x0)


@dataclass(frozen=True)
class Elasticity:
    """One parameter's one-at-a-time result for one quantity: X and Q at low, base and high."""

    parameter: Parameter
    x: tuple[float, float, float]  # |X| in the parameter's display unit
    q: tuple[float, float, float]

    @property
    def central(self) -> float:
        return elasticity(self.x[0], self.x[2], self.q[0], self.q[2], self.x[1], self.q[1])

    @property
    def low(self) -> float:
        return elasticity(self.x[1], self.x[0], self.q[1], self.q[0], self.x[1], self.q[1])

    @property
    def high(self) -> float:
        return elasticity(self.x[1], self.x[2], self.q[1], self.q[2], self.x[1], self.q[1])


def magnitude(parameter: Parameter, value: object) -> float:
    """A case's value of ``parameter`` in its display unit, |X| for a vector; NaN for text."""
    shown = parameter.shown(value)
    if isinstance(shown, tuple):
        return float(np.linalg.norm(shown))
    return float(shown) if isinstance(shown, (int, float)) else math.nan


def one_at_a_time(study: Study, values: np.ndarray) -> dict[str, list[Elasticity]]:
    """Elasticities per quantity; ``values[case, quantity]``, cases ordered base, then low and high per parameter."""
    result: dict[str, list[Elasticity]] = {}
    for j, quantity in enumerate(study.quantities):
        result[quantity] = []
        for i, parameter in enumerate(study.parameters):
            rows = (1 + 2 * i, 0, 2 + 2 * i)
            x = tuple(magnitude(parameter, study.cases[row].values[parameter.path]) for row in rows)
            result[quantity].append(Elasticity(parameter, x, tuple(float(values[row, j]) for row in rows)))
    return result


def morris_indices(study: Study, values: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """mu*, its 95 % interval, mu and sigma per quantity (arrays over the parameters)."""
    k, levels, seed = len(study.parameters), study.spec.morris.levels, study.spec.morris.seed
    return {
        quantity: _arrays(morris_analyze.analyze(unit_problem(k), study.unit_sample, values[:, j], num_levels=levels, seed=seed), MORRIS_INDICES)
        for j, quantity in enumerate(study.quantities)
    }


def sobol_indices(study: Study, values: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """First- and total-order indices with their 95 % intervals per quantity."""
    k, seed = len(study.parameters), study.spec.sobol.seed
    return {
        quantity: _arrays(sobol_analyze.analyze(unit_problem(k), values[:, j], calc_second_order=False, seed=seed), SOBOL_INDICES)
        for j, quantity in enumerate(study.quantities)
    }


def _arrays(result: dict, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {name: np.asarray(result[name], dtype=float) for name in names}
