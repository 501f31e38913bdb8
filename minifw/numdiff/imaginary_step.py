r"""Complex steps: no float spacing to check, but an imaginary part that must behave as f's slope.

A step \(ih\) does not move the real part of \(x\), so float spacing cannot blur it (the complex
step's \(h = 10^{-20}\) is fine at any \(x\)). What can go wrong is a function that is not
complex-safe: it drops the imaginary part (`abs`, `.real`, a cast to float), so its "derivative"
would be 0, or it distorts it (`v**2 + abs(v)`, `np.real(v) * v`, `np.sign(v) * v`, `norm(v)**2`),
so the imaginary part is not \(h f'(x)\). [`ImaginaryStep`][minifw.numdiff.imaginary_step.ImaginaryStep]
checks both after the complex steps, cheaply:

- where the imaginary part is exactly 0, a real central difference tells a zero derivative from a
  dropped imaginary part;
- on a sample of each task's coordinates (`SAMPLE` of them, spread over the task, and the one of
  largest derivative), the complex-step value must agree with real differences
  ([`real_agreement`][minifw.numdiff.imaginary_step.real_agreement]);
- an objective that [declares][minifw.numdiff.objective.DeclaresComplexSafety] whether it is
  complex-safe (a layered model asks its layers) is trusted instead, and refused up front when it
  says it is not.

The real part is checked where the function is evaluated (by
[`Perturbation`][minifw.numdiff.perturbation.Perturbation] and the objectives of
[`minifw.numdiff.lines`][minifw.numdiff.lines]): \(f\) at the real point must be real, and
\(\operatorname{Re} f(x + ih)\) must be \(f(x)\) to rounding.

Examples:
    >>> import numpy as np
    >>> from minifw import ComplexStep
    >>> ComplexStep().derivative(lambda v: (v * v).real + 0j * v, 3.0)
    Traceback (most recent call last):
    ...
    minifw.errors.DifferentiationError: the complex step leaves f's imaginary part exactly 0 at x, but f changes when x moves by +-1.52588e-05 (by 9.1553e-05 and -9.15525e-05): f drops the imaginary part (abs, .real, a cast to float), so it is not complex-safe; use a real scheme such as RichardsonDiff
    >>> ComplexStep().derivative(lambda v: v**2 + abs(v), 3.0)
    Traceback (most recent call last):
    ...
    minifw.errors.DifferentiationError: the complex step gives 6 at x, but real differences there give 7: f is not complex-safe (abs, np.real, np.sign, norm or conj distort the imaginary part), so the complex step cannot differentiate it; use a real scheme such as RichardsonDiff

"""

from __future__ import annotations

import math
from typing import Any, Literal, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError
from minifw.numdiff.auto_step import auto_steps
from minifw.numdiff.engine import (
    StencilPolicy,
    Taken,
    bases,
    combine,
    grouped_changes,
    relative_scales,
)
from minifw.numdiff.objective import DeclaresComplexSafety, Differentiable, where
from minifw.numdiff.rounding import EPS, NOISE
from minifw.numdiff.stencil import Stencil, second_derivative
from minifw.typing import FloatArray, IntArray

__all__ = ["AGREEMENT", "SAMPLE", "ImaginaryStep", "real_agreement"]

SAMPLE = 2
"""Coordinates of each task checked against real differences (its first and last), besides its largest."""
AGREEMENT = 1e-6
"""The relative gap allowed between the complex step and the real differences, beyond rounding."""

_REAL_FIRST = Stencil((1.0, -1.0), (0.5, -0.5))
_REAL = {1: _REAL_FIRST, 2: second_derivative(_REAL_FIRST)}


@final
@attrs.frozen
class ImaginaryStep(StencilPolicy):
    """The policy of a complex stencil: its steps unchecked, its imaginary part checked after.

    `h` is a float for [`ComplexStep`][minifw.numdiff.schemes.complex_step.ComplexStep]; a complex
    stencil with `h="auto"` (one of one's own, or the complex step's rule for second derivatives)
    takes the auto steps of a first derivative: an imaginary step takes no difference, so its
    rounding error is that of one difference fewer.
    """

    h: float | Literal["auto"]

    @property
    def tolerant(self) -> bool:
        """No: a change that is not finite is an error naming the coordinate."""
        return False

    def steps(self, stencil: Stencil, values: FloatArray) -> FloatArray:
        """`h` for every coordinate (or the auto steps)."""
        if isinstance(self.h, str):
            return auto_steps(stencil.order, values)
        return np.full(values.shape, self.h)

    def scales(self, values: FloatArray) -> FloatArray:
        """1 for a fixed `h` (the same at every coordinate), relative for `h="auto"`."""
        return relative_scales(values) if isinstance(self.h, str) else np.ones(values.shape)

    def check(
        self,
        objective: Differentiable,
        name: str,
        index: IntArray,
        values: FloatArray,
        steps: NDArray[Any],
    ) -> None:
        """Refuse, before any step, an objective that declares it is not complex-safe."""
        if isinstance(objective, DeclaresComplexSafety):
            reason = objective.complex_safety()
            if reason is not None:
                raise DifferentiationError(
                    f"the objective is not complex-safe ({reason}), so a complex step cannot "
                    "differentiate it; use a real scheme such as RichardsonDiff"
                )

    def settle(self, taken: Taken, result: FloatArray) -> int:
        """Refuse a function that drops or distorts the imaginary part (see the module text)."""
        if isinstance(taken.objective, DeclaresComplexSafety):
            return 0  # it said so in `check`
        zero = np.all(taken.changes.imag == 0, axis=(1, 2))
        used = _dropped(taken, np.flatnonzero(zero))
        return used + _sampled(taken, result, np.flatnonzero(~zero))


def _dropped(taken: Taken, rows: IntArray) -> int:
    """Refuse rows whose imaginary part is exactly 0 although a real step changes f.

    An imaginary part of exactly 0 is a zero derivative, or a function that dropped the
    imaginary part of its argument. A real central difference tells them apart: for a zero
    derivative its change is of third order in the step, far below this threshold.
    """
    if rows.size == 0:
        return 0
    objective, name, index = taken.objective, taken.name, taken.index
    steps = auto_steps(2, taken.values[rows])
    real = grouped_changes(
        objective, name, index[rows], steps, np.array([1.0, -1.0]), tolerant=True
    )
    base = bases(objective, name, index[rows])
    size = np.maximum(np.abs(base), np.max(np.abs(base[:, None] + real), axis=1))
    moved = np.any(np.abs(real[:, 0] - real[:, 1]) > 2 * math.sqrt(EPS) * size, axis=1)
    if np.any(moved):
        k = int(np.flatnonzero(moved)[0])
        p = int(np.argmax(np.abs(real[k, 0] - real[k, 1])))
        at = where(objective, name, int(index[rows[k]]))
        raise DifferentiationError(
            f"the complex step leaves f's imaginary part exactly 0 at {at}, but f changes "
            f"when {at} moves by +-{float(steps[k]):g} (by {float(real[k, 0, p]):g} and "
            f"{float(real[k, 1, p]):g}): f drops the imaginary part (abs, .real, a cast to "
            "float), so it is not complex-safe; use a real scheme such as RichardsonDiff"
        )
    return int(rows.size * 2)


def _sampled(taken: Taken, result: FloatArray, rows: IntArray) -> int:
    """Check a sample of the rows against real differences; return the evaluations it took."""
    if rows.size == 0:
        return 0
    spread = rows[np.unique(np.linspace(0, rows.size - 1, min(rows.size, SAMPLE)).astype(int))]
    largest = rows[int(np.argmax(np.max(np.abs(result[rows]), axis=1)))]
    sample = np.array(list(dict.fromkeys([*spread.tolist(), int(largest)])), dtype=np.intp)
    agree, real, used = real_agreement(taken, sample, result[sample])
    if not np.all(agree):
        k = int(np.flatnonzero(~agree)[0])
        p = int(np.argmax(np.abs(result[sample[k]] - real[k])))
        at = where(taken.objective, taken.name, int(taken.index[sample[k]]))
        raise DifferentiationError(
            f"the complex step gives {float(result[sample[k], p]):.6g} at {at}, but real "
            f"differences there give {float(real[k, p]):.6g}: f is not complex-safe (abs, "
            "np.real, np.sign, norm or conj distort the imaginary part), so the complex "
            "step cannot differentiate it; use a real scheme such as RichardsonDiff"
        )
    return used


def real_agreement(
    taken: Taken, rows: IntArray, value: FloatArray
) -> tuple[NDArray[np.bool_], FloatArray, int]:
    r"""Return whether the complex-step values of `rows` agree with real differences.

    For the tiny steps of a complex step, the real central difference of the same derivative at
    the auto step \(h_r\) must agree to `AGREEMENT` beyond its rounding error. Where it does
    not, or where the complex step is large (then \(h_r\) is that step), the difference at
    \(h_r / 2\) decides: the complex-step value must agree with their extrapolation within
    twice their gap (the real differences' truncation error) plus the complex step's own
    truncation error, estimated from the same gap. Returns, per row, whether it agrees, the real
    estimate, and the evaluations. Where a real step leaves f's domain nothing can be checked,
    and the row counts as agreeing.
    """
    d, order = taken.stencil.derivative, taken.stencil.order
    auto = auto_steps(2, taken.values[rows], d)
    own = taken.h[rows]
    h = np.maximum(auto, own)
    estimate, rounding, finite = _real_estimate(taken, rows, h)
    scale = np.maximum(np.abs(value), np.abs(estimate))
    quick = (own <= auto / 8)[:, None]  # the complex step's own truncation is far below
    agree = ~finite | (quick & (np.abs(value - estimate) <= AGREEMENT * scale + rounding))
    agree = np.all(agree, axis=1)
    used = 2 * rows.size
    again = np.flatnonzero(~agree)
    if again.size == 0:
        return agree, estimate, used
    half, rounding, finite = _real_estimate(taken, rows[again], h[again] / 2)
    used += 2 * again.size
    first = estimate[again]
    extrapolated = half + (half - first) / 3  # the central difference's error is O(h^2)
    gap = np.abs(half - first)
    truncation = 4 / 3 * gap * ((own[again] / h[again]) ** order)[:, None]
    scale = np.maximum(np.abs(value[again]), np.abs(extrapolated))
    close = np.abs(value[again] - extrapolated) <= 2 * (gap + rounding + truncation) + (
        AGREEMENT * scale
    )
    agree[again] = np.all(~finite | close, axis=1)
    estimate[again] = extrapolated
    return agree, estimate, used


def _real_estimate(
    taken: Taken, rows: IntArray, steps: FloatArray
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Return the real central differences of `rows` at `steps`, their rounding, and where finite.

    One objective call per distinct step; shapes `(rows, outputs)`.
    """
    d = taken.stencil.derivative
    stencil = _REAL[d]
    index = taken.index[rows]
    found = grouped_changes(
        taken.objective, taken.name, index, steps, np.array(stencil.offsets), tolerant=True
    )
    finite = np.all(np.isfinite(found), axis=1)
    base = bases(taken.objective, taken.name, index)
    with np.errstate(invalid="ignore"):
        size = np.abs(base) + np.sum(np.abs(base[:, None] + found), axis=1)
        rounding = NOISE * EPS * size * 2 / (steps**d)[:, None]
        estimate = combine(stencil, found, steps)
    return np.where(finite, estimate, 0.0), np.where(finite, rounding, 0.0), finite
