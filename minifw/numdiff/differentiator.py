r"""The abstract Differentiator: a step `h` and a stencil, and the entry points every scheme shares.

A [`Differentiator`][minifw.numdiff.differentiator.Differentiator] is a finite-difference scheme:
a step `h` and a [`Stencil`][minifw.numdiff.stencil.Stencil] of offsets \(o_k\) and weights
\(w_k\) with

\[
f'(x) \approx \frac{1}{h} \sum_k w_k \big(f(x + o_k h) - f(x)\big).
\]

Every entry point (a function at a point, one partial derivative, a gradient, the gradients of an
[`Objective`][minifw.numdiff.objective.Objective]) becomes an objective and goes through
[`estimates_along`][minifw.numdiff.differentiator.Differentiator.estimates_along], which hands
the coordinates to the scheme's [`step_policy`][minifw.numdiff.differentiator.Differentiator.step_policy]
and the [engine][minifw.numdiff.engine]. The coordinates of an objective are split into tasks
that run where `workers` says ([`minifw.numdiff.workers`][minifw.numdiff.workers]).

Examples:
    >>> from minifw import CentralDiff
    >>> CentralDiff().derivative(lambda x0: x0 * x0 + 4.0**2.0, 3.0)
    6.00000000000378

"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, Literal

import attrs
import numpy as np

from minifw._validation import describe
from minifw.errors import DifferentiationError
from minifw.numdiff.auto_step import AutoStep
from minifw.numdiff.checks import STEP, flat_index, point, real_scalar, to_step
from minifw.numdiff.engine import StepPolicy
from minifw.numdiff.fixed_step import FixedStep
from minifw.numdiff.imaginary_step import ImaginaryStep
from minifw.numdiff.method import GradientMethod
from minifw.numdiff.objective import Objective, task_chunks
from minifw.numdiff.perturbation import Perturbation, check_copyable
from minifw.numdiff.results import Estimate
from minifw.numdiff.stencil import Stencil
from minifw.numdiff.workers import Workers, check_workers, is_serial, run_tasks
from minifw.typing import ArrayLike, FloatArray, IntArray

__all__ = ["ENGINE_CHUNK", "Differentiator"]

ENGINE_CHUNK = 1 << 16
"""Most coordinates in one task of an objective split by default; bounds the engine's scratch."""


@attrs.frozen
class Differentiator(GradientMethod):
    r"""A finite-difference scheme: a step `h` and a [`Stencil`][minifw.numdiff.stencil.Stencil].

    The entry points share one engine, and each has a twin that also returns the error bound and
    the evaluations (an [`Estimate`][minifw.numdiff.results.Estimate]; the error is nan for a
    scheme that does not bound it):

    - [`derivative`][minifw.numdiff.differentiator.Differentiator.derivative]
      ([`estimate`][minifw.numdiff.differentiator.Differentiator.estimate]) of
      \(f:\mathbb{R}\to\mathbb{R}\) at a point;
    - [`partial`][minifw.numdiff.differentiator.Differentiator.partial] of
      \(f:\mathbb{R}^n\to\mathbb{R}\) with respect to one coordinate, the others fixed;
    - [`gradient`][minifw.numdiff.differentiator.Differentiator.gradient]
      ([`gradient_estimate`][minifw.numdiff.differentiator.Differentiator.gradient_estimate]) of
      \(f\) at an array of any shape, perturbing it in place and restoring it exactly;
    - [`gradients`][minifw.numdiff.differentiator.Differentiator.gradients]
      ([`estimates`][minifw.numdiff.differentiator.Differentiator.estimates]) of an
      [`Objective`][minifw.numdiff.objective.Objective] over all of its parameter arrays.

    `h="auto"` chooses a step per coordinate, \(\varepsilon^{1/(p+1)} \max(1, |x_i|)\) for a
    scheme of order \(p\), with fallbacks where that stencil leaves the domain of \(f\) or
    reaches near 0 ([`minifw.numdiff.auto_step`][minifw.numdiff.auto_step]). A fixed step must be
    large enough for the point ([`minifw.numdiff.fixed_step`][minifw.numdiff.fixed_step]): where
    float spacing blurs it, it is refused, or a
    [`StepWarning`][minifw.numdiff.fixed_step.StepWarning] says so.

    Examples:
        A new scheme is a subclass with a [`stencil`][minifw.numdiff.differentiator.Differentiator.stencil]
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

        `h="auto"` near the edge of the domain of \(\log\), and a fixed step too small for the
        point:

        >>> import math
        >>> from minifw import CentralDiff
        >>> CentralDiff(h="auto").derivative(math.log, 1e-9)  # 1e-4 would step below 0
        1000000000.0
        >>> CentralDiff(h=1e-15).derivative(lambda x: x * x, 1.0)
        Traceback (most recent call last):
        ...
        minifw.errors.DifferentiationError: step h=1e-15 is too small for x=1.0: float64 numbers there are 2.2e-16 apart, so x + 1e-15 is off by up to 11% of the step; use h >= 1.1e-10 or h='auto'

    """

    h: float | Literal["auto"] = attrs.field(default=1e-4, converter=to_step, validator=STEP)

    @property
    @abc.abstractmethod
    def stencil(self) -> Stencil:
        """The offsets (in units of `h`) and weights of this scheme."""

    @property
    def step_policy(self) -> StepPolicy:
        """How the engine takes this scheme's steps: the one choice of mode, made here.

        A complex stencil takes [`ImaginaryStep`][minifw.numdiff.imaginary_step.ImaginaryStep],
        `h="auto"` [`AutoStep`][minifw.numdiff.auto_step.AutoStep], a float `h`
        [`FixedStep`][minifw.numdiff.fixed_step.FixedStep];
        [`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff] brings its own.
        """
        if self.stencil.is_complex:
            return ImaginaryStep(self.h)
        if isinstance(self.h, str):  # "auto", the one word a step may be
            return AutoStep()
        return FixedStep(self.h)

    def derivative(self, f: Callable[[float], Any], x: float) -> float:
        """Return the derivative of a function of one real variable at `x`.

        Examples:
            >>> from minifw import CentralDiff
            >>> CentralDiff().derivative(lambda x: 0.01 * x**2 + 0.1 * x, 5.0)
            0.1999999999990898

        """
        objective = _scalar_objective(f, real_scalar(x, "x"))
        return float(self.estimates_along(objective, "x", np.zeros(1, dtype=np.intp)).value[0])

    def estimate(self, f: Callable[[float], Any], x: float) -> Estimate[float]:
        """Return the derivative of `f` at `x`, its error bound (nan if none) and the calls of `f`.

        Examples:
            >>> from minifw import CentralDiff, RichardsonDiff
            >>> result = RichardsonDiff().estimate(lambda x: x**3, 2.0)
            >>> result.value, result.error < 1e-10, result.evaluations
            (12.0, True, 7)
            >>> CentralDiff().estimate(lambda x: x**3, 2.0).evaluations  # f(x), f(x + h), f(x - h)
            3

        """
        calls = 0

        def counted(v: float) -> Any:
            nonlocal calls
            calls += 1
            return f(v)

        objective = _scalar_objective(counted, real_scalar(x, "x"))
        found = self.estimates_along(objective, "x", np.zeros(1, dtype=np.intp))
        return Estimate(float(found.value[0]), float(found.error[0]), calls)

    def partial(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, i: int | tuple[int, ...]
    ) -> float:
        r"""Return \(\partial f / \partial x_i\) at `x`, the other coordinates fixed.

        `i` is an index into `x` (an int for a vector, a tuple for any shape).

        Examples:
            >>> from minifw import CentralDiff
            >>> CentralDiff().partial(lambda x: x[0]**2 + x[1]**2, [3.0, 4.0], 1)
            7.999999999999119

        """
        arr = point(x, "x")
        flat = flat_index(i, arr.shape)
        objective = _array_objective(f, arr)
        found = self.estimates_along(objective, "x", np.array([flat], dtype=np.intp))
        return float(found.value[0])

    def gradient(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, *, workers: Workers = None
    ) -> FloatArray:
        r"""Return \(\nabla f(x)\), an array of `x`'s shape.

        A float64 array `x` is perturbed in place, one coordinate at a time, so `f` may also ignore
        its argument and read the array through a closure. Afterwards `x` holds exactly its original
        values, also when `f` raises. Other array-likes are copied first. `workers` spreads the
        coordinates over processes or an executor, as in
        [`gradients`][minifw.numdiff.differentiator.Differentiator.gradients] (then each worker
        perturbs a copy of `x`).

        Examples:
            >>> import numpy as np
            >>> from minifw import CentralDiff
            >>> CentralDiff().gradient(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
            array([6., 8.])

        """
        arr = point(x, "x")
        check_workers(workers)
        return self.gradients(_array_objective(f, arr), workers=workers)["x"]

    def gradient_estimate(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, *, workers: Workers = None
    ) -> Estimate[FloatArray]:
        """Return the gradient of `f` at `x` with error bounds and evaluations, as `gradient` does.

        Examples:
            >>> import numpy as np
            >>> from minifw import RichardsonDiff
            >>> result = RichardsonDiff().gradient_estimate(lambda v: np.sum(np.sin(v)), [0.5, 1.0])
            >>> bool(np.all(np.abs(result.value - np.cos([0.5, 1.0])) <= result.error))
            True
            >>> result.evaluations  # 1 at the point, 6 and 6 along the coordinates
            13

        """
        arr = point(x, "x")
        check_workers(workers)
        return self.estimates(_array_objective(f, arr), workers=workers)["x"]

    def gradients(self, objective: Objective, *, workers: Workers = None) -> dict[str, FloatArray]:
        """Return the gradient of an `Objective` for each of its parameter arrays.

        The values of [`estimates`][minifw.numdiff.differentiator.Differentiator.estimates],
        computed the same way.

        Examples:
            >>> import numpy as np
            >>> from minifw import CentralDiff, Perturbation
            >>> w, b = np.array([[1.0, 2.0]]), np.array([0.5])
            >>> objective = Perturbation(lambda: float((w @ [1.0, 1.0] + b)[0] ** 2), {"w": w, "b": b})
            >>> {name: g.round(6).tolist() for name, g in CentralDiff().gradients(objective).items()}
            {'w': [[7.0, 7.0]], 'b': [7.0]}

        """
        chunks, parts = self._run(objective, workers)
        return _covered(objective, _gathered(objective, chunks, parts, _value))

    def estimates(
        self, objective: Objective, *, workers: Workers = None
    ) -> dict[str, Estimate[FloatArray]]:
        """Return the gradient of an `Objective` with error bounds, for each parameter array.

        The coordinates are split into tasks fixed by the objective
        ([`task_chunks`][minifw.numdiff.objective.task_chunks]), each run with one BLAS thread.
        `workers` says where ([`minifw.numdiff.workers`][minifw.numdiff.workers]): `None` or `1` in
        this process, one task after the other; an `int` for a pool of that many processes,
        started and shut down by this call; a map-like callable such as `pool.map`; or a
        `concurrent.futures.Executor` (threads, processes, or
        `dask.distributed.Client.get_executor()`). Each worker evaluates its own copy of the
        objective, so the parameters are never shared, and the result is the same to the last
        bit whatever the workers. Every array's estimate carries the evaluations of all of them.

        Examples:
            >>> import numpy as np
            >>> from minifw import Perturbation, RichardsonDiff
            >>> w = np.array([0.5, 2.0])
            >>> found = RichardsonDiff().estimates(Perturbation(lambda: float(np.sum(w**3)), {"w": w}))
            >>> found["w"].value.tolist(), bool(np.all(found["w"].error < 1e-11))
            ([0.75, 12.0], True)
            >>> found["w"].evaluations  # 1 at the point, 6 and 6 along the coordinates
            13

        """
        chunks, parts = self._run(objective, workers)
        values = _covered(objective, _gathered(objective, chunks, parts, _value))
        errors = _gathered(objective, chunks, parts, _error)
        # the value at the point, shared by every coordinate, and the changes of every task
        evaluations = 1 + sum(found.evaluations for part in parts for found in part.values())
        return {name: Estimate(values[name], errors[name], evaluations) for name in values}

    def estimates_along(
        self, objective: Objective, name: str, index: IntArray
    ) -> Estimate[FloatArray]:
        """Return the estimates along coordinates `index` (flat) of `objective.params[name]`.

        One task of [`estimates`][minifw.numdiff.differentiator.Differentiator.estimates], in
        this process; `evaluations` counts the changes asked of the objective.

        Examples:
            >>> import numpy as np
            >>> from minifw import CentralDiff, Perturbation
            >>> w = np.array([1.0, 2.0, 3.0])
            >>> objective = Perturbation(lambda: float(np.sum(w**2)), {"w": w})
            >>> CentralDiff().estimates_along(objective, "w", np.array([2])).value.round(6)
            array([6.])

        """
        return self.step_policy.estimate(self.stencil, objective, name, index)

    def _run(
        self, objective: Objective, workers: Workers
    ) -> tuple[tuple[dict[str, IntArray], ...], list[dict[str, Estimate[FloatArray]]]]:
        """Split the objective into its tasks and run them where `workers` says."""
        check_workers(workers)
        if not is_serial(workers):
            check_copyable(objective)
        chunks = task_chunks(objective, ENGINE_CHUNK)
        return chunks, run_tasks(_chunk_estimates, (self, objective), chunks, workers)


def _chunk_estimates(
    job: tuple[Differentiator, Objective], chunk: dict[str, IntArray]
) -> dict[str, Estimate[FloatArray]]:
    """One task of `Differentiator.estimates`: the estimates of a chunk's coordinates."""
    differentiator, objective = job
    return {
        name: differentiator.estimates_along(objective, name, index)
        for name, index in chunk.items()
    }


def _value(found: Estimate[FloatArray]) -> FloatArray:
    return found.value


def _error(found: Estimate[FloatArray]) -> FloatArray:
    return found.error


def _gathered(
    objective: Objective,
    chunks: tuple[dict[str, IntArray], ...],
    parts: list[dict[str, Estimate[FloatArray]]],
    field: Callable[[Estimate[FloatArray]], FloatArray],
) -> dict[str, FloatArray]:
    """Put one field of the tasks' estimates together, array by array (nan where none is)."""
    found = {name: np.full(arr.shape, np.nan) for name, arr in objective.params.items()}
    for chunk, part in zip(chunks, parts, strict=True):
        for name, index in chunk.items():
            found[name].reshape(-1)[index] = field(part[name])
    return found


def _covered(objective: Objective, values: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """Return the gathered values, refusing a coordinate that no task computed.

    Every derivative computed is finite, so nan marks a coordinate left out.
    """
    for name, value in values.items():
        if np.isnan(value).any():
            flat = int(np.flatnonzero(np.isnan(value))[0])
            raise DifferentiationError(
                f"{type(objective).__name__}.chunks() leaves out "
                f"{describe(name, value.shape, flat)}: the tasks must hold every coordinate"
            )
    return values


def _scalar_objective(f: Callable[[Any], Any], x: float) -> Perturbation:
    """Return the objective of `f` at a number; `f` gets a Python float (or complex)."""
    arrays = {"x": np.array(x)}
    return Perturbation(lambda: f(arrays["x"].item()), arrays)


def _array_objective(f: Callable[[Any], Any], arr: FloatArray) -> Perturbation:
    """Return the objective of `f` at an array; `f` gets it (or a complex copy of it)."""
    arrays = {"x": arr}
    return Perturbation(lambda: f(arrays["x"]), arrays)
