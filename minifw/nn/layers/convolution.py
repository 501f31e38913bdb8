r"""The convolution layer of the book's chapter 7: filters slid over images, with its rules.

\[
y_{n f i j} = b_f + \sum_{c, p, q} W_{f c p q}\; \tilde x_{n c,\, S i + p,\, S j + q}
\]

for filters `W` of shape `(FN, C, FH, FW)`, a bias `b` of shape `(FN,)`, a stride \(S\) and the
input \(\tilde x\) padded by `pad` zeros on each side; inputs are `(N, C, H, W)`, outputs
`(N, FN, O_H, O_W)` (`output_size` (in `patches.py`)). As the book computes it:
[`im2col`][minifw.nn.layers.im2col], one matrix product with the filters as columns, a
reshape. The layer is linear in its input, so a move \(\Delta x\) moves the output by the
convolution of \(\Delta x\) without the bias, exactly.

A step \(s\) of a filter weight \(W_{fcpq}\) moves output channel \(f\) at every position by
\(s\) times the input patch's pixel \((c, p, q)\), a step of \(b_f\) the whole channel by
\(s\) ([`step_moves`][minifw.nn.layers.Convolution.step_moves]): fast numerical gradients push
only that channel through the later layers ([channel steps][minifw.nn.layered.channel_steps]).

Examples:
    >>> import numpy as np
    >>> layer = Convolution(W=np.ones((1, 1, 2, 2)), b=np.array([0.5]))
    >>> layer.forward(np.arange(9.0).reshape(1, 1, 3, 3)).tolist()   # 2x2 sums, plus 0.5
    [[[[8.5, 12.5], [20.5, 24.5]]]]

"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import ValidationError
from minifw.nn.layered.channel_steps import ScaledChannelSteps, UniformChannelSteps
from minifw.nn.layered.steps import StepMove
from minifw.nn.layers.arrays import check_stride_pad, check_weights_and_bias
from minifw.nn.layers.layer import Layer
from minifw.nn.layers.patches import col2im, im2col, output_size
from minifw.typing import AnyArray, FloatArray

__all__ = ["Convolution"]


@final
@attrs.define(eq=False)
class Convolution(Layer):
    r"""Filters `W` `(FN, C, FH, FW)` and a bias `b` `(FN,)` slid over `(N, C, H, W)` images.

    `stride` and `pad` as the book's `Convolution(W, b, stride=1, pad=0)`.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> conv = Convolution.init(30, 1, 5, std=0.01, rng=rng)
        >>> conv.W.shape, conv.forward(np.zeros((2, 1, 28, 28))).shape
        ((30, 1, 5, 5), (2, 30, 24, 24))

    """

    W: FloatArray = attrs.field()
    b: FloatArray = attrs.field()
    stride: int = attrs.field(default=1, kw_only=True)
    pad: int = attrs.field(default=0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        check_weights_and_bias("Convolution", self.W, self.b, ndim=4, axis=0, per="filter")
        check_stride_pad("Convolution", self.stride, self.pad)

    @classmethod
    def init(
        cls,
        filters: int,
        channels: int,
        size: int,
        *,
        std: float,
        rng: np.random.Generator,
        stride: int = 1,
        pad: int = 0,
    ) -> Convolution:
        """Return `filters` square filters `std * rng.standard_normal(...)` of `size`, bias 0."""
        weights = std * rng.standard_normal((filters, channels, size, size))
        return cls(W=weights, b=np.zeros(filters), stride=stride, pad=pad)

    @property
    def params(self) -> dict[str, FloatArray]:
        """`{"W": W, "b": b}`."""
        return {"W": self.W, "b": self.b}

    def output_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """Return the shape of one example's output, `(FN, O_H, O_W)`, for images of that size."""
        _, _, fh, fw = self.W.shape
        return (
            int(self.W.shape[0]),
            output_size(height, fh, self.stride, self.pad),
            output_size(width, fw, self.stride, self.pad),
        )

    def forward(self, x: AnyArray) -> AnyArray:
        r"""Return the convolution of `x` with the filters, plus the bias (the book's order of operations)."""
        return self._convolve(x, bias=True)

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""Return the book's backward pass: with \(\delta\) the output gradient as rows `(N O_H O_W, FN)`,
        \(\nabla b = \sum \delta\), \(\nabla W = \mathrm{col}^\top \delta\) (reshaped) and
        \(\partial L/\partial x = \operatorname{col2im}(\delta\,W)\).
        """  # noqa: D205
        fn, c, fh, fw = self.W.shape
        delta = dy.transpose(0, 2, 3, 1).reshape(-1, fn)
        col = im2col(x, fh, fw, self.stride, self.pad)
        grad_b = np.sum(delta, axis=0)
        grad_w = np.dot(col.T, delta).transpose(1, 0).reshape(fn, c, fh, fw)
        dcol = np.dot(delta, self.W.reshape(fn, -1))
        dx = col2im(dcol, x.shape, fh, fw, self.stride, self.pad)
        return dx, {"W": grad_w, "b": grad_b}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""Return the convolution of \(\Delta x\) without the bias (exact: the layer is linear)."""
        return self._convolve(dx, bias=False)

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Each coefficient convolved without the bias (valid everywhere)."""
        return self._convolve(dx, bias=False), np.ones(dx.shape[1], dtype=bool)

    def step_moves(self, x: AnyArray) -> Mapping[str, StepMove]:
        r"""Return how steps move the output: \(W_{fk}\) channel \(f\) by \(s\,\mathrm{col}_{npk}\), \(b_f\) by \(s\).

        `col` is `im2col` of the input, `(N * O_H * O_W, K)`
        with `K = C * F_H * F_W`; coordinates are flat indices of `W` (`f * K + k`) and of `b`
        (`f`).

        Examples:
            >>> import numpy as np
            >>> conv = Convolution(W=np.ones((2, 1, 2, 2)), b=np.zeros(2))
            >>> moves = conv.step_moves(np.arange(9.0).reshape(1, 1, 3, 3))
            >>> moves["W"].take(np.array([5])).patterns().tolist()   # W[1, 0, 0, 1]: channel 1 by s * x[.., p, q + 1]
            [[[1.0, 2.0, 4.0, 5.0]]]
            >>> moves["W"].channels.tolist(), moves["b"].channels.tolist()
            ([0, 0, 0, 0, 1, 1, 1, 1], [0, 1])

        """
        fn, _, fh, fw = self.W.shape
        n = x.shape[0]
        col = im2col(x, fh, fw, self.stride, self.pad)
        inputs = col.shape[1]
        positions = col.shape[0] // n
        factor = np.ascontiguousarray(col.reshape(n, positions, inputs).transpose(2, 0, 1))
        return {
            "W": ScaledChannelSteps(
                channels=np.repeat(np.arange(fn), inputs),
                factor=factor,
                inputs=np.tile(np.arange(inputs), fn),
            ),
            "b": UniformChannelSteps(channels=np.arange(fn), examples=n, positions=positions),
        }

    def _convolve(self, x: AnyArray, *, bias: bool) -> AnyArray:
        """Convolve `(..., C, H, W)` images (any leading axes): im2col, one product, a reshape."""
        fn, c, fh, fw = self.W.shape
        if x.ndim < 4 or x.shape[-3] != c:
            raise ValidationError(
                f"Convolution with filters {self.W.shape} takes images (batch, {c}, height, "
                f"width), got shape {x.shape}"
            )
        lead, (h, w) = x.shape[:-3], x.shape[-2:]
        images = x.reshape(-1, c, h, w)
        n = images.shape[0]
        _, out_h, out_w = self.output_shape(h, w)
        col = im2col(images, fh, fw, self.stride, self.pad)
        out = np.dot(col, self.W.reshape(fn, -1).T)
        if bias:
            out = out + self.b
        result: AnyArray = np.ascontiguousarray(
            out.reshape(n, out_h, out_w, fn).transpose(0, 3, 1, 2)
        ).reshape(*lead, fn, out_h, out_w)
        return result
