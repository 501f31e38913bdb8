r"""Lines through a point: the objective of \(f\) along directions, for Jacobians, Hessians and more.

A derivative of a function \(f\) at \(x\) is, in every case, a derivative along lines through
\(x\): a column of the Jacobian along \(e_j\), a group of structurally orthogonal columns along
their sum, a directional derivative along \(v\), a second derivative along \(e_i + e_j\). A
[`Line`][minifw.numdiff.lines.Line] moves some coordinates together, \(x + t\,d\); the
[`Lines`][minifw.numdiff.lines.Lines] objective has one parameter \(t_k\) per line, so the engine
differentiates them as it differentiates coordinates, with every scheme, step policy and
`workers`. Its value is \(f(x)\), scalar or array (an
[`ArrayObjective`][minifw.numdiff.objective.ArrayObjective]).

A line's direction is scaled so that its steps reach each coordinate as a step of the policy's
own would ([`through`][minifw.numdiff.lines.through]): for a step relative to the point
(`h="auto"`, Richardson), a coordinate at \(10^6\) moves \(2^{19}\) times as far as one at
\(3 \cdot 10^{-3}\); for a fixed `h`, every coordinate by `h`. The parameter \(t_k\) starts at
the value of the coordinate that moves most (signed as the direction), so that the policies' checks
(float spacing, steps toward a domain edge at 0) see that coordinate.

\(f\) is called with a new array at every point (float64, or complex128 for complex steps):
`x` is never written, and \(f\) may keep or change what it is given.

Examples:
    >>> import numpy as np
    >>> x = np.array([1e6, 3e-3])
    >>> line = through(x, np.array([1.0, 1.0]) * np.array([2.0**19, 1.0]), np.array([2.0**19, 1.0]))
    >>> line.coefficients, line.start, line.factor
    (array([1.00000000e+00, 1.90734863e-06]), 1000000.0, 524288.0)

"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw._validation import describe
from minifw.errors import DifferentiationError, ValidationError
from minifw.numdiff.perturbation import REAL_PART_AGREEMENT
from minifw.numdiff.precision import low_precision, warn_low_precision
from minifw.typing import ArrayLike, FloatArray, IntArray

__all__ = ["Line", "Lines", "along", "function_point", "through"]


def function_point(x: ArrayLike, name: str = "x") -> FloatArray:
    """Return a float64 copy of the point `x` of a function's derivative, or refuse it.

    Float16 and float32 points are converted: the derivative is computed in float64 (where `f`
    accepts float64 arguments; see [`Lines`][minifw.numdiff.lines.Lines]). Booleans, text, empty
    arrays and non-finite values are refused.

    Examples:
        >>> function_point(np.array([1.5, 2.0], dtype=np.float32))
        array([1.5, 2. ])

    """
    converted = np.asarray(x)
    if converted.dtype == np.bool_ or not np.issubdtype(converted.dtype, np.number):
        raise ValidationError(
            f"{name} must hold real numbers, got dtype {converted.dtype} and shape {converted.shape}"
        )
    if np.iscomplexobj(converted):
        raise ValidationError(
            f"{name} must be real, got a complex array; differentiate the real and imaginary "
            "parts' functions as functions of real arguments"
        )
    arr = converted.astype(np.float64)  # always a copy: x is never written
    if arr.size == 0:
        raise ValidationError(f"{name} must have at least one element, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        flat = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValidationError(
            f"{name} must be finite, got {describe(name, arr.shape, flat)}="
            f"{float(arr.reshape(-1)[flat])!r}"
        )
    return arr


@final
@attrs.frozen(eq=False)
class Line:
    r"""A line \(x + t\,d\) through the point: coordinates `index` (flat) move by `coefficients`.

    `start` is the parameter's value at the point (the value, signed as the direction, of the
    coordinate that moves most); `factor` converts a derivative along \(d\) into one along the
    direction it was made from (\(d = v / \text{factor}\)); `label` names it in messages.
    """

    index: IntArray
    coefficients: FloatArray
    start: float
    factor: float
    label: str


def along(x: FloatArray, j: int, name: str = "x") -> Line:
    r"""Return the line along coordinate `j` (flat): \(x + t e_j\), starting at \(x_j\).

    Examples:
        >>> along(np.array([3.0, 4.0]), 1).label
        'x[1]'

    """
    value = float(x.reshape(-1)[j])
    return Line(np.array([j]), np.ones(1), value, 1.0, describe(name, x.shape, j))


def through(x: FloatArray, v: FloatArray, scales: FloatArray, name: str = "x") -> Line:
    r"""Return the line through `x` along `v` (flat, in `x`'s units), scaled for a policy.

    The coordinate that moves most relative to its `scales` (ties: the largest \(|x_j|\)) moves by
    one unit of \(t\); the direction is \(d = v / |v_{j^*}|\), so the derivative along \(v\) is
    `factor` \(= |v_{j^*}|\) times the derivative in \(t\) (its square for a second derivative).
    """
    flat = x.reshape(-1)
    index = np.flatnonzero(v)
    if index.size == 0:
        raise ValidationError(f"a direction must not be all zeros, got v={v!r}")
    reach = np.abs(v[index]) / scales[index]
    top = np.flatnonzero(reach == reach.max())
    star = int(top[np.argmax(np.abs(flat[index[top]]))])
    factor = float(abs(v[index[star]]))
    sign = math.copysign(1.0, float(v[index[star]]))
    if index.size == 1:
        label = describe(name, x.shape, int(index[0]))
    elif index.size == 2:
        a, b = (describe(name, x.shape, int(i)) for i in index)
        label = f"{a} and {b} together"
    else:
        label = f"{name} along a direction ({index.size} coordinates)"
    return Line(index, v[index] / factor, sign * float(flat[index[star]]), factor, label)


def _checked_value(found: object, shape: tuple[int, ...] | None, where: str) -> NDArray[Any]:
    """Return `f`'s value as an array, refusing anything but numbers of the shape at the point."""
    arr = np.asarray(found)
    if arr.dtype.kind not in "fiuc" or (shape is not None and arr.shape != shape):
        expected = f" of shape {shape}" if shape is not None else ""
        raise DifferentiationError(
            f"f must return numbers{expected}, got {type(found).__name__} of shape {arr.shape} "
            f"and dtype {arr.dtype} at {where}"
        )
    return arr


@final
@attrs.define(eq=False)
class Lines:
    r"""An objective: \(f\) along lines through a point, \(t_k \mapsto f(x + (t_k - t_k^0) d_k)\).

    `params` is `{"t": starts}`; the changes of line \(k\) at steps \(s\) are
    \(f(x + s\,d_k) - f(x)\), of the shape of \(f(x)\). Build it with
    [`at`][minifw.numdiff.lines.Lines.at], which evaluates \(f\) at the point once and checks it:
    finite numbers, real, in float64 (a float32 or float16 value is a
    [`PrecisionWarning`][minifw.numdiff.precision.PrecisionWarning], or an error with `strict`).
    For complex steps \(f\) must return complex values whose real part is \(f(x)\) to rounding
    (see [`minifw.numdiff.imaginary_step`][minifw.numdiff.imaginary_step]).

    Examples:
        >>> x = np.array([1.0, 2.0])
        >>> objective = Lines.at(lambda v: v**2, x, [along(x, 0), along(x, 1)])
        >>> objective.shape, objective.changes("t", np.array([1]), np.array([0.5]))
        ((2,), array([[[0.  , 2.25]]]))

    """

    f: Callable[[Any], Any]
    x: FloatArray
    lines: Sequence[Line]
    base: FloatArray
    starts: FloatArray = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.starts = np.array([line.start for line in self.lines], dtype=np.float64)

    @classmethod
    def at(
        cls,
        f: Callable[[Any], Any],
        x: FloatArray,
        lines: Sequence[Line],
        *,
        strict: bool = False,
    ) -> Lines:
        """Evaluate `f` at `x` (a copy), check its value, and return the objective of `lines`.

        `strict` refuses a value of less than float64 precision instead of warning.
        """
        found = _checked_value(f(x.copy()), None, "the point")
        if found.dtype.kind == "c":
            if np.any(found.imag != 0):
                raise DifferentiationError(
                    "f must be real at a real point, got a complex value with imaginary part "
                    f"{float(np.max(np.abs(found.imag))):g} at the point: f is complex-valued, so "
                    "differentiate its real and imaginary parts as two functions"
                )
            found = found.real
        if strict and low_precision(found.dtype):
            raise DifferentiationError(
                f"f returned {found.dtype} for a float64 point: it computes in that precision "
                "whatever it is given, so differences of its values keep too few digits to check "
                "a derivative against; compute f in float64"
            )
        warn_low_precision(found.dtype, "the point")
        base = found.astype(np.float64)
        if base.size == 0 or not np.all(np.isfinite(base)):
            raise DifferentiationError(f"f must return finite numbers at the point, got {base!r}")
        return cls(f, x, lines, base)

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """One parameter per line, `t`, at its start."""
        return {"t": self.starts}

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of `f(x)`."""
        return tuple(self.base.shape)

    def value(self) -> FloatArray:
        """Return `f(x)`, evaluated once by [`at`][minifw.numdiff.lines.Lines.at]."""
        return self.base

    def coordinate(self, name: str, flat: int) -> str:
        """Name line `flat` in messages: `x[3]` for a coordinate, or what moves together."""
        return self.lines[flat].label

    def changes(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        r"""Return \(f(x + s_m d_k) - f(x)\) for lines `index` and `steps`, `(K, M) + shape`."""
        complex_steps = np.iscomplexobj(steps)
        imaginary = complex_steps and bool(np.all(np.real(steps) == 0))
        dtype = np.complex128 if complex_steps else np.float64
        out = np.empty((index.size, steps.size, *self.shape), dtype=dtype)
        flat_x = self.x.reshape(-1)
        for row, k in enumerate(index.tolist()):
            line = self.lines[k]
            for m, step in enumerate(steps.tolist()):
                point = flat_x.astype(dtype)  # a new array at every point
                point[line.index] += step * line.coefficients
                where = f"{line.label} moved by {step:g}"
                value = self._evaluate(point.reshape(self.x.shape), where, complex_steps)
                if imaginary:
                    _check_real_parts(value, self.base, where, abs(step))
                out[row, m] = value - self.base
        return out

    def _evaluate(self, point: NDArray[Any], where: str, complex_steps: bool) -> NDArray[Any]:
        if not complex_steps:
            return _checked_value(self.f(point), self.shape, where)
        try:
            found = _checked_value(self.f(point), self.shape, where)
        except (TypeError, ValueError) as err:
            if isinstance(err, DifferentiationError):
                raise
            raise DifferentiationError(
                f"f raised {type(err).__name__} ({err}) for a complex argument at {where}: it is "
                "not complex-safe, so a complex step cannot differentiate it; use a real scheme "
                "such as RichardsonDiff"
            ) from err
        if found.dtype.kind != "c":
            raise DifferentiationError(
                f"f returned a real {found.dtype} for a complex argument at {where}: f is not "
                "complex-safe (abs, float(), .real, math functions or a cast to float drop the "
                "imaginary part), so a complex step cannot differentiate it; use a real scheme "
                "such as RichardsonDiff or CentralDiff"
            )
        return found


def _check_real_parts(value: NDArray[Any], base: FloatArray, where: str, step: float) -> None:
    """Refuse values whose real part an imaginary step moved (see `check_real_part`)."""
    gap = np.abs(value.real - base)
    scale = np.maximum(np.maximum(np.abs(base), np.abs(value.real)), np.abs(value.imag))
    allowed = REAL_PART_AGREEMENT * scale + step
    if np.all(gap <= allowed):
        return
    p = int(np.argmax(gap - allowed))
    raise DifferentiationError(
        f"f's real part moves under an imaginary step at {where} (f = "
        f"{float(base.reshape(-1)[p]):.6g}, Re f(x + ih) = {float(value.real.reshape(-1)[p]):.6g}"
        "): f is not complex-safe, so a complex step cannot differentiate it; use a real scheme "
        "such as RichardsonDiff"
    )
