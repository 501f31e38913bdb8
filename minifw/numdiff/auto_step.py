r"""`h="auto"`: a step per coordinate, and what to do where that stencil does not fit f.

The step is \(\varepsilon^{1/(p+d)} \max(1, |x_i|)\) for a stencil of order \(p\) for the
\(d\)-th derivative, both factors rounded down to powers of two (so that \(x \pm h\) is exact in
most cases): it balances truncation (\(h^p\)) and rounding error (\(\varepsilon / h^d\)). Two things can make it wrong, and
[`AutoStep`][minifw.numdiff.auto_step.AutoStep] looks for both:

- the stencil leaves the domain of \(f\) (`f` is nan or inf there, or raises `ValueError` or
  `ArithmeticError`): a step relative to \(|x_i|\), then a one-sided stencil of the same order
  takes its place ([`one_sided_fallback`][minifw.numdiff.auto_step.one_sided_fallback]);
- the stencil reaches near 0, where a singularity makes a large step inaccurate without making it
  nan: the value is checked against a quarter of the step
  ([`near_zero`][minifw.numdiff.auto_step.near_zero]).

What cannot be checked is a [`DifferentiationError`][minifw.errors.DifferentiationError], not a
number.

Examples:
    >>> import numpy as np
    >>> auto_steps(2, np.array([0.5, 3.0, 1e6])) / np.array([1.0, 2.0, 2.0**19])  # 2**-17 each
    array([7.62939453e-06, 7.62939453e-06, 7.62939453e-06])

"""

from __future__ import annotations

import math
from typing import Any, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError
from minifw.numdiff.engine import (
    StencilPolicy,
    Taken,
    bases,
    changes,
    combine,
    coordinate_values,
    relative_scales,
)
from minifw.numdiff.objective import Differentiable, where
from minifw.numdiff.rounding import EPS, NOISE, power_of_two_below
from minifw.numdiff.stencil import Stencil, one_sided
from minifw.typing import FloatArray, IntArray

__all__ = [
    "AUTO_AGREEMENT",
    "AUTO_REACH",
    "FALLBACK_AGREEMENT",
    "AutoStep",
    "auto_steps",
    "near_zero",
    "one_sided_fallback",
]

FALLBACK_AGREEMENT = 1e-3
"""A one-sided fallback value must agree with the formula one order lower to this part."""
AUTO_REACH = 1 / 16
"""A stencil reaching closer than this part of |x| to 0 is checked against a quarter step ..."""
AUTO_AGREEMENT = 1e-2
"""... and must agree with it to this part (or to rounding), else the step is too large for f."""


def auto_steps(order: int, values: FloatArray, derivative: int = 1) -> FloatArray:
    r"""Return \(\varepsilon^{1/(p+d)} \max(1, |x|)\), both factors rounded to powers of two."""
    exponent = round(math.log2(EPS) / (order + derivative))
    steps: FloatArray = np.ldexp(relative_scales(values), exponent)
    return steps


@final
@attrs.frozen
class AutoStep(StencilPolicy):
    """Steps chosen per coordinate, with the checks and fallbacks of the module text.

    Examples:
        >>> import math
        >>> from minifw import CentralDiff
        >>> CentralDiff(h="auto").derivative(math.log, 1e-9)  # 2**-17 would step below 0
        1000000000.0

    """

    @property
    def tolerant(self) -> bool:
        """Yes: where f is not finite the stencil is replaced, not refused at once."""
        return True

    def steps(self, stencil: Stencil, values: FloatArray) -> FloatArray:
        r"""\(\varepsilon^{1/(p+d)} \max(1, |x_i|)\) ([`auto_steps`][minifw.numdiff.auto_step.auto_steps])."""
        return auto_steps(stencil.order, values, stencil.derivative)

    def scales(self, values: FloatArray) -> FloatArray:
        r"""\(\max(1, |x_i|)\) as a power of two: the steps are relative to the point."""
        return relative_scales(values)

    def check(
        self,
        objective: Differentiable,
        name: str,
        index: IntArray,
        values: FloatArray,
        steps: NDArray[Any],
    ) -> None:
        """Evaluate the point itself: an error there is not a domain edge, so it is let out."""
        bases(objective, name, index)

    def settle(self, taken: Taken, result: FloatArray) -> int:
        """Replace values whose stencil left the domain; check those that reach near 0."""
        at = (taken.stencil, taken.objective, taken.name)
        offsets = np.array(taken.stencil.offsets)
        finite = np.all(np.isfinite(taken.changes), axis=(1, 2))
        reach = taken.h * float(np.max(np.abs(offsets)))
        used = 0
        for k in np.flatnonzero(~finite).tolist():
            flat, h = int(taken.index[k]), float(taken.h[k])
            result[k], more = one_sided_fallback(*at, flat, h, taken.changes[k], offsets)
            used += more
        values = taken.values
        close = finite & (values != 0) & (reach > AUTO_REACH * np.abs(values))
        for k in np.flatnonzero(close).tolist():
            flat, h = int(taken.index[k]), float(taken.h[k])
            result[k], more = near_zero(*at, flat, h, result[k].copy())
            used += more
        return used


def _stencil_value(
    stencil: Stencil, objective: Differentiable, name: str, flat: int, step: float
) -> tuple[FloatArray, FloatArray, int]:
    """Return the stencil's values at `step` (nan where f is not finite), max |f|, evaluations.

    One value and one size per output of the objective.
    """
    offsets = step * np.array(stencil.offsets)
    rows = np.array([flat])
    found = changes(objective, name, rows, offsets, tolerant=True)
    base = bases(objective, name, rows)[0]
    if not np.all(np.isfinite(found)):
        return np.full(base.shape, math.nan), np.abs(base), found.shape[1]
    size = np.maximum(np.abs(base), np.max(np.abs(base + found[0]), axis=0))
    return combine(stencil, found, np.array([step]))[0], size, found.shape[1]


def _confirmed(
    stencil: Stencil,
    objective: Differentiable,
    name: str,
    flat: int,
    step: float,
    value: FloatArray | None = None,
) -> tuple[FloatArray, int]:
    """Return the stencil's values at `step` if they agree with those at `step / 4`, else nan.

    Every output must agree to `AUTO_AGREEMENT`, or within the rounding error of the smaller
    step (a derivative of 0 is all rounding). Near a singularity the larger step does not agree.
    """
    used = 0
    if value is None:
        value, _, used = _stencil_value(stencil, objective, name, flat, step)
    quarter, size, more = _stencil_value(stencil, objective, name, flat, step / 4)
    used += more
    rounding = NOISE * EPS * size / (step / 4) ** stencil.derivative
    gap = np.abs(value - quarter)
    agree = (gap <= AUTO_AGREEMENT * np.maximum(np.abs(value), np.abs(quarter))) | (gap <= rounding)
    if np.all(agree):
        return value, used
    return np.full(value.shape, math.nan), used


def _relative_step(stencil: Stencil, x: float) -> float:
    """Return the "auto" step relative to `|x|` rather than `max(1, |x|)` (a power of two)."""
    step = auto_steps(stencil.order, np.array([x]), stencil.derivative)
    relative = float(step[0]) * min(1.0, abs(x))
    return power_of_two_below(relative) if relative > 0 else 0.0


def near_zero(
    stencil: Stencil,
    objective: Differentiable,
    name: str,
    flat: int,
    h: float,
    value: FloatArray,
) -> tuple[FloatArray, int]:
    """Check an "auto" value whose stencil reaches near 0; return it (or a better one), evaluations.

    A function singular at 0 (log, sqrt, 1/x) stays finite on a stencil that reaches close to
    0, but the difference is then far off. The value must agree with the stencil at `h / 4`;
    where it does not, the stencil at a step relative to `|x|` is tried, with the same check;
    where that fails too, the derivative is refused.
    """
    found, used = _confirmed(stencil, objective, name, flat, h, value)
    if np.all(np.isfinite(found)):
        return found, used
    x = float(coordinate_values(objective.params[name], np.array([flat]))[0])
    relative = _relative_step(stencil, x)
    if 0 < relative < h / 4:
        found, more = _confirmed(stencil, objective, name, flat, relative)
        used += more
        if np.all(np.isfinite(found)):
            return found, used
    raise DifferentiationError(
        f"h='auto' finds no reliable step at {where(objective, name, flat)}={x!r}: the "
        f"stencil at {h:g} and at "
        f"{h / 4:g} disagree, and so do steps relative to |{name}|; f changes too fast there "
        "(a singularity near 0), or its derivative is lost in rounding; use RichardsonDiff, "
        "which finds its steps and bounds its error"
    )


def one_sided_fallback(
    stencil: Stencil,
    objective: Differentiable,
    name: str,
    flat: int,
    h: float,
    found: NDArray[Any],
    offsets: NDArray[Any],
) -> tuple[FloatArray, int]:
    """Return the derivative where the "auto" stencil left the domain of f, and the evaluations.

    `found` holds the stencil's changes at `h * offsets` (steps by outputs), nan where f was not
    finite. Tried in
    turn: where `|x| <= 1/16`, the same stencil at a step relative to `|x|` (most domain edges
    are at 0, and such a step keeps the stencil between 0 and x), checked against a quarter of
    that step; a one-sided stencil of the same order (at least 2) on the side where f was finite,
    at `h` and then at the relative step; the other side likewise. A one-sided value counts only
    where the one-sided formula of one order less, on the same points, agrees with it to
    `FALLBACK_AGREEMENT`: near a singularity at the edge it does not, and the step is wrong for
    the function.
    """
    x = float(coordinate_values(objective.params[name], np.array([flat]))[0])
    relative = _relative_step(stencil, x) or h
    used = 0
    if relative <= h / 16:  # |x| is small: a step on the scale of |x| may fit between 0 and x
        value, used = _confirmed(stencil, objective, name, flat, relative)
        if np.all(np.isfinite(value)):
            return value, used
    finite = np.all(np.isfinite(found), axis=-1)
    sides = [1.0, -1.0] if np.all(finite[offsets.real > 0]) else [-1.0, 1.0]
    order, d = max(stencil.order, 2), stencil.derivative
    for side in sides:
        stencil_here, lower = one_sided(order, side, d), one_sided(order - 1, side, d)
        for step in dict.fromkeys((h, min(h, relative))):
            moved = changes(
                objective,
                name,
                np.array([flat]),
                step * np.array(stencil_here.offsets),
                tolerant=True,
            )
            used += moved.shape[1]
            if not np.all(np.isfinite(moved)):
                break  # nearer steps on this side will not do better
            value = combine(stencil_here, moved, np.array([step]))[0]
            check = combine(lower, moved[:, : len(lower.offsets)], np.array([step]))[0]
            if np.all(
                np.abs(value - check)
                <= FALLBACK_AGREEMENT * np.maximum(np.abs(value), np.abs(check))
            ):
                return value, used
    raise DifferentiationError(
        f"the stencil leaves f's domain at {where(objective, name, flat)}={x!r} (f not finite "
        f"at steps of {h:g}), and "
        "no one-sided stencil there gives a consistent value: the edge is too close for "
        "h='auto'; use RichardsonDiff, which shrinks its steps to the edge"
    )
