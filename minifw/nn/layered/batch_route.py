r"""The batch route: exact loss changes of steps whose moves reach every example, many coordinates at once.

Two kinds of step move are computed here, each coordinate as one group of lanes, one lane per
example, pushed through the later layers with their [`change`][minifw.nn.layers.Layer.change]
rules (no cancellation) and closed with the loss's change; a coordinate's change is the sum over
its examples,

\[
L(\theta + s\,e_c) - L(\theta) = w \sum_n \Delta\ell_n(\text{the move of example } n) .
\]

- [Channel steps][minifw.nn.layered.channel_steps.ChannelSteps] (a convolution's filters and
  bias): channel \(f_c\) of every example moves by \(s\,\pi_{cn}\), an image, carried as a
  [`BlockMove`][minifw.nn.layered.block_moves.BlockMove]. A channel move reaches many units of an
  example, which the next fully connected layer mixes: the example's loss change is not a sum
  over units, so every lane is exact.
- [Unit steps][minifw.nn.layered.steps.UnitSteps] behind a [row-coupled][minifw.nn.layers.RowCoupled]
  layer (a fully connected layer before batch normalization): unit \(j_c\) of every example moves
  by \(s\,a_{nc}\), and the batch's statistics carry it to every row, so the examples cannot be
  summed one at a time as the unit route does. The move is a
  [`ColumnMove`][minifw.nn.layered.column_moves.ColumnMove] of the whole batch.

These are the finite differences themselves, exactly (truncation error of the stencil included;
kinks and max-pooling switches need nothing special), without the rounding of subtracting two
losses. The coordinates of one call share the passes: per step, one move of all their lanes, in
parts of bounded size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import final

import attrs
import numpy as np

from minifw.nn.layered import limits
from minifw.nn.layered.block_moves import BlockMove
from minifw.nn.layered.channel_steps import ChannelSteps
from minifw.nn.layered.column_moves import ColumnMove
from minifw.nn.layered.moves import Move, Network
from minifw.nn.layered.statistics_route import StatisticsRoute
from minifw.nn.layered.steps import UnitSteps
from minifw.typing import AnyArray, IntArray

__all__ = ["BatchRoute"]

MoveMaker = Callable[[IntArray, float | complex], Move]


@final
@attrs.define(eq=False)
class BatchRoute:
    """The batch route of one layered objective, along its network."""

    net: Network
    _statistics: StatisticsRoute = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._statistics = StatisticsRoute(self.net)

    def channel_changes(self, k: int, move: ChannelSteps, steps: AnyArray) -> AnyArray:
        """Return the `(C, M)` unweighted loss changes of channel steps of layer `k`.

        As many coordinates at a time as fit `limits.CHANNEL_PART` with every example's channel.
        """
        examples, positions = move.shape

        def block(part: IntArray, step: float | complex) -> Move:
            return BlockMove.of(move.channels[part] * positions, step * move.take(part).patterns())

        per_part = max(1, limits.CHANNEL_PART // (examples * positions))
        return self._summed(k, move.channels.size, per_part, steps, block)

    def column_changes(self, k: int, move: UnitSteps, steps: AnyArray) -> AnyArray:
        """Return the `(C, M)` unweighted loss changes of unit steps of layer `k` (rows coupled later).

        Where the [statistics route][minifw.nn.layered.statistics_route] applies (real steps
        before the last of two batch normalizations), its trusted lanes take it and the others
        stay exact. Otherwise as many coordinates at a time as fit `limits.ELEMENT_BUDGET` with
        a dense move of every example through the widest later layer. A coordinate whose amount
        is 0 in every example (a pixel that is 0 in the whole batch) moves nothing: its change is
        exactly 0, and it is skipped.
        """
        examples = self.net.acts[k].shape[0]
        out = np.zeros((move.units.size, steps.size), dtype=np.result_type(steps, np.float64))
        moving = self._moving(move, max(1, limits.ELEMENT_BUDGET // examples))
        if moving.size == 0:
            return out
        active = move.take(moving)
        linear = None if np.iscomplexobj(steps) else self._statistics.linear_layer(k)
        if linear is not None:
            out[moving] = self._expanded(k, linear, active, steps)
            return out

        def column(part: IntArray, step: float | complex) -> Move:
            return ColumnMove.of(active.units[part], step * active.amounts(part).T)

        per_part = max(1, limits.ELEMENT_BUDGET // (examples * self.net.widest(k + 1)))
        out[moving] = self._summed(k, moving.size, per_part, steps, column)
        return out

    @staticmethod
    def _moving(move: UnitSteps, per_part: int) -> IntArray:
        """Return the coordinates of `move` whose amount is non-zero in some example."""
        count = move.units.size
        found = [
            np.any(move.amounts(np.arange(start, min(count, start + per_part))) != 0.0, axis=0)
            for start in range(0, count, per_part)
        ]
        moving: IntArray = np.flatnonzero(np.concatenate(found)) if found else np.zeros(0, np.intp)
        return moving

    def _expanded(self, k: int, linear: int, move: UnitSteps, steps: AnyArray) -> AnyArray:
        """Return the changes of unit steps of layer `k` on the statistics route, exact where untrusted.

        The coordinates go by unit (lanes of one unit share the route's matrix products), every
        step of a coordinate in one part.
        """
        examples = self.net.acts[k].shape[0]
        count = move.units.size
        out = np.zeros((count, steps.size))
        order = np.argsort(move.units, kind="stable")
        per_part = max(1, limits.ELEMENT_BUDGET // (examples * (limits.MAX_ORDER + 4) * steps.size))
        for start in range(0, count, per_part):
            part = order[start : start + per_part]
            amounts = move.amounts(part).T
            data = (steps[:, None, None] * amounts[None]).reshape(-1, examples)
            column: Move = ColumnMove.of(np.tile(move.units[part], steps.size), data)
            for m in range(k + 1, linear):
                column = column.through(self.net.layers[m], self.net.acts[m], self.net.acts[m + 1])
            assert isinstance(column, ColumnMove)  # the route applies only where it stays one
            values, trusted = self._statistics.changes(linear, column)
            if not np.all(trusted):
                lanes = np.flatnonzero(~trusted)
                rest = ColumnMove.of(column.units[lanes], column.data[lanes])
                values[lanes] = self._exact_columns(linear, rest)
            out[part] = values.reshape(steps.size, part.size).T
        return out

    def _exact_columns(self, start: int, move: ColumnMove) -> AnyArray:
        """Return each group's summed exact loss change, the column move `move` entering layer `start`."""
        groups, examples = move.data.shape
        per_part = max(1, limits.ELEMENT_BUDGET // (examples * self.net.widest(start)))
        out = np.zeros(groups)
        for first in range(0, groups, per_part):
            part = slice(first, first + per_part)
            change = self.net.propagate(start, ColumnMove.of(move.units[part], move.data[part]))
            out[part] = change.reshape(-1, examples).sum(axis=1)
        return out

    def _summed(
        self, k: int, count: int, per_part: int, steps: AnyArray, make: MoveMaker
    ) -> AnyArray:
        """Push each part's moves through the layers after `k`; sum each coordinate's examples.

        A coordinate's examples are summed in order, so its change does not depend on the other
        coordinates of its part.
        """
        examples = self.net.acts[k].shape[0]
        out = np.zeros((count, steps.size), dtype=np.result_type(steps, np.float64))
        for start in range(0, count, per_part):
            part = np.arange(start, min(count, start + per_part))
            for m, step in enumerate(steps.tolist()):
                change = self.net.propagate(k + 1, make(part, step))
                out[part, m] = change.reshape(part.size, examples).sum(axis=1)
        return out
