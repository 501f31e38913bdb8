"""Jacobians, Hessians, sparse and elementwise derivatives: minifw beside numdifftools and scipy.

1. Jacobians: for every vector function of ``tests/oracles/vector_functions.py`` (three at badly
   scaled points such as x = (1e6, 3e-3); every Jacobian written out by hand), the normwise
   relative error ``max|J_num - J| / max|J|`` and the points at which f was evaluated, of minifw's
   ``RichardsonDiff()``, ``ComplexStep()``, ``CentralDiff(h="auto")`` and
   ``FivePointDiff(h="auto")``, of ``numdifftools.Jacobian`` and of
   ``scipy.differentiate.jacobian``, each with its defaults; and whether RichardsonDiff's error
   bound holds entry by entry.
2. Hessians, likewise, on the suite's scalar functions (Rosenbrock in 2 to 10 dimensions, a
   quadratic form, log-sum-exp, a softmax cross-entropy in its scores, Beale, a badly scaled one),
   against ``numdifftools.Hessian`` and ``scipy.differentiate.hessian``.
3. Sparse Jacobians from a pattern (tridiagonal 1000 x 1000, pentadiagonal, arrowhead): the
   evaluations and the largest difference from the dense Jacobian of the same scheme.
4. An elementwise derivative at 10,000 points (``derivative(np.sin, xs, elementwise=True)``)
   against the same derivative point by point, timed side by side in this process.
5. The targets of issue 19 as PASS/FAIL lines.

    python benchmarks/derivatives.py           # about a minute
    python benchmarks/derivatives.py --both    # the timing part again with NPY_DISABLE_CPU_FEATURES=X86_V4

Nothing is asserted: it prints. numdifftools and scipy columns are skipped when not installed.
"""

from __future__ import annotations

import sys

import _common

if __name__ == "__main__":
    # Before numpy loads BLAS: see NOTE [ One BLAS thread ] in _common.py.
    _common.limit_blas_threads(sys.argv[1:])

import math
import os
import statistics
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from minifw import CentralDiff, ComplexStep, Differentiator, FivePointDiff, RichardsonDiff
from minifw.errors import MinifwError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracles.vector_functions import HESSIANS, JACOBIANS, PATTERNS, relative_error

#: A method: f, x -> derivative (points at which f is evaluated are counted around f).
Method = Callable[[Callable[[Any], Any], np.ndarray], Any]
SCHEMES: dict[str, Differentiator] = {
    "Richardson": RichardsonDiff(),
    "ComplexStep": ComplexStep(),
    "Central auto": CentralDiff(h="auto"),
    "FivePt auto": FivePointDiff(h="auto"),
}


def _others(kind: str) -> dict[str, Method]:
    found: dict[str, Method] = {}
    try:
        import numdifftools as nd  # type: ignore[import-untyped]

        found["numdifftools"] = (
            (lambda f, x: _flat(lambda g, v: nd.Jacobian(g)(v), f, x))
            if kind == "jacobian"
            else (lambda f, x: nd.Hessian(f)(x))
        )
    except ImportError:
        pass
    try:
        from scipy.differentiate import hessian, jacobian  # type: ignore[import-untyped]

        found["scipy"] = (
            (lambda f, x: _scipy_jacobian(jacobian, f, x))
            if kind == "jacobian"
            else (lambda f, x: hessian(f, x).ddf)
        )
    except ImportError:
        pass
    return found


def _flat(method: Any, f: Callable[[Any], Any], x: np.ndarray) -> Any:
    """numdifftools and scipy take vectors: flatten a matrix-shaped x, and the Jacobian back."""
    shape = x.shape
    flat = np.asarray(method(lambda v: f(v.reshape(*shape, *v.shape[1:])), x.reshape(-1)))
    return flat.reshape(*flat.shape[:-1], *shape)


def _scipy_jacobian(jacobian: Any, f: Callable[[Any], Any], x: np.ndarray) -> Any:
    return _flat(lambda g, v: jacobian(g, v).df, f, x)


def methods(kind: str) -> dict[str, Method]:
    """The columns of a table: minifw's schemes, then numdifftools and scipy where installed."""
    mine: dict[str, Method] = {
        name: (
            (lambda f, x, d=d: d.jacobian(f, x))
            if kind == "jacobian"
            else (lambda f, x, d=d: d.hessian(f, x))
        )
        for name, d in SCHEMES.items()
    }
    return mine | _others(kind)


def run(
    method: Method, f: Callable[[Any], Any], x: np.ndarray, exact: np.ndarray
) -> tuple[float, int]:
    """Return (normwise relative error, points evaluated); nan error where the method refused."""
    points = 0

    def counted(v: Any) -> Any:
        nonlocal points
        points += int(np.size(v) // x.size)  # scipy passes many points at once
        return f(v)

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            found = method(counted, x.copy())
    except MinifwError:
        return math.nan, points
    except Exception:  # another library's failure: shown as a non-finite result
        return math.inf, points
    found = np.asarray(found, dtype=np.float64)
    if found.shape != exact.shape or not np.all(np.isfinite(found)):
        return math.inf, points
    return relative_error(found, exact), points


def show(error: float) -> str:
    """An error for the table: ``refused`` for an error raised, ``nan`` for a nan result."""
    if math.isnan(error):
        return "refused"
    return "nan" if math.isinf(error) else f"{error:.0e}"


def suite_table(kind: str) -> tuple[dict[str, list[float]], dict[str, list[int]], list[bool]]:
    """Print a table of the Jacobian or Hessian suite; return errors, points, bounds held."""
    cases = JACOBIANS if kind == "jacobian" else HESSIANS
    columns = methods(kind)
    errors: dict[str, list[float]] = {name: [] for name in columns}
    points: dict[str, list[int]] = {name: [] for name in columns}
    held = []
    rows = []
    for case in cases:
        exact = case.exact
        row = [case.name, case.hard or "-"]
        for name, method in columns.items():
            error, n = run(method, case.f, case.point, exact)
            errors[name].append(error)
            points[name].append(n)
            row += [show(error), str(n)]
        estimate = (
            RichardsonDiff().jacobian_estimate(case.f, case.point)
            if kind == "jacobian"
            else RichardsonDiff().hessian_estimate(case.f, case.point)
        )
        holds = bool(np.all(np.abs(estimate.value - exact) <= estimate.error))
        held.append(holds)
        row += [
            f"{float(np.max(estimate.error)) / float(np.max(np.abs(exact))):.0e}",
            "yes" if holds else "NO",
        ]
        rows.append(row)
    header = ["function", "hard"]
    for name in columns:
        header += [name, "n"]
    header += ["R bound", "holds"]
    summary = ["median / worst rel err, mean n", ""]
    for name in columns:
        finite = [e if math.isfinite(e) else math.inf for e in errors[name]]
        summary += [
            f"{statistics.median(finite):.0e} / {max(finite):.0e}",
            f"{statistics.mean(points[name]):.0f}",
        ]
    summary += ["", ""]
    print(f"{'Jacobians' if kind == 'jacobian' else 'Hessians'}:")
    print("\n".join(_common.table(header, [*rows, summary])))
    print(
        " (normwise relative error max|D_num - D| / max|D| and points at which f was evaluated;\n"
        "  refused: a DifferentiationError; nan: a non-finite result. R bound: RichardsonDiff's\n"
        "  largest error bound over max|D|; holds: every entry within its bound)\n"
    )
    return errors, points, held


def sparse_table() -> list[tuple[str, int, float, int]]:
    """Print the sparse Jacobians; return (name, evaluations, max difference, groups) per pattern."""
    import scipy.sparse  # type: ignore[import-untyped]

    found = []
    rows = []
    for case in PATTERNS:
        x = case.point
        pattern = scipy.sparse.csr_array(case.pattern(case.n))
        scheme = CentralDiff(h="auto")
        estimate = scheme.jacobian_estimate(case.f, x, sparsity=pattern)
        dense = scheme.jacobian(case.f, x)
        difference = float(np.max(np.abs(estimate.value.toarray() - dense)))
        exact_error = relative_error(estimate.value.toarray(), case.jacobian(x))
        richardson = RichardsonDiff().jacobian_estimate(case.f, x, sparsity=pattern)
        rich_error = relative_error(richardson.value.toarray(), case.jacobian(x))
        rows.append(
            [
                case.name,
                str(estimate.evaluations),
                str(case.n + 1),
                f"{difference:.0e}",
                f"{exact_error:.0e}",
                str(richardson.evaluations),
                f"{rich_error:.0e}",
            ]
        )
        found.append((case.name, estimate.evaluations, difference, case.n))
    header = [
        "pattern",
        "Central auto n",
        "dense n",
        "max|sparse - dense|",
        "rel err",
        "Richardson n",
        "rel err",
    ]
    print("Sparse Jacobians from a pattern (scipy.sparse.csr_array), CentralDiff(h='auto'):")
    print("\n".join(_common.table(header, rows)))
    print()
    return found


def elementwise_timing(repeats: int) -> dict[str, tuple[float, float, int]]:
    """Time derivative(np.sin, xs, elementwise=True) against a loop over the 10,000 points."""
    xs = np.linspace(-3.0, 3.0, 10_000)
    found: dict[str, tuple[float, float, int]] = {}
    rows = []
    for name, scheme in (
        ("CentralDiff()", CentralDiff()),
        ("ComplexStep()", ComplexStep()),
        ("RichardsonDiff()", RichardsonDiff()),
    ):
        calls = 0

        def sin(v: Any) -> Any:
            nonlocal calls
            calls += 1
            return np.sin(v)

        together = _common.median_time(
            lambda s=scheme: s.derivative(sin, xs, elementwise=True), repeats
        )
        calls = 0
        scheme.derivative(sin, xs, elementwise=True)
        one_call = calls
        loop = _common.median_time(
            lambda s=scheme: [s.derivative(np.sin, float(x)) for x in xs], max(1, repeats // 2)
        )
        found[name] = (together, loop, one_call)
        rows.append(
            [
                name,
                _common.format_seconds(together),
                str(one_call),
                _common.format_seconds(loop),
                _common.format_ratio(loop / together),
            ]
        )
    print(f"An elementwise derivative of np.sin at 10,000 points (median of {repeats}):")
    print(
        "\n".join(
            _common.table(["scheme", "elementwise", "calls of f", "point by point", "faster"], rows)
        )
    )
    print()
    return found


def targets(
    jac: tuple[dict[str, list[float]], dict[str, list[int]], list[bool]],
    hess: tuple[dict[str, list[float]], dict[str, list[int]], list[bool]],
    sparse: list[tuple[str, int, float, int]],
    elementwise: dict[str, tuple[float, float, int]],
) -> None:
    """Print the targets of issue 19 as PASS/FAIL lines."""

    def line(ok: bool, text: str) -> None:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")

    print("Targets (issue 19):")
    errors, points, held = jac
    rich = errors["Richardson"]
    line(
        statistics.median(rich) <= 1e-13,
        f"Jacobians: Richardson median relative error {statistics.median(rich):.1e} <= 1e-13",
    )
    line(max(rich) <= 1e-10, f"Jacobians: Richardson worst relative error {max(rich):.1e} <= 1e-10")
    if "numdifftools" in points:
        mine, theirs = sum(points["Richardson"]), sum(points["numdifftools"])
        line(
            mine <= theirs / 3,
            f"Jacobians: Richardson {mine} evaluations <= 1/3 of numdifftools' {theirs} ({theirs / 3:.0f})",
        )
    line(all(held), f"Jacobians: Richardson's error bound holds on {sum(held)}/{len(held)}")
    complex_worst = max(errors["ComplexStep"])
    line(
        complex_worst <= 1e-14,
        f"Jacobians: ComplexStep worst relative error {complex_worst:.1e} <= 1e-14",
    )
    errors, points, held = hess
    rich = errors["Richardson"]
    line(
        statistics.median(rich) <= 1e-12,
        f"Hessians: Richardson median relative error {statistics.median(rich):.1e} <= 1e-12",
    )
    line(max(rich) <= 1e-10, f"Hessians: Richardson worst relative error {max(rich):.1e} <= 1e-10")
    if "numdifftools" in points:
        mine, theirs = sum(points["Richardson"]), sum(points["numdifftools"])
        line(
            mine <= theirs / 5,
            f"Hessians: Richardson {mine} evaluations <= 1/5 of numdifftools' {theirs} ({theirs / 5:.0f})",
        )
    line(all(held), f"Hessians: Richardson's error bound holds on {sum(held)}/{len(held)}")
    name, evaluations, difference, _ = sparse[0]
    line(
        evaluations <= 10 and difference == 0.0,
        f"{name}: {evaluations} evaluations <= 10, equal to the dense Jacobian (max difference {difference:g})",
    )
    for scheme, (together, loop, _) in elementwise.items():
        line(
            loop / together >= 100,
            f"elementwise {scheme} at 10,000 points {loop / together:.0f}x faster than point by point >= 100x (timing)",
        )


def main(argv: list[str] | None = None) -> int:
    args = _common.timing_parser(__doc__.splitlines()[0]).parse_args(argv)
    _common.print_environment()
    print()
    if args.timing_only:
        elementwise_timing(args.repeats)
        return 0
    jac = suite_table("jacobian")
    hess = suite_table("hessian")
    sparse = sparse_table()
    elementwise = elementwise_timing(args.repeats)
    targets(jac, hess, sparse, elementwise)
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
