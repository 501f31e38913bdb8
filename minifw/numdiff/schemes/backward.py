r"""The backward difference \(\big(f(x) - f(x - h)\big) / h\)."""

from __future__ import annotations

from typing import final

import attrs

from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.stencil import Stencil

__all__ = ["BackwardDiff"]

_BACKWARD = Stencil(offsets=(-1.0,), weights=(-1.0,))


@final
@attrs.frozen
class BackwardDiff(Differentiator):
    r"""Backward difference \(\big(f(x) - f(x - h)\big) / h\); error \(O(h)\).

    Examples:
        >>> BackwardDiff().derivative(lambda x: x * x, 3.0)
        5.99990000001327

    """

    @property
    def stencil(self) -> Stencil:
        """One step backward."""
        return _BACKWARD
