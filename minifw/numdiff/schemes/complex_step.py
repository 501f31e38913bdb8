r"""The complex step \(f'(x) \approx \operatorname{Im} f(x + ih) / h\), exact to rounding.

Its rule (no float-spacing check; an imaginary part that must behave as f's slope) is the policy
of every complex stencil, [`ImaginaryStep`][minifw.numdiff.imaginary_step.ImaginaryStep]. Second
derivatives take the five-point difference of the complex step's first derivative
([`complex_of`][minifw.numdiff.schemes.complex_step.complex_of]).
"""

from __future__ import annotations

from typing import final

import attrs

from minifw._validation import positive_float, to_float
from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.engine import Rule
from minifw.numdiff.imaginary_step import ImaginaryStep
from minifw.numdiff.stencil import Stencil

__all__ = ["IMAGINARY_PART", "ComplexStep", "complex_of"]

_COMPLEX = Stencil(offsets=(1j,), weights=(-1j,))
_FIVE_POINT = Stencil(offsets=(2.0, -2.0, 1.0, -1.0), weights=(-1 / 12, 1 / 12, 2 / 3, -2 / 3))

IMAGINARY_PART = 2.0**-40
"""The imaginary step of a second derivative, in units of its real step."""


def complex_of(stencil: Stencil) -> Stencil:
    r"""Return the second-derivative stencil that applies `stencil` to the complex step's \(f'\).

    With \(f'(y) = \operatorname{Im} f(y + i\rho\delta) / \rho\delta\) (\(\rho\) =
    `IMAGINARY_PART`), \(f''(x) \approx \frac1\delta \sum_k w_k f'(x + o_k \delta)\): offsets
    \(o_k + i\rho\), weights \(-i w_k / \rho\) on the changes, divided by \(\delta^2\). The
    imaginary parts carry \(f'\) with no subtraction; only the outer difference cancels.

    Examples:
        >>> complex_of(Stencil((1.0, -1.0), (0.5, -0.5))).order
        2

    """
    rho = IMAGINARY_PART
    return Stencil(
        tuple(complex(o.real, rho) for o in stencil.offsets),
        tuple(complex(0.0, -w.real / rho) for w in stencil.weights),
        derivative=2,
    )


_SECOND = complex_of(_FIVE_POINT)


@final
@attrs.frozen
class ComplexStep(Differentiator):
    r"""The complex step \(f'(x) \approx \operatorname{Im} f(x + ih) / h\); error \(O(h^2)\).

    For a function that is analytic and real on the real line,
    \(f(x + ih) = f(x) + ih f'(x) - \frac{h^2}{2} f''(x) - \frac{ih^3}{6} f'''(x) + \dots\):
    the imaginary part carries the derivative with no subtraction, so no cancellation, and
    `h = 1e-20` leaves a truncation error of \(10^{-40}\). The result is exact to
    rounding, from one evaluation per coordinate: the value at the point is not needed, since
    \(\operatorname{Re} f(x + ih) = f(x) - \frac{h^2}{2} f''(x) + \dots\) is \(f(x)\) in float64
    for so small an \(h\). As a stencil it is the
    offset \(i\) with weight \(-i\) (\(\sum_k w_k o_k = 1\)), whose real part the
    engine takes.

    `f` must be *complex-safe*: computed with complex arithmetic from its argument (not with `abs`,
    `float()`, `.real`, `math` functions or a cast to float). A function that returns a real number
    for a complex argument, raises `TypeError` or `ValueError` for it, or loses the imaginary part
    where a real step moves it, is refused with a
    [`DifferentiationError`][minifw.errors.DifferentiationError], never differentiated wrongly. `x`
    itself is never written with complex numbers: `f` is called with a complex copy, so it must read
    its argument (a closure over the float array would not see the step). Layered models
    ([`Sequential`][minifw.nn.models.Sequential], [`TwoLayerNet`][minifw.nn.models.TwoLayerNet]) answer
    complex steps through their structure-aware objective.

    Examples:
        >>> import math
        >>> import numpy as np
        >>> ComplexStep().derivative(np.exp, 1.0) == math.e
        True
        >>> ComplexStep().gradient(lambda v: np.sum(v**3), np.array([1.0, 2.0]))
        array([ 3., 12.])
        >>> ComplexStep().derivative(lambda v: abs(v) ** 2, 3.0)
        Traceback (most recent call last):
        ...
        minifw.errors.DifferentiationError: f returned a real float64 for a complex argument at x moved by 0+1e-20j: f is not complex-safe ...

    """

    h: float = attrs.field(default=1e-20, converter=to_float, validator=positive_float)

    @property
    def stencil(self) -> Stencil:
        r"""One imaginary step, weighted \(-i\)."""
        return _COMPLEX

    @property
    def second_rule(self) -> Rule:
        r"""The five-point difference of the complex step's \(f'\), at auto steps \(\varepsilon^{1/5}\max(1, |x|)\).

        Its error is that of the five-point formula, \(O(\delta^4)\), with the rounding of one
        difference of slopes instead of two of values: about \(10^{-13}\) relative.
        """
        return Rule(_SECOND, ImaginaryStep("auto"))
