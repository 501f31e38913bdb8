"""The hyperparameter fields the built-in optimizers share: a step size, a rate, an epsilon.

Each is an attrs field whose value is converted (an `int` becomes a `float`) and checked when the
optimizer is built and whenever it is set again (a schedule may change `learning_rate` between
steps), in the words the configuration file and the command line use too.

Examples:
    >>> import attrs
    >>> @attrs.define
    ... class Decay:
    ...     rate: float = rate_field(0.9)
    >>> Decay(rate=1.5)
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: rate must be a float in [0, 1), got rate=1.5

"""

from __future__ import annotations

from typing import Any

import attrs

from minifw._validation import POSITIVE_FLOAT, Check, is_real, to_float

__all__ = ["UNIT_INTERVAL", "eps_field", "learning_rate_field", "rate_field"]

UNIT_INTERVAL = Check("a float in [0, 1)", lambda v: is_real(v) and 0.0 <= v < 1.0)  # type: ignore[operator]
"""Decay rates and momenta: the fraction of the old value kept each step."""


def learning_rate_field(default: float) -> Any:
    r"""Return the field of a positive finite step size \(\eta\), positional (the first argument)."""
    return attrs.field(default=default, converter=to_float, validator=POSITIVE_FLOAT)


def rate_field(default: float) -> Any:
    """Return the field of a keyword-only rate in [0, 1): a momentum or a decay."""
    return attrs.field(default=default, converter=to_float, validator=UNIT_INTERVAL, kw_only=True)


def eps_field() -> Any:
    """Return the field of a keyword-only epsilon > 0 (1e-7, as in the book) that keeps a division finite."""
    return attrs.field(default=1e-7, converter=to_float, validator=POSITIVE_FLOAT, kw_only=True)
