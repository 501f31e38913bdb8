r"""Activations: elementwise functions, each with its forward, slope, change and Taylor rules.

An [`Activation`][minifw.nn.layers.Activation] says four things about \(f\) (`forward`, `slope`,
`change`, `taylor`); backward passes, series and the [elementwise][minifw.nn.layers.Elementwise]
rules that keep a move of one unit a move of one unit follow from those. The book's
[`Sigmoid`][minifw.nn.layers.Sigmoid] and [`ReLU`][minifw.nn.layers.ReLU], and
[`Tanh`][minifw.nn.layers.Tanh].

Examples:
    >>> import numpy as np
    >>> x = np.array([[0.0, 2.0]])
    >>> y = Sigmoid().forward(x)
    >>> Sigmoid().change(x, y, np.array([[1e-9, 1e-9]]))  # sigma'(x) * 1e-9, to the last digit
    array([[2.50000000e-10, 1.04993585e-10]])

"""

from __future__ import annotations

import abc
import math
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError
from minifw.nn import _series
from minifw.nn.layers.layer import Layer
from minifw.typing import AnyArray, ArrayLike, FloatArray

__all__ = ["Activation", "ReLU", "Sigmoid", "Tanh", "sigmoid"]


def sigmoid(a: ArrayLike) -> AnyArray:
    r"""Return \(\sigma(a) = 1 / (1 + e^{-a})\), elementwise, without overflow.

    Real inputs give float64, computed as the book does, \(1 / (1 + e^{-a})\), bit for bit (where
    \(e^{-a}\) overflows the result is 0, exactly, without a warning); complex inputs (a complex
    step) give complex128, from the side whose exponential cannot overflow.

    Examples:
        >>> sigmoid([-1000.0, 0.0, 1000.0])
        array([0. , 0.5, 1. ])

    """
    arr = np.asarray(a)
    if np.iscomplexobj(arr):
        positive = arr.real >= 0
        # exp of a non-positive real part never overflows.
        e = np.exp(np.where(positive, -arr, arr))
        complex_result: AnyArray = np.where(positive, 1.0 / (1.0 + e), e / (1.0 + e))
        return complex_result
    with np.errstate(over="ignore"):
        result: AnyArray = 1.0 / (1.0 + np.exp(-arr.astype(np.float64, copy=False)))
    return result


class Activation(Layer):
    r"""An elementwise function \(y = f(x)\) without parameters.

    Subclasses give [`forward`][minifw.nn.layers.Layer.forward],
    [`slope`][minifw.nn.layers.Activation.slope] (\(f'\)), [`change`][minifw.nn.layers.Layer.change] and
    [`taylor`][minifw.nn.layers.Activation.taylor] (the Taylor coefficients of \(f(x + v) - f(x)\) in
    \(v\) and how far they reach); backward passes and series follow from those.

    Examples:
        >>> import numpy as np
        >>> x = np.array([[0.5]])
        >>> Tanh().backward(x, Tanh().forward(x), np.ones((1, 1)))[0].round(6)
        array([[0.786448]])

    """

    @property
    @final
    def params(self) -> dict[str, FloatArray]:
        """No parameters."""
        return {}

    @abc.abstractmethod
    def slope(self, x: AnyArray, y: AnyArray) -> AnyArray:
        r"""Return \(f'(x)\) elementwise (`y = f(x)` is given)."""

    @abc.abstractmethod
    def taylor(self, x: AnyArray, y: AnyArray, order: int) -> tuple[AnyArray, FloatArray]:
        r"""Return the Taylor coefficients of \(f(x + v) - f(x)\) in \(v\), and a reach.

        The coefficients have shape `(order, *x.shape)`, `[p - 1]` holding the coefficient of
        \(v^p\). The reach (shape of `x`) is a radius within which the series converges
        (the distance to the nearest singularity or kink; `inf` for a polynomial).
        """

    @final
    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""\(\partial L/\partial x = f'(x) \odot \partial L/\partial y\)."""
        return dy * self.slope(x, y), {}

    @final
    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Compose `taylor` with the input series (see `SeriesLayer`)."""
        coeffs, radius = self.taylor(x, y, dx.shape[0])
        moved = _series.magnitude(dx, _expand(reach, dx.ndim - 1))
        # Trust the series where the input moves by at most half the convergence radius.
        inside: NDArray[np.bool_] = np.asarray(moved <= 0.5 * radius, dtype=bool)
        ok: NDArray[np.bool_] = np.all(inside.reshape(inside.shape[0], -1), axis=1)
        return _series.compose(coeffs, dx), ok

    @final
    def unit_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        """[`change`][minifw.nn.layers.Layer.change] of gathered units (it is elementwise)."""
        return self.change(x, y, dx)

    @final
    def unit_series(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """[`series_change`][minifw.nn.layers.Activation.series_change] of gathered units."""
        return self.series_change(x, y, dx, reach)


def _self_convolution(c: list[AnyArray], r: int) -> AnyArray:
    r"""Return \(\sum_{q=0}^{r} c_q c_{r-q}\), each product once and doubled (it is symmetric)."""
    acc = c[0] * c[r]
    for q in range(1, (r + 1) // 2):
        acc += c[q] * c[r - q]
    acc *= 2.0
    if r % 2 == 0:
        acc += c[r // 2] * c[r // 2]
    return acc


def _expand(reach: FloatArray, ndim: int) -> FloatArray:
    """Give `reach` (one value per row) trailing axes to broadcast against `ndim` axes."""
    return reach.reshape(reach.shape + (1,) * (ndim - 1))


@final
@attrs.define(eq=False)
class Sigmoid(Activation):
    r"""The logistic function \(\sigma(x) = 1 / (1 + e^{-x})\).

    Change without cancellation:
    \(\sigma(x + d) - \sigma(x) = \sigma(x + d)\,\sigma(-x)\,(1 - e^{-d})\).

    Examples:
        >>> import numpy as np
        >>> Sigmoid().forward(np.array([[0.0, 1.0]])).round(6)
        array([[0.5     , 0.731059]])

    """

    def forward(self, x: AnyArray) -> AnyArray:
        r"""Return \(\sigma(x)\)."""
        return sigmoid(x)

    def slope(self, x: AnyArray, y: AnyArray) -> AnyArray:
        r"""\(\sigma'(x) = \sigma(x)(1 - \sigma(x)) = \sigma(x)\,\sigma(-x)\)."""
        result: AnyArray = y * sigmoid(-x)
        return result

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""\(\sigma(x + d)\,\sigma(-x)\,(1 - e^{-d})\) for moves below 1/2, else a difference.

        (\(1 - \sigma(x) = \sigma(-x)\).) A large move changes the output by much more than
        its rounding, so there the plain difference is as precise and avoids huge exponentials.
        """
        after = sigmoid(x + dx)
        with np.errstate(over="ignore", invalid="ignore"):
            precise = after * sigmoid(-x) * -np.expm1(-dx)
        result: AnyArray = np.where(np.abs(dx) > 0.5, after - y, precise)
        return result

    def taylor(self, x: AnyArray, y: AnyArray, order: int) -> tuple[AnyArray, FloatArray]:
        r"""Coefficients from \(\sigma' = \sigma(1 - \sigma)\); reach \(\sqrt{x^2 + \pi^2}\).

        With \(\sigma(x + v) = \sum_r s_r v^r\):
        \((r + 1)\,s_{r+1} = s_r - \sum_{q=0}^{r} s_q s_{r-q}\), \(s_0 = \sigma(x)\).
        """
        # s_1 = sigma(x) sigma(-x) directly: y (1 - y) would lose digits where y is near 1.
        s = [np.asarray(y), self.slope(x, y)]
        for r in range(1, order):
            s.append((s[r] - _self_convolution(s, r)) / (r + 1))
        reach: FloatArray = np.hypot(np.real(x), math.pi)
        return np.stack(s[1:]), reach


@final
@attrs.define(eq=False)
class Tanh(Activation):
    r"""The hyperbolic tangent.

    Change without cancellation:
    \(\tanh(x + d) - \tanh(x) = \sinh(d) / (\cosh(x)\cosh(x + d))\).

    Examples:
        >>> import numpy as np
        >>> Tanh().forward(np.array([[0.0, 1.0]])).round(6)
        array([[0.      , 0.761594]])

    """

    def forward(self, x: AnyArray) -> AnyArray:
        r"""Return \(\tanh(x)\)."""
        result: AnyArray = np.tanh(x)
        return result

    def slope(self, x: AnyArray, y: AnyArray) -> AnyArray:
        r"""\(\tanh'(x) = 1 - \tanh^2(x) = 1/\cosh^2(x)\) (the latter keeps its digits)."""
        with np.errstate(over="ignore"):
            result: AnyArray = 1.0 / np.cosh(x) ** 2
        return result

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""\(\sinh(d) / (\cosh(x)\cosh(x + d))\) for moves below 1/2, else a difference.

        A large move changes the output by much more than its rounding, and far out (beyond
        \(|x| = 350\)) the hyperbolic functions would overflow: there a plain difference is
        as precise.
        """
        after = x + dx
        far = (np.abs(np.real(x)) > 350) | (np.abs(np.real(after)) > 350) | (np.abs(dx) > 0.5)
        with np.errstate(over="ignore", invalid="ignore"):
            precise = np.sinh(dx) / (np.cosh(x) * np.cosh(after))
        result: AnyArray = np.where(far, np.tanh(after) - y, precise)
        return result

    def taylor(self, x: AnyArray, y: AnyArray, order: int) -> tuple[AnyArray, FloatArray]:
        r"""Coefficients from \(\tanh' = 1 - \tanh^2\); reach \(\sqrt{x^2 + \pi^2/4}\).

        \((r + 1)\,t_{r+1} = [r = 0] - \sum_{q=0}^{r} t_q t_{r-q}\), \(t_0 = \tanh(x)\).
        """
        # t_1 = 1 / cosh(x)^2 directly: 1 - y^2 would lose digits where |y| is near 1.
        t = [np.asarray(y), self.slope(x, y)]
        for r in range(1, order):
            t.append(-_self_convolution(t, r) / (r + 1))
        reach: FloatArray = np.hypot(np.real(x), math.pi / 2)
        return np.stack(t[1:]), reach


@final
@attrs.define(eq=False)
class ReLU(Activation):
    r"""The rectifier \(\max(x, 0)\).

    A change that stays on one side of 0 is \(d\) (or 0); one that crosses the kink is
    computed from both sides. The slope at exactly 0 is taken as 0, as the book's backward pass
    does. A complex step is refused at the kink, where the function is not analytic.

    Examples:
        >>> import numpy as np
        >>> x = np.array([[-1.0, 0.5]])
        >>> ReLU().change(x, ReLU().forward(x), np.array([[2.0, 1e-9]]))
        array([[1.e+00, 1.e-09]])

    """

    def forward(self, x: AnyArray) -> AnyArray:
        r"""Return \(\max(x, 0)\)."""
        result: AnyArray = np.maximum(x, 0.0)
        return result

    def slope(self, x: AnyArray, y: AnyArray) -> AnyArray:
        r"""1 where \(x > 0\), else 0."""
        result: AnyArray = (np.real(x) > 0).astype(np.float64)
        return result

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        """`dx` where both sides are positive, 0 where neither is, else the difference."""
        if np.iscomplexobj(dx) or np.iscomplexobj(x):
            xr = np.real(x)
            moved = (dx != 0) & np.broadcast_to(xr == 0, np.broadcast_shapes(xr.shape, dx.shape))
            if np.any(moved):
                raise DifferentiationError(
                    "ReLU is not analytic at its kink: a complex step cannot pass an input "
                    "that is exactly 0; use a real scheme such as CentralDiff"
                )
            result_c: AnyArray = np.where(xr > 0, dx, 0.0)
            return result_c
        # max(x + d, 0) - max(x, 0) as max(d + min(x, 0), -y): d itself where both sides are
        # positive, -x where the move switches the unit off, x + d (rounded once) where it
        # switches it on, 0 where neither side is positive. Two passes over the moves.
        result: AnyArray = np.maximum(dx + np.minimum(x, 0.0), -np.asarray(y))
        return result

    def linear_reach(self, x: AnyArray, y: AnyArray) -> tuple[AnyArray, AnyArray]:
        r"""Return the slope (1 above 0, else 0) and the reach \(|x|\): linear up to the kink."""
        return self.slope(x, y), np.abs(np.real(x))

    def taylor(self, x: AnyArray, y: AnyArray, order: int) -> tuple[AnyArray, FloatArray]:
        r"""Return the slope, then zeros; reach \(|x|\) (the distance to the kink)."""
        coeffs = np.zeros((order, *np.shape(x)))
        coeffs[0] = np.real(x) > 0
        reach: FloatArray = np.abs(np.real(x))
        return coeffs, reach
