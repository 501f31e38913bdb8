r"""The central difference \(\big(f(x + h) - f(x - h)\big) / 2h\), the book's scheme.

A scheme to copy: a new fixed-stencil scheme is a file like this one, plus its line in the
registry ([`minifw.app.registry`][minifw.app.registry]) for the command line and configurations.
"""

from __future__ import annotations

from typing import final

import attrs

from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.stencil import Stencil

__all__ = ["CentralDiff"]

CENTRAL = Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5))
"""The central stencil (RichardsonDiff extrapolates it)."""


@final
@attrs.frozen
class CentralDiff(Differentiator):
    r"""Central difference \(\big(f(x + h) - f(x - h)\big) / 2h\); error \(O(h^2)\).

    The book's choice, with `h = 1e-4`.

    Examples:
        >>> CentralDiff().derivative(lambda x0: x0 * x0 + 4.0**2.0, 3.0)
        6.00000000000378

    """

    @property
    def stencil(self) -> Stencil:
        """One step each way, weighted one half."""
        return CENTRAL
