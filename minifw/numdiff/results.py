"""What a scheme returns besides the derivative: an error bound and the evaluations it took.

Every [`Differentiator`][minifw.numdiff.differentiator.Differentiator] answers
[`estimate`][minifw.numdiff.differentiator.Differentiator.estimate] (a point),
[`gradient_estimate`][minifw.numdiff.differentiator.Differentiator.gradient_estimate] (an array) and
[`estimates`][minifw.numdiff.differentiator.Differentiator.estimates] (an objective) with an
[`Estimate`][minifw.numdiff.results.Estimate], as scipy.differentiate answers with `df`, `error`
and `nfev`.
"""

from __future__ import annotations

from typing import Generic, TypeVar, final

import attrs
import numpy as np

from minifw.typing import FloatArray

__all__ = ["Estimate"]

V = TypeVar("V", float, FloatArray)


def _same(a: object, b: object) -> bool:
    """Whether two values or arrays are equal, nan equal to nan (an unknown error is one value)."""
    return bool(np.array_equal(a, b, equal_nan=True))  # type: ignore[arg-type]


@final
@attrs.frozen
class Estimate(Generic[V]):
    """A derivative (or an array of them), a bound on its error, and what it cost.

    `value` and `error` are floats for a point
    ([`estimate`][minifw.numdiff.differentiator.Differentiator.estimate]) and arrays of the
    parameter's shape for an array. `error` bounds `|value - f'|` where the scheme bounds its
    error ([`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff]) and is nan where
    it does not (a fixed stencil's truncation error is unknown without more evaluations).
    `evaluations` counts the function values it took: for `estimate`, the calls of `f`; for an
    objective, the changes asked of it plus one for the value at the point, for all of its
    parameter arrays together (each array's estimate carries that total).

    Examples:
        >>> import math
        >>> from minifw import CentralDiff, RichardsonDiff
        >>> RichardsonDiff().estimate(math.exp, 1.0).evaluations
        7
        >>> CentralDiff().estimate(math.exp, 1.0)
        Estimate(value=2.718281832989611, error=nan, evaluations=3)

    """

    value: V = attrs.field(eq=attrs.cmp_using(eq=_same))
    error: V = attrs.field(eq=attrs.cmp_using(eq=_same))
    evaluations: int

    def _repr_html_(self) -> str:
        """Return the table Jupyter shows: the value and its error bound (for an array, the largest)."""
        from minifw._html import html_table

        value, error = np.asarray(self.value), np.asarray(self.error)
        rows: list[list[object]]
        if value.ndim == 0:
            rows = [["value", f"{float(value):.17g}"], ["error bound", f"{float(error):.3g}"]]
        else:
            bound = float(np.max(error)) if error.size else float("nan")
            rows = [
                ["shape", "x".join(map(str, value.shape))],
                ["max |value|", f"{float(np.max(np.abs(value))):.6g}" if value.size else "-"],
                ["largest error bound", f"{bound:.3g}"],
            ]
        rows.append(["evaluations", self.evaluations])
        caption = "Estimate" + (" (nan: the scheme bounds no error)" if np.isnan(error).any() else "")
        return html_table(["", ""], rows, caption=caption)
