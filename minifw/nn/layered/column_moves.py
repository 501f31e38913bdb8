r"""Column moves: every example moved in one unit per group, as a batch whose rows are coupled sees it.

Behind a [row-coupled][minifw.nn.layers.RowCoupled] layer (batch normalization in training) the
loss is no longer a sum of per-example changes: a move of unit \(j\) in some rows moves every
row's output through the batch's statistics. A
[`ColumnMove`][minifw.nn.layered.column_moves.ColumnMove] keeps such a move as one vector of the
batch's size per group, a column of the activations:

| layer | the column move becomes |
|---|---|
| [elementwise][minifw.nn.layers.Elementwise] | the same column, each row through the layer |
| [featurewise][minifw.nn.layers.Featurewise] (batch normalization in training) | the same column, through the column's statistics |
| any other (a fully connected layer: each row's unit times a row of the weights) | the same lanes as [unit moves][minifw.nn.layered.moves.LaneUnitMove], which go on as the layers say (dense through a later batch normalization) |

Examples:
    >>> import numpy as np
    >>> from minifw.nn.layers import BatchNormalization
    >>> x = np.array([[0.0, 5.0], [2.0, 1.0]])
    >>> layer = BatchNormalization(gamma=np.ones(2), beta=np.zeros(2)).training(x)
    >>> move = ColumnMove.of(units=np.array([0]), data=np.array([[1e-9, 0.0]]))  # unit 0 of row 0
    >>> moved = move.through(layer, x, layer.forward(x))                         # unit 0 of both rows
    >>> moved.units.tolist(), moved.data.tolist()
    ([0], [[4.99999e-16, -4.99999e-16]])

"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np

from minifw.errors import DifferentiationError
from minifw.nn.capability import declares
from minifw.nn.layered.moves import LaneUnitMove, Move
from minifw.nn.layers.layer import Elementwise, Featurewise, Layer, PerExample
from minifw.typing import AnyArray, IntArray

__all__ = ["ColumnMove"]

@final
@attrs.frozen
class ColumnMove(Move):
    """Group `g` moves unit `units[g]` (a flat feature) of every example `n` by `data[g, n]`.

    Lane `g * N + n` is example `n` of group `g`: `rows` is `tile(arange(N), groups)`, so every
    group is a whole batch in order, as a row-coupled layer takes it.
    """

    units: IntArray
    data: AnyArray

    @classmethod
    def of(cls, units: IntArray, data: AnyArray) -> ColumnMove:
        """Return the move of groups `units` by `data` `(groups, N)`, every example in order."""
        return cls(rows=np.tile(np.arange(data.shape[1]), data.shape[0]), units=units, data=data)

    def through(self, layer: Layer, x: AnyArray, y: AnyArray) -> Move:
        """Return the column past an elementwise or featurewise layer; else the lanes as unit moves."""
        if declares(layer, Featurewise):
            moved = np.asarray(layer.feature_change(x, y, self.units, self.data))
            if moved.shape != self.data.shape:
                raise DifferentiationError(
                    f"{type(layer).__name__}.feature_change must return one value per row of each "
                    f"group {self.data.shape}, got shape {moved.shape}"
                )
            return ColumnMove(self.rows, self.units, moved)
        if declares(layer, Elementwise) and not declares(layer, PerExample):
            xs, ys = _columns(x, self.units), _columns(y, self.units)
            moved = np.asarray(layer.unit_change(xs, ys, self.data))
            return ColumnMove(self.rows, self.units, moved.reshape(self.data.shape))
        return self.lanes().through(layer, x, y)

    def dense(self, features: tuple[int, ...]) -> AnyArray:
        """Zeros but for each lane's unit: `(lanes, *features)`."""
        return self.lanes().dense(features)

    def lanes(self) -> LaneUnitMove:
        """Return the same lanes as unit moves: example `n` of group `g` moves its unit `units[g]`."""
        units = np.repeat(self.units, self.data.shape[1])
        return LaneUnitMove(self.rows, units, self.data.reshape(-1))


def _columns(a: AnyArray, units: IntArray) -> AnyArray:
    """Return column `units[g]` of the batch `a` (features flattened) for each group: `(G, N)`."""
    found: AnyArray = a.reshape(a.shape[0], -1)[:, units].T
    return found
