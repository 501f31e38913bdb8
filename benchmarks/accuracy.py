"""Accuracy and cost of derivatives: minifw's schemes beside numdifftools and scipy, one process.

1. derivatives: for every function of ``tests/oracles/derivatives.py`` (smooth functions at
   ordinary points, at large |x| and near a domain edge; each derivative written out by hand),
   the relative error and the number of calls of f of minifw's ``CentralDiff`` (the book's
   h = 1e-4, and h="auto"), ``FivePointDiff(h="auto")``, ``RichardsonDiff()`` and
   ``ComplexStep()``, of ``numdifftools.Derivative`` and of ``scipy.differentiate.derivative``,
   each with its defaults; and whether RichardsonDiff's error bound holds;
2. the complex step through ``Trainer.gradient`` on TwoLayerNet 784-50-10 (the structure-aware
   path), against backprop, and its time against CentralDiff through the same path;
3. the targets of issue 10 as PASS/FAIL lines.

    python benchmarks/accuracy.py           # about 20 s
    python benchmarks/accuracy.py --both    # the timing part again with NPY_DISABLE_CPU_FEATURES=X86_V4

Nothing is asserted: it prints. numdifftools and scipy rows are skipped when not installed.
"""

from __future__ import annotations

import sys

import _common

if __name__ == "__main__":
    # Before numpy loads BLAS: see NOTE [ One BLAS thread ] in _common.py.
    _common.limit_blas_threads(sys.argv[1:])

import functools
import math
import os
import statistics
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from minifw import (
    MNIST,
    CentralDiff,
    ComplexStep,
    CrossEntropy,
    FivePointDiff,
    RandomChoiceSampler,
    RichardsonDiff,
    Trainer,
    TwoLayerNet,
)
from minifw.errors import MinifwError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracles.derivatives import CASES, Case  # the independent reference

#: A method: f, x -> derivative (calls are counted around f).
Method = Callable[[Callable[[Any], Any], float], float]


def _numdifftools() -> Method | None:
    try:
        import numdifftools as nd  # type: ignore[import-untyped]
    except ImportError:
        return None
    return lambda f, x: float(nd.Derivative(f)(x))


def _scipy() -> Method | None:
    try:
        from scipy.differentiate import derivative  # type: ignore[import-untyped]
    except ImportError:
        return None
    return lambda f, x: float(derivative(f, x).df)


def methods() -> dict[str, Method]:
    """The methods in the table, by column name."""
    found: dict[str, Method | None] = {
        "Central 1e-4": CentralDiff().derivative,
        "Central auto": CentralDiff(h="auto").derivative,
        "FivePt auto": FivePointDiff(h="auto").derivative,
        "Richardson": RichardsonDiff().derivative,
        "ComplexStep": ComplexStep().derivative,
        "numdifftools": _numdifftools(),
        "scipy": _scipy(),
    }
    return {name: m for name, m in found.items() if m is not None}


def run(method: Method, case: Case) -> tuple[float, int]:
    """Return (relative error, calls of f); nan error where the method refused or gave nan."""
    calls = 0

    def f(x: Any) -> Any:
        nonlocal calls
        calls += int(np.size(x))  # numdifftools and scipy pass several points at once
        return case.f(x)

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = method(f, case.x)
    except MinifwError:
        return math.nan, calls
    if not math.isfinite(value):
        return math.inf, calls
    return abs(value - case.exact) / abs(case.exact), calls


def show(error: float) -> str:
    """Return an error for the table: ``refused`` for an error raised, ``nan`` for a nan result."""
    if math.isnan(error):
        return "refused"
    return "nan" if math.isinf(error) else f"{error:.0e}"


def derivative_table() -> tuple[dict[str, list[float]], dict[str, list[int]], list[bool]]:
    """Print the table; return errors and calls per method, and whether each bound held."""
    columns = methods()
    errors: dict[str, list[float]] = {name: [] for name in columns}
    calls: dict[str, list[int]] = {name: [] for name in columns}
    bounded = []
    rows = []
    for case in CASES:
        row = [case.name, case.hard or "-"]
        for name, method in columns.items():
            error, n = run(method, case)
            errors[name].append(error)
            calls[name].append(n)
            row += [show(error), str(n)]
        result = RichardsonDiff().estimate(case.f, case.x)
        held = abs(result.value - case.exact) <= result.error
        bounded.append(held)
        row += [f"{result.error / abs(case.exact):.0e}", "yes" if held else "NO"]
        rows.append(row)
    header = ["function", "hard"]
    for name in columns:
        header += [name, "n"]
    header += ["R bound", "holds"]
    summary = ["median rel err / mean calls", ""]
    for name in columns:
        failed = sum(not math.isfinite(e) for e in errors[name])
        median = statistics.median(e if math.isfinite(e) else math.inf for e in errors[name])
        summary += [
            f"{median:.0e}" + ("*" if failed else ""),
            f"{statistics.mean(calls[name]):.1f}",
        ]
    summary += ["", ""]
    print("\n".join(_common.table(header, [*rows, summary])))
    print(
        "(relative error |d - f'| / |f'| and calls of f; refused: a DifferentiationError; nan: a nan\n"
        " result; * the median counts both as infinite errors. R bound: RichardsonDiff's error bound,\n"
        " relative; holds: |value - f'| <= bound)"
    )
    return errors, calls, bounded


def layered_complex_step(repeats: int) -> tuple[float, float, float]:
    """Time CentralDiff and ComplexStep through Trainer.gradient on TwoLayerNet; the error."""
    data = MNIST.sample()
    x, t = RandomChoiceSampler(100, seed=0).minibatch(data.train.x, data.train.t)
    net = TwoLayerNet(784, 50, 10, seed=0)
    exact = net.backprop(x, t, CrossEntropy())
    times = {}
    error = math.inf
    for scheme in (CentralDiff(), ComplexStep()):
        trainer = Trainer(model=net, dataset=data, differentiator=scheme, progress=False)
        gradient = functools.partial(trainer.gradient, x, t)
        times[type(scheme).__name__] = _common.median_time(gradient, repeats)
        if isinstance(scheme, ComplexStep):
            grads = trainer.gradient(x, t)
            error = max(
                float(np.max(np.abs(grads[k] - exact[k])) / np.max(np.abs(exact[k]))) for k in exact
            )
    print(
        f"\nTrainer.gradient on TwoLayerNet 784-50-10, a 100-image sample batch "
        f"(median of {repeats}):"
    )
    print(f"  CentralDiff(h=1e-4) {_common.format_seconds(times['CentralDiff'])}")
    print(
        f"  ComplexStep()       {_common.format_seconds(times['ComplexStep'])}  "
        f"({times['ComplexStep'] / times['CentralDiff']:.2f}x CentralDiff), "
        f"max|g - backprop| / max|backprop| = {error:.1e} (worst array)"
    )
    return times["CentralDiff"], times["ComplexStep"], error


def targets(
    errors: dict[str, list[float]],
    calls: dict[str, list[int]],
    bounded: list[bool],
    layered: tuple[float, float, float],
) -> None:
    def line(ok: bool, text: str) -> None:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")

    print("\nTargets (issue 10):")
    rich_err = statistics.median(errors["Richardson"])
    rich_calls = statistics.mean(calls["Richardson"])
    line(rich_err <= 1e-13, f"RichardsonDiff median relative error {rich_err:.1e} <= 1e-13")
    if "numdifftools" in calls:
        budget = statistics.mean(calls["numdifftools"]) / 3
        line(
            rich_calls <= budget,
            f"RichardsonDiff mean calls {rich_calls:.2f} <= 1/3 of numdifftools' "
            f"{3 * budget:.1f} ({budget:.2f})",
        )
    line(all(bounded), f"RichardsonDiff's error bound holds on {sum(bounded)}/{len(bounded)}")
    complex_err = statistics.median(errors["ComplexStep"])
    complex_calls = max(calls["ComplexStep"])
    # One complex step, f at the point and a real difference the complex step must agree with
    # (issue 22: a function that is not complex-safe is refused); two more near a domain edge.
    line(
        complex_err <= 1e-15 and complex_calls <= 6,
        f"ComplexStep median relative error {complex_err:.1e} <= 1e-15, with at most "
        f"{complex_calls} calls (one complex step, the point and the real check)",
    )
    central, complex_time, error = layered
    line(error <= 1e-12, f"ComplexStep on TwoLayerNet within {error:.1e} <= 1e-12 of max|g|")
    line(
        complex_time <= 10 * central,
        f"ComplexStep on TwoLayerNet {complex_time / central:.2f}x the time of CentralDiff <= 10x",
    )


def main(argv: list[str] | None = None) -> int:
    args = _common.timing_parser(__doc__.splitlines()[0]).parse_args(argv)
    _common.print_environment()
    if args.timing_only:
        layered_complex_step(args.repeats)
        return 0
    print()
    errors, calls, bounded = derivative_table()
    layered = layered_complex_step(args.repeats)
    targets(errors, calls, bounded, layered)
    if args.both:
        print(
            "\n" + "=" * 30 + " timing again with NPY_DISABLE_CPU_FEATURES=X86_V4 " + "=" * 30,
            flush=True,
        )
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": "X86_V4"}
        command = [sys.executable, __file__, "--timing-only", f"--repeats={args.repeats}"]
        subprocess.run([*command, f"--threads={args.threads}"], env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
