r"""How a loss moves when its predictions move: precise changes, Taylor series and gradients.

A [`Loss`][minifw.nn.losses.Loss] only says what one example costs. Fast numerical gradients also need
the *change* of that cost when a prediction moves a little, computed without the cancellation of
subtracting two values, and (for tiny moves) its Taylor series; backpropagation needs its
gradient. These are functions of the loss type, kept here apart from the losses:

- [`loss_change`][minifw.nn.loss_changes.loss_change] and
  [`loss_series`][minifw.nn.loss_changes.loss_series] dispatch on the loss's class
  (`functools.singledispatch`): the built-in losses have precise rules, any other loss falls back to
  two evaluations of [`per_example`][minifw.nn.losses.Loss.per_example] (and to no series). Register a
  rule for your own loss with `@loss_change.register`.
- [`loss_gradient`][minifw.nn.loss_changes.loss_gradient] uses the loss's own `per_example_grad` method
  where it has one ([`HasLossGradient`][minifw.nn.loss_changes.HasLossGradient]).

Examples:
    >>> import numpy as np
    >>> from minifw import CrossEntropy
    >>> y, t = np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]])
    >>> loss_change(CrossEntropy(), y, np.array([[-1e-12, 1e-12]]), t)  # -log1p(1e-12 / 0.5000001)
    array([-1.9999996e-12])

"""

from __future__ import annotations

import functools
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from minifw.errors import NotSupportedError
from minifw.nn import _series
from minifw.nn.losses import CrossEntropy, Loss, MeanSquared
from minifw.typing import AnyArray, FloatArray

__all__ = ["HasLossGradient", "loss_change", "loss_gradient", "loss_series", "single_targets"]



@functools.singledispatch
def loss_change(loss: Loss, y: AnyArray, dy: AnyArray, t: FloatArray) -> AnyArray:
    r"""Return \(\ell(y_r + \Delta y_r, t_r) - \ell(y_r, t_r)\) for each row, shape `(R,)`.

    `y`, `dy` and `t` are `(R, K)`. The default evaluates
    [`per_example`][minifw.nn.losses.Loss.per_example] twice, which is right for every loss; the
    built-in losses register forms without cancellation.

    Examples:
        >>> import attrs, numpy as np
        >>> from typing import final
        >>> @final
        ... @attrs.frozen
        ... class Absolute(Loss):
        ...     def per_example(self, y, t):
        ...         return np.abs(y - t).sum(axis=1)
        >>> loss_change(Absolute(), np.array([[0.5]]), np.array([[0.25]]), np.array([[0.0]]))
        array([0.25])

    """
    after = loss.per_example(y + dy, t)
    before = loss.per_example(y, t)
    result: AnyArray = np.asarray(after) - np.asarray(before)
    return result


@loss_change.register
def _(loss: MeanSquared, y: AnyArray, dy: AnyArray, t: FloatArray) -> AnyArray:
    r"""\(\sum_k \Delta y_k\,(y_k - t_k + \tfrac12 \Delta y_k)\)."""
    result: AnyArray = np.sum(dy * ((y - t) + 0.5 * dy), axis=-1)
    return result


@loss_change.register
def _(loss: CrossEntropy, y: AnyArray, dy: AnyArray, t: FloatArray) -> AnyArray:
    r"""\(-\sum_k t_k\,\operatorname{log1p}\big(\Delta y_k / (y_k + \varepsilon)\big)\).

    Only target classes are read when every row has one (one-hot labels).
    """
    target = single_targets(t)
    if target is not None:
        rows = np.arange(y.shape[0])
        ratio = dy[rows, target] / (y[rows, target] + loss.eps)
        one: AnyArray = -t[rows, target] * np.log1p(ratio)
        return one
    result: AnyArray = -np.sum(t * np.log1p(dy / (y + loss.eps)), axis=-1)
    return result


@functools.singledispatch
def loss_series(
    loss: Loss, y: AnyArray, t: FloatArray, dy: AnyArray, reach: FloatArray
) -> tuple[AnyArray, NDArray[np.bool_]] | None:
    r"""Return the Taylor series of each row's loss change, or `None` if none is known.

    `dy` is `(P, R, K)`: the series (coefficients of \(u^1 \ldots u^P\)) of each row's
    prediction move; `reach` (`(R,)`) bounds \(|u|\). Returns the `(P, R)` series of
    the loss change and a `(R,)` mask of the rows whose series can be trusted up to that
    reach. The default returns `None`: such a loss takes the exact route.

    Examples:
        >>> import numpy as np
        >>> y, t = np.array([[0.25, 0.75]]), np.array([[0.0, 1.0]])
        >>> dy = np.array([[[1.0, -1.0]], [[0.0, 0.0]]])          # y moves by (u, -u)
        >>> series, ok = loss_series(MeanSquared(), y, t, dy, np.array([0.1]))
        >>> series[:, 0].tolist(), ok.tolist()                     # 0.5 u + u^2
        ([0.5, 1.0], [True])

    """
    return None


@loss_series.register
def _(
    loss: MeanSquared, y: AnyArray, t: FloatArray, dy: AnyArray, reach: FloatArray
) -> tuple[AnyArray, NDArray[np.bool_]]:
    series = np.sum(dy * (y - t) + 0.5 * _series.multiply(dy, dy), axis=-1)
    return series, np.ones(y.shape[0], dtype=bool)


@loss_series.register
def _(
    loss: CrossEntropy, y: AnyArray, t: FloatArray, dy: AnyArray, reach: FloatArray
) -> tuple[AnyArray, NDArray[np.bool_]]:
    target = single_targets(t)
    if target is not None:
        rows = np.arange(y.shape[0])
        ratio = dy[:, rows, target] / (y[rows, target] + loss.eps)
        series = -t[rows, target] * _series.log1p(ratio)
        moved = _series.magnitude(ratio, reach)
    else:
        ratio = dy / (y + loss.eps)
        series = -np.sum(t * _series.log1p(ratio), axis=-1)
        moved = _series.magnitude(ratio, reach[:, None]).max(axis=-1)
    # log1p's series converges for |ratio| < 1; trust it well inside.
    return series, moved <= 0.5


def single_targets(t: FloatArray) -> NDArray[np.intp] | None:
    """Return each row's one non-zero class if every row has exactly one, else `None`.

    Examples:
        >>> single_targets(np.array([[0.0, 1.0], [1.0, 0.0]])).tolist()
        [1, 0]

    """
    nonzero = t != 0
    if not np.all(np.count_nonzero(nonzero, axis=-1) == 1):
        return None
    target: NDArray[np.intp] = np.argmax(nonzero, axis=-1).astype(np.intp)
    return target


@runtime_checkable
class HasLossGradient(Protocol):
    """A loss that knows its gradient with respect to the predictions (for backprop)."""

    def per_example_grad(self, y: FloatArray, t: FloatArray) -> FloatArray:
        r"""Return \(\partial \ell(y_n, t_n) / \partial y_{nk}\), shape `(N, K)`."""
        ...


def loss_gradient(loss: Loss, y: FloatArray, t: FloatArray) -> FloatArray:
    r"""Return \(\partial \ell_n / \partial y_{nk}\) from the loss's `per_example_grad`.

    Raises [`NotSupportedError`][minifw.errors.NotSupportedError] for a loss without one (numerical
    gradients never need it; backprop and [`gradcheck`][minifw.nn.gradcheck] do).

    Examples:
        >>> import numpy as np
        >>> loss_gradient(MeanSquared(), np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]]))
        array([[ 0.5, -0.5]])

    """
    if not isinstance(loss, HasLossGradient):
        raise NotSupportedError(
            f"{type(loss).__name__} has no per_example_grad method; numerical gradients work "
            "without it, backprop and gradcheck need it"
        )
    grad = np.asarray(loss.per_example_grad(y, t), dtype=np.float64)
    if grad.shape != y.shape:
        raise NotSupportedError(
            f"{type(loss).__name__}.per_example_grad must return the shape of y {y.shape}, "
            f"got {grad.shape}"
        )
    return grad
