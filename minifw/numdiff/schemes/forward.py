r"""The forward difference \(\big(f(x + h) - f(x)\big) / h\)."""

from __future__ import annotations

from typing import final

import attrs

from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.stencil import Stencil

__all__ = ["ForwardDiff"]

_FORWARD = Stencil(offsets=(1.0,), weights=(1.0,))


@final
@attrs.frozen
class ForwardDiff(Differentiator):
    r"""Forward difference \(\big(f(x + h) - f(x)\big) / h\); error \(O(h)\).

    Examples:
        >>> ForwardDiff().derivative(lambda x: x * x, 3.0)
        6.000100000012054

    """

    @property
    def stencil(self) -> Stencil:
        """One step forward."""
        return _FORWARD
