"""Named probe points: values of a field at fixed points, the same on every rank."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from dolfinx import fem, geometry

from bmes_fem.config.case import Probe
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.domain import Domain


class ProbePoints:
    """Locate each probe in an owned cell of exactly one rank; raise ConfigError for points outside the mesh."""

    def __init__(self, domain: Domain, probes: Sequence[Probe]) -> None:
        mesh = domain.mesh
        self.names = [probe.name for probe in probes]
        self.points = np.array([probe.point for probe in probes], dtype=float).reshape(-1, 3)
        n_owned = mesh.topology.index_map(mesh.topology.dim).size_local
        tree = geometry.bb_tree(mesh, mesh.topology.dim, padding=1e-9)
        colliding = geometry.compute_colliding_cells(mesh, geometry.compute_collisions_points(tree, self.points), self.points)
        local_cells = np.full(len(probes), -1, dtype=np.int32)
        for i in range(len(probes)):
            owned = [cell for cell in colliding.links(i) if cell < n_owned]
            if owned:
                local_cells[i] = owned[0]
        comm = mesh.comm
        found_on = comm.allgather(local_cells >= 0)
        first_rank = np.argmax(np.array(found_on), axis=0)
        for i, probe in enumerate(probes):
            if not any(found[i] for found in found_on):
                x_mm = ", ".join(f"{c * 1e3:g}" for c in probe.point)
                raise ConfigError(
                    f"output.probes.{i} '{probe.name}' at ({x_mm}) mm lies outside the mesh {domain.source}; "
                    "expected a point inside the bone"
                )
        self._mine = np.flatnonzero(first_rank == comm.rank)
        self._cells = local_cells[self._mine]
        self._comm = comm

    def values(self, function: fem.Function) -> np.ndarray:
        """Function values at the probes (shape (n_probes, value_size)) on every rank."""
        size = function.function_space.dofmap.index_map_bs
        local = np.zeros((len(self.names), size))
        if self._mine.size:
            local[self._mine] = function.eval(self.points[self._mine], self._cells).reshape(-1, size)
        return self._comm.allreduce(local)
