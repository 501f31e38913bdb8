"""An independent re-implementation of the book's chapter 6 and 7 layers, for tests.

Written from the book's descriptions, using nothing from minifw: ``im2col`` (every filter position
copied with one strided slice, patches as rows), convolution as ``im2col`` times the flattened
filters, max pooling as the maximum of each ``im2col`` row group, the backward passes through
``col2im``; batch normalization as the book's computation graph (mean, centre, variance,
``std = sqrt(var + 10e-7)``, normalize, scale and shift; running mean and variance with momentum
0.9; the backward pass node by node); dropout as ``x * mask`` in training and ``x * (1 - ratio)``
at test time. Plain functions over arrays, the book's order of operations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
EPS = 10e-7


def out_size(size: int, filt: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - filt) // stride + 1


def im2col(x: Array, fh: int, fw: int, stride: int = 1, pad: int = 0) -> Array:
    n, c, h, w = x.shape
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, fh, fw, oh, ow))
    for i in range(fh):
        for j in range(fw):
            col[:, :, i, j, :, :] = img[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    out: Array = col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)
    return out


def col2im(col: Array, shape: tuple[int, ...], fh: int, fw: int, stride: int = 1, pad: int = 0) -> Array:
    n, c, h, w = shape
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    patches = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for i in range(fh):
        for j in range(fw):
            img[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += patches[:, :, i, j, :, :]
    out: Array = img[:, :, pad : h + pad, pad : w + pad]
    return out


def conv_forward(x: Array, w: Array, b: Array, stride: int, pad: int) -> Array:
    fn, _, fh, fw = w.shape
    n, _, h, width = x.shape
    oh, ow = out_size(h, fh, stride, pad), out_size(width, fw, stride, pad)
    col = im2col(x, fh, fw, stride, pad)
    out = np.dot(col, w.reshape(fn, -1).T) + b
    result: Array = out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)
    return result


def conv_backward(
    x: Array, w: Array, dout: Array, stride: int, pad: int
) -> tuple[Array, Array, Array]:
    """Return dx, dW, db."""
    fn, c, fh, fw = w.shape
    d = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
    col = im2col(x, fh, fw, stride, pad)
    db = np.sum(d, axis=0)
    dw = np.dot(col.T, d).transpose(1, 0).reshape(fn, c, fh, fw)
    dcol = np.dot(d, w.reshape(fn, -1))
    return col2im(dcol, x.shape, fh, fw, stride, pad), dw, db


def pool_forward(x: Array, ph: int, pw: int, stride: int) -> Array:
    n, c, h, w = x.shape
    oh, ow = out_size(h, ph, stride, 0), out_size(w, pw, stride, 0)
    col = im2col(x, ph, pw, stride, 0).reshape(-1, ph * pw)
    out: Array = np.max(col, axis=1).reshape(n, oh, ow, c).transpose(0, 3, 1, 2)
    return out


def pool_backward(x: Array, dout: Array, ph: int, pw: int, stride: int) -> Array:
    col = im2col(x, ph, pw, stride, 0).reshape(-1, ph * pw)
    arg = np.argmax(col, axis=1)
    d = dout.transpose(0, 2, 3, 1)
    dmax: Any = np.zeros((d.size, ph * pw))
    dmax[np.arange(arg.size), arg.flatten()] = d.flatten()
    dmax = dmax.reshape((*d.shape, ph * pw))
    dcol = dmax.reshape(dmax.shape[0] * dmax.shape[1] * dmax.shape[2], -1)
    return col2im(dcol, x.shape, ph, pw, stride, 0)


def batchnorm_train(x: Array, gamma: Array, beta: Array) -> tuple[Array, dict[str, Any]]:
    """Forward in training: the output and what the backward pass and the running stats need."""
    shape = x.shape
    x2 = x.reshape(shape[0], -1)
    mu = x2.mean(axis=0)
    xc = x2 - mu
    var = np.mean(xc**2, axis=0)
    std = np.sqrt(var + EPS)
    xn = xc / std
    out = gamma * xn + beta
    return out.reshape(shape), {"mu": mu, "var": var, "xc": xc, "xn": xn, "std": std, "n": shape[0]}


def batchnorm_test(x: Array, gamma: Array, beta: Array, mean: Array, var: Array) -> Array:
    x2 = x.reshape(x.shape[0], -1)
    xn = (x2 - mean) / (np.sqrt(var + EPS))
    out: Array = (gamma * xn + beta).reshape(x.shape)
    return out


def batchnorm_running(mean: Array, var: Array, cache: dict[str, Any], momentum: float = 0.9) -> tuple[Array, Array]:
    return momentum * mean + (1 - momentum) * cache["mu"], momentum * var + (1 - momentum) * cache["var"]


def batchnorm_backward(dout: Array, gamma: Array, cache: dict[str, Any]) -> tuple[Array, Array, Array]:
    """Return dx, dgamma, dbeta, node by node."""
    shape = dout.shape
    d = dout.reshape(shape[0], -1)
    dbeta = d.sum(axis=0)
    dgamma = np.sum(cache["xn"] * d, axis=0)
    dxn = gamma * d
    dxc = dxn / cache["std"]
    dstd = -np.sum((dxn * cache["xc"]) / (cache["std"] * cache["std"]), axis=0)
    dvar = 0.5 * dstd / cache["std"]
    dxc += (2.0 / cache["n"]) * cache["xc"] * dvar
    dmu = np.sum(dxc, axis=0)
    dx = dxc - dmu / cache["n"]
    return dx.reshape(shape), dgamma, dbeta


def dropout_mask(uniform: Array, ratio: float) -> NDArray[np.bool_]:
    """The book's mask from uniform draws: kept where the draw exceeds the ratio."""
    mask: NDArray[np.bool_] = uniform > ratio
    return mask
