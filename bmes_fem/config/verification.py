"""Config section ``verification``: the closed-form solution a case must reproduce (``bmes verify``).

The computed field is compared with the closed form at ``line.points`` points evenly spaced from
``line.start`` to ``line.end`` (at ``times`` for a transient case, each a step time), as the relative
RMS error sqrt(sum (computed - exact)^2 / sum exact^2). ``bmes verify`` runs the case at mesh
``levels`` and fits the observed rate against ``expected_rate``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from bmes_fem.config.schema import Point3, PositiveTime, Section

SOLUTIONS = ("terzaghi", "mandel", "leak_drainage_sphere", "free_expansion_sphere")


class ReferenceLine(Section):
    start: Point3
    end: Point3
    points: Annotated[int, Field(ge=2)] = 41


class Verification(Section):
    solution: Literal["terzaghi", "mandel", "leak_drainage_sphere", "free_expansion_sphere"]
    field: Literal["pressure", "displacement"] = "pressure"
    line: ReferenceLine
    times: tuple[PositiveTime, ...] = ()
    levels: tuple[Annotated[int, Field(ge=0)], ...] = (0, 1, 2)
    expected_rate: Annotated[float, Field(gt=0.0)] = 2.0
    tolerance: Annotated[float, Field(gt=0.0)] = 0.01  # finest-mesh relative error the suite accepts
