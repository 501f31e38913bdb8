r"""Richardson extrapolation of central differences, with an error bound: `RichardsonDiff`.

[`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff] brings its own step policy,
[`Extrapolation`][minifw.numdiff.schemes.richardson.Extrapolation]. A coordinate's computation is
a generator ([`coordinate`][minifw.numdiff.schemes.richardson.coordinate]): it yields the steps it
wants (a tuple of floats \(s\)) and is sent back the changes \(f(x + s) - f(x)\) for them, nan
where \(f\) is not finite or raised a domain error. It returns `(value, error)`.
[`run`][minifw.numdiff.schemes.richardson.run] runs many coordinates side by side and batches
their requests into few objective calls; the numbers of a coordinate do not depend on the others.

**The table.** The central difference \(D(h) = (f(x+h) - f(x-h))/2h\) has the expansion
\(f'(x) + a_1 h^2 + a_2 h^4 + \dots\), so the values at \(h, h/2, h/4, \dots\) are
extrapolated to \(h = 0\) by Neville's recurrence in \(t = h^2\). The error of the
newest diagonal entry is bounded by its distance from the previous one (which is the error of
the previous, less accurate entry: a deliberately pessimistic estimate) plus a bound on the
rounding error, \(8\varepsilon(|f(x+h)| + |f(x-h)| + |f(x)|)/2h\) per difference, carried
through the recurrence with absolute weights, plus the error of representing \(x \pm h\).
The table stops when that bound meets the tolerance, when rounding dominates it, when it has
not improved for two levels, or after `MAX_LEVELS` levels; it returns its best entry.

**The first step** is \(2^{-5}\) times \(\max(1, |x|)\) rounded down to a power of
two (relative for large \(|x|\), where functions such as \(\log x\) vary on the scale of
\(x\)). Three signs say it is wrong, and the table restarts at a smaller step:

- \(f\) is not finite (or raised) on one side: a domain edge. When that side is the side
  toward zero, the edge is most likely at 0 and the step becomes relative to \(|x|\);
  otherwise the failing side is probed alone, at steps 16 times smaller each time, until
  \(f\) is finite, and the table restarts at half the probe's distance;
- at the first level, \(f\) changes by more than a quarter of its size across the stencil
  (\(|f(x+h) + f(x-h) - 2f(x)| > \max|f|/4\)) while a smaller scale is available: a function
  such as \(e^x\) or \(\cos x\) at large \(|x|\) varies on the scale 1, not
  \(|x|\);
- the second difference of a table disagrees with the first by more than 10 %: the step is
  not yet in the range where the expansion holds (a pole within reach, say).

After `MAX_RESTARTS` restarts the two-sided stencil is given up for a one-sided one on
the side where \(f\) is finite (forward or backward differences, extrapolated in powers of
\(h\)), from the first step.

The module holds all of Richardson's pieces (about 400 lines): the scheme, its policy, the table
and the step rules, which only make sense together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Literal, final

import attrs
import numpy as np

from minifw._validation import describe, to_float
from minifw.errors import DifferentiationError
from minifw.numdiff.checks import STEP, TOLERANCE, to_step
from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.engine import StepPolicy, changes, coordinate_values
from minifw.numdiff.fixed_step import check_steps
from minifw.numdiff.objective import Objective
from minifw.numdiff.results import Estimate
from minifw.numdiff.rounding import EPS, NOISE, TINY, power_of_two_below
from minifw.numdiff.schemes.central import CENTRAL
from minifw.numdiff.stencil import Stencil
from minifw.typing import FloatArray, IntArray

__all__ = [
    "MAX_LEVELS",
    "MAX_RESTARTS",
    "Coordinate",
    "Extrapolation",
    "Request",
    "RichardsonDiff",
    "coordinate",
    "first_steps",
    "run",
]

# Relative first step (a power of two), before the scale of x.
RELATIVE_STEP = 2.0**-5
# Levels (halvings of the step) of one table at most.
MAX_LEVELS = 8
# Fewest levels before the tolerance may stop a table (its bound compares levels 2 and 3).
MIN_LEVELS = 3
# Restarts at a smaller step before falling back to one-sided differences.
MAX_RESTARTS = 4
# Levels of the one-sided table at most.
ONE_SIDED_LEVELS = 12
# A restart shrinks the step by this factor (when there is no better guess).
JUMP = 16.0
# The first two differences of a table must agree to this fraction.
CONSISTENT = 0.1
# Largest relative curvature of f across the first stencil before a smaller scale is tried.
CURVED = 0.25
# The smallest step the relative scale may give (far below, x + h would be a subnormal mess).
SMALLEST = 2.0**-1000

# The steps a coordinate asks for next.
Request = tuple[float, ...]
# A coordinate's computation: yields requests, is sent changes, returns (value, error).
Coordinate = Generator[Request, list[float], tuple[float, float]]


def first_steps(x: float, h: float | None) -> tuple[float, float]:
    """Return `(first, small)`: the first step and its relative alternative near zero.

    With `h=None` (`"auto"`) the first step is `RELATIVE_STEP` times
    `max(1, |x|)` rounded down to a power of two; a given `h` is the first step itself.
    `small` is the same factor times `min(1, |x|)` (a step relative to `|x|`), tried
    where the first step leaves the domain or looks too large.
    """
    scale = RELATIVE_STEP if h is None else h
    first = scale * power_of_two_below(max(1.0, abs(x))) if h is None else h
    small = scale * power_of_two_below(min(1.0, abs(x))) if x != 0 else first
    return first, max(min(small, first), SMALLEST)


@final
class _Table:
    """Neville's table of extrapolations to step 0 in `t` (`h**2` two-sided, `h` one-sided).

    `t` is relative to the table's first step (the recurrence does not depend on its scale),
    so that tiny steps do not underflow when squared.

    Beside each entry it carries a bound on its rounding error, combined with absolute weights.
    """

    def __init__(self) -> None:
        self.t: list[float] = []
        self.rows: list[list[float]] = []
        self.bounds: list[list[float]] = []

    def add(self, t: float, value: float, bound: float) -> tuple[float, float, float] | None:
        """Add a level; return `(extrapolation, its change, its rounding bound)` from level 2."""
        row, rounding = [value], [bound]
        for j in range(1, len(self.rows) + 1):
            weight = t / (self.t[-j] - t)
            row.append(row[j - 1] + (row[j - 1] - self.rows[-1][j - 1]) * weight)
            rounding.append(
                rounding[j - 1] + (rounding[j - 1] + self.bounds[-1][j - 1]) * abs(weight)
            )
        result = None
        if self.rows:
            result = (row[-1], abs(row[-1] - self.rows[-1][-1]), rounding[-1])
        self.t.append(t)
        self.rows.append(row)
        self.bounds.append(rounding)
        return result


@final
class _Best:
    """The best entry so far of a table, and whether the table should stop."""

    def __init__(self, rtol: float, atol: float) -> None:
        self.rtol, self.atol = rtol, atol
        self.value, self.error, self.stale = math.nan, math.inf, 0

    def update(self, level: int, found: tuple[float, float, float], limit: int) -> bool:
        """Record a level's extrapolation; return whether to stop."""
        value, change, rounding = found
        error = change + rounding
        self.stale += 1
        if error < self.error:
            self.value, self.error, self.stale = value, error, 0
        if level >= MIN_LEVELS and (
            error <= self.atol + self.rtol * abs(value) or change <= rounding
        ):
            return True  # met the tolerance, or smaller steps would only add rounding error
        return self.stale >= 2 or level >= limit


def _rounding(
    x: float, base: float, changes: tuple[float, ...], step: float, value: float
) -> float:
    """Return a bound on the rounding error of one difference quotient with these changes.

    Two sources: the values of f, each correct to `NOISE * EPS` of its size (plus the
    absolute resolution of float64, for values that underflow); and the points, `x + s`
    rounded to half a unit of their last place, which moves f by its slope there: at most
    about twice the slope of the chord, `|change| / step`, for a function whose slope
    changes little across the stencil.
    """
    size = abs(base) + sum(abs(base + c) for c in changes)
    slope = 2 * sum(abs(c) for c in changes) / step + abs(value)
    values = NOISE * (EPS * size + TINY) / (len(changes) * step)
    return values + math.ulp(abs(x) + step) * slope / step


def coordinate(
    x: float, base: float, first: float, small: float, rtol: float, atol: float
) -> Coordinate:
    r"""Extrapolate the derivative along one coordinate; see the module text.

    `x` is the coordinate's value, `base` the function's value at the point, `first` and
    `small` the steps of `first_steps`. Returns `(value, error)`, `(nan, inf)` when
    \(f\) is not finite on either side for any step.
    """
    toward = -1.0 if x > 0 else 1.0  # the side toward zero, where an edge most likely is
    h, start, restarts = first, first, 0
    table, best = _Table(), _Best(rtol, atol)
    finite_side = 0.0
    first_level = True
    while True:
        if first_level:  # one side at a time: an edge toward zero costs one evaluation
            a = (yield (toward * h,))[0]
            b = (yield (-toward * h,))[0] if math.isfinite(a) else math.nan
            up, down = (a, b) if toward > 0 else (b, a)
        else:
            up, down = yield (h, -h)
        d = (up - down) / (2 * h)
        restart = None
        if not math.isfinite(d):
            failing = (
                0.0
                if math.isfinite(up) == math.isfinite(down)
                else (1.0 if math.isfinite(down) else -1.0)
            )
            finite_side = -failing
            if failing == 0.0 or (failing == toward and small < h / 2):
                restart = small if small < h / 2 else h / JUMP
            else:  # the edge is away from zero (or already within the relative step): find it
                probe = h / JUMP
                while restarts < MAX_RESTARTS - 1:
                    if math.isfinite((yield (failing * probe,))[0]):
                        break
                    restarts += 1
                    probe /= JUMP
                restart = probe / 2
        elif first_level and small < h / 2:
            if abs(up + down) > CURVED * max(abs(base + up), abs(base + down), abs(base)):
                restart = small  # up + down is f(x+h) + f(x-h) - 2 f(x)
        elif len(table.rows) == 1:
            previous = table.rows[0][0]
            if abs(previous - d) > CONSISTENT * max(abs(previous), abs(d)):
                restart = small if start > 2 * small else start / JUMP
        first_level = False
        if restart is not None:
            restarts += 1
            if restarts > MAX_RESTARTS:
                return (yield from _one_sided(x, base, first, finite_side, best))
            h, start, table = restart, restart, _Table()
            continue
        found = table.add((h / start) ** 2, d, _rounding(x, base, (up, down), h, d))
        if found is not None and best.update(len(table.rows), found, MAX_LEVELS):
            return best.value, best.error
        h /= 2


def _one_sided(x: float, base: float, first: float, side: float, best: _Best) -> Coordinate:
    """Forward (`side > 0`) or backward differences from `first`, extrapolated in `h`.

    `side == 0` tries forward, then backward. Returns the two-sided `best` when it is
    better, and `(nan, inf)` when neither side is finite.
    """
    for sign in (side,) if side != 0.0 else (1.0, -1.0):
        table, h = _Table(), first
        one_sided = _Best(best.rtol, best.atol)
        for _ in range(ONE_SIDED_LEVELS):
            change = (yield (sign * h,))[0]
            if not math.isfinite(change):
                break
            d = change / (sign * h)
            found = table.add(h / first, d, _rounding(x, base, (change,), h, d))
            if found is not None and one_sided.update(len(table.rows), found, ONE_SIDED_LEVELS):
                break
            h /= 2
        if one_sided.error < best.error:
            return one_sided.value, one_sided.error
    return best.value, best.error


def run(
    coordinates: list[Coordinate], evaluate: Callable[[list[int], Request], list[list[float]]]
) -> tuple[list[tuple[float, float]], int]:
    """Run coordinates side by side; return their `(value, error)` and the evaluations asked.

    Every round, the pending requests are grouped by their steps, and `evaluate(members,
    request)` returns the changes for each member (its position in `coordinates`), one row
    each. Grouping only batches calls: each coordinate's numbers are its own.
    """
    results: list[tuple[float, float]] = [(math.nan, math.inf)] * len(coordinates)
    pending = {k: next(c) for k, c in enumerate(coordinates)}
    evaluations = 0
    while pending:
        groups: dict[Request, list[int]] = {}
        for k, request in pending.items():
            groups.setdefault(request, []).append(k)
        pending = {}
        for request, members in groups.items():
            rows = evaluate(members, request)
            evaluations += len(members) * len(request)
            for k, row in zip(members, rows, strict=True):
                try:
                    pending[k] = coordinates[k].send(row)
                except StopIteration as stop:
                    results[k] = stop.value
    return results, evaluations


@final
@attrs.frozen
class Extrapolation(StepPolicy):
    """Richardson's step policy: a table per coordinate, run side by side, requests batched by step.

    `h` is the first step (`None` for `"auto"`: see
    [`first_steps`][minifw.numdiff.schemes.richardson.first_steps]); the tables stop at
    `atol + rtol * |derivative|`.
    """

    h: float | None
    rtol: float
    atol: float

    def estimate(
        self, stencil: Stencil, objective: Objective, name: str, index: IntArray
    ) -> Estimate[FloatArray]:
        """Return the extrapolations along coordinates `index` of `name`, with their bounds.

        `stencil` is the central one the tables extrapolate. A coordinate where `f` is not
        finite on either side for any step tried is an error naming it.
        """
        arr = objective.params[name]
        values = coordinate_values(arr, index)
        base = objective.value()
        starts = [first_steps(v, self.h) for v in values.tolist()]
        if self.h is not None:
            first = np.array([s[0] for s in starts])
            check_steps(self.h, np.stack([first, -first], axis=1), values, name, arr.shape)
        coordinates = [
            coordinate(v, base, first, small, self.rtol, self.atol)
            for v, (first, small) in zip(values.tolist(), starts, strict=True)
        ]

        def evaluate(members: list[int], request: tuple[float, ...]) -> list[list[float]]:
            rows = index[np.array(members, dtype=np.intp)]
            found = changes(objective, name, rows, np.array(request), tolerant=True)
            result: list[list[float]] = found.tolist()
            return result

        results, evaluations = run(coordinates, evaluate)
        value = np.array([r[0] for r in results])
        error = np.array([r[1] for r in results])
        if not np.all(np.isfinite(value)):
            k = int(np.flatnonzero(~np.isfinite(value))[0])
            where = describe(name, arr.shape, int(index[k]))
            raise DifferentiationError(
                f"f is not finite on either side of {where}={float(values[k])!r} for any step "
                f"tried (from {starts[k][0]:g} down): {where} is on the edge of f's domain"
            )
        return Estimate(value, error, evaluations)


@final
@attrs.frozen
class RichardsonDiff(Differentiator):
    r"""Central differences at \(h, h/2, h/4, \dots\) extrapolated to \(h = 0\), with error bounds.

    The central difference is \(D(h) = f'(x) + a_1 h^2 + a_2 h^4 + \dots\); Richardson extrapolation
    combines \(D\) at several steps to cancel the \(a_j\) terms one by one (Neville's table in
    \(h^2\)). Each coordinate stops on its own, when its error bound meets
    `atol + rtol * |derivative|`, when rounding dominates the bound, or when the bound stops
    improving. The bound (the module text derives it) is deliberately pessimistic:
    it is the error of the previous, less accurate extrapolation plus a rounding bound, so the value
    is usually far more accurate than it says (`benchmarks/accuracy.py` measures the errors, the
    bounds and the evaluations against other libraries; `benchmarks/README.md` has the figures).

    `h="auto"` starts at \(2^{-5} \max(1, |x|)\) (rounded down to a power of two) and
    restarts smaller where that is too large for the function (see the module text); a float
    `h` is the first step. Near a domain edge (`f` nan, inf, or raising `ValueError` or
    `ArithmeticError` on one side) the step shrinks until the stencil fits, and where it never
    does, a one-sided table is used; a coordinate where neither side works is an error.

    [`estimate`][minifw.numdiff.differentiator.Differentiator.estimate],
    [`gradient_estimate`][minifw.numdiff.differentiator.Differentiator.gradient_estimate] and
    [`estimates`][minifw.numdiff.differentiator.Differentiator.estimates] return the bounds and the
    number of evaluations beside the values, as for every scheme (whose bound is nan);
    [`derivative`][minifw.numdiff.differentiator.Differentiator.derivative],
    [`gradient`][minifw.numdiff.differentiator.Differentiator.gradient] and
    [`gradients`][minifw.numdiff.differentiator.Differentiator.gradients] return the values alone.

    Examples:
        >>> import math
        >>> result = RichardsonDiff().estimate(math.exp, 1.0)
        >>> abs(result.value - math.e) <= result.error <= 1e-8 * math.e, result.evaluations
        (True, 7)
        >>> RichardsonDiff().derivative(math.log, 1e-3)  # math.log raises below 0
        1000.0000000000994

    """

    h: float | Literal["auto"] = attrs.field(default="auto", converter=to_step, validator=STEP)
    rtol: float = attrs.field(default=1e-8, converter=to_float, validator=TOLERANCE)
    atol: float = attrs.field(default=0.0, converter=to_float, validator=TOLERANCE)

    @property
    def stencil(self) -> Stencil:
        """The central difference, which the table extrapolates."""
        return CENTRAL

    @property
    def step_policy(self) -> Extrapolation:
        """Its own: [`Extrapolation`][minifw.numdiff.schemes.richardson.Extrapolation]."""
        first = None if isinstance(self.h, str) else self.h
        return Extrapolation(first, self.rtol, self.atol)
