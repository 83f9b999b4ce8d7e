"""Consistent boundary forces from the momentum residual (collective).

r(v) = (sigma'(u), eps(v)) - (alpha p, div v) - (f, v) - sum <t, v> vanishes at the free displacement
dofs of a solution; at a constrained dof it is the force the constraint exerts on the body. The force
through a boundary G is the sum of r over the dofs of G (per component) plus the tractions applied on
G, int_G t ds: it holds for clamped, roller, plate and loaded faces alike. A dof on the edge between G
and a face whose condition constrains it belongs to that face (its reaction is that face's force).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import ufl
from dolfinx import fem, la
from mpi4py import MPI

from bmes_fem.mesh.domain import Domain


class Residual:
    """The momentum residual r(v) of the current fields, assembled on demand."""

    def __init__(self, residual: ufl.Form, space: fem.FunctionSpace) -> None:
        self.form = fem.form(residual)
        self.space = space
        self.vector = la.vector(space.dofmap.index_map, space.dofmap.index_map_bs)

    def assemble(self) -> np.ndarray:
        """r at the owned dofs (block-expanded), ghost contributions added."""
        self.vector.array[:] = 0.0
        fem.assemble_vector(self.vector.array, self.form)
        self.vector.scatter_reverse(la.InsertMode.add)
        return self.vector.array[: self.space.dofmap.index_map.size_local * self.space.dofmap.index_map_bs]

    def force(self, values: np.ndarray, dofs: np.ndarray) -> np.ndarray:
        """sum of ``values`` (from `assemble`) over the owned ``dofs`` per component [N], on every rank."""
        block = self.space.dofmap.index_map_bs
        owned = dofs[dofs < len(values)]
        local = np.bincount(owned % block, weights=values[owned], minlength=block)
        return self.space.mesh.comm.allreduce(local, op=MPI.SUM)


def boundary_dofs(space: fem.FunctionSpace, domain: Domain, names: Sequence[str]) -> np.ndarray:
    """Block-expanded dofs of a vector space on the facets of the named boundaries."""
    facets = np.concatenate([domain.facet_tags.find(domain.boundary_id(name)) for name in names])
    nodes = fem.locate_dofs_topological(space, domain.mesh.topology.dim - 1, facets)
    block = space.dofmap.index_map_bs
    return (nodes[:, None] * block + np.arange(block)).ravel()


class BoundaryForce:
    """The force through boundary ``name`` [N]: the residual summed over its dofs (but those another face's
    ``constraints`` fix) plus int_G t ds of the tractions applied on it (forms compiled once; call per state)."""

    def __init__(self, residual: Residual, domain: Domain, name: str, tractions, constraints) -> None:
        self.residual = residual
        foreign = [c.dofs for c in constraints if name not in c.boundaries]
        self.dofs = np.setdiff1d(boundary_dofs(residual.space, domain, [name]), np.concatenate([[], *foreign]).astype(np.int64))
        ds = ufl.Measure("ds", domain=domain.mesh, subdomain_data=domain.facet_tags)(domain.boundary_id(name))
        gdim = domain.mesh.geometry.dim
        self.traction_forms = [
            [fem.form(traction[i] * ds(metadata=measure.metadata())) for i in range(gdim)]
            for traction, measure, names in tractions
            if name in names
        ]
        self.comm = domain.mesh.comm

    def __call__(self, residual_values: np.ndarray) -> np.ndarray:
        applied = sum(
            (np.array([fem.assemble_scalar(form) for form in forms]) for forms in self.traction_forms),
            np.zeros(len(self.residual.force(residual_values, self.dofs))),
        )
        return self.residual.force(residual_values, self.dofs) + self.comm.allreduce(applied, op=MPI.SUM)
