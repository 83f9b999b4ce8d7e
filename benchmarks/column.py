"""The Terzaghi column of the solver benchmarks (terzaghi_column.py) and of the race against OpenGeoSys
(peer_terzaghi.py; benchmarks/peer/terzaghi_column.yaml and terzaghi_hm.prj hold the same values), SI units:
a box of LENGTH_M, rollers on the sides and the base, the top drained and loaded by LOAD_PA from t = 0+."""

LENGTH_M = 0.1
LOAD_PA = 1.0e4
YOUNGS_MODULUS_PA = 1.0e7
POISSON_RATIO = 0.25
BIOT_COEFFICIENT = 1.0
BIOT_MODULUS_PA = 1.0e9
MOBILITY_M2_PER_PA_S = 1.0e-10
TIME_STEP_S = 0.25
STEPS = 40


def drained_modulus_Pa() -> float:
    """P = K_dr + 4G/3 = E (1 - nu) / ((1 + nu)(1 - 2 nu)), the oedometric modulus (and pressure scale)."""
    nu = POISSON_RATIO
    return YOUNGS_MODULUS_PA * (1.0 - nu) / ((1.0 + nu) * (1.0 - 2.0 * nu))
