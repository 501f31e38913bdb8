"""The sizes of the built-in networks: how many units a layer and how many parameters a network may have.

Shared by [`MultiLayerNet`][minifw.nn.models.MultiLayerNet] and
[`TwoLayerNet`][minifw.nn.models.TwoLayerNet], so both refuse the same impossible sizes with the
same words.

Examples:
    >>> check_total((784, 50, 10))
    >>> SIZE.accepts(0)
    False

"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from minifw._validation import POSITIVE_INT
from minifw.errors import ValidationError

__all__ = ["MAX_PARAMETERS", "MAX_UNITS", "SIZE", "check_total"]

# Most units a built-in network's layer may have.
MAX_UNITS = 2**20
# Largest number of parameters a built-in network accepts (1 GiB of float64).
MAX_PARAMETERS = 1 << 27
# The check of a layer size field (the shared vocabulary: config and CLI read its words).
SIZE = POSITIVE_INT.at_most(MAX_UNITS, "2**20 = 1048576")


def check_total(sizes: Sequence[int]) -> None:
    """Refuse layer sizes whose fully connected network would need more than `MAX_PARAMETERS`."""
    total = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    if total > MAX_PARAMETERS:
        raise ValidationError(
            f"layer sizes {tuple(sizes)} need {total:,} parameters, more than the "
            f"{MAX_PARAMETERS:,} (1 GiB of float64) a built-in network accepts"
        )
