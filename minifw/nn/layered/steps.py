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
coordinate's change is \(\sum_n G_{nj_c}(s\,a_{nc}) = \sum_p s^p \sum_n a_{nc}^p\,g_{nj_cp}\): a
few matrix products give every coordinate at once. A new kind of step move (a convolution's
filter step moves one channel at every position) subclasses
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
]


class StepEngine(Protocol):
    """What computes the loss changes of each kind of step move (the layered objective)."""

    def unit_steps(self, k: int, local: str, move: UnitSteps, steps: AnyArray) -> AnyArray:
        """Return the `(C, M)` loss changes (unweighted) of unit steps of layer `k`'s `local`."""
        ...

    def channel_steps(self, k: int, local: str, move: ChannelSteps, steps: AnyArray) -> AnyArray:
        """Return the `(C, M)` loss changes (unweighted) of channel steps of layer `k`'s `local`."""
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
    def loss_changes(self, engine: StepEngine, k: int, local: str, steps: AnyArray) -> AnyArray:
        """Return the `(C, M)` loss changes of steps `steps` of each coordinate, from `engine`."""


@attrs.frozen
class UnitSteps(StepMove):
    r"""Steps that move one output unit (`units[c]`, a flat feature index) in every example.

    The series route gives \(g_{njp}\) for the units of one piece at once; a kind says how its
    amounts \(a_{nc}\) turn those into the sums \(S_p = \sum_n a_{nc}^p g_{nj_cp}\)
    ([`sums`][minifw.nn.layered.steps.UnitSteps.sums]) and the sums into each coordinate's
    \(\sum_p s^p S_p\) ([`evaluate`][minifw.nn.layered.steps.UnitSteps.evaluate]).
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
    def loss_changes(self, engine: StepEngine, k: int, local: str, steps: AnyArray) -> AnyArray:
        """Ask the engine's unit route (series where trusted, exact elsewhere)."""
        return engine.unit_steps(k, local, self, steps)

    @abc.abstractmethod
    def amounts(self, needed: IntArray) -> FloatArray:
        r"""Return \(a_{nc}\) for the coordinates `needed`: `(N, len(needed))`."""

    @abc.abstractmethod
    def sums(self, series: AnyArray, budget: int) -> list[AnyArray]:
        r"""Return \(S_p\), `p = 1..P`, from the `(P, N, J)` series of one piece of units.

        `budget` bounds the scratch a kind may keep between calls (elements).
        """

    @abc.abstractmethod
    def evaluate(self, sums: list[AnyArray], steps: AnyArray, start: int) -> AnyArray:
        r"""Return \(\sum_p s^p S_p\) for each coordinate (all in one piece) and step: `(C, M)`.

        `start` is the piece's first unit (the sums' column 0).
        """


def _indices(index: object, name: str, size: int, bound: int) -> str | None:
    """Say what is wrong with `index` as `size` integers in `0..bound-1`, or `None`."""
    arr = np.asarray(index)
    if arr.shape != (size,) or arr.dtype.kind not in "iu":
        return f"{name} must hold {size} integers (one per coordinate), got {arr.dtype} {arr.shape}"
    if size and (int(arr.min()) < 0 or int(arr.max()) >= bound):
        return f"{name} must lie in 0..{bound - 1}, got {int(arr.min())}..{int(arr.max())}"
    return None


def _horner(terms: list[AnyArray], step: float | complex, dtype: np.dtype[Any]) -> AnyArray:
    r"""Return \(\sum_q s^q T_q\) (`terms[q - 1]` is \(T_q\)) by Horner's rule, in place."""
    acc = np.zeros(terms[0].shape, dtype=dtype)
    for q in range(len(terms), 0, -1):
        acc += terms[q - 1]
        acc *= step
    return acc


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

    def sums(self, series: AnyArray, budget: int) -> list[AnyArray]:
        r"""\(S_p = \sum_n g_{njp}\)."""
        return [series[q].sum(axis=0) for q in range(series.shape[0])]

    def evaluate(self, sums: list[AnyArray], steps: AnyArray, start: int) -> AnyArray:
        """Horner's rule on the whole piece (then picked) or on the coordinates' own sums."""
        dtype = np.result_type(steps, np.float64)
        column = self.units - start
        out = np.zeros((steps.size, column.size), dtype=dtype)  # returned transposed
        whole = column.size == sums[0].shape[-1]
        picks = sums if whole else [term[column] for term in sums]
        for m, step in enumerate(steps.tolist()):
            acc = _horner(picks, step, dtype)
            out[m] = acc[column] if whole else acc
        return out.T


@final
@attrs.define(eq=False)
class FactorPowers:
    r"""The powers \(a^1, a^2, \ldots\) of a factor's columns that are not 0 in every example.

    Kept transposed, `(active columns, N)`, and extended on demand; kept between calls while they
    fit the budget. Columns that are 0 in every example (most of MNIST's border) move nothing.
    """

    factor: FloatArray
    _active: IntArray | None = attrs.field(default=None, init=False)
    _kept: list[AnyArray] = attrs.field(factory=list, init=False)

    @property
    def active(self) -> IntArray:
        """The columns of the factor that are not 0 in every example."""
        if self._active is None:
            xt = np.ascontiguousarray(self.factor.T)
            self._active = np.flatnonzero(np.any(xt != 0, axis=1))
            self._kept = [xt[self._active]]
        return self._active

    def up_to(self, order: int, budget: int) -> list[AnyArray]:
        """Return the powers `1..order` of the active columns (kept if `order * size <= budget`)."""
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

    def sums(self, series: AnyArray, budget: int) -> list[AnyArray]:
        r"""\(S_p = (a^p)^\top g_p\) over the active columns: `(active columns, J)`."""
        order = series.shape[0]
        powers = self.powers.up_to(order, budget)
        return [powers[q] @ series[q] for q in range(order)]

    def evaluate(self, sums: list[AnyArray], steps: AnyArray, start: int) -> AnyArray:
        """Horner's rule on the whole piece (then placed) or on the coordinates' own sums.

        For a whole piece in the order of a task (the piece's coordinates as they lie in
        `(columns, J)`) the result is written in place; either way each element takes the same
        operations, so the numbers do not depend on how coordinates are grouped.
        """
        dtype = np.result_type(steps, np.float64)
        column = self.units - start
        out = np.zeros((steps.size, column.size), dtype=dtype)  # returned transposed
        width = sums[0].shape[-1]
        active = self.powers.active
        inputs = self.factor.shape[1]
        whole = column.size == inputs * width
        flat = self.inputs * width + column
        if whole:
            in_order = bool(np.array_equal(flat, np.arange(flat.size)))
            for m, step in enumerate(steps.tolist()):
                acc = _horner(sums, step, dtype)
                if in_order:
                    # Columns that are 0 in every example move nothing: their changes stay 0.
                    out[m].reshape(inputs, width)[active] = acc
                else:
                    full = np.zeros((inputs, width), dtype=dtype)
                    full[active] = acc
                    out[m] = full.reshape(-1)[flat]
            return out.T
        position = np.full(inputs, -1)
        position[active] = np.arange(active.size)
        row = position[self.inputs]
        keep = row >= 0
        picks = [term[row[keep], column[keep]] for term in sums]
        for m, step in enumerate(steps.tolist()):
            out[m, keep] = _horner(picks, step, dtype)
        return out.T
