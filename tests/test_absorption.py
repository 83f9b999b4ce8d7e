"""Capillary exchange without sustained reabsorption (``fluid.capillary_reabsorption: false``, q_cap = L (p_eff - p)^+):
the lumped relaxation of an excess above p_eff (piecewise exponential, first order in dt), the linear law unchanged by
default, the steady state unchanged where p < p_eff, a steady free boundary against its closed form, the time-step
check, and the closed forms themselves."""

from __future__ import annotations

import numpy as np
import pytest

from bmes_fem.config.case import Probe
from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError, SolverError
from bmes_fem.mesh.build import build_domain
from bmes_fem.physics import analytic
from bmes_fem.physics.materials import blood_conductance, calibrate_venous_conductance, largest_filtration_rate_per_s
from bmes_fem.post.probes import ProbePoints
from bmes_fem.solve import steady
from bmes_fem.solve.steady import SteadyBiot
from bmes_fem.solve.transient import CUTOFF_SPLITTING, TransientBiot, check_cutoff_time_steps, cutoff_solves
from bmes_fem.units import PA_PER_MMHG

SIDE_M = 0.005
FACES = ["xmin", "xmax", "ymin", "ymax", "zmin", "zmax"]
VENOUS_RISE_MMHG = 30.0  # p_v 15 -> 45 mmHg at t = 0, above p_eff = 30.55 mmHg; back to 15 mmHg from t = 0+
# L / S = 0.01 1/s (not the calibrated defaults): the time steps below span dt L / S = 0.05 to 0.5
EXCHANGE = {"capillary_filtration": "1e-8 1/(Pa*s)", "vascular_storage": "1e-6 1/Pa"}


def _lumped(time_step_s: float, *, reabsorption: bool, end_time_s: float = 600.0, stages=None, **fluid):
    """A uniform no-flux marrow cube, rollers on every face (u = 0, so S dp/dt is the whole storage term), in
    equilibrium with p_v raised by 30 mmHg at t = 0 (a venous occlusion); the occlusion is released at t = 0+.
    ``fluid``: more ``fluid`` keys."""
    time = {"stages": stages} if stages else {"time_step": f"{time_step_s} s", "end_time": f"{end_time_s} s"}
    data = {
        "geometry": {"kind": "box", "lengths": [SIDE_M] * 3, "divisions": [1, 1, 2]},
        "lesions": [], "fluid": {"capillary_reabsorption": reabsorption, **EXCHANGE, **fluid},
        "boundary_conditions": [{"boundary": FACES, "kind": "roller"}], "solver": {"preset": "direct"},
        "analysis": "transient",
        "transient": {
            "time": time,
            "vascular": {"venous_pressure_rise": f"{VENOUS_RISE_MMHG} mmHg", "history": {"kind": "table", "table": [[0.0, 1.0], [1.0, 0.0]]}},
        },
    }  # fmt: skip
    return parse_config(data, "lumped.yaml")


def _lumped_constants(config) -> dict[str, float]:
    fluid = config.fluid
    return dict(
        storage=1.0 / config.tissue.trabecular.biot_modulus + fluid.vascular_storage,
        filtration=fluid.capillary_filtration,
        effective_capillary_pressure=fluid.effective_capillary_pressure(),
        venous_conductance=calibrate_venous_conductance(fluid),
        venous_pressure=fluid.venous_pressure,
    )


def _probe_history(config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t_n, p_n at the cube's centre [Pa], solves of step n) of every state, and a check that p stays uniform."""
    domain = build_domain(config)
    problem = TransientBiot(domain, config)
    centre = ProbePoints(domain, [Probe(name="centre", point=(SIDE_M / 2,) * 3)])
    times, pressures, solves = [], [], []
    for state in problem.states():
        values = state.pressure.x.array
        assert np.ptp(values) <= 1e-10 * np.abs(values).max(), state.step
        times.append(state.time_s)
        pressures.append(float(centre.values(state.pressure)[0, 0]))
        solves.append(len(state.solves))
    return np.array(times), np.array(pressures), np.array(solves)


def _filtration_only_step(
    previous: float, dt: float, S: float, L: float, G_v: float, p_eff: float, p_v: float, G_b: float = 0.0, p_b: float = 0.0
) -> float:
    """p of S (p - p^n-1) + dt G_v (p - p_v) + dt G_b (p - p_b) = dt L (p_eff - p)^+, one backward-Euler step of the
    filtration-only law (with the blood throughflow G_b (p - p_b) when G_b > 0)."""
    above = (S * previous + dt * (G_v * p_v + G_b * p_b)) / (S + dt * (G_v + G_b))
    return above if above >= p_eff else (S * previous + dt * (L * p_eff + G_v * p_v + G_b * p_b)) / (S + dt * (L + G_v + G_b))


@pytest.mark.mpi
def test_lumped_excess_drains_through_the_veins_only_and_converges_at_first_order_in_dt():
    """S dp/dt = -G_v (p - p_v) while p > p_eff, then the linear law (analytic.filtration_only_relaxation), from the
    filtration-only steady state of the occlusion, p = p_v + 30 mmHg (the capillaries take nothing back). Each FE step
    is the scheme of bmes_fem.solve.transient: up to k + 1 solves (k = cutoff_solves(dt, L / S) >= 2 here) of
    (S + dt (L + G_v)) x_j = S p^n-1 + dt (L p_eff + G_v p_v + L (x_j-1 - p_eff)^+), x_0 = 2 p^n-1 - p^n-2 (p^0 at the
    first step), stopping once x_j-1 and x_j are both below p_eff or rho / (1 - rho) |x_j - x_j-1| <= 1e-3 |x_j - p^n-1|,
    rho = dt L / (S + dt L) (uniform p: the weighted norms are absolute values); each step within 1.001e-3 of the larger of
    its change and the previous step's from the fixed point's limit (`_filtration_only_step`); its error against the
    closed form falls as dt^1, far below the gap to the linear law."""
    config = _lumped(20.0, reabsorption=False)
    constants = _lumped_constants(config)
    S, L, G_v = constants["storage"], constants["filtration"], constants["venous_conductance"]
    p_eff, p_v = constants["effective_capillary_pressure"], constants["venous_pressure"]
    assert largest_filtration_rate_per_s(config) == pytest.approx(L / S, rel=1e-15)
    start = p_v + VENOUS_RISE_MMHG * PA_PER_MMHG
    time_steps = np.array([20.0, 10.0, 5.0])
    errors, gaps = [], []
    for dt in time_steps:
        times, pressures, solves = _probe_history(_lumped(dt, reabsorption=False))
        assert pressures[0] == pytest.approx(start, rel=1e-10)
        limit, contraction = cutoff_solves(dt, L / S), dt * L / (S + dt * L)
        scheme, scheme_solves = [start], []
        for _ in times[1:]:
            iterate, count = 2.0 * scheme[-1] - scheme[-2] if len(scheme) > 1 else scheme[-1], 0
            while count < limit + 1:
                last, count = iterate, count + 1
                iterate = (S * scheme[-1] + dt * (L * p_eff + G_v * p_v + L * max(last - p_eff, 0.0))) / (S + dt * (L + G_v))
                below = max(last, iterate) <= p_eff
                if below or contraction / (1 - contraction) * abs(iterate - last) <= CUTOFF_SPLITTING * abs(iterate - scheme[-1]):
                    break
            scheme.append(iterate)
            scheme_solves.append(count)
        assert np.allclose(pressures, scheme, rtol=1e-10, atol=0.0)
        assert (solves[1:] == scheme_solves).all(), (solves, scheme_solves)
        before, after, steps = pressures[:-1] > p_eff, pressures[1:] > p_eff, solves[1:]
        assert limit >= 2 and (steps[~before & ~after] == 1).all() and steps.max() <= limit + 1, (limit, solves)
        assert steps[1:][(before & after)[1:]].max() < limit, (limit, solves)  # from the extrapolated start: fewer
        limits = np.array([_filtration_only_step(p, dt, S, L, G_v, p_eff, p_v) for p in pressures[:-1]])
        previous_changes = np.abs(np.diff(pressures[:-1], prepend=pressures[0]))
        bounds = 1.001e-3 * np.maximum(np.abs(limits - pressures[:-1]), previous_changes)
        assert (np.abs(pressures[1:] - limits) <= bounds).all(), np.abs(pressures[1:] - limits) / bounds
        exact = analytic.filtration_only_relaxation(times, initial_pressure=start, **constants)
        linear_law = analytic.uniform_steady_pressure(L, p_eff, G_v, p_v) + (start - analytic.uniform_steady_pressure(L, p_eff, G_v, p_v)) * np.exp(
            -times / analytic.excess_decay_time_s(S, L, G_v, capillary_reabsorption=True)
        )
        errors.append(np.abs(pressures - exact).max())
        gaps.append(np.abs(linear_law - exact).max())
    rate = analytic.observed_rate(time_steps, np.array(errors))
    assert 0.9 <= rate <= 1.1, (rate, errors)
    assert errors[-1] < 0.1 * gaps[-1], (errors, gaps)


def test_the_auto_preset_plans_for_every_solve_of_the_cutoff():
    """Without reabsorption a step takes up to k + 1 solves (k = cutoff_solves >= 2 at dt L / S = 0.2): `auto` weighs
    LU against multigrid over steps x (k + 1) solves, with reabsorption over one a step."""
    steps, dt = 6, 20.0
    for reabsorption in (False, True):
        config = _lumped(dt, reabsorption=reabsorption, end_time_s=steps * dt)
        config = config.model_copy(update={"solver": config.solver.model_copy(update={"preset": "auto"})})
        k = cutoff_solves(dt, largest_filtration_rate_per_s(config))
        assert k >= 2
        solves = steps if reabsorption else steps * (k + 1)
        problem = TransientBiot(build_domain(config), config)
        assert f"{solves} solve(s)" in problem.solver.preset_reason, (reabsorption, problem.solver.preset_reason)


@pytest.mark.mpi
def test_with_reabsorption_the_excess_decays_towards_p0_at_the_linear_law_rate():
    """The default law: the occlusion's steady state (L p_eff + G_v (p_v + 30 mmHg)) / (L + G_v), then the backward-Euler
    decay p0 + (p_i - p0)(1 + dt / tau)^-n with tau = S / (L + G_v), the capillaries absorbing above p_eff."""
    config = _lumped(20.0, reabsorption=True, end_time_s=200.0)
    constants = _lumped_constants(config)
    S, L, G_v = constants["storage"], constants["filtration"], constants["venous_conductance"]
    p_eff, p_v = constants["effective_capillary_pressure"], constants["venous_pressure"]
    start = analytic.uniform_steady_pressure(L, p_eff, G_v, p_v + VENOUS_RISE_MMHG * PA_PER_MMHG)
    p0 = analytic.uniform_steady_pressure(L, p_eff, G_v, p_v)
    tau = analytic.excess_decay_time_s(S, L, G_v, capillary_reabsorption=True)
    _, pressures, solves = _probe_history(config)
    assert (solves[1:] == 1).all()
    assert start > p_eff
    assert np.allclose(pressures, p0 + (start - p0) * (1.0 + 20.0 / tau) ** -np.arange(len(pressures)), rtol=1e-10, atol=0.0)


def test_default_head_steady_state_is_the_same_with_and_without_reabsorption():
    """Where p < p_eff everywhere (the default head: boundary drainage and venous outflow keep p below its ceiling),
    the filtration-only steady state is the linear one: one pressure solve, the same p and u."""
    data = {"mesh": {"size": "6 mm", "lesion_size": "3 mm"}, "output": {"figures": False}}
    linear = parse_config(data, "head.yaml")
    cut_off = parse_config({**data, "fluid": {"capillary_reabsorption": False}}, "head.yaml")
    domain = build_domain(linear)
    states = [SteadyBiot(domain, config).solve() for config in (linear, cut_off)]
    for state in states:
        assert [stats.name for stats in state.solves].count("pressure") == 1
    for field in ("pressure", "displacement"):
        a, b = (getattr(state, field).x.array for state in states)
        assert np.abs(a - b).max() <= 1e-12 * np.abs(a).max()


COLUMN_HEIGHT_M = 0.02
FEED_M_PER_S = 2.5e-7  # fluid fed through the top face [m/s]
AXIS = np.array([[SIDE_M / 2, SIDE_M / 2, z] for z in np.linspace(0.0, COLUMN_HEIGHT_M, 41)])


def _column(divisions: int, reabsorption: bool):
    data = {
        "geometry": {"kind": "box", "lengths": [SIDE_M, SIDE_M, COLUMN_HEIGHT_M], "divisions": [1, 1, divisions]},
        "lesions": [], "fluid": {"capillary_reabsorption": reabsorption, **EXCHANGE}, "solver": {"preset": "direct"},
        "tissue": {"fluid_viscosity": "1 mPa*s", "trabecular": {"permeability": "1e-15 m^2"}},  # exchange length 8 mm
        "boundary_conditions": [
            {"boundary": FACES, "kind": "roller"}, {"boundary": "zmax", "kind": "flux", "value": f"{-FEED_M_PER_S} m/s"},
        ],
    }  # fmt: skip
    return parse_config(data, "column.yaml")


def _column_axis_pressure(config) -> tuple[np.ndarray, int]:
    """(p on the axis [Pa], number of pressure solves) of the steady column."""
    domain = build_domain(config)
    state = SteadyBiot(domain, config).solve()
    points = ProbePoints(domain, [Probe(name=f"z{i}", point=tuple(point)) for i, point in enumerate(AXIS)])
    return points.values(state.pressure)[:, 0], [stats.name for stats in state.solves].count("pressure")


@pytest.mark.mpi
def test_steady_column_fed_at_the_top_has_the_free_boundary_of_the_closed_form():
    """Fluid fed through the top: p > p_eff in an upper part where only the veins drain, the linear law below, p and p'
    continuous at the free boundary (analytic.filtration_only_column_pressure). The Newton iteration's FE pressure
    converges to it at second order in h, and the linear law's pressure misses it by far more."""
    config = _column(16, reabsorption=False)
    fluid = config.fluid
    exact = analytic.filtration_only_column_pressure(
        AXIS[:, 2], height=COLUMN_HEIGHT_M, mobility=config.tissue.trabecular.permeability / config.tissue.fluid_viscosity,
        filtration=fluid.capillary_filtration, effective_capillary_pressure=fluid.effective_capillary_pressure(),
        venous_conductance=calibrate_venous_conductance(fluid), venous_pressure=fluid.venous_pressure, outward_flux=-FEED_M_PER_S,
    )  # fmt: skip
    above = exact > fluid.effective_capillary_pressure()
    assert 0.2 < above.mean() < 0.8  # the free boundary lies inside the column
    divisions = np.array([16, 32, 64])
    errors = []
    for n in divisions:
        pressure, solves = _column_axis_pressure(_column(int(n), reabsorption=False))
        assert 3 <= solves <= 8, solves
        errors.append(np.abs(pressure - exact).max() / np.abs(exact - fluid.venous_pressure).max())
    linear, solves = _column_axis_pressure(_column(64, reabsorption=True))
    assert solves == 1
    rate = analytic.observed_rate(COLUMN_HEIGHT_M / divisions, np.array(errors))
    assert rate >= 1.8, (rate, errors)
    assert errors[-1] < 0.01 * np.abs(linear - exact).max() / np.abs(exact - fluid.venous_pressure).max()


def test_a_newton_iteration_that_does_not_settle_is_a_one_line_solver_error(monkeypatch):
    """The fed column needs several Newton solves; allowed one, the steady solve stops with a SolverError on one line
    naming the option and the last change of p."""
    monkeypatch.setattr(steady, "ACTIVE_SET_ITERATIONS", 1)
    config = _column(16, reabsorption=False)
    with pytest.raises(SolverError, match=r"^steady state: steady pressure with fluid\.capillary_reabsorption: false: .* changed p by .* after 1 solves") as error:
        SteadyBiot(build_domain(config), config).solve()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("stepping", "message"),
    [
        ({"time_step": 200.0}, "transient.time.time_step = 200 s gives dt L / S = 2 with fluid.capillary_reabsorption: false; expected dt < S / L = 100 s"),
        (
            {"stages": [{"time_step": "10 s", "until": "100 s"}, {"time_step": "150 s", "until": "400 s"}]},
            "transient.time.stages.1.time_step = 150 s gives dt L / S = 1.5",
        ),
    ],
    ids=["one_stage", "second_stage"],
)
def test_a_time_step_beyond_s_over_l_is_a_one_line_error_naming_transient_time(stepping, message):
    """dt L / S >= 1 (here L / S = 1e-8 / (1/3.1e9 + 1e-6), S / L = 100 s) without reabsorption: ConfigError on one line;
    the same steps with reabsorption pass."""
    stages = stepping.get("stages")
    config = _lumped(stepping.get("time_step", 0.0), reabsorption=False, stages=stages, end_time_s=400.0)
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")) as error:
        TransientBiot(build_domain(config), config)
    assert "\n" not in str(error.value)
    check_cutoff_time_steps(_lumped(stepping.get("time_step", 0.0), reabsorption=True, stages=stages, end_time_s=400.0))


def test_relaxation_closed_form_solves_its_equation_and_is_continuous_at_the_crossing():
    """filtration_only_relaxation: p(0) = p_i, continuous through p_eff at t*, and S dp/dt = L (p_eff - p)^+ - G_v (p - p_v)
    (central differences, 1e-6 relative); from below p_eff it is the linear law."""
    constants = dict(storage=1.0e-6, filtration=3.0e-8, effective_capillary_pressure=4000.0, venous_conductance=2.0e-9, venous_pressure=2000.0)
    S, L, p_eff, G_v, p_v = constants.values()
    tau_v = analytic.excess_decay_time_s(S, L, G_v, capillary_reabsorption=False)
    assert tau_v == pytest.approx(S / G_v, rel=1e-15)
    crossing = tau_v * np.log((6000.0 - p_v) / (p_eff - p_v))
    t = np.concatenate([np.linspace(1.0, crossing - 1.0, 50), np.linspace(crossing + 1.0, 5 * crossing, 50)])
    p = analytic.filtration_only_relaxation(t, initial_pressure=6000.0, **constants)
    dp = (analytic.filtration_only_relaxation(t + 1e-3, initial_pressure=6000.0, **constants)
          - analytic.filtration_only_relaxation(t - 1e-3, initial_pressure=6000.0, **constants)) / 2e-3  # fmt: skip
    assert np.allclose(S * dp, L * np.maximum(p_eff - p, 0.0) - G_v * (p - p_v), rtol=1e-6, atol=1e-9 * G_v * p_eff)
    ends = analytic.filtration_only_relaxation(np.array([0.0, crossing * (1 - 1e-12), crossing]), initial_pressure=6000.0, **constants)
    assert ends == pytest.approx([6000.0, p_eff, p_eff], rel=1e-9)
    below = analytic.filtration_only_relaxation(t, initial_pressure=3000.0, **constants)
    p0 = analytic.uniform_steady_pressure(L, p_eff, G_v, p_v)
    tau = analytic.excess_decay_time_s(S, L, G_v, capillary_reabsorption=True)
    assert np.allclose(below, p0 + (3000.0 - p0) * np.exp(-t / tau), rtol=1e-14)


def test_column_closed_form_solves_its_equation_with_continuous_slope():
    """filtration_only_column_pressure: kappa p'' = G_v (p - p_v) - L (p_eff - p)^+ (second differences), p'(0) = 0,
    -kappa p'(H) = q_n, p' continuous at the free boundary; a small feed gives the linear law's cosh."""
    constants = dict(height=0.02, mobility=1e-12, filtration=1e-8, effective_capillary_pressure=4000.0, venous_conductance=5e-9, venous_pressure=2000.0)
    kappa, L, p_eff, G_v, p_v = (constants[k] for k in ("mobility", "filtration", "effective_capillary_pressure", "venous_conductance", "venous_pressure"))
    h = 1e-5
    z = np.linspace(h, 0.02 - h, 2001)
    pressure = analytic.filtration_only_column_pressure(np.concatenate([z - h, z, z + h]), outward_flux=-1e-7, **constants).reshape(3, -1)
    curvature = (pressure[0] - 2 * pressure[1] + pressure[2]) / h**2
    sources = G_v * (pressure[1] - p_v) - L * np.maximum(p_eff - pressure[1], 0.0)
    assert (pressure[1] > p_eff).any() and (pressure[1] < p_eff).any()
    smooth = np.abs(pressure[1] - p_eff) > 1.0  # second differences straddling the free boundary see the jump of p''
    assert np.allclose(kappa * curvature[smooth], sources[smooth], rtol=1e-4, atol=1e-6 * np.abs(sources).max())
    slope = np.diff(pressure[1]) / np.diff(z)
    assert np.abs(np.diff(slope)).max() < 1e-2 * np.abs(slope).max()
    ends = analytic.filtration_only_column_pressure(np.array([0.0, h, 0.02 - h, 0.02]), outward_flux=-1e-7, **constants)
    assert (ends[1] - ends[0]) / h == pytest.approx(0.0, abs=1e-3 * 1e-7 / kappa)
    assert -kappa * (ends[3] - ends[2]) / h == pytest.approx(-1e-7, rel=1e-3)
    small = analytic.filtration_only_column_pressure(z, outward_flux=-1e-9, **constants)
    b = np.sqrt((L + G_v) / kappa)
    p0 = analytic.uniform_steady_pressure(L, p_eff, G_v, p_v)
    assert np.allclose(small, p0 + 1e-9 / kappa / (b * np.sinh(b * 0.02)) * np.cosh(b * z), rtol=1e-14)


@pytest.mark.mpi
def test_blood_throughflow_relaxes_towards_the_initial_state_shifted_by_the_venous_change():
    """Blood flow F = 0.04 mL/min per mL: G_b = F / (p0 - p_v) = 5.0e-7 1/(Pa s), 50 L here. The occluded steady state p_i
    does not see it (a steady balance); released, the cube follows backward Euler of
    S dp/dt = L (p_eff - p) + G_v (p_v - p) - G_b (p - p_i + dp_v), dp_v = 30 mmHg (the blood's venous outflow follows
    p - p_v, and p_v fell by dp_v): p_n = p_inf + (p_i - p_inf) (1 + dt / tau)^-n, tau = S / (L + G_v + G_b),
    p_inf = (L p_eff + G_v p_v + G_b (p_i - dp_v)) / (L + G_v + G_b)."""
    time_step_s = 2.0
    config = _lumped(time_step_s, reabsorption=True, end_time_s=20.0, blood_flow="0.04 mL/min/mL")
    constants = _lumped_constants(config)
    S, L, G_v = constants["storage"], constants["filtration"], constants["venous_conductance"]
    p_eff, p_v = constants["effective_capillary_pressure"], constants["venous_pressure"]
    G_b = blood_conductance(config.fluid)
    assert G_b == pytest.approx(0.04 / 60.0 / (10.0 * PA_PER_MMHG), rel=1e-12) and G_b == pytest.approx(50.0 * L, rel=1e-3)
    rise = VENOUS_RISE_MMHG * PA_PER_MMHG
    start = analytic.uniform_steady_pressure(L, p_eff, G_v, p_v + rise)
    p_inf = (L * p_eff + G_v * p_v + G_b * (start - rise)) / (L + G_v + G_b)
    tau = S / (L + G_v + G_b)
    _, pressures, solves = _probe_history(config)
    assert pressures[0] == pytest.approx(start, rel=1e-12) and (solves[1:] == 1).all()
    assert np.allclose(pressures, p_inf + (start - p_inf) * (1.0 + time_step_s / tau) ** -np.arange(len(pressures)), rtol=1e-10, atol=0.0)
    assert abs(p_inf - analytic.uniform_steady_pressure(L, p_eff, G_v, p_v)) > 15.0 * PA_PER_MMHG  # the term moves p_inf by 18.7 mmHg


@pytest.mark.mpi
def test_blood_throughflow_with_filtration_only_steps_to_the_fixed_point_of_the_cut_off_law():
    """The same release without reabsorption (the law of the stress tests): the excess leaves through the veins and
    the blood, S dp/dt = -G_v (p - p_v) - G_b (p - p_i + dp_v) while p > p_eff, the linear law below; each FE step lies
    within 1.001e-3 of the larger of its change and the previous step's from that step's exact backward-Euler value
    (`_filtration_only_step` with G_b), as the cut-off's stopping test promises, and p crosses p_eff on the way."""
    time_step_s = 2.0
    config = _lumped(time_step_s, reabsorption=False, end_time_s=20.0, blood_flow="0.04 mL/min/mL")
    constants = _lumped_constants(config)
    S, L, G_v = constants["storage"], constants["filtration"], constants["venous_conductance"]
    p_eff, p_v = constants["effective_capillary_pressure"], constants["venous_pressure"]
    G_b, rise = blood_conductance(config.fluid), VENOUS_RISE_MMHG * PA_PER_MMHG
    _, pressures, _ = _probe_history(config)
    start = pressures[0]
    assert start == pytest.approx(p_v + rise, rel=1e-10)  # the filtration-only occluded state: p = p_v + 30 mmHg
    limits = np.array([_filtration_only_step(p, time_step_s, S, L, G_v, p_eff, p_v, G_b, start - rise) for p in pressures[:-1]])
    previous_changes = np.abs(np.diff(pressures[:-1], prepend=pressures[0]))
    bounds = 1.001e-3 * np.maximum(np.abs(limits - pressures[:-1]), previous_changes)
    assert (np.abs(pressures[1:] - limits) <= bounds).all(), np.abs(pressures[1:] - limits) / bounds
    assert pressures[0] > p_eff > pressures[-1]
    without = _filtration_only_step(start, time_step_s, S, L, G_v, p_eff, p_v)  # the first step without the term
    assert abs(pressures[1] - without) > 100.0 * bounds[0]
