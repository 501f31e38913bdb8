"""Fast numerical gradients of convolution filters and biases: channel steps and their route.

A step of a filter weight moves one output channel at every position; the channel route pushes
that move through the later layers exactly, many coordinates at once. Checked against an
independent plain-numpy convolutional network (sliding windows, no im2col) and its per-coordinate
loop, in float64 and in extended precision, truncation error and kinks included.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracles import book_network as book

from minifw import CentralDiff, ComplexStep, CrossEntropy, ForwardDiff, Sequential
from minifw.errors import DifferentiationError
from minifw.nn.layered.block_moves import BlockMove
from minifw.nn.layered.channel_steps import ChannelSteps, ScaledChannelSteps, UniformChannelSteps
from minifw.nn.layered.moves import DenseMove, Move
from minifw.nn.layers import Affine, Convolution, Flatten, Pooling, ReLU, Softmax, Tanh
from minifw.typing import FloatArray

Array = Any
RNG = np.random.default_rng(3)
N, SIDE, CLASSES = 5, 8, 3


def digits(n: int, rng: np.random.Generator) -> FloatArray:
    """Images with a zero border and pixels k/255 (many zeros, some equal values), as MNIST."""
    x = rng.integers(0, 256, size=(n, 1, SIDE, SIDE)) / 255.0
    x[rng.random(x.shape) < 0.5] = 0.0
    x[:, :, :1, :] = 0.0
    x[:, :, :, -1:] = 0.0
    x[0, 0, 3, :] = 1.0
    return x


X = digits(N, RNG)
LABELS = RNG.integers(0, CLASSES, size=N)
T = np.eye(CLASSES)[LABELS]


def conv_net(activation: str = "relu", stride: int = 1, pad: int = 1, seed: int = 0) -> Sequential:
    """conv (3 filters 3x3), activation, 2x2 max pooling, affine, activation, affine, softmax."""
    rng = np.random.default_rng(seed)
    conv = Convolution.init(3, 1, 3, std=0.4, rng=rng, stride=stride, pad=pad)
    side = (SIDE + 2 * pad - 3) // stride + 1
    pooled = 3 * (side // 2) ** 2
    act = ReLU if activation == "relu" else Tanh
    layers = [
        conv,
        act(),
        Pooling(2, 2, stride=2),
        Flatten(),
        Affine.init(pooled, 6, std=0.5, rng=rng),
        act(),
        Affine.init(6, CLASSES, std=0.5, rng=rng),
        Softmax(),
    ]
    return Sequential(layers, input_shape=(1, SIDE, SIDE))


# ---- the oracle: the same network in plain numpy, by sliding windows ----------------------------


def oracle_loss(params: dict[str, Array], x: Array, activation: str, stride: int, pad: int) -> Any:
    """The loss in the arrays' dtype (`np.longdouble` arrays keep 64 bits of mantissa)."""
    w, b = params["W1"], params["b1"]
    padded = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]  # (N, C, O, O, 3, 3)
    conv = np.einsum("ncijpq,fcpq->nfij", windows, w) + b[None, :, None, None]
    act = book.relu if activation == "relu" else np.tanh
    a = act(conv)
    side = a.shape[2] // 2
    pooled = a[:, :, : 2 * side, : 2 * side].reshape(a.shape[0], a.shape[1], side, 2, side, 2).max(axis=(3, 5))
    hidden = act(pooled.reshape(pooled.shape[0], -1) @ params["W2"] + params["b2"])
    y = book.softmax(hidden @ params["W3"] + params["b3"])
    return book.cross_entropy_error(y, T.astype(x.dtype))


def loop(net: Sequential, name: str, h: float, activation: str, stride: int, pad: int, dtype: type, offsets: tuple[float, ...] = (1.0, -1.0), weights: tuple[float, ...] = (0.5, -0.5)) -> FloatArray:
    """The book's loop over every coordinate of `params[name]`, in `dtype`."""
    params: dict[str, Array] = {k: v.astype(dtype) for k, v in net.params.items()}
    x: Array = X.astype(dtype)
    grad = book.numerical_gradient(
        lambda: oracle_loss(params, x, activation, stride, pad), params[name], h, offsets, weights
    )
    return np.asarray(grad, dtype=np.float64)


# ---- step moves ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("stride", "pad"), [(1, 0), (1, 1), (2, 1)])
def test_channel_steps_are_what_a_step_does_to_the_output(stride: int, pad: int) -> None:
    # For every coordinate of W and b: forward with it moved by s, minus forward, is s times its
    # pattern in its channel and zero in the others.
    conv = Convolution.init(2, 2, 3, std=0.5, rng=np.random.default_rng(1), stride=stride, pad=pad)
    x = np.random.default_rng(2).standard_normal((3, 2, 7, 7))
    y = conv.forward(x)
    moves = conv.step_moves(x)
    step = 1e-3
    for name, arr in conv.params.items():
        move = moves[name]
        assert isinstance(move, ChannelSteps)
        assert move.check(arr.size, x.shape[0], int(np.prod(y.shape[1:]))) is None
        flat = arr.reshape(-1)
        for c in range(arr.size):
            one = move.take(np.array([c]))
            expected = np.zeros(y.shape)
            expected[:, int(one.channels[0])] = step * one.patterns()[0].reshape(y.shape[0], *y.shape[2:])
            original = flat[c]
            flat[c] = original + step
            try:
                moved = conv.forward(x) - y
            finally:
                flat[c] = original
            np.testing.assert_allclose(moved, expected, rtol=1e-9, atol=1e-14)


def test_channel_steps_say_what_is_wrong() -> None:
    factor = np.ones((4, 2, 9))
    good = ScaledChannelSteps(channels=np.array([0, 1]), factor=factor, inputs=np.array([0, 3]))
    assert good.check(2, 2, 18) is None
    assert "examples" in (good.check(2, 3, 18) or "")
    assert "divide" in (good.check(2, 2, 20) or "")
    assert "channels" in (good.check(2, 2, 9) or "")
    bad_inputs = ScaledChannelSteps(channels=np.array([0, 1]), factor=factor, inputs=np.array([0, 4]))
    assert "inputs" in (bad_inputs.check(2, 2, 18) or "")
    flat = ScaledChannelSteps(channels=np.array([0]), factor=np.ones((2, 9)), inputs=np.array([0]))
    assert "3-D" in (flat.check(1, 2, 18) or "")
    assert UniformChannelSteps(channels=np.array([2]), examples=2, positions=9).check(1, 2, 27) is None


# ---- moves through layers ------------------------------------------------------------------------


@given(st.integers(0, 2**32 - 1))
def test_block_moves_agree_with_the_layers_own_change(seed: int) -> None:
    # A block move of one channel through ReLU, pooling, flatten and affine layers gives what the
    # layers' change rules give for the same move as a dense array.
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 2, 4, 4))
    channel = int(rng.integers(0, 2))
    data = rng.standard_normal((2, 3, 16)) * 10.0 ** rng.integers(-9, 1)
    data[:, :, rng.random(16) < 0.3] = 0.0
    move: Move = BlockMove.of(np.array([channel * 16, channel * 16]), data)
    dense = DenseMove(move.rows, move.dense(x.shape[1:]))
    pool = Pooling(2, 2, stride=2)
    affine = Affine(W=rng.standard_normal((8, 5)), b=np.zeros(5))
    layers = [ReLU(), pool, Flatten(), affine]
    for layer in layers:
        y = layer.forward(x)
        move = move.through(layer, x, y)
        dense = dense.through(layer, x, y)
        np.testing.assert_allclose(move.dense(y.shape[1:]), dense.data, rtol=1e-13, atol=0)
        x = y
    assert isinstance(move, DenseMove)


@given(st.integers(0, 2**32 - 1))
def test_pooling_keeps_a_channel_a_channel(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = Pooling(2, 3, stride=1, pad=1)
    x = np.round(rng.standard_normal((2, 3, 5, 6)), 1)  # ties within windows
    dx = rng.standard_normal(x.shape) * 1e-3
    y = pool.forward(x)
    whole = pool.change(x, y, dx)
    for c in range(3):
        one = pool.channel_change(x[None, :, c], y[None, :, c], dx[None, :, c])
        assert np.array_equal(one[0], whole[:, c])


# ---- numerical gradients -------------------------------------------------------------------------


@pytest.mark.parametrize(("stride", "pad"), [(1, 1), (2, 0)])
@pytest.mark.parametrize("h", [1e-4, 1e-3])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_fast_gradient_of_the_filters_is_the_loop(activation: str, h: float, stride: int, pad: int) -> None:
    net = conv_net(activation, stride, pad)
    diff = CentralDiff(h=h)
    fast = diff.gradients(net.objective(X, LABELS, CrossEntropy()))
    for name in ("W1", "b1"):
        reference = loop(net, name, h, activation, stride, pad, np.float64)
        scale = float(np.max(np.abs(reference)))
        # The loop's own rounding is about 1e-16 * L / h relative to the gradient.
        assert float(np.max(np.abs(fast[name] - reference))) <= 1e-12 / h * scale


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_large_steps_and_kinks_are_exact_differences(activation: str) -> None:
    # At h = 0.05 steps cross ReLU kinks and max-pooling switches: the fast gradient is still the
    # difference quotient itself, equal to the loop in extended precision, and far from the
    # derivative (the stencil's truncation error is kept).
    net = conv_net(activation)
    for diff in (CentralDiff(h=0.05), ForwardDiff(h=0.05)):
        stencil = diff.stencil
        offsets = tuple(float(o.real) for o in stencil.offsets)
        weights = tuple(float(w.real) for w in stencil.weights)
        fast = diff.gradients(net.objective(X, LABELS, CrossEntropy()))
        exact = net.backprop(X, LABELS, CrossEntropy())
        for name in ("W1", "b1"):
            extended = loop(net, name, 0.05, activation, 1, 1, np.longdouble, offsets, weights)
            scale = float(np.max(np.abs(extended)))
            assert float(np.max(np.abs(fast[name] - extended))) <= 1e-13 * scale
            assert float(np.max(np.abs(fast[name] - exact[name]))) >= 1e-6 * scale


def test_complex_steps_of_the_filters() -> None:
    # tanh is analytic and images without zeros tie no pooling window: a complex step gives the
    # exact gradient of the filters and biases. Where a window's largest entries are tied and
    # moved (the zeros of a digit's background), the maximum is not analytic and it is refused.
    net = conv_net("tanh", pad=0)
    images = 0.1 + np.random.default_rng(4).random(X.shape)
    exact = net.backprop(images, LABELS, CrossEntropy())
    objective = net.objective(images, LABELS, CrossEntropy())
    for name in ("W1", "b1"):
        index = np.arange(net.params[name].size)
        found = ComplexStep().estimates_along(objective, name, index).value
        scale = float(np.max(np.abs(exact[name])))
        np.testing.assert_allclose(found, exact[name].reshape(-1), rtol=1e-9, atol=1e-12 * scale)
    background = images.copy()
    background[:, :, :5, :5] = 0.0  # equal outputs in the windows there: tied maxima
    with pytest.raises(DifferentiationError, match="tied"):
        ComplexStep().estimates_along(net.objective(background, LABELS, CrossEntropy()), "b1", np.arange(3))


def test_parts_do_not_change_the_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Coordinates go through the route a part at a time; a coordinate's change does not depend on
    # the others in its part.
    net = conv_net()
    objective = net.objective(X, LABELS, CrossEntropy())
    index = np.arange(net.params["W1"].size)
    whole = CentralDiff().estimates_along(objective, "W1", index).value
    monkeypatch.setattr("minifw.nn.layered.limits.CHANNEL_PART", 3 * N * SIDE * SIDE)
    parts = CentralDiff().estimates_along(net.objective(X, LABELS, CrossEntropy()), "W1", index).value
    np.testing.assert_allclose(parts, whole, rtol=1e-14, atol=0)
