r"""The book's mean squared error: half the sum of squares per example, with all its rules.

Value, gradient, change and series of \(\ell(y, t) = \frac12 \sum_k (y_k - t_k)^2\) side by side.

Examples:
    >>> from minifw import MeanSquared
    >>> round(MeanSquared()([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0], 2), 12)
    0.0975

"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.nn import _series
from minifw.nn.losses.loss import Loss
from minifw.typing import AnyArray, FloatArray

__all__ = ["MeanSquared"]


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

    def change(self, y: AnyArray, t: FloatArray, dy: AnyArray) -> AnyArray:
        r"""\(\sum_k \Delta y_k\,(y_k - t_k + \tfrac12 \Delta y_k)\): no cancellation."""
        result: AnyArray = np.sum(dy * ((y - t) + 0.5 * dy), axis=-1)
        return result

    def series(
        self, y: AnyArray, t: FloatArray, dy: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        r"""\(\sum_k d_k (y_k - t_k) + \tfrac12 d_k^2\) for the series \(d\) of the move (exact).

        Examples:
            >>> import numpy as np
            >>> y, t = np.array([[0.25, 0.75]]), np.array([[0.0, 1.0]])
            >>> dy = np.array([[[1.0, -1.0]], [[0.0, 0.0]]])          # y moves by (u, -u)
            >>> series, ok = MeanSquared().series(y, t, dy, np.array([0.1]))
            >>> series[:, 0].tolist(), ok.tolist()                     # 0.5 u + u^2
            ([0.5, 1.0], [True])

        """
        series = np.sum(dy * (y - t) + 0.5 * _series.multiply(dy, dy), axis=-1)
        return series, np.ones(y.shape[0], dtype=bool)
