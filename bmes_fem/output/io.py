"""Writing results: an atomic case folder, the fields gathered from all ranks into one grid, JSON and YAML.

Nothing half-written is left in ``results/``: a case is written into a hidden temporary folder
beside its final place and renamed when complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
from dolfinx import fem
from mpi4py import MPI

from bmes_fem import interrupt
from bmes_fem.mesh.domain import Domain


@contextmanager
def atomic_directory(final: Path, comm: MPI.Comm) -> Iterator[Path]:
    """Yield a temporary folder (same on all ranks) renamed to ``final`` on success, deleted on failure (collective).

    The folder is deleted on any exception in the block, and also if the Ctrl-C watchdog ends the process
    (bmes_fem.interrupt); a parent made for it goes too when left empty. Before the rename the ranks agree:
    a SIGINT on any rank deletes the folder on all. The rename itself is not interrupted half-way.
    """
    temporary = None
    created_parent = False

    def remove() -> None:  # by any rank, or several at once
        shutil.rmtree(temporary, ignore_errors=True)
        if created_parent and final.parent.is_dir() and not any(final.parent.iterdir()):
            with suppress(OSError):
                final.parent.rmdir()

    try:
        if comm.rank == 0:
            with interrupt.deferred():  # a SIGINT here is raised once `remove` can see what was made
                created_parent = not final.parent.exists()
                final.parent.mkdir(parents=True, exist_ok=True)
                temporary = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
        temporary, created_parent = comm.bcast((temporary, created_parent), root=0)
        with interrupt.cleanup(remove):
            yield temporary
            interrupt.agree(comm)
            with interrupt.deferred():
                if comm.rank == 0:
                    previous = final.with_name(f".{final.name}.previous") if final.exists() else None
                    if previous is not None:
                        shutil.rmtree(previous, ignore_errors=True)
                        final.rename(previous)
                    temporary.rename(final)
                    if previous is not None:
                        shutil.rmtree(previous)
                comm.barrier()
    except BaseException:
        if temporary is not None:  # every rank: one may stand in for a rank 0 stuck in C (bmes_fem.interrupt)
            remove()
        raise


def write_json(path: Path, data: Mapping, comm: MPI.Comm) -> None:
    if comm.rank == 0:
        path.write_text(json.dumps(data, indent=2, default=_to_builtin) + "\n")


def write_text(path: Path, text: str, comm: MPI.Comm) -> None:
    if comm.rank == 0:
        path.write_text(text)


def _to_builtin(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _vertex_values(function: fem.Function, n_owned_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """(local geometry node, value) pairs of a P1 function on the nodes of the owned cells."""
    mesh = function.function_space.mesh
    block = function.function_space.dofmap.index_map_bs
    nodes = mesh.geometry.dofmaps[0][:n_owned_cells].ravel()
    dofs = function.function_space.dofmap.list[:n_owned_cells].ravel()
    return nodes, function.x.array.reshape(-1, block)[dofs]


def gather_grid(
    domain: Domain,
    point_fields: Mapping[str, fem.Function],
    cell_fields: Mapping[str, np.ndarray],
):
    """The mesh and fields as one pyvista grid on rank 0 (None elsewhere), in the input (serial) numbering.

    ``point_fields`` are P1 functions (scalar or vector); ``cell_fields`` hold one row per owned cell.
    Points and cells are ordered by their index in the original mesh, so serial and parallel runs
    give the same grid (collective).
    """
    mesh = domain.mesh
    comm = mesh.comm
    n_owned = mesh.topology.index_map(mesh.topology.dim).size_local
    node_ids = mesh.geometry.input_global_indices
    cells_local = mesh.geometry.dofmaps[0][:n_owned]
    local = {
        "cells": node_ids[cells_local],
        "cell_order": np.asarray(mesh.topology.original_cell_index[:n_owned], dtype=np.int64),
        "nodes": node_ids[cells_local.ravel()],
        "x": mesh.geometry.x[cells_local.ravel()],
        "point": {name: _vertex_values(f, n_owned)[1] for name, f in point_fields.items()},
        "cell": {name: np.asarray(values) for name, values in cell_fields.items()},
    }
    pieces = comm.gather(local, root=0)
    if comm.rank != 0:
        return None
    import pyvista

    nodes = np.concatenate([piece["nodes"] for piece in pieces])
    unique_nodes, first = np.unique(nodes, return_index=True)
    renumber = np.full(unique_nodes.max() + 1, -1, dtype=np.int64)
    renumber[unique_nodes] = np.arange(unique_nodes.size)
    order = np.argsort(np.concatenate([piece["cell_order"] for piece in pieces]), kind="stable")
    cells = renumber[np.concatenate([piece["cells"] for piece in pieces])][order]
    grid = pyvista.UnstructuredGrid({pyvista.CellType.TETRA: cells}, np.concatenate([p["x"] for p in pieces])[first])
    for name in point_fields:
        grid.point_data[name] = np.concatenate([piece["point"][name] for piece in pieces])[first].squeeze()
    for name in cell_fields:
        grid.cell_data[name] = np.concatenate([piece["cell"][name] for piece in pieces])[order]
    return grid
