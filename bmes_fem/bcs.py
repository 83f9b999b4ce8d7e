"""Boundary conditions by physical-group name: joint contact traction, clamping, Robin drainage."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem
from mpi4py import MPI

from bmes_fem.config import Boundaries
from bmes_fem.errors import ConfigError
from bmes_fem.mesh import Domain

ARTICULAR, PERIOSTEAL, CUT = "articular", "periosteal", "cut"
CONTACT_QUADRATURE_DEGREE = 6  # fixed, so the load vector integrates the same w as its normalisation


def boundary_measure(domain: Domain) -> ufl.Measure:
    return ufl.Measure("ds", domain=domain.mesh, subdomain_data=domain.facet_tags)


def cell_measure(domain: Domain) -> ufl.Measure:
    return ufl.Measure("dx", domain=domain.mesh, subdomain_data=domain.cell_tags)


def _integral(comm: MPI.Comm, form: ufl.Form) -> float:
    return comm.allreduce(fem.assemble_scalar(fem.form(form)), op=MPI.SUM)


def contact_profile(x: ufl.SpatialCoordinate, *, head_centre_m: Sequence[float], direction: Sequence[float], half_angle_rad: float):
    """w(x) = max(cos psi - cos psi_c, 0): a cosine cap around the point where the force enters the head.

    psi is the angle at the head centre between x and the entry point c - R d (d: unit force direction).
    """
    radial = x - ufl.as_vector(head_centre_m)
    cos_psi = -ufl.dot(radial, ufl.as_vector(direction)) / ufl.sqrt(ufl.dot(radial, radial))
    return ufl.max_value(cos_psi - np.cos(half_angle_rad), 0.0)


def contact_traction(
    domain: Domain,
    *,
    force_vector_N: Sequence[float],
    half_angle_rad: float,
    head_centre_m: Sequence[float] = (0.0, 0.0, 0.0),
) -> tuple[ufl.core.expr.Expr, ufl.Measure]:
    """Traction t = F w(x) / int_articular w ds on the articular surface, so that int t ds = F exactly.

    The cartilage transmits the joint force; it is spread parallel to F with the cosine-cap profile w.
    Raises ConfigError if the patch reaches beyond the articular surface (it would lose force).
    """
    force = np.asarray(force_vector_N, dtype=float)
    magnitude = float(np.linalg.norm(force))
    direction = force / magnitude if magnitude > 0 else np.array([0.0, 0.0, -1.0])
    ds = boundary_measure(domain)(metadata={"quadrature_degree": CONTACT_QUADRATURE_DEGREE})
    profile = contact_profile(
        ufl.SpatialCoordinate(domain.mesh), head_centre_m=head_centre_m, direction=direction, half_angle_rad=half_angle_rad
    )
    comm = domain.mesh.comm
    on_articular = _integral(comm, profile * ds(domain.boundary_id(ARTICULAR)))
    everywhere = _integral(comm, profile * ds)
    if on_articular <= 0.0 or on_articular < (1.0 - 1e-9) * everywhere:
        raise ConfigError(
            f"load.contact_half_angle = {np.degrees(half_angle_rad):.4g} deg with load.direction = "
            f"{direction.round(4).tolist()}: the contact patch reaches beyond the 'articular' surface "
            f"({on_articular / everywhere if everywhere else 0.0:.1%} of it lies on it); expected a patch inside it"
        )
    traction = ufl.as_vector(force / on_articular) * profile
    return traction, ds(domain.boundary_id(ARTICULAR))


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
