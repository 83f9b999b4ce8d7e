"""PETSc option presets as data, set under a per-solver prefix ``bmes_<name>_`` with user overrides on top.

``direct``: MUMPS LU (a coupled operator is factorised once and the factors reused every step).

p-multigrid (:mod:`bmes_fem.solve.multigrid`): a two-level V-cycle, smoothing on the quadratic level
(one SSOR sweep in the steady solves, one Chebyshev/Jacobi step in the coupled solve), one GAMG V-cycle
(threshold 0.01, Chebyshev/SOR on its levels, rigid-body near-nullspace) on the linear level.

``iterative``, one field (steady solves): CG to rtol 1e-10 on the true residual, preconditioned by one
GAMG V-cycle (degree 1) or by the p-multigrid with SSOR smoothing on both levels (degree > 1).

``iterative``, coupled Biot (u, p_hat): right-preconditioned GMRES, rtol 1e-9 on the true residual per
field (:mod:`bmes_fem.solve.convergence`); PCFIELDSPLIT on the nest's own index sets, Schur
factorisation ``lower``

    P^-1 = [[A_uu, 0], [A_pu, S]]^-1,   S ~ S_fs (fixed-stress matrix, user Schur preconditioner),

with A_pu from the operator, the p-multigrid with Jacobi smoothing for A_uu and one GAMG V-cycle for S_fs.
The initial guess of each solve is PETSc's POD guess (KSPGUESSPOD): the Galerkin projection of the new
system onto the span of the last 10 solutions. The states of a time series lie close to a space of few
dimensions: on the Terzaghi column (76k dofs, 40 steps) 7.5 GMRES iterations a step instead of 20 from
the previous step's solution, at 2 x 10 stored vectors; the stopping test is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from petsc4py import PETSc

Options = dict[str, str | int | float | bool]

PRESET_NAMES = ("direct", "iterative", "auto")

DIRECT: Options = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}

GMRES_RTOL = 1.0e-9  # true residual per field: 1e-8 moves the discretisation error by ~5e-6 of itself
# Chebyshev degree of the coupled solve's quadratic level: on the Terzaghi column (76k, 216k dofs) degree 1
# takes ~17 % more GMRES iterations than degree 2 but ~22 % fewer flops and less time per step. SOR on the
# GAMG levels of the linear level: 20.8 instead of 23.5 iterations a step at 216k dofs, 3 % less time.
BLOCK_SMOOTHER_DEGREE = 1


def gamg(prefix: str = "", smoother: str = "jacobi") -> Options:
    """Smoothed-aggregation AMG V-cycle: Chebyshev / ``smoother`` on its levels, strength threshold 0.01."""
    return {
        f"{prefix}pc_type": "gamg",
        f"{prefix}pc_gamg_threshold": 0.01,
        f"{prefix}mg_levels_ksp_type": "chebyshev",
        f"{prefix}mg_levels_pc_type": smoother,
    }


def p_multigrid(prefix: str = "", smoother: str = "jacobi", degree: int = 2, coarse_smoother: str = "sor") -> Options:
    """Two-level PCMG, one GAMG V-cycle (Chebyshev / ``coarse_smoother`` on its levels) on the linear level.
    Fine level: ``smoother`` "jacobi": Chebyshev of ``degree``; "sor": ``degree`` symmetric SOR sweeps
    (Richardson, which sweeps on the residual without forming it: no operator product of its own)."""
    fine: Options = (
        {f"{prefix}mg_levels_ksp_type": "richardson"}
        if smoother == "sor"
        else {
            f"{prefix}mg_levels_ksp_type": "chebyshev",
            f"{prefix}mg_levels_ksp_chebyshev_esteig": "0,0.1,0,1.1",
            f"{prefix}mg_levels_esteig_ksp_type": "cg",
            f"{prefix}mg_levels_esteig_ksp_max_it": 10,
        }
    )
    return {
        f"{prefix}pc_type": "mg",
        f"{prefix}pc_mg_levels": 2,
        f"{prefix}pc_mg_galerkin": "none",
        **fine,
        f"{prefix}mg_levels_ksp_max_it": degree,
        f"{prefix}mg_levels_pc_type": smoother,
        f"{prefix}mg_coarse_ksp_type": "preonly",
        **gamg(f"{prefix}mg_coarse_", coarse_smoother),
    }


def single_field_iterative(multigrid: bool) -> Options:
    """CG to rtol 1e-10 on the true residual with a p-multigrid (``multigrid``) or a GAMG V-cycle.

    The p-multigrid smooths with (block) SSOR on both levels, one sweep before and one after the coarse
    correction on the quadratic level: on the heterogeneous default femoral head (cortical shell, lesion;
    158,787 unknowns) 27 iterations in 4.8 s on one rank, where two Chebyshev/SSOR steps take 24 in 7.1 s
    and Chebyshev/Jacobi 46.
    """
    return {
        "ksp_type": "cg",
        "ksp_norm_type": "unpreconditioned",
        "ksp_rtol": 1.0e-10,
        "ksp_atol": 0.0,
        "ksp_max_it": 500,
        **(p_multigrid(smoother="sor", degree=1) if multigrid else gamg()),
    }


def block_iterative(multigrid: bool) -> Options:
    """GMRES + lower Schur field split; p-multigrid (``multigrid``) or GAMG on A_uu, GAMG on S_fs."""
    return {
        "ksp_type": "gmres",
        "ksp_guess_type": "pod",  # initial guess from the last 10 solutions (below)
        "ksp_pc_side": "right",
        "ksp_norm_type": "unpreconditioned",
        "ksp_gmres_restart": 100,
        "ksp_rtol": GMRES_RTOL,
        "ksp_atol": 0.0,
        "ksp_max_it": 500,
        "pc_type": "fieldsplit",
        "pc_fieldsplit_type": "schur",
        "pc_fieldsplit_schur_fact_type": "lower",
        "pc_fieldsplit_schur_precondition": "user",
        "fieldsplit_u_ksp_type": "preonly",
        **(p_multigrid("fieldsplit_u_", degree=BLOCK_SMOOTHER_DEGREE) if multigrid else gamg("fieldsplit_u_")),
        "fieldsplit_p_ksp_type": "preonly",
        "fieldsplit_p_pc_use_amat": False,  # smooth with S_fs, not the Schur complement (an A_uu solve per product)
        **gamg("fieldsplit_p_"),
    }


@contextmanager
def options_set(prefix: str, options: Mapping[str, object]) -> Iterator[None]:
    """Put ``options`` under ``prefix`` in the PETSc database for the block; remove them afterwards."""
    database = PETSc.Options()
    entries = {f"{prefix}{key}": value for key, value in options.items()}
    for key, value in entries.items():
        database[key] = value
    try:
        yield
    finally:
        for key in entries:
            database.delValue(key)
