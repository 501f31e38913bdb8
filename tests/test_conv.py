"""Convolution, pooling, im2col and the reshapes: against their definitions written as loops."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minifw
from minifw import CentralDiff, CrossEntropy, Sequential, gradcheck
from minifw.errors import ValidationError
from minifw.nn.layers import (
    Affine,
    Convolution,
    Flatten,
    Pooling,
    ReLU,
    Reshape,
    Softmax,
    col2im,
    im2col,
)

Array = Any


@st.composite
def geometry(draw: st.DrawFn) -> tuple[Array, int, int, int, int]:
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    fh, fw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h, w = draw(st.integers(max(1, fh - 2 * pad), 7)), draw(st.integers(max(1, fw - 2 * pad), 7))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(size=(n, c, h, w))
    return x, fh, fw, stride, pad


def padded(x: Array, pad: int) -> Array:
    return np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])


@given(geometry())
def test_col2im_is_the_adjoint_of_im2col(case: tuple[Array, int, int, int, int]) -> None:
    x, fh, fw, stride, pad = case
    col = im2col(x, fh, fw, stride, pad)
    other = np.random.default_rng(0).normal(size=col.shape)
    back = col2im(other, x.shape, fh, fw, stride, pad)
    assert back.shape == x.shape
    assert float(np.sum(back * x)) == pytest.approx(float(np.sum(other * col)), rel=1e-12, abs=1e-12)


@given(geometry())
def test_convolution_is_its_definition(case: tuple[Array, int, int, int, int]) -> None:
    x, fh, fw, stride, pad = case
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(2, x.shape[1], fh, fw)), rng.normal(size=2)
    y = Convolution(W=w, b=b, stride=stride, pad=pad).forward(x)
    xp = padded(x, pad)
    expected = np.zeros(y.shape)
    for n in range(y.shape[0]):
        for f in range(y.shape[1]):
            for i in range(y.shape[2]):
                for j in range(y.shape[3]):
                    patch = xp[n, :, i * stride : i * stride + fh, j * stride : j * stride + fw]
                    expected[n, f, i, j] = b[f] + np.sum(w[f] * patch)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@given(geometry())
def test_max_pooling_is_its_definition(case: tuple[Array, int, int, int, int]) -> None:
    x, ph, pw, stride, pad = case
    pool = Pooling(ph, pw, stride=stride, pad=pad)
    y = pool.forward(x)
    xp = padded(x, pad)
    for n, c, i, j in np.ndindex(*y.shape):
        window = xp[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw]
        assert y[n, c, i, j] == np.max(window)
    # The gradient goes to each window's first largest entry (row by row), as the book's argmax.
    dy = np.random.default_rng(2).normal(size=y.shape)
    dx, _ = pool.backward(x, y, dy)
    expected = np.zeros(xp.shape)
    for n, c, i, j in np.ndindex(*y.shape):
        window = xp[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw]
        p, q = np.unravel_index(np.argmax(window), window.shape)
        expected[n, c, i * stride + p, j * stride + q] += dy[n, c, i, j]
    np.testing.assert_allclose(dx, expected[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]], atol=1e-15)


def test_a_tie_sends_the_gradient_to_the_first_entry() -> None:
    x = np.array([[[[2.0, 2.0], [2.0, 1.0]]]])
    pool = Pooling(2, 2)
    dx, _ = pool.backward(x, pool.forward(x), np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx, [[[[1.0, 0.0], [0.0, 0.0]]]])


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Convolution(W=np.ones((2, 3, 3)), b=np.zeros(2)), "Convolution W must be a 4-D float64 array"),
        (lambda: Convolution(W=np.ones((2, 1, 3, 3)), b=np.zeros(3)), r"one entry per filter \(2\), got shape \(3,\)"),
        (lambda: Convolution(W=np.ones((2, 1, 3, 3)), b=np.zeros(2), stride=0), "stride must be a positive integer"),
        (lambda: Convolution(W=np.ones((2, 1, 3, 3)), b=np.zeros(2), pad=-1), "pad must be a non-negative integer"),
        (lambda: Convolution(W=np.full((1, 1, 1, 1), np.inf), b=np.zeros(1)), r"W must be finite, got inf at W\[0, 0, 0, 0\]"),
        (lambda: Pooling(0, 2), "pool_h must be a positive integer"),
        (lambda: Pooling(2, 2).forward(np.zeros((1, 1, 1, 1))), "does not fit an image of size 1"),
        (lambda: Convolution(W=np.ones((1, 2, 2, 2)), b=np.zeros(1)).forward(np.zeros((1, 3, 4, 4))), r"takes images \(batch, 2, height, width\)"),
        (lambda: Reshape((0, 2)), "shape must be a tuple of positive integers"),
        (lambda: Reshape((2, 2)).forward(np.zeros((1, 5))), "takes examples of 4 features"),
    ],
)
def test_bad_geometry_is_refused(make: Any, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        make()


def test_reshapes_move_nothing() -> None:
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    flat = Flatten().forward(x)
    assert flat.shape == (2, 12)
    np.testing.assert_array_equal(Reshape((3, 2, 2)).forward(flat), x)
    assert Flatten().backward(x, flat, flat)[0].shape == x.shape


def test_a_convolutional_sequential_with_padding_and_stride_checks() -> None:
    rng = np.random.default_rng(3)
    net = Sequential(
        [
            Reshape((2, 5, 5)),
            Convolution(W=0.5 * rng.normal(size=(3, 2, 3, 3)), b=0.1 * rng.normal(size=3), stride=2, pad=1),
            ReLU(),
            Pooling(2, 2, stride=1),
            Flatten(),
            Affine.init(12, 4, std=0.5, rng=rng),
            Softmax(),
        ]
    )
    assert sorted(net.params) == ["W1", "W2", "b1", "b2"]
    x, t = rng.random((3, 50)) + 0.1, np.array([0, 3, 1])
    report = gradcheck(net, x, t, CrossEntropy(), CentralDiff(h=1e-6))
    assert report.passed, str(report)
    assert minifw.ForwardDiff(h=1e-7).gradients(net.objective(x, t, CrossEntropy()))["W1"].shape == (3, 2, 3, 3)
