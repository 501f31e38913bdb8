"""Numerical gradients of layered models against an independent re-implementation of the book.

The fast objective (``model.objective``) must give the finite differences the book's loop gives,
for every stencil and step, truncation error included: these are finite differences, not
backprop in disguise. The oracle in ``tests/oracles/book_network.py`` shares no code with minifw.
"""

from __future__ import annotations

import ast
import inspect
import tracemalloc
from pathlib import Path
from typing import Any, final

import attrs
import numpy as np
import pytest
from oracles import book_network as book

import minifw.nn.layered.limits
import minifw.nn.layers
import minifw.nn.losses
import minifw.numdiff.differentiator
from minifw import (
    MNIST,
    Backprop,
    BackwardDiff,
    CentralDiff,
    CrossEntropy,
    Differentiator,
    ForwardDiff,
    Layered,
    Loss,
    MeanSquared,
    Model,
    MultiLayerNet,
    Perturbation,
    RandomChoiceSampler,
    Sequential,
    TwoLayerNet,
)
from minifw.errors import NotSupportedError
from minifw.nn.layers import Activation, Affine, Layer, ReLU, Sigmoid, Softmax
from minifw.typing import FloatArray

Array = Any


def mnist_like(n: int, d: int, rng: np.random.Generator) -> FloatArray:
    """Sparse inputs with values k/255, pixels zero everywhere, and equal values in a row."""
    x = rng.integers(0, 256, size=(n, d)) / 255.0
    x[rng.random((n, d)) < 0.6] = 0.0
    x[:, :2] = 0.0  # pixels that are zero in every example (the border of MNIST digits)
    x[1, 4:] = 1.0  # saturated strokes: many equal values within one example
    return x


def make_model(kind: str) -> tuple[Layered, str, str]:
    """A small model, its activation and its output, as the oracle names them."""
    if kind == "TwoLayerNet":
        return TwoLayerNet(12, 6, 4, weight_init_std=0.5, seed=0), "sigmoid", "softmax"
    activation, output = kind.split("-")
    net = MultiLayerNet(12, (6, 5), 4, activation=activation, weight_init=0.7, output=output, seed=1)  # type: ignore[arg-type]
    return net, activation, output


KINDS = [
    "TwoLayerNet",
    "relu-softmax",
    "sigmoid-softmax",
    "tanh-softmax",
    "relu-identity",
    "tanh-identity",
]
RNG = np.random.default_rng(7)
X = mnist_like(7, 12, RNG)
LABELS = RNG.integers(0, 4, size=7)


def batch(output: str) -> tuple[Loss, FloatArray]:
    """The loss and the one-hot targets for a model's output."""
    return (CrossEntropy() if output == "softmax" else MeanSquared()), np.eye(4)[LABELS]


def oracle_gradient(
    net: Layered, activation: str, output: str, diff: Differentiator
) -> dict[str, FloatArray]:
    params = {name: value.copy() for name, value in net.params.items()}
    t = np.eye(4)[LABELS]
    stencil = diff.stencil
    return {
        name: book.numerical_gradient(
            lambda: book.loss(params, X, t, activation, output),
            params[name],
            float(diff.h),  # the real stencils here take a float step
            [o.real for o in stencil.offsets],
            [w.real for w in stencil.weights],
        )
        for name in params
    }


def worst(a: dict[str, FloatArray], b: dict[str, FloatArray]) -> float:
    """The worst array's max |a - b| / max |b|."""
    return max(float(np.max(np.abs(a[k] - b[k])) / np.max(np.abs(b[k]))) for k in b)


SCHEMES = [CentralDiff, ForwardDiff, BackwardDiff]


@pytest.mark.parametrize("h", [1e-4, 1e-3, 1e-2])
@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.__name__)
@pytest.mark.parametrize("kind", KINDS)
def test_fast_gradient_is_the_books_finite_difference(
    kind: str, scheme: type[Differentiator], h: float
) -> None:
    net, activation, output = make_model(kind)
    loss, t = batch(output)
    diff = scheme(h=h)
    fast = diff.gradients(net.objective(X, t, loss))
    reference = oracle_gradient(net, activation, output, diff)
    # The loop's own rounding is about 1e-16 * L / h; the rest must agree to the last digits.
    assert worst(fast, reference) <= 1e-12 / h


@pytest.mark.parametrize("kind", KINDS)
def test_the_stencils_truncation_error_is_kept(kind: str) -> None:
    # Central differences at h = 1e-2 differ from the exact gradient by O(h^2), and by the same
    # amount as the book's loop: the fast path computes differences, not derivatives.
    net, activation, output = make_model(kind)
    loss, t = batch(output)
    diff = CentralDiff(h=1e-2)
    fast = diff.gradients(net.objective(X, t, loss))
    exact = net.backprop(X, t, loss)
    reference = oracle_gradient(net, activation, output, diff)
    gap = {k: fast[k] - exact[k] for k in exact}
    book_gap = {k: reference[k] - exact[k] for k in exact}
    assert worst(fast, exact) > 1e-7  # a visible truncation error ...
    for name in exact:  # ... and the book's, to 1e-9 of max|g|
        scale = float(np.max(np.abs(exact[name])))
        np.testing.assert_allclose(gap[name], book_gap[name], rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize("kind", KINDS)
def test_backprop_matches_the_oracle(kind: str) -> None:
    net, activation, output = make_model(kind)
    loss, t = batch(output)
    params = {name: value.copy() for name, value in net.params.items()}
    expected = book.backprop(params, X, t, activation, output)
    assert worst(net.backprop(X, t, loss), expected) < 1e-13


@pytest.mark.parametrize("h", [1e-4, 1e-2, 0.5])
@pytest.mark.parametrize("kind", KINDS)
def test_exact_and_series_routes_agree(
    kind: str, h: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    net, _, output = make_model(kind)
    loss, t = batch(output)
    diff = CentralDiff(h=h)
    fast = diff.gradients(net.objective(X, t, loss))
    monkeypatch.setattr(minifw.nn.layered.limits, "MAX_ORDER", 0)  # every move takes the exact route
    exact_route = diff.gradients(net.objective(X, t, loss))
    assert worst(fast, exact_route) < 1e-13 / h


def test_relu_at_its_kink() -> None:
    # An all-zero image makes every first-layer pre-activation exactly 0 (biases start at 0):
    # each step crosses the kink, and the one-sided changes must be the loop's.
    net, activation, output = make_model("relu-softmax")
    x = X.copy()
    x[3] = 0.0
    loss, t = batch(output)
    diff = CentralDiff()
    fast = diff.gradients(net.objective(x, t, loss))
    params = {name: value.copy() for name, value in net.params.items()}
    reference = {
        name: book.numerical_gradient(
            lambda: book.loss(params, x, t, activation, output), params[name], float(diff.h)
        )
        for name in params
    }
    assert worst(fast, reference) < 1e-7


def test_chunks_and_pieces_do_not_change_the_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    net, _, output = make_model("tanh-softmax")
    loss, t = batch(output)
    whole = CentralDiff().gradients(net.objective(X, t, loss))
    monkeypatch.setattr(minifw.nn.layered.limits, "ELEMENT_BUDGET", 50)
    monkeypatch.setattr(minifw.numdiff.differentiator, "ENGINE_CHUNK", 7)
    pieces = CentralDiff().gradients(net.objective(X, t, loss))
    assert worst(pieces, whole) < 1e-13


@pytest.mark.parametrize("kind", ["TwoLayerNet", "tanh-softmax", "sigmoid-identity"])
def test_complex_steps_give_the_exact_gradient(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if kind == "sigmoid-identity":
        net: Layered = MultiLayerNet(12, (6,), 4, activation="sigmoid", output="identity", seed=3)
        loss: Loss = MeanSquared()
        t = np.eye(4)[LABELS]
    else:
        net, _, output = make_model(kind)
        loss, t = batch(output)
    exact = net.backprop(X, t, loss)
    for max_order in (minifw.nn.layered.limits.MAX_ORDER, 0):  # series route, then the exact route
        monkeypatch.setattr(minifw.nn.layered.limits, "MAX_ORDER", max_order)
        objective = net.objective(X, t, loss)
        for name, value in exact.items():
            changes = objective.changes(name, np.arange(value.size), np.array([1e-20j]))
            grad = changes[:, 0].imag / 1e-20
            scale = float(np.max(np.abs(value)))
            np.testing.assert_allclose(grad, value.reshape(-1), rtol=0, atol=1e-13 * scale)


def test_the_books_network_on_real_digits() -> None:
    # TwoLayerNet(784, 50, 10) on a bundled-sample minibatch: the fast gradient against the
    # book's loop on a seeded subset of coordinates.
    data = MNIST.sample()
    x, labels = RandomChoiceSampler(100, seed=0).minibatch(data.train.x, data.train.t)
    net = TwoLayerNet(seed=0)
    loss, t = CrossEntropy(), np.eye(10)[labels]
    fast = CentralDiff().gradients(net.objective(x, labels, loss))
    exact = net.backprop(x, labels, loss)
    params = {name: value.copy() for name, value in net.params.items()}
    rng = np.random.default_rng(0)
    for name, value in params.items():
        subset = rng.choice(value.size, size=min(value.size, 40), replace=False)
        reference = book.numerical_partials(
            lambda: book.loss(params, x, t, "sigmoid", "softmax"), value, subset.tolist(), 1e-4
        )
        scale = float(np.max(np.abs(exact[name])))
        # Within the book loop's own rounding (about 1e-8 of max|g| at h = 1e-4) ...
        np.testing.assert_allclose(fast[name].reshape(-1)[subset], reference, atol=3e-8 * scale)
    # ... and the stencil's truncation error away from the exact gradient (about 2e-9).
    assert 1e-10 < worst(fast, exact) < 1e-8


def test_scratch_memory_is_bounded() -> None:
    # A network ten times wider than the book's: peak allocations stay bounded by the pieces.
    rng = np.random.default_rng(0)
    x = mnist_like(100, 784, rng)
    labels = rng.integers(0, 10, size=100)
    net = TwoLayerNet(hidden_size=500, seed=0)
    objective = net.objective(x, labels, CrossEntropy())
    tracemalloc.start()
    try:
        CentralDiff().gradients(objective)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 2**20, f"peak {peak / 2**20:.0f} MiB"


# --- layers of a user's own ------------------------------------------------------------------


@final
@attrs.define(eq=False)
class LeakyReLU(Activation):
    """A user's activation: max(x, slope * x)."""

    slope_: float = 0.1

    def forward(self, x: Array) -> Array:
        return np.where(np.real(x) > 0, x, self.slope_ * x)

    def slope(self, x: Array, y: Array) -> Array:
        return np.where(np.real(x) > 0, 1.0, self.slope_)

    def change(self, x: Array, y: Array, dx: Array) -> Array:
        return self.forward(x + dx) - y

    def taylor(self, x: Array, y: Array, order: int) -> tuple[Array, FloatArray]:
        coeffs = np.zeros((order, *np.shape(x)))
        coeffs[0] = self.slope(x, y)
        return coeffs, np.abs(np.real(x))


@final
@attrs.define(eq=False)
class Scale(Layer):
    """A user's layer with a parameter and no series: y = x * a (a per column)."""

    a: FloatArray

    @property
    def params(self) -> dict[str, FloatArray]:
        return {"a": self.a}

    def forward(self, x: Array) -> Array:
        return x * self.a

    def backward(self, x: Array, y: Array, dy: Array) -> tuple[Array, dict[str, Array]]:
        return dy * self.a, {"a": np.sum(dy * x, axis=0)}

    def change(self, x: Array, y: Array, dx: Array) -> Array:
        return dx * self.a


@final
@attrs.define(eq=False)
class Square(Layer):
    """A user's layer without a series and without parameters: y = x**2."""

    @property
    def params(self) -> dict[str, FloatArray]:
        return {}

    def forward(self, x: Array) -> Array:
        return x * x

    def backward(self, x: Array, y: Array, dy: Array) -> tuple[Array, dict[str, Array]]:
        return 2.0 * x * dy, {}

    def change(self, x: Array, y: Array, dx: Array) -> Array:
        return dx * (2.0 * x + dx)


def user_model() -> Sequential:
    rng = np.random.default_rng(5)
    return Sequential(
        [
            Affine.init(12, 6, std=0.5, rng=rng),
            LeakyReLU(),
            Scale(a=rng.normal(size=6)),
            Square(),
            Affine.init(6, 4, std=0.5, rng=rng),
            Sigmoid(),
            Affine.init(4, 4, std=0.5, rng=rng),
            Softmax(),
        ]
    )


@pytest.mark.parametrize("h", [1e-4, 1e-2])
def test_a_model_of_user_layers(h: float) -> None:
    net = user_model()
    assert sorted(net.params) == ["W1", "W3", "W4", "a2", "b1", "b3", "b4"]
    loss = CrossEntropy()
    fast = CentralDiff(h=h).gradients(net.objective(X, LABELS, loss))
    loop = CentralDiff(h=h).gradients(
        Perturbation(lambda: net.loss(X, LABELS, loss), net.params)
    )
    assert worst(fast, loop) <= 1e-12 / h
    report = minifw.gradcheck(net, X, LABELS, loss)
    assert report.passed, str(report)


def test_relu_change_is_exact_on_each_side() -> None:
    x = np.array([[-1.0, 0.0, 0.5, 2.0]])
    y = ReLU().forward(x)
    dx = np.array([[0.5, -1e-9, 1e-12, -3.0]])
    np.testing.assert_array_equal(ReLU().change(x, y, dx), [[0.0, 0.0, 1e-12, -2.0]])


@final
@attrs.frozen
class SquaredLogError(Loss):
    """A user's loss with no change rule or series of its own: the exact route serves it."""

    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        values: FloatArray = np.sum((np.log1p(y) - np.log1p(t)) ** 2, axis=1)
        return values


SOFT = RNG.dirichlet(np.ones(4), size=7)


@pytest.mark.parametrize("h", [1e-4, 1e-2])
@pytest.mark.parametrize(
    ("loss", "targets"),
    [
        (CrossEntropy(), SOFT),  # soft targets: no single target class per row
        (MeanSquared(), LABELS),  # a softmax output scored by half squared error
        (SquaredLogError(), LABELS),
        (CrossEntropy(reduction="sum"), LABELS),
    ],
    ids=["soft-targets", "softmax-mse", "user-loss", "sum"],
)
@pytest.mark.parametrize("kind", ["TwoLayerNet", "tanh-softmax"])
def test_other_losses_and_targets(kind: str, loss: Loss, targets: FloatArray, h: float) -> None:
    net, _, _ = make_model(kind)
    fast = CentralDiff(h=h).gradients(net.objective(X, targets, loss))
    loop = CentralDiff(h=h).gradients(
        Perturbation(lambda: net.loss(X, targets, loss), net.params)
    )
    assert worst(fast, loop) <= 1e-12 / h


# --- exact gradients from the objective, and what the engine may name ----------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_backprop_is_a_gradient_method_of_the_objective(kind: str) -> None:
    net, _, output = make_model(kind)
    loss, t = batch(output)
    objective = net.objective(X, t, loss)
    grads = Backprop().gradients(objective)
    for name, value in net.backprop(X, t, loss).items():
        assert grads[name].tobytes() == value.tobytes()


def test_backprop_needs_an_objective_with_exact_gradients() -> None:
    w = np.array([1.0, 2.0])
    with pytest.raises(NotSupportedError, match="Perturbation has no exact gradient"):
        Backprop().gradients(Perturbation(lambda: float(np.sum(w**2)), {"w": w}))


@final
@attrs.define(eq=False)
class Linear(Model):
    """A model that is not layered and has no backprop."""

    def __attrs_post_init__(self) -> None:
        self.params = {"W": np.full((12, 4), 0.1)}

    def predict(self, x: Array) -> FloatArray:
        out: FloatArray = minifw.softmax(np.asarray(x, dtype=np.float64) @ self.params["W"])
        return out


def test_a_model_without_backprop_says_so() -> None:
    objective = Linear().objective(X, LABELS, CrossEntropy())
    with pytest.raises(NotSupportedError, match="Linear has no analytic gradient"):
        Backprop().gradients(objective)


ENGINE = Path(minifw.nn.layered.__file__).parent
CONCRETE = {
    name
    for module in (minifw.nn.layers, minifw.nn.losses)
    for name in module.__all__
    if inspect.isclass(getattr(module, name)) and getattr(getattr(module, name), "__final__", False)
}


@pytest.mark.parametrize("path", sorted(ENGINE.glob("*.py")), ids=lambda p: p.name)
def test_the_engine_names_no_concrete_layer_or_loss(path: Path) -> None:
    assert {"Affine", "Softmax", "Sigmoid", "CrossEntropy", "MeanSquared"} <= CONCRETE
    names = {node.id for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Name)}
    imported = {
        alias.name
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert not (names | imported) & CONCRETE
