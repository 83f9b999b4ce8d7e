"""Grid convergence of a scalar over three meshes: Richardson extrapolation and Roache's GCI.

With f1, f2, f3 on the fine, medium and coarse mesh (sizes h1 < h2 < h3, constant ratio r = h2/h1 = h3/h2)
and e21 = f2 - f1, e32 = f3 - f2 (Roache 1998; Celik et al. 2008, ASME J. Fluids Eng. 130 078001):

    observed order       p = ln(e32 / e21) / ln r
    Richardson           f_exact = f1 + (f1 - f2) / (r^p - 1)
    GCI (fine mesh)      GCI_21 = Fs |(f2 - f1) / f1| / (r^p - 1),   Fs = 1.25 for three grids
    GCI (medium mesh)    GCI_32 = Fs |(f3 - f2) / f2| / (r^p - 1)
    asymptotic range     GCI_32 / (r^p GCI_21) = 1

The convergence is monotone when 0 < e21/e32 < 1, oscillatory when e21/e32 < 0 and divergent when
e21/e32 > 1; p, the extrapolate and the GCI are given for monotone convergence only (NaN otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SAFETY_FACTOR_THREE_GRIDS = 1.25  # Roache 1998


@dataclass(frozen=True)
class GridConvergence:
    """Richardson extrapolation of one quantity; sizes and values ordered fine, medium, coarse."""

    h: tuple[float, float, float]
    values: tuple[float, float, float]
    ratio: float  # r = h2 / h1 = h3 / h2
    behaviour: str  # monotone, oscillatory, divergent, unchanged, or undefined (a value is missing)
    order: float = math.nan  # p
    extrapolated: float = math.nan  # f_exact
    gci_fine: float = math.nan  # GCI_21, a fraction of f1
    gci_medium: float = math.nan  # GCI_32, a fraction of f2

    @property
    def asymptotic_ratio(self) -> float:
        """GCI_32 / (r^p GCI_21): close to 1 in the asymptotic range."""
        return self.gci_medium / (self.ratio**self.order * self.gci_fine)


def richardson(h: Sequence[float], values: Sequence[float], safety_factor: float = SAFETY_FACTOR_THREE_GRIDS) -> GridConvergence:
    """Observed order, extrapolate and GCI from three (h, f) pairs in any order; ValueError unless h2/h1 = h3/h2."""
    (h1, f1), (h2, f2), (h3, f3) = sorted(zip(h, values, strict=True))
    ratio = h2 / h1
    if not math.isclose(h3 / h2, ratio, rel_tol=1e-6) or ratio <= 1.0:
        raise ValueError(f"mesh sizes {h1:g}, {h2:g}, {h3:g}: expected a constant refinement ratio above 1")
    e21, e32 = f2 - f1, f3 - f2
    common = GridConvergence((h1, h2, h3), (f1, f2, f3), ratio, "unchanged")
    if not math.isfinite(e21 + e32):
        return GridConvergence(common.h, common.values, ratio, "undefined")
    if e21 == 0.0 or e32 == 0.0:
        return common
    change = e21 / e32
    behaviour = "monotone" if 0.0 < change < 1.0 else "oscillatory" if change < 0.0 else "divergent"
    if behaviour != "monotone":
        return GridConvergence(common.h, common.values, ratio, behaviour)
    order = math.log(e32 / e21) / math.log(ratio)
    denominator = ratio**order - 1.0
    return GridConvergence(
        common.h,
        common.values,
        ratio,
        behaviour,
        order,
        extrapolated=f1 + (f1 - f2) / denominator,
        gci_fine=safety_factor * _relative(e21, f1) / denominator,
        gci_medium=safety_factor * _relative(e32, f2) / denominator,
    )


def _relative(change: float, value: float) -> float:
    """|change / value|; NaN for a zero value."""
    return abs(change / value) if value else math.nan
