"""Figures and tables a user looks at, made from a finished case folder."""

from __future__ import annotations

from pathlib import Path

from mpi4py import MPI

from bmes_fem.config import Config
from bmes_fem.io import FIELDS_FILE

CUTAWAY_FIGURE = Path("figures") / "pressure_cutaway.png"


def write_figures(folder: Path, config: Config, comm: MPI.Comm) -> None:
    """Render ``figures/pressure_cutaway.png``: a coronal cut through the first lesion's centre (rank 0)."""
    if comm.rank != 0:
        return
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
