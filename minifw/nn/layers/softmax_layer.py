r"""Softmax: probabilities from scores, with its change rule and its rule for a loss after it.

Beside forward, backward, change and series, [`Softmax`][minifw.nn.layers.Softmax] says how
chosen probabilities move *relatively* when the scores move along fixed vectors
([`relative_series`][minifw.nn.layers.Softmax.relative_series], the moments trick): all a
cross-entropy with one target class needs, in a handful of multiply-adds per example instead of
one exponential per class.

Examples:
    >>> softmax([1010.0, 1000.0, 990.0]).round(6).tolist()
    [0.999955, 4.5e-05, 0.0]

"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.nn import _series
from minifw.nn.layers.layer import Layer
from minifw.typing import AnyArray, ArrayLike, FloatArray, IntArray

__all__ = ["Softmax", "softmax"]


# Score moves up to this size take the precise expm1 route in Softmax.change.
_SMALL_SHIFT = 0.5


def softmax(a: ArrayLike) -> AnyArray:
    r"""Return \(y_k = e^{a_k} / \sum_m e^{a_m}\) along the last axis, without overflow.

    The largest score is subtracted first (its real part, for complex scores), which changes
    nothing mathematically.

    Examples:
        >>> softmax([1010.0, 1000.0, 990.0]).round(6).tolist()
        [0.999955, 4.5e-05, 0.0]

    """
    arr = np.asarray(a)
    if not np.iscomplexobj(arr):
        arr = arr.astype(np.float64, copy=False)
    e = np.exp(arr - arr.real.max(axis=-1, keepdims=True))
    result: AnyArray = e / e.sum(axis=-1, keepdims=True)
    return result


@final
@attrs.define(eq=False)
class Softmax(Layer):
    r"""Probabilities from scores, row by row: \(y_k = e^{x_k} / \sum_m e^{x_m}\).

    A move \(\delta\) of the scores gives \(y'_k - y_k = y_k (e_k - s) / (1 + s)\) with
    \(e = \operatorname{expm1}(\delta)\) and \(s = \sum_k y_k e_k\): no cancellation, so
    tiny moves keep their precision.

    Examples:
        >>> import numpy as np
        >>> x = np.array([[0.0, 0.0]])
        >>> Softmax().change(x, Softmax().forward(x), np.array([[1e-8, 0.0]]))
        array([[ 2.5e-09, -2.5e-09]])

    """

    @property
    def params(self) -> dict[str, FloatArray]:
        """No parameters."""
        return {}

    def forward(self, x: AnyArray) -> AnyArray:
        """Return [`softmax`][minifw.nn.layers.softmax] of each row."""
        return softmax(x)

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""\(\partial L/\partial x = y \odot (g - \langle g, y\rangle)\), \(g = \partial L/\partial y\)."""
        result: AnyArray = y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
        return result, {}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""\(y \odot (e - s)/(1 + s)\) for moves up to 1/2, else a difference.

        A large move changes the probabilities by much more than their rounding, and
        \(1 + s\) would lose digits when every score drops a lot; there the new
        probabilities (a shifted exponential, no overflow) minus the old are as precise.
        """
        if np.iscomplexobj(dx) or float(np.max(np.abs(dx), initial=0.0)) <= _SMALL_SHIFT:
            e = np.expm1(dx)
            s = np.sum(y * e, axis=-1, keepdims=True)
            small: AnyArray = y * (e - s) / (1.0 + s)
            return small
        w = y * np.exp(dx - dx.max(axis=-1, keepdims=True))
        large: AnyArray = w / w.sum(axis=-1, keepdims=True) - y
        return large

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        r"""Return the series of \(y \odot (e - s)/(1 + s)\) from those of \(e\) and \(s\).

        Trusted where \(|s| \le 1/2\) within reach (`1 + s` stays away from 0).
        """
        e = _series.exp_change(dx)
        s = np.einsum("rk,prk->pr", y, e)[..., None]
        inv = _series.reciprocal_change(s)
        diff = e - s
        result: AnyArray = y * (diff + _series.multiply(diff, inv))
        ok = _series.magnitude(s[..., 0], reach) <= 0.5
        return result, ok

    def relative_series(
        self, y: AnyArray, w: AnyArray, outputs: IntArray, order: int, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        r"""Return the series in \(z\) of \(y'_c / y_c - 1\) when the scores move by \(z\,w\).

        Lane `n * V + v` moves the scores of example `n` along `w[v]` (or `w[n, v]`, vectors per
        example); \(c\) is `outputs[n]`. With \(e^{z w_k} - 1 = \sum_m w_k^m z^m/m!\),
        \(s = \sum_k y_k (e^{z w_k} - 1) = \sum_m M_m z^m/m!\) with the moments
        \(M_m = \sum_k y_k w_k^m\): a handful of multiply-adds per lane instead of one exponential
        per class. Then \(y'_c / y_c - 1 = (e_c - s)/(1 + s)\), trusted where \(|s| \le 1/2\)
        within reach (`1 + s` stays away from 0).

        Examples:
            >>> import numpy as np
            >>> y = softmax(np.array([[0.0, 0.0]]))
            >>> relative, ok = Softmax().relative_series(y, np.array([[1.0, 0.0]]), np.array([0]),
            ...                                          2, np.array([1e-3]))
            >>> relative[:, 0].tolist(), ok.tolist()              # y0'/y0 - 1 = z/2 - 0 z^2 ...
            ([0.5, 0.0], [True])

        """
        # The m-th powers of the vectors, m = 1..order: (order, V, K) or (order, N, V, K).
        w_powers = np.empty((order, *w.shape))
        w_powers[0] = w
        for m in range(1, order):
            np.multiply(w_powers[m - 1], w, out=w_powers[m])
        factorials = np.cumprod(np.arange(1.0, order + 1))
        if w.ndim == 2:  # the same vectors for every example
            moments = np.matmul(y, w_powers.transpose(0, 2, 1))  # (order, N, V)
            chosen = w_powers[:, :, outputs].transpose(0, 2, 1)
        else:  # a set per example
            moments = np.matmul(w_powers, y[None, :, :, None])[..., 0]
            chosen = w_powers[:, np.arange(y.shape[0]), :, outputs].transpose(1, 0, 2)
        s = moments.reshape(order, -1) / factorials[:, None]
        diff = chosen.reshape(order, -1) / factorials[:, None] - s
        relative: AnyArray = diff + _series.multiply(diff, _series.reciprocal_change(s))
        return relative, _series.magnitude(s, reach) <= 0.5
