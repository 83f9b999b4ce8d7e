"""The configured boundary conditions and sources on a domain, as DOLFINx objects (see bmes_fem.config.boundary_conditions).

`BoundaryConditions` turns the list of conditions into Dirichlet conditions on u and p, tractions,
Robin and flux terms of the fluid balance, body force and fluid sources. Every value that varies in
time is a Constant scaled by its history f(t) (`set_time`). Rollers and rigid plates need a plane face
normal to x, y or z (their constraint is then one displacement component). A mechanics problem whose
constraints leave a rigid motion free is a ConfigError naming the free motions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem, mesh
from mpi4py import MPI

from bmes_fem.config.boundary_conditions import (
    Clamped,
    Displacement,
    Drained,
    Flux,
    JointContact,
    NormalPressure,
    RigidPlate,
    Robin,
    Roller,
    Traction,
)
from bmes_fem.config.case import Config, JointLoad, Solver
from bmes_fem.errors import ConfigError
from bmes_fem.mesh.domain import Domain
from bmes_fem.physics.loading import ForceHistory, History

CONTACT_QUADRATURE_DEGREE = 6  # fixed, so a load (or injection) vector integrates the same w as its normalisation
AXIS_ALIGNED_COS = 1.0 - 1e-8  # |n . e_k| above this: the face is normal to axis k
RIGID_MODE_TOLERANCE = 1e-10  # relative eigenvalue of the constrained rigid-mode Gram matrix below which a mode is free
MOTION_NAMES = ("translation along x", "translation along y", "translation along z",
                "rotation about x", "rotation about y", "rotation about z")  # fmt: skip


def boundary_measure(domain: Domain) -> ufl.Measure:
    return ufl.Measure("ds", domain=domain.mesh, subdomain_data=domain.facet_tags)


def cell_measure(domain: Domain, quadrature_degree: int | None = None) -> ufl.Measure:
    """dx over the domain's tagged cells, at ``quadrature_degree`` (None: UFL's estimate per integrand)."""
    metadata = {} if quadrature_degree is None else {"quadrature_degree": quadrature_degree}
    return ufl.Measure("dx", domain=domain.mesh, subdomain_data=domain.cell_tags, metadata=metadata)


def exchange_measure(domain: Domain, solver: Solver) -> ufl.Measure:
    """dx of the exchange terms (L + G_v) p q and their sources: ``vertex`` (default) integrates them at the cell's
    vertices, which lumps them onto the diagonal, so the fluid operator stays an M-matrix and p keeps the discrete
    maximum principle (between p_v and p_eff) on elements larger than the exchange length sqrt(kappa/(L + G_v));
    ``cell`` integrates them like the other terms, at ``solver.quadrature_degree`` (v0.1)."""
    if solver.exchange_quadrature == "vertex":
        return ufl.Measure(
            "dx", domain=domain.mesh, subdomain_data=domain.cell_tags, metadata={"quadrature_rule": "vertex", "quadrature_degree": 1}
        )
    return cell_measure(domain, solver.quadrature_degree)


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
    """w(x) = max(1 - |x - c|^2 / r^2, 0): a contact patch (or a source ball) of radius r around c."""
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
    domain: Domain, load: JointLoad, boundaries: Sequence[str], force_vector_N: ufl.core.expr.Expr
) -> tuple[ufl.core.expr.Expr, ufl.Measure]:
    """t = F sum_i f_i w_i(x) / int_G w_i ds on the boundaries G, so int_G t ds = F exactly.

    The cartilage transmits the joint force; it is spread parallel to F with the patch profiles w_i.
    Raises ConfigError if a patch reaches beyond G (it would lose force).
    """
    ds = boundary_measure(domain)(metadata={"quadrature_degree": CONTACT_QUADRATURE_DEGREE})
    ds_contact = ds(tuple(domain.boundary_id(name) for name in boundaries))
    comm = domain.mesh.comm
    shape = 0.0
    for key, profile, fraction in contact_profiles(ufl.SpatialCoordinate(domain.mesh), load):
        on_contact = _integral(comm, profile * ds_contact)
        everywhere = _integral(comm, profile * ds)
        if on_contact <= 0.0 or on_contact < (1.0 - 1e-9) * everywhere:
            share = on_contact / everywhere if everywhere > 0 else 0.0
            raise ConfigError(
                f"{key}: the contact patch reaches beyond the joint-contact boundary {', '.join(boundaries)} of mesh "
                f"{domain.source} ({share:.1%} of its load lies on it); expected a patch inside it"
            )
        shape = shape + fraction / on_contact * profile
    return force_vector_N * shape, ds_contact


def _facets(domain: Domain, names: Sequence[str]) -> np.ndarray:
    return np.concatenate([domain.facet_tags.find(domain.boundary_id(name)) for name in names])


def face_axis(domain: Domain, names: Sequence[str], key: str) -> tuple[int, float]:
    """(k, s): the faces ``names`` lie in planes normal to axis k, with outward normal s e_k (s = +-1, from
    which side of the body's centre they lie); ConfigError if they are not normal to x, y or z."""
    msh = domain.mesh
    comm = msh.comm
    fdim = msh.topology.dim - 1
    facets = _facets(domain, names)
    facets = facets[facets < msh.topology.index_map(fdim).size_local]
    corners = msh.geometry.x[mesh.entities_to_geometry(msh, fdim, facets)]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    axis = int(np.argmax(comm.allreduce(np.abs(normals).sum(axis=0), op=MPI.SUM)))
    worst = comm.allreduce(float(np.abs(normals[:, axis]).min()) if len(normals) else 1.0, op=MPI.MIN)
    if worst < AXIS_ALIGNED_COS:
        raise ConfigError(
            f"{key}: boundary {', '.join(names)} is not a plane normal to x, y or z (its facet normals deviate by up to "
            f"{np.degrees(np.arccos(np.clip(worst, -1, 1))):.3g} deg from {'xyz'[axis]}); expected an axis-aligned plane face"
        )
    position = comm.allreduce(float(corners[:, :, axis].sum()), op=MPI.SUM) / comm.allreduce(corners[:, :, axis].size, op=MPI.SUM)
    return axis, 1.0 if position >= _centre(domain)[axis] else -1.0


def _centre(domain: Domain) -> np.ndarray:
    """The centre of the mesh's bounding box [m] (collective)."""
    x = domain.mesh.geometry.x
    lower = x.min(axis=0) if len(x) else np.full(3, np.inf)
    upper = x.max(axis=0) if len(x) else np.full(3, -np.inf)
    domain.mesh.comm.Allreduce(MPI.IN_PLACE, lower, op=MPI.MIN)
    domain.mesh.comm.Allreduce(MPI.IN_PLACE, upper, op=MPI.MAX)
    return (lower + upper) / 2


@dataclass
class Constraint:
    """Dirichlet data on a displacement component (``component`` None: all) of the faces of one condition."""

    key: str
    boundaries: tuple[str, ...]
    dofs: np.ndarray  # local dof indices of the parent space, one per scalar component (block-expanded)
    component: int | None
    value: fem.Constant
    full_value: np.ndarray  # the value at f = 1
    history: History | None
    bc: fem.DirichletBC


@dataclass
class Plate:
    """A rigid plate: its normal displacement ``delta`` [m] along ``axis``; pushing with ``force`` into the body."""

    key: str
    constraint: Constraint
    axis: int
    outward_sign: float
    force_N: float
    history: History


class BoundaryConditions:
    """The conditions of ``config`` on ``domain`` for the spaces (P2 u, P1 p); values follow `set_time`."""

    def __init__(self, domain: Domain, config: Config, u_space: fem.FunctionSpace, p_space: fem.FunctionSpace) -> None:
        self.domain, self.u_space, self.p_space = domain, u_space, p_space
        msh = domain.mesh
        self.ds = boundary_measure(domain)
        self._scales: list[tuple[fem.Constant, History]] = []
        self.constraints: list[Constraint] = []
        self.plate: Plate | None = None
        self.tractions: list[tuple[ufl.core.expr.Expr, ufl.Measure, tuple[str, ...]]] = []  # (t, ds, boundaries)
        self.robin: list[tuple[float, float, ufl.Measure]] = []
        self.outward_flux: list[tuple[ufl.core.expr.Expr, ufl.Measure]] = []
        self._drained: list[tuple[str, np.ndarray, float]] = []
        self._pressure_constraints: list[tuple[fem.Constant, float]] = []
        self._pressure_bcs: dict[tuple[int, float], list[fem.DirichletBC]] = {}
        self._joint: list[tuple[fem.Constant, ForceHistory]] = []
        self.joint_tractions: list[tuple[ufl.core.expr.Expr, ufl.Measure]] = []  # (t, ds) of the joint contacts
        gdim = msh.geometry.dim
        for index, condition in enumerate(config.boundary_conditions):
            key = f"boundary_conditions.{index} ({condition.kind})"
            names = condition.boundary
            domain.require(boundaries=names)
            ds = self.ds(tuple(domain.boundary_id(name) for name in names))
            if isinstance(condition, Clamped):
                self._constrain(key, names, None, np.zeros(gdim), None)
            elif isinstance(condition, Roller):
                for name in names:  # each face its own normal
                    self._constrain(key, [name], face_axis(domain, [name], key)[0], np.zeros(1), None)
            elif isinstance(condition, Displacement):
                history = History(condition.history)
                for axis, value in condition.components().items():
                    self._constrain(key, names, axis, np.array([value]), history)
            elif isinstance(condition, RigidPlate):
                axis, sign = face_axis(domain, names, key)
                constraint = self._constrain(key, names, axis, np.zeros(1), None)
                self.plate = Plate(key, constraint, axis, sign, condition.force, History(condition.history))
            elif isinstance(condition, Traction):
                self.tractions.append((ufl.as_vector(condition.value[:gdim]) * self._scale(condition.history), ds, names))
            elif isinstance(condition, NormalPressure):
                self.tractions.append((-condition.value * self._scale(condition.history) * ufl.FacetNormal(msh), ds, names))
            elif isinstance(condition, JointContact):
                force = fem.Constant(msh, np.zeros(gdim, dtype=default_scalar_type))
                self._joint.append((force, ForceHistory(condition.history, config.load)))
                self.joint_tractions.append(contact_traction(domain, config.load, names, force))
                self.tractions.append((*self.joint_tractions[-1], names))
            elif isinstance(condition, Robin):
                if condition.conductance > 0.0:
                    self.robin.append((condition.conductance, condition.pressure, ds))
            elif isinstance(condition, Flux):
                self.outward_flux.append((condition.value * self._scale(condition.history), ds))
            elif isinstance(condition, Drained):
                self._drained.append((key, _facets(domain, names), condition.pressure))
        sources = config.sources
        self.body_force = fem.Constant(msh, np.asarray(sources.body_force[:gdim], dtype=default_scalar_type))
        self.fluid_source = fem.Constant(msh, default_scalar_type(sources.fluid_source))
        self.injections = [self._injection(injection) for injection in sources.injections]
        check_rigid_motion(u_space, self.constraints, domain)
        self.set_time(None)

    def _scale(self, function) -> fem.Constant:
        """f(t) of a history as a Constant (updated by `set_time`)."""
        factor = fem.Constant(self.domain.mesh, default_scalar_type(1.0))
        self._scales.append((factor, History(function)))
        return factor

    def _injection(self, injection) -> tuple[ufl.core.expr.Expr, ufl.Measure]:
        """(g, dx): g = f(t) Q w(x) / int w dx [1/s], volume rate Q over a ball with a paraboloid profile, and the
        measure of the quadrature both integrals use (so the assembled source adds up to Q exactly)."""
        x = ufl.SpatialCoordinate(self.domain.mesh)
        profile = paraboloid(x, centre_m=injection.centre, radius_m=injection.radius)
        dx = ufl.Measure("dx", domain=self.domain.mesh, metadata={"quadrature_degree": CONTACT_QUADRATURE_DEGREE})
        volume = _integral(self.domain.mesh.comm, profile * dx)
        if volume <= 0.0:
            raise ConfigError(f"sources.injections: the ball at {injection.centre} m misses the mesh {self.domain.source}")
        return injection.rate * self._scale(injection.history) * profile / volume, dx

    def _constrain(self, key: str, names: Sequence[str], component: int | None, full_value: np.ndarray, history) -> Constraint:
        """A Dirichlet condition on u (one component, or all when ``component`` is None) on the faces ``names``."""
        for other in self.constraints:
            if set(other.boundaries) & set(names) and (other.component is None or component is None or other.component == component):
                raise ConfigError(
                    f"{key}: fixes a displacement component of boundary {', '.join(set(other.boundaries) & set(names))} that "
                    f"{other.key} fixes already (e.g. a roller and a displacement on the normal); expected one constraint per component"
                )
        fdim = self.domain.mesh.topology.dim - 1
        space = self.u_space if component is None else self.u_space.sub(component)
        located = fem.locate_dofs_topological(space, fdim, _facets(self.domain, names))
        block = self.u_space.dofmap.index_map_bs
        dofs = located if component is not None else (located[:, None] * block + np.arange(block)).ravel()
        value = fem.Constant(self.domain.mesh, np.asarray(full_value if component is None else full_value[0], dtype=default_scalar_type))
        constraint = Constraint(
            key, tuple(names), dofs, component, value, np.asarray(full_value, dtype=float), history, fem.dirichletbc(value, located, space)
        )
        self.constraints.append(constraint)
        return constraint

    @property
    def traction_terms(self) -> list[tuple[ufl.core.expr.Expr, ufl.Measure]]:
        """(t, ds) of every applied traction, for the weak forms."""
        return [(traction, ds) for traction, ds, _ in self.tractions]

    @property
    def displacement_bcs(self) -> list[fem.DirichletBC]:
        return [constraint.bc for constraint in self.constraints]

    def pressure_bcs(self, space: fem.FunctionSpace, scale: float = 1.0) -> list[fem.DirichletBC]:
        """Dirichlet conditions of the drained faces on ``space``, for the unknown p / ``scale`` (made once)."""
        if (id(space), scale) in self._pressure_bcs:
            return self._pressure_bcs[id(space), scale]
        bcs = self._pressure_bcs.setdefault((id(space), scale), [])
        fdim = self.domain.mesh.topology.dim - 1
        for _, facets, pressure in self._drained:
            value = fem.Constant(self.domain.mesh, default_scalar_type(pressure / scale))
            self._pressure_constraints.append((value, pressure / scale))
            bcs.append(fem.dirichletbc(value, fem.locate_dofs_topological(space, fdim, facets), space))
        return bcs

    def set_time(self, time_s: float | None) -> bool:
        """Scale every value to f(time_s) (None: steady, full values); True if a Dirichlet value changed."""
        for factor, history in self._scales:
            factor.value = history(time_s)
        for force, force_history in self._joint:
            force.value[:] = force_history.force_vector_N(time_s)[: len(force.value)]
        changed = False
        for constraint in self.constraints:
            if constraint.history is not None:
                new = constraint.full_value * constraint.history(time_s)
                changed |= not np.array_equal(np.atleast_1d(constraint.value.value), new)
                constraint.value.value = new if constraint.component is None else new[0]
        return changed

    @contextmanager
    def homogeneous(self, plate_displacement_m: float = 1.0) -> Iterator[None]:
        """Every Dirichlet value zero but the plate's (``plate_displacement_m``): for the plate's unit response."""
        saved = [(c.value, np.copy(c.value.value)) for c in self.constraints] + [(v, np.copy(v.value)) for v, _ in self._pressure_constraints]
        for value, _ in saved:
            value.value = np.zeros_like(value.value)
        self.plate.constraint.value.value = plate_displacement_m
        try:
            yield
        finally:
            for value, old in saved:
                value.value = old

    def load_fraction(self, time_s: float) -> float | None:
        """f(t) of the joint contact, else of the first load with a history; None without either."""
        if self._joint:
            return self._joint[0][1].fraction(time_s)
        return self._scales[0][1](time_s) if self._scales else None

    def zero_loads(self, v: ufl.Argument, q: ufl.Argument) -> list[ufl.Form]:
        """Right-hand sides that are zero (for responses to Dirichlet values alone)."""
        msh = self.domain.mesh
        zero_vector = fem.Constant(msh, np.zeros(msh.geometry.dim, dtype=default_scalar_type))
        zero = fem.Constant(msh, default_scalar_type(0.0))
        return [ufl.inner(zero_vector, v) * ufl.dx(domain=msh), zero * q * ufl.dx(domain=msh)]

    def plate_force_N(self, time_s: float | None) -> float:
        """The compressive force the plate must carry at ``time_s`` [N]."""
        return self.plate.force_N * self.plate.history(time_s)


def rigid_mode_matrix(points_m: np.ndarray, components: np.ndarray, gdim: int) -> np.ndarray:
    """Row per constrained (point, component): the value of each rigid-body mode there.

    Modes: translations e_i, then rotations omega x (x - centre) about each axis (3D: 6 modes; 2D: 2 + 1).
    """
    rows = np.zeros((len(points_m), 3 if gdim == 2 else 6))
    rows[np.arange(len(points_m)), components] = 1.0
    x, y = points_m[:, 0], points_m[:, 1]
    if gdim == 2:
        rows[:, 2] = np.where(components == 0, -y, x)
        return rows
    z = points_m[:, 2]
    rotations = {3: (None, -z, y), 4: (z, None, -x), 5: (-y, x, None)}  # about x, y, z: (w x r) components
    for column, by_component in rotations.items():
        for component, values in enumerate(by_component):
            if values is not None:
                rows[components == component, column] = values[components == component]
    return rows


def check_rigid_motion(space: fem.FunctionSpace, constraints: Sequence[Constraint], domain: Domain) -> None:
    """ConfigError unless the displacement constraints remove every rigid-body motion (collective).

    G = sum over constrained (dof, component) of r r^T, r the rigid modes there; a mode in the null space
    of G is free (a rigid plate counts as a constraint: its force balance fixes its translation).
    """
    gdim = domain.mesh.geometry.dim
    block = space.dofmap.index_map_bs
    owned = space.dofmap.index_map.size_local * block
    coordinates = space.tabulate_dof_coordinates()[:, :gdim] - _centre(domain)[:gdim]
    points, components = [np.empty((0, gdim))], [np.empty(0, dtype=int)]
    for constraint in constraints:
        dofs = constraint.dofs[constraint.dofs < owned]  # block-expanded: node = dof // block, component = dof % block
        points.append(coordinates[dofs // block])
        components.append(dofs % block)
    rows = rigid_mode_matrix(np.concatenate(points), np.concatenate(components), gdim)
    gram = domain.mesh.comm.allreduce(rows.T @ rows, op=MPI.SUM)
    size = np.max(np.abs(coordinates)) if len(coordinates) else 1.0
    size = domain.mesh.comm.allreduce(size, op=MPI.MAX)
    scaling = np.diag([1.0] * gdim + [1.0 / size] * (gram.shape[0] - gdim))  # rotations in units of the body size
    eigenvalues, vectors = np.linalg.eigh(scaling @ gram @ scaling)
    free = eigenvalues < RIGID_MODE_TOLERANCE * max(eigenvalues.max(), 1.0)
    if free.any():
        names = MOTION_NAMES if gdim == 3 else ("translation along x", "translation along y", "rotation about z")
        motions = sorted({names[int(np.argmax(np.abs(vectors[:, i])))] for i in np.flatnonzero(free)})
        held = ", ".join(sorted({c.key for c in constraints})) or "none"
        raise ConfigError(
            f"boundary_conditions leave rigid motion free ({', '.join(motions)}): the displacement constraints "
            f"({held}) do not hold the body; expected enough clamped, roller, displacement or plate faces"
        )
