r"""Float64 rounding as the schemes reason about it: machine epsilon, and how exact a value of f is.

`h="auto"` ([`minifw.numdiff.auto_step`][minifw.numdiff.auto_step]), Richardson's error bound
([`minifw.numdiff.schemes.richardson`][minifw.numdiff.schemes.richardson]) and the complex step's
check ([`minifw.numdiff.imaginary_step`][minifw.numdiff.imaginary_step]) share these numbers.

Examples:
    >>> EPS == 2.0**-52, power_of_two_below(0.3)
    (True, 0.25)

"""

from __future__ import annotations

import math

__all__ = ["EPS", "NOISE", "TINY", "power_of_two_below"]

EPS = 2.0**-52
r"""The spacing of float64 numbers at 1, \(\varepsilon\) (`numpy.finfo(numpy.float64).eps`)."""
TINY = math.ulp(0.0)
"""The smallest positive float64 (a subnormal): what any value is known to at best."""
NOISE = 8.0
"""A value of f is assumed correct to this many units of its last place."""


def power_of_two_below(value: float) -> float:
    """Return the largest power of two not above `value` (> 0).

    Examples:
        >>> power_of_two_below(1.0), power_of_two_below(1000.0)
        (1.0, 512.0)

    """
    _, exponent = math.frexp(value)
    return math.ldexp(1.0, exponent - 1)
