"""A solved state of a case: what every analysis yields and every output consumes.

A steady analysis yields one state; a transient one the initial state and one per time step; a
disease course one per sample time. The functions are the problem's own: they change at the next
state, so an output reads what it needs in ``on_state`` (the last state stays valid after the run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from dolfinx import fem

from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.boundary_conditions import BoundaryConditions
from bmes_fem.physics.materials import TissueFields
from bmes_fem.solve.linear import SolveStats


@dataclass(frozen=True)
class State:
    """Fields at one time with the loads that produced them and what the solve cost."""

    domain: Domain
    tissue: TissueFields
    loads: BoundaryConditions  # boundary conditions and sources, at this state's time
    pressure: fem.Function  # p [Pa], P1
    displacement: fem.Function  # u [m], P2
    solves: tuple[SolveStats, ...]
    time_s: float = 0.0  # transient time; 0 for a steady state
    step: int = 0  # 0: steady or initial state; n: after the n-th step
    label: str = "steady"  # what the state is, for logs and figure titles
    void_cells: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))  # owned cells holding no bone (a drilled tunnel)
