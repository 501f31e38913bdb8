"""Array type aliases used across minifw.

Functions accept :data:`numpy.typing.ArrayLike` (lists work, as in the book) and return these
concrete array types.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["AnyArray", "ArrayLike", "FloatArray", "IntArray", "UInt8Array"]

FloatArray: TypeAlias = NDArray[np.float64]
IntArray: TypeAlias = NDArray[np.intp]
UInt8Array: TypeAlias = NDArray[np.uint8]
AnyArray: TypeAlias = NDArray[Any]
