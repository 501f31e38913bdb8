r"""Truncated power series of *changes*, for the fast path of layered objectives.

A change \(\Delta(u) = f(a + \ldots) - f(a)\) that vanishes at \(u = 0\) is stored as its
Taylor coefficients in \(u\): an array `c` of shape `(P, ...)` with `c[p - 1]` the
coefficient of \(u^p\), for \(p = 1, \ldots, P\). The trailing axes hold many such
series side by side (one per example and hidden unit, say); every operation acts on all of them
at once and truncates at order `P`. The constant term is always zero, which is what lets a
change be represented without cancellation: the series of \(\sigma(a + u) - \sigma(a)\)
starts at \(\sigma'(a)\,u\), and evaluating it for a tiny \(u\) keeps full relative
precision, where subtracting two values of \(\sigma\) would not.

Examples:
    >>> import numpy as np
    >>> u = np.array([[1.0], [0.0], [0.0]])          # the series of u itself, to order 3
    >>> e = exp_change(u)                             # exp(u) - 1 = u + u^2/2 + u^3/6
    >>> e[:, 0].tolist()
    [1.0, 0.5, 0.16666666666666666]
    >>> six = exp_change(np.array([[1.0]] + [[0.0]] * 5))   # to order 6: the error is ~u^7/7!
    >>> bool(abs(evaluate(six, 1e-3)[0] - np.expm1(1e-3)) < 1e-18)
    True

"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "compose",
    "evaluate",
    "exp_change",
    "log1p",
    "magnitude",
    "multiply",
    "reciprocal_change",
]

Series = NDArray[Any]


def multiply(a: Series, b: Series, low_a: int = 1, low_b: int = 1) -> Series:
    r"""Return the series of \(a(u)\,b(u)\) (both without constant term), truncated.

    \((ab)_p = \sum_q a_q\,b_{p-q}\). `low_a` and `low_b` are the lowest orders that
    can be non-zero in `a` and `b` (1 unless known higher, as for a power \(d^r\)); terms
    below them are skipped.

    Examples:
        >>> multiply(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])).tolist()
        [0.0, 1.0, 2.0]

    """
    order = a.shape[0]
    shape = a.shape if a.shape == b.shape else np.broadcast_shapes(a.shape, b.shape)
    out = np.zeros(shape, dtype=np.result_type(a, b))
    scratch = np.empty(shape[1:], dtype=out.dtype)
    # Each order's products accumulated in place, one row at a time: no temporaries the size of
    # the whole series.
    for p in range(low_a + low_b, order + 1):
        acc = out[p - 1, ...]  # a view, also of a 0-d row
        for q in range(low_a, p - low_b + 1):
            np.multiply(a[q - 1], b[p - q - 1], out=scratch)
            acc += scratch
    return out


def compose(outer: Series, inner: Series, low: int = 1) -> Series:
    r"""Return the series of \(g(d(u)) = \sum_r g_r\,d(u)^r\) for inner series \(d\).

    `outer[r - 1]` is \(g_r\), the Taylor coefficient of the outer change (say
    \(f(a + v) - f(a)\) in \(v\)), broadcast against `inner[0]`; it may hold fewer orders than
    `inner` (the others taken as 0). `low` is the lowest order that can be non-zero in `inner`.
    Orders whose coefficients are all zero (all but the first, for a piecewise linear function)
    cost nothing.

    Examples:
        >>> d = np.array([1.0, 1.0, 0.0])                 # d(u) = u + u^2
        >>> compose(np.array([1.0, 1.0, 0.0]), d).tolist()  # d + d^2 = u + 2u^2 + 2u^3
        [1.0, 2.0, 2.0]
        >>> compose(np.array([1.0, 1.0]), d).tolist()       # the same, the outer series shorter
        [1.0, 2.0, 2.0]

    """
    order = inner.shape[0]
    top = min(outer.shape[0], order // low)
    if low == 1 and order > 1 and not inner[1:].any():
        # d(u) = c u: the composition is g_r c^r u^r, no products of series.
        shape = np.broadcast_shapes(outer.shape[1:], inner.shape[1:])
        monomial: Series = np.zeros((order, *shape), dtype=np.result_type(outer, inner))
        power = inner[0]
        for r in range(1, top + 1):
            monomial[r - 1] = outer[r - 1] * power
            power = power * inner[0]
        return monomial
    used = [r for r in range(2, top + 1) if np.any(outer[r - 1])]
    out = outer[0] * inner
    power = inner
    for r in range(2, (used[-1] if used else 1) + 1):
        power = multiply(power, inner, low_a=(r - 1) * low, low_b=low)  # d^r: zero below r low
        if r in used:
            out = out + outer[r - 1] * power
    result: Series = out
    return result


def exp_change(d: Series) -> Series:
    r"""Return the series of \(e^{d(u)} - 1\).

    With \(E = e^{d}\), \(E' = E\,d'\) gives
    \(p\,e_p = \sum_{q=1}^{p} q\,d_q\,e_{p-q}\) with \(e_0 = 1\).

    Examples:
        >>> exp_change(np.array([2.0, 0.0, 0.0])).tolist()   # e^{2u} - 1 = 2u + 2u^2 + 4u^3/3
        [2.0, 2.0, 1.3333333333333333]

    """
    order = d.shape[0]
    out = np.empty_like(d)
    scratch = np.empty(d.shape[1:], dtype=d.dtype)
    for p in range(1, order + 1):
        acc = out[p - 1, ...]  # a view, also of a 0-d row
        np.multiply(d[p - 1], p, out=acc)
        for q in range(1, p):
            np.multiply(d[q - 1], q, out=scratch)  # (q d_q) out_{p-q}: the order of the old sums
            scratch *= out[p - q - 1]
            acc += scratch
        acc /= p
    return out


def reciprocal_change(s: Series) -> Series:
    r"""Return the series of \(1 / (1 + s(u)) - 1\).

    With \((1 + s)(1 + r) = 1\): \(r_p = -s_p - \sum_{q=1}^{p-1} s_q\,r_{p-q}\).

    Examples:
        >>> reciprocal_change(np.array([1.0, 0.0, 0.0])).tolist()  # 1/(1+u) - 1 = -u + u^2 - u^3
        [-1.0, 1.0, -1.0]

    """
    order = s.shape[0]
    out = np.empty_like(s)
    scratch = np.empty(s.shape[1:], dtype=s.dtype)
    for p in range(1, order + 1):
        acc = out[p - 1, ...]  # a view, also of a 0-d row
        np.negative(s[p - 1], out=acc)
        for q in range(1, p):
            np.multiply(s[q - 1], out[p - q - 1], out=scratch)
            acc -= scratch
    return out


def log1p(x: Series) -> Series:
    r"""Return the series of \(\log(1 + x(u))\).

    With \(L = \log(1 + x)\), \((1 + x) L' = x'\) gives
    \(p\,l_p = p\,x_p - \sum_{q=1}^{p-1} q\,l_q\,x_{p-q}\).

    Examples:
        >>> log1p(np.array([1.0, 0.0, 0.0])).tolist()  # u - u^2/2 + u^3/3
        [1.0, -0.5, 0.3333333333333333]

    """
    order = x.shape[0]
    out = np.empty_like(x)
    scratch = np.empty(x.shape[1:], dtype=x.dtype)
    for p in range(1, order + 1):
        acc = out[p - 1, ...]  # a view, also of a 0-d row
        np.multiply(x[p - 1], p, out=acc)
        for q in range(1, p):
            np.multiply(out[q - 1], q, out=scratch)  # (q out_q) x_{p-q}: the order of the old sums
            scratch *= x[p - q - 1]
            acc -= scratch
        acc /= p
    return out


def magnitude(c: Series, radius: NDArray[Any] | float) -> NDArray[np.float64]:
    r"""Return \(\sum_p |c_p|\,U^p\), a bound on \(|c(u)|\) for \(|u| \le U\).

    `radius` (\(U\)) broadcasts against `c[0]`. By Horner's rule, in place.

    Examples:
        >>> float(magnitude(np.array([1.0, -2.0]), 0.5))
        1.0

    """
    size = np.abs(c)
    out = np.array(size[-1] * radius, dtype=np.float64)
    for p in range(c.shape[0] - 2, -1, -1):
        out += size[p]
        out *= radius
    return out


def evaluate(c: Series, u: Any) -> NDArray[Any]:
    r"""Return \(\sum_p c_p\,u^p\) by Horner's rule (`u` broadcasts against `c[0]`).

    Examples:
        >>> float(evaluate(np.array([1.0, 1.0]), 2.0))  # u + u^2 at 2
        6.0

    """
    out = c[-1] * u
    for p in range(c.shape[0] - 2, -1, -1):
        out = (out + c[p]) * u
    result: NDArray[Any] = np.asarray(out)
    return result
