r"""Moves: how the effect of one parameter step travels through the layers after it.

A move is a batch of *lanes*. Each lane is one example (`rows[b]`, a row of the batch) whose
activations at some layer have moved; a move of the layer's input becomes a move of its output
by asking the layer what it can do ([`minifw.nn.layers`][minifw.nn.layers] lists the
capabilities). Each kind of move keeps the cheapest form that stays exact:

| move | a lane's move | through an elementwise layer | through a linear layer | otherwise |
|---|---|---|---|---|
| [`UnitMove`][minifw.nn.layered.moves.UnitMove] | one unit, by an amount | a unit move | a dense move (or rank one, for a grid) | dense |
| [`RankOneMove`][minifw.nn.layered.moves.RankOneMove] | an amount times a fixed vector | dense | rank one: the vector's image | dense |
| [`DenseMove`][minifw.nn.layered.moves.DenseMove] | every feature | dense | dense | dense |

Every move has two passes: [`through`][minifw.nn.layered.moves.Move.through] with plain amounts
(the exact route: the layers' `change` rules) and
[`series_through`][minifw.nn.layered.moves.Move.series_through] with Taylor coefficients in
\(u\) (the series route; a leading axis of length \(P\)). At the end a move gives each lane's loss
change ([`loss_change`][minifw.nn.layered.moves.Move.loss_change], or its series). Features are flat
indices into whatever shape follows the batch axis, so moves are not tied to `(rows, units)`.

Examples:
    >>> import numpy as np
    >>> from minifw.nn.layers import Affine, Tanh
    >>> x = np.array([[0.5, -1.0]])
    >>> move = LaneUnitMove(rows=np.array([0]), units=np.array([1]), amounts=np.array([1e-8]))
    >>> moved = move.through(Tanh(), x, np.tanh(x))           # still one unit: tanh' * 1e-8
    >>> type(moved).__name__, moved.amounts.round(18).tolist()
    ('LaneUnitMove', [4.2e-09])
    >>> layer = Affine(W=np.ones((2, 3)), b=np.zeros(3))
    >>> dense = moved.through(layer, np.tanh(x), layer.forward(np.tanh(x)))  # that unit's row of W
    >>> type(dense).__name__, dense.data.round(18).tolist()
    ('DenseMove', [[4.2e-09, 4.2e-09, 4.2e-09]])

"""

from __future__ import annotations

import abc
import math
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError
from minifw.nn.capability import declares
from minifw.nn.layered.contract import read_only
from minifw.nn.layers.layer import (
    Elementwise,
    Layer,
    Linear,
    PerExample,
    RelativeOutputs,
    RowCoupled,
    SeriesLayer,
)
from minifw.nn.losses.loss import Loss, TargetClassLoss
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = [
    "DenseMove",
    "GridUnitMove",
    "LaneUnitMove",
    "Move",
    "Network",
    "RankOneMove",
    "UnitMove",
]

Mask = NDArray[np.bool_]


@final
@attrs.frozen(eq=False)
class Network:
    """What moves travel along: the layers, their activations on one batch, the loss, the targets.

    `acts[0]` is the batch's input and `acts[m + 1]` the output of `layers[m]`; `t` holds the
    prepared `(N, K)` targets.
    """

    layers: tuple[Layer, ...]
    loss: Loss
    t: FloatArray
    acts: tuple[FloatArray, ...]

    def widest(self, start: int) -> int:
        """Return the most features of any activation from `acts[start]` on."""
        return max(math.prod(a.shape[1:]) for a in self.acts[start:])

    def propagate(self, start: int, move: Move) -> AnyArray:
        """Push `move` of layer `start`'s input through the rest; return each lane's loss change."""
        for m in range(start, len(self.layers)):
            move = move.through(self.layers[m], self.acts[m], self.acts[m + 1])
        return move.loss_change(self.loss, self.acts[-1], self.t)


def _flat(a: AnyArray) -> AnyArray:
    """Return `a` with its features flattened: `(rows, features)`."""
    return a.reshape(a.shape[0], -1)


@attrs.frozen
class Move(abc.ABC):
    """Lanes of moved activations: lane `b` is a move of example `rows[b]`."""

    rows: IntArray

    @abc.abstractmethod
    def through(self, layer: Layer, x: AnyArray, y: AnyArray) -> Move:
        """Return the move of `layer`'s output for this move of its input (plain amounts).

        `x` and `y` are the layer's input and output for the whole batch.
        """

    @abc.abstractmethod
    def series_through(
        self, layer: Layer, x: AnyArray, y: AnyArray, reach: FloatArray
    ) -> tuple[Move, Mask]:
        r"""Return the series of the output move and the lanes it is trusted for.

        `reach` (one value per lane) bounds \(|u|\).
        """

    @abc.abstractmethod
    def dense(self, features: tuple[int, ...]) -> AnyArray:
        """Return the move as full arrays: `(..., lanes, *features)`."""

    def head_series(
        self, layer: Layer, loss: Loss, x: AnyArray, y: AnyArray, t: FloatArray, reach: FloatArray
    ) -> tuple[AnyArray, Mask] | None:
        """Return the series of the loss change across the last `layer` and the loss at once.

        `None` (the default) where no such rule applies; then the move goes through the layer and
        the loss one after the other.
        """
        return None

    @final
    def loss_change(self, loss: Loss, y: AnyArray, t: FloatArray) -> AnyArray:
        """Return each lane's exact loss change for this move of the predictions `y`."""
        change = np.asarray(loss.change(y[self.rows], t[self.rows], self.dense(y.shape[1:])))
        if change.shape != self.rows.shape:
            raise DifferentiationError(
                f"{type(loss).__name__}.change must return one value per row "
                f"({self.rows.size},), got shape {change.shape}"
            )
        return change

    @final
    def loss_series(
        self, loss: Loss, y: AnyArray, t: FloatArray, reach: FloatArray
    ) -> tuple[AnyArray, Mask]:
        """Return each lane's loss-change series and where it is trusted (the loss has one)."""
        found = loss.series(y[self.rows], t[self.rows], self.dense(y.shape[1:]), reach)
        if found is None:
            raise DifferentiationError(f"{type(loss).__name__} has no series rule")
        return found


@final
@attrs.frozen
class DenseMove(Move):
    """Each lane moves every feature: `data` is `(..., lanes, *features)`."""

    data: AnyArray

    def through(self, layer: Layer, x: AnyArray, y: AnyArray) -> DenseMove:
        """Return the layer's [`change`][minifw.nn.layers.Layer.change] of the lanes' rows.

        A [row-coupled][minifw.nn.layers.RowCoupled] layer takes lanes that are whole batches
        (its `batch_change`); a [per-example][minifw.nn.layers.PerExample] one acts with the part
        made for the lanes' rows.
        """
        if declares(layer, RowCoupled):
            return DenseMove(self.rows, _whole_batches(layer, x, y, self.rows, self.data))
        here = layer.for_rows(self.rows) if declares(layer, PerExample) else layer
        return DenseMove(self.rows, here.change(x[self.rows], y[self.rows], read_only(self.data)))

    def series_through(
        self, layer: Layer, x: AnyArray, y: AnyArray, reach: FloatArray
    ) -> tuple[DenseMove, Mask]:
        """Return the layer's [`series_change`][minifw.nn.layers.SeriesLayer.series_change]."""
        if declares(layer, RowCoupled) or not declares(layer, SeriesLayer):
            raise DifferentiationError(f"{type(layer).__name__} has no series_change rule")
        here = layer.for_rows(self.rows) if declares(layer, PerExample) else layer
        if not declares(here, SeriesLayer):
            raise DifferentiationError(
                f"{type(layer).__name__}.for_rows gave a {type(here).__name__} without series_change"
            )
        data, ok = here.series_change(x[self.rows], y[self.rows], self.data, reach)
        return DenseMove(self.rows, data), ok

    def dense(self, features: tuple[int, ...]) -> AnyArray:
        """Return the data itself."""
        return self.data


def _whole_batches(
    layer: RowCoupled, x: AnyArray, y: AnyArray, rows: IntArray, data: AnyArray
) -> AnyArray:
    """Pass lanes that are whole batches (rows `0..N-1`, in order, repeated) through a coupled layer."""
    n = x.shape[0]
    lanes = rows.size // n
    if rows.size % n or not np.array_equal(rows, np.tile(np.arange(n), lanes)):
        raise DifferentiationError(
            f"{type(layer).__name__} couples the rows of its batch: a move must move the whole "
            f"batch of {n} rows in order, got lanes of {rows.size} rows"
        )
    moved = np.asarray(layer.batch_change(x, y, data.reshape(lanes, n, *data.shape[1:])))
    return moved.reshape(rows.size, *moved.shape[2:])


@attrs.frozen
class UnitMove(Move):
    """Each lane moves one unit (`units[b]`, a flat feature index) by `amounts[..., b]`."""

    units: IntArray
    amounts: AnyArray

    @abc.abstractmethod
    def _linear(self, layer: Linear) -> Move:
        """Return the move of a linear layer's output (its amounts are those of `self`)."""

    @abc.abstractmethod
    def _same_lanes(self, amounts: AnyArray) -> UnitMove:
        """Return a move of the same lanes and units by other amounts."""

    @final
    def through(self, layer: Layer, x: AnyArray, y: AnyArray) -> Move:
        """Return a unit move past an elementwise layer, an image past a linear one, else dense."""
        if declares(layer, Elementwise):
            at = (self.rows, self.units)
            here = self._units_of(layer)
            return self._same_lanes(here.unit_change(_flat(x)[at], _flat(y)[at], self.amounts))
        if declares(layer, Linear):
            return self._linear(layer)
        return DenseMove(self.rows, self.dense(x.shape[1:])).through(layer, x, y)

    @final
    def series_through(
        self, layer: Layer, x: AnyArray, y: AnyArray, reach: FloatArray
    ) -> tuple[Move, Mask]:
        """As [`through`][minifw.nn.layered.moves.UnitMove.through], on series."""
        if declares(layer, Elementwise):
            at = (self.rows, self.units)
            here = self._units_of(layer)
            amounts, ok = here.unit_series(_flat(x)[at], _flat(y)[at], self.amounts, reach)
            return self._same_lanes(amounts), ok
        if declares(layer, Linear):
            return self._linear(layer), np.ones(self.rows.size, dtype=bool)
        return DenseMove(self.rows, self.dense(x.shape[1:])).series_through(layer, x, y, reach)

    @final
    def _units_of(self, layer: Elementwise) -> Elementwise:
        """Return the layer, or for a per-example one the part at the lanes' units."""
        if declares(layer, PerExample):
            here = layer.for_units(self.rows, self.units)
            if not declares(here, Elementwise):
                raise DifferentiationError(
                    f"{type(layer).__name__}.for_units gave a {type(here).__name__}, which is not "
                    "elementwise"
                )
            return here
        return layer

    @final
    def dense(self, features: tuple[int, ...]) -> AnyArray:
        """Zeros but for each lane's unit."""
        lead = self.amounts.shape
        dense = np.zeros((*lead, math.prod(features)), dtype=self.amounts.dtype)
        dense[..., np.arange(self.units.size), self.units] = self.amounts
        result: AnyArray = dense.reshape(*lead, *features)
        return result


@final
@attrs.frozen
class LaneUnitMove(UnitMove):
    """A unit move whose lanes are any (example, unit) pairs (the exact route's)."""

    def _linear(self, layer: Linear) -> DenseMove:
        images = layer.unit_images(self.units)
        return DenseMove(self.rows, self.amounts[..., None] * images)

    def _same_lanes(self, amounts: AnyArray) -> LaneUnitMove:
        return LaneUnitMove(self.rows, self.units, amounts)


@final
@attrs.frozen
class GridUnitMove(UnitMove):
    """A unit move of every example by each of the units `grid`: lane `n * len(grid) + j`.

    The series route's: across a linear layer it stays small, a
    [`RankOneMove`][minifw.nn.layered.moves.RankOneMove] of one vector per unit.
    """

    grid: IntArray

    @classmethod
    def start(cls, examples: int, grid: IntArray, order: int) -> GridUnitMove:
        r"""Return the move of each unit of `grid` in every example by \(u\) (the series of u)."""
        rows = np.repeat(np.arange(examples), grid.size)
        amounts = np.zeros((order, rows.size))
        amounts[0] = 1.0
        return cls(rows=rows, units=np.tile(grid, examples), amounts=amounts, grid=grid)

    def _linear(self, layer: Linear) -> RankOneMove:
        return RankOneMove(self.rows, self.amounts, layer.unit_images(self.grid))

    def _same_lanes(self, amounts: AnyArray) -> GridUnitMove:
        return GridUnitMove(self.rows, self.units, amounts, self.grid)

    def head_series(
        self, layer: Layer, loss: Loss, x: AnyArray, y: AnyArray, t: FloatArray, reach: FloatArray
    ) -> tuple[AnyArray, Mask] | None:
        """Apply the rank-one rule: a move of one score is its amount times a unit vector."""
        vectors = np.eye(math.prod(x.shape[1:]))[self.grid]
        return RankOneMove(self.rows, self.amounts, vectors).head_series(layer, loss, x, y, t, reach)


@final
@attrs.frozen
class RankOneMove(Move):
    r"""Every example moved along each of the vectors `w` by an amount: lane `n * V + v`.

    `amounts[..., b]` is lane `b`'s amount \(d\) and `w[v]` its vector: the lane's move is
    \(d\,w_v\).
    """

    amounts: AnyArray
    w: AnyArray

    def through(self, layer: Layer, x: AnyArray, y: AnyArray) -> Move:
        """Return the vectors' images past a linear layer; else a dense move."""
        if declares(layer, Linear):
            return RankOneMove(self.rows, self.amounts, layer.image(self.w))
        return DenseMove(self.rows, self.dense(x.shape[1:])).through(layer, x, y)

    def series_through(
        self, layer: Layer, x: AnyArray, y: AnyArray, reach: FloatArray
    ) -> tuple[Move, Mask]:
        """As [`through`][minifw.nn.layered.moves.RankOneMove.through], on series."""
        if declares(layer, Linear):
            return RankOneMove(self.rows, self.amounts, layer.image(self.w)), np.ones(
                self.rows.size, dtype=bool
            )
        return DenseMove(self.rows, self.dense(x.shape[1:])).series_through(layer, x, y, reach)

    def dense(self, features: tuple[int, ...]) -> AnyArray:
        r"""\(d\,w_v\) for every lane."""
        examples = self.rows.size // self.w.shape[0]
        dense: AnyArray = self.amounts[..., None] * np.tile(self.w, (examples, 1))
        return dense.reshape(*self.amounts.shape, *features)

    def head_series(
        self, layer: Layer, loss: Loss, x: AnyArray, y: AnyArray, t: FloatArray, reach: FloatArray
    ) -> tuple[AnyArray, Mask] | None:
        """Return the layer's relative move of each target output, then the loss's rule for it.

        Applies when the layer says how chosen outputs move relatively
        ([`RelativeOutputs`][minifw.nn.layers.RelativeOutputs], a softmax) and the loss reads only
        the target class ([`TargetClassLoss`][minifw.nn.losses.TargetClassLoss], cross-entropy)
        and every example has one.
        """
        if not (declares(layer, RelativeOutputs) and declares(loss, TargetClassLoss)):
            return None
        target = loss.target_classes(t)
        if target is None:
            return None
        relative, ok_layer = layer.relative_series(y, self.w, self.amounts, target, reach)
        examples, vectors = y.shape[0], self.w.shape[0]
        rows = np.arange(examples)
        series, ok_loss = loss.target_series(
            np.repeat(y[rows, target], vectors), np.repeat(t[rows, target], vectors), relative, reach
        )
        return series, ok_layer & ok_loss

