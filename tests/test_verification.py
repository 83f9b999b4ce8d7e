"""The verification suite (configs/verification/): every case within its tolerance of the closed form on the
finest mesh and at its theoretical rate, serial and on two MPI ranks alike."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from bmes_fem.verification.suite import DEFAULT_CASES, RATE_TOLERANCE, run_suite

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def serial_table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verification") / "serial"
    rows = run_suite([DEFAULT_CASES], folder)
    return rows, folder / "table.csv"


@pytest.mark.slow
def test_every_case_meets_its_closed_form_at_the_expected_rate(serial_table):
    rows, _ = serial_table
    finest = [row for row in rows if row.rate is not None]
    assert {row.solution for row in finest} == {"terzaghi", "mandel", "leak_drainage_sphere", "free_expansion_sphere"}
    for row in finest:
        print(f"{row.solution}: error {row.error:.2e} on {row.dofs} dofs, rate {row.rate:.2f}")
        assert row.error < 0.01, row
        assert abs(row.rate - row.expected_rate) <= RATE_TOLERANCE, row
        assert row.status == "ok"


@pytest.mark.slow
def test_two_mpi_ranks_give_the_serial_table(serial_table, tmp_path):
    _, serial_csv = serial_table
    run = subprocess.run(
        [str(BIN / "mpirun"), "-n", "2", str(BIN / "bmes"), "-q", "verify", "--results-dir", str(tmp_path / "parallel")],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    serial = list(csv.DictReader(serial_csv.open()))
    parallel = list(csv.DictReader((tmp_path / "parallel" / "table.csv").open()))
    assert [(r["case"], r["level"], r["dofs"]) for r in parallel] == [(r["case"], r["level"], r["dofs"]) for r in serial]
    # The errors are relative to the field's norm, so equal errors to 1e-8 are equal fields to 1e-8: the iterative
    # solves stop at rtol 1e-10 on the residual, and two ranks sum in another order and build other GAMG
    # aggregates (measured: 4e-9 on the finest sphere). A rank-local bug (a missing ghost update) moves them by >1e-3.
    for s, p in zip(serial, parallel, strict=True):
        assert float(p["error"]) == pytest.approx(float(s["error"]), abs=1e-8), s["case"]
