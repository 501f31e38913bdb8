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

from collections.abc import Callable
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
        return self._window_change(x, y, dx)

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

    def channel_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""Return the change of single channels (`(..., H, W)`): pooling keeps a channel a channel.

        Each channel is pooled as a one-channel image, as [`change`][minifw.nn.layers.Pooling.change]
        pools it; `x` and `y` may have fewer leading axes than `dx` (broadcast: one channel of a
        batch under many moves, a convolution's filter steps).

        Examples:
            >>> import numpy as np
            >>> x = np.array([[[1.0, 3.0], [2.0, 0.0]]])          # one channel of 2x2
            >>> pool = Pooling(2, 2, stride=2)
            >>> pool.channel_change(x, np.array([[[3.0]]]), np.array([[[2.5, 0.0], [0.0, 0.0]]])).tolist()
            [[[0.5]]]

        """
        return self._window_change(x, y, dx)

    def _window_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""Return \(\max_k (x_k - y + \Delta x_k)\) over the windows of the last two axes.

        One strided view per position inside the window (the entries `im2col` would lay out in
        that column), in the window's order; leading axes broadcast. Under a complex step, the
        move of the first largest entry (refused where it is tied and the window moves).
        """
        xs, moves = self._padded(x), self._padded(dx)
        out_h, out_w = y.shape[-2:]
        stride = self.stride

        def at(a: AnyArray, i: int, j: int) -> AnyArray:
            view: AnyArray = a[..., i : i + stride * out_h : stride, j : j + stride * out_w : stride]
            return view

        offsets = [(i, j) for i in range(self.pool_h) for j in range(self.pool_w)]
        if np.iscomplexobj(dx):
            return self._winner_move(at, xs, y, moves, offsets)
        acc: AnyArray | None = None
        for i, j in offsets:
            term = (at(xs, i, j) - y) + at(moves, i, j)
            acc = term if acc is None else np.maximum(acc, term, out=acc)
        assert acc is not None  # a window has at least one entry
        return acc

    @staticmethod
    def _winner_move(
        at: Callable[[AnyArray, int, int], AnyArray],
        xs: AnyArray,
        y: AnyArray,
        moves: AnyArray,
        offsets: list[tuple[int, int]],
    ) -> AnyArray:
        """Return the move of each window's first largest entry; refuse one tied and moved."""
        shape = np.broadcast_shapes(at(xs, 0, 0).shape, at(moves, 0, 0).shape)
        best = np.broadcast_to(at(xs, 0, 0), shape)
        won = np.broadcast_to(at(moves, 0, 0), shape)
        ties = np.zeros(shape, dtype=np.intp)
        moved = np.zeros(shape, dtype=bool)
        for i, j in offsets:
            value, move = at(xs, i, j), at(moves, i, j)
            better = value > best
            best, won = np.where(better, value, best), np.where(better, move, won)
            ties += value == y
            moved |= move != 0
        if np.any((ties > 1) & moved):
            raise DifferentiationError(
                "Pooling is not analytic where a window's largest values are tied: a complex "
                "step cannot pass such a window; use a real scheme such as CentralDiff"
            )
        result: AnyArray = np.array(won)
        return result

    def _padded(self, a: AnyArray) -> AnyArray:
        """Return `a` with `pad` zeros around its last two axes (as `im2col` pads)."""
        if not self.pad:
            return a
        widths = [(0, 0)] * (a.ndim - 2) + [(self.pad, self.pad)] * 2
        result: AnyArray = np.pad(a, widths)
        return result

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

