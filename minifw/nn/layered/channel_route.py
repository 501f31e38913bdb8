r"""The channel route: exact loss changes of channel steps, many coordinates at once.

For a [channel step][minifw.nn.layered.channel_steps.ChannelSteps] \(s\) of coordinate \(c\) (a
convolution's filter weight or bias), channel \(f_c\) of every example \(n\) moves by
\(s\,\pi_{cn}\), an image. Each (coordinate, example) is a lane of a
[`BlockMove`][minifw.nn.layered.block_moves.BlockMove] of that channel, pushed through the later
layers with their [`change`][minifw.nn.layers.Layer.change] rules (no cancellation) and closed with
the loss's change; the coordinate's change is the sum over its examples,

\[
L(\theta + s\,e_c) - L(\theta) = w \sum_n \Delta\ell_n(s\,\pi_{cn}) .
\]

These are the finite differences themselves, exactly (truncation error of the stencil included),
without the rounding of subtracting two losses. The coordinates of one call share the passes:
per step, one block move of all their lanes, in parts of bounded size. A step that crosses a
ReLU's kink or a max-pooling switch needs nothing special here: every lane is exact.
"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np

from minifw.nn.layered import limits
from minifw.nn.layered.block_moves import BlockMove
from minifw.nn.layered.channel_steps import ChannelSteps
from minifw.nn.layered.moves import Move, Network
from minifw.typing import AnyArray

__all__ = ["ChannelRoute"]


@final
@attrs.define(eq=False)
class ChannelRoute:
    """The channel route of one layered objective, along its network."""

    net: Network

    def changes(self, k: int, move: ChannelSteps, steps: AnyArray) -> AnyArray:
        """Return the `(C, M)` unweighted loss changes of `move`'s coordinates of layer `k`.

        Coordinates are taken a part at a time, as many as fit `limits.CHANNEL_PART` with every
        example's channel; each coordinate's examples are summed in order, so a coordinate's
        change does not depend on the others in its call.
        """
        examples, positions = move.shape
        count = move.channels.size
        out = np.zeros((count, steps.size), dtype=np.result_type(steps, np.float64))
        per_part = max(1, limits.CHANNEL_PART // (examples * positions))
        for start in range(0, count, per_part):
            part = np.arange(start, min(count, start + per_part))
            patterns = move.take(part).patterns()
            starts = move.channels[part] * positions
            for m, step in enumerate(steps.tolist()):
                change = self._propagate(k + 1, BlockMove.of(starts, step * patterns))
                out[part, m] = change.reshape(part.size, examples).sum(axis=1)
        return out

    def _propagate(self, start: int, move: Move) -> AnyArray:
        """Push `move` of layer `start`'s input through the rest; return each lane's loss change."""
        net = self.net
        for m in range(start, len(net.layers)):
            move = move.through(net.layers[m], net.acts[m], net.acts[m + 1])
        return move.loss_change(net.loss, net.acts[-1], net.t)
