r"""The series route's moves: every example moved by each unit of a piece, kept as short sums.

Lane \((n, u)\) of a grid of \(N\) examples and \(U\) units is example \(n\) with unit \(u\)
of layer \(k\)'s output (a flat feature of any activation shape) moved by \(t\). At the input of
each later layer a [`TermsMove`][minifw.nn.layered.grid.TermsMove] keeps that move as

\[
\Delta_{nu}(t) = \sum_r D_{r,nu}(t)\; v_{r,nu},
\]

a few terms, each an amount series \(D_r\) (Taylor coefficients in \(t\), `(P, N, U)`) times a
direction in the layer's features, in the cheapest exact form:

| direction | \(v_{nu}\) | arises |
|---|---|---|
| [`UnitDirection`][minifw.nn.layered.grid.UnitDirection] | one feature (per unit, or per lane) | at the start; past an elementwise layer |
| [`VectorDirection`][minifw.nn.layered.grid.VectorDirection] | a vector per unit, \(B_u\), the same in every example | past a linear layer |
| [`FactoredDirection`][minifw.nn.layered.grid.FactoredDirection] | \(A_n \odot B_u\): an example's factor times a unit's vector | past an elementwise layer after a linear one |
| [`LaneDirection`][minifw.nn.layered.grid.LaneDirection] | a vector per lane | past a linear layer after a factored move |

A linear layer maps each direction (a unit's image is a row of its matrix; a factored move's image
is one matrix product per term, \(B\,(\operatorname{diag}(A_n) M)\), for every example at once).
An elementwise layer with Taylor coefficients \(\tau_q\) ([`HasTaylor`][minifw.nn.layers.HasTaylor])
turns one term into \(\sum_q D^q\,(\tau_q \odot v^q)\), and stays one term where it is linear (ReLU
away from its kink). What no form keeps (several terms through a nonlinear layer, a layer that only
has a [`series_change`][minifw.nn.layers.SeriesLayer]) becomes the dense series `(P, N, U, F)`,
a [`DenseGridMove`][minifw.nn.layered.grid.DenseGridMove].

Every pass also says which lanes its series is trusted for (a kink or a pole within reach sends
that example and unit to the exact route), and the last layer and the loss close the move into
each lane's loss-change series.

The module is longer than ~500 lines on purpose: the four directions and the moves that hold them
are one concept, each direction's `linear`, `scaled` and `power` returning another of them.

Examples:
    >>> import numpy as np
    >>> move = TermsMove.start(examples=2, units=np.array([1, 0]), order=3)
    >>> move.dense(2)[:, 0].tolist()    # example 0: unit 1 moves by t, unit 0 by t
    [[[0.0, 1.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]

"""

from __future__ import annotations

import abc
import math
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError
from minifw.nn import _series
from minifw.nn.capability import declares
from minifw.nn.layered import limits
from minifw.nn.layered.moves import units_of
from minifw.nn.layers.layer import (
    Elementwise,
    HasTaylor,
    Layer,
    Linear,
    PerExample,
    RelativeOutputs,
    SeriesLayer,
)
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = [
    "DenseGridMove",
    "Direction",
    "FactoredDirection",
    "Grid",
    "GridMove",
    "LaneDirection",
    "LayerSeries",
    "TermsMove",
    "UnitDirection",
    "VectorDirection",
    "flat",
    "scratch_per_lane",
    "terms_for",
]

Mask = NDArray[np.bool_]


def flat(a: AnyArray) -> AnyArray:
    """Return `a` with its features flattened: `(rows, features)`."""
    return a.reshape(a.shape[0], -1)


def terms_for(ratio: float, order: int) -> int:
    r"""Return how many terms of a series whose \(q\)-th term is at most \(C\,r^q\) are needed.

    The terms left out add up to less than the series tolerance (with a margin of a thousand)
    against the first; at most `order`, all of them for \(r \ge 1/4\).

    Examples:
        >>> terms_for(0.0, 6), terms_for(1e-6, 6), terms_for(0.1, 6), terms_for(0.5, 6)
        (1, 4, 6, 6)

    """
    if ratio <= 0.0:
        return 1
    if ratio >= 0.25:
        return order
    needed = math.ceil(math.log(limits.SERIES_TOLERANCE * 1e-3) / math.log(ratio))
    return max(1, min(order, needed))


@final
@attrs.define(eq=False)
class LayerSeries:
    """What the series of one network need per layer, computed once per order and kept.

    `acts[m]` is the input of layer `m`. For an elementwise layer with Taylor coefficients: the
    coefficients of its change at every input, how far they are trusted and whether the layer is
    linear there; for a linear layer: its matrix (kept when it fits `budget` elements).
    """

    layers: tuple[Layer, ...]
    acts: tuple[FloatArray, ...]
    budget: int
    _taylor: dict[tuple[int, int], tuple[AnyArray, FloatArray, bool]] = attrs.field(
        factory=dict, init=False
    )
    _inverse: dict[tuple[int, int], FloatArray] = attrs.field(factory=dict, init=False)
    _matrix: dict[int, AnyArray | None] = attrs.field(factory=dict, init=False)

    def taylor(self, m: int, order: int) -> tuple[AnyArray, FloatArray, bool]:
        r"""Return `(coefficients, limit, linear)` of layer `m` at all its inputs, flat.

        `coefficients` is `(P, N, F)`; a move of feature \(f\) of example \(n\) is trusted while
        its size stays within `limit[n, f]` (half the convergence radius, or the whole radius
        where the layer is linear: a piecewise linear function's series is exact up to its kink).
        """
        key = (m, order)
        if key not in self._taylor:
            layer = self.layers[m]
            assert declares(layer, HasTaylor)
            x, y = flat(self.acts[m]), flat(self.acts[m + 1])
            found = coefficients_and_limit(layer, x, y, order)
            if found[0].size > self.budget:
                return found
            self._taylor[key] = found
        return self._taylor[key]

    def inverse_limit(self, m: int, order: int) -> FloatArray:
        """Return `1 / limit` of layer `m` (inf where the limit is 0), kept with the coefficients."""
        key = (m, order)
        if key not in self._inverse:
            _, limit, _ = self.taylor(m, order)
            with np.errstate(divide="ignore"):
                self._inverse[key] = 1.0 / limit
        return self._inverse[key]

    def matrix(self, m: int) -> AnyArray | None:
        """Return the matrix of linear layer `m` (`(F_in, F_out)`, flat), or `None` if too large."""
        if m not in self._matrix:
            layer = self.layers[m]
            assert declares(layer, Linear)
            inputs = math.prod(self.acts[m].shape[1:])
            outputs = math.prod(self.acts[m + 1].shape[1:])
            self._matrix[m] = (
                flat(np.asarray(layer.unit_images(np.arange(inputs))))
                if inputs * outputs <= self.budget
                else None
            )
        return self._matrix[m]


def scratch_per_lane(series: LayerSeries, start: int, order: int) -> int:
    """Return about how many numbers per lane the grid moves keep from layer `start` on.

    The forms of the module text, walked through the later layers: unit, shared and factored
    directions keep a few series per lane; vectors per lane their features for every term; a
    dense move every order of every feature.
    """
    kind, terms, peak = "unit", 1, 4 * order
    last = len(series.layers) - 1
    for m in range(start, len(series.layers)):
        layer = series.layers[m]
        if m == last and declares(layer, RelativeOutputs):
            break  # a head rule takes the move as it is
        features = math.prod(series.acts[m + 1].shape[1:])
        if declares(layer, Linear):
            kind = {"unit": "shared", "shared": "shared"}.get(kind, "lane" if kind != "dense" else kind)
        elif declares(layer, Elementwise) and declares(layer, HasTaylor):
            if kind != "unit" and not series.taylor(m, order)[2]:
                kind, terms = ("dense", terms) if terms > 1 else (kind, order)
            kind = "factored" if kind == "shared" else kind
        elif not (declares(layer, Elementwise) and kind == "unit"):
            kind = "dense"
        width = {"lane": terms * features, "dense": order * features}.get(kind, 0)
        peak = max(peak, width + 4 * order)
    return peak


def coefficients_and_limit(
    layer: HasTaylor, x: AnyArray, y: AnyArray, order: int
) -> tuple[AnyArray, FloatArray, bool]:
    """Return the layer's Taylor coefficients at `x`, the trusted move sizes, and linearity."""
    coeffs, radius = layer.taylor(x, y, order)
    linear = not np.any(coeffs[1:])
    limit: FloatArray = np.asarray(radius, dtype=np.float64) * (1.0 if linear else 0.5)
    return np.asarray(coeffs), limit, linear


@final
@attrs.frozen(eq=False)
class Grid:
    r"""The shape of a grid move and what bounds it: `order` terms, `examples` x `units` lanes.

    `reach` bounds each example's \(|t|\) (`(N,)`); `series` holds the per-layer data; `rows`
    is the example of each lane in lane order `n * U + u`, and `lane_reach` its reach.
    """

    order: int
    examples: int
    units: int
    reach: FloatArray
    series: LayerSeries
    rows: IntArray = attrs.field(init=False)
    lane_reach: FloatArray = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        rows = np.repeat(np.arange(self.examples), self.units)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "lane_reach", self.reach[rows])

    def magnitude(self, amounts: AnyArray) -> FloatArray:
        r"""Return \(\sum_p |D_p|\,t^p\) at each lane's reach: a bound on \(|D(t)|\), `(N, U)`."""
        return _series.magnitude(amounts, self.reach[:, None])


# --- directions --------------------------------------------------------------------------------


class Direction(abc.ABC):
    """The direction of one term of a grid move, in the features `(F,)` of some layer's input."""

    @abc.abstractmethod
    def linear(self, layer: Linear, m: int, grid: Grid) -> Direction:
        """Return the direction past linear layer `m`."""

    @abc.abstractmethod
    def scaled(self, factor: AnyArray) -> Direction:
        """Return the direction times an example's factor per feature, `factor` `(N, F)`."""

    @abc.abstractmethod
    def power(self, q: int) -> Direction:
        r"""Return the direction with every feature raised to the power \(q\)."""

    @abc.abstractmethod
    def ratio(self, inverse_limit: FloatArray) -> FloatArray:
        r"""Return a bound on \(\max_f |v_{nu f}| / \ell_{nf}\) per lane (`inverse_limit` is \(1/\ell\))."""

    @abc.abstractmethod
    def exact_ratio(self, inverse_limit: FloatArray, n: IntArray, u: IntArray) -> FloatArray:
        r"""Return \(\max_f |v_{nu f}| / \ell_{nf}\) for the lanes `(n, u)` given."""

    @abc.abstractmethod
    def dense(self, examples: int, features: int) -> AnyArray:
        """Return the direction of every lane as `(N, U, F)`."""

    @abc.abstractmethod
    def vectors(self, examples: int, features: int) -> AnyArray:
        """Return the direction as the vectors of a head: `(U, F)` shared, or `(N, U, F)`."""


def _guarded(values: FloatArray, scale: FloatArray) -> FloatArray:
    """Return `values * scale` with 0 where `values` is 0 (also where `scale` is inf)."""
    with np.errstate(invalid="ignore"):
        out: FloatArray = np.where(values == 0, 0.0, values * scale)
    return out


@final
@attrs.frozen(eq=False)
class UnitDirection(Direction):
    """Each lane moves one feature: `features` `(U,)` (the same in every example) or `(N, U)`."""

    features: IntArray

    def linear(self, layer: Linear, m: int, grid: Grid) -> Direction:
        """Return a row of the layer's matrix per unit (per lane if the features differ by example)."""
        if self.features.ndim == 1:
            return VectorDirection(flat(np.asarray(layer.unit_images(self.features))))
        images = flat(np.asarray(layer.unit_images(self.features.reshape(-1))))
        return LaneDirection(images.reshape(*self.features.shape, -1))

    def scaled(self, factor: AnyArray) -> Direction:
        """Each lane's unit vector times its example's factor there: a vector per lane."""
        examples = factor.shape[0]
        return LaneDirection(self.dense(examples, factor.shape[1]) * factor[:, None, :])

    def power(self, q: int) -> Direction:
        """Return the unit itself: a unit stays a unit (its amount carries the powers)."""
        return self

    def gather(self, a: AnyArray) -> AnyArray:
        """Return `a[n, features[n, u]]` for every lane, `(N, U)` (`a` is `(N, F)` or `(P, N, F)`)."""
        rows = np.arange(a.shape[-2])[:, None]
        return a[..., rows, self.features]

    def lane_features(self, grid: Grid) -> IntArray:
        """Return the feature of every lane, in lane order `n * U + u`: `(N * U,)`."""
        found: IntArray = np.broadcast_to(self.features, (grid.examples, grid.units)).reshape(-1)
        return found

    def ratio(self, inverse_limit: FloatArray) -> FloatArray:
        """Return the inverse limit at each lane's feature."""
        found: FloatArray = self.gather(inverse_limit)
        return found

    def exact_ratio(self, inverse_limit: FloatArray, n: IntArray, u: IntArray) -> FloatArray:
        """Return the inverse limit at the feature of each lane given."""
        features = self.features[u] if self.features.ndim == 1 else self.features[n, u]
        found: FloatArray = inverse_limit[n, features]
        return found

    def dense(self, examples: int, features: int) -> AnyArray:
        """Zeros but for each lane's feature."""
        units = self.features.shape[-1]
        out = np.zeros((examples, units, features))
        n = np.arange(examples)[:, None]
        out[n, np.arange(units)[None, :], np.broadcast_to(self.features, (examples, units))] = 1.0
        return out

    def vectors(self, examples: int, features: int) -> AnyArray:
        """Return unit vectors: rows of the identity."""
        found: AnyArray = np.eye(features)[self.features]
        return found


@final
@attrs.frozen(eq=False)
class VectorDirection(Direction):
    """Lane `(n, u)` moves along `vectors[u]`, whatever the example (`(U, F)`)."""

    vectors_: AnyArray

    def linear(self, layer: Linear, m: int, grid: Grid) -> Direction:
        """Each vector's image."""
        shape = grid.series.acts[m].shape[1:]
        return VectorDirection(flat(np.asarray(layer.image(self.vectors_.reshape(-1, *shape)))))

    def scaled(self, factor: AnyArray) -> Direction:
        """Return the factored direction: an example factor times the unit vectors."""
        return FactoredDirection(factor, self.vectors_)

    def power(self, q: int) -> Direction:
        """Each entry to the power `q`."""
        return self if q == 1 else VectorDirection(self.vectors_**q)

    def ratio(self, inverse_limit: FloatArray) -> FloatArray:
        """`max |B_u| * max_f 1/l_nf` (a bound)."""
        largest = np.max(np.abs(self.vectors_), axis=1)
        found: FloatArray = largest[None, :] * np.max(inverse_limit, axis=1)[:, None]
        return found

    def exact_ratio(self, inverse_limit: FloatArray, n: IntArray, u: IntArray) -> FloatArray:
        """`max_f |B_uf| / l_nf` for the lanes given."""
        found: FloatArray = np.max(_guarded(np.abs(self.vectors_[u]), inverse_limit[n]), axis=1)
        return found

    def dense(self, examples: int, features: int) -> AnyArray:
        """Return the vectors, repeated for every example."""
        return np.broadcast_to(self.vectors_, (examples, *self.vectors_.shape))

    def vectors(self, examples: int, features: int) -> AnyArray:
        """Return the shared vectors."""
        return self.vectors_


@final
@attrs.frozen(eq=False)
class FactoredDirection(Direction):
    """Lane `(n, u)` moves along `example[n] * unit[u]` (`(N, F)` times `(U, F)`)."""

    example: AnyArray
    unit: AnyArray

    def linear(self, layer: Linear, m: int, grid: Grid) -> Direction:
        r"""\(B\,(\operatorname{diag}(A_n)\,M)\) for every example: one product per term."""
        matrix = grid.series.matrix(m)
        examples, features = self.example.shape
        if matrix is not None and examples * matrix.size <= grid.series.budget:
            scaled = self.example[:, :, None] * matrix[None]  # (N, F, K)
            return LaneDirection(np.matmul(self.unit[None], scaled))  # (N, U, K)
        shape = grid.series.acts[m].shape[1:]
        dense = self.dense(examples, features).reshape(-1, *shape)
        images = flat(np.asarray(layer.image(dense)))
        return LaneDirection(images.reshape(examples, self.unit.shape[0], -1))

    def scaled(self, factor: AnyArray) -> Direction:
        """Return the direction with its example factor times `factor`."""
        return FactoredDirection(self.example * factor, self.unit)

    def power(self, q: int) -> Direction:
        """Both factors to the power `q`."""
        return self if q == 1 else FactoredDirection(self.example**q, self.unit**q)

    def ratio(self, inverse_limit: FloatArray) -> FloatArray:
        """`max |B_u| * max_f |A_nf| / l_nf` (a bound)."""
        per_example = np.max(_guarded(np.abs(self.example), inverse_limit), axis=1)
        found: FloatArray = np.max(np.abs(self.unit), axis=1)[None, :] * per_example[:, None]
        return found

    def exact_ratio(self, inverse_limit: FloatArray, n: IntArray, u: IntArray) -> FloatArray:
        """`max_f |A_nf B_uf| / l_nf` for the lanes given."""
        moved = np.abs(self.example[n] * self.unit[u])
        found: FloatArray = np.max(_guarded(moved, inverse_limit[n]), axis=1)
        return found

    def dense(self, examples: int, features: int) -> AnyArray:
        """Return the products, `(N, U, F)`."""
        found: AnyArray = self.example[:, None, :] * self.unit[None, :, :]
        return found

    def vectors(self, examples: int, features: int) -> AnyArray:
        """Return the products, per example."""
        return self.dense(examples, features)


@final
@attrs.frozen(eq=False)
class LaneDirection(Direction):
    """Lane `(n, u)` moves along its own vector `vectors[n, u]` (`(N, U, F)`)."""

    vectors_: AnyArray

    def linear(self, layer: Linear, m: int, grid: Grid) -> Direction:
        """Each lane's image."""
        examples, units, _ = self.vectors_.shape
        shape = grid.series.acts[m].shape[1:]
        images = flat(np.asarray(layer.image(self.vectors_.reshape(-1, *shape))))
        return LaneDirection(images.reshape(examples, units, -1))

    def scaled(self, factor: AnyArray) -> Direction:
        """Each lane's vector times its example's factor."""
        return LaneDirection(self.vectors_ * factor[:, None, :])

    def power(self, q: int) -> Direction:
        """Each entry to the power `q`."""
        return self if q == 1 else LaneDirection(self.vectors_**q)

    def ratio(self, inverse_limit: FloatArray) -> FloatArray:
        """`max_f |v_nuf| / l_nf` (exact)."""
        found: FloatArray = np.max(
            _guarded(np.abs(self.vectors_), inverse_limit[:, None, :]), axis=2
        )
        return found

    def exact_ratio(self, inverse_limit: FloatArray, n: IntArray, u: IntArray) -> FloatArray:
        """Return `max_f |v_nuf| / l_nf` for the lanes given."""
        found: FloatArray = np.max(_guarded(np.abs(self.vectors_[n, u]), inverse_limit[n]), axis=1)
        return found

    def dense(self, examples: int, features: int) -> AnyArray:
        """Return the vectors themselves."""
        return self.vectors_

    def vectors(self, examples: int, features: int) -> AnyArray:
        """Return the vectors, per example."""
        return self.vectors_


# --- moves -------------------------------------------------------------------------------------


class GridMove(abc.ABC):
    r"""The move of every lane of a grid at some layer's input, as Taylor series in \(t\)."""

    @abc.abstractmethod
    def through(self, layer: Layer, m: int, grid: Grid) -> tuple[GridMove, Mask]:
        """Return the move past layer `m` and the lanes its series is trusted for, `(N, U)`."""

    @abc.abstractmethod
    def dense(self, features: int) -> AnyArray:
        """Return the whole series, `(P, N, U, F)`."""

    @abc.abstractmethod
    def single(self) -> Term | None:
        """Return the move's one term if it is one amount series times a direction, else `None`."""


def _dense_through(
    dense: AnyArray, layer: Layer, m: int, grid: Grid
) -> tuple[DenseGridMove, Mask]:
    """Push a dense series through layer `m` by its own rules."""
    order, examples, units, _ = dense.shape
    x, y = grid.series.acts[m], grid.series.acts[m + 1]
    shape = x.shape[1:]
    if declares(layer, Linear):
        images = flat(np.asarray(layer.image(dense.reshape(-1, *shape))))
        return DenseGridMove(images.reshape(order, examples, units, -1)), _all(grid)
    if declares(layer, Elementwise) and declares(layer, HasTaylor):
        coeffs, limit, _ = grid.series.taylor(m, order)
        moved = _series.magnitude(dense, grid.reach[:, None, None])
        ok = np.all(moved <= limit[:, None, :], axis=2)
        return DenseGridMove(_series.compose(coeffs[:, :, None, :], dense)), ok
    rows = grid.rows
    here = layer.for_rows(rows) if declares(layer, PerExample) else layer
    assert declares(here, SeriesLayer)
    moved, ok_lanes = here.series_change(
        x[rows], y[rows], dense.reshape(order, examples * units, *shape), grid.lane_reach
    )
    out = flat(np.asarray(moved).reshape(order * examples * units, -1))
    ok = np.asarray(ok_lanes, dtype=bool).reshape(examples, units)
    return DenseGridMove(out.reshape(order, examples, units, -1)), ok


def _all(grid: Grid) -> Mask:
    return np.ones((grid.examples, grid.units), dtype=bool)


@final
@attrs.frozen(eq=False)
class Term:
    r"""One term: the amount series `amounts` (`(P, N, U)`, zero below order `low`) times `direction`.

    `start` marks the amounts of the starting move, \(D = t\) (so a first elementwise layer's
    series is its Taylor coefficients themselves).
    """

    amounts: AnyArray
    direction: Direction
    low: int = 1
    start: bool = False


@final
@attrs.frozen(eq=False)
class TermsMove(GridMove):
    r"""\(\Delta_{nu}(t) = \sum_r D_{r,nu}(t)\,v_{r,nu}\): the cheap forms (module text)."""

    terms: tuple[Term, ...]

    @classmethod
    def start(cls, examples: int, units: IntArray, order: int) -> TermsMove:
        r"""Return the move of each of the `units` by \\(t\\) in every example."""
        amounts = np.zeros((order, examples, units.size))
        amounts[0] = 1.0
        return cls((Term(amounts, UnitDirection(units), start=True),))

    def through(self, layer: Layer, m: int, grid: Grid) -> tuple[GridMove, Mask]:
        """Keep the form past a linear or an elementwise layer; otherwise go dense."""
        if declares(layer, Linear):
            moved = tuple(
                Term(term.amounts, term.direction.linear(layer, m, grid), term.low)
                for term in self.terms
            )
            return TermsMove(moved), _all(grid)
        if declares(layer, Elementwise) and declares(layer, HasTaylor):
            if len(self.terms) == 1 and isinstance(self.terms[0].direction, UnitDirection):
                return self._unit_taylor(layer, m, grid)
            coeffs, _, linear = grid.series.taylor(m, grid.order)
            if linear or len(self.terms) == 1:
                return self._elementwise(coeffs, grid.series.inverse_limit(m, grid.order), linear, grid)
        elif (
            declares(layer, Elementwise)
            and len(self.terms) == 1
            and isinstance(self.terms[0].direction, UnitDirection)
        ):
            return self._unit_series(layer, m, grid)
        return _dense_through(self.dense(math.prod(grid.series.acts[m].shape[1:])), layer, m, grid)

    def _unit_taylor(self, layer: HasTaylor, m: int, grid: Grid) -> tuple[TermsMove, Mask]:
        """One unit per lane past an elementwise layer: the Taylor series at that input."""
        term = self.terms[0]
        direction = term.direction
        assert isinstance(direction, UnitDirection)
        x = direction.gather(flat(grid.series.acts[m]))
        y = direction.gather(flat(grid.series.acts[m + 1]))
        if declares(layer, PerExample):
            here = units_of(layer, grid.rows, direction.lane_features(grid))
            if not declares(here, HasTaylor):
                raise DifferentiationError(
                    f"{type(layer).__name__}.for_units gave a {type(here).__name__} without taylor"
                )
            coeffs, limit, _ = coefficients_and_limit(here, x.reshape(-1), y.reshape(-1), grid.order)
            coeffs, limit = coeffs.reshape(-1, *x.shape), limit.reshape(x.shape)
        else:
            coeffs, limit, _ = coefficients_and_limit(layer, x, y, grid.order)
        if term.start:
            ok = grid.reach[:, None] <= limit
            return TermsMove((Term(coeffs, direction),)), ok
        ok = grid.magnitude(term.amounts) <= limit
        return TermsMove((Term(_series.compose(coeffs, term.amounts), direction),)), ok

    def _unit_series(self, layer: Elementwise, m: int, grid: Grid) -> tuple[TermsMove, Mask]:
        """One unit per lane past an elementwise layer without Taylor coefficients: its unit series."""
        term = self.terms[0]
        direction = term.direction
        assert isinstance(direction, UnitDirection)
        x = direction.gather(flat(grid.series.acts[m]))
        y = direction.gather(flat(grid.series.acts[m + 1]))
        order = grid.order
        here = units_of(layer, grid.rows, direction.lane_features(grid))
        amounts, ok = here.unit_series(
            x.reshape(-1), y.reshape(-1), term.amounts.reshape(order, -1), grid.lane_reach
        )
        shaped = np.asarray(amounts).reshape(order, grid.examples, grid.units)
        return TermsMove((Term(shaped, direction),)), np.asarray(ok).reshape(grid.examples, -1)

    def _elementwise(
        self, coeffs: AnyArray, inverse: FloatArray, linear: bool, grid: Grid
    ) -> tuple[TermsMove, Mask]:
        r"""Past an elementwise layer: \(\sum_q D^q (\tau_q \odot v^q)\), or \(\tau_1 \odot v\) per term."""
        ok, ratio = self._within(inverse, grid)
        if linear:
            slope = coeffs[0]
            terms = tuple(
                Term(t.amounts, t.direction.scaled(slope), t.low) for t in self.terms
            )
            return TermsMove(terms), ok
        (term,) = self.terms
        found: list[Term] = []
        power = term.amounts
        # The q-th term is at most C ratio^q against the half radius: leave out what cannot count.
        for q in range(1, min(grid.order // term.low, terms_for(ratio, grid.order)) + 1):
            if q > 1:
                power = _series.multiply(power, term.amounts, low_a=(q - 1) * term.low, low_b=term.low)
            if np.any(coeffs[q - 1]):
                found.append(Term(power, term.direction.power(q).scaled(coeffs[q - 1]), q * term.low))
        return TermsMove(tuple(found)), ok

    def _within(self, inverse_limit: FloatArray, grid: Grid) -> tuple[Mask, float]:
        """Lanes whose move stays within the limits at every feature (a bound, then exactly).

        Also the largest move against its limit over the trusted lanes.
        """
        sizes = [grid.magnitude(t.amounts) for t in self.terms]
        bound = sum(
            (_guarded(size, t.direction.ratio(inverse_limit)) for size, t in zip(sizes, self.terms, strict=True)),
            start=np.zeros((grid.examples, grid.units)),
        )
        ok: Mask = bound <= 1.0
        n, u = np.nonzero(~ok)
        if n.size:
            exact = sum(
                (
                    _guarded(size[n, u], t.direction.exact_ratio(inverse_limit, n, u))
                    for size, t in zip(sizes, self.terms, strict=True)
                ),
                start=np.zeros(n.size),
            )
            ok[n, u] = exact <= 1.0
            bound[n, u] = exact
        return ok, float(np.max(bound, where=ok, initial=0.0))

    def dense(self, features: int) -> AnyArray:
        """Return the sum of the terms, `(P, N, U, F)`."""
        order, examples, units = self.terms[0].amounts.shape
        out = np.zeros((order, examples, units, features))
        for term in self.terms:
            direction = term.direction.dense(examples, features)
            for p in range(term.low - 1, order):
                out[p] += term.amounts[p][..., None] * direction
        return out

    def single(self) -> Term | None:
        """Return the one term, if there is one."""
        return self.terms[0] if len(self.terms) == 1 else None


@final
@attrs.frozen(eq=False)
class DenseGridMove(GridMove):
    """Every lane's move in full: `series` `(P, N, U, F)`."""

    series: AnyArray

    def through(self, layer: Layer, m: int, grid: Grid) -> tuple[GridMove, Mask]:
        """By the layer's own rules."""
        return _dense_through(self.series, layer, m, grid)

    def dense(self, features: int) -> AnyArray:
        """Return the series itself."""
        return self.series

    def single(self) -> Term | None:
        """Not one amount times a direction."""
        return None
