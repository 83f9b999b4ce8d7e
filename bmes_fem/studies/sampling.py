"""Designs in the unit hypercube: parameter i takes min_i + t_i (max_i - min_i), t_i in [0, 1].

Case counts for k parameters: grid prod_i n_i (every combination); one-at-a-time 2k + 1 (the base,
then each parameter at low and at high); Morris r (k + 1) (r trajectories of k + 1 points on a
p-level grid, Morris 1991); Sobol' N (k + 2) (Saltelli's A, B and k mixed matrices, first and
total order, Saltelli et al. 2010). Morris and Sobol' samples come from SALib with a fixed seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample


def unit_problem(k: int) -> dict:
    """The SALib problem of k factors, each uniform on [0, 1]."""
    return {"num_vars": k, "names": [f"t{i}" for i in range(k)], "bounds": [[0.0, 1.0]] * k}


def grid_design(values: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Every combination of the values (the last parameter varies fastest): prod_i n_i points."""
    return list(itertools.product(*values))


def morris_design(k: int, trajectories: int, levels: int, seed: int) -> np.ndarray:
    """r (k + 1) points in [0, 1]^k: ``trajectories`` one-at-a-time paths on a ``levels``-level grid."""
    return morris_sample.sample(unit_problem(k), N=trajectories, num_levels=levels, seed=seed)


def sobol_design(k: int, samples: int, seed: int) -> np.ndarray:
    """N (k + 2) points in [0, 1]^k (Saltelli's scheme for first- and total-order indices)."""
    return sobol_sample.sample(unit_problem(k), samples, calc_second_order=False, seed=seed)


def scaled(t: float, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """x = low + t (high - low), elementwise for a vector parameter."""
    return low + t * (high - low)
