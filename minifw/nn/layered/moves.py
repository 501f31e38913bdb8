r"""Moves of the exact route: how the effect of one parameter step travels through the layers.

A move is a batch of *lanes*. Each lane is one example (`rows[b]`, a row of the batch) whose
activations at some layer have moved; a move of the layer's input becomes a move of its output
by asking the layer what it can do ([`minifw.nn.layers`][minifw.nn.layers] lists the
capabilities), with plain amounts and the layers' [`change`][minifw.nn.layers.Layer.change] rules
(no cancellation). Each kind of move keeps the cheapest form that stays exact:

| move | a lane's move | through an elementwise layer | through a linear layer | otherwise |
|---|---|---|---|---|
| [`UnitMove`][minifw.nn.layered.moves.UnitMove] | one unit, by an amount | a unit move | a dense move | dense |
| [`DenseMove`][minifw.nn.layered.moves.DenseMove] | every feature | dense | dense | dense |

At the end a move gives each lane's loss change
([`loss_change`][minifw.nn.layered.moves.Move.loss_change]). Features are flat indices into
whatever shape follows the batch axis, so moves are not tied to `(rows, units)`. The series
route, which moves every example by each unit of a piece at once, keeps its moves in the forms
of [`minifw.nn.layered.grid`][minifw.nn.layered.grid].

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

from minifw.errors import DifferentiationError
from minifw.nn.capability import declares
from minifw.nn.layered.contract import read_only
from minifw.nn.layers.layer import Elementwise, Layer, Linear, PerExample, RowCoupled
from minifw.nn.losses.loss import Loss
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = [
    "DenseMove",
    "LaneUnitMove",
    "Move",
    "Network",
    "UnitMove",
    "units_of",
]

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
    def dense(self, features: tuple[int, ...]) -> AnyArray:
        """Return the move as full arrays: `(..., lanes, *features)`."""

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

    def dense(self, features: tuple[int, ...]) -> AnyArray:
        """Return the data itself."""
        return self.data


def units_of(layer: object, rows: IntArray, units: IntArray) -> Elementwise:
    """Return the elementwise layer, or for a [per-example][minifw.nn.layers.PerExample] one the part at `(rows[b], units[b])`.

    Examples:
        >>> from minifw.nn.layers import DropoutMask
        >>> mask = DropoutMask(np.array([[True, False], [False, True]]))
        >>> units_of(mask, rows=np.array([1, 0]), units=np.array([1, 1])).mask.tolist()
        [True, False]

    """
    here = layer.for_units(rows, units) if declares(layer, PerExample) else layer
    if not declares(here, Elementwise):
        raise DifferentiationError(
            f"{type(layer).__name__} gives a {type(here).__name__} for single units, which is not "
            "elementwise"
        )
    return here


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
            here = units_of(layer, self.rows, self.units)
            return self._same_lanes(here.unit_change(_flat(x)[at], _flat(y)[at], self.amounts))
        if declares(layer, Linear):
            return self._linear(layer)
        return DenseMove(self.rows, self.dense(x.shape[1:])).through(layer, x, y)

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
