r"""Max pooling, the book's `Pooling`: the largest value of each window, with its rules.

\[
y_{n c i j} = \max_{p < P_H,\; q < P_W} \tilde x_{n c,\, S i + p,\, S j + q}
\]

over windows of `pool_h` by `pool_w` with a stride \(S\), on the input \(\tilde x\) padded by
`pad` zeros (the book's [`im2col`][minifw.nn.layers.im2col] padding). The gradient goes to
the first largest entry of each window, as the book's `argmax` sends it.

A move changes a window's maximum by \(\max_k (x_k - y + \Delta x_k)\): the winner's own move
when it stays ahead, and otherwise the gap it lost, computed from the differences to the old
maximum, without cancellation. Its series is the winner's move, trusted while every other entry
of the window stays below the winner within reach (a *switch* out of reach); where a switch is
within reach, that example takes the exact route.

Examples:
    >>> import numpy as np
    >>> x = np.array([[[[1.0, 3.0], [2.0, 0.0]]]])
    >>> pool = Pooling(2, 2, stride=2)
    >>> pool.forward(x).tolist()
    [[[[3.0]]]]
    >>> pool.change(x, pool.forward(x), np.array([[[[2.5, 0.0], [0.0, 0.0]]]])).tolist()  # 1 + 2.5 wins
    [[[[0.5]]]]

"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError, ValidationError
from minifw.nn import _series
from minifw.nn.layers.arrays import check_stride_pad
from minifw.nn.layers.layer import Layer
from minifw.nn.layers.patches import col2im, im2col, output_size
from minifw.typing import AnyArray, FloatArray

__all__ = ["Pooling"]


def _positive(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValidationError(
            f"Pooling {attribute.name} must be a positive integer, got {attribute.name}={value!r}"
        )


@final
@attrs.define(eq=False)
class Pooling(Layer):
    r"""Max pooling over `pool_h` by `pool_w` windows: the book's `Pooling(pool_h, pool_w, stride=2, pad=0)`.

    Inputs `(N, C, H, W)`, outputs `(N, C, O_H, O_W)` with
    \(O = \lfloor (H + 2P - P_H)/S \rfloor + 1\). (The book's forward pass computes the output
    size without the padding, which only agrees for `pad=0`, the case it uses.)

    Examples:
        >>> import numpy as np
        >>> Pooling(pool_h=2, pool_w=2, stride=2).forward(np.zeros((5, 30, 24, 24))).shape
        (5, 30, 12, 12)

    """

    pool_h: int = attrs.field(validator=_positive)
    pool_w: int = attrs.field(validator=_positive)
    stride: int = attrs.field(default=2)
    pad: int = attrs.field(default=0)

    def __attrs_post_init__(self) -> None:
        check_stride_pad("Pooling", self.stride, self.pad)

    @property
    def params(self) -> dict[str, FloatArray]:
        """No parameters."""
        return {}

    def forward(self, x: AnyArray) -> AnyArray:
        """Return each window's maximum (as the book: im2col, then `max` along each window)."""
        windows, shape = self._windows(x)
        out: AnyArray = np.max(windows, axis=1)
        return self._images(out, shape)

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""Send each output's gradient to its window's first largest entry (col2im adds overlaps)."""
        windows, (n, _, out_h, out_w) = self._windows(x)
        size = self.pool_h * self.pool_w
        winner = np.argmax(windows, axis=1)
        grads = np.zeros((winner.size, size))
        grads[np.arange(winner.size), winner] = dy.transpose(0, 2, 3, 1).reshape(-1)
        dcol = grads.reshape(n * out_h * out_w, -1)
        return col2im(dcol, x.shape, self.pool_h, self.pool_w, self.stride, self.pad), {}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""\(\max_k (x_k - y + \Delta x_k)\) per window; under a complex step, the winner's move.

        A complex step is refused for a window whose largest entry is tied and moved: the maximum
        is not analytic there.
        """
        windows, shape = self._windows(x)
        moves, _ = self._windows(dx)
        gaps = windows - self._flat_outputs(y)[:, None]
        if np.iscomplexobj(dx):
            tied = np.count_nonzero(gaps == 0, axis=1) > 1
            if np.any(tied & np.any(moves != 0, axis=1)):
                raise DifferentiationError(
                    "Pooling is not analytic where a window's largest values are tied: a complex "
                    "step cannot pass such a window; use a real scheme such as CentralDiff"
                )
            winner = np.argmax(windows, axis=1)
            return self._images(moves[np.arange(winner.size), winner], shape)
        out: AnyArray = np.max(gaps + moves, axis=1)
        return self._images(out, shape)

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Return the winner's move; trusted for a row where no other entry of a window can catch up within reach."""
        order, rows = dx.shape[0], dx.shape[1]
        windows, shape = self._windows(x)
        winner = np.argmax(windows, axis=1)
        pick = np.arange(winner.size)
        moves = np.stack([self._windows(dx[p])[0] for p in range(order)])  # (P, windows, size)
        won = moves[:, pick, winner]
        # How far each entry could move relative to the winner, against how far behind it is.
        per_window = reach.repeat(winner.size // rows)
        relative = _series.magnitude(moves - won[..., None], per_window[:, None])
        behind = windows[pick, winner][:, None] - windows
        safe = (relative < behind) | (relative == 0)
        ok: NDArray[np.bool_] = np.all(safe.reshape(rows, -1), axis=1)
        series = np.stack([self._images(won[p], shape) for p in range(order)])
        return series, ok

    def _windows(self, x: AnyArray) -> tuple[AnyArray, tuple[int, int, int, int]]:
        """Return the windows as rows `(N * O_H * O_W * C, P_H * P_W)` and the output shape."""
        if x.ndim != 4:
            raise ValidationError(
                f"Pooling takes images (batch, channels, height, width), got shape {x.shape}"
            )
        n, c, h, w = x.shape
        out_h = output_size(h, self.pool_h, self.stride, self.pad)
        out_w = output_size(w, self.pool_w, self.stride, self.pad)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        return col.reshape(-1, self.pool_h * self.pool_w), (n, c, out_h, out_w)

    def _images(self, values: AnyArray, shape: tuple[int, int, int, int]) -> AnyArray:
        """Lay one value per window (in the order of `_windows`) out as `(N, C, O_H, O_W)`."""
        n, c, out_h, out_w = shape
        result: AnyArray = np.ascontiguousarray(
            values.reshape(n, out_h, out_w, c).transpose(0, 3, 1, 2)
        )
        return result

    @staticmethod
    def _flat_outputs(y: AnyArray) -> AnyArray:
        """Return the outputs `(N, C, O_H, O_W)` in the order of the windows."""
        flat: AnyArray = y.transpose(0, 2, 3, 1).reshape(-1)
        return flat
