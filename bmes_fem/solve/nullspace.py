"""Rigid-body modes of a vector space: the near-nullspace of linear elasticity for smoothed-aggregation AMG.

2D: translations e_x, e_y and the rotation (-y, x); 3D: e_x, e_y, e_z and the rotations
(-y, x, 0), (z, 0, -x), (0, -z, y), all about the mesh centroid. Each mode is interpolated into the
space (any Lagrange-family element, no dof coordinates needed) and the set is orthonormalised.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from dolfinx import fem, la
from mpi4py import MPI
from petsc4py import PETSc

Field = Callable[[np.ndarray], np.ndarray]


def _centroid(space: fem.FunctionSpace) -> np.ndarray:
    """Mean of the owned geometry nodes over all ranks (the same point on every rank)."""
    geometry = space.mesh.geometry
    owned = geometry.x[: geometry.index_map().size_local]
    comm = space.mesh.comm
    total = comm.allreduce(owned.sum(axis=0), op=MPI.SUM)
    return total / comm.allreduce(owned.shape[0], op=MPI.SUM)


def _rigid_motions(gdim: int, centre: np.ndarray) -> list[Field]:
    """Translations and infinitesimal rotations about ``centre`` as callables x (3, n) -> values (gdim, n)."""

    def translation(i: int) -> Field:
        return lambda x: np.eye(gdim)[i][:, None] * np.ones(x.shape[1])

    def rotation(i: int, j: int) -> Field:  # rotation in the (x_i, x_j) plane: u_i = -x_j, u_j = x_i
        def values(x: np.ndarray) -> np.ndarray:
            u = np.zeros((gdim, x.shape[1]))
            u[i], u[j] = -(x[j] - centre[j]), x[i] - centre[i]
            return u

        return values

    planes = [(0, 1)] if gdim == 2 else [(0, 1), (2, 0), (1, 2)]
    return [translation(i) for i in range(gdim)] + [rotation(i, j) for i, j in planes]


def rigid_body_modes(space: fem.FunctionSpace) -> PETSc.NullSpace:
    """The 3 (2D) or 6 (3D) orthonormal rigid-body modes of a vector space with one component per dimension."""
    gdim = space.mesh.geometry.dim
    if space.dofmap.index_map_bs != gdim or gdim not in (2, 3):
        raise ValueError(f"rigid-body modes need a {gdim}D vector space with {gdim} components, got block size {space.dofmap.index_map_bs}")
    modes = []
    for motion in _rigid_motions(gdim, _centroid(space)):
        mode = fem.Function(space)
        mode.interpolate(motion)
        modes.append(mode.x)
    la.orthonormalize(modes)
    owned = space.dofmap.index_map.size_local * gdim
    vectors = []
    for mode in modes:
        vector = PETSc.Vec().createMPI((owned, PETSc.DECIDE), bsize=gdim, comm=space.mesh.comm)
        vector.array[:] = mode.array[:owned]
        vectors.append(vector)
    return PETSc.NullSpace().create(vectors=vectors, comm=space.mesh.comm)
