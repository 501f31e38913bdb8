r"""Complex steps: no float spacing to check, but an imaginary part that must survive f.

A step \(ih\) does not move the real part of \(x\), so float spacing cannot blur it (the complex
step's \(h = 10^{-20}\) is fine at any \(x\)). What can go wrong is a function that is not
complex-safe and drops the imaginary part (`abs`, `.real`, a cast to float): its "derivative" would
be 0. [`ImaginaryStep`][minifw.numdiff.imaginary_step.ImaginaryStep] tells such a function from a
zero derivative by a real central difference, and refuses it.

Examples:
    >>> from minifw import ComplexStep
    >>> ComplexStep().derivative(lambda v: (v * v).real + 0j * v, 3.0)
    Traceback (most recent call last):
    ...
    minifw.errors.DifferentiationError: the complex step leaves f's imaginary part exactly 0 at x, but f changes when x moves by +-1.52588e-05 (by 9.1553e-05 and -9.15525e-05): f drops the imaginary part (abs, .real, a cast to float), so it is not complex-safe; use a real scheme such as RichardsonDiff

"""

from __future__ import annotations

import math
from typing import Any, Literal, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw._validation import describe
from minifw.errors import DifferentiationError
from minifw.numdiff.auto_step import auto_steps
from minifw.numdiff.engine import StencilPolicy, Taken, grouped_changes
from minifw.numdiff.objective import Objective
from minifw.numdiff.rounding import EPS
from minifw.typing import FloatArray

__all__ = ["ImaginaryStep"]


@final
@attrs.frozen
class ImaginaryStep(StencilPolicy):
    """The policy of a complex stencil: its steps unchecked, its imaginary part checked after.

    `h` is a float for [`ComplexStep`][minifw.numdiff.schemes.complex_step.ComplexStep]; a complex
    stencil of one's own with `h="auto"` takes the real schemes' auto steps.
    """

    h: float | Literal["auto"]

    @property
    def tolerant(self) -> bool:
        """No: a change that is not finite is an error naming the coordinate."""
        return False

    def steps(self, order: int, values: FloatArray) -> FloatArray:
        """`h` for every coordinate (or the auto steps)."""
        if isinstance(self.h, str):
            return auto_steps(order, values)
        return np.full(values.shape, self.h)

    def check(
        self, objective: Objective, name: str, values: FloatArray, steps: NDArray[Any]
    ) -> None:
        """Nothing to check before: an imaginary step is not blurred by float spacing."""

    def settle(self, taken: Taken, result: FloatArray) -> int:
        """Refuse a complex step that left no imaginary part where a real step changes f.

        An imaginary part of exactly 0 is a zero derivative, or a function that dropped the
        imaginary part of its argument. A real central difference tells them apart: for a zero
        derivative its change is of third order in the step, far below this threshold.
        """
        objective, name, index = taken.objective, taken.name, taken.index
        flat = np.flatnonzero(np.all(taken.changes.imag == 0, axis=1))
        if flat.size == 0:
            return 0
        base = objective.value()
        steps = auto_steps(2, taken.values[flat])
        real = grouped_changes(
            objective, name, index[flat], steps, np.array([1.0, -1.0]), tolerant=True
        )
        size = np.maximum(np.abs(base), np.max(np.abs(base + real), axis=1))
        moved = np.abs(real[:, 0] - real[:, 1]) > 2 * math.sqrt(EPS) * size
        if np.any(moved):
            k = int(np.flatnonzero(moved)[0])
            where = describe(name, objective.params[name].shape, int(index[flat[k]]))
            raise DifferentiationError(
                f"the complex step leaves f's imaginary part exactly 0 at {where}, but f changes "
                f"when {where} moves by +-{float(steps[k]):g} (by {float(real[k, 0]):g} and "
                f"{float(real[k, 1]):g}): f drops the imaginary part (abs, .real, a cast to "
                "float), so it is not complex-safe; use a real scheme such as RichardsonDiff"
            )
        return int(real.size)
