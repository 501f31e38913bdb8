r"""The loss base class: one hook per example, and every other rule with a correct default.

A [`Loss`][minifw.nn.losses.Loss] turns predictions `y` and targets `t` into one number to
minimise. The base class does the shared work (conversion to float64, validation, promoting a
single sample to a batch, turning class indices into one-hot rows, reduction); a concrete loss
says what one example costs, in [`per_example`][minifw.nn.losses.Loss.per_example]. Its other
rules sit beside it, on the same class, each with a default that is right for every loss:

- [`change`][minifw.nn.losses.Loss.change], how each example's value moves when its prediction
  moves (default: two evaluations; fast numerical gradients use it);
- [`series`][minifw.nn.losses.Loss.series], the Taylor series of that change for tiny moves
  (default: none, and such a loss takes the exact route);
- [`gradient`][minifw.nn.losses.Loss.gradient], \(\partial\ell/\partial y\) for backprop, from a
  `per_example_grad` method the loss gives ([`HasLossGradient`][minifw.nn.losses.HasLossGradient];
  absent unless given).

Examples:
    >>> import numpy as np
    >>> from minifw import CrossEntropy
    >>> y, t = np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]])
    >>> CrossEntropy().change(y, t, np.array([[-1e-12, 1e-12]]))  # -log1p(1e-12 / 0.5000001)
    array([-1.9999996e-12])

"""

from __future__ import annotations

import abc
import math
from typing import Literal, Protocol, TypeAlias, final, runtime_checkable

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import NotSupportedError, ValidationError
from minifw.nn.capability import declares
from minifw.nn.labels import as_real_array, check_finite
from minifw.nn.losses.targets import batch_targets
from minifw.typing import AnyArray, ArrayLike, FloatArray, IntArray

__all__ = ["ChecksInputs", "HasLossGradient", "Loss", "Reduction", "TargetClassLoss"]

Reduction: TypeAlias = Literal["mean", "sum", "none"]
"""How a [`Loss`][minifw.nn.losses.Loss] reduces its per-example values: their mean, sum, or none."""

_REDUCTIONS: tuple[Reduction, ...] = ("mean", "sum", "none")


def _check_reduction(_instance: object, _attribute: object, value: str) -> None:
    if value not in _REDUCTIONS:
        raise ValidationError(
            f"reduction must be one of 'mean', 'sum', 'none', got reduction={value!r}"
        )


@runtime_checkable
class ChecksInputs(Protocol):
    """A loss that is defined only for some predictions or targets (probabilities, say)."""

    def check_inputs(self, y: FloatArray, t: FloatArray) -> None:
        """Raise `ValidationError` for values the loss is not defined for.

        Called by [`Loss.prepare`][minifw.nn.losses.Loss.prepare] with the validated `(N, K)` batches;
        the message names the argument.
        """
        ...


@runtime_checkable
class HasLossGradient(Protocol):
    """A loss that knows its gradient with respect to the predictions (for backprop)."""

    def per_example_grad(self, y: FloatArray, t: FloatArray) -> FloatArray:
        r"""Return \(\partial \ell(y_n, t_n) / \partial y_{nk}\), shape `(N, K)`."""
        ...


@runtime_checkable
class TargetClassLoss(Protocol):
    r"""A loss that, given one target class per row, reads only how that class's prediction moves.

    Fast numerical gradients use it after a layer that can say how chosen outputs move
    *relatively*, \(y'_c / y_c - 1\), without computing the others (a softmax:
    [`RelativeOutputs`][minifw.nn.layers.RelativeOutputs]); [`CrossEntropy`][minifw.nn.losses.CrossEntropy]
    is such a loss.
    """

    def target_classes(self, t: FloatArray) -> IntArray | None:
        """Return each row's target class, or `None` if some row has not exactly one."""
        ...

    def target_series(
        self, y: AnyArray, t: AnyArray, relative: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        r"""Return the series of each row's change when its target's prediction moves by
        \(y_c\,r(u)\), and which rows it is trusted for.

        `y` and `t` are the target class's prediction and target per row (`(R,)`), `relative`
        the `(P, R)` series of \(r\) and `reach` (`(R,)`) the bound on \(|u|\).
        """  # noqa: D205
        ...


def _gradient_of(loss: HasLossGradient, y: FloatArray, t: FloatArray) -> FloatArray:
    return loss.per_example_grad(y, t)


@attrs.frozen
class Loss(abc.ABC):
    r"""A loss over a batch of predictions: per-example values, then a reduction.

    For predictions \(y \in \mathbb{R}^{N \times K}\) and targets \(t\) of the same shape
    (one-hot rows or probabilities), a loss computes one value \(\ell(y_n, t_n)\) per example
    with [`per_example`][minifw.nn.losses.Loss.per_example], then reduces them:

    - `"mean"` (default): \(\frac{1}{N} \sum_n \ell(y_n, t_n)\), the minibatch formula of the
      book (divide by the batch size so batches of any size are comparable);
    - `"sum"`: \(\sum_n \ell(y_n, t_n)\);
    - `"none"`: the array of the \(N\) per-example values.

    Calling the loss accepts anything array-like. `y` is one prediction `(K,)` or a batch `(N, K)`.
    `t` is either the same shape as `y` (one-hot rows or probabilities) or integer class indices: a
    scalar for one prediction, `(N,)` for a batch. Index labels are turned into one-hot rows before
    [`per_example`][minifw.nn.losses.Loss.per_example] sees them, so both forms give exactly the same
    value.

    Examples:
        Subclass and implement [`per_example`][minifw.nn.losses.Loss.per_example] to define a new loss:

        >>> import attrs, numpy as np
        >>> from typing import final
        >>> @final
        ... @attrs.frozen
        ... class MeanAbsolute(Loss):
        ...     def per_example(self, y, t):
        ...         return np.abs(y - t).sum(axis=1)
        >>> MeanAbsolute()([[0.5, 0.5], [1.0, 0.0]], [0, 0])
        0.5
        >>> MeanAbsolute(reduction="none")([[0.5, 0.5], [1.0, 0.0]], [0, 0])
        array([1., 0.])
        >>> MeanAbsolute().change(np.array([[0.5]]), np.array([[0.0]]), np.array([[0.25]]))
        array([0.25])

    """

    reduction: Reduction = attrs.field(default="mean", validator=_check_reduction, kw_only=True)

    @abc.abstractmethod
    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        """Return the loss of each example: shape `(N,)` from `y` and `t` of shape `(N, K)`.

        Called by [`__call__`][minifw.nn.losses.Loss.__call__] with validated, finite float64 arrays of
        the same shape, `t` already one-hot when the caller gave class indices. This is the one
        method a new loss implements; it must not modify its arguments.
        """

    def change(self, y: AnyArray, t: FloatArray, dy: AnyArray) -> AnyArray:
        r"""Return \(\ell(y_r + \Delta y_r, t_r) - \ell(y_r, t_r)\) for each row, shape `(R,)`.

        `y`, `t` and `dy` are `(R, K)`. The default evaluates
        [`per_example`][minifw.nn.losses.Loss.per_example] twice, which is right for every loss;
        override it with a form without cancellation (as the built-in losses do) to keep the
        last digits of small steps.
        """
        after = self.per_example(y + dy, t)
        before = self.per_example(y, t)
        result: AnyArray = np.asarray(after) - np.asarray(before)
        return result

    def series(
        self, y: AnyArray, t: FloatArray, dy: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]] | None:
        r"""Return the Taylor series of each row's change, or `None` if the loss has none.

        `dy` is `(P, R, K)`: the series (coefficients of \(u^1 \ldots u^P\)) of each row's
        prediction move; `reach` (`(R,)`) bounds \(|u|\). Returns the `(P, R)` series of the
        change and a `(R,)` mask of the rows whose series can be trusted up to that reach. The
        default returns `None`: numerical gradients then take the exact route, with
        [`change`][minifw.nn.losses.Loss.change].
        """
        return None

    @final
    def gradient(self, y: FloatArray, t: FloatArray) -> FloatArray:
        r"""Return \(\partial \ell_n / \partial y_{nk}\), shape `(N, K)`, from `per_example_grad`.

        Raises [`NotSupportedError`][minifw.errors.NotSupportedError] for a loss without a
        `per_example_grad` method ([`HasLossGradient`][minifw.nn.losses.HasLossGradient]):
        numerical gradients never need it; backprop and [`gradcheck`][minifw.nn.gradcheck] do.

        Examples:
            >>> from minifw import MeanSquared
            >>> MeanSquared().gradient(np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]]))
            array([[ 0.5, -0.5]])

        """
        if not declares(self, HasLossGradient):
            raise NotSupportedError(
                f"{type(self).__name__} has no per_example_grad method; numerical gradients work "
                "without it, backprop and gradcheck need it"
            )
        grad = np.asarray(_gradient_of(self, y, t), dtype=np.float64)
        if grad.shape != y.shape:
            raise NotSupportedError(
                f"{type(self).__name__}.per_example_grad must return the shape of y {y.shape}, "
                f"got {grad.shape}"
            )
        return grad

    def __call__(self, y: ArrayLike, t: ArrayLike) -> float | FloatArray:
        """Return the reduced loss of predictions `y` against targets `t`.

        A float for `reduction="mean"` or `"sum"`; the `(N,)` array of per-example values
        for `reduction="none"`.

        Examples:
            >>> from minifw import MeanSquared
            >>> MeanSquared(reduction="sum")([[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]])
            0.5

        """
        y_batch, t_batch = self.prepare(y, t)
        return self.reduce(self.evaluate(y_batch, t_batch))

    @final
    def evaluate(self, y: FloatArray, t: FloatArray) -> FloatArray:
        """Return `per_example` of prepared batches, checked: `(N,)` float64, finite.

        A subclass's [`per_example`][minifw.nn.losses.Loss.per_example] that returns a scalar, a list,
        the wrong shape, or a non-finite value (an overflow, say) is refused here with a
        [`ValidationError`][minifw.errors.ValidationError] naming the loss and the example, rather
        than silently averaged into a wrong number.

        Examples:
            >>> from minifw import MeanSquared
            >>> MeanSquared().evaluate(np.array([[1e200]]), np.array([[0.0]]))
            Traceback (most recent call last):
            ...
            minifw.errors.ValidationError: MeanSquared.per_example returned inf for example 0 of finite inputs (an overflow?): the loss is not finite

        """
        with np.errstate(over="ignore", invalid="ignore"):
            raw = self.per_example(y, t)
        name = f"{type(self).__name__}.per_example"
        if not isinstance(raw, np.ndarray) or raw.shape != (y.shape[0],):
            got = f"shape {raw.shape}" if isinstance(raw, np.ndarray) else type(raw).__name__
            raise ValidationError(
                f"{name} must return a float array of shape ({y.shape[0]},), one value per "
                f"example, got {got}"
            )
        if raw.dtype.kind not in "fiu" or raw.dtype == np.bool_:
            raise ValidationError(f"{name} must return real numbers, got dtype {raw.dtype}")
        values = raw.astype(np.float64, copy=False)
        if not np.isfinite(values).all():
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise ValidationError(
                f"{name} returned {float(values[bad])!r} for example {bad} of finite inputs "
                "(an overflow?): the loss is not finite"
            )
        return values

    def prepare(self, y: ArrayLike, t: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Validate `y` and `t` and return them as float64 batches of shape `(N, K)`.

        This is the conversion [`__call__`][minifw.nn.losses.Loss.__call__] applies before
        [`per_example`][minifw.nn.losses.Loss.per_example]; it is public so that code calling
        [`per_example`][minifw.nn.losses.Loss.per_example] directly can apply the same checks.

        Examples:
            >>> from minifw import MeanSquared
            >>> y, t = MeanSquared().prepare([0.2, 0.8], 1)
            >>> y
            array([[0.2, 0.8]])
            >>> t
            array([[0., 1.]])

        """
        y_arr = as_real_array(y, "y")
        if y_arr.ndim not in (1, 2):
            raise ValidationError(
                "y must be one prediction (classes,) or a batch (batch, classes), "
                f"got an array of shape {y_arr.shape}"
            )
        y_batch = y_arr.reshape(1, -1) if y_arr.ndim == 1 else y_arr
        n, k = y_batch.shape
        if n == 0 or k == 0:
            raise ValidationError(
                f"y must hold at least one example and one class, got shape {y_arr.shape}"
            )
        if not np.isfinite(y_batch).all():
            check_finite(y_batch, "y")
        t_batch = batch_targets(t, y_arr.shape, k)
        if declares(self, ChecksInputs):
            self.check_inputs(y_batch, t_batch)
        return y_batch, t_batch

    @final
    def require_scalar(self) -> None:
        """Refuse `reduction="none"` where one number is needed (training, gradients).

        Examples:
            >>> from minifw import MeanSquared
            >>> MeanSquared(reduction="none").require_scalar()
            Traceback (most recent call last):
            ...
            minifw.errors.ValidationError: a scalar loss is needed here; use reduction='mean' or 'sum', got reduction='none'

        """
        if self.reduction == "none":
            raise ValidationError(
                "a scalar loss is needed here; use reduction='mean' or 'sum', got reduction='none'"
            )

    def reduce(self, values: FloatArray) -> float | FloatArray:
        """Apply the reduction to per-example values of shape `(N,)`.

        Examples:
            >>> from minifw import MeanSquared
            >>> MeanSquared().reduce(np.array([1.0, 2.0]))
            1.5
            >>> MeanSquared(reduction="none").reduce(np.array([1.0, 2.0]))
            array([1., 2.])

        """
        if self.reduction == "none":
            return values
        total = float(values.sum())
        if not math.isfinite(total):
            raise ValidationError(
                f"the {self.reduction} of {values.shape[0]} per-example losses overflows: {total}"
            )
        return total / values.shape[0] if self.reduction == "mean" else total

    @final
    def weight(self, batch_size: int) -> float:
        """Return the factor that turns a sum of per-example values into the reduced loss.

        `1 / batch_size` for `"mean"`, `1` otherwise (`"none"` keeps the per-example values,
        each with weight 1). It checks nothing: where one number is needed, call
        [`require_scalar`][minifw.nn.losses.Loss.require_scalar] first.

        Examples:
            >>> from minifw import MeanSquared
            >>> MeanSquared().weight(4)
            0.25

        """
        return 1.0 / batch_size if self.reduction == "mean" else 1.0
