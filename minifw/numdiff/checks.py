"""Input checks of the differentiators' settings and entry points, apart from the algorithms.

Each check refuses bad input with a [`ValidationError`][minifw.errors.ValidationError] naming the
argument, what was expected and what arrived, before any function is evaluated (scipy's
`_*_iv` functions play this part in `scipy.differentiate`).

Examples:
    >>> point([1, 2], "x")
    array([1., 2.])
    >>> flat_index((1, 0), (2, 3))
    3
    >>> real_scalar(True, "x")
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: x must be a real number, got True

"""

from __future__ import annotations

import math

import numpy as np

from minifw._validation import Check, is_positive_float, is_real, to_float
from minifw.errors import ValidationError
from minifw.typing import ArrayLike, FloatArray

__all__ = ["STEP", "TOLERANCE", "flat_index", "point", "real_scalar", "to_step"]


def to_step(value: float | str) -> float | str:
    """Attrs converter of a step: an `int` becomes the equal `float`; "auto" stays."""
    return value if isinstance(value, str) else to_float(value)


def _is_step(value: object) -> bool:
    return value == "auto" if isinstance(value, str) else is_positive_float(value)


STEP = Check("a positive finite float or 'auto'", _is_step)
"""The steps a scheme takes: a positive float, or "auto" for steps chosen per coordinate."""

TOLERANCE = Check(
    "a non-negative finite float",
    lambda v: is_real(v) and math.isfinite(v) and v >= 0,  # type: ignore[arg-type,operator]
)
"""Tolerances of [`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff]."""


def real_scalar(value: object, name: str) -> float:
    """Return a finite real number (not a `bool`) as a `float`, or refuse it."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(f"{name} must be a real number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValidationError(f"{name} must be finite, got {name}={result!r}")
    return result


def point(x: ArrayLike, name: str) -> FloatArray:
    """Return the array to perturb: `x` itself when it is float64, else a float64 copy."""
    if isinstance(x, np.ndarray):
        if x.dtype != np.float64:
            kind = "an integer" if np.issubdtype(x.dtype, np.integer) else f"a {x.dtype}"
            raise ValidationError(
                f"{name} must be a float64 array so that a small step is represented exactly "
                f"enough, got {kind} array (dtype {x.dtype}); pass {name}.astype(np.float64)"
            )
        if not x.flags.writeable:
            raise ValidationError(
                f"{name} must be writeable: it is perturbed in place and restored"
            )
        arr: FloatArray = x
    else:
        converted = np.asarray(x)
        if converted.dtype == np.bool_ or not np.issubdtype(converted.dtype, np.number):
            raise ValidationError(
                f"{name} must hold real numbers, got dtype {converted.dtype} "
                f"and shape {converted.shape}"
            )
        arr = converted.astype(np.float64)
    if arr.size == 0:
        raise ValidationError(f"{name} must have at least one element, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"{name} must be finite, got {arr!r}")
    return arr


def flat_index(i: int | tuple[int, ...], shape: tuple[int, ...]) -> int:
    """Return the flat (C-order) index of element `i` of an array `x` of `shape`, or refuse `i`."""
    pos = (i,) if not isinstance(i, tuple) else i
    if len(pos) != len(shape) or not all(
        isinstance(p, int | np.integer) and not isinstance(p, bool) for p in pos
    ):
        raise ValidationError(
            f"i must index one element of x with shape {shape} ({len(shape)} integers), got i={i!r}"
        )
    for p, n in zip(pos, shape, strict=True):
        if not -n <= p < n:
            raise ValidationError(f"i={i!r} is out of range for x with shape {shape}")
    return int(
        np.ravel_multi_index(tuple(int(p) % n for p, n in zip(pos, shape, strict=True)), shape)
    )
