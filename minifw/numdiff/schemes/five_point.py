r"""The five-point central difference, of order 4."""

from __future__ import annotations

from typing import final

import attrs

from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.stencil import Stencil

__all__ = ["FivePointDiff"]

_FIVE_POINT = Stencil(offsets=(2.0, -2.0, 1.0, -1.0), weights=(-1 / 12, 1 / 12, 2 / 3, -2 / 3))


@final
@attrs.frozen
class FivePointDiff(Differentiator):
    r"""The five-point central difference; error \(O(h^4)\).

    \[
    f'(x) \approx \frac{f(x - 2h) - 8f(x - h) + 8f(x + h) - f(x + 2h)}{12h}
    = f'(x) - \frac{h^4}{30} f^{(5)}(x) + O(h^6)
    \]

    Four evaluations per coordinate instead of two; `h="auto"` takes
    \(h = \varepsilon^{1/5} \max(1, |x|)\), about `1e-3`, where the error is near
    \(\varepsilon^{4/5} \approx 10^{-13}\).

    Examples:
        >>> import math
        >>> FivePointDiff(h=1e-2).derivative(math.exp, 1.0) - math.e  # CentralDiff: 4.5e-05
        -9.061005279420442e-10
        >>> abs(FivePointDiff(h="auto").derivative(math.exp, 1.0) - math.e) < 1e-12
        True

    """

    @property
    def stencil(self) -> Stencil:
        """Two steps each way, weighted -1/12, 2/3 and -2/3, 1/12 (pairs from the outside in)."""
        return _FIVE_POINT
