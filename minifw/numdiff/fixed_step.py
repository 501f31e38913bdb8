r"""A fixed step `h`, the book's way, refused where float spacing at the point would blur it.

A step must survive being added to \(x\): where \(x + h = x\) in float64 the difference is
\(0/h\), and where float spacing moves \(x + h\) by more than `STEP_REFUSED` of \(h\) the
difference says little about the slope; both are a
[`DifferentiationError`][minifw.errors.DifferentiationError], and between `STEP_WARNED` and that,
a [`StepWarning`][minifw.numdiff.fixed_step.StepWarning].

Examples:
    >>> import numpy as np
    >>> check_steps(1e-4, np.array([[1e-4, -1e-4]]), np.array([5.0]), "x", lambda k: "x")  # fine
    >>> check_steps(1e-50, np.array([[1e-50]]), np.array([5.0]), "x", lambda k: "x")
    Traceback (most recent call last):
    ...
    minifw.errors.DifferentiationError: step h=1e-50 vanishes against x=5.0: x + 1e-50 == x in float64, so the difference would be 0; use a larger h (the default is 1e-4)

"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError
from minifw.numdiff.engine import StencilPolicy, Taken
from minifw.numdiff.objective import Differentiable, where
from minifw.numdiff.stencil import Stencil
from minifw.typing import FloatArray, IntArray

__all__ = ["STEP_REFUSED", "STEP_WARNED", "FixedStep", "StepWarning", "check_steps", "named"]

STEP_REFUSED = 1e-3
"""A fixed step is refused where float spacing alone moves `x + h` by more than this part of h."""
STEP_WARNED = 1e-6
"""... and warned about ([`StepWarning`][minifw.numdiff.fixed_step.StepWarning]) above this part."""


class StepWarning(RuntimeWarning):
    """A fixed step is so small against a coordinate that float spacing blurs the difference.

    `x + h` is off by up to `spacing(x) / 2` from the intended point; above
    `STEP_WARNED` of the step this warning is issued, above `STEP_REFUSED` the step
    is refused with a [`DifferentiationError`][minifw.errors.DifferentiationError].
    """


@final
@attrs.frozen
class FixedStep(StencilPolicy):
    """The same step `h` at every coordinate, checked against float spacing there (module text).

    Examples:
        >>> import numpy as np
        >>> from minifw import Perturbation, Stencil
        >>> w = np.array([3.0])
        >>> objective = Perturbation(lambda: float(w[0] ** 2), {"w": w})
        >>> FixedStep(0.5).estimate(Stencil((1.0,), (1.0,)), objective, "w", np.array([0])).value
        array([6.5])

    """

    h: float

    @property
    def tolerant(self) -> bool:
        """No: a change that is not finite is an error naming the coordinate."""
        return False

    def steps(self, stencil: Stencil, values: FloatArray) -> FloatArray:
        """`h` for every coordinate."""
        return np.full(values.shape, self.h)

    def scales(self, values: FloatArray) -> FloatArray:
        """1 everywhere: the step is `h` at every coordinate."""
        return np.ones(values.shape)

    def check(
        self,
        objective: Differentiable,
        name: str,
        index: IntArray,
        values: FloatArray,
        steps: NDArray[Any],
    ) -> None:
        """Refuse (or warn about) steps that float spacing at the coordinates blurs."""
        check_steps(self.h, steps, values, name, named(objective, name, index))

    def settle(self, taken: Taken, result: FloatArray) -> int:
        """Nothing to settle: the checked changes are the answer."""
        return 0

    @property
    def reads_changes(self) -> bool:
        """No: an objective may give the stencil's weighted sum of changes directly."""
        return False


def named(objective: Differentiable, name: str, index: IntArray) -> Callable[[int], str]:
    """Return how messages name the `k`-th of the coordinates `index` of `name`."""
    return lambda k: where(objective, name, int(index[k]))


def check_steps(
    h: float | str,
    steps: FloatArray,
    values: FloatArray,
    name: str,
    coordinate: Callable[[int], str],
) -> None:
    """Refuse (or warn about) fixed steps that float spacing at the coordinates blurs.

    `steps[k, m]` is the `m`-th step of coordinate `k`, whose value is `values[k]` and which
    messages call `coordinate(k)`; `h` is the step as the user gave it, for the messages.
    """
    # Float spacing grows with |x|: when the largest coordinate is fine (the usual case, one
    # reduction per chunk), all are, and none can swallow a step either.
    largest = float(np.max(np.abs(values), initial=0.0))
    if float(np.spacing(largest)) <= 2 * STEP_WARNED * float(
        np.min(np.abs(steps), initial=math.inf)
    ):
        return
    for column in steps.T:
        stuck = values + column == values
        if np.any(stuck):
            k = int(np.flatnonzero(stuck)[0])
            raise DifferentiationError(
                f"step h={h!r} vanishes against {coordinate(k)}={float(values[k])!r}: "
                f"{name} + {abs(float(column[k]))!r} == {name} in float64, so the difference "
                "would be 0; use a larger h (the default is 1e-4)"
            )
    smallest = np.min(np.abs(steps), axis=1)
    spacing = np.spacing(np.abs(values))
    blur = spacing / (2 * smallest)
    k = int(np.argmax(blur))
    if blur[k] <= STEP_WARNED:
        return
    at = f"{coordinate(k)}={float(values[k])!r}"
    advice = f"use h >= {float(spacing[k]) / (2 * STEP_WARNED):.2g} or h='auto'"
    if blur[k] > STEP_REFUSED:
        raise DifferentiationError(
            f"step h={h!r} is too small for {at}: float64 numbers there are "
            f"{float(spacing[k]):.2g} apart, so {name} + {float(smallest[k])!r} is off by up to "
            f"{float(blur[k]):.0%} of the step; {advice}"
        )
    warnings.warn(
        f"step h={h!r} is small for {at}: float spacing there blurs the step by up to "
        f"{float(blur[k]):.1e} of itself, and the derivative by as much; {advice}",
        StepWarning,
        stacklevel=5,
    )
