r"""Checks of a user's derivatives of a function: gradients, Jacobians, Hessians, and their products.

[`gradcheck_function`][minifw.numdiff.function_check.gradcheck_function] compares the numerical
Jacobian of `f` (its gradient, for a scalar `f`) with `jac_f`;
[`hessian_check`][minifw.numdiff.function_check.hessian_check] the numerical Hessian with `hess_f`.
Either analytic side may be a full matrix or, wrapped in
[`VectorProduct`][minifw.numdiff.function_check.VectorProduct], a product with a vector
(\(J v\), \(H v\)), as automatic differentiation gives it. Both come full (every entry, named by
index where wrong) or fast (a random unit direction \(u\) per check, one stencil each: \(J u\)
against the same from the analytic side; the full check follows where one fails).

**Tolerances.** An entry passes when its error is within `tolerance` times the array's scale
(\(\max|g|\)), plus the numerical derivative's own error bound where the scheme has one
([`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff]), plus the rounding error of
a difference quotient of `f`'s values. The default `tolerance` is derived, not fixed
([`default_tolerance`][minifw.numdiff.function_check.default_tolerance]): from the scheme (its
order and step: \(10(10 h^p + \varepsilon / h^d)\) for a fixed stencil), from the size of the
problem and from the precision of `x` (an analytic derivative computed in float32 is good to
about \(\sqrt{n}\,\varepsilon_{32}\)).

**Precision.** `x` may be float16, float32 or float64: the numerical derivative is computed in
float64 (`f` is called with float64 arrays), and the analytic side is evaluated at `x` as given.
An `f` that returns float32 or float16 for float64 arguments is refused: its differences keep
too few digits for the verdict to mean anything.

Examples:
    >>> import numpy as np
    >>> def f(v):
    ...     return np.array([v[0] * v[1], np.sin(v[0])])
    >>> def jac(v):
    ...     return np.array([[v[1], v[0]], [np.cos(v[0]), 0.0]])
    >>> gradcheck_function(f, jac, [1.0, 2.0]).passed
    True
    >>> def wrong(v):
    ...     return jac(v) + np.array([[0.0, 0.0], [0.1, 0.0]])
    >>> print(gradcheck_function(f, wrong, [1.0, 2.0]).checks[0].entries[0])
    [1, 0]: 5.403023e-01 vs 6.403023e-01, abs 1.000e-01, rel 1.562e-01

"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, final

import attrs
import numpy as np

from minifw.errors import NotSupportedError, ValidationError
from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.engine import Rule
from minifw.numdiff.hessian import hessian_estimate, hessian_vector_estimate
from minifw.numdiff.jacobian import directional_estimate, jacobian_estimate
from minifw.numdiff.lines import Lines, function_point
from minifw.numdiff.reports import (
    DirectionCheck,
    GradcheckReport,
    check_options,
    check_tolerance,
    compare,
)
from minifw.numdiff.results import Estimate
from minifw.numdiff.rounding import EPS, NOISE
from minifw.numdiff.schemes.central import CentralDiff
from minifw.numdiff.schemes.richardson import RichardsonDiff
from minifw.numdiff.workers import Workers, check_workers
from minifw.typing import ArrayLike, FloatArray

__all__ = [
    "TRUNCATION",
    "VectorProduct",
    "default_tolerance",
    "gradcheck_function",
    "hessian_check",
]

TRUNCATION = 10.0
"""How many times \\(h^p\\) a fixed stencil's truncation error may be, relative to the scale."""


@final
@attrs.frozen
class VectorProduct:
    r"""An analytic derivative given as its product with a vector: `product(x, v)` is \(J v\) (or \(H v\)).

    For the full check it is asked once per coordinate (\(v = e_j\), a column); for the fast check
    once per direction.

    Examples:
        >>> import numpy as np
        >>> VectorProduct(lambda x, v: 2 * x * v).product(np.array([3.0]), np.array([1.0]))
        array([6.])

    """

    product: Callable[[FloatArray, FloatArray], ArrayLike]


def default_tolerance(
    rule: Rule, h: float | str | None, precision: np.dtype[Any], size: int
) -> float:
    r"""Return the tolerance a check of `size` inputs in `precision` with this rule is held to.

    The larger of what the scheme's own error can be, relative to the derivative's scale, and
    what an analytic derivative computed in `precision` can be off by:

    - a scheme that bounds its error (a Richardson table): \(10^{-12}\) (its bound is allowed
      besides);
    - a fixed stencil of order \(p\) for the \(d\)-th derivative: \(10(10 h^p + \varepsilon/h^d)\) at
      its step \(h\) (`h="auto"`: \(\varepsilon^{1/(p+d)}\)), at most 0.1 (its truncation
      error is \(h^p\) times a derivative of f that it cannot know: ten times is allowed);
    - the analytic side: \(10 \sqrt{n}\, \varepsilon_\text{precision}\).

    Examples:
        >>> import numpy as np
        >>> from minifw import CentralDiff
        >>> f"{default_tolerance(CentralDiff().first_rule, 1e-4, np.dtype(np.float64), 4):.2g}"
        '1e-06'
        >>> f"{default_tolerance(CentralDiff().first_rule, 1e-4, np.dtype(np.float32), 100):.2g}"
        '1.2e-05'

    """
    stencil = rule.stencil
    p, d = stencil.order, stencil.derivative
    if isinstance(rule.policy, type(RichardsonDiff().step_policy)):
        scheme = 1e-12
    else:
        step = EPS ** (1 / (p + d)) if not isinstance(h, float) else h
        if stencil.is_complex and d == 1:
            scheme = 10 * (step**p + EPS)  # no subtraction: rounding is the values' own
        else:
            scheme = min(0.1, 10 * (TRUNCATION * step**p + EPS / step**d))
    analytic = 10 * math.sqrt(size) * float(np.finfo(precision).eps)
    return max(scheme, analytic)


def _precision(x: ArrayLike) -> np.dtype[Any]:
    dtype = np.asarray(x).dtype
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _analytic_point(x: ArrayLike, point: FloatArray) -> Any:
    """Return the point at which the analytic derivative is evaluated: `x` in its own precision."""
    given = np.asarray(x)
    return given.copy() if given.dtype.kind == "f" else point.copy()


def _checked_analytic(found: object, shape: tuple[int, ...], what: str) -> FloatArray:
    arr = np.asarray(found, dtype=np.float64)
    if arr.shape != shape:
        raise NotSupportedError(
            f"{what} must return an array of shape {shape}, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise NotSupportedError(f"{what} must return finite numbers, got {arr!r}")
    return arr


def _columns(
    analytic: Callable[..., ArrayLike] | VectorProduct,
    at: Any,
    out: tuple[int, ...],
    shape: tuple[int, ...],
    what: str,
) -> FloatArray:
    """Return the analytic matrix `out + shape`: as given, or column by column from a product."""
    if not isinstance(analytic, VectorProduct):
        return _checked_analytic(analytic(at), (*out, *shape), what)
    n = math.prod(shape)
    columns = np.empty((n, math.prod(out)))
    for j in range(n):
        v = np.zeros(n, dtype=np.asarray(at).dtype)
        v[j] = 1
        found = analytic.product(at.copy(), v.reshape(shape))
        columns[j] = _checked_analytic(found, out, f"{what}(x, v)").reshape(-1)
    return columns.T.reshape((*out, *shape))


def _along(
    analytic: Callable[..., ArrayLike] | VectorProduct,
    matrix: FloatArray | None,
    at: Any,
    u: FloatArray,
    out: tuple[int, ...],
    what: str,
) -> FloatArray:
    """Return the analytic derivative along `u`: the matrix times `u`, or the product itself."""
    if isinstance(analytic, VectorProduct):
        found = analytic.product(at.copy(), u.astype(np.asarray(at).dtype))
        return _checked_analytic(found, out, f"{what}(x, v)")
    assert matrix is not None
    n = u.size
    result: FloatArray = (matrix.reshape(-1, n) @ u.reshape(-1)).reshape(out)
    return result


def _rounding(rule: Rule, h: float | str | None, values: FloatArray, point: FloatArray) -> float:
    """Return the rounding error of a difference quotient of f's values at the rule's step."""
    stencil = rule.stencil
    if stencil.is_complex and stencil.derivative == 1:
        return 0.0
    # a fixed step is the same at every coordinate; relative ones are smallest where |x| <= 1
    step = h if isinstance(h, float) else EPS ** (1 / (stencil.order + stencil.derivative))
    weights = math.fsum(abs(w) for w in stencil.weights)
    return (
        NOISE
        * EPS
        * float(np.max(np.abs(values), initial=0.0))
        * weights
        / step**stencil.derivative
    )


@final
@attrs.frozen
class _Check:
    """One check's settings, validated: the rule, its step, the tolerance, the fast options."""

    name: str
    rule: Rule
    h: float | str | None
    tolerance: float
    fast: bool
    seed: int
    directions: int
    workers: Workers
    differentiator: str
    against: str

    def report(
        self,
        numerical: Callable[[], Estimate[FloatArray]],
        along: Callable[[FloatArray], tuple[FloatArray, Estimate[FloatArray], float]],
        analytic: Callable[[], FloatArray],
        shape: tuple[int, ...],
        floor: float,
    ) -> GradcheckReport:
        """Run the fast screen (if asked), then the full check unless every direction passed."""
        found: list[DirectionCheck] = []
        if self.fast:
            rng = np.random.default_rng(self.seed)
            for _ in range(self.directions):
                u = rng.standard_normal(shape)
                u /= np.linalg.norm(u)
                exact, estimate, scale = along(u)
                error = np.abs(estimate.value - exact)
                rounding = floor if np.all(np.isnan(estimate.error)) else 0.0
                r = int(np.argmax(error)) if error.ndim else 0
                where = (
                    tuple(int(i) for i in np.unravel_index(r, error.shape)) if error.ndim else ()
                )
                found.append(
                    DirectionCheck(
                        name=self.name,
                        numerical=float(estimate.value.reshape(-1)[r]),
                        analytic=float(exact.reshape(-1)[r]),
                        scale=scale,
                        tolerance=self.tolerance,
                        error_bound=float(np.nan_to_num(estimate.error.reshape(-1)[r])) + rounding,
                        output=where,
                    )
                )
            if all(d.passed for d in found):
                return GradcheckReport(
                    (), self.tolerance, self.differentiator, tuple(found), self.against
                )
        estimate = numerical()
        # a scheme's own bound covers its rounding; a fixed stencil's rounding is estimated
        rounding = floor if np.all(np.isnan(estimate.error)) else 0.0
        check = compare(
            self.name, estimate.value, analytic(), self.tolerance, estimate.error, floor=rounding
        )
        return GradcheckReport(
            (check,), self.tolerance, self.differentiator, tuple(found), self.against
        )


def _settings(
    name: str,
    differentiator: Differentiator,
    rule: Rule,
    tolerance: float | None,
    fast: bool,
    seed: int,
    directions: int,
    workers: Workers,
    precision: np.dtype[Any],
    size: int,
    against: str,
) -> _Check:
    check_options(fast, seed)
    if isinstance(directions, bool) or not isinstance(directions, int) or directions < 1:
        raise ValidationError(
            f"directions must be a positive integer, got directions={directions!r}"
        )
    check_workers(workers)
    h = differentiator.h if isinstance(differentiator.h, float) else None
    tol = (
        default_tolerance(rule, h, precision, size)
        if tolerance is None
        else check_tolerance(tolerance)
    )
    return _Check(
        name, rule, h, tol, fast, int(seed), directions, workers, repr(differentiator), against
    )


def _differentiator(value: object, default: Differentiator) -> Differentiator:
    if value is None:
        return default
    if not isinstance(value, Differentiator):
        raise ValidationError(
            f"differentiator must be a Differentiator such as RichardsonDiff(), got {value!r}"
        )
    return value


def _point(x: ArrayLike) -> FloatArray:
    try:
        return function_point(x)
    except ValidationError as err:
        raise ValidationError(
            f"x must be a finite, non-empty array of real numbers: {err}"
        ) from err


def gradcheck_function(
    f: Callable[[FloatArray], Any],
    jac_f: Callable[[Any], ArrayLike] | VectorProduct,
    x: ArrayLike,
    differentiator: Differentiator | None = None,
    *,
    tolerance: float | None = None,
    fast: bool = False,
    seed: int = 0,
    directions: int = 1,
    workers: Workers = None,
) -> GradcheckReport:
    r"""Compare the numerical Jacobian of `f` at `x` with `jac_f` (the gradient, for a scalar `f`).

    `jac_f(x)` returns the gradient (`x`'s shape) of a scalar `f`, or the Jacobian
    (`f(x).shape + x.shape`) of an array-valued one; `VectorProduct(jvp)` gives \(J v\) instead.
    The scheme defaults to [`CentralDiff`][minifw.numdiff.schemes.central.CentralDiff]
    (`h=1e-4`), the tolerance to [`default_tolerance`][minifw.numdiff.function_check.default_tolerance]
    (see the module text). With `fast=True`, `directions` random unit directions (from `seed`)
    are checked first, one stencil each, and the full check runs only when one fails. `workers`
    spreads the numerical Jacobian's columns. The report has one row, named `x` (a gradient) or
    `J` (a Jacobian, indexed outputs first); `x` is never changed.

    Examples:
        >>> import numpy as np
        >>> x = np.array([0.5, -1.0, 2.0])
        >>> gradcheck_function(lambda v: np.sum(np.sin(v)), np.cos, x).passed
        True
        >>> report = gradcheck_function(lambda v: np.sum(v**3), lambda v: 3 * v**2 + (v > 1), x)
        >>> report.passed, report.checks[0].wrong
        (False, ((2,),))
        >>> jvp = VectorProduct(lambda v, u: np.cos(v) * u)
        >>> gradcheck_function(np.sin, jvp, x, fast=True).passed
        True

    """
    scheme = _differentiator(differentiator, CentralDiff())
    point = _point(x)
    rule = scheme.first_rule
    at = _analytic_point(x, point)
    base = Lines.at(f, point, [], strict=True).base  # f in float64 at the point, and its shape
    out = tuple(base.shape)
    name = "x" if out == () else "J"
    check = _settings(
        name,
        scheme,
        rule,
        tolerance,
        fast,
        seed,
        directions,
        workers,
        _precision(x),
        point.size,
        "grad_f" if out == () else "jac_f",
    )
    floor = _rounding(rule, check.h, base, point)
    matrix: list[FloatArray] = []

    def analytic() -> FloatArray:
        if not matrix:
            matrix.append(_columns(jac_f, at, out, point.shape, "jac_f"))
        return matrix[0]

    def along(u: FloatArray) -> tuple[FloatArray, Estimate[FloatArray], float]:
        known = None if isinstance(jac_f, VectorProduct) else analytic()
        exact = _along(jac_f, known, at, u, out, "jac_f")
        estimate = directional_estimate(rule, f, point, u, workers=workers, strict=True)
        scale = _row_scale(known, point.size, exact)
        return exact, estimate, scale

    return check.report(
        lambda: jacobian_estimate(rule, f, point, workers=workers, strict=True),
        along,
        analytic,
        point.shape,
        floor,
    )


def _row_scale(matrix: FloatArray | None, n: int, along: FloatArray) -> float:
    """Return the largest a derivative along a unit vector can be: the largest row norm."""
    if matrix is None:  # a product only: its own size along u is the best guess
        return float(np.max(np.abs(along), initial=0.0))
    return float(np.max(np.linalg.norm(matrix.reshape(-1, n), axis=1), initial=0.0))


def hessian_check(
    f: Callable[[FloatArray], Any],
    hess_f: Callable[[Any], ArrayLike] | VectorProduct,
    x: ArrayLike,
    differentiator: Differentiator | None = None,
    *,
    tolerance: float | None = None,
    fast: bool = False,
    seed: int = 0,
    directions: int = 1,
    workers: Workers = None,
) -> GradcheckReport:
    r"""Compare the numerical Hessian of a scalar `f` at `x` with `hess_f`.

    `hess_f(x)` returns the Hessian (`x.shape + x.shape`), or `VectorProduct(hvp)` gives \(H v\).
    The scheme defaults to [`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff],
    whose second derivatives bound their own error; the numerical Hessian is the scheme's own
    rule for second derivatives ([`second_rule`][minifw.numdiff.differentiator.Differentiator.second_rule]).
    With `fast=True`, `directions` random unit directions \(u\) are checked first: the numerical
    \(H u\) (\(2n\) second derivatives) against the analytic one. The report has one row, `H`.

    Examples:
        >>> import numpy as np
        >>> def f(v):
        ...     return v[0] ** 2 * v[1] + np.exp(v[1])
        >>> def hess(v):
        ...     return np.array([[2 * v[1], 2 * v[0]], [2 * v[0], np.exp(v[1])]])
        >>> hessian_check(f, hess, [1.0, 0.5]).passed
        True
        >>> report = hessian_check(f, lambda v: hess(v) + np.eye(2) * [0.0, 1e-3], [1.0, 0.5])
        >>> report.passed, report.checks[0].wrong
        (False, ((1, 1),))

    """
    scheme = _differentiator(differentiator, RichardsonDiff())
    point = _point(x)
    rule = scheme.second_rule
    at = _analytic_point(x, point)
    base = Lines.at(f, point, [], strict=True).base
    if base.shape != ():
        raise NotSupportedError(
            f"hessian_check takes a scalar f, but f returns an array of shape {base.shape}"
        )
    check = _settings(
        "H",
        scheme,
        rule,
        tolerance,
        fast,
        seed,
        directions,
        workers,
        _precision(x),
        point.size,
        "hess_f",
    )
    floor = _rounding(rule, check.h, base, point)
    matrix: list[FloatArray] = []

    def analytic() -> FloatArray:
        if not matrix:
            matrix.append(_columns(hess_f, at, point.shape, point.shape, "hess_f"))
        return matrix[0]

    def along(u: FloatArray) -> tuple[FloatArray, Estimate[FloatArray], float]:
        known = None if isinstance(hess_f, VectorProduct) else analytic()
        exact = _along(hess_f, known, at, u, point.shape, "hess_f")
        estimate = hessian_vector_estimate(rule, f, point, u, workers=workers, strict=True)
        return exact, estimate, _row_scale(known, point.size, exact)

    return check.report(
        lambda: hessian_estimate(rule, f, point, workers=workers, strict=True),
        along,
        analytic,
        point.shape,
        floor,
    )
