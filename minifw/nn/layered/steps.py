r"""Step moves: how a step of one parameter's coordinates moves its layer's output.

A layer with parameters says, for each of them, how a step \(s\) of coordinate \(c\) moves the
layer's output ([`HasStepMoves`][minifw.nn.layers.HasStepMoves]); the layered objective turns that
into loss changes without touching the parameter. The kinds here move **one output unit in every
example**, which is what a fully connected layer's weights and biases do:

- [`ScaledUnitSteps`][minifw.nn.layered.steps.ScaledUnitSteps]: unit \(j_c\) of example \(n\) moves
  by \(s\,a_{n f_c}\), a column \(f_c\) of a factor \(a\) (for \(W_{ij}\) of \(y = xW + b\): unit
  \(j\), factor \(x\), column \(i\));
- [`UniformUnitSteps`][minifw.nn.layered.steps.UniformUnitSteps]: unit \(j_c\) of every example moves
  by \(s\) (for \(b_j\)).

Writing \(G_{nj}(u) = \sum_p g_{njp} u^p\) for the change of example \(n\)'s loss when unit \(j\)
moves by \(u\) (computed once per unit by the [series route][minifw.nn.layered.series]), a
coordinate's change is \(\sum_n G_{nj_c}(s\,a_{nc}) = \sum_p s^p \sum_n a_{nc}^p\,g_{nj_cp}\): for
the weights of a fully connected layer, \(\sum_p s^p (X^p)^\top G_p\), matrix products the size of
backprop's. A stencil's weighted sum of changes \(\sum_m w_m\,\Delta L(s_m)\) has the coefficients
\(\kappa_p = \sum_m w_m s_m^p\), zero for the even orders of a central difference: then it is
\(X^\top G_1 + h^2 (X^3)^\top G_3 + h^4 (X^5)^\top G_5\), one product over the stacked powers
([`combine`][minifw.nn.layered.steps.UnitSteps.combine]). A new kind of step move (a
convolution's filter step moves one channel at every position) subclasses
[`StepMove`][minifw.nn.layered.steps.StepMove] and names the route that computes it.

Examples:
    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [2.0, 3.0]])
    >>> move = ScaledUnitSteps(units=np.array([0, 1]), factor=x, inputs=np.array([1, 1]))
    >>> move.row_bound().tolist()                     # the largest amount in each example
    [1.0, 3.0]
    >>> move.amounts(np.array([0, 1])).tolist()       # example n, coordinate c: x[n, inputs[c]]
    [[0.0, 0.0], [3.0, 3.0]]

"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Protocol, Self, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.nn.layered import limits
from minifw.typing import AnyArray, FloatArray, IntArray

if TYPE_CHECKING:
    from minifw.nn.layered.channel_steps import ChannelSteps

__all__ = [
    "FactorPowers",
    "ScaledUnitSteps",
    "StepEngine",
    "StepMove",
    "UniformUnitSteps",
    "UnitSteps",
    "coefficients",
]


class StepEngine(Protocol):
    """What computes the loss changes of each kind of step move (the layered objective)."""

    def unit_steps(
        self, k: int, local: str, move: UnitSteps, steps: AnyArray, weights: AnyArray
    ) -> AnyArray:
        """Return the `(Q, C)` weighted changes (unweighted by the loss) of unit steps of layer `k`.

        Row `q` is the sum over `m` of `weights[q, m]` times the change at `steps[m]`.
        """
        ...

    def channel_steps(
        self, k: int, local: str, move: ChannelSteps, steps: AnyArray, weights: AnyArray
    ) -> AnyArray:
        """Return the `(Q, C)` weighted changes (unweighted by the loss) of channel steps of layer `k`.

        Row `q` is the sum over `m` of `weights[q, m]` times the change at `steps[m]`.
        """
        ...


@attrs.frozen
class StepMove(abc.ABC):
    r"""How steps \(s\) of coordinates of one parameter array move their layer's output.

    The output moves by \(s\) times a fixed move per coordinate (layers are linear in their
    parameters). A kind of move says which part of the output each coordinate reaches (for tasks
    of a gradient), how far it reaches (for the choice of route) and which route computes it.
    """

    @abc.abstractmethod
    def check(self, coordinates: int, examples: int, features: int) -> str | None:
        """Return what is wrong with this move for a parameter and a batch, or `None`.

        `coordinates` is the parameter's size, `examples` the batch size and `features` the
        number of the layer's output features.
        """

    @abc.abstractmethod
    def take(self, index: IntArray) -> Self:
        """Return the move of the coordinates `index` (positions into this move's coordinates)."""

    @abc.abstractmethod
    def row_bound(self) -> FloatArray:
        r"""Return, per example, the largest move of the output a unit step of any coordinate makes."""

    @abc.abstractmethod
    def pieces_of(self, piece_of_unit: IntArray) -> IntArray:
        """Return, per coordinate, the piece of the output units its moves fall in."""

    @abc.abstractmethod
    def loss_changes(
        self, engine: StepEngine, k: int, local: str, steps: AnyArray, weights: AnyArray
    ) -> AnyArray:
        """Return the `(Q, C)` weighted loss changes of each coordinate, from `engine`.

        Row `q` is the sum over `m` of `weights[q, m]` times the change at `steps[m]`: the
        identity for the changes themselves, one row for a stencil's weighted sum.
        """


@attrs.frozen
class UnitSteps(StepMove):
    r"""Steps that move one output unit (`units[c]`, a flat feature index) in every example.

    The series route gives \(g_{njp}\) for the units of one piece at once; a kind says how its
    amounts \(a_{nc}\) turn those into \(\sum_p \kappa_{qp} \sum_n a_{nc}^p g_{nj_cp}\)
    ([`combine`][minifw.nn.layered.steps.UnitSteps.combine]), and which examples of which
    coordinates move at all ([`amount_at`][minifw.nn.layered.steps.UnitSteps.amount_at], for the
    exact route).
    """

    units: IntArray

    def check(self, coordinates: int, examples: int, features: int) -> str | None:
        """Say what is wrong with `units` (one flat output feature per coordinate)."""
        return _indices(self.units, "units", coordinates, features)

    @final
    def pieces_of(self, piece_of_unit: IntArray) -> IntArray:
        """Return the piece of each coordinate's unit."""
        pieces: IntArray = piece_of_unit[self.units]
        return pieces

    @final
    def loss_changes(
        self, engine: StepEngine, k: int, local: str, steps: AnyArray, weights: AnyArray
    ) -> AnyArray:
        """Ask the engine's unit route (series where trusted, exact elsewhere)."""
        return engine.unit_steps(k, local, self, steps, weights)

    @final
    def lanes(self, exact: Mask) -> tuple[IntArray, IntArray, AnyArray]:
        """Return `(coordinate, example, amount)` of every moved example `exact[n, unit]` marks.

        Only pairs with a non-zero amount: a coordinate moves nothing in an example where its
        amount is 0 (a zero pixel).
        """
        lane_n, lane_u = np.nonzero(exact)
        order = np.argsort(self.units, kind="stable")
        sorted_units = self.units[order]
        first = np.searchsorted(sorted_units, lane_u, side="left")
        counts = np.searchsorted(sorted_units, lane_u, side="right") - first
        lane = np.repeat(np.arange(lane_u.size), counts)
        offset = np.arange(lane.size) - np.repeat(np.cumsum(counts) - counts, counts)
        coordinate = order[first[lane] + offset]
        example = lane_n[lane]
        amount = self.amount_at(example, coordinate)
        moved = amount != 0
        return coordinate[moved], example[moved], amount[moved]

    @abc.abstractmethod
    def amounts(self, needed: IntArray) -> FloatArray:
        r"""Return \(a_{nc}\) for the coordinates `needed`: `(N, len(needed))`."""

    @abc.abstractmethod
    def amount_at(self, examples: IntArray, coordinates: IntArray) -> FloatArray:
        r"""Return \(a_{nc}\) for the pairs `(examples[i], coordinates[i])`."""

    @abc.abstractmethod
    def combine(self, series: AnyArray, kappa: AnyArray, start: int) -> AnyArray:
        r"""Return \(\sum_p \kappa_{qp} \sum_n a_{nc}^p\,g_{nj_cp}\) for each combination and coordinate: `(Q, C)`.

        `series` is the `(P, N, J)` series of one piece of units (zero where the exact route
        takes over), `kappa` the `(Q, P)` coefficients; every coordinate's unit is in the piece,
        whose first unit is `start` (the series' column 0).
        """


Mask = NDArray[np.bool_]


def _indices(index: object, name: str, size: int, bound: int) -> str | None:
    """Say what is wrong with `index` as `size` integers in `0..bound-1`, or `None`."""
    arr = np.asarray(index)
    if arr.shape != (size,) or arr.dtype.kind not in "iu":
        return f"{name} must hold {size} integers (one per coordinate), got {arr.dtype} {arr.shape}"
    if size and (int(arr.min()) < 0 or int(arr.max()) >= bound):
        return f"{name} must lie in 0..{bound - 1}, got {int(arr.min())}..{int(arr.max())}"
    return None


def coefficients(steps: AnyArray, weights: AnyArray, order: int) -> AnyArray:
    r"""Return \(\kappa_{qp} = \sum_m w_{qm} s_m^p\) for `p = 1..order`: `(Q, P)`.

    The central difference's weights \((\tfrac12, -\tfrac12)\) at \(\pm h\) give \(h^p\) for odd
    \(p\) and exactly 0 for even \(p\) (the two powers are equal in floating point).

    Examples:
        >>> coefficients(np.array([0.1, -0.1]), np.array([[0.5, -0.5]]), 3).round(6).tolist()
        [[0.1, 0.0, 0.001]]

    """
    powers = np.power.outer(steps, np.arange(1, order + 1))  # (M, P)
    result: AnyArray = weights @ powers
    return result


@final
@attrs.frozen
class UniformUnitSteps(UnitSteps):
    r"""Unit `units[c]` of each of the `examples` examples moves by the step \(s\) itself (a bias).

    Examples:
        >>> import numpy as np
        >>> move = UniformUnitSteps(units=np.array([2, 0]), examples=3)
        >>> move.amounts(np.array([1])).tolist()               # one per example and coordinate
        [[1.0], [1.0], [1.0]]

    """

    examples: int

    def check(self, coordinates: int, examples: int, features: int) -> str | None:
        """Say what is wrong with `units` or `examples`."""
        if self.examples != examples:
            return f"examples is {self.examples!r} for a batch of {examples}"
        return super().check(coordinates, examples, features)

    def take(self, index: IntArray) -> UniformUnitSteps:
        """Return the steps of the coordinates `index`."""
        return UniformUnitSteps(units=self.units[index], examples=self.examples)

    def row_bound(self) -> FloatArray:
        """1 in every example."""
        return np.ones(self.examples)

    def amounts(self, needed: IntArray) -> FloatArray:
        """1 for every example and coordinate."""
        return np.ones((self.examples, needed.size))

    def amount_at(self, examples: IntArray, coordinates: IntArray) -> FloatArray:
        """1 for every pair."""
        return np.ones(examples.size)

    def combine(self, series: AnyArray, kappa: AnyArray, start: int) -> AnyArray:
        r"""\(\kappa\,S\) with \(S_p = \sum_n g_{njp}\), at each coordinate's unit."""
        sums = series.sum(axis=1)  # (P, J)
        combined: AnyArray = (kappa @ sums)[:, self.units - start]
        return combined


@final
@attrs.define(eq=False)
class FactorPowers:
    r"""The powers \(a^1, a^2, \ldots\) of a factor's columns that are not 0 in every example.

    Kept as `(N, active columns)`, extended on demand, with their stacks for the orders a stencil
    needs (row blocks, so that products read them transposed at no cost); kept between calls
    while they fit the budget. Columns that are 0 in every example (most of MNIST's border) move
    nothing.
    """

    factor: FloatArray
    _active: IntArray | None = attrs.field(default=None, init=False)
    _kept: list[AnyArray] = attrs.field(factory=list, init=False)
    _stacks: dict[tuple[int, ...], AnyArray] = attrs.field(factory=dict, init=False)

    @property
    def active(self) -> IntArray:
        """The columns of the factor that are not 0 in every example."""
        if self._active is None:
            self._active = np.flatnonzero(self.factor.any(axis=0))
            self._kept = [self.factor[:, self._active]]
        return self._active

    def up_to(self, order: int, budget: int) -> list[AnyArray]:
        """Return the powers `1..order` of the active columns, `(N, active)` each.

        Kept if `order * size <= budget`.
        """
        _ = self.active
        kept = self._kept
        if len(kept) >= order:
            return kept[:order]
        powers = list(kept)
        while len(powers) < order:
            powers.append(powers[-1] * kept[0])
        if order * kept[0].size <= budget:
            self._kept = powers
        return powers

    def stacked(self, orders: tuple[int, ...], budget: int) -> AnyArray:
        r"""Return the powers `orders` stacked: `(len(orders) * N, active columns)`.

        Each block is written in place, from the one before it (the odd powers of a central
        difference: \(a, a^3 = a \cdot a^2, a^5 = a^3 \cdot a^2\)).
        """
        if orders in self._stacks:
            return self._stacks[orders]
        first = self.up_to(1, budget)[0]
        examples = first.shape[0]
        stack = np.empty((len(orders) * examples, first.shape[1]))
        square = first * first if any(p > 1 for p in orders) else first
        have, power = 1, first
        for i, p in enumerate(orders):
            block = stack[i * examples : (i + 1) * examples]
            if have + 2 <= p:
                np.multiply(power, square, out=block)
                have, power = have + 2, block
            while have + 2 <= p:
                power *= square
                have += 2
            if have < p:
                np.multiply(power, first, out=block)
                have, power = have + 1, block
            elif power is not block:
                block[...] = power
        if stack.size <= budget:
            self._stacks[orders] = stack
        return stack


def _shared_powers(move: ScaledUnitSteps) -> FactorPowers:
    return FactorPowers(move.factor)


@final
@attrs.frozen
class ScaledUnitSteps(UnitSteps):
    r"""Unit `units[c]` of example \(n\) moves by \(s\,a_{n f_c}\): `factor[n, inputs[c]]`.

    A weight \(W_{ij}\) of \(y = xW + b\) is the coordinate with unit \(j\) and column \(i\) of
    the factor \(x\). The powers of the factor are shared by every move taken from this one.
    """

    factor: FloatArray
    inputs: IntArray
    powers: FactorPowers = attrs.field(
        default=attrs.Factory(_shared_powers, takes_self=True), eq=False, repr=False
    )

    def check(self, coordinates: int, examples: int, features: int) -> str | None:
        """Say what is wrong with `units`, `factor` (one row per example) or `inputs`."""
        factor = self.factor
        if not isinstance(factor, np.ndarray) or factor.ndim != 2 or factor.shape[0] != examples:
            shape = getattr(factor, "shape", type(factor).__name__)
            return f"factor must be a 2-D array of one row per example ({examples}), got {shape}"
        found = super().check(coordinates, examples, features)
        return found or _indices(self.inputs, "inputs", coordinates, factor.shape[1])

    def take(self, index: IntArray) -> ScaledUnitSteps:
        """Return the steps of the coordinates `index` (sharing the factor and its powers)."""
        return ScaledUnitSteps(
            units=self.units[index], factor=self.factor, inputs=self.inputs[index], powers=self.powers
        )

    def row_bound(self) -> FloatArray:
        r"""\(\max_f |a_{nf}|\) per example."""
        bound: FloatArray = np.max(np.abs(self.factor), axis=1)
        return bound

    def amounts(self, needed: IntArray) -> FloatArray:
        """`factor[:, inputs[needed]]`."""
        found: FloatArray = self.factor[:, self.inputs[needed]]
        return found

    def amount_at(self, examples: IntArray, coordinates: IntArray) -> FloatArray:
        """`factor[examples, inputs[coordinates]]`."""
        found: FloatArray = self.factor[examples, self.inputs[coordinates]]
        return found

    def combine(self, series: AnyArray, kappa: AnyArray, start: int) -> AnyArray:
        r"""\(\sum_p \kappa_{qp} (a^p)^\top g_p\) over the active columns, placed per coordinate.

        A combination with few non-zero \(\kappa_{qp}\) (a stencil's sum) is one product of the
        stacked powers with the stacked \(\kappa_{qp} g_p\); many (each step's change) take the
        products \(S_p = (a^p)^\top g_p\) once and combine them. For a whole piece in the order of
        a task (its coordinates as they lie in `(columns, J)`) the result is written in place;
        either way each element takes the same operations, so the numbers do not depend on how
        coordinates are grouped.
        """
        order, _, width = series.shape
        budget = limits.ELEMENT_BUDGET
        used = [tuple(int(p) + 1 for p in np.flatnonzero(row)) for row in kappa]
        parts: list[AnyArray]
        if np.iscomplexobj(kappa) or sum(len(u) for u in used) > order:
            sums = [term.T @ series[q] for q, term in enumerate(self.powers.up_to(order, budget))]
            parts = [sum((kappa[q, p] * sums[p] for p in range(order)), start=np.zeros_like(sums[0], dtype=kappa.dtype)) for q in range(kappa.shape[0])]
        else:
            parts = []
            for q, orders in enumerate(used):
                if not orders:
                    parts.append(np.zeros((self.powers.active.size, width)))
                    continue
                index = np.array(orders) - 1
                weighted = (kappa[q, index][:, None, None] * series[index]).reshape(-1, width)
                parts.append(self.powers.stacked(orders, budget).T @ weighted)
        return self._placed(parts, start, width, np.result_type(kappa, np.float64))

    def _placed(self, parts: list[AnyArray], start: int, width: int, dtype: Any) -> AnyArray:
        """Put each combination's `(active columns, J)` values at the coordinates: `(Q, C)`."""
        column = self.units - start
        out = np.zeros((len(parts), column.size), dtype=dtype)
        active = self.powers.active
        inputs = self.factor.shape[1]
        if column.size == inputs * width and _in_grid_order(self.inputs, column, width):
            for q, part in enumerate(parts):
                # Columns that are 0 in every example move nothing: their changes stay 0.
                out[q].reshape(inputs, width)[active] = part
            return out
        position = np.full(inputs, -1)
        position[active] = np.arange(active.size)
        row = position[self.inputs]
        keep = row >= 0
        for q, part in enumerate(parts):
            out[q, keep] = part[row[keep], column[keep]]
        return out


def _in_grid_order(inputs: IntArray, column: IntArray, width: int) -> bool:
    """Whether coordinates `(inputs[c], column[c])` are those of an `(inputs, width)` grid in C order."""
    flat_index = inputs * width + column
    return bool(flat_index[0] == 0 and (np.diff(flat_index) == 1).all())
