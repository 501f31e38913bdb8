"""Time numerical gradients of layered networks against the book's loop and backprop.

For a 100-image minibatch of the bundled MNIST sample and cross-entropy, one process:

1. speed: the book's per-coordinate loop (``tests/oracles/book_network.py``, timed on a seeded
   subset of coordinates and extrapolated), minifw's generic path (``Perturbation``, also on the
   subset), minifw's fast path (``CentralDiff().gradients(net.objective(...))``, in full) and
   backprop, for TwoLayerNet 784-50-10 and MultiLayerNet 784-100-100-10 (ReLU, Sigmoid);
2. honesty: the fast gradient against the book's loop over the same stencil (central, forward,
   backward at h = 1e-2 and 1e-3) and against the exact gradient;
3. lean building blocks: minifw's loss and backprop against the plain-numpy re-implementation of
   the book's code, and ``Perturbation`` over a model's loss against the book's loop, per
   coordinate, timed interleaved;
4. the targets of issues 9 and 20 as PASS/FAIL lines.

    python benchmarks/gradient_speed.py           # about 2 minutes
    python benchmarks/gradient_speed.py --quick   # smoke test
    python benchmarks/gradient_speed.py --both    # also with NPY_DISABLE_CPU_FEATURES=X86_V4

Nothing is asserted on timing: it prints.
"""

from __future__ import annotations

import sys

import _common

if __name__ == "__main__":
    # Before numpy loads BLAS: see NOTE [ One BLAS thread ] in _common.py.
    _common.limit_blas_threads(sys.argv[1:])

import argparse
import functools
import os
import statistics
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from minifw import (
    MNIST,
    BackwardDiff,
    CentralDiff,
    CrossEntropy,
    Differentiator,
    ForwardDiff,
    Layered,
    MultiLayerNet,
    Perturbation,
    RandomChoiceSampler,
    TwoLayerNet,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracles import book_network as book  # the independent reference

Array = NDArray[np.float64]
Grads = dict[str, Array]


def timed(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls (after one warm-up call)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median wall time of each call, the calls timed in turn, round after round (one warm-up)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def peak_mib(call: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def subset_of(
    net: Layered, per_array: int, rng: np.random.Generator
) -> dict[str, NDArray[np.intp]]:
    return {
        name: np.sort(rng.choice(arr.size, size=min(arr.size, per_array), replace=False))
        for name, arr in net.params.items()
    }


def worst(
    a: Grads, b: Grads, scale: Grads, subset: dict[str, NDArray[np.intp]] | None = None
) -> tuple[float, str]:
    """Worst array's max |a - b| / max |scale| (on the subset where given), and its name."""
    result = (0.0, "")
    for name in scale:
        sa, sb = a[name].reshape(-1), b[name].reshape(-1)
        if subset is not None:
            sa, sb = sa[subset[name]], sb[subset[name]] if sb.size == a[name].size else sb
        rel = float(np.max(np.abs(sa - sb)) / np.max(np.abs(scale[name])))
        result = max(result, (rel, name))
    return result


class Case:
    """One network on one batch, with the book's view of it (oracle parameters, loss)."""

    def __init__(self, label: str, net: Layered, activation: str, x: Array, labels: Array) -> None:
        self.label, self.net, self.activation = label, net, activation
        self.x, self.labels = x, labels
        self.t = np.eye(10)[labels]
        self.loss = CrossEntropy()
        self.book_params = {name: value.copy() for name, value in net.params.items()}
        self.size = sum(v.size for v in net.params.values())

    def book_f(self) -> float:
        return book.loss(self.book_params, self.x, self.t, self.activation, "softmax")

    def book_partials(self, subset: dict[str, NDArray[np.intp]], diff: Differentiator) -> Grads:
        st = diff.stencil
        return {
            name: book.numerical_partials(
                self.book_f, self.book_params[name], idx.tolist(), diff.h, st.offsets, st.weights
            )
            for name, idx in subset.items()
        }

    def extended_partials(self, subset: dict[str, NDArray[np.intp]], diff: Differentiator) -> Grads:
        """The same loop in extended precision (``np.longdouble``): the differences free of the
        float64 loop's rounding, to tell that rounding from a real disagreement."""
        params = {name: value.astype(np.longdouble) for name, value in self.book_params.items()}
        x, t = self.x.astype(np.longdouble), self.t.astype(np.longdouble)
        st = diff.stencil

        def f() -> object:
            return book.loss_value(params, x, t, self.activation, "softmax")

        return {
            name: book.numerical_partials(
                f, params[name], idx.tolist(), diff.h, st.offsets, st.weights
            ).astype(np.float64)
            for name, idx in subset.items()
        }

    def minifw_loss(self) -> float:
        return self.net.loss(self.x, self.labels, self.loss)

    def book_gradients(self) -> Grads:
        return book.backprop(self.book_params, self.x, self.t, self.activation, "softmax")

    def generic_partials(self, subset: dict[str, NDArray[np.intp]]) -> None:
        objective = Perturbation(
            lambda: self.net.loss(self.x, self.labels, self.loss), self.net.params
        )
        diff = CentralDiff()
        for name, idx in subset.items():
            diff.estimates_along(objective, name, idx)

    def fast(self, diff: Differentiator) -> Grads:
        return diff.gradients(self.net.objective(self.x, self.labels, self.loss))

    def exact(self) -> Grads:
        return self.net.backprop(self.x, self.labels, self.loss)


def speed_table(
    cases: Sequence[Case], args: argparse.Namespace, rng: np.random.Generator
) -> dict[str, dict[str, float]]:
    print(
        f"{'network':<26} {'method':<22} {'time/grad':>11} {'vs book':>9} {'vs backprop':>11} "
        f"{'vs book max|d|/max|g|':>22} {'vs exact':>9} {'peak MiB':>9}"
    )
    print("-" * 126)
    out: dict[str, dict[str, float]] = {}
    for case in cases:
        out[case.label] = speed_rows(case, subset_of(case.net, args.per_array, rng), args)
    return out


def speed_rows(
    case: Case, subset: dict[str, NDArray[np.intp]], args: argparse.Namespace
) -> dict[str, float]:
    """Time and check one network; print its rows."""
    n_sub = sum(v.size for v in subset.values())
    scale = case.size / n_sub
    central = CentralDiff()
    book_time = timed(functools.partial(case.book_partials, subset, central), 1) * scale
    generic_time = timed(functools.partial(case.generic_partials, subset), 1) * scale
    fast_time = timed(functools.partial(case.fast, central), args.repeats)
    backprop_time = timed(case.exact, 20 * args.repeats)
    fast = case.fast(central)
    exact = case.exact()
    vs_book, book_name = worst(fast, case.book_partials(subset, central), exact, subset)
    vs_exact, _ = worst(fast, exact, exact)
    peak = peak_mib(functools.partial(case.fast, central))
    rows = [
        ("book loop (oracle)", book_time, "~", "", "", ""),
        ("minifw generic", generic_time, "~", "", "", ""),
        (
            "minifw fast path",
            fast_time,
            " ",
            f"{vs_book:.1e} {book_name}",
            f"{vs_exact:.1e}",
            f"{peak:.0f}",
        ),
        ("backprop", backprop_time, " ", "", "", ""),
    ]
    for method, seconds, mark, acc, acc_exact, memory in rows:
        shown = f"{seconds * 1e3:,.1f} ms" if seconds < 1 else f"{seconds:,.1f} s"
        print(
            f"{case.label:<26} {method:<22} {shown + ' ' + mark:>11} "
            f"{book_time / seconds:>8,.0f}x {seconds / backprop_time:>10,.1f}x "
            f"{acc:>22} {acc_exact:>9} {memory:>9}"
        )
    print(f"{'':<26} ~ extrapolated from {n_sub} coordinates of {case.size:,}")
    return {"book": book_time, "fast": fast_time, "backprop": backprop_time, "peak": peak}


def lean_table(
    cases: Sequence[Case], args: argparse.Namespace, rng: np.random.Generator
) -> dict[str, dict[str, float]]:
    """minifw's loss, backprop and generic path against the book's plain numpy, interleaved."""
    print(
        "\nlean building blocks: minifw / the book's plain numpy (tests/oracles/book_network.py),"
        " medians of calls timed in turn"
    )
    print(f"{'network':<26} {'loss':>8} {'backprop':>9} {'Perturbation per coordinate':>28}")
    out = {}
    for case in cases:
        blocks = interleaved(
            {
                "loss": case.minifw_loss,
                "book loss": case.book_f,
                "backprop": case.exact,
                "book backprop": case.book_gradients,
            },
            40 * args.repeats,
        )
        subset = subset_of(case.net, max(2, args.per_array // 6), rng)
        central = CentralDiff()
        loops = interleaved(
            {
                "generic": functools.partial(case.generic_partials, subset),
                "book loop": functools.partial(case.book_partials, subset, central),
            },
            max(3, args.repeats // 2),
        )
        ratios = {
            "loss": blocks["loss"] / blocks["book loss"],
            "backprop": blocks["backprop"] / blocks["book backprop"],
            "generic": loops["generic"] / loops["book loop"],
        }
        print(
            f"{case.label:<26} {ratios['loss']:>7.2f}x {ratios['backprop']:>8.2f}x "
            f"{ratios['generic']:>27.2f}x"
        )
        out[case.label] = ratios
    return out


def honesty_table(
    case: Case, args: argparse.Namespace, rng: np.random.Generator
) -> list[tuple[str, float, float]]:
    print(
        f"\nhonesty ({case.label}): the fast gradient against the book's loop over the same stencil "
        "(subset), and against the exact gradient (all coordinates)"
    )
    print(
        f"{'scheme':<14} {'h':>6} {'vs float64 loop':>20} {'vs extended loop':>20} "
        f"{'float64 loop vs extended':>26} {'vs exact':>10}"
    )
    subset = subset_of(case.net, max(4, args.per_array // 4), rng)
    exact = case.exact()
    results = []
    for h in (1e-2, 1e-3):
        for scheme in (CentralDiff, ForwardDiff, BackwardDiff):
            diff = scheme(h=h)
            fast = case.fast(diff)
            loop = case.book_partials(subset, diff)
            extended = case.extended_partials(subset, diff)
            vs_loop, name = worst(fast, loop, exact, subset)
            vs_ext, name_ext = worst(fast, extended, exact, subset)
            loop_noise, _ = worst(
                {k: v for k, v in loop.items()}, extended, {k: exact[k] for k in loop}
            )
            vs_exact, _ = worst(fast, exact, exact)
            label = f"{scheme.__name__}(h={h:g})"
            results.append((label, vs_ext, vs_exact))
            print(
                f"{scheme.__name__:<14} {h:>6g} {vs_loop:>14.1e} {name:<5} {vs_ext:>14.1e} {name_ext:<5} "
                f"{loop_noise:>26.1e} {vs_exact:>10.1e}"
            )
    print(
        "  extended loop: the book's loop in np.longdouble (64-bit mantissa), so the differences carry"
        " no float64 rounding;\n  the float64 loop's own rounding (third column) is about"
        " 1e-16 * L / h relative to the gradient"
    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _common.add_threads_option(parser)
    parser.add_argument("--quick", action="store_true", help="smoke test: fewer coordinates")
    parser.add_argument(
        "--both", action="store_true", help="then again with NPY_DISABLE_CPU_FEATURES=X86_V4"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--per-array", type=int, default=60, help="subset size per array (book loop)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.per_array = 2, 8
    features = os.environ.get("NPY_DISABLE_CPU_FEATURES", "")
    print("\n".join(_common.environment()))
    print(
        f"NPY_DISABLE_CPU_FEATURES={features!r}  (numpy vectorises exp/log for float64 only with AVX-512)"
    )
    data = MNIST.sample()
    x, labels = RandomChoiceSampler(100, seed=0).minibatch(data.train.x, data.train.t)
    cases = [
        Case("TwoLayerNet 784-50-10", TwoLayerNet(seed=0), "sigmoid", x, labels),
        Case("MultiLayerNet 100-100 relu", MultiLayerNet(seed=0), "relu", x, labels),
        Case(
            "MultiLayerNet 100-100 sig",
            MultiLayerNet(activation="sigmoid", weight_init="xavier", seed=0),
            "sigmoid",
            x,
            labels,
        ),
    ]
    rng = np.random.default_rng(0)
    print("\nbundled-sample minibatch of 100, cross-entropy, central differences h=1e-4\n")
    speed = speed_table(cases, args, rng)
    # Its own generator: the honesty table keeps the subsets it had before the lean table came.
    lean = lean_table(cases, args, np.random.default_rng(1))
    honesty = honesty_table(cases[0], args, rng)
    two = speed[cases[0].label]
    print("\ntargets (issues 9 and 20):")
    checks = [
        (
            two["book"] / two["fast"] >= 1000,
            f"TwoLayerNet fast path >= 1000x the book loop: {two['book'] / two['fast']:,.0f}x",
        ),
        (
            two["fast"] / two["backprop"] <= 30,
            f"TwoLayerNet fast path <= 30x backprop: {two['fast'] / two['backprop']:.1f}x",
        ),
    ]
    for case in cases[1:]:
        r = speed[case.label]
        checks.append(
            (
                r["book"] / r["fast"] >= 100,
                f"{case.label} >= 100x the book loop: {r['book'] / r['fast']:,.0f}x",
            )
        )
    bounds = {cases[0].label: 3.0, cases[1].label: 20.0, cases[2].label: 30.0}
    for case in cases:
        r, bound = speed[case.label], bounds[case.label]
        checks.append(
            (
                r["fast"] / r["backprop"] <= bound,
                f"{case.label} fast path <= {bound:.0f}x backprop (issue 20): "
                f"{r['fast'] / r['backprop']:.1f}x",
            )
        )
    for label, ratios in lean.items():
        for block, bound in (("loss", 1.15), ("backprop", 1.15), ("generic", 1.1)):
            what = "Perturbation per coordinate" if block == "generic" else block
            book_what = "the book's loop" if block == "generic" else "the book's"
            checks.append(
                (
                    ratios[block] <= bound,
                    f"{label} {what} <= {bound}x {book_what} (issue 20): {ratios[block]:.2f}x",
                )
            )
    for label, vs_loop, _ in honesty:
        checks.append(
            (
                vs_loop <= 1e-9,
                f"{label} within 1e-9 of max|g| of the loop (extended precision): {vs_loop:.1e}",
            )
        )
    central = next(v for label, _, v in honesty if label == "CentralDiff(h=0.01)")
    checks.append(
        (
            1e-6 < central < 1e-4,
            f"CentralDiff(h=0.01) keeps its truncation error: {central:.1e} of max|g| from the exact gradient",
        )
    )
    worst_peak = max(r["peak"] for r in speed.values())
    checks.append(
        (worst_peak < 256, f"peak scratch memory of the fast path < 256 MiB: {worst_peak:.0f} MiB")
    )
    for ok, text in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    if args.both and not features:
        print(
            "\n" + "=" * 40 + " again with NPY_DISABLE_CPU_FEATURES=X86_V4 " + "=" * 40, flush=True
        )
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": "X86_V4"}
        rest = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--both"]
        subprocess.run([sys.executable, __file__, *rest], env=env, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
