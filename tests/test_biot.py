"""Transient Biot (u, p): Terzaghi consolidation, no pressure oscillation, manufactured solutions."""

from __future__ import annotations

import numpy as np
import pytest
import ufl
from dolfinx import default_scalar_type, fem
from dolfinx import mesh as dmesh
from mpi4py import MPI

from bmes_fem import analytic
from bmes_fem.forms import biot_step_forms, fixed_stress_pressure_form
from bmes_fem.solver import BlockSolver, rigid_body_modes

# MOOSE / PorousFlow Terzaghi benchmark (parameters.md section 10)
TERZAGHI = dict(height=10.0, load=1.0, lame_lambda=2.0, shear_modulus=3.0, storage=0.0625, biot_coefficient=0.6, mobility=1.5)


class Column:
    """Terzaghi column [0,1]x[0,1]x[0,h]: rollers on the sides, base fixed in z, load and p = 0 on top."""

    def __init__(self, *, cells_along_height: int, time_step: float, preset: str = "direct"):
        h = TERZAGHI["height"]
        mesh = dmesh.create_box(MPI.COMM_WORLD, [[0, 0, 0], [1, 1, h]], [1, 1, cells_along_height], dmesh.CellType.tetrahedron)
        self.mesh = mesh
        self.V = fem.functionspace(mesh, ("Lagrange", 2, (3,)))
        self.Q = fem.functionspace(mesh, ("Lagrange", 1))
        c = lambda value: fem.Constant(mesh, default_scalar_type(value))  # noqa: E731
        self.u, self.p_hat = fem.Function(self.V), fem.Function(self.Q)
        self.u_prev, self.p_hat_prev = fem.Function(self.V), fem.Function(self.Q)
        self.dt = c(time_step)
        lam, mu_s = TERZAGHI["lame_lambda"], TERZAGHI["shear_modulus"]
        self.scale = lam + 2 * mu_s  # K + 4G/3
        tdim = mesh.topology.dim
        mesh.topology.create_connectivity(tdim - 1, tdim)
        top = dmesh.locate_entities_boundary(mesh, tdim - 1, lambda x: np.isclose(x[2], h))
        tags = dmesh.meshtags(mesh, tdim - 1, top, np.ones_like(top))
        ds_top = ufl.Measure("ds", domain=mesh, subdomain_data=tags)(1)
        dx = ufl.Measure("dx", domain=mesh)
        coefficients = dict(
            mu=c(mu_s), lmbda=c(lam), biot_coefficient=c(TERZAGHI["biot_coefficient"]), storage=c(TERZAGHI["storage"]),
            mobility=c(TERZAGHI["mobility"]), filtration=c(0.0), venous_conductance=c(0.0), drainage=[], dx=dx,
        )
        u, p, v, q = ufl.TrialFunction(self.V), ufl.TrialFunction(self.Q), ufl.TestFunction(self.V), ufl.TestFunction(self.Q)
        a, rhs = biot_step_forms(
            u, p, v, q, u_prev=self.u_prev, p_hat_prev=self.p_hat_prev, time_step=self.dt, pressure_scale=self.scale,
            effective_capillary_pressure=c(0.0), venous_pressure=c(0.0),
            tractions=[(ufl.as_vector([0.0, 0.0, -TERZAGHI["load"]]), ds_top)],
            body_force=fem.Constant(mesh, np.zeros(3)), fluid_source=c(0.0), **coefficients,
        )
        K_dr = c(lam + 2 * mu_s / 3)
        preconditioner = fixed_stress_pressure_form(
            p, q, time_step=self.dt, pressure_scale=self.scale, drained_bulk_modulus=K_dr,
            **{k: coefficients[k] for k in ("biot_coefficient", "storage", "mobility", "filtration", "venous_conductance", "drainage", "dx")},
        )

        def fixed(space, component, where):
            dofs = fem.locate_dofs_geometrical((space.sub(component), space.sub(component).collapse()[0]), where)
            return fem.dirichletbc(default_scalar_type(0.0), dofs[0], space.sub(component))

        bcs = [
            fixed(self.V, 0, lambda x: np.isclose(x[0], 0) | np.isclose(x[0], 1)),
            fixed(self.V, 1, lambda x: np.isclose(x[1], 0) | np.isclose(x[1], 1)),
            fixed(self.V, 2, lambda x: np.isclose(x[2], 0)),
            fem.dirichletbc(default_scalar_type(0.0), fem.locate_dofs_geometrical(self.Q, lambda x: np.isclose(x[2], h)), self.Q),
        ]
        self.solver = BlockSolver(
            a, rhs, name="terzaghi", preset=preset, bcs=bcs, pressure_preconditioner=preconditioner,
            near_nullspace=rigid_body_modes(self.V) if preset == "iterative" else None,
        )
        self.time = 0.0

    def advance_to(self, end_time: float) -> list:
        stats = []
        while self.time < end_time - 1e-12:
            stats.append(self.solver.solve([self.u, self.p_hat]))
            self.u_prev.x.array[:] = self.u.x.array
            self.p_hat_prev.x.array[:] = self.p_hat.x.array
            self.time += float(self.dt.value)
        return stats

    def base_pressure(self) -> float:
        """p at the base centre line, averaged over the base vertices (exactly 1D solution: all equal)."""
        base = fem.locate_dofs_geometrical(self.Q, lambda x: np.isclose(x[2], 0.0))
        n_owned = self.Q.dofmap.index_map.size_local
        values = self.p_hat.x.array[base[base < n_owned]] * self.scale
        comm = self.mesh.comm
        return comm.allreduce(values.sum(), op=MPI.SUM) / comm.allreduce(values.size, op=MPI.SUM)

    def settlement(self) -> float:
        h = TERZAGHI["height"]
        top = fem.locate_dofs_geometrical((self.V.sub(2), self.V.sub(2).collapse()[0]), lambda x: np.isclose(x[2], h))[0]
        n_owned = self.V.dofmap.index_map.size_local * 3
        values = self.u.x.array[top[top < n_owned]]
        comm = self.mesh.comm
        return comm.allreduce(values.sum(), op=MPI.SUM) / comm.allreduce(values.size, op=MPI.SUM)


M_DRAINED = 1.0 / (TERZAGHI["lame_lambda"] + 2 * TERZAGHI["shear_modulus"])
UNDRAINED = analytic.undrained_pressure(
    TERZAGHI["load"], drained_modulus_m=M_DRAINED, storage=TERZAGHI["storage"], biot_coefficient=TERZAGHI["biot_coefficient"]
)


def _exact(t: float) -> tuple[float, float]:
    pressure, settlement = analytic.terzaghi(
        0.0, t, height=TERZAGHI["height"], load=TERZAGHI["load"], drained_modulus_m=M_DRAINED,
        storage=TERZAGHI["storage"], biot_coefficient=TERZAGHI["biot_coefficient"], mobility=TERZAGHI["mobility"],
    )
    return float(pressure[0]), settlement


@pytest.mark.mpi
@pytest.mark.parametrize("preset", ["direct", "iterative"])
def test_terzaghi_base_pressure_and_settlement_within_one_percent(preset):
    column = Column(cells_along_height=40, time_step=0.01, preset=preset)
    column.advance_to(0.01)
    assert UNDRAINED == pytest.approx(0.69767, rel=1e-5)  # MOOSE's p0
    assert column.base_pressure() == pytest.approx(UNDRAINED, rel=0.01)
    for t in (0.5, 2.0, 6.0):  # c t / h^2 = 0.07, 0.28, 0.84: early, middle, late
        column.advance_to(t)
        pressure, settlement = _exact(t)
        print(f"t = {t}: p_base {column.base_pressure():.6f} vs {pressure:.6f}; w_top {column.settlement():.6f} vs {settlement:.6f}")
        assert column.base_pressure() == pytest.approx(pressure, rel=0.01)
        assert column.settlement() == pytest.approx(settlement, rel=0.01)


@pytest.mark.mpi
def test_tiny_first_step_gives_no_pressure_oscillation():
    """Taylor-Hood at dt = 1e-6: the undrained pressure stays above -1 % of p0 everywhere (no checkerboard)."""
    column = Column(cells_along_height=40, time_step=1e-6)
    column.advance_to(1e-6)
    p = column.p_hat.x.array * column.scale
    p_min = column.mesh.comm.allreduce(p.min(), op=MPI.MIN)
    assert p_min > -0.01 * UNDRAINED
    assert column.base_pressure() == pytest.approx(UNDRAINED, rel=1e-3)


@pytest.mark.mpi
def test_iterative_matches_direct_at_every_step():
    """The field-split preset must follow MUMPS step by step (a frozen pressure would drift)."""
    columns = {preset: Column(cells_along_height=20, time_step=0.05, preset=preset) for preset in ("direct", "iterative")}
    for step in range(1, 11):
        iterative_stats = columns["iterative"].advance_to(0.05 * step)
        columns["direct"].advance_to(0.05 * step)
        for field in ("u", "p_hat"):
            direct, iterative = (getattr(columns[k], field).x.array for k in ("direct", "iterative"))
            assert np.linalg.norm(iterative - direct) <= 1e-8 * np.linalg.norm(direct), (step, field)
        assert iterative_stats[-1].iterations > 0
