"""The variable registry: every figure, table and plot takes a field's name, unit, colormap and limits from here.

A variable reads one array of ``fields.vtu`` (stored in SI or as written by api.py) and shows it as
``scale * value`` in its display unit; a vector array is shown by its magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bmes_fem.errors import BmesError

if TYPE_CHECKING:
    import pyvista as pv


@dataclass(frozen=True)
class Variable:
    """A field as shown to a user: ``array`` of fields.vtu times ``scale`` in ``unit``.

    ``clim`` None: colour limits are the data range of the picture (shared when comparing).
    """

    name: str
    label: str
    array: str
    unit: str
    cmap: str
    clim: tuple[float, float] | None = None
    scale: float = 1.0

    @property
    def title(self) -> str:
        """Axis / colour-bar title with the unit, e.g. ``Interstitial pressure [mmHg]``."""
        return f"{self.label} [{self.unit}]"

    @property
    def display_array(self) -> str:
        """Name of the array `add_to` writes, e.g. ``eps1_microstrain``."""
        return f"{self.name}_{self.unit}"

    def values(self, grid: pv.DataSet) -> np.ndarray:
        """Values in the display unit (magnitude for a vector array); BmesError if the array is absent."""
        if self.array not in grid.array_names:
            raise BmesError(f"fields have no array '{self.array}' for variable '{self.name}' (arrays: {grid.array_names})")
        data = np.asarray(grid[self.array], dtype=float)
        if data.ndim == 2:
            data = np.linalg.norm(data, axis=1)
        return data * self.scale

    def add_to(self, grid: pv.DataSet) -> str:
        """Store `values` on ``grid`` (same association as the source array) and return the array's name."""
        values = self.values(grid)
        target = grid.point_data if self.array in grid.point_data else grid.cell_data
        target[self.display_array] = values
        return self.display_array

    def limits(self, *value_sets: np.ndarray) -> tuple[float, float]:
        """``clim`` if fixed, else the finite range over all ``value_sets`` (one shared scale)."""
        if self.clim is not None:
            return self.clim
        finite = np.concatenate([np.ravel(v)[np.isfinite(np.ravel(v))] for v in value_sets])
        if finite.size == 0:
            return (0.0, 1.0)
        low, high = float(finite.min()), float(finite.max())
        return (low, high) if high > low else (low - 0.5, high + 0.5)


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable("pressure", "Interstitial pressure", "p_mmHg", "mmHg", "viridis"),
        Variable("risk", "Risk index R", "R", "-", "inferno", clim=(0.0, 1.0)),
        Variable("eps1", "Max. principal strain", "eps1", "microstrain", "plasma", scale=1e6),
        Variable("eps2", "Mid. principal strain", "eps2", "microstrain", "plasma", scale=1e6),
        Variable("eps3", "Min. principal strain", "eps3", "microstrain", "plasma_r", scale=1e6),
        Variable("displacement", "Displacement", "u_m", "um", "cividis", scale=1e6),
        Variable("chi", "Lesion indicator chi", "chi", "-", "Greys", clim=(0.0, 1.0)),
    )
}


def variable(name: str) -> Variable:
    """The registered variable ``name``; BmesError listing the registered names otherwise."""
    try:
        return VARIABLES[name]
    except KeyError:
        raise BmesError(f"unknown variable '{name}' (expected one of: {', '.join(VARIABLES)})") from None
