r"""Cross-entropy of predicted probabilities, with all its rules side by side.

Value, gradient, change and series of \(\ell(y, t) = -\sum_k t_k \log(y_k + \varepsilon)\), and the
rule fast numerical gradients use after a softmax: with one target class \(c\) per example, the
change depends only on the relative move \(y'_c / y_c - 1\) of that class's probability
([`target_series`][minifw.nn.losses.CrossEntropy.target_series]; the softmax layer supplies that move
cheaply, see [`Softmax.relative_series`][minifw.nn.layers.Softmax.relative_series]).

Examples:
    >>> from minifw import CrossEntropy
    >>> CrossEntropy()([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0], 2)
    0.510825457099338

"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw._validation import positive_float, to_float
from minifw.errors import ValidationError
from minifw.nn import _series
from minifw.nn.losses.loss import Loss
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = ["CrossEntropy", "single_targets"]


def single_targets(t: FloatArray) -> IntArray | None:
    """Return each row's one non-zero class if every row has exactly one, else `None`.

    Examples:
        >>> single_targets(np.array([[0.0, 1.0], [1.0, 0.0]])).tolist()
        [1, 0]
        >>> single_targets(np.array([[0.5, 0.5]])) is None
        True

    """
    nonzero = t != 0
    if not np.all(np.count_nonzero(nonzero, axis=-1) == 1):
        return None
    target: IntArray = np.argmax(nonzero, axis=-1).astype(np.intp)
    return target


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
        # The usual case in three reductions (finite arrays: min sees every value; with t >= 0 a
        # row has a target where its sum is positive).
        if y.min() >= 0 and t.min() >= 0 and (t @ np.ones(t.shape[1])).min() > 0:
            return
        for name, arr in (("y", y), ("t", t)):
            if np.any(arr < 0):
                row, col = (int(i) for i in np.argwhere(arr < 0)[0])
                raise ValidationError(
                    f"{name} must hold probabilities (>= 0) for cross-entropy, "
                    f"got {name}[{row}, {col}]={float(arr[row, col])!r}"
                )
        empty = ~np.any(t > 0, axis=1)
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

    def change(self, y: AnyArray, t: FloatArray, dy: AnyArray) -> AnyArray:
        r"""\(-\sum_k t_k\,\operatorname{log1p}\big(\Delta y_k / (y_k + \varepsilon)\big)\).

        Only target classes are read when every row has one (one-hot labels).
        """
        target = single_targets(t)
        if target is not None:
            rows = np.arange(y.shape[0])
            ratio = dy[rows, target] / (y[rows, target] + self.eps)
            one: AnyArray = -t[rows, target] * np.log1p(ratio)
            return one
        result: AnyArray = -np.sum(t * np.log1p(dy / (y + self.eps)), axis=-1)
        return result

    def series(
        self, y: AnyArray, t: FloatArray, dy: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        r"""Return the series of \(-\sum_k t_k \operatorname{log1p}(d_k / (y_k + \varepsilon))\).

        Trusted where the ratio stays within 1/2 over the reach (the series of log1p converges
        for ratios below 1).
        """
        target = single_targets(t)
        if target is not None:
            rows = np.arange(y.shape[0])
            ratio = dy[:, rows, target] / (y[rows, target] + self.eps)
            series = -t[rows, target] * _series.log1p(ratio)
            moved = _series.magnitude(ratio, reach)
        else:
            ratio = dy / (y + self.eps)
            series = -np.sum(t * _series.log1p(ratio), axis=-1)
            moved = _series.magnitude(ratio, reach[:, None]).max(axis=-1)
        return series, moved <= 0.5

    def target_classes(self, t: FloatArray) -> IntArray | None:
        """Return each row's target class if every row has exactly one (else `None`)."""
        return single_targets(t)

    def target_series(
        self, y: AnyArray, t: AnyArray, relative: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        r"""Return the change when the target class's probability moves by the relative series \(r\).

        With \(y'_c = y_c (1 + r)\):
        \(-t_c \operatorname{log1p}\big(\tfrac{y_c}{y_c + \varepsilon}\,r\big)\). `y` and `t` hold
        the target class's prediction and target per row (`(R,)`), `relative` the `(P, R)` series
        of \(r\); trusted where the ratio stays within 1/2 over the reach.

        Examples:
            >>> import numpy as np
            >>> series, ok = CrossEntropy(eps=1e-300).target_series(
            ...     np.array([0.5]), np.array([1.0]), np.array([[1.0], [0.0]]), np.array([0.1]))
            >>> series[:, 0].tolist(), ok.tolist()       # -log1p(u) = -u + u^2/2
            ([-1.0, 0.5], [True])

        """
        ratio = (y / (y + self.eps)) * relative
        series = -t * _series.log1p(ratio)
        return series, _series.magnitude(ratio, reach) <= 0.5
