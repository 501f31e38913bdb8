"""The fast objective of TwoLayerNet computes the same numbers as perturbing coordinate by coordinate."""

from __future__ import annotations

import tracemalloc
from typing import final

import attrs
import numpy as np
import pytest

import minifw
import minifw.differentiation
import minifw.models
from minifw import (
    BackwardDiff,
    CentralDiff,
    CrossEntropy,
    Differentiator,
    ForwardDiff,
    Loss,
    MeanSquared,
    Objective,
    Perturbation,
    TwoLayerNet,
)
from minifw.typing import FloatArray


@final
@attrs.frozen
class SquaredLogError(Loss):
    """A user's loss with no change hooks of its own: the fast path uses per_example."""

    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        values: FloatArray = np.sum((np.log1p(y) - np.log1p(t)) ** 2, axis=1)
        return values


def mnist_like(n: int, d: int, rng: np.random.Generator) -> FloatArray:
    """Sparse inputs with values k/255, some all-zero pixels and one all-zero example."""
    x = rng.integers(0, 256, size=(n, d)) / 255.0
    x[rng.random((n, d)) < 0.8] = 0.0
    x[:, :3] = 0.0  # pixels that are zero everywhere (the border of MNIST digits)
    x[0] = 0.0  # an empty image
    x[1, 5:] = 1.0  # saturated strokes: many equal values within one example
    return x


def dense(n: int, d: int, rng: np.random.Generator) -> FloatArray:
    return rng.normal(size=(n, d))


def generic_gradient(
    diff: Differentiator, net: TwoLayerNet, x: FloatArray, t: object, loss: Loss
) -> dict[str, FloatArray]:
    def value() -> float:
        return float(loss(net.predict(x), t))  # type: ignore[arg-type]

    return diff.gradients(Perturbation(value, net.params))


def assert_close(fast: dict[str, FloatArray], ref: dict[str, FloatArray], rel: float) -> None:
    assert fast.keys() == ref.keys()
    for name in ref:
        scale = float(np.max(np.abs(ref[name])))
        assert scale > 0, name
        np.testing.assert_allclose(fast[name], ref[name], rtol=0, atol=rel * scale, err_msg=name)


DIFFS = [CentralDiff(), ForwardDiff(), BackwardDiff()]
LOSSES: list[Loss] = [
    CrossEntropy(),
    MeanSquared(),
    SquaredLogError(),
    CrossEntropy(reduction="sum"),
]


@pytest.mark.parametrize("diff", DIFFS, ids=lambda d: type(d).__name__)
@pytest.mark.parametrize("loss", LOSSES, ids=repr)
@pytest.mark.parametrize("make_x", [mnist_like, dense], ids=["sparse", "dense"])
def test_fast_path_equals_generic_path(diff: Differentiator, loss: Loss, make_x: object) -> None:
    rng = np.random.default_rng(7)
    x = make_x(12, 20, rng)  # type: ignore[operator]
    t = rng.integers(0, 4, size=12)
    net = TwoLayerNet(input_size=20, hidden_size=6, output_size=4, weight_init_std=0.5, seed=3)
    before = {k: v.copy() for k, v in net.params.items()}
    fast = diff.gradients(net.objective(x, t, loss))
    assert_close(fast, generic_gradient(diff, net, x, t, loss), 1e-7)
    for name, value in before.items():
        assert net.params[name].tobytes() == value.tobytes()


def test_fast_path_with_one_hot_and_soft_targets() -> None:
    rng = np.random.default_rng(1)
    x = mnist_like(10, 15, rng)
    net = TwoLayerNet(input_size=15, hidden_size=5, output_size=3, weight_init_std=0.3, seed=0)
    soft = rng.dirichlet(np.ones(3), size=10)
    for loss in (CrossEntropy(), MeanSquared()):
        fast = CentralDiff().gradients(net.objective(x, soft, loss))
        assert_close(fast, generic_gradient(CentralDiff(), net, x, soft, loss), 1e-7)


@pytest.mark.parametrize("loss", [CrossEntropy(), MeanSquared()], ids=repr)
def test_fast_path_matches_backprop(loss: Loss) -> None:
    rng = np.random.default_rng(2)
    x = mnist_like(30, 40, rng)
    t = rng.integers(0, 5, size=30)
    net = TwoLayerNet(input_size=40, hidden_size=8, output_size=5, weight_init_std=0.3, seed=1)
    fast = CentralDiff().gradients(net.objective(x, t, loss))
    assert_close(fast, net.backprop(x, t, loss), 1e-7)


def test_chunk_and_piece_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    x = mnist_like(9, 30, rng)
    t = rng.integers(0, 3, size=9)
    net = TwoLayerNet(input_size=30, hidden_size=7, output_size=3, weight_init_std=0.4, seed=2)
    reference = CentralDiff().gradients(net.objective(x, t, CrossEntropy()))
    # Tiny pieces, blocks and engine chunks that do not divide the sizes evenly.
    monkeypatch.setattr(minifw.models, "PIECE", 37)
    monkeypatch.setattr(minifw.models, "ELEMENT_BUDGET", 50)
    monkeypatch.setattr(minifw.differentiation, "ENGINE_CHUNK", 11)
    chunked = CentralDiff().gradients(net.objective(x, t, CrossEntropy()))
    for name in reference:
        np.testing.assert_allclose(chunked[name], reference[name], rtol=1e-12, atol=1e-18)
    assert_close(chunked, generic_gradient(CentralDiff(), net, x, t, CrossEntropy()), 1e-7)


def test_the_overflow_safe_route_gives_the_same_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minifw.models, "_SMALL_SHIFT", -1.0)  # every shift counts as large
    rng = np.random.default_rng(4)
    x = mnist_like(10, 8, rng)
    t = rng.integers(0, 3, size=10)
    net = TwoLayerNet(input_size=8, hidden_size=4, output_size=3, weight_init_std=0.5, seed=0)
    diff = CentralDiff()
    fast = diff.gradients(net.objective(x, t, CrossEntropy()))
    assert_close(fast, generic_gradient(diff, net, x, t, CrossEntropy()), 1e-7)


@pytest.mark.parametrize("loss", [CrossEntropy(), MeanSquared(), SquaredLogError()], ids=repr)
@pytest.mark.parametrize("scale", [1e-8, 1e-3, 5.0, 200.0])
def test_softmax_loss_change_on_both_routes(loss: Loss, scale: float) -> None:
    rng = np.random.default_rng(8)
    scores = rng.normal(size=(5, 4))
    t = np.eye(4)[rng.integers(0, 4, size=5)]
    shift = scale * rng.normal(size=(5, 4, 3))  # (rows, classes, moves)
    y = minifw.softmax(scores)
    bound = float(np.max(np.abs(shift)))
    moved = minifw.softmax(scores[:, None, :] + shift.transpose(0, 2, 1))
    expected = np.stack(
        [loss.per_example(moved[:, m], t) - loss.per_example(y, t) for m in range(3)], axis=1
    )
    change = minifw.models._softmax_loss_change(loss, y, t, shift.copy(), bound)
    np.testing.assert_allclose(change, expected, rtol=1e-6, atol=1e-12)


def test_all_zero_pixels_have_zero_gradient() -> None:
    rng = np.random.default_rng(5)
    x = mnist_like(8, 12, rng)
    net = TwoLayerNet(input_size=12, hidden_size=3, output_size=2, seed=0)
    grad = CentralDiff().gradients(net.objective(x, rng.integers(0, 2, 8), CrossEntropy()))
    assert np.all(grad["W1"][:3] == 0.0)


def test_the_fast_objective_is_an_objective() -> None:
    net = TwoLayerNet(input_size=4, hidden_size=3, output_size=2, seed=0)
    objective = net.objective(np.ones((2, 4)), [0, 1], CrossEntropy())
    assert isinstance(objective, Objective)
    assert objective.value() == pytest.approx(net.loss(np.ones((2, 4)), [0, 1], CrossEntropy()))


def test_scratch_memory_is_bounded() -> None:
    # A model 10x wider than the book's on a 1000-image batch: scratch memory stays small
    # (the budget is independent of the model size).
    rng = np.random.default_rng(6)
    x = mnist_like(1000, 784, rng)
    t = rng.integers(0, 10, size=1000)
    net = TwoLayerNet(hidden_size=500, seed=0)
    objective = net.objective(x, t, CrossEntropy())
    index = np.arange(0, 784 * 500, 97, dtype=np.intp)  # a spread subset keeps the test fast
    tracemalloc.start()
    try:
        objective.loss_changes("W1", index, np.array([1e-4, -1e-4]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 * 2**20, f"peak scratch memory {peak / 2**20:.0f} MiB"
