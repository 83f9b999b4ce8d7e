"""The constitutive laws (bmes_fem.physics.elasticity) and the trabecular modulus, fabric and BV/TV bands
(bmes_fem.physics.materials) against closed forms.

A homogeneous block with a uniform stress sigma applied as the traction sigma n on its whole surface, held
by a statically determinate 3-2-1 support, has the uniform strain eps = S : sigma, which P1 reproduces exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import ufl
from conftest import box_domain
from dolfinx import default_scalar_type, fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI

from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError
from bmes_fem.physics.elasticity import IsotropicElasticity, TransverselyIsotropicElasticity, huber_shear_modulus
from bmes_fem.physics.forms import elasticity_forms, strain
from bmes_fem.physics.materials import (
    build_tissue_fields,
    fabric_axis,
    healthy_bone_volume_fraction,
    lesion_indicator,
    trabecular_modulus,
)
from bmes_fem.solve.linear import solve_linear
from bmes_fem.units import to_si

# distinct constants, G_LT away from Huber's value, so a swapped E_L/E_T, nu_LT/nu_TT or shear factor shows
E_L, E_T, NU_LT, NU_TT, G_LT = 3.0e9, 1.2e9, 0.32, 0.21, 0.7e9
NU_TL = NU_LT * E_T / E_L
AXIS = np.array([1.0, 2.0, 2.0]) / 3.0  # not along a coordinate axis: a missing rotation shows
ACROSS = np.array([2.0, -2.0, 1.0]) / 3.0  # a unit vector normal to AXIS
THIRD = np.cross(AXIS, ACROSS)
STRESS_PA = 2.0e6


def _sym(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.outer(a, b) + np.outer(b, a)


def _constant(mesh, value) -> fem.Constant:
    return fem.Constant(mesh, np.asarray(value, dtype=default_scalar_type))


def _transversely_isotropic(mesh) -> TransverselyIsotropicElasticity:
    return TransverselyIsotropicElasticity.from_engineering_constants(
        _constant(mesh, AXIS), youngs_modulus_L=_constant(mesh, E_L), youngs_modulus_T=_constant(mesh, E_T),
        poisson_ratio_LT=_constant(mesh, NU_LT), poisson_ratio_TT=_constant(mesh, NU_TT), shear_modulus_LT=_constant(mesh, G_LT),
    )  # fmt: skip


def _homogeneous_strain(domain, law_of_mesh, stress: np.ndarray) -> np.ndarray:
    """The strain of every owned cell, shape (cells, 3, 3), of the block loaded by sigma n on its surface."""
    mesh = domain.mesh
    space = fem.functionspace(mesh, ("Lagrange", 1, (3,)))
    zero = _constant(mesh, 0.0)
    traction = ufl.dot(_constant(mesh, stress), ufl.FacetNormal(mesh))
    a, rhs = elasticity_forms(
        ufl.TrialFunction(space), ufl.TestFunction(space), elasticity=law_of_mesh, biot_coefficient=zero, pressure=zero,
        tractions=[(traction, ufl.ds(domain=mesh))], dx=ufl.dx(domain=mesh),
    )  # fmt: skip
    length = mesh.comm.allreduce(mesh.geometry.x[:, 0].max(), op=MPI.MAX)
    supports = [((0.0, 0.0, 0.0), (0, 1, 2)), ((length, 0.0, 0.0), (1, 2)), ((0.0, length, 0.0), (2,))]
    bcs = []
    for point, components in supports:
        for i in components:
            at = lambda x, p=point: np.isclose(x[0], p[0]) & np.isclose(x[1], p[1]) & np.isclose(x[2], p[2])  # noqa: E731
            dofs = fem.locate_dofs_geometrical((space.sub(i), space.sub(i).collapse()[0]), at)
            bcs.append(fem.dirichletbc(zero, dofs[0], space.sub(i)))
    u, _ = solve_linear(a, rhs, name="block", preset="direct", bcs=bcs)
    tensor_space = fem.functionspace(mesh, ("DG", 0, (3, 3)))
    eps = fem.Function(tensor_space)
    eps.interpolate(fem.Expression(strain(u), tensor_space.element.interpolation_points))
    n_owned = mesh.topology.index_map(3).size_local
    return eps.x.array.reshape(-1, 3, 3)[tensor_space.dofmap.list[:n_owned, 0]]


def _max_misfit(comm: MPI.Comm, strains: np.ndarray, expected: np.ndarray) -> float:
    """max over cells and components |eps - eps_expected| / max |eps_expected| (every rank)."""
    local = float(np.abs(strains - expected).max()) if strains.size else 0.0
    return comm.allreduce(local, op=MPI.MAX) / np.abs(expected).max()


LOADS = {
    # sigma along a: eps = sigma / E_L along a, -nu_LT sigma / E_L across it
    "uniaxial_along_axis": (
        STRESS_PA * np.outer(AXIS, AXIS),
        STRESS_PA / E_L * (np.outer(AXIS, AXIS) - NU_LT * (np.eye(3) - np.outer(AXIS, AXIS))),
    ),
    # sigma across a (along b): eps = sigma / E_T along b, -nu_TT sigma / E_T along c = a x b, -nu_TL sigma / E_T along a
    "uniaxial_across_axis": (
        STRESS_PA * np.outer(ACROSS, ACROSS),
        STRESS_PA / E_T * (np.outer(ACROSS, ACROSS) - NU_TT * np.outer(THIRD, THIRD) - NU_TL * np.outer(AXIS, AXIS)),
    ),
    # simple shear in the L-T plane: gamma = 2 eps_ab = tau / G_LT
    "shear_LT": (STRESS_PA * _sym(AXIS, ACROSS), STRESS_PA / (2.0 * G_LT) * _sym(AXIS, ACROSS)),
    # shear in the plane of isotropy: gamma = tau / G_TT, G_TT = E_T / (2 (1 + nu_TT))
    "shear_TT": (STRESS_PA * _sym(ACROSS, THIRD), STRESS_PA * (1.0 + NU_TT) / E_T * _sym(ACROSS, THIRD)),
}


@pytest.mark.mpi
@pytest.mark.parametrize("load", list(LOADS))
def test_transversely_isotropic_block_has_the_compliance_strains(load):
    domain = box_domain(n=2)
    stress, expected = LOADS[load]
    strains = _homogeneous_strain(domain, _transversely_isotropic(domain.mesh), stress)
    assert _max_misfit(domain.mesh.comm, strains, expected) < 1e-10


@pytest.mark.mpi
def test_transversely_isotropic_drained_bulk_modulus_is_the_response_to_a_uniform_pressure():
    """sigma = -p I: tr(eps) = -p / K with K the law's drained bulk modulus (the Reuss bound)."""
    domain = box_domain(n=2)
    law = _transversely_isotropic(domain.mesh)
    strains = _homogeneous_strain(domain, law, -STRESS_PA * np.eye(3))
    bulk_modulus = fem.assemble_scalar(fem.form(law.drained_bulk_modulus() * ufl.dx(domain=domain.mesh)))
    bulk_modulus = domain.mesh.comm.allreduce(bulk_modulus, op=MPI.SUM) / 0.02**3
    volumetric = np.trace(strains, axis1=1, axis2=2)
    assert np.allclose(volumetric, -STRESS_PA / bulk_modulus, rtol=1e-10, atol=0.0)


def test_transversely_isotropic_law_with_isotropic_constants_is_the_isotropic_law():
    domain = box_domain(n=2)
    mesh = domain.mesh
    space = fem.functionspace(mesh, ("Lagrange", 2, (3,)))
    E, nu = _constant(mesh, 1.7e9), _constant(mesh, 0.27)
    oriented = TransverselyIsotropicElasticity.from_engineering_constants(
        _constant(mesh, AXIS), youngs_modulus_L=E, youngs_modulus_T=E, poisson_ratio_LT=nu, poisson_ratio_TT=nu,
        shear_modulus_LT=huber_shear_modulus(E, E, nu),
    )  # fmt: skip
    isotropic = IsotropicElasticity.from_youngs_modulus(E, nu)
    u, v = ufl.TrialFunction(space), ufl.TestFunction(space)
    matrices = []
    for law in (oriented, isotropic):
        A = fem_petsc.assemble_matrix(fem.form(ufl.inner(law.stress(strain(u)), strain(v)) * ufl.dx))
        A.assemble()
        matrices.append(A)
    matrices[0].axpy(-1.0, matrices[1])
    assert matrices[0].norm() <= 1e-13 * matrices[1].norm()
    bulk = [fem.assemble_scalar(fem.form(law.drained_bulk_modulus() * ufl.dx(domain=mesh))) for law in (oriented, isotropic)]
    assert bulk[0] == pytest.approx(bulk[1], rel=1e-14)


def _compliance_positive_definite(ratio: float, nu_LT: float, nu_TT: float) -> bool:
    """The normal block of the compliance (E_T = 1, E_L = ratio; the shear terms are positive for G > 0)."""
    compliance = np.array([[1.0, -nu_TT, -nu_LT / ratio], [-nu_TT, 1.0, -nu_LT / ratio], [-nu_LT / ratio, -nu_LT / ratio, 1.0 / ratio]])
    return bool(np.linalg.eigvalsh(compliance).min() > 0.0)


def _fabric(**fabric) -> dict:
    return {"tissue": {"trabecular": {"fabric": {"axis": [0.0, 0.0, 1.0], "anisotropy_ratio": 2.0, **fabric}}}}


def test_fabric_constants_are_accepted_exactly_when_the_stiffness_is_positive_definite():
    rng = np.random.default_rng(7)
    verdicts = []
    for ratio, nu_LT, nu_TT in zip(rng.uniform(1.0, 4.0, 60), rng.uniform(0.0, 1.5, 60), rng.uniform(0.0, 1.3, 60), strict=True):
        try:
            parse_config(_fabric(anisotropy_ratio=ratio, poisson_ratio_LT=nu_LT, poisson_ratio_TT=nu_TT))
            accepted = True
        except ConfigError:
            accepted = False
        verdicts.append(accepted)
        assert accepted == _compliance_positive_definite(ratio, nu_LT, nu_TT), (ratio, nu_LT, nu_TT)
    assert 10 < sum(verdicts) < 50  # both outcomes are sampled


@pytest.mark.parametrize(
    ("fabric", "named"),
    [
        ({"poisson_ratio_LT": 0.9, "poisson_ratio_TT": 0.3}, "poisson_ratio_LT = 0.9 with poisson_ratio_TT = 0.3 and anisotropy_ratio = 2"),
        ({"poisson_ratio_TT": 1.0}, "tissue.trabecular.fabric.poisson_ratio_TT = 1"),
        ({"anisotropy_ratio": 0.5}, "tissue.trabecular.fabric.anisotropy_ratio"),
        ({"axis": [0.0, 0.0, 0.0]}, "tissue.trabecular.fabric.axis = [0, 0, 0]"),
        ({"axis": "joint"}, "tissue.trabecular.fabric.axis = 'joint'"),
    ],
)
def test_bad_fabric_is_one_line_naming_the_keys(fabric, named):
    with pytest.raises(ConfigError, match=r"indefinite|expected|greater") as error:
        parse_config(_fabric(**fabric), "case.yaml")
    assert named in str(error.value) and "\n" not in str(error.value)


def test_fabric_axis_is_the_unit_vector_or_the_joint_force_direction():
    config = parse_config(_fabric(axis=[0.0, 3.0, 4.0]))
    assert fabric_axis(config) == pytest.approx((0.0, 0.6, 0.8), rel=1e-15)
    config = parse_config({**_fabric(axis="joint_force"), "load": {"direction": [1.0, 0.0, -1.0]}})
    assert fabric_axis(config) == pytest.approx((2**-0.5, 0.0, -(2**-0.5)), rel=1e-15)
    assert fabric_axis(parse_config({})) is None


def test_density_law_gives_the_femoral_neck_modulus_and_scales_with_the_lesion():
    """E = 6850 MPa rho^1.49 (rho in g/cm^3, Morgan et al. 2003), rho = 2.0 g/cm^3 x BV/TV; m^2.74 and BV/TV^1.49 in the lesion."""
    trabecular = parse_config(
        {"tissue": {"trabecular": {"modulus_law": "density_power", "density_power": {"tissue_density": "2.0 g/cm^3"}}}}
    ).tissue.trabecular
    assert to_si("2.0 g/cm^3", "density") == pytest.approx(2000.0, rel=1e-15)
    assert trabecular_modulus(trabecular) == pytest.approx(6850e6 * 0.6**1.49, rel=1e-12)
    assert trabecular_modulus(trabecular, 0.85, 0.28) == pytest.approx(6850e6 * 0.56**1.49 * 0.85**2.74, rel=1e-12)
    measured = trabecular.model_copy(update={"youngs_modulus": 2.0e9})
    assert trabecular_modulus(measured, 0.85, 0.28) == pytest.approx(2.0e9 * (0.28 / 0.30) ** 1.49 * 0.85**2.74, rel=1e-12)


def test_bands_blend_bone_volume_fraction_in_order_like_the_lesion_indicator():
    capsule = {"kind": "capsule", "start": ["0 mm", "0 mm", "0 mm"], "end": ["0 mm", "0 mm", "20 mm"], "radius": "4 mm",
               "falloff_width": "1 mm", "bone_volume_fraction": 0.45}  # fmt: skip
    ellipsoid = {"kind": "ellipsoid", "centre": ["0 mm", "0 mm", "20 mm"], "semi_axes": ["6 mm", "5 mm", "4 mm"],
                 "rotation": ["30 deg", "0 deg", "0 deg"], "falloff_width": "1 mm", "bone_volume_fraction": 0.15}  # fmt: skip
    trabecular = parse_config({"tissue": {"trabecular": {"bone_volume_fraction_bands": [capsule, ellipsoid]}}}).tissue.trabecular
    points = np.array([
        [0.0, 0.0, 0.010],  # on the segment, 4 falloff widths inside the capsule
        [0.004, 0.0, 0.005],  # on the capsule's side
        [0.0, 0.0, -0.004],  # on the capsule's end cap
        [0.0, 0.0, 0.020],  # the ellipsoid's centre, inside both: the later band wins
        [0.0, 0.030, 0.0],  # far from both
    ]).T  # fmt: skip
    inside = 0.5 * (1.0 - np.tanh(-4.0))  # 4 mm = 4 falloff widths inside the capsule's surface
    capsule_weight = np.array([inside, 0.5, 0.5, inside, 0.5 * (1.0 - np.tanh(26.0))])
    after_capsule = 0.30 + capsule_weight * (0.45 - 0.30)
    as_lesion = {key: value for key, value in ellipsoid.items() if key not in ("kind", "bone_volume_fraction")}
    chi = lesion_indicator(parse_config({"lesions": [as_lesion]}).lesions, points)
    assert chi[3] > 0.999 and chi[4] < 1e-6  # the centre deep inside, the far point outside
    bv_tv = healthy_bone_volume_fraction(trabecular, points)
    assert bv_tv == pytest.approx(after_capsule + chi * (0.15 - after_capsule), rel=1e-12)
    assert bv_tv[1] == pytest.approx(0.375, rel=1e-5) and bv_tv[4] == pytest.approx(0.30, rel=1e-5)


@pytest.mark.mpi
def test_fabric_along_the_joint_force_with_the_density_law_reaches_the_solver():
    """A uniform trabecular block, no lesion: a load along load.direction strains it by sigma / E_L with
    E_L = a (rho_t BV/TV / rho_ref)^b, and across by -nu_LT sigma / E_L."""
    config = parse_config({
        "lesions": [],
        "load": {"direction": AXIS.tolist()},
        "tissue": {"trabecular": {"modulus_law": "density_power", "poisson_ratio": NU_LT,
                                  "fabric": {"axis": "joint_force", "anisotropy_ratio": 2.5}}},
    })  # fmt: skip
    domain = box_domain(n=2)
    tissue = build_tissue_fields(domain, config, fem.functionspace(domain.mesh, ("Lagrange", 1)))
    strains = _homogeneous_strain(domain, tissue.elasticity, STRESS_PA * np.outer(AXIS, AXIS))
    youngs_modulus_L = 6850e6 * 0.6**1.49
    expected = STRESS_PA / youngs_modulus_L * (np.outer(AXIS, AXIS) - NU_LT * (np.eye(3) - np.outer(AXIS, AXIS)))
    assert _max_misfit(domain.mesh.comm, strains, expected) < 1e-10
