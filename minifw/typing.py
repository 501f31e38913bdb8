"""Array type aliases for typed code that uses or extends minifw (as `numpy.typing`).

minifw's functions accept `ArrayLike` (lists work, as in the book) and return these concrete
array types. Use them in your own losses, layers and models so that `mypy --strict` checks them
the way it checks minifw.

Examples:
    >>> import numpy as np
    >>> from minifw.typing import FloatArray
    >>> def half_square(y: FloatArray) -> FloatArray:
    ...     return 0.5 * y * y
    >>> half_square(np.array([2.0]))
    array([2.])

"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "AnyArray",
    "ArrayLike",
    "ComplexArray",
    "FloatArray",
    "IntArray",
    "SeedLike",
    "UInt8Array",
]

FloatArray: TypeAlias = NDArray[np.float64]
"""float64 arrays: parameters, inputs, gradients."""

ComplexArray: TypeAlias = NDArray[np.complex128]
"""complex128 arrays: what a complex-step derivative evaluates."""

IntArray: TypeAlias = NDArray[np.intp]
"""Index arrays (`numpy.intp`)."""

UInt8Array: TypeAlias = NDArray[np.uint8]
"""Raw image bytes, as stored in IDX files."""

AnyArray: TypeAlias = NDArray[Any]
"""Arrays of any dtype: what a data set split holds before conversion, and what layers pass
(float64, or complex128 under a complex step)."""

SeedLike: TypeAlias = int | np.random.Generator | None
"""A seed for `numpy.random.default_rng`: an int, a generator (used as it is), or `None`."""
