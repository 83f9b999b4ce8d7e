"""Boundary conditions by physical-group name: joint contact traction, clamping, Robin drainage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem
from mpi4py import MPI

from bmes_fem.config.case import Boundaries, JointLoad
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.domain import Domain

ARTICULAR, CUT = "articular", "cut"
CONTACT_QUADRATURE_DEGREE = 6  # fixed, so the load vector integrates the same w as its normalisation


def boundary_measure(domain: Domain) -> ufl.Measure:
    return ufl.Measure("ds", domain=domain.mesh, subdomain_data=domain.facet_tags)


def cell_measure(domain: Domain) -> ufl.Measure:
    return ufl.Measure("dx", domain=domain.mesh, subdomain_data=domain.cell_tags)


def _integral(comm: MPI.Comm, form: ufl.Form) -> float:
    return comm.allreduce(fem.assemble_scalar(fem.form(form)), op=MPI.SUM)


def cosine_cap(x: ufl.SpatialCoordinate, *, head_centre_m: Sequence[float], direction: Sequence[float], half_angle_rad: float):
    """w(x) = max(cos psi - cos psi_c, 0): a cosine cap around the point where the force enters the head.

    psi is the angle at the head centre between x and the entry point c - R d (d: unit force direction).
    """
    radial = x - ufl.as_vector(head_centre_m)
    cos_psi = -ufl.dot(radial, ufl.as_vector(direction)) / ufl.sqrt(ufl.dot(radial, radial))
    return ufl.max_value(cos_psi - np.cos(half_angle_rad), 0.0)


def paraboloid(x: ufl.SpatialCoordinate, *, centre_m: Sequence[float], radius_m: float):
    """w(x) = max(1 - |x - c|^2 / r^2, 0): a contact patch of radius r around the surface point c."""
    offset = x - ufl.as_vector(centre_m)
    return ufl.max_value(1.0 - ufl.dot(offset, offset) / radius_m**2, 0.0)


def contact_profiles(x: ufl.SpatialCoordinate, load: JointLoad) -> list[tuple[str, ufl.core.expr.Expr, float]]:
    """(config key, profile w, fraction of F) for each contact patch of the load."""
    if load.contact_patches:
        return [
            (f"load.contact_patches.{i}", paraboloid(x, centre_m=patch.centre, radius_m=patch.radius), patch.fraction)
            for i, patch in enumerate(load.contact_patches)
        ]
    cap = cosine_cap(x, head_centre_m=load.head_centre, direction=load.direction, half_angle_rad=load.contact_half_angle)
    return [("load.contact_half_angle", cap, 1.0)]


def contact_traction(
    domain: Domain, load: JointLoad, force_vector_N: ufl.core.expr.Expr | None = None
) -> tuple[ufl.core.expr.Expr, ufl.Measure]:
    """t = F sum_i f_i w_i(x) / int_articular w_i ds on the articular surface, so int t ds = F exactly.

    The cartilage transmits the joint force; it is spread parallel to F with the patch profiles w_i.
    ``force_vector_N`` (e.g. a Constant updated in time) replaces the configured F; the patches stay.
    Raises ConfigError if a patch reaches beyond the articular surface (it would lose force).
    """
    ds = boundary_measure(domain)(metadata={"quadrature_degree": CONTACT_QUADRATURE_DEGREE})
    ds_articular = ds(domain.boundary_id(ARTICULAR))
    comm = domain.mesh.comm
    shape = 0.0
    for key, profile, fraction in contact_profiles(ufl.SpatialCoordinate(domain.mesh), load):
        on_articular = _integral(comm, profile * ds_articular)
        everywhere = _integral(comm, profile * ds)
        if on_articular <= 0.0 or on_articular < (1.0 - 1e-9) * everywhere:
            share = on_articular / everywhere if everywhere > 0 else 0.0
            raise ConfigError(
                f"{key}: the contact patch reaches beyond the 'articular' surface of mesh {domain.source} "
                f"({share:.1%} of its load lies on it); expected a patch inside it"
            )
        shape = shape + fraction / on_articular * profile
    force = ufl.as_vector(load.force_vector_N()) if force_vector_N is None else force_vector_N
    return force * shape, ds_articular


def clamped(space: fem.FunctionSpace, domain: Domain, boundary: str = CUT) -> fem.DirichletBC:
    """u = 0 on the named boundary."""
    facets = domain.facet_tags.find(domain.boundary_id(boundary))
    dofs = fem.locate_dofs_topological(space, domain.mesh.topology.dim - 1, facets)
    return fem.dirichletbc(np.zeros(domain.mesh.geometry.dim, dtype=default_scalar_type), dofs, space)


def drainage_terms(domain: Domain, boundaries: Boundaries) -> list[tuple[float, float, ufl.Measure]]:
    """(h, p_b, ds) for each named boundary with a non-zero Robin conductance."""
    ds = boundary_measure(domain)
    terms = []
    for name, drainage in boundaries:
        if drainage.conductance > 0.0:
            terms.append((drainage.conductance, drainage.pressure, ds(domain.boundary_id(name))))
    return terms
