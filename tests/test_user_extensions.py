"""Written as a user would: extend minifw by subclassing, use only the public API.

This file is also type-checked by ``mypy --strict`` (it is under ``tests/``), so it shows that
subclasses written this way type-check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import attrs
import numpy as np
import pytest
from numpy.typing import NDArray

import minifw
from minifw import (
    BatchSampler,
    CentralDiff,
    CrossEntropy,
    Loss,
    Perturbation,
    RandomChoiceSampler,
    Sequential,
)
from minifw.nn.layered.steps import ScaledUnitSteps, StepMove, UniformUnitSteps
from minifw.nn.layers import Affine, HasStepMoves, Layer, Softmax, Tanh
from minifw.typing import AnyArray, FloatArray, IntArray


@final
@attrs.frozen
class MeanAbsolute(Loss):
    """Sum of absolute differences per example."""

    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        values: FloatArray = np.abs(y - t).sum(axis=1)
        return values


@final
@attrs.define
class RoundRobin(BatchSampler):
    """Consecutive windows of the data, wrapping around."""

    start: int = 0

    def sample(self, n: int) -> IntArray:
        idx = (self.start + np.arange(self.batch_size)) % n
        self.start = int((self.start + self.batch_size) % n)
        return idx.astype(np.intp)


def test_a_new_loss_in_a_few_lines() -> None:
    loss = MeanAbsolute()
    # |0.1| + |0.05| + |0.6 - 1| + |0.05| + |0.1| + |0.1| = 0.8
    y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    assert loss(y, 2) == pytest.approx(0.8)
    assert MeanAbsolute(reduction="sum")([y, y], [2, 2]) == pytest.approx(1.6)
    with pytest.raises(minifw.MinifwError, match="t must have the shape"):
        loss(y, [1, 2])


def test_the_new_loss_has_a_numerical_gradient() -> None:
    y = np.array([[0.2, 0.3, 0.5]])
    grad = CentralDiff().gradient(lambda v: float(MeanAbsolute()(v, [1])), y)
    np.testing.assert_allclose(grad, [[1.0, -1.0, 1.0]], atol=1e-8)


def test_a_custom_sampler() -> None:
    sampler = RoundRobin(batch_size=3)
    x, t = np.arange(10.0).reshape(5, 2), np.arange(5)
    batches = [sampler.minibatch(x, t)[1].tolist() for _ in range(3)]
    assert batches == [[0, 1, 2], [3, 4, 0], [1, 2, 3]]
    with pytest.raises(minifw.MinifwError, match="batch_size must be a positive integer"):
        RoundRobin(batch_size=0)


def test_builtin_and_custom_parts_share_one_type() -> None:
    samplers: list[BatchSampler] = [RoundRobin(2), RandomChoiceSampler(2, seed=0)]
    assert all(s.sample(4).size == 2 for s in samplers)


# --- a layer with parameters, with fast numerical gradients ------------------------------------


@final
@attrs.define(eq=False)
class ScaleShift(Layer):
    """y = a * x + c per unit, saying how steps of a and c move its output (the how-to's layer)."""

    a: FloatArray
    c: FloatArray
    forward_calls: int = 0

    @property
    def params(self) -> dict[str, FloatArray]:
        return {"a": self.a, "c": self.c}

    def forward(self, x: AnyArray) -> AnyArray:
        self.forward_calls += 1
        result: AnyArray = x * self.a + self.c
        return result

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        return dy * self.a, {"a": np.sum(dy * x, axis=0), "c": np.sum(dy, axis=0)}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        result: AnyArray = dx * self.a
        return result

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        result: AnyArray = dx * self.a
        return result, np.ones(dx.shape[1], dtype=bool)

    def step_moves(self, x: AnyArray) -> Mapping[str, StepMove]:
        units = np.arange(self.a.size)
        return {
            "a": ScaledUnitSteps(units=units, factor=x, inputs=units),
            "c": UniformUnitSteps(units=units, examples=x.shape[0]),
        }


def scale_shift_net() -> tuple[Sequential, ScaleShift]:
    rng = np.random.default_rng(3)
    layer = ScaleShift(a=rng.normal(size=6), c=rng.normal(size=6))
    net = Sequential(
        [Affine.init(10, 6, std=0.5, rng=rng), Tanh(), layer, Affine.init(6, 4, std=0.5, rng=rng), Softmax()]
    )
    return net, layer


@pytest.mark.parametrize("h", [1e-4, 1e-2])
def test_a_layer_with_step_moves_gets_the_fast_path(h: float) -> None:
    net, layer = scale_shift_net()
    assert isinstance(layer, HasStepMoves)
    rng = np.random.default_rng(4)
    x, t = rng.random((9, 10)), rng.integers(0, 4, size=9)
    objective = net.objective(x, t, CrossEntropy())
    calls = layer.forward_calls
    fast = CentralDiff(h=h).gradients(objective)
    assert layer.forward_calls == calls  # no coordinate was perturbed and recomputed
    loop = CentralDiff(h=h).gradients(Perturbation(lambda: net.loss(x, t, CrossEntropy()), net.params))
    for name, value in loop.items():  # the book's finite difference, to the loop's rounding
        scale = float(np.max(np.abs(value)))
        np.testing.assert_allclose(fast[name], value, rtol=0, atol=1e-12 / h * scale)
    assert minifw.gradcheck(net, x, t, CrossEntropy()).passed


@final
@attrs.define(eq=False)
class WrongSteps(Layer):
    """A user's layer whose step moves do not fit its parameter (a mistake to be told about)."""

    a: FloatArray
    moves: dict[str, StepMove]

    @property
    def params(self) -> dict[str, FloatArray]:
        return {"a": self.a}

    def forward(self, x: AnyArray) -> AnyArray:
        result: AnyArray = x * self.a
        return result

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        return dy * self.a, {"a": np.sum(dy * x, axis=0)}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        result: AnyArray = dx * self.a
        return result

    def step_moves(self, x: AnyArray) -> Mapping[str, StepMove]:
        return self.moves


@pytest.mark.parametrize(
    ("moves", "words"),
    [
        ({}, r"one step move per parameter \['a'\], got \[\]"),
        ({"a": UniformUnitSteps(units=np.arange(3), examples=5)}, r"\['a'\]: units must hold 4 integers"),
        ({"a": UniformUnitSteps(units=np.array([0, 1, 2, 4]), examples=5)}, r"units must lie in 0..3, got 0..4"),
        ({"a": UniformUnitSteps(units=np.arange(4), examples=2)}, "examples is 2 for a batch of 5"),
        (
            {"a": ScaledUnitSteps(units=np.arange(4), factor=np.ones((5, 4)), inputs=np.arange(1, 5))},
            r"inputs must lie in 0..3, got 1..4",
        ),
    ],
    ids=["missing", "too-few", "out-of-range", "examples", "inputs"],
)
def test_step_moves_that_do_not_fit_are_refused(moves: dict[str, StepMove], words: str) -> None:
    net = Sequential([WrongSteps(a=np.ones(4), moves=moves), Softmax()])
    x, t = np.ones((5, 4)), np.zeros(5, dtype=int)
    with pytest.raises(minifw.MinifwError, match=words):
        CentralDiff().gradients(net.objective(x, t, CrossEntropy()))


@final
@attrs.define(eq=False)
class CenterBatch(Layer):
    """y = x minus the batch's mean: every row depends on every row (it declares RowCoupled)."""

    @property
    def params(self) -> dict[str, FloatArray]:
        return {}

    def forward(self, x: AnyArray) -> AnyArray:
        out: AnyArray = x - x.mean(axis=0)
        return out

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        return dy - dy.mean(axis=0), {}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        out: AnyArray = self.batch_change(x, y, dx[None])[0]
        return out

    def batch_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        out: AnyArray = dx - dx.mean(axis=1, keepdims=True)
        return out


def test_a_row_coupled_layer_of_ones_own_gets_exact_numerical_gradients() -> None:
    from minifw.nn.layers import RowCoupled

    assert isinstance(CenterBatch(), RowCoupled)
    rng = np.random.default_rng(0)
    net = Sequential(
        [Affine.init(5, 4, std=1.0, rng=rng), CenterBatch(), Tanh(), Affine.init(4, 3, std=1.0, rng=rng), Softmax()]
    )
    x, t = rng.random((6, 5)), np.array([0, 1, 2, 0, 1, 2])
    fast = CentralDiff().gradients(net.objective(x, t, CrossEntropy()))
    loop = CentralDiff().gradients(Perturbation(lambda: net.loss(x, t, CrossEntropy()), net.params))
    for name, value in loop.items():
        np.testing.assert_allclose(fast[name], value, rtol=0, atol=1e-9 * np.max(np.abs(value)) + 1e-13)
    assert minifw.gradcheck(net, x, t, CrossEntropy()).passed
