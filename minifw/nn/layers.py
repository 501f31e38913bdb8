r"""Layers: forward pass, backward pass, and how a change of the input moves the output.

A [`Layer`][minifw.nn.layers.Layer] maps a batch of inputs `x` (rows are examples) to outputs `y` and
keeps three rules side by side:

- [`forward`][minifw.nn.layers.Layer.forward]: \(y = f(x)\);
- [`backward`][minifw.nn.layers.Layer.backward]: the exact gradient, \(\partial L/\partial x\) and
  \(\partial L/\partial \theta\) from \(\partial L/\partial y\) (backpropagation);
- [`change`][minifw.nn.layers.Layer.change]: \(f(x + \Delta x) - f(x)\) for many moves \(\Delta x\) at
  once, computed without the cancellation of subtracting two outputs, so that the tiny moves of a
  finite difference keep their precision.

Numerical gradients of a model built from layers ([`Sequential`][minifw.nn.models.Sequential]) use the
third rule to push the effect of one parameter through only the layers after it, and only through
the rows (examples) it reaches. Layers whose change is a smooth function of the move also give its
Taylor series ([`Activation`][minifw.nn.layers.Activation] through
[`taylor`][minifw.nn.layers.Activation.taylor]), which lets tiny steps be evaluated with a few
multiply-adds.

Examples:
    >>> import numpy as np
    >>> from minifw.nn.layers import Sigmoid
    >>> x = np.array([[0.0, 2.0]])
    >>> y = Sigmoid().forward(x)
    >>> Sigmoid().change(x, y, np.array([[1e-9, 1e-9]]))  # sigma'(x) * 1e-9, to the last digit
    array([[2.50000000e-10, 1.04993585e-10]])

"""

from __future__ import annotations

import abc
import math
from typing import Protocol, final, runtime_checkable

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError, ValidationError
from minifw.nn import _series
from minifw.typing import AnyArray, ArrayLike, FloatArray

__all__ = [
    "Activation",
    "Affine",
    "Layer",
    "ReLU",
    "SeriesLayer",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "sigmoid",
    "softmax",
]


# Score moves up to this size take the precise expm1 route in Softmax.change.
_SMALL_SHIFT = 0.5


def sigmoid(a: ArrayLike) -> AnyArray:
    r"""Return \(\sigma(a) = 1 / (1 + e^{-a})\), elementwise, without overflow.

    Real inputs give float64; complex inputs (a complex step) give complex128.

    Examples:
        >>> sigmoid([-1000.0, 0.0, 1000.0])
        array([0. , 0.5, 1. ])

    """
    arr = np.asarray(a)
    if not np.iscomplexobj(arr):
        arr = arr.astype(np.float64, copy=False)
    positive = arr.real >= 0
    # exp of a non-positive real part never overflows.
    e = np.exp(np.where(positive, -arr, arr))
    result: AnyArray = np.where(positive, 1.0 / (1.0 + e), e / (1.0 + e))
    return result


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


class Layer(abc.ABC):
    r"""One stage of a network: forward, backward and change rules side by side.

    Shapes: `x` is `(R, n_in)` (`R` rows, one per example), `y = forward(x)` is
    `(R, n_out)`. Every method receives the rows it concerns and must not modify its arguments.

    A new layer implements the four members below. Numerical gradients then work for any model
    built from it, and [`backward`][minifw.nn.layers.Layer.backward] gives the exact gradient that
    [`gradcheck`][minifw.nn.gradcheck] checks them against. A smooth elementwise function is simpler
    to write as an [`Activation`][minifw.nn.layers.Activation].
    """

    @property
    @abc.abstractmethod
    def params(self) -> dict[str, FloatArray]:
        """The layer's parameter arrays by local name (`{}` for none); updated in place."""

    @abc.abstractmethod
    def forward(self, x: AnyArray) -> AnyArray:
        """Return the output for inputs `x` of shape `(R, n_in)`."""

    @abc.abstractmethod
    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""Return \(\partial L/\partial x\) and \(\partial L/\partial\theta\) by name.

        `dy` is \(\partial L/\partial y\), the shape of `y`; the parameter gradients sum
        over the rows.
        """

    @abc.abstractmethod
    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""Return \(f(x + \Delta x) - f(x)\) for moves `dx` of the inputs `x`.

        `x`, `y` and `dx` have the same number of rows (each row of `dx` moves the matching row of
        `x`). Compute it so that a tiny move keeps its relative precision (not as
        `forward(x + dx) - y` where a better formula exists), and with complex arithmetic when `dx`
        is complex (a complex step) or raise
        [`DifferentiationError`][minifw.errors.DifferentiationError] where the layer is not
        analytic.
        """


@runtime_checkable
class SeriesLayer(Protocol):
    """A layer that propagates Taylor series of changes (the fast path for tiny steps)."""

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        r"""Return the series of the output change and which rows it is valid for.

        `dx` has shape `(P, R, n_in)`: coefficients of \(u^1, \ldots, u^P\) of each row's input
        move. `reach` (`(R,)`) bounds \(|u|\). The second result is `False` for a row whose series
        cannot be trusted up to that reach (a kink or a pole within reach); those rows are then
        computed with [`Layer.change`][minifw.nn.layers.Layer.change].
        """
        ...


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
            acc = s[r] - sum(s[q] * s[r - q] for q in range(r + 1))
            s.append(acc / (r + 1))
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
            acc = -sum(t[q] * t[r - q] for q in range(r + 1))
            t.append(acc / (r + 1))
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
        after = x + dx
        crossing = np.maximum(after, 0.0) - np.maximum(x, 0.0)
        both_on = (x > 0) & (after > 0)
        result: AnyArray = np.where(both_on, dx, crossing)  # crossing is 0 when both are off
        return result

    def taylor(self, x: AnyArray, y: AnyArray, order: int) -> tuple[AnyArray, FloatArray]:
        r"""Return the slope, then zeros; reach \(|x|\) (the distance to the kink)."""
        coeffs = np.zeros((order, *np.shape(x)))
        coeffs[0] = np.real(x) > 0
        reach: FloatArray = np.abs(np.real(x))
        return coeffs, reach


@final
@attrs.define(eq=False)
class Affine(Layer):
    r"""A fully connected layer \(y = xW + b\).

    `W` is `(n_in, n_out)` and `b` is `(n_out,)`, both float64. A change of the input
    moves the output linearly, \(\Delta y = \Delta x\,W\), and a change \(s\) of
    \(W_{ij}\) (or \(b_j\)) moves only column \(j\) of the output, by
    \(s\,x_{\cdot i}\) (or \(s\)): the structure fast numerical gradients build on.

    Examples:
        >>> import numpy as np
        >>> layer = Affine(W=np.array([[1.0, 2.0]]), b=np.array([0.0, 1.0]))
        >>> layer.forward(np.array([[3.0]]))
        array([[3., 7.]])
        >>> Affine.init(784, 50, std=0.01, rng=np.random.default_rng(0)).W.shape
        (784, 50)

    """

    W: FloatArray = attrs.field()
    b: FloatArray = attrs.field()

    def __attrs_post_init__(self) -> None:
        for name, arr, ndim in (("W", self.W, 2), ("b", self.b, 1)):
            if not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or arr.ndim != ndim:
                got = f"dtype {arr.dtype}, shape {arr.shape}" if isinstance(arr, np.ndarray) else (
                    type(arr).__name__
                )
                raise ValidationError(
                    f"Affine {name} must be a {ndim}-D float64 array, got {got}"
                )
        if self.b.shape[0] != self.W.shape[1]:
            raise ValidationError(
                f"Affine b must have one entry per column of W ({self.W.shape[1]}), "
                f"got shape {self.b.shape}"
            )

    @classmethod
    def init(cls, n_in: int, n_out: int, *, std: float, rng: np.random.Generator) -> Affine:
        """Return a layer with `W = std * rng.standard_normal((n_in, n_out))` and `b = 0`."""
        return cls(W=std * rng.standard_normal((n_in, n_out)), b=np.zeros(n_out))

    @property
    def params(self) -> dict[str, FloatArray]:
        """`{"W": W, "b": b}`."""
        return {"W": self.W, "b": self.b}

    def forward(self, x: AnyArray) -> AnyArray:
        r"""Return \(xW + b\)."""
        result: AnyArray = x @ self.W + self.b
        return result

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""\(\partial L/\partial x = \delta W^\top\), \(\nabla W = x^\top\delta\),
        \(\nabla b = \sum_n \delta_n\) (with \(\delta = \partial L/\partial y\)).
        """  # noqa: D205
        return dy @ self.W.T, {"W": x.T @ dy, "b": dy.sum(axis=0)}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""\(\Delta y = \Delta x\,W\) (exact: the layer is linear)."""
        result: AnyArray = dx @ self.W
        return result

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Each coefficient times `W` (valid everywhere)."""
        result: AnyArray = dx @ self.W
        return result, np.ones(dx.shape[1], dtype=bool)


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
