r"""Stencils: the offsets and weights of a first-derivative formula, checked, with their order.

A fixed-stencil scheme is \(f'(x) \approx \frac1h \sum_k w_k \big(f(x + o_k h) - f(x)\big)\);
a [`Stencil`][minifw.numdiff.stencil.Stencil] holds the \(o_k\) and \(w_k\), and
[`one_sided`][minifw.numdiff.stencil.one_sided] builds the one-sided stencil of any order that
`h="auto"` falls back to at a domain edge.

Examples:
    >>> one_sided(2, 1.0)  # (-3f(x) + 4f(x+h) - f(x+2h)) / 2h
    Stencil(offsets=(1.0, 2.0), weights=(2.0, -0.5))

"""

from __future__ import annotations

import cmath
import functools
import math
import numbers
from collections.abc import Iterable
from fractions import Fraction
from typing import final

import attrs
import numpy as np

from minifw.errors import ValidationError

__all__ = ["Stencil", "one_sided"]


def _as_offsets(values: object) -> tuple[complex, ...]:
    # Numbers only: float("12") would quietly turn text into digits.
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValidationError(
            f"stencil offsets and weights must be sequences of numbers, got {values!r}"
        )
    items = tuple(values)
    for v in items:
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Number):
            raise ValidationError(
                f"stencil offsets and weights must be numbers, got {v!r} in {values!r}"
            )
    return tuple(_number(v) for v in items)


def _number(value: object) -> complex:
    """Return a real number as a `float`, a complex one (imaginary part not 0) as a `complex`."""
    number = complex(value)  # type: ignore[call-overload]
    # + 0.0 turns the -0.0 real part of a literal such as -1j into 0.0, for a plain repr
    return complex(number.real + 0.0, number.imag) if number.imag != 0 else number.real


@final
@attrs.frozen
class Stencil:
    r"""Offsets and weights of a first-derivative finite-difference formula.

    The formula is \(f'(x) \approx \frac1h \sum_k w_k \big(f(x + o_k h) - f(x)\big)\).
    Writing it with differences from \(f(x)\) drops the weight of the centre point (the
    weights of a consistent first-derivative formula sum to zero), so `offsets` never contains
    0. Consistency also requires \(\sum_k w_k o_k = 1\), which is checked.

    Offsets and weights may be complex: the derivative is then the real part of the sum (for the
    complex step, offset \(i\) and weight \(-i\) give
    \(\operatorname{Im} f(x + ih) / h\)).

    Examples:
        >>> Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5))  # central difference
        Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5))
        >>> Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5)).order
        2
        >>> Stencil(offsets=(1j,), weights=(-1j,)).order  # the complex step
        2
        >>> Stencil(offsets=(1.0,), weights=(2.0,))
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: stencil weights must satisfy sum(w * o) == 1 for a first derivative, got 2.0

    """

    offsets: tuple[complex, ...] = attrs.field(converter=_as_offsets)
    weights: tuple[complex, ...] = attrs.field(converter=_as_offsets)

    def __attrs_post_init__(self) -> None:
        if not self.offsets or len(self.offsets) != len(self.weights):
            raise ValidationError(
                "stencil needs as many weights as offsets (at least one), got "
                f"{len(self.offsets)} offsets and {len(self.weights)} weights"
            )
        if any(o == 0 or not cmath.isfinite(o) for o in self.offsets) or not all(
            cmath.isfinite(w) for w in self.weights
        ):
            raise ValidationError(
                "stencil offsets must be finite and non-zero, and weights finite, got "
                f"offsets {self.offsets} and weights {self.weights}"
            )
        if len(set(self.offsets)) != len(self.offsets):
            raise ValidationError(f"stencil offsets must be distinct, got {self.offsets}")
        moment = _moment(self.weights, self.offsets, 1)
        if not abs(moment - 1.0) <= 1e-12:
            shown = moment.real if moment.imag == 0 else moment
            raise ValidationError(
                "stencil weights must satisfy sum(w * o) == 1 for a first derivative, "
                f"got {shown!r}"
            )

    @property
    def is_complex(self) -> bool:
        """Whether any offset or weight is complex (a complex-step formula)."""
        return any(isinstance(v, complex) for v in (*self.offsets, *self.weights))

    @property
    def order(self) -> int:
        r"""The order of accuracy \(p\): the error is \(O(h^p)\) for smooth \(f\).

        The first power \(m \ge 2\) whose moment \(\operatorname{Re}\sum_k w_k o_k^m\)
        does not vanish is \(p + 1\): Taylor's theorem leaves
        \(\frac{h^{m-1}}{m!} f^{(m)}(x) \sum_k w_k o_k^m\) as the leading error.
        """
        for m in range(2, len(self.offsets) + 3):
            size = math.fsum(
                abs(w) * abs(o) ** m for w, o in zip(self.weights, self.offsets, strict=True)
            )
            if abs(_moment(self.weights, self.offsets, m).real) > 1e-12 * size:
                return m - 1
        return len(self.offsets) + 2  # pragma: no cover - no stencil is exact to this order


def _moment(weights: tuple[complex, ...], offsets: tuple[complex, ...], power: int) -> complex:
    r"""Return \(\sum_k w_k o_k^{power}\), summed exactly per real and imaginary part."""
    terms = [complex(w) * complex(o) ** power for w, o in zip(weights, offsets, strict=True)]
    return complex(math.fsum(t.real for t in terms), math.fsum(t.imag for t in terms))


@functools.lru_cache(maxsize=16)
def one_sided(order: int, side: float) -> Stencil:
    r"""Return the one-sided stencil of `order` (offsets `side * (1..order)`).

    Its weights solve \(\sum_k w_k o_k^m = [m = 1]\) for \(m = 1..p\).

    Examples:
        >>> one_sided(1, -1.0)  # the backward difference
        Stencil(offsets=(-1.0,), weights=(-1.0,))

    """
    n = order
    # Gauss-Jordan on the Vandermonde system, in fractions: weights exact to the last bit.
    rows = [
        [Fraction(k) ** m for k in range(1, n + 1)] + [Fraction(int(m == 1))]
        for m in range(1, n + 1)
    ]
    for c in range(n):
        pivot = next(r for r in range(c, n) if rows[r][c] != 0)
        rows[c], rows[pivot] = rows[pivot], rows[c]
        rows[c] = [v / rows[c][c] for v in rows[c]]
        for r in range(n):
            if r != c and rows[r][c] != 0:
                rows[r] = [a - rows[r][c] * b for a, b in zip(rows[r], rows[c], strict=True)]
    weights = [float(rows[k][n]) * side for k in range(n)]  # o = side * k flips odd moments
    return Stencil(tuple(side * k for k in range(1, n + 1)), tuple(weights))
