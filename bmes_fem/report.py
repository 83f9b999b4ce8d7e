"""Figures and tables a user looks at, made from a finished case folder."""

from __future__ import annotations

from pathlib import Path

from bmes_fem.config import Config
from bmes_fem.io import FIELDS_FILE
from bmes_fem.post import CellFields
from bmes_fem.problem import SteadySolution

CUTAWAY_FIGURE = Path("figures") / "pressure_cutaway.png"


def write_report(folder: Path, config: Config, solution: SteadySolution, cells: CellFields) -> dict:
    """Write the figures and tables of a case into ``folder``; return entries for ``summary.json``."""
    if config.output.figures and solution.domain.mesh.comm.rank == 0:
        _render_cutaway(folder, config)
    return {}


def _render_cutaway(folder: Path, config: Config) -> None:
    """``figures/pressure_cutaway.png``: a coronal cut through the first lesion's centre."""
    from bmes_fem.render import render_pressure_cutaway

    (folder / CUTAWAY_FIGURE.parent).mkdir(exist_ok=True)
    centre = config.lesions[0].centre if config.lesions else config.load.head_centre
    render_pressure_cutaway(
        folder / FIELDS_FILE,
        folder / CUTAWAY_FIGURE,
        plane_origin_m=centre,
        plane_normal=(0.0, 1.0, 0.0),
        title=config.case,
    )
