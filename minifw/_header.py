"""What the header of a stored array declares (element type and shape), and the check of it.

IDX files ([`minifw.data.idx`][minifw.data.idx]) and the `.npy` members of a checkpoint
([`minifw.train.checkpoint`][minifw.train.checkpoint]) both start with such a header. Their readers
hand it to a [`HeaderCheck`][minifw._header.HeaderCheck] before they allocate or read any data, so
a file declaring the wrong type, the wrong shape or a terabyte costs nothing but an error.

Examples:
    >>> import numpy as np
    >>> header = ArrayHeader(np.dtype(np.uint8), (10000, 28, 28))
    >>> header.nbytes
    7840000
    >>> header.describe()
    'shape (10000, 28, 28) of uint8'

"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeAlias, final

import attrs
import numpy as np

__all__ = ["ArrayHeader", "HeaderCheck"]


@final
@attrs.frozen
class ArrayHeader:
    """The element type and shape a stored array declares, hence the size of its data.

    `dtype` is in native byte order (the order the readers return arrays in).

    Examples:
        >>> ArrayHeader(np.dtype(np.float64), (3, 2)).nbytes
        48

    """

    dtype: np.dtype[Any]
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        """The number of data bytes after the header: elements times the element size."""
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        """Say the shape and element type, as error messages quote them."""
        return f"shape {self.shape} of {self.dtype}"


HeaderCheck: TypeAlias = Callable[[ArrayHeader, str], None]
"""A caller's check of a header, run before any data is read.

It is called with the header and the name of what is being read (a file, an archive member, as
messages name it) and raises one of minifw's errors to refuse it: a data set refuses images of
the wrong shape, a checkpoint a parameter of the wrong dtype."""
