r"""How the book's networks draw their first weights: a scale times standard normal draws.

The book's `weight_init_std` is a standard deviation, or a name: `'relu'` or `'he'` for He's
\(\sqrt{2 / n_\text{in}}\) (recommended before ReLU), `'sigmoid'` or `'xavier'` for Xavier's
\(\sqrt{1 / n_\text{in}}\), with \(n_\text{in}\) the number of inputs of the layer.
[`weight_scale`][minifw.nn.models.init.weight_scale] turns either into a number,
[`normal_weights`][minifw.nn.models.init.normal_weights] draws the weights and refuses a scale so
large that they overflow, naming the argument.

Examples:
    >>> weight_scale("relu", 50) == weight_scale("he", 50) == (2 / 50) ** 0.5
    True
    >>> import numpy as np
    >>> normal_weights(np.random.default_rng(0), (20, 20), 1e308, "weight_init_std")
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: weight_init_std=1e+308 is too large: weights drawn with it overflow to inf (a standard deviation of at most about 1e300 can be drawn)

"""

from __future__ import annotations

import math
from typing import Literal, TypeAlias

import numpy as np

from minifw._validation import Check, is_positive_float
from minifw.errors import ValidationError
from minifw.typing import FloatArray

__all__ = ["WEIGHT_INIT", "WeightInit", "normal_weights", "weight_scale"]

WeightInit: TypeAlias = Literal["he", "xavier", "relu", "sigmoid"] | float
"""A weight scale: He's (`"he"`, the book's `"relu"`), Xavier's (`"xavier"`, `"sigmoid"`) or a number."""

_HE = ("he", "relu")
_XAVIER = ("xavier", "sigmoid")

WEIGHT_INIT = Check(
    "'he' (or 'relu'), 'xavier' (or 'sigmoid') or a positive standard deviation",
    lambda v: v in _HE + _XAVIER or is_positive_float(v),
)
"""The check of a weight-init field (config and command line read its words)."""


def weight_scale(init: WeightInit, n_in: int) -> float:
    r"""Return the standard deviation of a layer's weights: He's, Xavier's or the number given."""
    if init in _HE:
        return math.sqrt(2.0 / n_in)
    if init in _XAVIER:
        return math.sqrt(1.0 / n_in)
    return float(init)


def normal_weights(
    rng: np.random.Generator, shape: tuple[int, ...], std: float, argument: str
) -> FloatArray:
    """Return `std * rng.standard_normal(shape)`, refusing a `std` whose draws are not finite."""
    with np.errstate(over="ignore"):
        weights: FloatArray = std * rng.standard_normal(shape)
    if not np.all(np.isfinite(weights)):
        raise ValidationError(
            f"{argument}={std!r} is too large: weights drawn with it overflow to inf (a standard "
            "deviation of at most about 1e300 can be drawn)"
        )
    return weights
