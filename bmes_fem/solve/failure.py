"""Where a solve failed and, when a check can tell, the input that is the likely cause.

`failing_at(where, causes)` turns a SolverError of its block into one that starts with where it happened
(``step 3, t = 0.06 s``; a disease-course state) and ends with ``likely cause: ...`` when ``causes()``
finds any. The checks:

- `non_finite_histories(config, time_s)`: a boundary condition, an injection or the vascular change whose
  history f(t) (or the direction of its waveform) is not finite at t, named by its key and, for a waveform,
  its file;
- `non_finite_coefficients(tissue)`: tissue coefficients holding a non-finite value on some rank
  (collective);

(a failed factorisation is already reported as a singular operator by bmes_fem.solve.linear).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from dolfinx import fem
from mpi4py import MPI
from ufl.algorithms.analysis import extract_coefficients, extract_constants
from ufl.core.expr import Expr

from bmes_fem.config.case import Config
from bmes_fem.config.histories import TimeFunction
from bmes_fem.errors import SolverError
from bmes_fem.physics.loading import History
from bmes_fem.physics.materials import TissueFields


@contextmanager
def failing_at(where: str, causes: Callable[[], list[str]]) -> Iterator[None]:
    """Re-raise a SolverError of the block as ``<where>: <error>[; likely cause: <causes>]`` (collective, as
    the solves are: every rank fails together and runs ``causes``)."""
    try:
        yield
    except SolverError as err:
        found = causes()
        cause = f"; likely cause: {'; '.join(found)}" if found else ""
        raise SolverError(f"{where}: {err}{cause}") from err


def _histories(config: Config) -> Iterator[tuple[str, TimeFunction]]:
    """(key, history) of every time function of ``config``: boundary conditions, injections, the vascular change."""
    for index, condition in enumerate(config.boundary_conditions):
        if getattr(condition, "history", None) is not None:
            yield f"boundary_conditions.{index} ({condition.kind} on {', '.join(condition.boundary)})", condition.history
    for index, injection in enumerate(config.sources.injections):
        yield f"sources.injections.{index}", injection.history
    if config.analysis == "transient" and config.transient.vascular is not None:
        yield "transient.vascular", config.transient.vascular.history


def non_finite_histories(config: Config, time_s: float) -> list[str]:
    """The time functions of ``config`` whose value f(time_s) or waveform direction is NaN or infinite."""
    found = []
    for key, function in _histories(config):
        history = History(function)
        fraction, direction = history(time_s), history.direction(time_s, np.ones(3))
        if np.isfinite(fraction) and np.all(np.isfinite(direction)):
            continue
        value = f"load fraction {fraction:g}" if not np.isfinite(fraction) else f"load direction {np.round(direction, 3).tolist()}"
        source = f" from waveform file '{function.waveform.path}'" if function.kind == "waveform" else ""
        found.append(f"{key}: {value} at t = {time_s:.4g} s{source}")
    return found


def _finite(value: object) -> bool:
    """All values of a Function, Constant, number or UFL expression (its coefficients and constants) are finite (this rank)."""
    if isinstance(value, fem.Function):
        return bool(np.all(np.isfinite(value.x.array)))
    if isinstance(value, fem.Constant):
        return bool(np.all(np.isfinite(value.value)))
    if isinstance(value, float):
        return bool(np.isfinite(value))
    if isinstance(value, Expr):
        return all(_finite(term) for term in (*extract_coefficients(value), *extract_constants(value)))
    return True


def non_finite_coefficients(tissue: TissueFields) -> list[str]:
    """The tissue coefficients with a non-finite value on some rank, as one finding (collective)."""
    names = [field.name for field in dataclasses.fields(tissue)]
    local = np.array([not _finite(getattr(tissue, name)) for name in names], dtype=np.int8)
    bad = np.zeros_like(local)
    tissue.chi.function_space.mesh.comm.Allreduce(local, bad, op=MPI.MAX)
    found = [name for name, flag in zip(names, bad, strict=True) if flag]
    return [f"non-finite tissue coefficients: {', '.join(found)}"] if found else []
