"""Constitutive laws of the drained skeleton: sigma'(eps) = C : eps (linear, small strain).

A law gives the effective stress `stress` (UFL) and the drained bulk modulus of the fixed-stress
preconditioner (bmes_fem.physics.forms.fixed_stress_pressure_form). Its coefficients may be fields.

Isotropic:

    sigma' = 2 mu eps + lambda tr(eps) I,     K_dr = lambda + 2 mu / 3 = E / (3 (1 - 2 nu))

Transversely isotropic about a unit axis a (the primary trabecular direction), with the structural
tensor A = a (x) a (the small-strain form of Bonet & Burton 1998, Comput Methods Appl Mech Eng 162:151):

    sigma' = lambda tr(eps) I + 2 mu_T eps + alpha [(a.eps.a) I + tr(eps) A]
             + 2 (mu_L - mu_T) (A eps + eps A) + beta (a.eps.a) A

Its engineering constants: E_L along a, E_T across it, nu_LT the transverse contraction under a load
along a (eps_T = -nu_LT sigma_L / E_L), nu_TT in the plane of isotropy, G_LT the shear modulus of
the planes holding a. With nu_TL = nu_LT E_T / E_L and D = (1 + nu_TT)(1 - nu_TT - 2 nu_LT nu_TL),
the inverse of the compliance gives, in a frame (T, T', L):

    C_TTTT = E_T (1 - nu_LT nu_TL) / D      C_TTT'T' = E_T (nu_TT + nu_LT nu_TL) / D
    C_TTLL = E_T nu_LT (1 + nu_TT) / D      C_LLLL   = E_L (1 - nu_TT^2) / D

so lambda = C_TTT'T', mu_T = E_T / (2 (1 + nu_TT)), mu_L = G_LT, alpha = C_TTLL - C_TTT'T' and
beta = C_TTTT + C_LLLL - 2 C_TTLL - 4 G_LT. For E_L = E_T = E, nu_LT = nu_TT = nu and
G_LT = E / (2 (1 + nu)): alpha = beta = 0, mu_L = mu_T, the isotropic law. Positive definite iff
E_L, E_T, G_LT > 0, |nu_TT| < 1 and nu_LT^2 < (1 - nu_TT) E_L / (2 E_T) (Lempriere 1968, AIAA J 6:2226).
Its drained bulk modulus is the Reuss bound, the response to a uniform pore pressure:

    K_R = 1 / (I : S : I) = 1 / (2 (1 - nu_TT) / E_T + (1 - 4 nu_LT) / E_L)
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import ufl

Expr = ufl.core.expr.Expr


def huber_shear_modulus(youngs_modulus_L, youngs_modulus_T, poisson_ratio_LT):
    """G_LT = sqrt(E_L E_T) / (2 (1 + sqrt(nu_LT nu_TL))), nu_TL = nu_LT E_T / E_L, nu_LT >= 0 (Huber 1923, the
    approximation for orthotropic plates, exact in the isotropic limit); floats or UFL expressions."""
    return (youngs_modulus_L * youngs_modulus_T) ** 0.5 / (
        2.0 * (1.0 + poisson_ratio_LT * (youngs_modulus_T / youngs_modulus_L) ** 0.5)
    )


@dataclass(frozen=True)
class IsotropicElasticity:
    """sigma' = 2 mu eps + lambda tr(eps) I."""

    shear_modulus: Expr  # mu [Pa]
    lame_lambda: Expr  # lambda [Pa]
    bulk_modulus: Expr  # K_dr [Pa]

    @classmethod
    def from_youngs_modulus(cls, youngs_modulus: Expr, poisson_ratio: Expr) -> IsotropicElasticity:
        """mu = E / (2 (1 + nu)), lambda = E nu / ((1 + nu)(1 - 2 nu)), K_dr = E / (3 (1 - 2 nu))."""
        E, nu = youngs_modulus, poisson_ratio
        return cls(E / (2.0 * (1.0 + nu)), E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)), E / (3.0 * (1.0 - 2.0 * nu)))

    @classmethod
    def from_lame(cls, shear_modulus: Expr, lame_lambda: Expr) -> IsotropicElasticity:
        """K_dr = lambda + 2 mu / 3."""
        return cls(shear_modulus, lame_lambda, lame_lambda + 2.0 * shear_modulus / 3.0)

    def stress(self, eps: Expr) -> Expr:
        """sigma' = 2 mu eps + lambda tr(eps) I."""
        return 2.0 * self.shear_modulus * eps + self.lame_lambda * ufl.tr(eps) * ufl.Identity(ufl.shape(eps)[0])

    def drained_bulk_modulus(self) -> Expr:
        return self.bulk_modulus

    def as_transversely_isotropic(self, axis: Expr) -> TransverselyIsotropicElasticity:
        """The same law written in the transversely isotropic form: alpha = beta = 0, mu_L = mu_T = mu."""
        mu = self.shear_modulus
        return TransverselyIsotropicElasticity(axis, self.lame_lambda, mu, mu, 0.0, 0.0, self.bulk_modulus)


@dataclass(frozen=True)
class TransverselyIsotropicElasticity:
    """The transversely isotropic law about the unit vector ``axis`` (module docstring)."""

    axis: Expr  # a, a unit vector (constant or field)
    lame_lambda: Expr  # lambda = C_TTT'T' [Pa]
    transverse_shear_modulus: Expr  # mu_T = G_TT [Pa]
    axial_shear_modulus: Expr  # mu_L = G_LT [Pa]
    coupling_modulus: Expr  # alpha [Pa]
    axial_modulus: Expr  # beta [Pa]
    bulk_modulus: Expr  # Reuss bound K_R [Pa]

    @classmethod
    def from_engineering_constants(
        cls,
        axis: Expr,
        *,
        youngs_modulus_L: Expr,
        youngs_modulus_T: Expr,
        poisson_ratio_LT: Expr,
        poisson_ratio_TT: Expr,
        shear_modulus_LT: Expr,
    ) -> TransverselyIsotropicElasticity:
        """lambda, mu_T, mu_L, alpha, beta and K_R from E_L, E_T, nu_LT, nu_TT, G_LT (module docstring)."""
        E_L, E_T, nu_LT, nu_TT, G_LT = youngs_modulus_L, youngs_modulus_T, poisson_ratio_LT, poisson_ratio_TT, shear_modulus_LT
        nu_TL = nu_LT * E_T / E_L
        D = (1.0 + nu_TT) * (1.0 - nu_TT - 2.0 * nu_LT * nu_TL)
        c_tttt = E_T * (1.0 - nu_LT * nu_TL) / D
        c_tt = E_T * (nu_TT + nu_LT * nu_TL) / D
        c_ttll = E_T * nu_LT * (1.0 + nu_TT) / D
        c_llll = E_L * (1.0 - nu_TT**2) / D
        reuss = 1.0 / (2.0 * (1.0 - nu_TT) / E_T + (1.0 - 4.0 * nu_LT) / E_L)
        return cls(
            axis, c_tt, E_T / (2.0 * (1.0 + nu_TT)), G_LT, c_ttll - c_tt, c_tttt + c_llll - 2.0 * c_ttll - 4.0 * G_LT, reuss
        )

    def stress(self, eps: Expr) -> Expr:
        """sigma' = lambda tr(eps) I + 2 mu_T eps + alpha [(a.eps.a) I + tr(eps) A] + 2 (mu_L - mu_T)(A eps + eps A)
        + beta (a.eps.a) A, A = a (x) a."""
        A = ufl.outer(self.axis, self.axis)
        identity = ufl.Identity(ufl.shape(eps)[0])
        trace, axial_strain = ufl.tr(eps), ufl.inner(A, eps)
        return (
            self.lame_lambda * trace * identity
            + 2.0 * self.transverse_shear_modulus * eps
            + self.coupling_modulus * (axial_strain * identity + trace * A)
            + 2.0 * (self.axial_shear_modulus - self.transverse_shear_modulus) * (ufl.dot(A, eps) + ufl.dot(eps, A))
            + self.axial_modulus * axial_strain * A
        )

    def drained_bulk_modulus(self) -> Expr:
        return self.bulk_modulus


ElasticLaw = IsotropicElasticity | TransverselyIsotropicElasticity


def blend(indicator: Expr, inside: TransverselyIsotropicElasticity, outside: TransverselyIsotropicElasticity) -> TransverselyIsotropicElasticity:
    """Each constant c = chi c_in + (1 - chi) c_out; for a 0/1 ``indicator`` chi (a region), sigma' is the inside law's
    where chi = 1 and the outside law's elsewhere (the stress is linear in the constants). Both share the axis."""
    constants = [f.name for f in fields(TransverselyIsotropicElasticity) if f.name != "axis"]
    return TransverselyIsotropicElasticity(
        inside.axis,
        *(indicator * getattr(inside, name) + (1.0 - indicator) * getattr(outside, name) for name in constants),
    )
