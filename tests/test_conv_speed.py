"""Smoke test of benchmarks/conv_speed.py: it runs, prints its tables, and the honesty lines pass.

Timings and speed ratios are never asserted (shared, noisy machines); the fast path against the
book's loop over the same stencil is, to the loop's rounding.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "conv_speed.py"


def test_quick_run_prints_its_rows_and_the_honesty_passes() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    for method in ("book loop (oracle)", "minifw fast path", "backprop"):
        assert out.count(f"\nSimpleConvNet (book defaults)  {method} ") == 1
    assert "~ extrapolated from" in out
    lines = [line.strip() for line in out.splitlines()]
    honesty = [line for line in lines if "the loop to its rounding" in line]
    assert len(honesty) == 2
    assert all(line.startswith("PASS") for line in honesty), honesty
    assert any(line.startswith("peak scratch memory") for line in lines)
