r"""Stencils: the offsets and weights of a difference formula, checked, with their order.

A fixed-stencil scheme is \(f^{(d)}(x) \approx \frac{1}{h^d} \sum_k w_k \big(f(x + o_k h) - f(x)\big)\)
for the first (\(d = 1\)) or second (\(d = 2\)) derivative; a
[`Stencil`][minifw.numdiff.stencil.Stencil] holds the \(o_k\), the \(w_k\) and \(d\).
[`second_derivative`][minifw.numdiff.stencil.second_derivative] gives a scheme's own rule for second
derivatives (the weights on its own points that give \(f''\)), and
[`one_sided`][minifw.numdiff.stencil.one_sided] the one-sided stencil of any order that `h="auto"`
falls back to at a domain edge.

Examples:
    >>> one_sided(2, 1.0)  # (-3f(x) + 4f(x+h) - f(x+2h)) / 2h
    Stencil(offsets=(1.0, 2.0), weights=(2.0, -0.5))
    >>> second_derivative(Stencil((1.0, -1.0), (0.5, -0.5)))  # (f(x+h) - 2f(x) + f(x-h)) / h^2
    Stencil(offsets=(1.0, -1.0), weights=(1.0, 1.0), derivative=2)

"""

from __future__ import annotations

import cmath
import functools
import math
import numbers
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import final

import attrs
import numpy as np

from minifw.errors import ValidationError

__all__ = ["Stencil", "one_sided", "second_derivative", "solve_exactly"]


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


def _derivative(value: object) -> int:
    if isinstance(value, bool) or value not in (1, 2):
        raise ValidationError(
            f"stencil derivative must be 1 (first) or 2 (second), got derivative={value!r}"
        )
    return int(value)


@final
@attrs.frozen(repr=False)
class Stencil:
    r"""Offsets and weights of a finite-difference formula for a first or second derivative.

    The formula is \(f^{(d)}(x) \approx \frac{1}{h^d} \sum_k w_k \big(f(x + o_k h) - f(x)\big)\)
    with `derivative` \(d\) (1 unless given). Writing it with differences from \(f(x)\) drops
    the weight of the centre point, so `offsets` never contains 0. Consistency requires the
    moments \(\sum_k w_k o_k^m / m!\) to be 1 for \(m = d\) and 0 below, which is checked.

    Offsets and weights may be complex: the derivative is then the real part of the sum (for the
    complex step, offset \(i\) and weight \(-i\) give
    \(\operatorname{Im} f(x + ih) / h\)); only the real parts of the moments must then match.

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
    derivative: int = attrs.field(default=1, converter=_derivative)

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
        if self.derivative == 1:
            moment = _moment(self.weights, self.offsets, 1)
            if not abs(moment - 1.0) <= 1e-12:
                shown = moment.real if moment.imag == 0 else moment
                raise ValidationError(
                    "stencil weights must satisfy sum(w * o) == 1 for a first derivative, "
                    f"got {shown!r}"
                )
            return
        first = _moment(self.weights, self.offsets, 1).real
        second = _moment(self.weights, self.offsets, 2).real
        size = math.fsum(abs(w) * abs(o) for w, o in zip(self.weights, self.offsets, strict=True))
        if not (abs(first) <= 1e-12 * size and abs(second - 2.0) <= 1e-12 * max(1.0, size)):
            raise ValidationError(
                "stencil weights must satisfy sum(w * o) == 0 and sum(w * o**2) == 2 for a "
                f"second derivative, got {first!r} and {second!r}"
            )

    def __repr__(self) -> str:
        shown = f"offsets={self.offsets!r}, weights={self.weights!r}"
        return (
            f"Stencil({shown})"
            if self.derivative == 1
            else (f"Stencil({shown}, derivative={self.derivative})")
        )

    @property
    def is_complex(self) -> bool:
        """Whether any offset or weight is complex (a complex-step formula)."""
        return any(isinstance(v, complex) for v in (*self.offsets, *self.weights))

    @property
    def order(self) -> int:
        r"""The order of accuracy \(p\): the error is \(O(h^p)\) for smooth \(f\).

        The first power \(m > d\) whose moment \(\operatorname{Re}\sum_k w_k o_k^m\)
        does not vanish is \(p + d\): Taylor's theorem leaves
        \(\frac{h^{m-d}}{m!} f^{(m)}(x) \sum_k w_k o_k^m\) as the leading error.
        """
        d = self.derivative
        for m in range(d + 1, len(self.offsets) + d + 3):
            size = math.fsum(
                abs(w) * abs(o) ** m for w, o in zip(self.weights, self.offsets, strict=True)
            )
            if abs(_moment(self.weights, self.offsets, m).real) > 1e-12 * size:
                return m - d
        return len(self.offsets) + 2  # pragma: no cover - no stencil is exact to this order


def _moment(weights: tuple[complex, ...], offsets: tuple[complex, ...], power: int) -> complex:
    r"""Return \(\sum_k w_k o_k^{power}\), summed exactly per real and imaginary part."""
    terms = [complex(w) * complex(o) ** power for w, o in zip(weights, offsets, strict=True)]
    return complex(math.fsum(t.real for t in terms), math.fsum(t.imag for t in terms))


def solve_exactly(matrix: Sequence[Sequence[Fraction]], rhs: Sequence[Fraction]) -> list[Fraction]:
    r"""Return the solution of a square, regular linear system, in fractions (Gauss-Jordan).

    The weights of stencils (and of Richardson's noise combinations) come from small Vandermonde
    systems; solved exactly, they are correct to the last bit once rounded.

    Examples:
        >>> solve_exactly([[Fraction(1), Fraction(1)], [Fraction(1), Fraction(-1)]], [Fraction(0), Fraction(2)])
        [Fraction(1, 1), Fraction(-1, 1)]

    """
    n = len(rhs)
    rows = [[*row, b] for row, b in zip(matrix, rhs, strict=True)]
    for c in range(n):
        pivot = next(r for r in range(c, n) if rows[r][c] != 0)
        rows[c], rows[pivot] = rows[pivot], rows[c]
        rows[c] = [v / rows[c][c] for v in rows[c]]
        for r in range(n):
            if r != c and rows[r][c] != 0:
                rows[r] = [a - rows[r][c] * b for a, b in zip(rows[r], rows[c], strict=True)]
    return [rows[k][n] for k in range(n)]


def _weights(offsets: Sequence[float], derivative: int) -> tuple[float, ...]:
    r"""Return the weights on `offsets` (and the centre) that give the `derivative`-th derivative.

    They solve \(\sum_k w_k o_k^m = m!\,[m = d]\) for \(m = 1..K\) (\(K\) offsets), exactly.
    """
    points = [Fraction(o) for o in offsets]
    powers = range(1, len(points) + 1)
    matrix = [[p**m for p in points] for m in powers]
    rhs = [Fraction(math.factorial(m) * int(m == derivative)) for m in powers]
    return tuple(float(w) for w in solve_exactly(matrix, rhs))


@functools.lru_cache(maxsize=32)
def one_sided(order: int, side: float, derivative: int = 1) -> Stencil:
    r"""Return the one-sided stencil of `order` for the first or second derivative.

    Its offsets are `side * (1..order + derivative - 1)`, its weights solve
    \(\sum_k w_k o_k^m = m!\,[m = d]\) for every \(m\) up to the number of offsets.

    Examples:
        >>> one_sided(1, -1.0)  # the backward difference
        Stencil(offsets=(-1.0,), weights=(-1.0,))
        >>> one_sided(1, 1.0, derivative=2)  # (f(x+2h) - 2f(x+h) + f(x)) / h^2
        Stencil(offsets=(1.0, 2.0), weights=(-2.0, 1.0), derivative=2)

    """
    offsets = tuple(side * k for k in range(1, order + derivative))
    return Stencil(offsets, _weights(offsets, derivative), derivative)


def second_derivative(stencil: Stencil) -> Stencil:
    r"""Return a real stencil's own rule for the second derivative: the same points, new weights.

    The weights on the stencil's offsets (and the centre) that give \(f''\) to the highest
    order those points allow; a stencil of one point (forward, backward) is given the point
    twice as far, since three points are the fewest a second difference needs. So the central
    difference gives \((f(x+h) - 2f(x) + f(x-h))/h^2\), the five-point formula the five-point
    second difference, the forward difference \((f(x+2h) - 2f(x+h) + f(x))/h^2\).

    Examples:
        >>> second_derivative(Stencil((1.0,), (1.0,)))
        Stencil(offsets=(1.0, 2.0), weights=(-2.0, 1.0), derivative=2)
        >>> second_derivative(Stencil((2.0, -2.0, 1.0, -1.0), (-1/12, 1/12, 2/3, -2/3))).order
        4

    """
    if stencil.is_complex or stencil.derivative != 1:
        raise ValidationError(
            "second_derivative takes a real first-derivative stencil, got "
            f"{stencil!r}; a complex scheme brings its own rule (see ComplexStep)"
        )
    offsets = tuple(o.real for o in stencil.offsets)
    if len(offsets) == 1:
        offsets = (offsets[0], 2 * offsets[0])
    return Stencil(offsets, _weights(offsets, 2), 2)
