"""Loss functions: how far a prediction is from the answer.

A [`Loss`][minifw.nn.losses.Loss] turns predictions `y` and targets `t` into one number to minimise.
The base class does the shared work (conversion to float64, validation, promoting a single sample to
a batch, turning class indices into one-hot rows, reduction); a concrete loss only says what one
example costs, in [`Loss.per_example`][minifw.nn.losses.Loss.per_example].

Examples:
    >>> from minifw import CrossEntropy, MeanSquared
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    >>> round(MeanSquared()(y, t), 12)
    0.0975
    >>> CrossEntropy()(y, 2)
    0.510825457099338

"""

from __future__ import annotations

import abc
from typing import Literal, Protocol, TypeAlias, final, runtime_checkable

import attrs
import numpy as np

from minifw._validation import positive_float, to_float
from minifw.errors import ValidationError
from minifw.typing import AnyArray, ArrayLike, FloatArray, IntArray

__all__ = ["ChecksInputs", "CrossEntropy", "Loss", "MeanSquared", "Reduction"]

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

    """

    reduction: Reduction = attrs.field(default="mean", validator=_check_reduction, kw_only=True)

    @abc.abstractmethod
    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        """Return the loss of each example: shape `(N,)` from `y` and `t` of shape `(N, K)`.

        Called by [`__call__`][minifw.nn.losses.Loss.__call__] with validated, finite float64 arrays of
        the same shape, `t` already one-hot when the caller gave class indices. This is the one
        method a new loss implements; it must not modify its arguments.
        """

    def __call__(self, y: ArrayLike, t: ArrayLike) -> float | FloatArray:
        """Return the reduced loss of predictions `y` against targets `t`.

        A float for `reduction="mean"` or `"sum"`; the `(N,)` array of per-example values
        for `reduction="none"`.

        Examples:
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
        if not np.all(np.isfinite(values)):
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
            >>> y, t = MeanSquared().prepare([0.2, 0.8], 1)
            >>> y
            array([[0.2, 0.8]])
            >>> t
            array([[0., 1.]])

        """
        y_arr = _as_float_array(y, "y")
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
        _check_finite(y_batch, "y")
        t_batch = _targets_as_batch(t, y_arr.shape, k)
        if isinstance(self, ChecksInputs):
            self.check_inputs(y_batch, t_batch)
        return y_batch, t_batch

    @final
    def require_scalar(self) -> None:
        """Refuse `reduction="none"` where one number is needed (training, gradients).

        Examples:
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
            >>> MeanSquared().reduce(np.array([1.0, 2.0]))
            1.5
            >>> MeanSquared(reduction="none").reduce(np.array([1.0, 2.0]))
            array([1., 2.])

        """
        if self.reduction == "none":
            return values
        total = float(np.sum(values))
        if not np.isfinite(total):
            raise ValidationError(
                f"the {self.reduction} of {values.shape[0]} per-example losses overflows: {total}"
            )
        return total / values.shape[0] if self.reduction == "mean" else total

    def weight(self, batch_size: int) -> float:
        """Return the factor that turns a sum of per-example values into the reduced loss.

        `1 / batch_size` for `"mean"`, `1` for `"sum"`. A scalar objective needs one, so
        `reduction="none"` raises [`ValidationError`][minifw.errors.ValidationError].

        Examples:
            >>> MeanSquared().weight(4)
            0.25

        """
        self.require_scalar()
        return 1.0 / batch_size if self.reduction == "mean" else 1.0


@final
@attrs.frozen
class MeanSquared(Loss):
    r"""Half the sum of squared differences per example (the book's "mean squared error").

    \[
    \ell(y, t) = \frac{1}{2} \sum_k (y_k - t_k)^2
    \]

    then the reduction over the batch (default: the mean). The book calls this the mean squared
    error; per example it is half the *sum* of squares, and the values it prints come from that
    definition.

    Examples:
        >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        >>> y1 = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
        >>> y2 = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
        >>> round(MeanSquared()(y1, t), 12), round(MeanSquared()(y2, t), 12)
        (0.0975, 0.5975)

    """

    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        r"""Return \(\frac12 \sum_k (y_k - t_k)^2\) for each row."""
        diff = y - t
        values: FloatArray = 0.5 * np.einsum("nk,nk->n", diff, diff)
        return values

    def per_example_grad(self, y: FloatArray, t: FloatArray) -> FloatArray:
        r"""Return \(\partial \ell / \partial y_k = y_k - t_k\)."""
        return y - t


@final
@attrs.frozen
class CrossEntropy(Loss):
    r"""Cross-entropy of predicted probabilities against the answer.

    \[
    \ell(y, t) = -\sum_k t_k \log(y_k + \varepsilon)
    \]

    then the reduction over the batch (default: the mean, the book's
    \(-\frac{1}{N}\sum_n\sum_k t_{nk}\log(y_{nk} + \varepsilon)\)). `y` holds probabilities
    (for instance a softmax output). The small \(\varepsilon\) (`eps`, default `1e-7`,
    the book's `delta`) keeps a zero probability from giving \(\log 0 = -\infty\); it is
    used in the batched form too. With one-hot `t` the sum is \(-\log(y_c + \varepsilon)\)
    for the answer \(c\).

    Examples:
        >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
        >>> CrossEntropy()(y, 2)
        0.510825457099338
        >>> CrossEntropy()([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0], 2)
        2.302584092994546
        >>> CrossEntropy()([[0.0, 1.0]], [0])  # a zero probability stays finite
        16.11809565095832

    """

    eps: float = attrs.field(default=1e-7, converter=to_float, validator=positive_float)

    def check_inputs(self, y: FloatArray, t: FloatArray) -> None:
        """Reject negative values in `y` or `t` and rows of `t` without any target."""
        for name, arr in (("y", y), ("t", t)):
            if np.any(arr < 0):
                row, col = (int(i) for i in np.argwhere(arr < 0)[0])
                raise ValidationError(
                    f"{name} must hold probabilities (>= 0) for cross-entropy, "
                    f"got {name}[{row}, {col}]={float(arr[row, col])!r}"
                )
        empty = ~np.any(t > 0, axis=1)
        if np.any(empty):
            row = int(np.flatnonzero(empty)[0])
            raise ValidationError(
                f"t must give each example a target (a one-hot row or probabilities), got an "
                f"all-zero row t[{row}]: its cross-entropy would be 0 whatever y is"
            )

    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        r"""Return \(-\sum_k t_k \log(y_k + \varepsilon)\) for each row."""
        values: FloatArray = -np.einsum("nk,nk->n", t, np.log(y + self.eps))
        return values

    def per_example_grad(self, y: FloatArray, t: FloatArray) -> FloatArray:
        r"""Return \(\partial \ell / \partial y_k = -t_k / (y_k + \varepsilon)\).

        The exact derivative of the loss as computed, \(\varepsilon\) included (the book's
        backprop drops it, which alone moves its gradient by about `1e-5` relative).
        """
        return -t / (y + self.eps)


def _as_float_array(value: ArrayLike, name: str) -> FloatArray:
    """Convert `value` to a float64 array, naming `name` when that is impossible."""
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise ValidationError(
            f"{name} must hold real numbers, got an array of dtype {arr.dtype} "
            f"and shape {arr.shape}"
        )
    return arr.astype(np.float64, copy=False)


def _check_finite(arr: FloatArray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        where = ", ".join(map(str, bad))
        raise ValidationError(
            f"{name} must be finite, got {name}[{where}]={arr[bad]!r}"
            f" ({int(np.count_nonzero(~np.isfinite(arr)))} non-finite values in all)"
        )


def _targets_as_batch(t: ArrayLike, y_shape: tuple[int, ...], k: int) -> FloatArray:
    """Return targets as float64 `(N, K)`: one-hot/probabilities kept, class indices expanded."""
    t_arr = np.asarray(t)
    if t_arr.shape == y_shape:
        t_float = _as_float_array(t_arr, "t")
        _check_finite(t_float, "t")
        return t_float.reshape(1, -1) if t_float.ndim == 1 else t_float
    if t_arr.shape == y_shape[:-1]:
        labels = _class_indices(t_arr, k)
        one_hot = np.zeros((labels.size, k))
        one_hot[np.arange(labels.size), labels] = 1.0
        return one_hot
    raise ValidationError(
        f"t must have the shape of y {y_shape} (one-hot rows or probabilities) or "
        f"{y_shape[:-1]} (integer class indices), got shape {t_arr.shape}"
    )


def _class_indices(t_arr: AnyArray, k: int) -> IntArray:
    if t_arr.dtype == np.bool_ or not np.issubdtype(t_arr.dtype, np.integer):
        sample = t_arr.reshape(-1)[:3].tolist()
        raise ValidationError(
            "t holds class indices and must be integers, "
            f"got dtype {t_arr.dtype} (first values {sample})"
        )
    labels = t_arr.reshape(-1).astype(np.int64)
    bad = (labels < 0) | (labels >= k)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"t holds class indices and each must be in 0..{k - 1} for y with {k} classes, "
            f"got t[{i}]={int(labels[i])}"
        )
    return labels.astype(np.intp)
