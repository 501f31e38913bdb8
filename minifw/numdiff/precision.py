r"""Values of f in less than float64: what they cost a difference quotient, said once per call.

A difference quotient subtracts two values of \(f\): in float32 they carry about 7 significant
digits, and \((f(x+h) - f(x-h)) / 2h\) with \(h = 10^{-4}\) keeps about 3 of them (float16:
none). minifw computes in float64 wherever it can; when `f` itself returns float32 or float16
values (it computes in that precision whatever it is given), the loss cannot be undone, and a
[`PrecisionWarning`][minifw.numdiff.precision.PrecisionWarning] says so
([`warn_low_precision`][minifw.numdiff.precision.warn_low_precision]). The checks of a user's
derivatives ([`minifw.numdiff.function_check`][minifw.numdiff.function_check]) refuse such an `f`
instead: their verdict would mean nothing.

Examples:
    >>> import numpy as np
    >>> low_precision(np.dtype(np.float32)), low_precision(np.dtype(np.float64))
    (True, False)

"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

__all__ = ["PrecisionWarning", "digits", "low_precision", "warn_low_precision"]


class PrecisionWarning(RuntimeWarning):
    """`f` returns values of less than float64 precision, so its derivatives lose digits."""


def low_precision(dtype: np.dtype[Any]) -> bool:
    """Whether a value of this dtype is a float (or complex) of less than float64 precision."""
    return dtype.kind in "fc" and bool(np.finfo(dtype).eps > np.finfo(np.float64).eps)


def digits(dtype: np.dtype[Any]) -> int:
    """Return the significant decimal digits a value of this float dtype carries.

    Examples:
        >>> digits(np.dtype(np.float32)), digits(np.dtype(np.float16))
        (7, 3)

    """
    return round(-math.log10(float(np.finfo(dtype).eps))) if dtype.kind in "fc" else 0


def warn_low_precision(dtype: np.dtype[Any], where: str) -> None:
    """Warn that `f` returned `dtype` values (at `where`), if that is less than float64.

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_low_precision(np.dtype(np.float32), "the point")
        >>> print(caught[0].message)
        f returned float32 at the point: its values carry about 7 significant digits, and a difference quotient loses about half of them (a central difference with h=1e-4 keeps about 3); compute f in float64 (converting its result afterwards does not bring the digits back)

    """
    if not low_precision(dtype):
        return
    warnings.warn(
        f"f returned {dtype} at {where}: its values carry about {digits(dtype)} significant "
        "digits, and a difference quotient loses about half of them (a central difference "
        f"with h=1e-4 keeps about {max(digits(dtype) - 4, 0)}); compute f in float64 "
        "(converting its result afterwards does not bring the digits back)",
        PrecisionWarning,
        stacklevel=4,
    )
