"""A case for figures: its config, fields, articular surface, region names and zones (clusters).

After a run the figures get a `CaseData` built in memory; ``bmes render`` reads one back from a case
folder. A folder is usable when it holds every file of `CASE_FILES` and its ``summary.json`` was
written by a bmes_fem of the same major.minor version as the one running (the format may change
between them). Nothing here imports the solver stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyvista as pv

from bmes_fem.config.case import Config
from bmes_fem.config.loader import load_config
from bmes_fem.errors import BmesError, ConfigError
from bmes_fem.output.files import (
    FIELDS_FILE,
    PRESSURE_CLUSTERS_FILE,
    RESOLVED_CONFIG_FILE,
    RISK_CLUSTERS_FILE,
    SUMMARY_FILE,
    SURFACE_FILE,
)
from bmes_fem.post.zones import Cluster, read_clusters_csv

CASE_FILES = (RESOLVED_CONFIG_FILE, FIELDS_FILE, SUMMARY_FILE, RISK_CLUSTERS_FILE, PRESSURE_CLUSTERS_FILE)
REQUIRED_ARRAYS = ("p_mmHg", "u_m", "chi", "region", "R", "eps1", "eps2", "eps3")


@dataclass(frozen=True)
class CaseData:
    """What figures need from a case; lengths in metres as in the files."""

    folder: Path
    config: Config
    fields: pv.UnstructuredGrid
    surface: pv.PolyData | None  # the articular surface; None if the mesh has none
    regions: dict[str, int]
    risk_zones: dict[str, list[Cluster]]  # R_crit -> clusters, largest first (as in risk_clusters.csv)
    pressure_zones: dict[str, list[Cluster]]  # threshold [mmHg] -> clusters

    def region_id(self, name: str) -> int:
        if name not in self.regions:
            raise BmesError(f"case {self.folder}: no region '{name}' (regions: {', '.join(self.regions)})")
        return self.regions[name]


def surface_polydata(triangles_m: np.ndarray) -> pv.PolyData:
    """Triangles (m, 3, 3) as a PolyData with merged points."""
    points = triangles_m.reshape(-1, 3)
    faces = np.column_stack([np.full(len(triangles_m), 3), np.arange(points.shape[0]).reshape(-1, 3)])
    return pv.PolyData(points, faces.ravel()).clean()


def read_vtk(path: Path, kind: type) -> pv.DataSet:
    """Read a VTK file expected to hold a ``kind``; BmesError naming the file otherwise."""
    try:
        data = pv.read(path)
    except Exception as exc:  # vtk readers raise assorted types
        raise BmesError(f"{path} could not be read: {exc}") from exc
    if not isinstance(data, kind):
        raise BmesError(f"{path} holds a {type(data).__name__}, expected a {kind.__name__}")
    return data


def load_fields(fields_vtu: Path) -> pv.UnstructuredGrid:
    """Read ``fields.vtu``; BmesError naming the file if missing, unreadable or lacking an array of REQUIRED_ARRAYS."""
    fields_vtu = Path(fields_vtu)
    if not fields_vtu.is_file():
        raise BmesError(f"fields file {fields_vtu} does not exist")
    grid = read_vtk(fields_vtu, pv.UnstructuredGrid)
    missing = [name for name in REQUIRED_ARRAYS if name not in grid.array_names]
    if missing:
        raise BmesError(f"fields file {fields_vtu} lacks arrays {missing} (expected {list(REQUIRED_ARRAYS)})")
    return grid


def load_case(case_dir: Path) -> CaseData:
    """Read a finished case folder; BmesError naming the folder and file if it is incomplete or incompatible."""
    case_dir = Path(case_dir)
    if not case_dir.is_dir():
        raise BmesError(f"results folder {case_dir} does not exist (expected results/<case>/ written by `bmes run`)")
    missing = [name for name in CASE_FILES if not (case_dir / name).is_file()]
    if missing:
        raise BmesError(
            f"results folder {case_dir} is incomplete: missing {', '.join(missing)} "
            f"(expected {', '.join(CASE_FILES)}; re-run `bmes run` on its config)"
        )
    summary = _read_summary(case_dir / SUMMARY_FILE)
    try:
        config = load_config(case_dir / RESOLVED_CONFIG_FILE, read_inputs=False)
    except ConfigError as exc:
        raise BmesError(f"results folder {case_dir}: {exc} (written by another bmes_fem? re-run `bmes run`)") from exc
    surface = case_dir / SURFACE_FILE
    return CaseData(
        case_dir,
        config,
        load_fields(case_dir / FIELDS_FILE),
        read_vtk(surface, pv.PolyData) if surface.is_file() else None,
        {str(name): int(tag) for name, tag in summary["regions"].items()},
        read_clusters_csv(case_dir / RISK_CLUSTERS_FILE, "R_crit", "peak_R"),
        read_clusters_csv(case_dir / PRESSURE_CLUSTERS_FILE, "p_threshold_mmHg", "peak_p_mmHg"),
    )


def _read_summary(path: Path) -> dict:
    """summary.json, checked for a compatible ``bmes_fem_version`` and the ``regions`` map."""
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BmesError(f"{path} is not readable JSON: {exc}") from exc
    running = version("bmes_fem")
    written = summary.get("bmes_fem_version") if isinstance(summary, dict) else None
    if not isinstance(written, str) or written.split(".")[:2] != running.split(".")[:2]:
        major_minor = ".".join(running.split(".")[:2])
        raise BmesError(
            f"{path}: bmes_fem_version = {written!r} is incompatible with the installed bmes_fem {running} "
            f"(expected {major_minor}.x); re-run `bmes run` on its config"
        )
    if not isinstance(summary.get("regions"), dict):
        raise BmesError(f"{path}: no 'regions' map (region name -> cell tag); re-run `bmes run` on its config")
    return summary
