r"""Second derivatives of a scalar function: the Hessian and Hessian-vector products.

[`SecondDerivatives`][minifw.numdiff.second_derivatives.SecondDerivatives] is what every
[`Differentiator`][minifw.numdiff.differentiator.Differentiator] answers with its rule for second
derivatives ([`second_rule`][minifw.numdiff.differentiator.Differentiator.second_rule]), which is
the scheme's own:

| scheme | second derivative along a line | error |
|---|---|---|
| `ForwardDiff`, `BackwardDiff` | \((f(x \pm 2h) - 2f(x \pm h) + f(x)) / h^2\) | \(O(h)\) |
| `CentralDiff` | \((f(x+h) - 2f(x) + f(x-h)) / h^2\) | \(O(h^2)\) |
| `FivePointDiff` | \((-f(x+2h) + 16f(x+h) - 30f(x) + 16f(x-h) - f(x-2h)) / 12h^2\) | \(O(h^4)\) |
| `RichardsonDiff` | the central second difference at \(h, h/2, \dots\), extrapolated | bounded |
| `ComplexStep` | the five-point difference of the complex step's \(f'\): \(\operatorname{Im} f(x \pm k\delta + i h)\) | \(O(\delta^4)\), no cancellation in \(f'\) |

A fixed step `h` is the scheme's own; `h="auto"` takes \(\varepsilon^{1/(p+2)} \max(1, |x|)\) for
a rule of order \(p\) (the complex step, \(\varepsilon^{1/5}\)). Mixed entries come by
polarization along two coordinates at once ([`minifw.numdiff.hessian`][minifw.numdiff.hessian]).

Examples:
    >>> import numpy as np
    >>> from minifw import RichardsonDiff
    >>> RichardsonDiff().hessian(lambda v: v[0] ** 3 + v[0] * v[1], [1.0, 2.0]).round(10)
    array([[6., 1.],
           [1., 0.]])

"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import attrs

from minifw.numdiff.engine import Rule
from minifw.numdiff.hessian import hessian_estimate, hessian_vector_estimate
from minifw.numdiff.results import Estimate
from minifw.numdiff.workers import Workers, check_workers
from minifw.typing import ArrayLike, FloatArray

__all__ = ["SecondDerivatives"]


@attrs.frozen
class SecondDerivatives(abc.ABC):
    """The Hessian of a scalar function and its products with vectors (module text)."""

    @property
    @abc.abstractmethod
    def second_rule(self) -> Rule:
        """The stencil and step policy of second derivatives along a line."""

    def hessian(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, *, workers: Workers = None
    ) -> FloatArray:
        r"""Return the Hessian of a scalar `f` at `x`, of shape `x.shape + x.shape`.

        \(n\) second derivatives along the coordinates and \(n(n-1)/2\) along pairs of them;
        symmetric by construction. `workers` spreads the lines as
        [`gradients`][minifw.numdiff.differentiator.Differentiator.gradients] spreads coordinates.

        Examples:
            >>> import numpy as np
            >>> from minifw import CentralDiff
            >>> CentralDiff(h="auto").hessian(lambda v: v[0] ** 2 * v[1], [1.0, 3.0]).round(6)
            array([[6., 2.],
                   [2., 0.]])

        """
        return self.hessian_estimate(f, x, workers=workers).value

    def hessian_estimate(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, *, workers: Workers = None
    ) -> Estimate[FloatArray]:
        """Return the Hessian of `f` at `x` with error bounds and evaluations, as `hessian` does.

        Examples:
            >>> import numpy as np
            >>> from minifw import RichardsonDiff
            >>> found = RichardsonDiff().hessian_estimate(lambda v: np.sum(np.exp(v)), [0.0, 1.0])
            >>> bool(np.all(np.abs(found.value - np.diag(np.exp([0.0, 1.0]))) <= found.error))
            True

        """
        check_workers(workers)
        return hessian_estimate(self.second_rule, f, x, workers=workers)

    def hessian_vector(
        self,
        f: Callable[[FloatArray], Any],
        x: ArrayLike,
        v: ArrayLike,
        *,
        workers: Workers = None,
    ) -> FloatArray:
        r"""Return \(H(x)\, v\) for a scalar `f`, of `x`'s shape: \(2n\) second derivatives.

        Examples:
            >>> import numpy as np
            >>> from minifw import RichardsonDiff
            >>> RichardsonDiff().hessian_vector(lambda v: v[0] ** 2 * v[1], [1.0, 3.0], [1.0, 0.0]).round(10)
            array([6., 2.])

        """
        return self.hessian_vector_estimate(f, x, v, workers=workers).value

    def hessian_vector_estimate(
        self,
        f: Callable[[FloatArray], Any],
        x: ArrayLike,
        v: ArrayLike,
        *,
        workers: Workers = None,
    ) -> Estimate[FloatArray]:
        r"""Return \(H(x)\, v\) with error bounds and evaluations, as `hessian_vector` does.

        Examples:
            >>> from minifw import CentralDiff
            >>> CentralDiff().hessian_vector_estimate(lambda v: v[0] * v[1], [1.0, 1.0], [1.0, 1.0]).evaluations
            9

        """
        check_workers(workers)
        return hessian_vector_estimate(self.second_rule, f, x, v, workers=workers)
