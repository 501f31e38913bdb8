r"""Richardson tables: one coordinate's derivative extrapolated to step 0, with an honest bound.

A coordinate's computation is a generator ([`coordinate`][minifw.numdiff.tables.coordinate]): it
yields the steps it wants (a tuple of floats \(s\)) and is sent back the changes
\(f(x + s) - f(x)\) for them, nan where \(f\) is not finite or raised a domain error. It returns
an [`Outcome`][minifw.numdiff.tables.Outcome]: the value, its error bound, or the reason there is
no derivative. [`run`][minifw.numdiff.tables.run] runs many side by side and batches their
requests; the numbers of a coordinate do not depend on the others. What a level of the table is
made of, for the first or the second derivative, is a [`Quotient`][minifw.numdiff.tables.Quotient].

**The table.** The central difference \(D(h) = (f(x+h) - f(x-h))/2h\) (second derivative:
\((f(x+h) - 2f(x) + f(x-h))/h^2\)) has the expansion \(f^{(d)}(x) + a_1 h^2 + a_2 h^4 + \dots\),
so the values at \(h, h/2, h/4, \dots\) are extrapolated to \(h = 0\) by Neville's recurrence
in \(t = h^2\). The error of the newest diagonal entry is bounded by its distance from the
previous one (the error of the previous, less accurate entry: a deliberately pessimistic
estimate) plus a bound on the rounding error of f's values, carried through the recurrence with
absolute weights, plus the error of representing \(x \pm h\). The table stops when that bound
meets the tolerance, when rounding dominates it, when it has not improved for two levels, or
after `MAX_LEVELS` levels; it returns its best entry.

**Noise.** The error of f's values is not assumed: every value is taken as correct to
`NOISE` units of its last place, and where the data says more, more. Two consecutive levels give
an odd difference of f, \(2h^3 f^{(3)}(x)\) plus noise; where it shrinks by less than
`NOISE_RATIO` from one level to the next (a smooth f's shrinks 8 times), it is noise, and
`NOISE_MARGIN` standard deviations of it enter every bound.

**The first step** is `RELATIVE_STEP` times \(\max(1, |x|)\) rounded down to a power of two
(relative for large \(|x|\), where functions such as \(\log x\) vary on the scale of \(x\)).
Three signs say it is wrong, and the table restarts at a smaller step: f is not finite on one
side (a domain edge: toward zero the step becomes relative to \(|x|\), otherwise the failing side
is probed at steps 16 times smaller until f is finite); at the first level f changes by more than
a quarter of its size across the stencil while a smaller scale is available; the second
difference disagrees with the first by more than `CONSISTENT`. After `MAX_RESTARTS` restarts
the two-sided stencil is given up for one-sided ones ([`one_sided`][minifw.numdiff.tables.one_sided]).

**No derivative.** A jump, a kink or a singularity at \(x\) can leave a central table that
converges to a wrong number (\(|x|\) at 0: exactly 0). So a two-sided result is checked against
the forward and the backward differences made of the same points (no evaluation more): each must
settle as the step shrinks, and agree with the central value within `AGREE` times their bounds;
where f is finite on both sides, a one-sided fallback must find both sides settled and agreeing.
A disagreement first restarts the table at a step 256 times smaller (a kink near \(x\), not at
it, goes away); where it persists, the outcome names the problem instead of a number.

The module is long (about 550 lines) because these rules only make sense together: a table, its
steps, its bound, and the checks of what it found.
"""

from __future__ import annotations

import abc
import functools
import itertools
import math
from collections.abc import Callable, Generator, Sequence
from fractions import Fraction
from typing import final

import attrs

from minifw.numdiff.rounding import EPS, NOISE, TINY, power_of_two_below
from minifw.numdiff.stencil import solve_exactly

__all__ = [
    "MAX_LEVELS",
    "MAX_RESTARTS",
    "Coordinate",
    "FirstDerivative",
    "Outcome",
    "Quotient",
    "Request",
    "SecondDerivative",
    "coordinate",
    "first_steps",
    "one_sided",
    "run",
]

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
# A fourth difference shrinking by less than this from one level to the next is noise ...
NOISE_RATIO = 0.25
# ... and its standard deviation enters the bounds this many times.
NOISE_MARGIN = 8.0
# One-sided and central values must agree within this many times the sum of their bounds.
AGREE = 2.0
# How many times the table's own scatter enters a bound as noise (see _Table.best).
SCATTER = 0.0
# f is evaluated at the point again where the noise it may have could move the bound by this part.
PROBE = 0.25
# Evaluations at the point that measure noise which changes from call to call.
REPEATS = 4
# Differences that grow by this factor at each of their last two halvings blow up (a jump).
GROWTH = 1.5

# The steps a coordinate asks for next.
Request = tuple[float, ...]
# A one-sided quotient: its step, value, weight (see Quotient.central) and the changes it is of.
OneSided = tuple[float, float, float, tuple[float, ...]]


@final
@attrs.frozen
class Outcome:
    """What a coordinate's table found: a value and its bound, or why there is no derivative."""

    value: float
    error: float
    problem: str | None = None


# A coordinate's computation: yields requests, is sent changes, returns its outcome.
Coordinate = Generator[Request, list[float], Outcome]


class Quotient(abc.ABC):
    """The difference quotients of one derivative order: what a level of a table is made of."""

    derivative: int
    relative_step: float

    @abc.abstractmethod
    def central(self, up: float, down: float, h: float) -> tuple[float, float]:
        """Return the central quotient from `f(x+h) - f(x)` and `f(x-h) - f(x)`, and its weight.

        The weight is the sum of the absolute coefficients of f's values in it: what one unit of
        error in every value does to the quotient.
        """

    @abc.abstractmethod
    def rounding(
        self, x: float, base: float, found: Sequence[float], h: float, value: float
    ) -> float:
        """Return a bound on the rounding error of a quotient of the changes `found`, noise aside.

        `found` is `(up, down)` for a central quotient, the changes of `request` for a
        one-sided one, and `value` the quotient. Two sources: the values of f, each correct to `NOISE` units of its
        last place (plus the absolute resolution of float64, for values that underflow); and the
        points, `x + s` rounded to half a unit of their last place, which moves f by its slope
        there. The terms are added one by one, so values near the largest float do not overflow.
        """

    @abc.abstractmethod
    def request(self, sign: float, h: float) -> Request:
        """Return the steps of a one-sided quotient on side `sign` at `h`."""

    @abc.abstractmethod
    def one_sided(self, found: Sequence[float], sign: float, h: float) -> tuple[float, float]:
        """Return the one-sided quotient from the changes at `request(sign, h)`, and its weight."""

    @abc.abstractmethod
    def from_levels(
        self, levels: Sequence[tuple[float, float, float]], sign: float
    ) -> list[OneSided]:
        """Return the one-sided quotients `(h, value, weight, changes)` of these levels.

        `levels` holds a table's `(h, up, down)`, each step half the one before.
        """


@final
class FirstDerivative(Quotient):
    r"""\((f(x+h) - f(x-h)) / 2h\), and forward or backward differences one-sided."""

    derivative = 1
    relative_step = 2.0**-5

    def central(self, up: float, down: float, h: float) -> tuple[float, float]:
        r"""Return the central difference and its weight \(1/h\)."""
        return (up - down) / (2 * h), 1 / h

    def rounding(
        self, x: float, base: float, found: Sequence[float], h: float, value: float
    ) -> float:
        """Every value's rounding over `len(found) * h`; the points: up to twice the chord's slope."""
        size = sum(NOISE * EPS * abs(v) for v in (base, *(base + c for c in found)))
        values = (size + NOISE * TINY) / (len(found) * h)
        slope = 2 * sum(abs(c) for c in found) / h + abs(value)
        return values + math.ulp(abs(x) + h) * slope / h

    def request(self, sign: float, h: float) -> Request:
        """One step."""
        return (sign * h,)

    def one_sided(self, found: Sequence[float], sign: float, h: float) -> tuple[float, float]:
        r"""\((f(x \pm h) - f(x)) / \pm h\); weight \(2/h\)."""
        return found[0] / (sign * h), 2 / h

    def from_levels(
        self, levels: Sequence[tuple[float, float, float]], sign: float
    ) -> list[OneSided]:
        """Every level's own forward (or backward) difference."""
        found: list[OneSided] = []
        for h, up, down in levels:
            change = up if sign > 0 else down
            found.append((h, change / (sign * h), 2 / h, (change,)))
        return found


@final
class SecondDerivative(Quotient):
    r"""\((f(x+h) - 2f(x) + f(x-h)) / h^2\), and \((f(x \pm 2h) - 2f(x \pm h) + f(x)) / h^2\)."""

    derivative = 2
    relative_step = 2.0**-3

    def central(self, up: float, down: float, h: float) -> tuple[float, float]:
        r"""Return the central second difference and its weight \(4/h^2\)."""
        return (up + down) / h / h, 4 / h / h

    def rounding(
        self, x: float, base: float, found: Sequence[float], h: float, value: float
    ) -> float:
        r"""Weigh the values as in either quotient (`f(x)` and the nearer point twice).

        The points move f by about twice the chord's slope times half a unit of their last
        place, and each enters with a weight of at most \(2/h^2\).
        """
        first, second = found
        weighted = (2 * abs(base), 2 * abs(base + first), abs(base + second))
        size = sum(NOISE * EPS * v for v in weighted)
        values = (size + 5 * NOISE * TINY) / h / h
        slope = 2 * max(abs(first), abs(second)) / h
        return values + math.ulp(abs(x) + 2 * h) * slope * 2 / h / h

    def request(self, sign: float, h: float) -> Request:
        r"""Two steps: \(\pm h\) and \(\pm 2h\)."""
        return (sign * h, sign * 2 * h)

    def one_sided(self, found: Sequence[float], sign: float, h: float) -> tuple[float, float]:
        r"""Return the forward (or backward) second difference and its weight \(4/h^2\)."""
        return (found[1] - 2 * found[0]) / h / h, 4 / h / h

    def from_levels(
        self, levels: Sequence[tuple[float, float, float]], sign: float
    ) -> list[OneSided]:
        """From consecutive levels: the level before is at twice the step."""
        found: list[OneSided] = []
        for (_, up2, down2), (h, up, down) in itertools.pairwise(levels):
            near, far = (up, up2) if sign > 0 else (down, down2)
            found.append((h, (far - 2 * near) / h / h, 4 / h / h, (near, far)))
        return found


def first_steps(x: float, h: float | None, quotient: Quotient) -> tuple[float, float]:
    """Return `(first, small)`: the first step and its relative alternative near zero.

    With `h=None` (`"auto"`) the first step is the quotient's `relative_step` times
    `max(1, |x|)` rounded down to a power of two; a given `h` is the first step itself.
    `small` is the same factor times `min(1, |x|)` (a step relative to `|x|`), tried
    where the first step leaves the domain or looks too large.
    """
    scale = quotient.relative_step if h is None else h
    first = scale * power_of_two_below(max(1.0, abs(x))) if h is None else h
    small = scale * power_of_two_below(min(1.0, abs(x))) if x != 0 else first
    return first, max(min(small, first), SMALLEST)


@final
class _Table:
    """Neville's table of extrapolations to step 0 in `t` (`h**2` two-sided, `h` one-sided).

    `t` is relative to the table's first step (the recurrence does not depend on its scale),
    so that tiny steps do not underflow when squared. Beside each entry it carries its rounding
    bound as two parts, carried through the recurrence with absolute weights: what the values'
    own rounding gives (`rounding`), and how many units of noise per value (`noise`), so that a
    noise level found later applies to every entry.
    """

    def __init__(self) -> None:
        self.t: list[float] = []
        self.rows: list[list[tuple[float, float, float]]] = []
        self.diagonal: list[tuple[float, float, float, float]] = []

    def add(self, t: float, value: float, rounding: float, noise: float) -> None:
        """Add a level: its quotient `value` and the two parts of its bound."""
        row = [(value, rounding, noise)]
        for j in range(1, len(self.rows) + 1):
            weight = t / (self.t[-j] - t)
            v, r, n = row[j - 1]
            pv, pr, pn = self.rows[-1][j - 1]
            row.append(
                (v + (v - pv) * weight, r + (r + pr) * abs(weight), n + (n + pn) * abs(weight))
            )
        if self.rows:
            v, r, n = row[-1]
            self.diagonal.append((v, abs(v - self.rows[-1][-1][0]), r, n))
        self.t.append(t)
        self.rows.append(row)

    def scatter(self) -> float:
        """Return the noise per value the newest changes could be: the smaller of the last two.

        A change of the diagonal over its noise weight is what one unit of noise per value of f
        would have to be to make that change; the smaller of the last two is an upper estimate of
        the noise where noise has taken over, and bounds entries by a part of their own change
        where the table is still converging.
        """
        if len(self.diagonal) < 2:
            return 0.0
        return min(change / n for _, change, _, n in self.diagonal[-2:] if n > 0)

    def best(self, noise: float) -> tuple[int, float, float]:
        """Return `(position, value, bound)` of the diagonal entry with the smallest bound.

        An entry is chosen by its own change (from the entry before) and bounded by the larger of
        that and the next entry's change, plus its rounding and noise: the noise found in f's
        values (`noise`) and `SCATTER` times the table's own
        ([`scatter`][minifw.numdiff.tables._Table.scatter]). Where noise has taken over, a change
        can be small by chance; the next one and the scatter are not.
        """
        level = noise + SCATTER * self.scatter()
        own = [change + r + n * level for _, change, r, n in self.diagonal]
        k = min(range(len(own)), key=own.__getitem__)
        bound = own[k]
        if k + 1 < len(self.diagonal):
            _, _, r, n = self.diagonal[k]
            bound = max(bound, self.diagonal[k + 1][1] + r + n * level)
        return k, self.diagonal[k][0], bound

    def done(self, noise: float, rtol: float, atol: float, limit: int) -> bool:
        """Whether to stop: the tolerance met, rounding dominating, no progress, or the limit."""
        levels = len(self.rows)
        value, change, r, n = self.diagonal[-1]
        rounding = r + n * noise
        if levels >= MIN_LEVELS and (
            change + rounding <= atol + rtol * abs(value) or change <= rounding
        ):
            return True
        k, _, _ = self.best(noise)
        return len(self.diagonal) - 1 - k >= 2 or levels >= limit


@functools.lru_cache(maxsize=8)
def _noise_weights(levels: int, odd: bool) -> tuple[tuple[float, ...], float]:
    r"""Return the weights on \(L\) levels that cancel a smooth f, and their noise per unit.

    On the even parts \(S_k = f(x+h_k) + f(x-h_k) - 2f(x)\) (powers \(h^2, \dots, h^{2L-2}\)
    cancelled) or the odd parts \(A_k = f(x+h_k) - f(x-h_k)\) (powers \(h, \dots, h^{2L-3}\)),
    with \(h_k = 2^{-k} h_0\): what is left is \(O(h^{2L})\) and noise. The second number is the
    standard deviation of the combination for independent values of unit noise.
    """
    powers = [2 * j + (1 if odd else 2) for j in range(levels - 1)]
    # the combination's last weight is 1; the others cancel the powers
    matrix = [[Fraction(1, 2 ** (k * p)) for k in range(levels - 1)] for p in powers]
    rhs = [-Fraction(1, 2 ** ((levels - 1) * p)) for p in powers]
    weights = [float(w) for w in solve_exactly(matrix, rhs)] + [1.0]
    centre = 0.0 if odd else -2 * math.fsum(weights)
    spread = math.sqrt(2 * math.fsum(w * w for w in weights) + centre * centre)
    return tuple(weights), spread


def _residuals(levels: Sequence[tuple[float, float, float]]) -> list[float]:
    r"""Return, for each window of the finest levels, what is left of f once a smooth part is cancelled.

    The last three levels give a combination of the even parts of f that cancels a smooth f up to
    \(O(h^6)\), the last four one of the odd parts, up to \(O(h^8)\) ([`_noise_weights`]); each over
    its standard deviation per unit noise, so each is the noise of one value of f where noise has
    taken over (and an upper estimate of it, otherwise). The list is empty before three levels.
    """
    return [
        _residual(levels[-size:], odd)
        for size, odd in ((3, False), (4, True))
        if len(levels) >= size
    ]


def _residual(levels: Sequence[tuple[float, float, float]], odd: bool) -> float:
    """Return the residual of one combination of all `levels` (see `_residuals`)."""
    weights, spread = _noise_weights(len(levels), odd)
    parts = [(up - down) if odd else (up + down) for _, up, down in levels]
    return abs(math.fsum(w * v for w, v in zip(weights, parts, strict=True))) / spread


def _noise(levels: Sequence[tuple[float, float, float]]) -> float:
    r"""Return the noise of one value of f that the levels show for certain (0 without evidence).

    The residuals of the last three levels ([`_residuals`]) against those of the three before:
    a smooth f's shrink 32 (odd) and 64 (even) times from one window to the next, noise does
    not. Where one has not shrunk to `NOISE_RATIO`, it is noise, and `NOISE_MARGIN` times the
    larger of the two enters every bound. A kink at the point (\(|x|\) at 0) moves the even parts
    alone, by a second difference proportional to the step; such even parts are not taken for
    noise, and the one-sided checks find the kink. (Noise that changes from call to call is
    measured at the point itself: see `coordinate`.)
    """
    if len(levels) < 4 or _jump_like(levels[-3:]):
        return 0.0
    found = 0.0
    for odd in (True, False):
        if not odd and _kink_like(levels[-3:]):
            continue
        newest, before = _residual(levels[-3:], odd), _residual(levels[-4:-1], odd)
        if newest > NOISE_RATIO * before:
            found = max(found, newest, before)
    return NOISE_MARGIN * found


def _jump_like(levels: Sequence[tuple[float, float, float]]) -> bool:
    r"""Whether the changes do not shrink with the step: the odd or the even parts stay (to 10%).

    Across a jump, \(f(x+h) - f(x-h)\) (and \(f(x+h) + f(x-h) - 2f(x)\) where f(x) is on one
    side) is the jump itself at every step; a smooth f's shrink, and noise does not repeat.
    """
    size = max(max(abs(up), abs(down)) for _, up, down in levels)
    for parts in ([up - down for _, up, down in levels], [up + down for _, up, down in levels]):
        middle = sum(parts) / len(parts)
        significant = abs(middle) > 1e-6 * size  # not the rounding of a smooth f's parts
        if significant and all(abs(v - middle) <= 0.1 * abs(middle) for v in parts):
            return True
    return False


def _kink_like(levels: Sequence[tuple[float, float, float]]) -> bool:
    """Whether the second differences are proportional to the step, as at a kink (to 10%)."""
    slopes = [(up + down) / h for h, up, down in levels]
    middle = sum(slopes) / len(slopes)
    return middle != 0 and all(abs(v - middle) <= 0.1 * abs(middle) for v in slopes)


def _repeated(found: Sequence[float]) -> float:
    """Return `NOISE_MARGIN` times the noise of one value, from changes of f at the point itself."""
    return NOISE_MARGIN * math.sqrt(math.fsum(c * c for c in found) / (2 * len(found)))


def _noisy(
    levels: Sequence[tuple[float, float, float]], up: float, down: float, gap: float
) -> bool:
    r"""Whether noise explains the gap (times the step) between the first two central differences.

    The second differences \(S_k = f(x+h_k) + f(x-h_k) - 2f(x)\) of a smooth f shrink four times
    from one level to the next, so \(S_0 - 4 S_1\) is small beside them; where it is not (it is
    at least half of the larger), the second differences are noise, and where it is also as large
    as the gap, smaller steps would only make the noise worse, so the table goes on. (Near a pole
    the second differences still shrink about four times, and the table restarts smaller.)
    """
    ((_, up0, down0),) = levels
    if _jump_like([(0.0, up0, down0), (0.0, up, down)]):
        return False
    first, second = up0 + down0, up + down
    fourth = abs(first - 4 * second)
    return gap <= fourth and fourth >= 0.5 * max(abs(first), 4 * abs(second))


def coordinate(
    x: float,
    base: float,
    first: float,
    small: float,
    rtol: float,
    atol: float,
    quotient: Quotient | None = None,
) -> Coordinate:
    r"""Extrapolate the derivative along one coordinate; see the module text.

    `x` is the coordinate's value, `base` the function's value at the point, `first` and
    `small` the steps of `first_steps`, `quotient` the derivative's (first by default).
    Returns the table's [`Outcome`][minifw.numdiff.tables.Outcome]; `(nan, inf)` when \(f\) is
    not finite on either side for any step.
    """
    q = FirstDerivative() if quotient is None else quotient
    toward = -1.0 if x > 0 else 1.0  # the side toward zero, where an edge most likely is
    h, start, restarts = first, first, 0
    table = _Table()
    levels: list[tuple[float, float, float]] = []
    finite_side = 0.0
    first_level = True
    probed, repeated = False, 0.0
    while True:
        if first_level:  # one side at a time: an edge toward zero costs one evaluation
            a = (yield (toward * h,))[0]
            b = (yield (-toward * h,))[0] if math.isfinite(a) else math.nan
            up, down = (a, b) if toward > 0 else (b, a)
        else:
            up, down = yield (h, -h)
        d, weight = q.central(up, down, h)
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
        elif not table.rows and small < h / 2:  # the first level of any table
            if abs(up + down) > CURVED * max(abs(base + up), abs(base + down), abs(base)):
                # up + down is f(x+h) + f(x-h) - 2 f(x): f is curved on a smaller scale. For a
                # second derivative, whose rounding grows as 1/h^2, a step of 1/16 is tried
                # before the relative one, which can be far smaller.
                restart = small if q.derivative == 1 else max(small, h / JUMP)
        elif len(table.rows) == 1:
            previous = table.rows[0][0][0]
            gap = abs(previous - d)
            if gap > CONSISTENT * max(abs(previous), abs(d)) and not _noisy(
                levels, up, down, gap * h
            ):
                restart = small if start > 2 * small else start / JUMP
        first_level = False
        if restart is not None:
            restarts += 1
            if restarts > MAX_RESTARTS:
                return (yield from one_sided(x, base, first, finite_side, rtol, atol, q))
            h, start, table, levels = restart, restart, _Table(), []
            continue
        levels.append((h, up, down))
        rounding = q.rounding(x, base, (up, down), h, d)
        table.add((h / start) ** 2, d, rounding, weight)
        noise = max(_noise(levels), repeated)
        if len(table.rows) >= 2 and table.done(noise, rtol, atol, MAX_LEVELS):
            k, value, error = table.best(noise)
            residuals = _residuals(levels)
            if not probed and residuals and (max(residuals) * table.diagonal[k][3] > PROBE * error):
                # Noise could matter. f at the point again tells noise that changes from call to
                # call (Monte Carlo, a solver's tolerance) from a smooth f's truncation; where f
                # repeats itself, one more level tells noise that does not (a fine ripple) by
                # the residuals' trend (_noise).
                probed = True
                again = (yield (0.0,))[0]
                if again != 0 and math.isfinite(again):
                    more = yield (0.0,) * (REPEATS - 1)
                    repeated = _repeated([again, *more])
                    noise = max(noise, repeated)
                    k, value, error = table.best(noise)
                elif len(levels) < 4 and len(table.rows) < MAX_LEVELS:
                    h /= 2
                    continue
            problem = _checked(x, base, levels, value, error, noise, q)
            if problem is None:
                return Outcome(value, error)
            restarts += 1  # a kink or jump near x, not at it, goes away at smaller steps
            if restarts > MAX_RESTARTS:
                return Outcome(math.nan, math.inf, problem)
            h = start = h / (JUMP * JUMP)
            table, levels = _Table(), []
            continue
        h /= 2


def _settled(values: Sequence[tuple[float, float]]) -> bool:
    r"""Whether a sequence of quotients (value, rounding) does not blow up as the step shrinks.

    A quotient across a jump grows as \(1/h\): its last three values grow by at least
    `GROWTH` each (a smooth f's approach a limit), by more than rounding and noise explain.
    """
    if len(values) < 3:
        return True
    (a, _), (b, _), (c, rounding) = values[-3:]
    growing = abs(c) >= GROWTH * abs(b) and abs(b) >= GROWTH * abs(a)
    return not (growing and abs(c - b) > 2 * rounding)


def _one_sided_estimate(
    x: float, base: float, quotients: Sequence[OneSided], noise: float, q: Quotient
) -> tuple[float, float, bool]:
    """Extrapolate one-sided quotients in `h`; return the best value, its bound, whether settled."""
    table = _Table()
    first = quotients[0][0]
    seen: list[tuple[float, float]] = []
    for h, value, weight, found in quotients:
        rounding = q.rounding(x, base, found, h, value)
        table.add(h / first, value, rounding, weight)
        seen.append((value, rounding + weight * noise))
    if not table.diagonal:
        value, rounding = seen[0]
        return value, math.inf, True
    _, value, error = table.best(noise)
    return value, error, _settled(seen)


def _checked(
    x: float,
    base: float,
    levels: Sequence[tuple[float, float, float]],
    value: float,
    error: float,
    noise: float,
    q: Quotient,
) -> str | None:
    """Check a central result against the one-sided ones of the same points; name a problem."""
    if len(levels) >= 3 and _jump_like(levels[-3:]):
        return "f changes by the same amount across x at every step (a jump)"
    central = []
    for h, up, down in levels:
        d, weight = q.central(up, down, h)
        central.append((d, q.rounding(x, base, (up, down), h, d) + weight * noise))
    if not _settled(central):
        return "its central differences grow apart as the step shrinks (a jump or a singularity)"
    found = {}
    for sign, side in ((1.0, "forward"), (-1.0, "backward")):
        quotients = q.from_levels(levels, sign)
        if len(quotients) < 2:
            return None  # too few levels to tell
        one, bound, settled = _one_sided_estimate(x, base, quotients, noise, q)
        if not settled:
            return (
                f"its {side} differences grow apart as the step shrinks (a jump or a singularity)"
            )
        found[side] = (one, bound)
    (forward, e_f), (backward, e_b) = found["forward"], found["backward"]
    if abs(forward - value) <= AGREE * (e_f + error) and abs(backward - value) <= AGREE * (
        e_b + error
    ):
        return None
    return (
        f"the forward differences give {forward:.6g} (+-{e_f:.2g}) and the backward ones "
        f"{backward:.6g} (+-{e_b:.2g}), and the central ones {value:.6g} (a kink or a jump)"
    )


def one_sided(
    x: float, base: float, first: float, side: float, rtol: float, atol: float, q: Quotient
) -> Coordinate:
    """One-sided differences from `first`, extrapolated in `h`, on side `side` (or both).

    `side == 0` (f finite on both sides) takes both, and they must settle and agree; otherwise
    the side where f is finite must settle. Returns `(nan, inf)` when no side is finite.
    """
    found: dict[float, tuple[float, float, bool]] = {}
    for sign in (side,) if side != 0.0 else (1.0, -1.0):
        table, h = _Table(), first
        quotients: list[OneSided] = []
        for _ in range(ONE_SIDED_LEVELS):
            changes = yield q.request(sign, h)
            if not all(math.isfinite(c) for c in changes):
                break
            value, weight = q.one_sided(changes, sign, h)
            quotients.append((h, value, weight, tuple(changes)))
            table.add(h / first, value, q.rounding(x, base, changes, h, value), weight)
            if len(table.rows) >= 2 and table.done(0.0, rtol, atol, ONE_SIDED_LEVELS):
                break
            h /= 2
        if len(quotients) >= 2:
            found[sign] = _one_sided_estimate(x, base, quotients, 0.0, q)
    if not found:
        return Outcome(math.nan, math.inf)
    for sign, (_, _, settled) in found.items():
        if not settled:
            name = "forward" if sign > 0 else "backward"
            return Outcome(
                math.nan,
                math.inf,
                f"its {name} differences grow apart as the step shrinks (a jump or a singularity)",
            )
    if len(found) == 2:
        (forward, e_f, _), (backward, e_b, _) = found[1.0], found[-1.0]
        if abs(forward - backward) > AGREE * (e_f + e_b):
            return Outcome(
                math.nan,
                math.inf,
                f"the forward differences give {forward:.6g} (+-{e_f:.2g}) and the backward "
                f"ones {backward:.6g} (+-{e_b:.2g}) (a kink or a jump)",
            )
    value, error, _ = min(found.values(), key=lambda v: v[1])
    return Outcome(value, error)


def run(
    coordinates: list[Coordinate],
    evaluate: Callable[[dict[Request, list[int]]], dict[int, list[float]]],
) -> list[Outcome]:
    """Run coordinates side by side; return their outcomes.

    Every round, the pending requests are grouped by their steps, and `evaluate(groups)`
    returns the changes for each member (its position in `coordinates`) of every group. Grouping
    only batches calls: each coordinate's numbers are its own.
    """
    results: list[Outcome] = [Outcome(math.nan, math.inf)] * len(coordinates)
    pending = {k: next(c) for k, c in enumerate(coordinates)}
    while pending:
        groups: dict[Request, list[int]] = {}
        for k, request in pending.items():
            groups.setdefault(request, []).append(k)
        rows = evaluate(groups)
        pending = {}
        for members in groups.values():
            for k in members:
                try:
                    pending[k] = coordinates[k].send(rows[k])
                except StopIteration as stop:
                    results[k] = stop.value
    return results
