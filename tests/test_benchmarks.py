"""Smoke test of benchmarks/gradient_speed.py: it runs, prints its tables, and the numbers agree.

Only the accuracy targets are asserted; timings and speed ratios never are (shared, noisy
machines). The script runs in its own process, as a user runs it, so that its BLAS thread
setting applies before numpy loads.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gradient_speed.py"
NETWORKS = ["TwoLayerNet 784-50-10", "MultiLayerNet 100-100 relu", "MultiLayerNet 100-100 sig"]
METHODS = ["book loop (oracle)", "minifw generic", "minifw fast path", "backprop"]


@pytest.fixture(scope="module")
def quick_output() -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("method", METHODS)
def test_prints_a_row_for_every_network_and_method(
    quick_output: str, network: str, method: str
) -> None:
    assert quick_output.count(f"\n{network:<26} {method} ") == 1


def test_says_what_is_extrapolated_and_how_it_ran(quick_output: str) -> None:
    assert quick_output.count("~ extrapolated from") == 3
    assert "BLAS threads: OPENBLAS_NUM_THREADS=1" in quick_output
    assert "NPY_DISABLE_CPU_FEATURES=" in quick_output


def test_the_honesty_targets_pass(quick_output: str) -> None:
    # The fast gradient is the finite difference of the stencil: against the book's loop in
    # extended precision it agrees far below 1e-9 of max|g| at h = 1e-2 and 1e-3, for the
    # central, forward and backward stencils, and central at 1e-2 keeps its truncation error.
    lines = [line.strip() for line in quick_output.splitlines()]
    honesty = [line for line in lines if "of the loop (extended precision)" in line]
    assert len(honesty) == 6
    assert all(line.startswith("PASS") for line in honesty), honesty
    assert any(line.startswith("PASS") and "keeps its truncation error" in line for line in lines)


def test_reports_every_target(quick_output: str) -> None:
    lines = [line.strip() for line in quick_output.splitlines()]
    verdicts = [line for line in lines if line.startswith(("PASS  ", "FAIL  "))]
    assert len(verdicts) == 24
    assert any(">= 1000x the book loop" in line for line in verdicts)
    assert any("TwoLayerNet fast path <= 30x backprop" in line for line in verdicts)
    for network in NETWORKS:
        issue_20 = [
            line for line in verdicts if line[6:].startswith(network) and "(issue 20)" in line
        ]
        assert len(issue_20) == 4, issue_20  # fast path, loss, backprop, Perturbation


@pytest.mark.parametrize("network", NETWORKS)
def test_prints_the_lean_ratios_of_every_network(quick_output: str, network: str) -> None:
    # The lean table's row: loss, backprop and Perturbation per coordinate, each a ratio to the
    # book's plain numpy (the only rows of a network that end in "x").
    lines = quick_output.splitlines()
    rows = [line for line in lines if line.startswith(f"{network:<26} ") and line.endswith("x")]
    assert len(rows) == 1, rows
    ratios = [float(word.rstrip("x")) for word in rows[0][26:].split()]
    assert len(ratios) == 3
    assert all(0 < r < 100 for r in ratios), ratios
