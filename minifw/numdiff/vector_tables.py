r"""Richardson tables of first derivatives at many points at once, equal to the per-point tables.

[`tables.coordinate`][minifw.numdiff.tables.coordinate] works one point's table through in
Python. Where f acts elementwise and every point has a table of its own,
[`first_derivatives`][minifw.numdiff.vector_tables.first_derivatives] works the tables of all
the points level by level with arrays: each level's steps of every live point in one call of f,
Neville's recurrence, the bounds, the stopping rule, the probe for noise and the one-sided checks
for all of them at once, with the same arithmetic in the same order, so every float is the one
the per-point table computes. What the arrays do not do (a restart at a smaller step, an edge of
f's domain, noise that changes from call to call, a check that finds a kink or a jump, anything
not finite) leaves the point to its per-point table: it gets the point's transcript, the requests
and the changes so far, and [`replayed`][minifw.numdiff.vector_tables.replayed] feeds them to a
fresh [`coordinate`][minifw.numdiff.tables.coordinate], which goes on from there. Decisions on
the noise residuals (a sum that `math.fsum` rounds exactly) are taken from bounds on the sum;
where the bounds cannot tell, the point's own `_noise` or `_residuals` decides.

The module is long (about 540 lines) because it mirrors `tables` rule by rule: the table, the
bounds, the noise, the probe and the checks must all be here for a point to stay in the arrays.

Examples:
    >>> import numpy as np
    >>> from minifw import RichardsonDiff
    >>> xs = np.linspace(0.5, 2.0, 4)
    >>> together = RichardsonDiff().estimate(np.log, xs, elementwise=True)
    >>> alone = [RichardsonDiff().estimate(np.log, float(x)) for x in xs]
    >>> together.value.tolist() == [a.value for a in alone], together.evaluations
    (True, 37)

"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.numdiff.rounding import EPS, NOISE, TINY
from minifw.numdiff.tables import (
    AGREE,
    CONSISTENT,
    CURVED,
    GROWTH,
    MAX_LEVELS,
    MIN_LEVELS,
    NOISE_RATIO,
    PROBE,
    SCATTER,
    SMALLEST,
    Coordinate,
    Outcome,
    Quotient,
    Request,
    _noise,
    _noise_weights,
    _residuals,
)
from minifw.typing import FloatArray, IntArray

__all__ = [
    "Transcript",
    "VectorOutcome",
    "first_derivatives",
    "first_steps_of",
    "replayed",
    "resumed",
]

# What a point's table asked for and was answered, in order.
Transcript = list[tuple[Request, list[float]]]
# f's changes at steps[k] for points rows[k] (one call); f at the points again (one call).
Changes = Callable[[IntArray, FloatArray], FloatArray]
Again = Callable[[IntArray], FloatArray]

BoolArray = NDArray[np.bool_]

_HALF_ULP = 2.0**-53
_LARGEST = sys.float_info.max


@final
@attrs.frozen
class VectorOutcome:
    """The tables' results: `value` and `error` where `finished`, transcripts of the others."""

    value: FloatArray
    error: FloatArray
    finished: BoolArray
    transcripts: dict[int, Transcript]
    evaluations: int


def first_steps_of(
    x: FloatArray, h: float | None, quotient: Quotient
) -> tuple[FloatArray, FloatArray]:
    """[`first_steps`][minifw.numdiff.tables.first_steps] of every point `x`, as two arrays.

    Examples:
        >>> from minifw.numdiff.tables import FirstDerivative
        >>> first_steps_of(np.array([0.0, 0.3, 1000.0]), None, FirstDerivative())
        (array([ 0.03125,  0.03125, 16.     ]), array([0.03125  , 0.0078125, 0.03125  ]))

    """
    scale = quotient.relative_step if h is None else h
    magnitude = np.abs(x)
    first = (
        scale * _power_of_two_below(np.maximum(1.0, magnitude))
        if h is None
        else np.full(x.shape, h)
    )
    small = np.where(x != 0, scale * _power_of_two_below(np.minimum(1.0, magnitude)), first)
    small = np.where(first < small, first, small)
    small = np.where(small < SMALLEST, SMALLEST, small)
    return first, small


def _power_of_two_below(value: FloatArray) -> FloatArray:
    """[`power_of_two_below`][minifw.numdiff.rounding.power_of_two_below], elementwise."""
    _, exponent = np.frexp(value)
    found: FloatArray = np.ldexp(1.0, exponent - 1)
    return found


def _ulp(y: FloatArray) -> FloatArray:
    """`math.ulp` of positive `y`, elementwise (numpy's spacing differs at the largest float and inf)."""
    found: FloatArray = np.where(
        np.isinf(y), math.inf, np.where(y == _LARGEST, math.ulp(_LARGEST), np.spacing(y))
    )
    return found


def _rounding(
    x: FloatArray, base: FloatArray, found: Sequence[FloatArray], h: FloatArray, value: FloatArray
) -> FloatArray:
    """[`FirstDerivative.rounding`][minifw.numdiff.tables.FirstDerivative.rounding], elementwise."""
    scale = NOISE * EPS
    size = scale * np.abs(base)
    total = np.abs(found[0])
    for c in found:
        size = size + scale * np.abs(base + c)
    for c in found[1:]:
        total = total + np.abs(c)
    values = (size + NOISE * TINY) / (len(found) * h)
    slope = 2 * total / h + np.abs(value)
    rounded: FloatArray = values + _ulp(np.abs(x) + h) * slope / h
    return rounded


def _mean3(parts: Sequence[FloatArray]) -> FloatArray:
    middle: FloatArray = (parts[0] + parts[1] + parts[2]) / 3
    return middle


def _close3(parts: Sequence[FloatArray], middle: FloatArray) -> BoolArray:
    limit = 0.1 * np.abs(middle)
    return (
        (np.abs(parts[0] - middle) <= limit)
        & (np.abs(parts[1] - middle) <= limit)
        & (np.abs(parts[2] - middle) <= limit)
    )


def _jump_like(ups: Sequence[FloatArray], downs: Sequence[FloatArray]) -> BoolArray:
    """`tables._jump_like` of three levels, elementwise."""
    size = np.maximum.reduce(
        [np.maximum(np.abs(u), np.abs(d)) for u, d in zip(ups, downs, strict=True)]
    )
    found = np.zeros(size.shape, dtype=bool)
    for parts in (
        [u - d for u, d in zip(ups, downs, strict=True)],
        [u + d for u, d in zip(ups, downs, strict=True)],
    ):
        middle = _mean3(parts)
        found |= (np.abs(middle) > 1e-6 * size) & _close3(parts, middle)
    return found


def _kink_like(
    hs: Sequence[FloatArray], ups: Sequence[FloatArray], downs: Sequence[FloatArray]
) -> BoolArray:
    """`tables._kink_like` of three levels, elementwise."""
    slopes = [(u + d) / h for h, u, d in zip(hs, ups, downs, strict=True)]
    middle = _mean3(slopes)
    found: BoolArray = (middle != 0) & _close3(slopes, middle)
    return found


def _residual_bounds(
    ups: Sequence[FloatArray], downs: Sequence[FloatArray], odd: bool
) -> tuple[FloatArray, FloatArray]:
    """Bounds below and above on `tables._residual` of these levels, elementwise.

    The products are those of `_residual`; their sum is compensated (Ogita, Rump and Oishi's
    Sum2), whose error and that of `math.fsum` are bounded with a wide margin.
    """
    weights, spread = _noise_weights(len(ups), odd)
    products = [
        w * ((u - d) if odd else (u + d)) for w, u, d in zip(weights, ups, downs, strict=True)
    ]
    s, e, size = products[0], np.zeros_like(products[0]), np.abs(products[0])
    for p in products[1:]:
        total = s + p
        back = total - s
        e = e + ((s - (total - back)) + (p - back))
        s, size = total, size + np.abs(p)
    found = np.abs(s + e)
    m = len(products)
    slack = 4 * _HALF_ULP * found + 4 * (m * _HALF_ULP) ** 2 * size + 4 * TINY
    low = np.maximum(found - slack, 0.0) / spread * (1 - 8 * _HALF_ULP)
    high = (found + slack) / spread * (1 + 8 * _HALF_ULP)
    return low, high


@final
class _Neville:
    """Neville's tables of many points side by side, all at the same levels (`tables._Table`)."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.row: list[tuple[FloatArray, FloatArray, FloatArray]] = []
        self.diagonal: list[tuple[FloatArray, FloatArray, FloatArray, FloatArray]] = []

    def add(self, t: float, value: FloatArray, rounding: FloatArray, noise: FloatArray) -> None:
        """Add a level to every table (`_Table.add`)."""
        row = [(value, rounding, noise)]
        for j in range(1, len(self.t) + 1):
            weight = t / (self.t[-j] - t)
            v, r, n = row[j - 1]
            pv, pr, pn = self.row[j - 1]
            row.append(
                (v + (v - pv) * weight, r + (r + pr) * abs(weight), n + (n + pn) * abs(weight))
            )
        if self.row:
            v, r, n = row[-1]
            self.diagonal.append((v, np.abs(v - self.row[-1][0]), r, n))
        self.t.append(t)
        self.row = row

    def keep(self, mask: BoolArray) -> None:
        """Drop the tables outside `mask`."""
        self.row = [(v[mask], r[mask], n[mask]) for v, r, n in self.row]
        self.diagonal = [tuple(a[mask] for a in entry) for entry in self.diagonal]  # type: ignore[misc]

    def best(self, noise: FloatArray) -> tuple[IntArray, FloatArray, FloatArray, BoolArray]:
        """Return `_Table.best` of every table, and where it is not a number (not decided here)."""
        value, change, r, n = (np.stack(a, axis=1) for a in zip(*self.diagonal, strict=True))
        if len(self.diagonal) < 2:
            scatter = np.zeros(noise.shape)
        else:
            a, b = change[:, -2] / n[:, -2], change[:, -1] / n[:, -1]
            scatter = np.where(b < a, b, a)
        level = noise + SCATTER * scatter
        own = change + r + n * level[:, None]
        bad = np.isnan(own).any(axis=1) | ~(n > 0).all(axis=1)
        k = np.argmin(np.where(np.isnan(own), math.inf, own), axis=1)
        rows = np.arange(k.size)
        bound = own[rows, k]
        nxt = np.minimum(k + 1, len(self.diagonal) - 1)
        other = change[rows, nxt] + r[rows, k] + n[rows, k] * level
        bound = np.where((k + 1 < len(self.diagonal)) & (other > bound), other, bound)
        return k, value[rows, k], bound, bad

    def done(
        self, noise: FloatArray, k: IntArray, rtol: float, atol: float, limit: int
    ) -> BoolArray:
        """Return `_Table.done` of every table, `k` the positions `best` chose."""
        levels = len(self.t)
        value, change, r, n = self.diagonal[-1]
        rounding = r + n * noise
        met = (change + rounding <= atol + rtol * np.abs(value)) | (change <= rounding)
        if levels < MIN_LEVELS:
            met = np.zeros(value.shape, dtype=bool)
        stalled = (len(self.diagonal) - 1 - k >= 2) | (levels >= limit)
        found: BoolArray = met | stalled
        return found


def _settled(values: Sequence[tuple[FloatArray, FloatArray]]) -> BoolArray:
    """`tables._settled`, elementwise."""
    (a, _), (b, _), (c, rounding) = values[-3:]
    growing = (np.abs(c) >= GROWTH * np.abs(b)) & (np.abs(b) >= GROWTH * np.abs(a))
    return ~(growing & (np.abs(c - b) > 2 * rounding))


@final
class _Points:
    """The live points' tables and what each was told, compressed as points leave."""

    def __init__(self, x: FloatArray, base: FloatArray, first: FloatArray) -> None:
        self.ids = np.arange(x.size)
        self.x, self.base, self.first = x, base, first
        self.toward = np.where(x > 0, -1.0, 1.0)
        self.hs: list[FloatArray] = []
        self.ups: list[FloatArray] = []
        self.downs: list[FloatArray] = []
        self.table = _Neville()
        self.noise = np.zeros(x.shape)
        self.probed_after = np.full(x.shape, -1)
        self.again = np.full(x.shape, math.nan)

    def keep(self, mask: BoolArray) -> None:
        """Drop the points outside `mask`."""
        self.ids, self.x, self.base = self.ids[mask], self.x[mask], self.base[mask]
        self.first, self.toward = self.first[mask], self.toward[mask]
        self.hs = [h[mask] for h in self.hs]
        self.ups = [u[mask] for u in self.ups]
        self.downs = [d[mask] for d in self.downs]
        self.table.keep(mask)
        self.noise, self.again = self.noise[mask], self.again[mask]
        self.probed_after = self.probed_after[mask]

    def transcript(self, i: int, partial: float | None = None) -> Transcript:
        """Return what point `i`'s table asked and was told (`partial`: level 0's first change)."""
        toward, h0 = float(self.toward[i]), float(self.first[i])
        if partial is not None:
            return [((toward * h0,), [partial])]
        up, down = float(self.ups[0][i]), float(self.downs[0][i])
        a, b = (up, down) if toward > 0 else (down, up)
        found: Transcript = [((toward * h0,), [a]), ((-toward * h0,), [b])]
        if self.probed_after[i] == 0:
            found.append(((0.0,), [float(self.again[i])]))
        for level in range(1, len(self.hs)):
            h = float(self.hs[level][i])
            found.append(((h, -h), [float(self.ups[level][i]), float(self.downs[level][i])]))
            if self.probed_after[i] == level:
                found.append(((0.0,), [float(self.again[i])]))
        return found

    def levels(self, i: int) -> list[tuple[float, float, float]]:
        """Return point `i`'s levels as `tables.coordinate` keeps them."""
        return [
            (float(h[i]), float(u[i]), float(d[i]))
            for h, u, d in zip(self.hs, self.ups, self.downs, strict=True)
        ]


@final
class _Run:
    """One run of the vectorised tables: the points, the results and the transcripts."""

    def __init__(
        self, x: FloatArray, base: FloatArray, first: FloatArray, rtol: float, atol: float
    ) -> None:
        self.points = _Points(x, base, first)
        self.rtol, self.atol = rtol, atol
        self.value = np.full(x.shape, math.nan)
        self.error = np.full(x.shape, math.inf)
        self.finished = np.zeros(x.shape, dtype=bool)
        self.transcripts: dict[int, Transcript] = {}
        self.count = 0

    def first_level(self, small: FloatArray, changes: Changes) -> None:
        """Level 0, one side at a time (toward zero first), and its checks, as `coordinate` does."""
        p = self.points
        a = changes(p.ids, p.toward * p.first)
        self.count += a.size
        edge = ~np.isfinite(a)
        for i in np.flatnonzero(edge).tolist():
            self.transcripts[int(p.ids[i])] = p.transcript(i, partial=float(a[i]))
        p.keep(~edge)
        a = a[~edge]
        b = changes(p.ids, -p.toward * p.first)
        self.count += b.size
        up, down = np.where(p.toward > 0, a, b), np.where(p.toward > 0, b, a)
        h = p.first
        d = (up - down) / (2 * h)
        curved = np.abs(up + down) > CURVED * np.maximum(
            np.maximum(np.abs(p.base + up), np.abs(p.base + down)), np.abs(p.base)
        )
        restart = ~np.isfinite(d) | ((small[p.ids] < h / 2) & curved)
        self.add_level(h, up, down)
        self.settle(np.zeros(restart.shape, dtype=bool), restart)

    def next_level(self, changes: Changes, again: Again) -> None:
        """One more level of every live table; finish the tables that stop, leave the others."""
        p = self.points
        h = p.hs[-1] / 2
        found = changes(np.repeat(p.ids, 2), np.stack([h, -h], axis=1).reshape(-1))
        self.count += found.size
        up, down = found[0::2], found[1::2]
        d = (up - down) / (2 * h)
        restart = ~np.isfinite(d)
        if len(p.hs) == 1:
            previous = p.table.row[0][0]
            gap = np.abs(previous - d)
            restart |= ~(gap <= CONSISTENT * np.maximum(np.abs(previous), np.abs(d)))
        self.add_level(h, up, down)
        self.settle(np.zeros(restart.shape, dtype=bool), restart)
        if not p.ids.size:
            return
        self.noise()
        k, value, error, leave = p.table.best(p.noise)
        done = p.table.done(p.noise, k, self.rtol, self.atol, MAX_LEVELS) & ~leave
        if not done.any():
            self.settle(done, leave)
            return
        ask = done & self.probes(k, error)
        if ask.any():
            moved = np.zeros(ask.shape, dtype=bool)
            found = again(p.ids[ask])
            self.count += found.size
            p.again[ask] = found
            p.probed_after[ask] = len(p.hs) - 1
            moved[ask] = (found != 0) & np.isfinite(found)
            deeper = ask & ~moved & (len(p.hs) < 4) & (len(p.hs) < MAX_LEVELS)
            leave |= moved
            done &= ~moved & ~deeper
        good = done & np.isfinite(value) & np.isfinite(error) & self.checked(value, error)
        self.settle(good, leave | (done & ~good), value, error)

    def settle(
        self,
        finish: BoolArray,
        leave: BoolArray,
        value: FloatArray | None = None,
        error: FloatArray | None = None,
    ) -> None:
        """Record the outcomes of the points `finish`, hand `leave` to their per-point tables."""
        p = self.points
        if value is not None and error is not None and finish.any():
            ids = p.ids[finish]
            self.value[ids], self.error[ids] = value[finish], error[finish]
            self.finished[ids] = True
        for i in np.flatnonzero(leave).tolist():
            self.transcripts[int(p.ids[i])] = p.transcript(i)
        if finish.any() or leave.any():
            p.keep(~(finish | leave))

    def add_level(self, h: FloatArray, up: FloatArray, down: FloatArray) -> None:
        """Add a level to every live table (`coordinate`'s `levels.append` and `table.add`)."""
        p = self.points
        d, weight = (up - down) / (2 * h), 1 / h
        p.hs.append(h)
        p.ups.append(up)
        p.downs.append(down)
        rounding = _rounding(p.x, p.base, (up, down), h, d)
        t = 0.5 ** (len(p.hs) - 1)
        p.table.add(t * t, d, rounding, weight)

    def noise(self) -> None:
        """Set every live point's noise as `tables._noise` finds it."""
        p = self.points
        if len(p.hs) < 4:
            return
        quiet = _jump_like(p.ups[-3:], p.downs[-3:])
        unsure = np.zeros(quiet.shape, dtype=bool)
        for odd in (True, False):
            skip = _kink_like(p.hs[-3:], p.ups[-3:], p.downs[-3:]) if not odd else quiet
            _, newest = _residual_bounds(p.ups[-3:], p.downs[-3:], odd)
            before, _ = _residual_bounds(p.ups[-4:-1], p.downs[-4:-1], odd)
            unsure |= ~skip & ~(newest <= NOISE_RATIO * before)
        unsure &= ~quiet
        p.noise = np.zeros(quiet.shape)
        for i in np.flatnonzero(unsure).tolist():
            p.noise[i] = _noise(p.levels(i))

    def probes(self, k: IntArray, error: FloatArray) -> BoolArray:
        """Whether each point's table evaluates f at the point again (before `_checked`)."""
        p = self.points
        rows = np.arange(k.size)
        n = np.stack([entry[3] for entry in p.table.diagonal], axis=1)[rows, k]
        even_low, even_high = _residual_bounds(p.ups[-3:], p.downs[-3:], False)
        if len(p.hs) >= 4:
            odd_low, odd_high = _residual_bounds(p.ups[-4:], p.downs[-4:], True)
            even_low, even_high = np.maximum(even_low, odd_low), np.maximum(even_high, odd_high)
        threshold = PROBE * error
        sure = even_low * n > threshold
        unsure = ~sure & ~(even_high * n <= threshold)
        asked = sure & (p.probed_after < 0)
        for i in np.flatnonzero(unsure & (p.probed_after < 0)).tolist():
            residuals = _residuals(p.levels(i))
            asked[i] = max(residuals) * float(n[i]) > float(threshold[i])
        return asked

    def checked(self, value: FloatArray, error: FloatArray) -> BoolArray:
        """Whether `tables._checked` finds no problem in each live point's result."""
        p = self.points
        good = ~_jump_like(p.ups[-3:], p.downs[-3:])
        central = [(row[0], row[1] + row[2] * p.noise) for row in self._first_column()]
        good &= _settled(central)
        found = []
        for sign in (1.0, -1.0):
            table = _Neville()
            seen = []
            for level, (h, up, down) in enumerate(zip(p.hs, p.ups, p.downs, strict=True)):
                change = up if sign > 0 else down
                quotient, weight = change / (sign * h), 2 / h
                rounding = _rounding(p.x, p.base, (change,), h, quotient)
                table.add(0.5**level, quotient, rounding, weight)
                seen.append((quotient, rounding + weight * p.noise))
            _, one, bound, bad = table.best(p.noise)
            good &= _settled(seen) & ~bad
            found.append((one, bound))
        (forward, e_f), (backward, e_b) = found
        good &= np.abs(forward - value) <= AGREE * (e_f + error)
        good &= np.abs(backward - value) <= AGREE * (e_b + error)
        return good

    def _first_column(self) -> list[tuple[FloatArray, FloatArray, FloatArray]]:
        p = self.points
        found = []
        for h, up, down in zip(p.hs, p.ups, p.downs, strict=True):
            d, weight = (up - down) / (2 * h), 1 / h
            found.append((d, _rounding(p.x, p.base, (up, down), h, d), weight))
        return found


def first_derivatives(
    x: FloatArray,
    base: FloatArray,
    first: FloatArray,
    small: FloatArray,
    rtol: float,
    atol: float,
    changes: Changes,
    again: Again,
) -> VectorOutcome:
    """Run the first-derivative tables of the points `x` (f's values `base`) side by side.

    `first` and `small` are each point's steps from
    [`first_steps`][minifw.numdiff.tables.first_steps]; `changes(rows, steps)` returns f's
    changes for the points `rows` at `steps` (nan where f is not finite), `again(rows)` f's
    changes at the points themselves, each one call. Points the arrays do not finish are left
    with their transcripts.
    """
    run = _Run(x, base, first, rtol, atol)
    with np.errstate(all="ignore"):
        run.first_level(small, changes)
        while run.points.ids.size:
            run.next_level(changes, again)
    return VectorOutcome(run.value, run.error, run.finished, run.transcripts, run.count)


def replayed(table: Coordinate, transcript: Transcript) -> Outcome | Request:
    """Feed a fresh coordinate `table` the answers of `transcript`; return what it does next.

    That is its outcome, where the answers finish it, or its next request: then
    [`resumed`][minifw.numdiff.vector_tables.resumed] goes on with it.
    """
    request = next(table)
    for asked, answer in transcript:
        if request != asked:
            raise RuntimeError(f"a replayed table asked {request}, its transcript {asked}")
        try:
            request = table.send(answer)
        except StopIteration as stop:
            outcome: Outcome = stop.value
            return outcome
    return request


def resumed(table: Coordinate, request: Request) -> Coordinate:
    """Go on with a replayed `table` from its next `request`."""
    while True:
        answer = yield request
        try:
            request = table.send(answer)
        except StopIteration as stop:
            outcome: Outcome = stop.value
            return outcome
