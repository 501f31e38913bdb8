"""Time numerical gradients of the book's later networks against the book's loop and backprop.

For a 100-image minibatch of the bundled MNIST sample and cross-entropy, one process:

1. speed: the book's per-coordinate loop (the independent re-implementation of the book's
   networks in ``tests/oracles/book_later_networks.py``, timed on a seeded subset of every
   parameter array and extrapolated), minifw's fast path
   (``CentralDiff(h=1e-4).gradients(net.objective(...))``, in full, peak scratch memory by
   tracemalloc) and backprop, for ``SimpleConvNet`` with the book's defaults on (N, 1, 28, 28)
   images and ``MultiLayerNetExtend`` 784-100-100-10 (ReLU) with batch normalization, with weight
   decay (lambda 0.1) and with both;
2. honesty: on subsets of every parameter array, central differences at h = 1e-4 and 1e-3, the
   fast path against the book's loop over the same stencil (next to the loop's own rounding,
   about eps * L / h) and against backprop (the stencil's truncation error, and kinks crossed);
3. the targets of issues 18 and 20 as PASS/FAIL lines.

    python benchmarks/conv_speed.py           # about 3 minutes
    python benchmarks/conv_speed.py --quick   # smoke test: SimpleConvNet only, small subsets
    python benchmarks/conv_speed.py --both    # also with NPY_DISABLE_CPU_FEATURES=X86_V4

Nothing is asserted on timing: it prints.
"""

from __future__ import annotations

import sys

import _common

if __name__ == "__main__":
    # Before numpy loads BLAS: see NOTE [ One BLAS thread ] in _common.py.
    _common.limit_blas_threads(sys.argv[1:])

import argparse
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from minifw import (
    MNIST,
    CentralDiff,
    CrossEntropy,
    Layered,
    MultiLayerNetExtend,
    RandomChoiceSampler,
    SimpleConvNet,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracles import book_later_networks as book  # the independent reference
from oracles import book_network as book_loop

Array = NDArray[np.float64]
Grads = dict[str, Array]
Subset = dict[str, NDArray[np.intp]]


class Case:
    """One network on one batch, with the book's loss of the same parameters."""

    def __init__(self, label: str, net: Layered, x: Array, labels: Array, book_loss: Callable[[dict[str, Any]], Any]) -> None:
        self.label, self.net, self.x, self.labels = label, net, x, labels
        self.params = {name: value.copy() for name, value in net.params.items()}
        self.book_loss = book_loss
        self.size = sum(v.size for v in net.params.values())

    def subset(self, per_array: int, rng: np.random.Generator) -> Subset:
        return {
            name: np.sort(rng.choice(arr.size, size=min(arr.size, per_array), replace=False))
            for name, arr in self.net.params.items()
        }

    def loop(self, subset: Subset, h: float) -> Grads:
        """The book's loop (central, two evaluations per coordinate) on the subset."""
        params = self.params
        return {
            name: book_loop.numerical_partials(lambda: self.book_loss(params), params[name], idx.tolist(), h)
            for name, idx in subset.items()
        }

    def objective(self) -> Any:
        return self.net.objective(self.x, self.labels, CrossEntropy())

    def fast(self, h: float) -> Grads:
        return CentralDiff(h=h).gradients(self.objective())

    def fast_subset(self, subset: Subset, h: float) -> Grads:
        objective, diff = self.objective(), CentralDiff(h=h)
        return {name: diff.estimates_along(objective, name, idx).value for name, idx in subset.items()}

    def exact(self) -> Grads:
        return self.net.backprop(self.x, self.labels, CrossEntropy())


def scale_of(exact: Grads, name: str) -> float:
    """max |g| of the array, at least 1e-4 of the model's largest: an array whose gradient is 0
    (a bias before batch normalization) is judged against the model's scale, as gradcheck does."""
    largest = max(float(np.max(np.abs(g))) for g in exact.values())
    return max(float(np.max(np.abs(exact[name]))), 1e-4 * largest)


def worst(a: Grads, b: Grads, scale: Grads, subset: Subset | None = None) -> tuple[float, str]:
    """Worst array's max |a - b| / its scale (a and b on the subset where given), and its name."""
    result = (0.0, "")
    for name in b:
        sa, sb = a[name].reshape(-1), b[name].reshape(-1)
        if subset is not None:
            sa = sa[subset[name]] if sa.size == scale[name].size else sa
            sb = sb[subset[name]] if sb.size == scale[name].size else sb
        rel = float(np.max(np.abs(sa - sb))) / scale_of(scale, name)
        result = max(result, (rel, name))
    return result


def speed_rows(case: Case, subset: Subset) -> dict[str, float]:
    count = sum(v.size for v in subset.values())
    book_time = _common.timed(lambda: case.loop(subset, 1e-4)) * case.size / count
    # The warm-up call measures the peak memory (tracing slows it: it is not timed).
    peak = _common.peak_memory(lambda: case.fast(1e-4)) / 2**20
    fast_time = _common.timed(lambda: case.fast(1e-4))
    case.exact()
    backprop_time = min(_common.timed(case.exact) for _ in range(5))
    for method, value, mark in (
        ("book loop (oracle)", book_time, "~"),
        ("minifw fast path", fast_time, " "),
        ("backprop", backprop_time, " "),
    ):
        shown = f"{value * 1e3:,.1f} ms" if value < 1 else f"{value:,.1f} s"
        extra = f"{peak:>9.0f}" if method == "minifw fast path" else ""
        print(
            f"{case.label:<30} {method:<20} {shown + ' ' + mark:>12} {book_time / value:>10,.0f}x "
            f"{value / backprop_time:>11,.1f}x {extra}"
        )
    print(f"{'':<30} ~ extrapolated from {count} coordinates of {case.size:,}")
    return {"book": book_time, "fast": fast_time, "backprop": backprop_time, "peak": peak}


def honesty_rows(case: Case, subset: Subset) -> list[tuple[str, float, float]]:
    exact = case.exact()
    loss = float(case.objective().value())
    out = []
    for h in (1e-4, 1e-3):
        fast = case.fast_subset(subset, h)
        loop = case.loop(subset, h)
        vs_loop, name = worst(fast, loop, exact)
        rounding = max(2.0**-52 * loss / h / scale_of(exact, n) for n in loop)
        vs_exact, name_exact = worst(fast, exact, exact, subset)
        loop_exact, _ = worst(loop, exact, exact, subset)
        label = f"{case.label} h={h:g}"
        out.append((label, vs_loop, rounding))
        print(
            f"{case.label:<30} {h:>6g} {vs_loop:>12.1e} {name:<6} {rounding:>14.1e} "
            f"{vs_exact:>12.1e} {name_exact:<6} {loop_exact:>14.1e}"
        )
    return out


def cases(quick: bool) -> list[Case]:
    data = MNIST.sample()
    x, labels = RandomChoiceSampler(100, seed=0).minibatch(data.train.x, data.train.t)
    t = np.eye(10)[labels]
    images = x.reshape(-1, 1, 28, 28)
    found = [Case("SimpleConvNet (book defaults)", SimpleConvNet(seed=0), images, labels, lambda p: book.convnet_loss(p, images, t))]
    if quick:
        return found
    for label, norm, lam in (
        ("Extend 100-100 batch norm", True, 0.0),
        ("Extend 100-100 weight decay", False, 0.1),
        ("Extend 100-100 both", True, 0.1),
    ):
        net = MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=norm, weight_decay_lambda=lam, seed=0)

        def loss(p: dict[str, Any], lam: float = lam) -> Any:
            return book.extend_loss(p, x, t, activation="relu", lam=lam)

        found.append(Case(label, net, x, labels, loss))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _common.add_threads_option(parser)
    parser.add_argument("--quick", action="store_true", help="smoke test: SimpleConvNet, small subsets")
    parser.add_argument("--both", action="store_true", help="then again with NPY_DISABLE_CPU_FEATURES=X86_V4")
    parser.add_argument("--per-array", type=int, default=12, help="subset size per array (book loop)")
    args = parser.parse_args(argv)
    if args.quick:
        args.per_array = 2
    features = os.environ.get("NPY_DISABLE_CPU_FEATURES", "")
    print("\n".join(_common.environment()))
    print(f"NPY_DISABLE_CPU_FEATURES={features!r}")
    rng = np.random.default_rng(0)
    print("\nbundled-sample minibatch of 100, cross-entropy, central differences h=1e-4\n")
    print(f"{'network':<30} {'method':<20} {'time/grad':>12} {'vs book':>11} {'vs backprop':>12} {'peak MiB':>9}")
    print("-" * 100)
    speed: dict[str, dict[str, float]] = {}
    honesty_subsets: dict[str, Subset] = {}
    all_cases = cases(args.quick)
    for case in all_cases:
        per_array = args.per_array if case.size < 200_000 else max(2, args.per_array // 3)
        loop_per_array = per_array * (1 if isinstance(case.net, SimpleConvNet) else 20)
        speed[case.label] = speed_rows(case, case.subset(loop_per_array, rng))
        honesty_subsets[case.label] = case.subset(per_array, rng)
    print(
        "\nhonesty: on subsets of every array, the fast path against the book's loop over the same "
        "central stencil\n(max |d| / max |g| of the worst array, max |g| at least 1e-4 of the model's largest), beside the loop's own rounding "
        "(eps * L / h over that scale), and against backprop"
    )
    print(f"{'network':<30} {'h':>6} {'vs loop':>19} {'loop rounding':>14} {'vs backprop':>19} {'loop vs backprop':>16}")
    honesty: list[tuple[str, float, float]] = []
    for case in all_cases:
        honesty += honesty_rows(case, honesty_subsets[case.label])
    conv = speed[all_cases[0].label]
    print("\ntargets (issues 18 and 20):")
    checks = [
        (conv["book"] / conv["fast"] >= 5000, f"SimpleConvNet >= 5,000x the book loop: {conv['book'] / conv['fast']:,.0f}x"),
        (conv["fast"] < 20, f"SimpleConvNet full gradient well under 20 s: {conv['fast']:.1f} s"),
        (conv["fast"] / conv["backprop"] <= 30, f"SimpleConvNet <= 30x its backprop: {conv['fast'] / conv['backprop']:.1f}x"),
    ]
    for case in all_cases[1:]:
        r = speed[case.label]
        checks.append((r["book"] / r["fast"] >= 100, f"{case.label} >= 100x the book loop: {r['book'] / r['fast']:,.0f}x"))
    for label, vs_loop, rounding in honesty:
        checks.append((vs_loop <= rounding, f"{label}: the loop to its rounding ({vs_loop:.1e} <= {rounding:.1e})"))
    for ok, text in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    peaks = ", ".join(f"{label} {r['peak']:.0f} MiB" for label, r in speed.items())
    print(f"  peak scratch memory of the fast path (tracemalloc): {peaks}")
    sys.stdout.flush()
    if args.both and not features:
        env = dict(os.environ, NPY_DISABLE_CPU_FEATURES="X86_V4")
        rest = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--both"]
        print("\n" + "=" * 100 + "\nagain with NPY_DISABLE_CPU_FEATURES=X86_V4\n", flush=True)
        return subprocess.run([sys.executable, __file__, *rest], env=env, check=False).returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
