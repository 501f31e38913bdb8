"""Fast numerical gradients behind batch normalization: column moves on the batch route.

Batch normalization in training couples the rows of a batch: a step of a weight before it moves
its unit in every row through the batch's mean and variance. Checked against an independent
plain-numpy network with the book's batch normalization (and dropout, and weight decay) and its
per-coordinate loop, in float64 and in extended precision.
"""

from __future__ import annotations

from typing import Any, final

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracles import book_network as book

from minifw import CentralDiff, CrossEntropy, ForwardDiff, Layered
from minifw.nn.layered.column_moves import ColumnMove
from minifw.nn.layered.moves import DenseMove, Move
from minifw.nn.layers import Affine, BatchNormalization, Dropout, Layer, ReLU, Softmax, Tanh
from minifw.nn.penalty import Penalty, WeightDecay
from minifw.typing import FloatArray

Array = Any
RNG = np.random.default_rng(11)
N, D, HIDDEN, CLASSES = 9, 10, 6, 3
X = RNG.integers(0, 256, size=(N, D)) / 255.0
X[RNG.random(X.shape) < 0.5] = 0.0
X[:, 0] = 0.0
LABELS = RNG.integers(0, CLASSES, size=N)
T = np.eye(CLASSES)[LABELS]
EPS = 10e-7  # the book's variance offset


@final
@attrs.define(eq=False)
class Extend(Layered):
    """affine, batch norm, activation (, dropout) per hidden layer; affine, softmax; weight decay."""

    activation: str = "relu"
    decay: float = 0.0
    dropout: bool = False
    seed: int = 0
    layers: tuple[Layer, ...] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        act = ReLU if self.activation == "relu" else Tanh
        layers: list[Layer] = []
        sizes = (D, HIDDEN, HIDDEN, CLASSES)
        for k in range(1, len(sizes)):
            layers.append(Affine.init(sizes[k - 1], sizes[k], std=0.6, rng=rng))
            if k < len(sizes) - 1:
                gamma = 1.0 + 0.3 * rng.standard_normal(sizes[k])
                layers.append(BatchNormalization(gamma=gamma, beta=0.2 * rng.standard_normal(sizes[k])))
                layers.append(act())
                if self.dropout:
                    layers.append(Dropout(0.3, seed=k))
        layers.append(Softmax())
        self.layers = tuple(layers)
        self._name_params()

    @property
    def penalty(self) -> Penalty | None:
        """Weight decay of the affine weights, when `decay` is set."""
        weights = tuple(name for name in self.params if name.startswith("W"))
        return WeightDecay(self.decay, weights) if self.decay else None


def oracle_loss(net: Extend, params: dict[str, Array], x: Array, masks: list[Array]) -> Any:
    """The book's forward pass in training, in the arrays' dtype, with the given dropout masks."""
    act = book.relu if net.activation == "relu" else np.tanh
    names = sorted({name[1:] for name in params if name.startswith("W")}, key=int)
    h = x
    for position, number in enumerate(names):
        h = h @ params[f"W{number}"] + params[f"b{number}"]
        if position == len(names) - 1:
            break
        k = int(number) + 1
        mu = h.mean(axis=0)
        xc = h - mu
        std = np.sqrt(np.mean(xc**2, axis=0) + EPS)
        h = act(params[f"gamma{k}"] * (xc / std) + params[f"beta{k}"])
        if masks:
            h = h * masks[position]
    y = book.softmax(h)
    decay = sum(0.5 * net.decay * np.sum(params[n] ** 2) for n in params if n.startswith("W"))
    return book.cross_entropy_error(y, T.astype(x.dtype)) + decay


def loop(net: Extend, masks: list[Array], h: float, dtype: type, offsets: tuple[float, ...] = (1.0, -1.0), weights: tuple[float, ...] = (0.5, -0.5)) -> dict[str, FloatArray]:
    params: dict[str, Array] = {k: v.astype(dtype) for k, v in net.params.items()}
    x: Array = X.astype(dtype)
    return {
        name: np.asarray(
            book.numerical_gradient(lambda: oracle_loss(net, params, x, masks), params[name], h, offsets, weights),
            dtype=np.float64,
        )
        for name in params
    }


def fast_and_masks(net: Extend, diff: Any) -> tuple[dict[str, FloatArray], list[Array]]:
    """The fast gradient and the masks of its objective (drawn by its training pass)."""
    objective = net.objective(X, LABELS, CrossEntropy())
    masks = [layer.mask for layer in objective.layers if hasattr(layer, "mask")]  # type: ignore[attr-defined]
    return diff.gradients(objective), masks


CASES = [
    {"activation": "relu"},
    {"activation": "tanh"},
    {"activation": "relu", "decay": 0.1},
    {"activation": "relu", "dropout": True},
]


@pytest.mark.parametrize("h", [1e-4, 1e-3])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_fast_gradient_behind_batch_norm_is_the_loop(case: dict[str, Any], h: float) -> None:
    net = Extend(**case)
    fast, masks = fast_and_masks(net, CentralDiff(h=h))
    reference = loop(net, masks, h, np.float64)
    for name, value in reference.items():
        scale = max(float(np.max(np.abs(value))), 1e-3)
        # The loop's own rounding is about 1e-16 * L / h relative to the gradient.
        assert float(np.max(np.abs(fast[name] - value))) <= 1e-12 / h * scale, name


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_large_steps_behind_batch_norm_are_exact_differences(activation: str) -> None:
    # At h = 0.05 the steps move the batch statistics and cross ReLU kinks: the fast gradient is
    # the difference quotient itself, equal to the loop in extended precision, and keeps the
    # stencil's truncation error.
    net = Extend(activation=activation)
    for diff in (CentralDiff(h=0.05), ForwardDiff(h=0.05)):
        stencil = diff.stencil
        offsets = tuple(float(o.real) for o in stencil.offsets)
        weights = tuple(float(w.real) for w in stencil.weights)
        fast, masks = fast_and_masks(net, diff)
        extended = loop(net, masks, 0.05, np.longdouble, offsets, weights)
        exact = net.backprop(X, LABELS, CrossEntropy())
        for name, value in extended.items():
            scale = max(float(np.max(np.abs(value))), 1e-3)
            assert float(np.max(np.abs(fast[name] - value))) <= 1e-13 * scale, name
        assert float(np.max(np.abs(fast["W1"] - exact["W1"]))) >= 1e-6 * float(np.max(np.abs(exact["W1"])))


def test_a_bias_before_batch_norm_moves_nothing() -> None:
    # Batch normalization subtracts the batch mean: a step of the bias before it changes no output.
    net = Extend()
    fast, _ = fast_and_masks(net, CentralDiff(h=1e-4))
    assert float(np.max(np.abs(fast["b1"]))) <= 1e-15


@given(st.integers(0, 2**32 - 1))
def test_a_column_moves_as_the_whole_batch_does(seed: int) -> None:
    # Through batch normalization in training, ReLU and an affine layer, a column move gives what
    # the layers' rules give for the same move as a dense move of every row.
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 4))
    units = rng.integers(0, 4, size=3)
    data = rng.standard_normal((3, 6)) * 10.0 ** rng.integers(-9, 0)
    norm = BatchNormalization(gamma=rng.standard_normal(4), beta=rng.standard_normal(4)).training(x)
    layers = [norm, ReLU(), Affine(W=rng.standard_normal((4, 5)), b=np.zeros(5))]
    move: Move = ColumnMove.of(units, data)
    dense: Move = DenseMove(move.rows, move.dense(x.shape[1:]))
    for layer in layers:
        y = layer.forward(x)
        move = move.through(layer, x, y)
        dense = dense.through(layer, x, y)
        np.testing.assert_allclose(move.dense(y.shape[1:]), dense.dense(y.shape[1:]), rtol=1e-12, atol=0)
        x = y
