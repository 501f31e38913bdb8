r"""Numerical differentiation: derivatives from differences of function values.

A [`Differentiator`][minifw.numdiff.differentiation.Differentiator] is a finite-difference scheme: a step
`h` and a [`Stencil`][minifw.numdiff.differentiation.Stencil] of offsets \(o_k\) and weights \(w_k\) with

\[
f'(x) \approx \frac{1}{h} \sum_k w_k \big(f(x + o_k h) - f(x)\big).
\]

One engine evaluates every scheme. It asks an [`Objective`][minifw.numdiff.objective.Objective] for the
*changes* \(L(\theta + o_k h e_i) - L(\theta)\) of many coordinates \(i\) at once, so an objective
that knows its own structure (such as [`TwoLayerNet`][minifw.nn.models.TwoLayerNet]'s) can answer in
bulk, while [`Perturbation`][minifw.numdiff.objective.Perturbation] answers for any black-box function, one
coordinate at a time.

Examples:
    >>> from minifw import CentralDiff
    >>> CentralDiff().derivative(lambda x0: x0 * x0 + 4.0**2.0, 3.0)
    6.00000000000378

"""

from __future__ import annotations

import abc
import cmath
import functools
import math
import numbers
import warnings
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any, Literal, Protocol, final, runtime_checkable

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw._validation import Check, is_positive_float, is_real, positive_float, to_float
from minifw.errors import DifferentiationError, MinifwError, ValidationError
from minifw.numdiff import _richardson
from minifw.numdiff.method import GradientMethod
from minifw.numdiff.objective import Objective, Perturbation, check_copyable, describe, task_chunks
from minifw.numdiff.workers import Workers, check_workers, is_serial, run_tasks
from minifw.typing import ArrayLike, FloatArray, IntArray

__all__ = [
    "BackwardDiff",
    "CentralDiff",
    "ComplexStep",
    "Differentiator",
    "Estimate",
    "FivePointDiff",
    "ForwardDiff",
    "GradientEstimate",
    "HasErrorEstimate",
    "RichardsonDiff",
    "Stencil",
    "StepWarning",
]

EPS = float(np.finfo(np.float64).eps)
# A fixed step is refused where float spacing alone moves `x + h` by more than this part of h.
STEP_REFUSED = 1e-3
# ... and warned about (`StepWarning`) above this part.
STEP_WARNED = 1e-6
# A one-sided fallback value of h="auto" must agree with the formula one order lower to this part.
FALLBACK_AGREEMENT = 1e-3
# An "auto" stencil reaching closer than this part of |x| to 0 is checked against a quarter step ...
AUTO_REACH = 1 / 16
# ... and must agree with it to this part (or to rounding), else the step is too large for f there.
AUTO_AGREEMENT = 1e-2


class StepWarning(RuntimeWarning):
    """A fixed step is so small against a coordinate that float spacing blurs the difference.

    `x + h` is off by up to `spacing(x) / 2` from the intended point; above
    `STEP_WARNED` of the step this warning is issued, above `STEP_REFUSED` the step
    is refused with a [`DifferentiationError`][minifw.errors.DifferentiationError].
    """


def _to_step(value: float | str) -> float | str:
    """Attrs converter of a step: an `int` becomes the equal `float`; "auto" stays."""
    return value if isinstance(value, str) else to_float(value)


def _is_step(value: object) -> bool:
    return value == "auto" if isinstance(value, str) else is_positive_float(value)


# The steps a scheme takes: a positive float, or "auto" for steps chosen per coordinate.
STEP = Check("a positive finite float or 'auto'", _is_step)
# Tolerances of RichardsonDiff.
TOLERANCE = Check(
    "a non-negative finite float",
    lambda v: is_real(v) and math.isfinite(v) and v >= 0,  # type: ignore[arg-type,operator]
)

# Most coordinates in one task of an objective split by default; bounds the engine's scratch.
ENGINE_CHUNK = 1 << 16


def _as_offsets(values: object) -> tuple[complex, ...]:
    # Numbers only: float("12") would quietly turn text into digits.
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValidationError(
            f"stencil offsets and weights must be sequences of numbers, got {values!r}"
        )
    items = tuple(values)
    for v in items:
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Number):
            raise ValidationError(
                f"stencil offsets and weights must be numbers, got {v!r} in {values!r}"
            )
    return tuple(_number(v) for v in items)


def _number(value: object) -> complex:
    """Return a real number as a `float`, a complex one (imaginary part not 0) as a `complex`."""
    number = complex(value)  # type: ignore[call-overload]
    # + 0.0 turns the -0.0 real part of a literal such as -1j into 0.0, for a plain repr
    return complex(number.real + 0.0, number.imag) if number.imag != 0 else number.real


@final
@attrs.frozen
class Stencil:
    r"""Offsets and weights of a first-derivative finite-difference formula.

    The formula is \(f'(x) \approx \frac1h \sum_k w_k \big(f(x + o_k h) - f(x)\big)\).
    Writing it with differences from \(f(x)\) drops the weight of the centre point (the
    weights of a consistent first-derivative formula sum to zero), so `offsets` never contains
    0. Consistency also requires \(\sum_k w_k o_k = 1\), which is checked.

    Offsets and weights may be complex: the derivative is then the real part of the sum (for the
    complex step, offset \(i\) and weight \(-i\) give
    \(\operatorname{Im} f(x + ih) / h\)).

    Examples:
        >>> Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5))  # central difference
        Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5))
        >>> Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5)).order
        2
        >>> Stencil(offsets=(1j,), weights=(-1j,)).order  # the complex step
        2
        >>> Stencil(offsets=(1.0,), weights=(2.0,))
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: stencil weights must satisfy sum(w * o) == 1 for a first derivative, got 2.0

    """

    offsets: tuple[complex, ...] = attrs.field(converter=_as_offsets)
    weights: tuple[complex, ...] = attrs.field(converter=_as_offsets)

    def __attrs_post_init__(self) -> None:
        if not self.offsets or len(self.offsets) != len(self.weights):
            raise ValidationError(
                "stencil needs as many weights as offsets (at least one), got "
                f"{len(self.offsets)} offsets and {len(self.weights)} weights"
            )
        if any(o == 0 or not cmath.isfinite(o) for o in self.offsets) or not all(
            cmath.isfinite(w) for w in self.weights
        ):
            raise ValidationError(
                "stencil offsets must be finite and non-zero, and weights finite, got "
                f"offsets {self.offsets} and weights {self.weights}"
            )
        if len(set(self.offsets)) != len(self.offsets):
            raise ValidationError(f"stencil offsets must be distinct, got {self.offsets}")
        moment = _moment(self.weights, self.offsets, 1)
        if not abs(moment - 1.0) <= 1e-12:
            shown = moment.real if moment.imag == 0 else moment
            raise ValidationError(
                "stencil weights must satisfy sum(w * o) == 1 for a first derivative, "
                f"got {shown!r}"
            )

    @property
    def is_complex(self) -> bool:
        """Whether any offset or weight is complex (a complex-step formula)."""
        return any(isinstance(v, complex) for v in (*self.offsets, *self.weights))

    @property
    def order(self) -> int:
        r"""The order of accuracy \(p\): the error is \(O(h^p)\) for smooth \(f\).

        The first power \(m \ge 2\) whose moment \(\operatorname{Re}\sum_k w_k o_k^m\)
        does not vanish is \(p + 1\): Taylor's theorem leaves
        \(\frac{h^{m-1}}{m!} f^{(m)}(x) \sum_k w_k o_k^m\) as the leading error.
        """
        for m in range(2, len(self.offsets) + 3):
            size = math.fsum(
                abs(w) * abs(o) ** m for w, o in zip(self.weights, self.offsets, strict=True)
            )
            if abs(_moment(self.weights, self.offsets, m).real) > 1e-12 * size:
                return m - 1
        return len(self.offsets) + 2  # pragma: no cover - no stencil is exact to this order


def _moment(weights: tuple[complex, ...], offsets: tuple[complex, ...], power: int) -> complex:
    r"""Return \(\sum_k w_k o_k^{power}\), summed exactly per real and imaginary part."""
    terms = [complex(w) * complex(o) ** power for w, o in zip(weights, offsets, strict=True)]
    return complex(math.fsum(t.real for t in terms), math.fsum(t.imag for t in terms))


@attrs.frozen
class Differentiator(GradientMethod):
    r"""A finite-difference scheme: a step `h` and a [`Stencil`][minifw.numdiff.differentiation.Stencil].

    All four entry points share one engine:

    - [`derivative`][minifw.numdiff.differentiation.Differentiator.derivative] of
      \(f:\mathbb{R}\to\mathbb{R}\) at a point;
    - [`partial`][minifw.numdiff.differentiation.Differentiator.partial] of \(f:\mathbb{R}^n\to\mathbb{R}\)
      with respect to one coordinate, the others fixed;
    - [`gradient`][minifw.numdiff.differentiation.Differentiator.gradient] of \(f\) at an array of any
      shape, perturbing it in place and restoring it exactly;
    - [`gradients`][minifw.numdiff.differentiation.Differentiator.gradients] of an
      [`Objective`][minifw.numdiff.objective.Objective] over all of its parameter arrays.

    `h="auto"` chooses a step per coordinate, \(\varepsilon^{1/(p+1)} \max(1, |x_i|)\) for a
    scheme of order \(p\) (rounded down to a power of two, so that \(x \pm h\) is exact in most
    cases), which balances truncation and rounding error; where that stencil leaves the domain of
    \(f\) (`f` is nan or inf there, or raises `ValueError` or `ArithmeticError`), a step relative to
    \(|x_i|\) or a one-sided stencil of the same order takes its place, and a stencil that reaches
    near 0 is checked against a quarter of its step (a singularity at 0 makes a large step
    inaccurate without making it nan). What cannot be checked is an error, not a number.

    A fixed step must be large enough for the point: where \(x + h = x\) in float64 the difference
    is \(0/h\), and where float spacing moves \(x + h\) by more than `STEP_REFUSED` of \(h\) the
    difference says little about the slope; both are errors (between `STEP_WARNED` and that, a
    [`StepWarning`][minifw.numdiff.differentiation.StepWarning]).

    Examples:
        A new scheme is a subclass with a [`stencil`][minifw.numdiff.differentiation.Differentiator.stencil]
        (here the one-sided second-order formula \((-3f(x) + 4f(x+h) - f(x+2h))/2h\)):

        >>> import attrs
        >>> from typing import final
        >>> @final
        ... @attrs.frozen
        ... class ForwardDiff2(Differentiator):
        ...     @property
        ...     def stencil(self) -> Stencil:
        ...         return Stencil((1.0, 2.0), (2.0, -0.5))
        >>> ForwardDiff2(h=1e-3).derivative(lambda x: x**2, 1.0)  # ForwardDiff: 2.000999...
        1.9999999999994467

        `h="auto"` near the edge of the domain of \(\log\):

        >>> import math
        >>> CentralDiff(h="auto").derivative(math.log, 1e-9)  # 1e-4 would step below 0
        1000000000.0

        Fixed steps too small for the point:

        >>> ForwardDiff(h=1e-50).derivative(lambda x: 0.01 * x**2 + 0.1 * x, 5.0)
        Traceback (most recent call last):
        ...
        minifw.errors.DifferentiationError: step h=1e-50 vanishes against x=5.0: x + 1e-50 == x in float64, so the difference would be 0; use a larger h (the default is 1e-4)
        >>> CentralDiff(h=1e-15).derivative(lambda x: x * x, 1.0)
        Traceback (most recent call last):
        ...
        minifw.errors.DifferentiationError: step h=1e-15 is too small for x=1.0: float64 numbers there are 2.2e-16 apart, so x + 1e-15 is off by up to 11% of the step; use h >= 1.1e-10 or h='auto'

    """

    h: float | Literal["auto"] = attrs.field(default=1e-4, converter=_to_step, validator=STEP)

    @property
    @abc.abstractmethod
    def stencil(self) -> Stencil:
        """The offsets (in units of `h`) and weights of this scheme."""

    def derivative(self, f: Callable[[float], Any], x: float) -> float:
        """Return the derivative of a function of one real variable at `x`.

        Examples:
            >>> CentralDiff().derivative(lambda x: 0.01 * x**2 + 0.1 * x, 5.0)
            0.1999999999990898

        """
        objective = _scalar_objective(f, _real_scalar(x, "x"))
        return float(self._derivatives(objective, "x", np.zeros(1, dtype=np.intp))[0])

    def partial(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, i: int | tuple[int, ...]
    ) -> float:
        r"""Return \(\partial f / \partial x_i\) at `x`, the other coordinates fixed.

        `i` is an index into `x` (an int for a vector, a tuple for any shape).

        Examples:
            >>> CentralDiff().partial(lambda x: x[0]**2 + x[1]**2, [3.0, 4.0], 1)
            7.999999999999119

        """
        arr = _point(x, "x")
        flat = _flat_index(i, arr.shape)
        objective = _array_objective(f, arr)
        return float(self._derivatives(objective, "x", np.array([flat], dtype=np.intp))[0])

    def gradient(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, *, workers: Workers = None
    ) -> FloatArray:
        r"""Return \(\nabla f(x)\), an array of `x`'s shape.

        A float64 array `x` is perturbed in place, one coordinate at a time, so `f` may also ignore
        its argument and read the array through a closure. Afterwards `x` holds exactly its original
        values, also when `f` raises. Other array-likes are copied first. `workers` spreads the
        coordinates over processes or an executor, as in
        [`gradients`][minifw.numdiff.differentiation.Differentiator.gradients] (then each worker perturbs a
        copy of `x`).

        Examples:
            >>> import numpy as np
            >>> CentralDiff().gradient(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
            array([6., 8.])

        """
        arr = _point(x, "x")
        check_workers(workers)
        objective = _array_objective(f, arr)
        return self.gradients(objective, workers=workers)["x"]

    def gradients(self, objective: Objective, *, workers: Workers = None) -> dict[str, FloatArray]:
        """Return the gradient of an `Objective` for each of its parameter arrays.

        The coordinates are split into tasks fixed by the objective
        ([`task_chunks`][minifw.numdiff.objective.task_chunks]), each run with one BLAS thread. `workers`
        says where ([`minifw.numdiff.workers`][minifw.numdiff.workers]): `None` or `1` in this process, one task
        after the other; an `int` for a pool of that many processes, started and shut down by this
        call; a map-like callable such as `pool.map`; or a `concurrent.futures.Executor` (threads,
        processes, or `dask.distributed.Client.get_executor()`). Each worker evaluates its own copy
        of the objective, so the parameters are never shared, and the result is the same to the last
        bit whatever the workers.

        Examples:
            >>> import numpy as np
            >>> w, b = np.array([[1.0, 2.0]]), np.array([0.5])
            >>> objective = Perturbation(lambda: float((w @ [1.0, 1.0] + b)[0] ** 2), {"w": w, "b": b})
            >>> {name: g.round(6).tolist() for name, g in CentralDiff().gradients(objective).items()}
            {'w': [[7.0, 7.0]], 'b': [7.0]}

        """
        check_workers(workers)
        if not is_serial(workers):
            check_copyable(objective)
        chunks = task_chunks(objective, ENGINE_CHUNK)
        parts = run_tasks(_chunk_derivatives, (self, objective), chunks, workers)
        # nan marks a coordinate no task computed (every derivative computed is finite).
        grads = {name: np.full(arr.shape, np.nan) for name, arr in objective.params.items()}
        for chunk, part in zip(chunks, parts, strict=True):
            for name, index in chunk.items():
                grads[name].reshape(-1)[index] = part[name]
        for name, grad in grads.items():
            if np.isnan(grad).any():
                flat = int(np.flatnonzero(np.isnan(grad))[0])
                raise DifferentiationError(
                    f"{type(objective).__name__}.chunks() leaves out "
                    f"{describe(name, grad.shape, flat)}: the tasks must hold every coordinate"
                )
        return grads

    def _derivatives(self, objective: Objective, name: str, index: IntArray) -> FloatArray:
        """Return the derivatives along coordinates `index` of `name` (one task of the engine)."""
        return _estimate(self, objective, name, index).value


_FORWARD = Stencil(offsets=(1.0,), weights=(1.0,))
_BACKWARD = Stencil(offsets=(-1.0,), weights=(-1.0,))
_CENTRAL = Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5))


@final
@attrs.frozen
class ForwardDiff(Differentiator):
    r"""Forward difference \(\big(f(x + h) - f(x)\big) / h\); error \(O(h)\).

    Examples:
        >>> ForwardDiff().derivative(lambda x: x * x, 3.0)
        6.000100000012054

    """

    @property
    def stencil(self) -> Stencil:
        """One step forward."""
        return _FORWARD


@final
@attrs.frozen
class BackwardDiff(Differentiator):
    r"""Backward difference \(\big(f(x) - f(x - h)\big) / h\); error \(O(h)\).

    Examples:
        >>> BackwardDiff().derivative(lambda x: x * x, 3.0)
        5.99990000001327

    """

    @property
    def stencil(self) -> Stencil:
        """One step backward."""
        return _BACKWARD


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
        return _CENTRAL


_FIVE_POINT = Stencil(offsets=(2.0, -2.0, 1.0, -1.0), weights=(-1 / 12, 1 / 12, 2 / 3, -2 / 3))
_COMPLEX = Stencil(offsets=(1j,), weights=(-1j,))


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


@final
@attrs.frozen
class Estimate:
    """A derivative, a bound on its error, and the number of function evaluations it took."""

    value: float
    error: float
    evaluations: int


@final
@attrs.frozen(eq=False)
class GradientEstimate:
    """Derivatives along every coordinate of an array, error bounds beside them, and the cost.

    `value` and `error` have the array's shape; `evaluations` counts the function values asked of
    the objective (each a call of `f` for a [`Perturbation`][minifw.numdiff.objective.Perturbation]), the
    one at the point included.
    """

    value: FloatArray
    error: FloatArray
    evaluations: int


@runtime_checkable
class HasErrorEstimate(Protocol):
    """A differentiator that bounds the error of what it returns (`RichardsonDiff`)."""

    def estimate(self, f: Callable[[float], Any], x: float) -> Estimate:
        """Return the derivative of `f` at `x` with an error bound."""
        ...

    def gradient_estimate(self, f: Callable[[FloatArray], Any], x: ArrayLike) -> GradientEstimate:
        """Return the gradient of `f` at `x` with error bounds."""
        ...

    def estimates(self, objective: Objective) -> dict[str, GradientEstimate]:
        """Return the gradient of an objective with error bounds, for each parameter array."""
        ...


@final
@attrs.frozen
class RichardsonDiff(Differentiator):
    r"""Central differences at \(h, h/2, h/4, \dots\) extrapolated to \(h = 0\), with error bounds.

    The central difference is \(D(h) = f'(x) + a_1 h^2 + a_2 h^4 + \dots\); Richardson extrapolation
    combines \(D\) at several steps to cancel the \(a_j\) terms one by one (Neville's table in
    \(h^2\)). Each coordinate stops on its own, when its error bound meets
    `atol + rtol * |derivative|`, when rounding dominates the bound, or when the bound stops
    improving. The bound (the module `minifw.numdiff._richardson` derives it) is deliberately pessimistic:
    it is the error of the previous, less accurate extrapolation plus a rounding bound, so the value
    is usually far more accurate than it says (`benchmarks/accuracy.py` measures the errors, the
    bounds and the evaluations against other libraries; `benchmarks/README.md` has the figures).

    `h="auto"` starts at \(2^{-5} \max(1, |x|)\) (rounded down to a power of two) and
    restarts smaller where that is too large for the function (see the module text); a float
    `h` is the first step. Near a domain edge (`f` nan, inf, or raising `ValueError` or
    `ArithmeticError` on one side) the step shrinks until the stencil fits, and where it never
    does, a one-sided table is used; a coordinate where neither side works is an error.

    [`estimate`][minifw.numdiff.differentiation.RichardsonDiff.estimate],
    [`gradient_estimate`][minifw.numdiff.differentiation.RichardsonDiff.gradient_estimate] and
    [`estimates`][minifw.numdiff.differentiation.RichardsonDiff.estimates] return the bounds and the number
    of evaluations beside the values
    ([`HasErrorEstimate`][minifw.numdiff.differentiation.HasErrorEstimate]);
    [`derivative`][minifw.numdiff.differentiation.Differentiator.derivative],
    [`gradient`][minifw.numdiff.differentiation.Differentiator.gradient] and
    [`gradients`][minifw.numdiff.differentiation.Differentiator.gradients] return the values alone, as every
    scheme does.

    Examples:
        >>> import math
        >>> result = RichardsonDiff().estimate(math.exp, 1.0)
        >>> abs(result.value - math.e) <= result.error <= 1e-8 * math.e, result.evaluations
        (True, 7)
        >>> RichardsonDiff().derivative(math.log, 1e-3)  # math.log raises below 0
        1000.0000000000994

    """

    h: float | Literal["auto"] = attrs.field(default="auto", converter=_to_step, validator=STEP)
    rtol: float = attrs.field(default=1e-8, converter=to_float, validator=TOLERANCE)
    atol: float = attrs.field(default=0.0, converter=to_float, validator=TOLERANCE)

    @property
    def stencil(self) -> Stencil:
        """The central difference, which the table extrapolates."""
        return _CENTRAL

    def estimate(self, f: Callable[[float], Any], x: float) -> Estimate:
        """Return the derivative of `f` at `x`, a bound on its error and the calls of `f`.

        Examples:
            >>> result = RichardsonDiff().estimate(lambda x: x**3, 2.0)
            >>> result.value, result.error < 1e-10
            (12.0, True)

        """
        calls = 0

        def counted(v: float) -> Any:
            nonlocal calls
            calls += 1
            return f(v)

        objective = _scalar_objective(counted, _real_scalar(x, "x"))
        found = _estimate(self, objective, "x", np.zeros(1, dtype=np.intp))
        return Estimate(float(found.value[0]), float(found.error[0]), calls)

    def gradient_estimate(self, f: Callable[[FloatArray], Any], x: ArrayLike) -> GradientEstimate:
        """Return the gradient of `f` at `x` with error bounds, as `gradient` does.

        Examples:
            >>> import numpy as np
            >>> result = RichardsonDiff().gradient_estimate(lambda v: np.sum(np.sin(v)), [0.5, 1.0])
            >>> bool(np.all(np.abs(result.value - np.cos([0.5, 1.0])) <= result.error))
            True
            >>> result.evaluations  # 1 at the point, 6 and 6 along the coordinates
            13

        """
        arr = _point(x, "x")
        return self.estimates(_array_objective(f, arr))["x"]

    def estimates(self, objective: Objective) -> dict[str, GradientEstimate]:
        """Return the gradient of an `Objective` with error bounds, per parameter array."""
        found = {}
        evaluations = 1  # the value at the point, shared by all coordinates
        for name, arr in objective.params.items():
            value, error = np.empty(arr.shape), np.empty(arr.shape)
            for start in range(0, arr.size, ENGINE_CHUNK):
                index = np.arange(start, min(start + ENGINE_CHUNK, arr.size), dtype=np.intp)
                part = _estimate(self, objective, name, index)
                value.reshape(-1)[index] = part.value
                error.reshape(-1)[index] = part.error
                evaluations += part.evaluations
            found[name] = GradientEstimate(value, error, 0)
        return {name: attrs.evolve(e, evaluations=evaluations) for name, e in found.items()}


# --- the engine ----------------------------------------------------------------------------------

# What f raises where it is not defined; a scheme that may step around it (h="auto",
# RichardsonDiff) treats these as "not finite here". minifw's own errors always propagate.
_DOMAIN_ERRORS = (ValueError, ArithmeticError)


@functools.singledispatch
def _estimate(
    differentiator: Differentiator, objective: Objective, name: str, index: IntArray
) -> GradientEstimate:
    """Return the derivatives along coordinates `index` of `name`: a fixed stencil's values.

    `error` is nan (a fixed stencil does not bound its error); `evaluations` counts the
    changes asked of the objective, not the value at the point.
    """
    stencil = differentiator.stencil
    arr = objective.params[name]
    values = _values(arr, index)
    h = _step_sizes(differentiator.h, stencil.order, values)
    offsets = np.array(stencil.offsets)
    auto = differentiator.h == "auto" and not stencil.is_complex
    if not stencil.is_complex and not auto:
        _check_steps(differentiator.h, h[:, None] * offsets, values, name, arr.shape)
    if auto:
        objective.value()  # an error at the point itself is not a domain edge: let it out
    changes = _grouped_changes(objective, name, index, h, offsets, tolerant=auto)
    evaluations = changes.size
    result = _combine(stencil, changes, h)
    if stencil.is_complex:
        _check_imaginary(objective, name, index, values, changes)
    if auto:
        finite = np.all(np.isfinite(changes), axis=1)
        reach = h * float(np.max(np.abs(offsets)))
        for k in np.flatnonzero(~finite).tolist():
            result[k], used = _one_sided_fallback(
                stencil, objective, name, index[k], h[k], changes[k], offsets
            )
            evaluations += used
        near_zero = finite & (values != 0) & (reach > AUTO_REACH * np.abs(values))
        for k in np.flatnonzero(near_zero).tolist():
            result[k], used = _auto_near_zero(stencil, objective, name, index[k], h[k], result[k])
            evaluations += used
    return GradientEstimate(result, np.full(index.size, np.nan), evaluations)


@_estimate.register
def _(
    differentiator: RichardsonDiff, objective: Objective, name: str, index: IntArray
) -> GradientEstimate:
    """Richardson extrapolation, coordinate by coordinate, requests batched by step."""
    arr = objective.params[name]
    values = _values(arr, index)
    base = objective.value()
    h = None if differentiator.h == "auto" else float(differentiator.h)
    starts = [_richardson.first_steps(v, h) for v in values.tolist()]
    if h is not None:
        first = np.array([s[0] for s in starts])
        _check_steps(h, np.stack([first, -first], axis=1), values, name, arr.shape)
    coordinates = [
        _richardson.coordinate(v, base, first, small, differentiator.rtol, differentiator.atol)
        for v, (first, small) in zip(values.tolist(), starts, strict=True)
    ]

    def evaluate(members: list[int], request: tuple[float, ...]) -> list[list[float]]:
        rows = index[np.array(members, dtype=np.intp)]
        changes = _changes(objective, name, rows, np.array(request), tolerant=True)
        result: list[list[float]] = changes.tolist()
        return result

    results, evaluations = _richardson.run(coordinates, evaluate)
    value = np.array([r[0] for r in results])
    error = np.array([r[1] for r in results])
    if not np.all(np.isfinite(value)):
        k = int(np.flatnonzero(~np.isfinite(value))[0])
        where = describe(name, arr.shape, int(index[k]))
        raise DifferentiationError(
            f"f is not finite on either side of {where}={float(values[k])!r} for any step "
            f"tried (from {starts[k][0]:g} down): {where} is on the edge of f's domain"
        )
    return GradientEstimate(value, error, evaluations)


def _combine(stencil: Stencil, changes: NDArray[Any], h: FloatArray) -> FloatArray:
    r"""Return the real part of \(\frac1h \sum_k w_k c_k\), one value per row."""
    total = np.zeros(changes.shape[0], dtype=changes.dtype)
    # Term by term, in stencil order: for the central difference this is
    # 0.5 * (f(x+h) - f(x-h)) / h, the book's number to the last digit.
    for k, weight in enumerate(stencil.weights):
        total += weight * changes[:, k]
    result: FloatArray = (total.real if stencil.is_complex else total) / h
    return result


def _values(arr: FloatArray, index: IntArray) -> FloatArray:
    values: FloatArray = arr.reshape(-1)[index] if arr.flags.c_contiguous else arr.flat[index]
    return values


def _step_sizes(h: float | str, order: int, values: FloatArray) -> FloatArray:
    """Per-coordinate steps: `h` itself, or for "auto" eps**(1/(order+1)) * max(1, |x|)."""
    if h != "auto":
        return np.full(values.shape, float(h))
    return _auto_steps(order, values)


def _auto_steps(order: int, values: FloatArray) -> FloatArray:
    r"""\(\varepsilon^{1/(p+1)} \max(1, |x|)\), both factors rounded to powers of two."""
    exponent = round(math.log2(EPS) / (order + 1))
    _, scale = np.frexp(np.maximum(1.0, np.abs(values)))
    steps: FloatArray = np.ldexp(1.0, scale - 1 + exponent)
    return steps


def _check_steps(
    h: float | str, steps: FloatArray, values: FloatArray, name: str, shape: tuple[int, ...]
) -> None:
    """Refuse (or warn about) fixed steps that float spacing at the coordinates blurs."""
    # Float spacing grows with |x|: when the largest coordinate is fine (the usual case, one
    # reduction per chunk), all are, and none can swallow a step either.
    largest = float(np.max(np.abs(values), initial=0.0))
    if float(np.spacing(largest)) <= 2 * STEP_WARNED * float(np.min(np.abs(steps), initial=math.inf)):
        return
    for column in steps.T:
        stuck = values + column == values
        if np.any(stuck):
            k = int(np.flatnonzero(stuck)[0])
            raise DifferentiationError(
                f"step h={h!r} vanishes against {describe(name, shape, k)}={float(values[k])!r}: "
                f"{name} + {abs(float(column[k]))!r} == {name} in float64, so the difference "
                "would be 0; use a larger h (the default is 1e-4)"
            )
    smallest = np.min(np.abs(steps), axis=1)
    spacing = np.spacing(np.abs(values))
    blur = spacing / (2 * smallest)
    k = int(np.argmax(blur))
    if blur[k] <= STEP_WARNED:
        return
    where = f"{describe(name, shape, k)}={float(values[k])!r}"
    advice = f"use h >= {float(spacing[k]) / (2 * STEP_WARNED):.2g} or h='auto'"
    if blur[k] > STEP_REFUSED:
        raise DifferentiationError(
            f"step h={h!r} is too small for {where}: float64 numbers there are "
            f"{float(spacing[k]):.2g} apart, so {name} + {float(smallest[k])!r} is off by up to "
            f"{float(blur[k]):.0%} of the step; {advice}"
        )
    warnings.warn(
        f"step h={h!r} is small for {where}: float spacing there blurs the step by up to "
        f"{float(blur[k]):.1e} of itself, and the derivative by as much; {advice}",
        StepWarning,
        stacklevel=5,
    )


def _grouped_changes(
    objective: Objective,
    name: str,
    index: IntArray,
    h: FloatArray,
    offsets: NDArray[Any],
    *,
    tolerant: bool,
) -> NDArray[Any]:
    """Return the changes at steps `h_k * offsets`, one objective call per distinct step."""
    steps, group = np.unique(h, return_inverse=True)
    changes = np.empty((index.size, offsets.size), dtype=np.result_type(offsets, np.float64))
    for g, step in enumerate(steps.tolist()):
        rows = np.flatnonzero(group == g) if steps.size > 1 else slice(None)
        changes[rows] = _changes(objective, name, index[rows], step * offsets, tolerant=tolerant)
    return changes


def _changes(
    objective: Objective, name: str, index: IntArray, steps: NDArray[Any], *, tolerant: bool
) -> NDArray[Any]:
    """Return the objective's changes; `tolerant`: nan where f is not finite or raised.

    A call that raises is repeated one coordinate and one step at a time, so that only the
    failing evaluations become nan.
    """
    if not tolerant:
        return _checked_changes(objective, name, index, steps)
    try:
        with np.errstate(all="ignore"):  # nan and inf are expected here, and handled
            return _checked_changes(objective, name, index, steps, finite=False)
    except _DOMAIN_ERRORS as err:
        if isinstance(err, MinifwError):
            raise
        if index.size * steps.size == 1:
            return np.full((1, 1), np.nan)
    out = np.empty((index.size, steps.size))
    for k in range(index.size):
        for m in range(steps.size):
            out[k, m] = _changes(
                objective, name, index[k : k + 1], steps[m : m + 1], tolerant=True
            )[0, 0]
    return out


@functools.lru_cache(maxsize=16)
def _one_sided(order: int, side: float) -> Stencil:
    r"""Return the one-sided stencil of `order` (offsets `side * (1..order)`).

    Its weights solve \(\sum_k w_k o_k^m = [m = 1]\) for \(m = 1..p\).
    """
    n = order
    # Gauss-Jordan on the Vandermonde system, in fractions: weights exact to the last bit.
    rows = [
        [Fraction(k) ** m for k in range(1, n + 1)] + [Fraction(int(m == 1))]
        for m in range(1, n + 1)
    ]
    for c in range(n):
        pivot = next(r for r in range(c, n) if rows[r][c] != 0)
        rows[c], rows[pivot] = rows[pivot], rows[c]
        rows[c] = [v / rows[c][c] for v in rows[c]]
        for r in range(n):
            if r != c and rows[r][c] != 0:
                rows[r] = [a - rows[r][c] * b for a, b in zip(rows[r], rows[c], strict=True)]
    weights = [float(rows[k][n]) * side for k in range(n)]  # o = side * k flips odd moments
    return Stencil(tuple(side * k for k in range(1, n + 1)), tuple(weights))


def _stencil_value(
    stencil: Stencil, objective: Objective, name: str, flat: int, step: float
) -> tuple[float, float, int]:
    """Return the stencil's value at `step` (nan where f is not finite), max |f|, evaluations."""
    offsets = step * np.array(stencil.offsets)
    found = _changes(objective, name, np.array([flat]), offsets, tolerant=True)
    base = objective.value()
    if not np.all(np.isfinite(found)):
        return math.nan, abs(base), found.size
    size = max(abs(base), float(np.max(np.abs(base + found))))
    return float(_combine(stencil, found, np.array([step]))[0]), size, found.size


def _confirmed(
    stencil: Stencil,
    objective: Objective,
    name: str,
    flat: int,
    step: float,
    value: float | None = None,
) -> tuple[float, int]:
    """Return the stencil's value at `step` if it agrees with the value at `step / 4`, else nan.

    They agree to `AUTO_AGREEMENT`, or within the rounding error of the smaller step
    (a derivative of 0 is all rounding). Near a singularity the larger step does not agree.
    """
    used = 0
    if value is None:
        value, _, used = _stencil_value(stencil, objective, name, flat, step)
    quarter, size, more = _stencil_value(stencil, objective, name, flat, step / 4)
    used += more
    rounding = _richardson.NOISE * EPS * size / (step / 4)
    gap = abs(value - quarter)
    if gap <= AUTO_AGREEMENT * max(abs(value), abs(quarter)) or gap <= rounding:
        return value, used
    return math.nan, used


def _relative_step(order: int, x: float) -> float:
    """Return the "auto" step relative to `|x|` rather than `max(1, |x|)` (a power of two)."""
    relative = float(_auto_steps(order, np.array([x]))[0]) * min(1.0, abs(x))
    return _richardson.power_of_two_below(relative) if relative > 0 else 0.0


def _auto_near_zero(
    stencil: Stencil, objective: Objective, name: str, flat: int, h: float, value: float
) -> tuple[float, int]:
    """Check an "auto" value whose stencil reaches near 0; return it or a better one.

    A function singular at 0 (log, sqrt, 1/x) stays finite on a stencil that reaches close to
    0, but the difference is then far off. The value must agree with the stencil at `h / 4`
    (`_confirmed`); where it does not, the stencil at a step relative to `|x|` is
    tried, with the same check; where that fails too, the derivative is refused.
    """
    found, used = _confirmed(stencil, objective, name, flat, h, value)
    if math.isfinite(found):
        return found, used
    x = float(_values(objective.params[name], np.array([flat]))[0])
    relative = _relative_step(stencil.order, x)
    if 0 < relative < h / 4:
        found, more = _confirmed(stencil, objective, name, flat, relative)
        used += more
        if math.isfinite(found):
            return found, used
    where = describe(name, objective.params[name].shape, flat)
    raise DifferentiationError(
        f"h='auto' finds no reliable step at {where}={x!r}: the stencil at {h:g} and at "
        f"{h / 4:g} disagree, and so do steps relative to |{name}|; f changes too fast there "
        "(a singularity near 0), or its derivative is lost in rounding; use RichardsonDiff, "
        "which finds its steps and bounds its error"
    )


def _one_sided_fallback(
    stencil: Stencil,
    objective: Objective,
    name: str,
    flat: int,
    h: float,
    changes: NDArray[Any],
    offsets: NDArray[Any],
) -> tuple[float, int]:
    """Return the derivative where the "auto" stencil left the domain of f, and the evaluations.

    Tried in turn: where `|x| <= 1/16`, the same stencil at a step relative to `|x|` (most
    domain edges are at 0, and such a step keeps the stencil between 0 and x), checked
    against a quarter of that step (`_confirmed`);
    a one-sided stencil of the same order (at least 2) on the side where f was finite, at
    `h` and then at the relative step; the other side likewise. A one-sided value counts only
    where the one-sided formula of one order less, on the same points, agrees with it to
    `FALLBACK_AGREEMENT`: near a singularity at the edge it does not, and the step is
    wrong for the function.
    """
    x = float(_values(objective.params[name], np.array([flat]))[0])
    relative = _relative_step(stencil.order, x) or h
    used = 0
    if relative <= h / 16:  # |x| is small: a step on the scale of |x| may fit between 0 and x
        value, used = _confirmed(stencil, objective, name, flat, relative)
        if math.isfinite(value):
            return value, used
    finite = np.isfinite(changes)
    sides = [1.0, -1.0] if np.all(finite[offsets.real > 0]) else [-1.0, 1.0]
    order = max(stencil.order, 2)
    for side in sides:
        one_sided, lower = _one_sided(order, side), _one_sided(order - 1, side)
        for step in dict.fromkeys((h, min(h, relative))):
            found = _changes(
                objective, name, np.array([flat]), step * np.array(one_sided.offsets), tolerant=True
            )
            used += found.size
            if not np.all(np.isfinite(found)):
                break  # nearer steps on this side will not do better
            value = float(_combine(one_sided, found, np.array([step]))[0])
            check = float(_combine(lower, found[:, : order - 1], np.array([step]))[0])
            if abs(value - check) <= FALLBACK_AGREEMENT * max(abs(value), abs(check)):
                return value, used
    where = describe(name, objective.params[name].shape, flat)
    raise DifferentiationError(
        f"the stencil leaves f's domain at {where}={x!r} (f not finite at steps of {h:g}), and "
        "no one-sided stencil there gives a consistent value: the edge is too close for "
        "h='auto'; use RichardsonDiff, which shrinks its steps to the edge"
    )


def _check_imaginary(
    objective: Objective, name: str, index: IntArray, values: FloatArray, changes: NDArray[Any]
) -> None:
    """Refuse a complex step that left no imaginary part where a real step changes f.

    An imaginary part of exactly 0 is a zero derivative, or a function that dropped the
    imaginary part of its argument. A real central difference tells them apart: for a zero
    derivative its change is of third order in the step, far below this threshold.
    """
    flat = np.flatnonzero(np.all(changes.imag == 0, axis=1))
    if flat.size == 0:
        return
    base = objective.value()
    steps = _auto_steps(2, values[flat])
    real = _grouped_changes(
        objective, name, index[flat], steps, np.array([1.0, -1.0]), tolerant=True
    )
    size = np.maximum(np.abs(base), np.max(np.abs(base + real), axis=1))
    moved = np.abs(real[:, 0] - real[:, 1]) > 2 * math.sqrt(EPS) * size
    if np.any(moved):
        k = int(np.flatnonzero(moved)[0])
        where = describe(name, objective.params[name].shape, int(index[flat[k]]))
        raise DifferentiationError(
            f"the complex step leaves f's imaginary part exactly 0 at {where}, but f changes when "
            f"{where} moves by +-{float(steps[k]):g} (by {float(real[k, 0]):g} and "
            f"{float(real[k, 1]):g}): f drops the imaginary part (abs, .real, a cast to float), "
            "so it is not complex-safe; use a real scheme such as RichardsonDiff"
        )


def _chunk_derivatives(
    job: tuple[Differentiator, Objective], chunk: dict[str, IntArray]
) -> dict[str, FloatArray]:
    """One task of `Differentiator.gradients`: the derivatives of a chunk's coordinates."""
    differentiator, objective = job
    return {name: differentiator._derivatives(objective, name, index) for name, index in chunk.items()}


def _checked_changes(
    objective: Objective, name: str, index: IntArray, steps: NDArray[Any], *, finite: bool = True
) -> NDArray[Any]:
    """Return the objective's changes, refusing a wrong shape or (with `finite`) nan and inf."""
    changes = np.asarray(objective.changes(name, index, steps))
    expected = (index.size, steps.size)
    if changes.shape != expected or changes.dtype.kind not in "fc":
        raise DifferentiationError(
            f"{type(objective).__name__}.changes must return a float array of shape "
            f"{expected} for {index.size} coordinates of {name!r} and {steps.size} steps, got "
            f"dtype {changes.dtype} and shape {changes.shape}"
        )
    if np.iscomplexobj(steps) and changes.dtype.kind != "c":
        raise DifferentiationError(
            f"{type(objective).__name__}.changes returned real changes for complex steps: "
            "it does not take complex steps, so ComplexStep cannot differentiate it"
        )
    is_finite = np.isfinite(changes)
    if finite and not np.all(is_finite):
        k, m = (int(i) for i in np.argwhere(~is_finite)[0])
        where = describe(name, objective.params[name].shape, int(index[k]))
        step = complex(steps[m]) if np.iscomplexobj(steps) else float(steps[m])
        raise DifferentiationError(
            f"the objective's change is {changes[k, m].item()!r} at {where} moved by {step:g}: f is "
            "not finite there (h='auto' or RichardsonDiff step around a domain edge)"
        )
    result: FloatArray = changes
    return result


def _real_scalar(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(f"{name} must be a real number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValidationError(f"{name} must be finite, got {name}={result!r}")
    return result


def _scalar_objective(f: Callable[[Any], Any], x: float) -> Perturbation:
    """Return the objective of `f` at a number; `f` gets a Python float (or complex)."""
    arrays = {"x": np.array(x)}
    return Perturbation(lambda: f(arrays["x"].item()), arrays)


def _array_objective(f: Callable[[Any], Any], arr: FloatArray) -> Perturbation:
    """Return the objective of `f` at an array; `f` gets it (or a complex copy of it)."""
    arrays = {"x": arr}
    return Perturbation(lambda: f(arrays["x"]), arrays)


def _point(x: ArrayLike, name: str) -> FloatArray:
    """Return the array to perturb: `x` itself when it is float64, else a float64 copy."""
    if isinstance(x, np.ndarray):
        if x.dtype != np.float64:
            kind = "an integer" if np.issubdtype(x.dtype, np.integer) else f"a {x.dtype}"
            raise ValidationError(
                f"{name} must be a float64 array so that a small step is represented exactly "
                f"enough, got {kind} array (dtype {x.dtype}); pass {name}.astype(np.float64)"
            )
        if not x.flags.writeable:
            raise ValidationError(
                f"{name} must be writeable: it is perturbed in place and restored"
            )
        arr: FloatArray = x
    else:
        converted = np.asarray(x)
        if converted.dtype == np.bool_ or not np.issubdtype(converted.dtype, np.number):
            raise ValidationError(
                f"{name} must hold real numbers, got dtype {converted.dtype} "
                f"and shape {converted.shape}"
            )
        arr = converted.astype(np.float64)
    if arr.size == 0:
        raise ValidationError(f"{name} must have at least one element, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"{name} must be finite, got {arr!r}")
    return arr


def _flat_index(i: int | tuple[int, ...], shape: tuple[int, ...]) -> int:
    pos = (i,) if not isinstance(i, tuple) else i
    if len(pos) != len(shape) or not all(
        isinstance(p, int | np.integer) and not isinstance(p, bool) for p in pos
    ):
        raise ValidationError(
            f"i must index one element of x with shape {shape} ({len(shape)} integers), got i={i!r}"
        )
    for p, n in zip(pos, shape, strict=True):
        if not -n <= p < n:
            raise ValidationError(f"i={i!r} is out of range for x with shape {shape}")
    return int(
        np.ravel_multi_index(tuple(int(p) % n for p, n in zip(pos, shape, strict=True)), shape)
    )
