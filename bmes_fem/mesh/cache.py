"""Generated meshes kept on disk, so a study, a course or a test that meshes the same geometry again reads it.

The key is the SHA-256 of what decides the mesh: the geometry section, the element sizes (with their refinement
zones), gmsh's version and the source of the modules that build the gmsh model. A changed size, a moved lesion
(its refinement ball) or an edited mesher is another key; nothing has to be invalidated by hand.

Folder: ``$BMES_MESH_CACHE`` if set, else ``<user cache>/bmes_fem/meshes`` (e.g. ``~/.cache/bmes_fem/meshes``);
``BMES_MESH_CACHE=off`` turns the cache off. A mesh is written under a temporary name and renamed into place
(``os.replace``), so concurrent runs never read half a file; two runs that miss together both mesh, and the
second rename wins with the same content.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs
from mpi4py import MPI

from bmes_fem.config.geometry import ParametricGeometry
from bmes_fem.lazy import lazy_module
from bmes_fem.mesh.meshing import MeshSizes

gmsh = lazy_module("gmsh")

ENVIRONMENT = "BMES_MESH_CACHE"
OFF = "off"
#: modules whose code builds the gmsh model: part of the key
MESHER_SOURCES = ("shapes.py", "meshing.py", "build.py")


def cache_folder() -> Path | None:
    """The cache folder, or None when ``BMES_MESH_CACHE=off``."""
    setting = os.environ.get(ENVIRONMENT)
    if setting == OFF:
        return None
    return Path(setting) if setting else platformdirs.user_cache_path("bmes_fem", appauthor=False) / "meshes"


def mesh_key(geometry: ParametricGeometry, sizes: MeshSizes) -> str:
    """SHA-256 of the geometry, the sizes, gmsh's version and the mesher's source."""
    digest = hashlib.sha256()
    for part in (geometry.model_dump_json(), repr(sizes), gmsh.__version__):
        digest.update(part.encode())
    here = Path(__file__).parent
    for name in MESHER_SOURCES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def cached_mesh_path(geometry: ParametricGeometry, sizes: MeshSizes, comm: MPI.Comm) -> tuple[Path | None, bool]:
    """(where the mesh of ``geometry`` and ``sizes`` is or will be kept, whether it is there), rank 0's answer on
    every rank; (None, False) when the cache is off."""
    answer: tuple[Path | None, bool] = (None, False)
    if comm.rank == 0:
        folder = cache_folder()
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{mesh_key(geometry, sizes)}.msh"
            answer = (path, path.is_file())
    return comm.bcast(answer, root=0)


def publish(written: Path, final: Path) -> None:
    """Move a mesh written under a temporary name into the cache (atomic)."""
    os.replace(written, final)
