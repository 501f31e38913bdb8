r"""Block moves: each lane moves a run of consecutive features of one example (a channel of an image).

A convolution's filter step moves one output channel at every position: in the flat features of
the output, the run `f * positions ... (f + 1) * positions - 1`. A
[`BlockMove`][minifw.nn.layered.block_moves.BlockMove] keeps only that run, and stays one as long
as the layers allow:

| layer | the block's move becomes |
|---|---|
| [elementwise][minifw.nn.layers.Elementwise] (ReLU, a dropout mask, a reshape) | the same run, each value through the layer |
| [channelwise][minifw.nn.layers.Channelwise] (max pooling), the run one channel | that channel of the output |
| [linear][minifw.nn.layers.Linear] (a fully connected layer) | a [dense move][minifw.nn.layered.moves.DenseMove]: the run times those rows of the weights |
| any other | a dense move |

Reshapes keep flat feature indices, so the channel of a `(C, H, W)` image is the same run in its
flattened rows. Block moves are an exact-route shortcut (the batch route's); they have no series.

Examples:
    >>> import numpy as np
    >>> from minifw.nn.layers import Pooling, ReLU
    >>> x = np.array([[[[1.0, -2.0], [0.5, 0.0]], [[3.0, 1.0], [0.0, 2.0]]]])   # 1 example, 2 channels
    >>> move = BlockMove.of(starts=np.array([4]), data=np.array([[[1e-9, 0.0, 0.0, 0.0]]]))
    >>> relu = move.through(ReLU(), x, np.maximum(x, 0.0))      # channel 1 alone
    >>> relu.starts.tolist(), relu.data.tolist()
    ([4], [[[1e-09, 0.0, 0.0, 0.0]]])
    >>> pooled = relu.through(Pooling(2, 2, stride=2), np.maximum(x, 0.0), np.array([[[[1.0]], [[3.0]]]]))
    >>> pooled.starts.tolist(), pooled.data.tolist()            # channel 1 of the 1x1 output
    ([1], [[[1e-09]]])

"""

from __future__ import annotations

import math
from typing import final

import attrs
import numpy as np

from minifw.errors import DifferentiationError
from minifw.nn.capability import declares
from minifw.nn.layered.moves import DenseMove, Move
from minifw.nn.layers.layer import Channelwise, Elementwise, Layer, Linear, PerExample
from minifw.typing import AnyArray, IntArray

__all__ = ["BlockMove"]

@final
@attrs.frozen
class BlockMove(Move):
    """Every example moved in a run of features, one run per group: lane `g * N + n`.

    Group `g` moves features `starts[g] ... starts[g] + size - 1` (flat) of every example `n` by
    `data[g, n]`; `data` is `(groups, N, size)` and `rows` is `tile(arange(N), groups)`. The
    groups of one run share the layers' values there (a convolution's filter steps of one channel).
    """

    starts: IntArray
    data: AnyArray

    @classmethod
    def of(cls, starts: IntArray, data: AnyArray) -> BlockMove:
        """Return the move of groups `starts` by `data` `(groups, N, size)`, every example in order."""
        return cls(rows=np.tile(np.arange(data.shape[1]), data.shape[0]), starts=starts, data=data)

    @property
    def size(self) -> int:
        """The length of every run."""
        return int(self.data.shape[-1])

    def through(self, layer: Layer, x: AnyArray, y: AnyArray) -> Move:
        """Return the move past `layer`: a block where the table above says so, else dense."""
        if declares(layer, Elementwise) and not declares(layer, PerExample):
            return self._elementwise(layer, x, y)
        if declares(layer, Channelwise) and self._is_channel(x):
            return self._channelwise(layer, x, y)
        if declares(layer, Linear):
            return self._linear(layer, y)
        return DenseMove(self.rows, self.dense(x.shape[1:])).through(layer, x, y)

    def dense(self, features: tuple[int, ...]) -> AnyArray:
        """Zeros but for each lane's run: `(lanes, *features)`."""
        groups, examples, size = self.data.shape
        dense = np.zeros((groups, examples, math.prod(features)), dtype=self.data.dtype)
        for g, start in enumerate(self.starts.tolist()):
            dense[g, :, start : start + size] = self.data[g]
        result: AnyArray = dense.reshape(groups * examples, *features)
        return result

    def _runs(self, a: AnyArray) -> AnyArray:
        """Return each group's run of the batch's values `a`: `(groups, N, size)`, or `(1, N, size)`.

        One array (a view, broadcast over the groups) when every group moves the same run.
        """
        flat = a.reshape(a.shape[0], -1)
        starts = self.starts.tolist()
        if len(set(starts)) == 1:
            return flat[None, :, starts[0] : starts[0] + self.size]
        return np.stack([flat[:, start : start + self.size] for start in starts])

    def _elementwise(self, layer: Elementwise, x: AnyArray, y: AnyArray) -> BlockMove:
        """Each value of the run through the layer, against the layer's values there."""
        shape = self.data.shape
        xs = np.broadcast_to(self._runs(x), shape)
        ys = np.broadcast_to(self._runs(y), shape)
        moved = np.asarray(layer.unit_change(xs, ys, self.data))
        return BlockMove(self.rows, self.starts, moved.reshape(shape))

    def _is_channel(self, x: AnyArray) -> bool:
        """Whether every run is one whole channel of the `(N, C, H, W)` input."""
        if x.ndim != 4:
            return False
        positions = x.shape[2] * x.shape[3]
        return self.size == positions and not np.any(self.starts % positions)

    def _channelwise(self, layer: Channelwise, x: AnyArray, y: AnyArray) -> BlockMove:
        """Each group's channel through the layer: the output's same channel."""
        groups, examples, _ = self.data.shape
        height, width = x.shape[2], x.shape[3]
        out_h, out_w = y.shape[2], y.shape[3]
        channel = self.starts // (height * width)
        moves = self.data.reshape(groups, examples, height, width)
        moved = np.asarray(
            layer.channel_change(_channels(x, channel), _channels(y, channel), moves)
        )
        if moved.shape != (groups, examples, out_h, out_w):
            raise DifferentiationError(
                f"{type(layer).__name__}.channel_change must return one channel of the output per "
                f"example and group {(groups, examples, out_h, out_w)}, got shape {moved.shape}"
            )
        return BlockMove(self.rows, channel * (out_h * out_w), moved.reshape(groups, examples, -1))

    def _linear(self, layer: Linear, y: AnyArray) -> DenseMove:
        """Multiply each run by the rows of the layer's matrix it moves (groups of one start together)."""
        groups, examples, size = self.data.shape
        features = y.shape[1:]
        out = np.zeros((groups, examples, math.prod(features)), dtype=self.data.dtype)
        starts, group = np.unique(self.starts, return_inverse=True)
        for g, start in enumerate(starts.tolist()):
            images = np.asarray(layer.unit_images(np.arange(start, start + size))).reshape(size, -1)
            same = np.flatnonzero(group == g)
            out[same] = self.data[same] @ images
        return DenseMove(self.rows, out.reshape(groups * examples, *features))


def _channels(a: AnyArray, channel: IntArray) -> AnyArray:
    """Return channel `channel[g]` of every image of `a` `(N, C, H, W)`: `(groups, N, H, W)`.

    A view `(1, N, H, W)`, broadcast over the groups, when they all move one channel.
    """
    if np.all(channel == channel[0]):
        return a[None, :, int(channel[0])]
    found: AnyArray = a[:, channel].transpose(1, 0, 2, 3)
    return found
