"""An independent re-implementation of the book's networks, for tests.

Written from the book's descriptions (chapters 3 to 6: ``sigmoid``, ``relu``, ``softmax``,
``cross_entropy_error`` with ``delta = 1e-7``, ``mean_squared_error`` as half the sum of squares,
``TwoLayerNet`` / ``MultiLayerNet`` with affine layers, ``numerical_gradient`` with ``np.nditer``,
and backpropagation through affine, activation and softmax-with-loss layers), using nothing from
minifw. Plain loops and formulas, no cleverness: this is what minifw's fast paths are checked
against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Params = dict[str, Array]


def sigmoid(x: Array) -> Array:
    out: Array = 1.0 / (1.0 + np.exp(-x))
    return out


def relu(x: Array) -> Array:
    return np.maximum(0.0, x)


def softmax(a: Array) -> Array:
    shifted = a - np.max(a, axis=1, keepdims=True)
    e = np.exp(shifted)
    out: Array = e / np.sum(e, axis=1, keepdims=True)
    return out


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "sigmoid": sigmoid,
    "relu": relu,
    "tanh": np.tanh,
}


def cross_entropy_error(y: Array, t: Array) -> Any:
    """Batch-mean cross-entropy with the book's delta inside the log; ``t`` one-hot."""
    delta = 1e-7
    return -np.sum(t * np.log(y + delta)) / y.shape[0]


def mean_squared_error(y: Array, t: Array) -> Any:
    """Batch mean of half the sum of squares (the book's definition, per example)."""
    return 0.5 * np.sum((y - t) ** 2) / y.shape[0]


def layer_count(params: Params) -> int:
    return sum(1 for name in params if name.startswith("W"))


def predict(params: Params, x: Array, activation: str, output: str) -> Array:
    """Affine and activation layers, then an affine layer and softmax (or nothing)."""
    n = layer_count(params)
    h = x
    for k in range(1, n):
        h = ACTIVATIONS[activation](h @ params[f"W{k}"] + params[f"b{k}"])
    scores = h @ params[f"W{n}"] + params[f"b{n}"]
    return softmax(scores) if output == "softmax" else scores


def loss_value(params: Params, x: Array, t: Array, activation: str, output: str) -> Any:
    """The loss as a numpy scalar of the arrays' dtype (``np.longdouble`` arrays keep 64 bits)."""
    y = predict(params, x, activation, output)
    if output == "softmax":
        return cross_entropy_error(y, t)
    return mean_squared_error(y, t)


def loss(params: Params, x: Array, t: Array, activation: str, output: str) -> float:
    return float(loss_value(params, x, t, activation, output))


def _stencil_value(
    f: Callable[[], Any],
    view: Array,
    i: int,
    h: float,
    offsets: Sequence[float],
    weights: Sequence[float],
) -> Any:
    """One coordinate's difference quotient in the array's precision; ``view[i]`` is restored."""
    original = view[i]
    if tuple(offsets) == (1.0, -1.0) and tuple(weights) == (0.5, -0.5):
        # The book's central difference, exactly as it writes it.
        view[i] = original + h
        fxh1 = f()
        view[i] = original - h
        fxh2 = f()
        view[i] = original
        return (fxh1 - fxh2) / (2 * h)
    base = f()  # a one-sided (or other) stencil needs f(x): the book's numerical_diff
    total = 0.0 * base
    for offset, weight in zip(offsets, weights, strict=True):
        view[i] = original + offset * h
        total += weight * (f() - base)
        view[i] = original
    return total / h


def numerical_gradient(
    f: Callable[[], float],
    x: Array,
    h: float,
    offsets: Sequence[float] = (1.0, -1.0),
    weights: Sequence[float] = (0.5, -0.5),
) -> Array:
    """The book's loop over every element with ``np.nditer``, for any first-derivative stencil.

    ``sum_k weights[k] * (f(x + offsets[k] h) - f(x)) / h``; with the default central stencil
    this is ``(f(x + h) - f(x - h)) / (2h)`` exactly as the book writes it (two evaluations).
    """
    grad = np.zeros_like(x)
    view = x.reshape(-1)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])  # type: ignore[list-item]
    while not it.finished:
        idx = it.multi_index
        flat = int(np.ravel_multi_index(idx, x.shape))
        grad[idx] = _stencil_value(f, view, flat, h, offsets, weights)
        it.iternext()
    return grad


def numerical_partials(
    f: Callable[[], Any],
    x: Array,
    flat_indices: Sequence[int],
    h: float,
    offsets: Sequence[float] = (1.0, -1.0),
    weights: Sequence[float] = (0.5, -0.5),
) -> Array:
    """:func:`numerical_gradient` for the given flat (C-order) indices of ``x`` only."""
    view = x.reshape(-1)
    return np.array([_stencil_value(f, view, int(i), h, offsets, weights) for i in flat_indices])


def backprop(params: Params, x: Array, t: Array, activation: str, output: str) -> Params:
    """Exact gradient by the chain rule, with the delta of the cross-entropy kept (as computed)."""
    n = layer_count(params)
    pre: list[Array] = []
    hs = [x]
    for k in range(1, n):
        a = hs[-1] @ params[f"W{k}"] + params[f"b{k}"]
        pre.append(a)
        hs.append(ACTIVATIONS[activation](a))
    scores = hs[-1] @ params[f"W{n}"] + params[f"b{n}"]
    batch = x.shape[0]
    if output == "softmax":
        y = softmax(scores)
        dy = -t / (y + 1e-7) / batch
        dscores = y * (dy - np.sum(dy * y, axis=1, keepdims=True))
    else:
        dscores = (scores - t) / batch
    grads: Params = {}
    delta = dscores
    for k in range(n, 0, -1):
        grads[f"W{k}"] = hs[k - 1].T @ delta
        grads[f"b{k}"] = np.sum(delta, axis=0)
        if k > 1:
            back = delta @ params[f"W{k}"].T
            a = pre[k - 2]
            if activation == "sigmoid":
                s = sigmoid(a)
                delta = back * s * (1.0 - s)
            elif activation == "relu":
                delta = back * (a > 0)
            else:
                delta = back * (1.0 - np.tanh(a) ** 2)
    return grads

