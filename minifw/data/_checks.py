"""Checks of the plain arguments the data functions take (paths, flags, limits, deadlines).

Each names the argument, what was expected and what arrived, so a wrong call is one clear
[`ValidationError`][minifw.errors.ValidationError], never a `TypeError` from `pathlib` or `os`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from minifw._validation import BOOL
from minifw.errors import ValidationError

__all__ = ["as_path", "check_flag", "check_limit", "check_seconds"]


def as_path(value: object, name: str) -> Path:
    """Return `value` as a `Path`, refusing what cannot name a file.

    Examples:
        >>> as_path("data/mnist", "path").as_posix()
        'data/mnist'
        >>> as_path(3, "path")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: path must be a str or os.PathLike naming a file or folder, got path=3 (int)

    """
    if not isinstance(value, str | os.PathLike):
        raise ValidationError(
            f"{name} must be a str or os.PathLike naming a file or folder, "
            f"got {name}={value!r} ({type(value).__name__})"
        )
    try:
        path = Path(value)
    except TypeError as err:  # an os.PathLike whose __fspath__ returns bytes or junk
        raise ValidationError(
            f"{name} must name a file or folder as text, got {value!r} ({err})"
        ) from None
    if "\x00" in str(path):
        raise ValidationError(f"{name} must not contain a NUL character, got {name}={str(path)!r}")
    return path


def check_flag(value: object, name: str) -> bool:
    """Return `value` if it is `True` or `False`; anything else is refused.

    Examples:
        >>> check_flag(1, "progress")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: progress must be True or False, got progress=1

    """
    BOOL.require(name, value)
    return bool(value)


def check_limit(value: object, name: str) -> int:
    """Return `value` if it is a positive `int` (a byte count); `bool` is not a count.

    Examples:
        >>> check_limit(0, "max_bytes")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: max_bytes must be a positive integer (a number of bytes), got max_bytes=0

    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"{name} must be a positive integer (a number of bytes), got {name}={value!r}"
        )
    return value


def check_seconds(value: object, name: str) -> float | None:
    """Return `value` as seconds if it is a positive finite number, or `None` (no limit).

    Examples:
        >>> check_seconds(30, "deadline"), check_seconds(None, "deadline")
        (30.0, None)
        >>> check_seconds(float("nan"), "deadline")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: deadline must be a positive finite number of seconds or None, got deadline=nan

    """
    if value is None:
        return None
    seconds = math.nan  # anything that is not a real number fails the test below
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float is not a usable number of seconds
            seconds = math.inf
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValidationError(
            f"{name} must be a positive finite number of seconds or None, got {name}={value!r}"
        )
    return seconds
