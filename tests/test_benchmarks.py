"""Smoke test of benchmarks/gradient_speed.py: it runs, prints its table, and the numbers agree.

Only the accuracy targets are asserted; timings and speed ratios never are (shared, noisy
machines). The script runs in its own process, as a user runs it, so that its BLAS thread
setting applies before numpy loads.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gradient_speed.py"


@pytest.fixture(scope="module")
def quick_output() -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


LABELS = [
    "book loop (book's numpy f)",
    "minifw generic, book's f",
    "minifw generic, predict+CE",
    "minifw fast path",
    "analytic backprop",
]
if importlib.util.find_spec("scipy") is not None:
    LABELS.append("scipy approx_fprime (forward)")


@pytest.mark.parametrize("label", LABELS)
def test_prints_a_table_row_for_every_method(quick_output: str, label: str) -> None:
    assert quick_output.count(f"\n{label} ") == 2  # one row per batch


def test_says_what_is_extrapolated(quick_output: str) -> None:
    assert "extrapolated from" in quick_output
    assert "BLAS threads: OPENBLAS_NUM_THREADS=1" in quick_output


@pytest.mark.parametrize(
    "target",
    [
        "PASS  fast path vs per-coordinate reference",
        "PASS  fast path vs exact gradient",
    ],
)
def test_accuracy_targets_pass(quick_output: str, target: str) -> None:
    # Both batches: the bundled-sample target and the dense batch's informational line.
    assert quick_output.count(target) == 2, quick_output


def test_reports_every_target(quick_output: str) -> None:
    lines = [line.strip() for line in quick_output.splitlines()]
    verdicts = [line for line in lines if line.startswith(("PASS  ", "FAIL  "))]
    assert len(verdicts) == 6
    assert any("faster than the book loop (target >= 300x)" in line for line in verdicts)
    assert any("generic path no slower than the book loop" in line for line in verdicts)
