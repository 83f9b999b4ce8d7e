"""Each term of the steady model against a closed-form solution (tolerances fail on a wrong term)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import ufl
from conftest import box_domain
from dolfinx import default_scalar_type, fem
from dolfinx import mesh as dmesh
from mpi4py import MPI

from bmes_fem.config.case import Solver
from bmes_fem.config.geometry import SphereGeometry
from bmes_fem.config.loader import parse_config
from bmes_fem.mesh.domain import Domain
from bmes_fem.mesh.meshing import MeshSizes
from bmes_fem.mesh.shapes import mesh_shape
from bmes_fem.physics import analytic
from bmes_fem.physics.boundary_conditions import cell_measure, exchange_measure
from bmes_fem.physics.elasticity import IsotropicElasticity
from bmes_fem.physics.forms import elasticity_forms, steady_pressure_forms
from bmes_fem.physics.materials import build_tissue_fields, calibrate_venous_conductance
from bmes_fem.post.fields import CellFields, strain_statistics, weighted_percentile
from bmes_fem.post.quantities import STRAIN_PERCENTILES, strain_percentile_key
from bmes_fem.solve.linear import solve_linear
from bmes_fem.units import PA_PER_MMHG

SPHERE = dict(radius=1.0, mobility=1.0, reaction=9.0, source_pressure=0.0, conductance=2.0, outside_pressure=1.0)
SPHERE_MESH_SIZES = (0.4, 0.2, 0.1, 0.06)


@functools.cache
def _unit_ball(mesh_size: float) -> Domain:
    """The meshed unit ball (the finest takes ~17 s in gmsh), shared by both exchange quadratures."""
    return mesh_shape(MPI.COMM_WORLD, SphereGeometry(radius=SPHERE["radius"]), MeshSizes(mesh_size))


def _sphere_error(mesh_size: float, exchange: str) -> tuple[float, float]:
    """Relative L2 error of the P1 leak/drainage solution in the unit ball, and h = (volume / cells)^(1/3); the
    exchange terms integrated as ``exchange`` says (solver.exchange_quadrature: vertex, i.e. lumped, or cell)."""
    domain = _unit_ball(mesh_size)
    mesh = domain.mesh
    space = fem.functionspace(mesh, ("Lagrange", 1))
    c = lambda value: fem.Constant(mesh, default_scalar_type(value))  # noqa: E731
    dx = cell_measure(domain)
    ds = ufl.Measure("ds", domain=mesh, subdomain_data=domain.facet_tags)
    # reaction beta = L + G_v split unevenly, so a swapped or dropped source term changes the answer
    a, rhs = steady_pressure_forms(
        ufl.TrialFunction(space),
        ufl.TestFunction(space),
        mobility=c(SPHERE["mobility"]),
        filtration=c(6.0),
        venous_conductance=c(3.0),
        effective_capillary_pressure=c(0.5),
        venous_pressure=c(-1.0),
        drainage=[(c(SPHERE["conductance"]), c(SPHERE["outside_pressure"]), ds(domain.boundary_id("surface")))],
        dx=dx,
        exchange_dx=exchange_measure(domain, Solver(exchange_quadrature=exchange)),
    )
    p_h, _ = solve_linear(a, rhs, name="sphere", preset="direct")
    exact_space = fem.functionspace(mesh, ("Lagrange", 3))
    exact = fem.Function(exact_space)
    exact.interpolate(lambda x: analytic.robin_sphere_pressure(np.linalg.norm(x, axis=0), **SPHERE))
    comm = mesh.comm
    error = np.sqrt(comm.allreduce(fem.assemble_scalar(fem.form((p_h - exact) ** 2 * dx)), op=MPI.SUM))
    norm = np.sqrt(comm.allreduce(fem.assemble_scalar(fem.form(exact**2 * dx)), op=MPI.SUM))
    volume = comm.allreduce(fem.assemble_scalar(fem.form(c(1.0) * dx)), op=MPI.SUM)
    return error / norm, (volume / mesh.topology.index_map(3).size_global) ** (1.0 / 3.0)


def test_sphere_source_terms_combine_to_the_closed_form_reaction():
    # L p_eff + G_v p_v = 6 * 0.5 + 3 * (-1) = 0 = beta * p_s with beta = 9: the closed form's source
    assert analytic.uniform_steady_pressure(6.0, 0.5, 3.0, -1.0) == pytest.approx(SPHERE["source_pressure"])


@pytest.mark.slow
@pytest.mark.parametrize("exchange", ["vertex", "cell"])
def test_leak_drainage_sphere_matches_sinh_solution_at_second_order(exchange):
    results = [_sphere_error(size, exchange) for size in SPHERE_MESH_SIZES]
    errors, sizes = np.array([r[0] for r in results]), np.array([r[1] for r in results])
    rate = analytic.observed_rate(sizes, errors)
    print(f"sphere ({exchange} exchange): h = {sizes}, relative L2 errors = {errors}, observed rate = {rate:.3f}")
    assert errors[-1] < 5e-3
    assert abs(rate - 2.0) < 0.3


@pytest.mark.mpi
def test_free_expansion_gives_alpha_p_over_bulk_modulus():
    """Uniform p, no traction, minimal supports: u = (alpha p / 3K) x exactly, so div u = alpha p / K."""
    domain = box_domain(n=3)
    mesh = domain.mesh
    space = fem.functionspace(mesh, ("Lagrange", 2, (3,)))
    E, nu, alpha, p = 1.0e9, 0.3, 0.95, 25.0 * PA_PER_MMHG
    mu, lmbda = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
    c = lambda value: fem.Constant(mesh, default_scalar_type(value))  # noqa: E731
    a, rhs = elasticity_forms(
        ufl.TrialFunction(space), ufl.TestFunction(space), elasticity=IsotropicElasticity.from_lame(c(mu), c(lmbda)),
        biot_coefficient=c(alpha),
        pressure=c(p), tractions=[], dx=ufl.Measure("dx", domain=mesh),
    )
    length = mesh.comm.allreduce(mesh.geometry.x[:, 0].max(), op=MPI.MAX)

    def pin(point: tuple[float, float, float], components: tuple[int, ...]) -> list[fem.DirichletBC]:
        at = lambda x: np.isclose(x[0], point[0]) & np.isclose(x[1], point[1]) & np.isclose(x[2], point[2])  # noqa: E731
        mesh.topology.create_connectivity(0, 3)
        vertices = dmesh.locate_entities(mesh, 0, at)
        return [
            fem.dirichletbc(default_scalar_type(0.0), fem.locate_dofs_topological(space.sub(i), 0, vertices), space.sub(i))
            for i in components
        ]

    bcs = pin((0, 0, 0), (0, 1, 2)) + pin((length, 0, 0), (1, 2)) + pin((0, length, 0), (2,))
    u, _ = solve_linear(a, rhs, name="free_expansion", preset="direct", bcs=bcs)
    expected = analytic.free_expansion_volumetric_strain(alpha, p, E, nu)
    dx = ufl.Measure("dx", domain=mesh)
    misfit = mesh.comm.allreduce(fem.assemble_scalar(fem.form((ufl.div(u) - expected) ** 2 * dx)), op=MPI.SUM)
    volume = length**3
    assert np.sqrt(misfit / volume) / expected < 1e-8


def _uniform_case(lesion_everywhere: bool):
    lesion = [{"centre": ["10 mm"] * 3, "semi_axes": ["1 m"] * 3, "falloff_width": "1 mm"}]
    no_drainage = [{"boundary": "cut", "kind": "clamped"}, {"boundary": "articular", "kind": "joint_contact"}]
    return parse_config({"lesions": lesion if lesion_everywhere else [], "boundary_conditions": no_drainage})


@pytest.mark.mpi
@pytest.mark.parametrize(
    ("lesion_everywhere", "expected_mmHg"),
    [(False, 25.0), (True, None)],
    ids=["healthy_calibration", "combined_bmes"],
)
def test_no_flux_pressure_is_the_uniform_starling_balance(lesion_everywhere, expected_mmHg):
    """Healthy: p = target; lesion everywhere: p = (L p_eff + G_v p_v) / (L + G_v) with the chi = 1 values."""
    config = _uniform_case(lesion_everywhere)
    domain = box_domain(n=3)
    space = fem.functionspace(domain.mesh, ("Lagrange", 1))
    tissue = build_tissue_fields(domain, config, space)
    if expected_mmHg is None:  # the calibrated lesion set of parameters.md 2: 51.3 mmHg
        fluid, effects = config.fluid, config.lesion_effects
        p_eff = effects.capillary_pressure - effects.reflection_coefficient * (
            fluid.plasma_oncotic_pressure - effects.interstitial_oncotic_pressure
        )
        expected_mmHg = analytic.uniform_steady_pressure(
            fluid.capillary_filtration * effects.filtration_factor,
            p_eff,
            calibrate_venous_conductance(fluid) * effects.venous_outflow_factor,
            effects.venous_pressure,
        ) / PA_PER_MMHG
        assert expected_mmHg == pytest.approx(51.33, abs=0.01)
    a, rhs = steady_pressure_forms(
        ufl.TrialFunction(space), ufl.TestFunction(space), mobility=tissue.mobility, filtration=tissue.filtration,
        venous_conductance=tissue.venous_conductance, effective_capillary_pressure=tissue.effective_capillary_pressure,
        venous_pressure=tissue.venous_pressure, drainage=[], dx=tissue.dx, exchange_dx=tissue.exchange_dx,
    )
    p, _ = solve_linear(a, rhs, name="uniform", preset="direct")
    assert np.abs(p.x.array / PA_PER_MMHG - expected_mmHg).max() < 1e-6 * expected_mmHg


def test_calibrated_venous_conductance_matches_parameter_notes():
    """parameters.md 1: L = 5.888e-9, p_eff = 30.55 mmHg, p0 = 25, p_v = 15 mmHg give G_v = 3.27e-9 1/(Pa s)."""
    assert calibrate_venous_conductance(parse_config({}).fluid) == pytest.approx(3.27e-9, rel=1e-3)


def _share_of_this_rank(n: int, split: str) -> np.ndarray:
    """Indices of ``n`` items this rank holds: every size-th (``interleaved``), or all on rank 0 (``one_rank``)."""
    comm = MPI.COMM_WORLD
    if split == "interleaved":
        return np.arange(comm.rank, n, comm.size)
    return np.arange(n) if comm.rank == 0 else np.arange(0)


@pytest.mark.mpi
@pytest.mark.parametrize("split", ["interleaved", "one_rank"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "tied"])
def test_weighted_percentile_is_numpys_inverted_cdf_on_any_partition(split, ties):
    """Unequal weights (a lognormal volume per value), values spread over the ranks: every rank gets the
    percentile numpy computes from all values at once, so the parallel result is the serial one."""
    rng = np.random.default_rng(3)
    values = rng.normal(-800.0, 400.0, 501)
    values = np.round(values, -2) if ties else values
    weights = rng.lognormal(0.0, 1.0, values.size)
    mine = _share_of_this_rank(values.size, split)
    for percent in (0.0, 5.0, 33.3, 50.0, 95.0, 100.0):
        expected = np.percentile(values, percent, weights=weights, method="inverted_cdf")
        assert weighted_percentile(MPI.COMM_WORLD, values[mine], weights[mine], percent) == expected, percent
    assert weighted_percentile(MPI.COMM_WORLD, values[:0], weights[:0], 50.0) is None


@pytest.mark.mpi
def test_strain_statistics_cover_trabecular_cells_only_weighted_by_volume():
    rng = np.random.default_rng(5)
    n = 400
    eps1 = rng.uniform(0.0, 4e-3, n)
    eps3 = -rng.uniform(0.0, 6e-3, n)
    principal = np.column_stack([eps1, 0.5 * (eps1 + eps3), eps3])
    volume_m3 = rng.uniform(0.5e-9, 3e-9, n)
    trabecular = rng.uniform(size=n) < 0.7
    principal[~trabecular] *= 100.0  # cortical cells far outside the trabecular range must not count
    mine = _share_of_this_rank(n, "interleaved")
    cells = CellFields(principal[mine], np.zeros(mine.size), volume_m3[mine], np.zeros(mine.size, np.int32), trabecular[mine])
    summary = strain_statistics(MPI.COMM_WORLD, cells, microdamage_strain=3e-3)
    effective = np.maximum(np.abs(eps1), np.abs(eps3))[trabecular]
    strains = {"eps1": eps1[trabecular], "eps3": eps3[trabecular], "effective_strain": effective}
    for name, percents in STRAIN_PERCENTILES.items():
        for percent in percents:
            expected = np.percentile(strains[name], percent, weights=volume_m3[trabecular], method="inverted_cdf") * 1e6
            assert summary[strain_percentile_key(name, percent)] == pytest.approx(expected, rel=1e-14), (name, percent)
    assert summary["effective_strain_trabecular_max_microstrain"] == pytest.approx(effective.max() * 1e6, rel=1e-14)
    above = volume_m3[trabecular][effective > 3e-3].sum() * 1e9
    assert 0.0 < above < volume_m3[trabecular].sum() * 1e9
    assert summary["microdamage_volume_mm3"] == pytest.approx(above, rel=1e-12)


@pytest.mark.parametrize("exchange", ["vertex", "cell"])
def test_lumped_exchange_keeps_the_pressure_between_its_sources_where_the_exchange_length_is_below_the_element(exchange):
    """-div(kappa grad p) + c p = c p_s with p_s = 1 for x < L/2, 0 beyond, and kappa/c giving an exchange length of
    L/400 on elements of L/6: lumped (vertex) exchange keeps every nodal p in [0, 1] (an M-matrix); the consistent
    (cell) mass undershoots next to the step, which is why vertex is the default."""
    domain = box_domain(6, 1.0)
    space = fem.functionspace(domain.mesh, ("Lagrange", 1))
    source = fem.Function(fem.functionspace(domain.mesh, ("DG", 0)))
    source.interpolate(lambda x: (x[0] < 0.5).astype(float))
    c = lambda value: fem.Constant(domain.mesh, default_scalar_type(value))  # noqa: E731
    a, rhs = steady_pressure_forms(
        ufl.TrialFunction(space), ufl.TestFunction(space), mobility=c(1.0 / 400**2), filtration=c(1.0),
        venous_conductance=c(0.0), effective_capillary_pressure=source, venous_pressure=c(0.0), drainage=[],
        dx=cell_measure(domain), exchange_dx=exchange_measure(domain, Solver(exchange_quadrature=exchange)),
    )  # fmt: skip
    p, _ = solve_linear(a, rhs, name="step", preset="direct")
    lowest, highest = domain.mesh.comm.allreduce(p.x.array.min(), op=MPI.MIN), domain.mesh.comm.allreduce(p.x.array.max(), op=MPI.MAX)
    if exchange == "vertex":
        assert lowest >= -1e-12 and highest <= 1.0 + 1e-12
    else:
        assert lowest < -0.01 or highest > 1.01
