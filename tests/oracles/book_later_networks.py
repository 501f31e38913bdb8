"""An independent re-implementation of the book's later networks, for tests.

Written from the book's descriptions, using nothing from minifw, on top of ``book_layers`` and
``book_network``: ``SimpleConvNet`` (chapter 7: conv, ReLU, 2x2 max pooling with stride 2,
affine, ReLU, affine, softmax with loss) and ``MultiLayerNetExtend`` (chapter 6: affine, batch
normalization, activation, dropout per hidden layer; weight decay ``0.5 * lambda * sum(W ** 2)``
added to the loss layer by layer and ``lambda * W`` to the weights' gradients). Parameters are
plain dicts named as the book names them. The backward passes end in the book's
``SoftmaxWithLoss`` backward, ``(y - t) / N``, with ``book_delta=True``; with ``book_delta=False``
they keep the ``1e-7`` of the cross-entropy, as the exact gradient of the loss does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import book_layers
from .book_network import Array, Params, relu, sigmoid, softmax


def cross_entropy_error(y: Array, t: Array) -> Any:
    """The book's chapter 5 form for one-hot ``t``: the target classes' ``log(y + 1e-7)``, summed, over N.

    (Not chapter 4's ``-sum(t * log(y + delta)) / N``: the same number at most points, but summing
    the zero terms too can round the last bit differently.)
    """
    labels = t.argmax(axis=1)
    n = y.shape[0]
    return -np.sum(np.log(y[np.arange(n), labels] + 1e-7)) / n

# ---- SimpleConvNet -------------------------------------------------------------------------


def convnet_forward(params: Params, x: Array, stride: int = 1, pad: int = 0) -> dict[str, Array]:
    """Every intermediate of the forward pass; ``scores`` is the last affine layer's output."""
    a1 = book_layers.conv_forward(x, params["W1"], params["b1"], stride, pad)
    r1 = relu(a1)
    p1 = book_layers.pool_forward(r1, 2, 2, 2)
    flat = p1.reshape(p1.shape[0], -1)
    a2 = np.dot(flat, params["W2"]) + params["b2"]
    r2 = relu(a2)
    scores = np.dot(r2, params["W3"]) + params["b3"]
    return {"x": x, "a1": a1, "r1": r1, "p1": p1, "flat": flat, "a2": a2, "r2": r2, "scores": scores}


def convnet_loss(params: Params, x: Array, t: Array, stride: int = 1, pad: int = 0) -> Any:
    return cross_entropy_error(softmax(convnet_forward(params, x, stride, pad)["scores"]), t)


def loss_gradient(scores: Array, t: Array, book_delta: bool) -> Array:
    """d loss / d scores: the book's (y - t) / N, or the exact one with the delta kept."""
    y = softmax(scores)
    n = scores.shape[0]
    if book_delta:
        out: Array = (y - t) / n
        return out
    dy = -t / (y + 1e-7) / n
    exact: Array = y * (dy - np.sum(dy * y, axis=1, keepdims=True))
    return exact


def convnet_gradient(
    params: Params, x: Array, t: Array, book_delta: bool, stride: int = 1, pad: int = 0
) -> Params:
    f = convnet_forward(params, x, stride, pad)
    d = loss_gradient(f["scores"], t, book_delta)
    grads: Params = {"W3": np.dot(f["r2"].T, d), "b3": np.sum(d, axis=0)}
    d = np.where(f["a2"] > 0, np.dot(d, params["W3"].T), 0.0)
    grads["W2"], grads["b2"] = np.dot(f["flat"].T, d), np.sum(d, axis=0)
    d = np.dot(d, params["W2"].T).reshape(f["p1"].shape)
    d = np.where(f["a1"] > 0, book_layers.pool_backward(f["r1"], d, 2, 2, 2), 0.0)
    _, grads["W1"], grads["b1"] = book_layers.conv_backward(x, params["W1"], d, stride, pad)
    return grads


# ---- MultiLayerNetExtend -------------------------------------------------------------------


def extend_forward(
    params: Params,
    x: Array,
    *,
    activation: str,
    train: bool,
    running: dict[str, Array] | None = None,
    masks: list[Any] | None = None,
) -> dict[str, Any]:
    """The forward pass; batch normalization when ``gamma1`` is in ``params``, dropout with ``masks``.

    ``running`` holds ``mean{k}`` and ``var{k}`` (test time uses them; training updates them in
    place, as the book's forward pass does). ``masks[k - 1]`` is the boolean mask of hidden layer k
    in training.
    """
    layers = sum(1 for name in params if name.startswith("W"))
    h = x
    caches: list[dict[str, Any]] = []
    for k in range(1, layers):
        cache: dict[str, Any] = {"in": h}
        a = np.dot(h, params[f"W{k}"]) + params[f"b{k}"]
        if f"gamma{k}" in params:
            assert running is not None
            cache["pre_bn"] = a
            if train:
                a, cache["bn"] = book_layers.batchnorm_train(a, params[f"gamma{k}"], params[f"beta{k}"])
                running[f"mean{k}"], running[f"var{k}"] = book_layers.batchnorm_running(
                    running[f"mean{k}"], running[f"var{k}"], cache["bn"]
                )
            else:
                a = book_layers.batchnorm_test(
                    a, params[f"gamma{k}"], params[f"beta{k}"], running[f"mean{k}"], running[f"var{k}"]
                )
        cache["pre_act"] = a
        h = sigmoid(a) if activation == "sigmoid" else relu(a)
        cache["act"] = h
        if masks is not None and train:
            cache["mask"] = masks[k - 1]
            h = h * masks[k - 1]
        caches.append(cache)
    scores = np.dot(h, params[f"W{layers}"]) + params[f"b{layers}"]
    return {"caches": caches, "last": h, "scores": scores}


def extend_test_scores(params: Params, x: Array, activation: str, running: dict[str, Array], ratio: float | None) -> Array:
    """Test-time scores: running statistics, and each dropout output scaled by ``1 - ratio``."""
    layers = sum(1 for name in params if name.startswith("W"))
    h = x
    for k in range(1, layers):
        a = np.dot(h, params[f"W{k}"]) + params[f"b{k}"]
        if f"gamma{k}" in params:
            a = book_layers.batchnorm_test(
                a, params[f"gamma{k}"], params[f"beta{k}"], running[f"mean{k}"], running[f"var{k}"]
            )
        h = sigmoid(a) if activation == "sigmoid" else relu(a)
        if ratio is not None:
            h = h * (1.0 - ratio)
    out: Array = np.dot(h, params[f"W{layers}"]) + params[f"b{layers}"]
    return out


def fresh_running(params: Params) -> dict[str, Array]:
    """Running means and variances at zero, as the book's batch normalization starts."""
    return {
        f"{kind}{name[5:]}": np.zeros(value.shape)
        for name, value in params.items()
        if name.startswith("gamma")
        for kind in ("mean", "var")
    }


def weight_decay(params: Params, lam: float) -> Any:
    decay: Any = 0
    count = sum(1 for name in params if name.startswith("W"))
    for k in range(1, count + 1):
        decay += 0.5 * lam * np.sum(params[f"W{k}"] ** 2)
    return decay


def extend_loss(
    params: Params,
    x: Array,
    t: Array,
    *,
    activation: str,
    lam: float,
    masks: list[Any] | None = None,
) -> Any:
    """The training loss (batch statistics, the given masks) plus the weight decay."""
    f = extend_forward(params, x, activation=activation, train=True, running=fresh_running(params), masks=masks)
    return cross_entropy_error(softmax(f["scores"]), t) + weight_decay(params, lam)


def extend_gradient(
    params: Params,
    x: Array,
    t: Array,
    *,
    activation: str,
    lam: float,
    book_delta: bool,
    masks: list[Any] | None = None,
) -> Params:
    layers = sum(1 for name in params if name.startswith("W"))
    f = extend_forward(params, x, activation=activation, train=True, running=fresh_running(params), masks=masks)
    d = loss_gradient(f["scores"], t, book_delta)
    grads: Params = {
        f"W{layers}": np.dot(f["last"].T, d) + lam * params[f"W{layers}"],
        f"b{layers}": np.sum(d, axis=0),
    }
    d = np.dot(d, params[f"W{layers}"].T)
    for k in range(layers - 1, 0, -1):
        cache = f["caches"][k - 1]
        if masks is not None:
            d = d * cache["mask"]
        if activation == "sigmoid":
            d = d * (1.0 - cache["act"]) * cache["act"]
        else:
            d = np.where(cache["pre_act"] > 0, d, 0.0)
        if f"gamma{k}" in params:
            d, grads[f"gamma{k}"], grads[f"beta{k}"] = book_layers.batchnorm_backward(d, params[f"gamma{k}"], cache["bn"])
        grads[f"W{k}"] = np.dot(cache["in"].T, d) + lam * params[f"W{k}"]
        grads[f"b{k}"] = np.sum(d, axis=0)
        d = np.dot(d, params[f"W{k}"].T)
    return grads
