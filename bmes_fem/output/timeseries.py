"""Outputs of a transient run: probe histories (CSV, PNG) and field snapshots as ParaView time series."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from dolfinx import fem
from dolfinx.io import VTXWriter

from bmes_fem.solve.transient import History
from bmes_fem.units import PA_PER_MMHG

PROBE_TABLE = "probes.csv"
PROBE_FIGURE = Path("figures") / "probe_pressure.png"
PRESSURE_SERIES = "pressure_mmHg.bp"
DISPLACEMENT_SERIES = "displacement_m.bp"


class Snapshots:
    """VTX (ADIOS2) time series, one writer per element family: P1 pressure in mmHg, P2 displacement in m."""

    def __init__(self, folder: Path, pressure_hat: fem.Function, pressure_scale_Pa: float, displacement: fem.Function):
        comm = displacement.function_space.mesh.comm
        self._pressure_hat, self._factor = pressure_hat, pressure_scale_Pa / PA_PER_MMHG
        self._pressure = fem.Function(pressure_hat.function_space, name="p_mmHg")
        self._writers = [
            VTXWriter(comm, folder / PRESSURE_SERIES, [self._pressure], engine="BP4"),
            VTXWriter(comm, folder / DISPLACEMENT_SERIES, [displacement], engine="BP4"),
        ]

    def write(self, time_s: float) -> None:
        self._pressure.x.array[:] = self._pressure_hat.x.array * self._factor
        for writer in self._writers:
            writer.write(time_s)

    def close(self) -> None:
        for writer in self._writers:
            writer.close()


def write_probe_table(path: Path, history: History, names: Sequence[str]) -> None:
    """CSV: time_s, load_fraction, then <probe>_p_mmHg and <probe>_u_um for each probe."""
    pressure, displacement = np.array(history.probe_pressure_mmHg), np.array(history.probe_displacement_um)
    with path.open("w", newline="") as handle:
        table = csv.writer(handle)
        table.writerow(["time_s", "load_fraction", *[f"{n}_p_mmHg" for n in names], *[f"{n}_u_um" for n in names]])
        for i, time_s in enumerate(history.times_s):
            table.writerow([f"{time_s:.6g}", f"{history.load_fraction[i]:.6g}", *pressure[i], *displacement[i]])


def plot_probe_pressure(path: Path, history: History, names: Sequence[str], title: str) -> None:
    """Pressure [mmHg] at each probe against time, the load fraction on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5), dpi=150)
    pressure = np.array(history.probe_pressure_mmHg)
    for i, name in enumerate(names):
        axis.plot(history.times_s, pressure[:, i], label=name.replace("_", " "))
    axis.set_xlabel("time [s]")
    axis.set_ylabel("interstitial pressure [mmHg]")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    load_axis = axis.twinx()
    load_axis.plot(history.times_s, history.load_fraction, color="0.6", linestyle="--", linewidth=1, label="load / peak")
    load_axis.set_ylabel("joint force / peak [-]", color="0.4")
    load_axis.set_ylim(0.0, 1.6)
    lines = axis.get_legend_handles_labels()[0] + load_axis.get_legend_handles_labels()[0]
    axis.legend(lines, [line.get_label() for line in lines], loc="upper right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def probe_summary(history: History, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per probe: initial, peak and final pressure [mmHg], time of the peak [s], peak displacement [um]."""
    pressure, displacement = np.array(history.probe_pressure_mmHg), np.array(history.probe_displacement_um)
    summary = {}
    for i, name in enumerate(names):
        peak = int(np.argmax(pressure[:, i]))
        summary[name] = {
            "p_initial_mmHg": float(pressure[0, i]),
            "p_peak_mmHg": float(pressure[peak, i]),
            "p_peak_time_s": float(history.times_s[peak]),
            "p_final_mmHg": float(pressure[-1, i]),
            "u_peak_um": float(displacement[:, i].max()),
        }
    return summary
