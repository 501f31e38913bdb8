"""Time one full numerical gradient of the book's TwoLayerNet, five ways, and check the numbers.

Run ``python benchmarks/gradient_speed.py`` (``--quick`` for a smoke test, ``--help`` for the
options). For a 100-image minibatch of the bundled MNIST sample, and then a dense random batch,
it prints one table with:

- the book's loop (``numerical_gradient`` of chapter 4, written here from the book's description),
  timed on a random subset of coordinates and extrapolated to all 39,760: the per-coordinate
  reference for the accuracy columns;
- ``scipy.optimize.approx_fprime`` (when scipy is installed), also on the subset;
- minifw's generic path (``Perturbation`` through ``CentralDiff``), also on the subset, once with
  the book's loss function and once with ``net.predict`` and ``CrossEntropy()``;
- minifw's fast path (``CentralDiff().gradients(net.objective(...))``), in full;
- the analytic gradient (``net.backprop``), in full;

then the targets of issue 5 as PASS/FAIL lines. Nothing here is asserted on timing: it prints.
"""

from __future__ import annotations

import sys

import _common

if __name__ == "__main__":
    # Before numpy loads BLAS: see NOTE [ One BLAS thread ] in _common.py.
    _common.limit_blas_threads(sys.argv[1:])

import argparse
import functools
import importlib
import importlib.util
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw import (
    MNIST,
    CentralDiff,
    CrossEntropy,
    Objective,
    Perturbation,
    RandomChoiceSampler,
    TwoLayerNet,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
Grads = dict[str, FloatArray]
#: Flat (C-order) indices of the evaluated coordinates, per parameter array.
Subset = dict[str, IntArray]

H = 1e-4
NAMES = ("W1", "b1", "W2", "b2")
BATCH_SIZE = 100
#: Parameters of TwoLayerNet(784, 50, 10): W1, b1, W2, b2.
N_PARAMS = 784 * 50 + 50 + 50 * 10 + 10
#: Every parameter array gets at least this many coordinates in the subset (or all of them).
MIN_PER_ARRAY = 25
#: Coordinates per array in the (untimed, traced) memory run of an extrapolated method.
MEMORY_COORDS = 50
#: Issue 5's targets.
SPEED_TARGET = 300.0
ACCURACY_TARGET = 1e-7
#: What approx_fprime computes (scipy 1.9 and later: approx_derivative with abs_step=epsilon).
SCIPY_NOTE = (
    "scipy: approx_fprime(x, f, epsilon=h) on the flat parameter vector is a FORWARD difference "
    "(f(x + h e_i) - f(x)) / ((x_i + h) - x_i) (scipy's approx_derivative, method '2-point'), "
    "O(h) error, same book f"
)


# --- The book's network and numerical gradient, re-expressed with numpy -------------------------
# From the book's descriptions (ch. 3-4: sigmoid, softmax, cross_entropy_error with delta=1e-7,
# TwoLayerNet.predict/loss, numerical_gradient with np.nditer). Mathematically the same function
# as minifw's TwoLayerNet + CrossEntropy(), computed independently of minifw.


def book_sigmoid(x: FloatArray) -> FloatArray:
    """The book's ``sigmoid``: ``1 / (1 + exp(-x))``."""
    result: FloatArray = 1 / (1 + np.exp(-x))
    return result


def book_softmax(x: FloatArray) -> FloatArray:
    """The book's batched ``softmax``: subtract each row's maximum, exponentiate, normalise."""
    xt = x.T
    xt = xt - np.max(xt, axis=0)
    y: FloatArray = np.exp(xt) / np.sum(np.exp(xt), axis=0)
    return y.T


def book_cross_entropy_error(y: FloatArray, t: IntArray) -> float:
    """The book's ``cross_entropy_error`` for label targets: ``-sum(log(y[n, t_n] + 1e-7)) / N``."""
    batch_size = y.shape[0]
    return float(-np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size)


def book_loss(params: Mapping[str, FloatArray], x: FloatArray, t: IntArray) -> float:
    """The book's ``TwoLayerNet.loss``: ``cross_entropy_error(predict(x), t)``."""
    a1 = np.dot(x, params["W1"]) + params["b1"]
    z1 = book_sigmoid(a1)
    a2 = np.dot(z1, params["W2"]) + params["b2"]
    return book_cross_entropy_error(book_softmax(a2), t)


def book_numerical_gradient(
    f: Callable[[FloatArray], float], x: FloatArray, selected: NDArray[np.bool_]
) -> FloatArray:
    """The book's ``numerical_gradient(f, x)``, evaluating only where ``selected`` is True.

    Every coordinate is still visited by ``np.nditer`` (so a run over no coordinates times the
    loop's own overhead); entries not evaluated stay 0.
    """
    h = H
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        if selected[idx]:
            tmp_val = x[idx]
            x[idx] = float(tmp_val) + h
            fxh1 = f(x)
            x[idx] = tmp_val - h
            fxh2 = f(x)
            grad[idx] = (fxh1 - fxh2) / (2 * h)
            x[idx] = tmp_val
        it.iternext()
    return grad


# --- Methods ------------------------------------------------------------------------------------


@final
@attrs.frozen
class SubsetObjective:
    """An :class:`~minifw.Objective` over some coordinates of another objective.

    Array ``name`` becomes the vector of its entries at ``subset[name]``, and each loss change is
    asked of ``inner`` at the original coordinate, so minifw's own engine runs unchanged on
    fewer coordinates.
    """

    inner: Objective
    subset: Subset

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The selected entries of each parameter array (copies)."""
        return {name: self.inner.params[name].reshape(-1)[idx] for name, idx in self.subset.items()}

    def loss_changes(self, name: str, index: IntArray, steps: FloatArray) -> FloatArray:
        """Return the inner objective's changes at the selected coordinates ``index``."""
        return self.inner.loss_changes(name, self.subset[name][index], steps)


@final
@attrs.frozen
class Batch:
    """A minibatch: float64 inputs ``x`` (N, 784), integer labels ``t`` (N,), and a title."""

    title: str
    x: FloatArray = attrs.field(eq=False)
    t: IntArray = attrs.field(eq=False)


@final
@attrs.frozen
class Method:
    """One way to compute the gradient.

    ``run(subset)`` returns a gradient dict of full-shape arrays: every entry for a full method
    (which ignores ``subset``), the ``subset`` entries (NaN elsewhere) for an extrapolated one.
    ``params`` are the arrays the method perturbs, checked to be restored exactly.
    """

    label: str
    run: Callable[[Subset], Grads] = attrs.field(eq=False)
    params: Mapping[str, FloatArray] = attrs.field(eq=False)
    extrapolated: bool
    #: Timed runs per ``--repeats``: more for a method that takes well under a millisecond.
    repeat_factor: int = 1


def fresh_net() -> TwoLayerNet:
    """Return the benchmark's network: ``TwoLayerNet(seed=0)``, its own parameter arrays."""
    return TwoLayerNet(seed=0)


def on_subset(values: Mapping[str, FloatArray], subset: Subset) -> Grads:
    """Scatter per-array vectors of subset entries into full-shape arrays, NaN elsewhere."""
    shapes = {name: arr.shape for name, arr in fresh_net().params.items()}
    out = {}
    for name in NAMES:
        full = np.full(shapes[name], np.nan)
        full.reshape(-1)[subset[name]] = values[name]
        out[name] = full
    return out


def book_method(batch: Batch) -> Method:
    """The book's loop: ``f = lambda W: net.loss(x, t)`` closing over the params, per array."""
    params = {name: arr.copy() for name, arr in fresh_net().params.items()}

    def run(subset: Subset) -> Grads:
        def loss_w(_w: FloatArray) -> float:
            return book_loss(params, batch.x, batch.t)

        values = {}
        for name in NAMES:
            selected = np.zeros(params[name].shape, dtype=bool)
            selected.reshape(-1)[subset[name]] = True
            grad = book_numerical_gradient(loss_w, params[name], selected)
            values[name] = grad.reshape(-1)[subset[name]]
        return on_subset(values, subset)

    return Method("book loop (book's numpy f)", run, params, extrapolated=True)


def scipy_method(batch: Batch) -> Method | None:
    """``scipy.optimize.approx_fprime`` on the flat parameter vector; None without scipy."""
    try:
        # Imported by name: scipy is optional, and untyped without scipy-stubs.
        approx_fprime = importlib.import_module("scipy.optimize").approx_fprime
    except ImportError:
        return None
    params = {name: arr.copy() for name, arr in fresh_net().params.items()}
    shapes = {name: arr.shape for name, arr in params.items()}
    sizes = [params[name].size for name in NAMES]
    starts = dict(zip(NAMES, np.cumsum([0, *sizes[:-1]]), strict=True))
    theta0 = np.concatenate([params[name].reshape(-1) for name in NAMES])

    def unflatten(theta: FloatArray) -> dict[str, FloatArray]:
        pieces = np.split(theta, np.cumsum(sizes)[:-1])
        return {name: p.reshape(shapes[name]) for name, p in zip(NAMES, pieces, strict=True)}

    def run(subset: Subset) -> Grads:
        flat = np.concatenate([starts[name] + subset[name] for name in NAMES])

        def f(v: FloatArray) -> float:
            # A full run would hand f a fresh copy of all 39,760 parameters per coordinate
            # (scipy copies x for each step); copying theta0 here keeps that cost per evaluation.
            theta = theta0.copy()
            theta[flat] = v
            return book_loss(unflatten(theta), batch.x, batch.t)

        g = np.asarray(approx_fprime(theta0[flat], f, H), dtype=np.float64)
        bounds = np.cumsum([0, *(subset[name].size for name in NAMES)])
        values = {name: g[bounds[k] : bounds[k + 1]] for k, name in enumerate(NAMES)}
        return on_subset(values, subset)

    return Method("scipy approx_fprime (forward)", run, params, extrapolated=True)


def generic_method(
    batch: Batch, *, book_f: bool, params: Mapping[str, FloatArray] | None = None
) -> Method:
    """minifw's generic path: ``CentralDiff`` over a ``Perturbation`` of a black-box function.

    ``book_f`` chooses the function: the book's loss (the same one the book loop calls, to compare
    the two loops alone) or ``CrossEntropy()(net.predict(x), t)``. ``params`` lets the generic
    path perturb the very arrays the book loop perturbs, so that the two differ only in their
    loops (separate copies of the same values can differ in speed by a percent or so, through
    where they lie in memory).
    """
    net = fresh_net()
    arrays = net.params if params is None else params
    loss = CrossEntropy()

    def minifw_f() -> float:
        return float(loss(net.predict(batch.x), batch.t))

    def books_f() -> float:
        return book_loss(arrays, batch.x, batch.t)

    f = books_f if book_f else minifw_f
    perturbed = arrays if book_f else net.params

    def run(subset: Subset) -> Grads:
        objective = SubsetObjective(Perturbation(f, perturbed), subset)
        return on_subset(CentralDiff(h=H).gradients(objective), subset)

    label = "minifw generic, book's f" if book_f else "minifw generic, predict+CE"
    return Method(label, run, perturbed, extrapolated=True)


def fast_method(batch: Batch) -> Method:
    """minifw's fast path: ``CentralDiff().gradients(net.objective(x, t, CrossEntropy()))``."""
    net = fresh_net()

    def run(_subset: Subset) -> Grads:
        return CentralDiff(h=H).gradients(net.objective(batch.x, batch.t, CrossEntropy()))

    return Method("minifw fast path", run, net.params, extrapolated=False)


def backprop_method(batch: Batch) -> Method:
    """The exact gradient: ``net.backprop(x, t, CrossEntropy())``."""
    net = fresh_net()

    def run(_subset: Subset) -> Grads:
        return net.backprop(batch.x, batch.t, CrossEntropy())

    return Method("analytic backprop", run, net.params, extrapolated=False, repeat_factor=20)


# --- Measuring ----------------------------------------------------------------------------------


@final
@attrs.frozen
class Measured:
    """A method's time per full gradient (median and fastest run), gradient and peak memory."""

    method: Method
    seconds: float
    fastest: float
    grads: Grads = attrs.field(eq=False)
    memory: int


def choose_subset(stride: int, seed: int = 0) -> Subset:
    """Return a seeded random subset: one coordinate in ``stride`` of each array, sorted.

    Each array gets at least ``MIN_PER_ARRAY`` coordinates (or all it has). Random rather than
    every ``stride``-th coordinate: a regular stride sharing a factor with a row length would see
    only some hidden units or classes.
    """
    rng = np.random.default_rng(seed)
    subset = {}
    for name, arr in fresh_net().params.items():
        count = min(arr.size, max(math.ceil(arr.size / stride), MIN_PER_ARRAY))
        subset[name] = np.sort(rng.choice(arr.size, size=count, replace=False)).astype(np.intp)
    return subset


def measure(methods: Sequence[Method], subset: Subset, repeats: int) -> list[Measured]:
    """Time every method, keep its gradient and measure its peak extra memory.

    Each method runs once untimed first (the warm-up, whose result is kept). Extrapolated methods
    are then timed round-robin, ``repeats`` rounds, on ``subset`` and on an empty subset (so
    that drift of the machine hits them alike); their time per full gradient is
    ``t(empty) + (t(subset) - t(empty)) * N_PARAMS / len(subset)``, from the medians (and again from
    the fastest runs). Full methods are timed ``repeats * repeat_factor`` times.
    """
    n = sum(idx.size for idx in subset.values())
    empty = {name: idx[:0] for name, idx in subset.items()}
    short = {name: idx[:MEMORY_COORDS] for name, idx in subset.items()}
    originals = [{name: arr.copy() for name, arr in m.params.items()} for m in methods]

    # Warm-up: the first run of each method also gives the values compared below.
    grads = [m.run(subset) for m in methods]
    times: list[list[float]] = [[] for _ in methods]
    fixed: list[list[float]] = [[] for _ in methods]
    sweep = [k for k, m in enumerate(methods) if m.extrapolated]
    for _ in range(repeats):
        for k in sweep:
            times[k].append(_common.timed(functools.partial(methods[k].run, subset)))
            fixed[k].append(_common.timed(functools.partial(methods[k].run, empty)))
    for k, m in enumerate(methods):
        if not m.extrapolated:
            run = functools.partial(m.run, subset)
            times[k] = [_common.timed(run) for _ in range(repeats * m.repeat_factor)]

    def per_gradient(k: int, pick: Callable[[list[float]], float]) -> float:
        if not methods[k].extrapolated:
            return pick(times[k])
        t_fixed, t_run = pick(fixed[k]), pick(times[k])
        return t_fixed + max(0.0, t_run - t_fixed) * N_PARAMS / n

    memory = [
        _common.peak_memory(functools.partial(m.run, short if m.extrapolated else subset))
        for m in methods
    ]

    for m, before in zip(methods, originals, strict=True):
        for name, arr in m.params.items():
            if not np.array_equal(arr, before[name]):
                raise RuntimeError(f"{m.label} did not restore {name} exactly")
    return [
        Measured(m, per_gradient(k, statistics.median), per_gradient(k, min), grads[k], memory[k])
        for k, m in enumerate(methods)
    ]


# --- Comparing and printing ---------------------------------------------------------------------


@final
@attrs.frozen
class Difference:
    """The largest absolute difference, and the worst array's ``max|diff| / max|g|``."""

    absolute: float
    relative: float
    worst: str

    def cells(self) -> list[str]:
        """Table cells: absolute, then relative with the worst array's name."""
        return [f"{self.absolute:.1e}", f"{self.relative:.1e} {self.worst}"]


def difference(
    values: Grads, target: Grads, exact: Grads, subset: Subset | None = None
) -> Difference:
    """Compare on ``subset`` (all coordinates if None), scaling each array by ``max|exact|``."""
    absolute, relative, worst = 0.0, -1.0, NAMES[0]
    for name in NAMES:
        a, b = values[name].reshape(-1), target[name].reshape(-1)
        if subset is not None:
            a, b = a[subset[name]], b[subset[name]]
        diff = float(np.max(np.abs(a - b)))
        scale = float(np.max(np.abs(exact[name])))
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
        absolute = max(absolute, diff)
        if rel > relative:
            relative, worst = rel, name
    return Difference(absolute, relative, worst)


@final
@attrs.frozen
class Report:
    """One batch's measurements, ready to print and to check against the targets."""

    batch: Batch
    subset: Subset
    rows: list[Measured]

    def find(self, label: str) -> Measured:
        """Return the row of the method called ``label``."""
        return next(row for row in self.rows if row.method.label == label)

    @property
    def book(self) -> Measured:
        """The book loop's row: the per-coordinate reference."""
        return self.rows[0]

    @property
    def exact(self) -> Grads:
        """The backprop gradient."""
        return self.find("analytic backprop").grads

    def to_reference(self, row: Measured) -> Difference:
        """Difference to the book loop's values, on the subset."""
        return difference(row.grads, self.book.grads, self.exact, self.subset)

    def to_exact(self, row: Measured) -> Difference:
        """Difference to backprop, on all coordinates (on the subset for extrapolated rows)."""
        subset = self.subset if row.method.extrapolated else None
        return difference(row.grads, self.exact, self.exact, subset)

    def lines(self) -> list[str]:
        """The table of methods, then the per-array detail of the fast path."""
        n = sum(idx.size for idx in self.subset.values())
        backprop = self.find("analytic backprop").seconds
        body = []
        for row in self.rows:
            mark = "~" if row.method.extrapolated else " "
            ref = ["ref", ""] if row is self.book else self.to_reference(row).cells()
            exact = self.to_exact(row).cells()
            if row.method.extrapolated:
                exact[1] += " s"
            body.append(
                [
                    row.method.label,
                    f"{_common.format_seconds(row.seconds)} {mark}",
                    _common.format_ratio(self.book.seconds / row.seconds),
                    _common.format_ratio(row.seconds / backprop),
                    *ref,
                    *exact,
                    f"{row.memory / 2**20:.2f}",
                ]
            )
        header = [
            "method",
            "time/grad",
            "vs book",
            "vs backprop",
            "ref max|d|",
            "ref rel",
            "exact max|d|",
            "exact rel",
            "peak MiB",
        ]
        out = [f"== {self.batch.title} ==", *_common.table(header, body)]
        out.append(f"~ extrapolated from {n:,} coordinates; s = compared on those coordinates only")
        out += ["", "fast path per array (g = exact gradient; ref = book loop on the subset):"]
        fast = self.find("minifw fast path").grads
        detail = []
        for name in NAMES:
            idx = self.subset[name]
            g, book = self.exact[name].reshape(-1), self.book.grads[name].reshape(-1)
            scale = float(np.max(np.abs(g)))
            d_ref = float(np.max(np.abs(fast[name].reshape(-1)[idx] - book[idx])))
            d_exact = float(np.max(np.abs(fast[name].reshape(-1) - g)))
            d_book = float(np.max(np.abs(book[idx] - g[idx])))
            detail.append(
                [
                    name,
                    "x".join(map(str, self.exact[name].shape)),
                    f"{scale:.3e}",
                    f"{idx.size:,}",
                    f"{d_ref:.1e}",
                    f"{d_ref / scale:.1e}",
                    f"{d_exact:.1e}",
                    f"{d_exact / scale:.1e}",
                    f"{d_book / scale:.1e}",
                ]
            )
        header = [
            "array",
            "shape",
            "max|g|",
            "ref coords",
            "vs ref",
            "/max|g|",
            "vs exact",
            "/max|g|",
            "book vs exact /max|g|",
        ]
        return [*out, *_common.table(header, detail)]

    def targets(self, *, speed: bool) -> list[tuple[bool, str]]:
        """Issue 5's targets as (passed, line); ``speed`` adds the timing targets."""
        fast = self.find("minifw fast path")
        n = sum(idx.size for idx in self.subset.values())
        to_ref, to_exact = self.to_reference(fast), self.to_exact(fast)
        results = [
            (
                to_ref.relative <= ACCURACY_TARGET,
                f"fast path vs per-coordinate reference: worst array {to_ref.worst}, "
                f"max|d| = {to_ref.relative:.2e} * max|g| (target <= {ACCURACY_TARGET:g}), "
                f"on {n:,} coordinates",
            ),
            (
                to_exact.relative <= ACCURACY_TARGET,
                f"fast path vs exact gradient: worst array {to_exact.worst}, "
                f"max|d| = {to_exact.relative:.2e} * max|g| (target <= {ACCURACY_TARGET:g}), "
                "on all coordinates",
            ),
        ]
        if speed:
            ratio = self.book.seconds / fast.seconds
            generic = self.find("minifw generic, book's f")
            slower = generic.seconds / self.book.seconds
            slower_fastest = generic.fastest / self.book.fastest
            results += [
                (
                    ratio >= SPEED_TARGET,
                    f"fast path {_common.format_ratio(ratio)} faster than the book loop "
                    f"(target >= {SPEED_TARGET:.0f}x): {_common.format_seconds(fast.seconds)} "
                    f"vs {_common.format_seconds(self.book.seconds)} (extrapolated)",
                ),
                (
                    slower <= 1.0,
                    f"generic path no slower than the book loop with the same f: takes "
                    f"{slower:.3f} times the book loop's time "
                    f"({_common.format_seconds(generic.seconds)} vs "
                    f"{_common.format_seconds(self.book.seconds)}, both extrapolated; "
                    f"fastest runs: {slower_fastest:.3f} times)",
                ),
            ]
        return results


def loop_overheads(repeats: int) -> tuple[float, float]:
    """Return the seconds per coordinate of the book loop and of minifw's generic path alone.

    Both run over all 39,760 coordinates with a function that returns a constant, so what is
    timed is the loops' own work (indexing, perturbing, restoring, storing), not the forward
    pass they normally wrap. Medians of ``repeats`` runs after a warm-up.
    """
    params = fresh_net().params

    def constant(*_args: object) -> float:
        return 1.0

    def book() -> None:
        for arr in params.values():
            book_numerical_gradient(constant, arr, np.ones(arr.shape, dtype=bool))

    def generic() -> None:
        CentralDiff(h=H).gradients(Perturbation(constant, params))

    return (
        _common.median_time(book, repeats) / N_PARAMS,
        _common.median_time(generic, repeats) / N_PARAMS,
    )


def mnist_batch() -> Batch:
    """100 images of the bundled sample, drawn like the book's training loop (with replacement)."""
    ds = MNIST.sample(normalize=True, flatten=True, one_hot=False)
    x, t = RandomChoiceSampler(BATCH_SIZE, seed=0).minibatch(ds.train.x, ds.train.t)
    x64 = np.asarray(x, dtype=np.float64)
    zeros = float(np.mean(x64 == 0))
    title = (
        f"bundled MNIST sample: {BATCH_SIZE} training images, "
        f"RandomChoiceSampler({BATCH_SIZE}, seed=0), {zeros:.1%} zero pixels"
    )
    return Batch(title, x64, np.asarray(t, dtype=np.intp))


def dense_batch() -> Batch:
    """A dense batch: uniform [0, 1) pixels and uniform labels from ``default_rng(0)``."""
    rng = np.random.default_rng(0)
    x = rng.random((BATCH_SIZE, 784))
    t = rng.integers(0, 10, size=BATCH_SIZE).astype(np.intp)
    title = f"dense random batch: rng.random(({BATCH_SIZE}, 784)), random labels, no zero pixels"
    return Batch(title, x, t)


def methods_for(batch: Batch) -> list[Method]:
    """The methods in table order; the book loop first (it is the reference)."""
    scipy_row = scipy_method(batch)
    book = book_method(batch)
    return [
        book,
        *([scipy_row] if scipy_row is not None else []),
        generic_method(batch, book_f=True, params=book.params),
        generic_method(batch, book_f=False),
        fast_method(batch),
        backprop_method(batch),
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Time numerical gradients of the book's TwoLayerNet (issue 5) and print tables."
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        metavar="R",
        help="timed runs per method, median reported (default 5; backprop 20x R)",
    )
    parser.add_argument(
        "--subset-stride",
        type=int,
        default=None,
        metavar="S",
        help="extrapolated methods evaluate one coordinate in S of each array "
        f"(at least {MIN_PER_ARRAY} per array; default 10)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: --repeats 2 --subset-stride 100, well under 20 s",
    )
    _common.add_threads_option(parser)
    args = parser.parse_args(argv)
    quick = args.quick
    args.repeats = args.repeats if args.repeats is not None else (2 if quick else 5)
    if args.subset_stride is None:
        args.subset_stride = 100 if quick else 10
    if args.repeats < 1 or args.subset_stride < 1:
        parser.error(
            "--repeats and --subset-stride must be positive, "
            f"got --repeats {args.repeats} --subset-stride {args.subset_stride}"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its tables and the targets; return 0."""
    args = parse_args(argv)
    subset = choose_subset(args.subset_stride)
    n = sum(idx.size for idx in subset.values())
    counts = ", ".join(f"{name} {subset[name].size:,}" for name in NAMES)
    lines = [
        "minifw gradient speed benchmark (issue 5)",
        *_common.environment(),
        f"network: TwoLayerNet(784, 50, 10, seed=0), {N_PARAMS:,} parameters; loss: cross-entropy "
        f"(mean, eps 1e-7); central differences, h = {H:g}, float64",
        "book loop: the book's numerical_gradient (np.nditer over every coordinate, two forward "
        "passes each) with the book's predict/softmax/cross_entropy_error in numpy, not minifw's; "
        "x converted to float64 once beforehand",
        SCIPY_NOTE if importlib.util.find_spec("scipy") else "scipy: not installed, no row",
        f"subset: {n:,} coordinates ({counts}), seeded random, one in {args.subset_stride} of "
        f"each array, at least {MIN_PER_ARRAY}; repeats: {args.repeats}",
    ]
    print("\n".join(lines), flush=True)
    reports = []
    for batch in (mnist_batch(), dense_batch()):
        report = Report(batch, subset, measure(methods_for(batch), subset, args.repeats))
        reports.append(report)
        print("", *report.lines(), sep="\n", flush=True)
    print(
        "",
        f"columns: time/grad = median wall time of one full {N_PARAMS:,}-entry gradient; "
        "~ = extrapolated: a run over no coordinates + (run over the subset - that) "
        f"* {N_PARAMS:,} / subset size",
        "  vs book = book loop time / method time (how many times faster than the book loop); "
        "vs backprop = method time / backprop time",
        "  ref = the book loop's values on the subset; exact = backprop; max|d| = largest "
        "absolute difference; rel = worst array's max|d| / max|g| (g = exact gradient of "
        "that array)",
        f"  peak MiB = tracemalloc peak of allocations during one untimed call, result included "
        f"(for ~ rows a shorter run of <= {MEMORY_COORDS} coordinates per array)",
        sep="\n",
    )
    print("", "targets (issue 5; measured on the bundled-sample batch):", sep="\n")
    for passed, line in reports[0].targets(speed=True):
        print(f"  {'PASS' if passed else 'FAIL'}  {line}")
    book_loop, generic_loop = loop_overheads(args.repeats)
    per_coordinate = reports[0].book.seconds / N_PARAMS
    print(
        f"        the loops alone, around a constant f: book {book_loop * 1e6:.2f} us, generic "
        f"{generic_loop * 1e6:.2f} us per coordinate (of {per_coordinate * 1e6:.0f} us per "
        "coordinate with the real f)"
    )
    print("dense random batch (information only, not an issue-5 target):")
    for passed, line in reports[1].targets(speed=False):
        print(f"  {'PASS' if passed else 'FAIL'}  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
