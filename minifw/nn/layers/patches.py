r"""`im2col` and `col2im`: the book's way to turn a convolution into one matrix product.

A filter of \(F_H \times F_W\) sliding with a stride \(S\) over an image of \(H \times W\) padded
by \(P\) on each side sees \(O_H \times O_W\) patches,

\[
O_H = \left\lfloor \frac{H + 2P - F_H}{S} \right\rfloor + 1, \qquad
O_W = \left\lfloor \frac{W + 2P - F_W}{S} \right\rfloor + 1 .
\]

[`im2col`][minifw.nn.layers.im2col] lays every patch out as one row: for a batch of shape
`(N, C, H, W)` it returns `(N * O_H * O_W, C * F_H * F_W)`, rows in the order (example, output
row, output column), columns in the order (channel, filter row, filter column). A convolution is
then `col @ W.reshape(FN, -1).T`, and max pooling a maximum along each patch.
[`col2im`][minifw.nn.layers.col2im] is its adjoint: it adds every entry of such rows back
onto the pixel it came from (patches overlap when the stride is smaller than the filter), which is
the backward pass of both. Padding is zeros, as in the book.

Examples:
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> col = im2col(x, 2, 2, stride=2)
    >>> col.tolist()                      # the four 2x2 patches, one per row
    [[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0], [8.0, 9.0, 12.0, 13.0], [10.0, 11.0, 14.0, 15.0]]
    >>> bool(np.array_equal(col2im(col, x.shape, 2, 2, stride=2), x))   # no overlap: back again
    True

"""

from __future__ import annotations

import numpy as np

from minifw.errors import ValidationError
from minifw.typing import AnyArray

__all__ = ["col2im", "im2col", "output_size"]


def output_size(size: int, filter_size: int, stride: int, pad: int) -> int:
    r"""Return \(\lfloor (\text{size} + 2P - F) / S \rfloor + 1\), the patches along one axis.

    Raises [`ValidationError`][minifw.errors.ValidationError] when the filter does not fit the
    padded image.

    Examples:
        >>> output_size(28, 5, stride=1, pad=0), output_size(24, 2, stride=2, pad=0)
        (24, 12)

    """
    if size + 2 * pad < filter_size:
        raise ValidationError(
            f"a filter of size {filter_size} does not fit an image of size {size} padded by {pad}"
        )
    return (size + 2 * pad - filter_size) // stride + 1


def im2col(x: AnyArray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> AnyArray:
    """Return every patch of the `(N, C, H, W)` batch `x` as a row: `(N * O_H * O_W, C * F_H * F_W)`.

    The result has `x`'s dtype (float64, or complex128 under a complex step) and is C-contiguous.
    """
    n, c, h, w = x.shape
    out_h = output_size(h, filter_h, stride, pad)
    out_w = output_size(w, filter_w, stride, pad)
    padded = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)]) if pad else x
    patches = np.zeros((n, c, filter_h, filter_w, out_h, out_w), dtype=x.dtype)
    # One strided copy per position inside the filter: the pixels that position sees.
    for i in range(filter_h):
        for j in range(filter_w):
            patches[:, :, i, j] = padded[
                :, :, i : i + stride * out_h : stride, j : j + stride * out_w : stride
            ]
    col: AnyArray = patches.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_h * out_w, -1)
    return col


def col2im(
    col: AnyArray,
    input_shape: tuple[int, ...],
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
) -> AnyArray:
    """Add the rows of `col` (as [`im2col`][minifw.nn.layers.im2col] lays them out) back onto their pixels.

    Returns an array of `input_shape` `(N, C, H, W)`; where patches overlap the entries are added
    in the order of the positions inside the filter (row by row), which is the book's order.
    """
    n, c, h, w = input_shape
    out_h = output_size(h, filter_h, stride, pad)
    out_w = output_size(w, filter_w, stride, pad)
    patches = col.reshape(n, out_h, out_w, c, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    # Room for the last stride beyond the padded image, as the strided slices below reach it.
    image = np.zeros(
        (n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), dtype=col.dtype
    )
    for i in range(filter_h):
        for j in range(filter_w):
            image[:, :, i : i + stride * out_h : stride, j : j + stride * out_w : stride] += patches[
                :, :, i, j
            ]
    result: AnyArray = image[:, :, pad : h + pad, pad : w + pad]
    return result
