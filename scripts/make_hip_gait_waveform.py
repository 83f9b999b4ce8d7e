"""Write configs/waveforms/hip_walking.csv: a smooth hip contact-force waveform for one gait cycle.

A synthetic shape, not digitised data: it has the features reported for walking by Bergmann et al.
2001 (J Biomech 34:859) and 2016 (PLoS One 11:e0155612) — stance 0-62 % of the cycle, a first peak at
about 17 % (heel strike to loading response) and a second, slightly lower one at about 48 % (push-off),
a valley of about 70 % of the peak between them, and about 8-10 % of the peak in swing. Fractions are
of the peak force (load.force in the config).
"""

from pathlib import Path

import numpy as np

STANCE_END = 0.62
SWING_LEVEL = 0.09


def hip_walking_fraction(phase: np.ndarray) -> np.ndarray:
    """Fraction of peak force at gait phase in [0, 1]."""
    stance = np.where(phase < STANCE_END, np.sin(np.pi * np.clip(phase / STANCE_END, 0, 1)) ** 0.6, 0.0)
    humps = 0.62 + 0.42 * np.exp(-0.5 * ((phase - 0.17) / 0.06) ** 2) + 0.36 * np.exp(-0.5 * ((phase - 0.48) / 0.06) ** 2)
    force = SWING_LEVEL + (1 - SWING_LEVEL) * stance * humps
    return force / force.max()


if __name__ == "__main__":
    phase = np.linspace(0.0, 1.0, 51)
    fraction = hip_walking_fraction(phase)
    fraction[-1] = fraction[0]  # periodic
    path = Path(__file__).resolve().parent.parent / "configs" / "waveforms" / "hip_walking.csv"
    lines = ["# synthetic hip walking waveform, shape after Bergmann et al. 2001/2016 (see scripts/make_hip_gait_waveform.py)"]
    lines += ["time_s,fraction"] + [f"{t:.3f},{f:.4f}" for t, f in zip(phase, fraction, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}: peak {fraction.max():.3f} at {phase[fraction.argmax()]:.2f}, swing {fraction[-5]:.3f}")
