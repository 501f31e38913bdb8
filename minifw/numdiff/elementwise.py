r"""Derivatives of an elementwise function at many points, every stencil point in one call of f.

`f` acts elementwise (`np.sin`, a ufunc, any function of arrays whose output \(k\) depends on
input \(k\) alone): the derivative at all the points `xs` is the gradient of
\(\sum_k f(x_k)\), whose coordinates are separate points. [`Elementwise`][minifw.numdiff.elementwise.Elementwise]
is that objective, and it is [`Pointwise`][minifw.numdiff.objective.Pointwise]: the engine asks it
for every coordinate's steps at once, so a fixed stencil calls `f` twice in all (the points, then
every stencil point of every point), and Richardson's tables once per level (scipy.differentiate's
convention), worked as arrays ([`minifw.numdiff.vector_tables`][minifw.numdiff.vector_tables]).
Each point is differentiated exactly as it would be alone: its own steps, checks and bounds, bit
for bit.

Examples:
    >>> import numpy as np
    >>> from minifw import CentralDiff, RichardsonDiff
    >>> CentralDiff().derivative(np.sin, np.array([0.0, 1.0]), elementwise=True).round(8)
    array([1.        , 0.54030231])
    >>> found = RichardsonDiff().estimate(np.exp, np.linspace(0, 1, 1000), elementwise=True)
    >>> bool(np.all(np.abs(found.value - np.exp(np.linspace(0, 1, 1000))) <= found.error))
    True

"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw._validation import describe
from minifw.errors import DifferentiationError
from minifw.numdiff.engine import Rule
from minifw.numdiff.lines import function_point
from minifw.numdiff.perturbation import REAL_PART_AGREEMENT
from minifw.numdiff.precision import warn_low_precision
from minifw.numdiff.results import Estimate
from minifw.typing import ArrayLike, FloatArray, IntArray

__all__ = ["Elementwise", "elementwise_estimate"]


@final
@attrs.define(eq=False)
class Elementwise:
    r"""The objective \(\sum_k f(x_k)\) of an elementwise `f` at the points `xs`, point by point.

    `f` is called with arrays of points (a float64 or complex128 array of any shape) and must
    return an array of the same shape. It is evaluated at the points once
    ([`values_at`][minifw.numdiff.elementwise.Elementwise.values_at]) and then once per batch of
    steps ([`changes_at`][minifw.numdiff.elementwise.Elementwise.changes_at]).
    """

    f: Callable[[Any], Any]
    xs: FloatArray
    calls: int = 0
    _values: FloatArray | None = attrs.field(default=None, init=False, repr=False)

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The points, as one parameter array `x`."""
        return {"x": self.xs}

    def value(self) -> float:
        r"""Return \(\sum_k f(x_k)\) (the engine asks each point's own value instead)."""
        return float(np.sum(self._at_points()))

    def values_at(self, name: str, index: IntArray) -> FloatArray:
        """Return `f` at the points `index` (flat)."""
        return self._at_points().reshape(-1)[index]

    def coordinate(self, name: str, flat: int) -> str:
        """Name a point in messages: `x[3]`."""
        return describe(name, self.xs.shape, flat)

    def changes(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        r"""Return \(f(x_k + s_m) - f(x_k)\) for points `index` and the same `steps` each."""
        return self.changes_at(name, index, np.broadcast_to(steps, (index.size, steps.size)))

    def changes_at(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        r"""Return \(f(x_k + s_{km}) - f(x_k)\) for `steps` of shape `(K, M)`, from one call."""
        points = self.xs.reshape(-1)[index][:, None] + steps
        found = self._call(points, "the stepped points")
        base = self._at_points().reshape(-1)[index][:, None]
        if np.iscomplexobj(steps):
            if found.dtype.kind != "c":
                raise DifferentiationError(
                    f"f returned a real {found.dtype} for complex arguments: f is not "
                    "complex-safe (abs, .real, a cast to float drop the imaginary part), so a "
                    "complex step cannot differentiate it; use a real scheme such as RichardsonDiff"
                )
            if np.all(np.real(steps) == 0):
                _refuse_moved_real_part(found, base, self.xs, index, np.abs(steps))
        result: NDArray[Any] = found - base
        return result

    def _at_points(self) -> FloatArray:
        if self._values is None:
            found = self._call(self.xs, "the points")
            warn_low_precision(found.dtype, "the points")
            if found.dtype.kind == "c" and np.any(found.imag != 0):
                raise DifferentiationError(
                    "f must be real at real points, got complex values: f is complex-valued"
                )
            values = found.real.astype(np.float64)
            if not np.all(np.isfinite(values)):
                flat = int(np.flatnonzero(~np.isfinite(values))[0])
                raise DifferentiationError(
                    f"f must be finite at the points, got {float(values.reshape(-1)[flat])!r} at "
                    f"{describe('x', self.xs.shape, flat)}="
                    f"{float(self.xs.reshape(-1)[flat])!r}"
                )
            self._values = values
        return self._values

    def _call(self, points: NDArray[Any], what: str) -> NDArray[Any]:
        self.calls += 1
        found = np.asarray(self.f(points))
        if found.shape != points.shape or found.dtype.kind not in "fiuc":
            raise DifferentiationError(
                f"an elementwise f must return numbers of its argument's shape, got shape "
                f"{found.shape} and dtype {found.dtype} for {what} (shape {points.shape}); "
                "for a function of a whole array use gradient, jacobian or derivative without "
                "elementwise=True"
            )
        return found


def _refuse_moved_real_part(
    found: NDArray[Any], base: NDArray[Any], xs: FloatArray, index: IntArray, steps: FloatArray
) -> None:
    """Refuse values whose real part an imaginary step moved (see `check_real_part`)."""
    gap = np.abs(found.real - base)
    scale = np.maximum(np.maximum(np.abs(base), np.abs(found.real)), np.abs(found.imag))
    allowed = REAL_PART_AGREEMENT * scale + steps
    bad = np.argwhere(gap > allowed)
    if bad.size:
        k = int(bad[0][0])
        raise DifferentiationError(
            "f's real part moves under an imaginary step at "
            f"{describe('x', xs.shape, int(index[k]))}: f is not complex-safe, so a complex step "
            "cannot differentiate it; use a real scheme such as RichardsonDiff"
        )


def elementwise_estimate(
    rule: Rule, f: Callable[[Any], Any], xs: ArrayLike
) -> Estimate[FloatArray]:
    """Return the derivative of an elementwise `f` at every point of `xs`, with bounds.

    `evaluations` counts the points at which `f` was evaluated (the points themselves included).
    """
    points = function_point(xs, "xs")
    objective = Elementwise(f, points)
    index = np.arange(points.size, dtype=np.intp)
    found = rule.estimate(objective, "x", index)
    shape = points.shape
    return Estimate(
        found.value.reshape(shape), found.error.reshape(shape), found.evaluations + points.size
    )
