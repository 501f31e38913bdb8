"""Shared checks of user-supplied numbers, as attrs validators and converters.

Each names the argument, what was expected and what arrived, and treats ``bool`` as neither a
count nor a number.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from minifw.errors import ValidationError

__all__ = ["is_positive_float", "is_positive_int", "positive_float", "positive_int", "to_float"]


def is_positive_float(value: object) -> bool:
    """Whether ``value`` is a real number (not a bool) that is finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return False
    try:
        return bool(math.isfinite(value) and value > 0)
    except OverflowError:  # an int beyond float range
        return False


def is_positive_int(value: object) -> bool:
    """Whether ``value`` is an integer (not a bool) that is > 0."""
    return bool(not isinstance(value, bool) and isinstance(value, int | np.integer) and value > 0)


def positive_float(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Attrs validator: a positive finite float, named after the field."""
    if not is_positive_float(value):
        name = attribute.alias or attribute.name
        raise ValidationError(f"{name} must be a positive finite float, got {name}={value!r}")


def positive_int(_instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    """Attrs validator: a positive integer, named after the field."""
    if not is_positive_int(value):
        name = attribute.alias or attribute.name
        raise ValidationError(f"{name} must be a positive integer, got {name}={value!r}")


def to_float(value: float) -> float:
    """Attrs converter: an ``int`` becomes the equal ``float``; anything else is left for the validator."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # beyond float range: left for the validator to refuse
            return value
    return value
