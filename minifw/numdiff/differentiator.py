r"""The abstract Differentiator: a step `h` and a stencil, and the entry points every scheme shares.

A [`Differentiator`][minifw.numdiff.differentiator.Differentiator] is a finite-difference scheme:
a step `h` and a [`Stencil`][minifw.numdiff.stencil.Stencil] of offsets \(o_k\) and weights
\(w_k\) with

\[
f'(x) \approx \frac{1}{h} \sum_k w_k \big(f(x + o_k h) - f(x)\big),
\]

and a rule for second derivatives (by default the same points with the weights that give
\(f''\): [`second_derivative`][minifw.numdiff.stencil.second_derivative]). Each is a
[`Rule`][minifw.numdiff.engine.Rule], a stencil with the scheme's
[`step_policy`][minifw.numdiff.differentiator.Differentiator.step_policy]. Every entry point (a
function at a point, a gradient, a Jacobian, a Hessian, the gradients of an
[`Objective`][minifw.numdiff.objective.Objective]) becomes an objective whose coordinates go
through a rule and the [engine][minifw.numdiff.engine]; the coordinates are split into tasks that
run where `workers` says ([`minifw.numdiff.tasks`][minifw.numdiff.tasks]).

Examples:
    >>> from minifw import CentralDiff
    >>> CentralDiff().derivative(lambda x0: x0 * x0 + 4.0**2.0, 3.0)
    6.00000000000378

"""

from __future__ import annotations

import abc
from typing import Literal

import attrs

from minifw.numdiff.auto_step import AutoStep
from minifw.numdiff.checks import STEP, to_step
from minifw.numdiff.engine import Rule, StepPolicy
from minifw.numdiff.first_derivatives import FirstDerivatives
from minifw.numdiff.fixed_step import FixedStep
from minifw.numdiff.imaginary_step import ImaginaryStep
from minifw.numdiff.objective import Objective
from minifw.numdiff.results import Estimate
from minifw.numdiff.second_derivatives import SecondDerivatives
from minifw.numdiff.stencil import Stencil, second_derivative
from minifw.numdiff.tasks import ENGINE_CHUNK, covered, error, estimate_tasks, gathered, value
from minifw.numdiff.workers import Workers
from minifw.typing import FloatArray, IntArray

__all__ = ["ENGINE_CHUNK", "Differentiator"]


@attrs.frozen
class Differentiator(FirstDerivatives, SecondDerivatives):
    r"""A finite-difference scheme: a step `h` and a [`Stencil`][minifw.numdiff.stencil.Stencil].

    The entry points share one engine, and each has a twin that also returns the error bound and
    the evaluations (an [`Estimate`][minifw.numdiff.results.Estimate]; the error is nan for a
    scheme that does not bound it):

    - first derivatives of a function
      ([`FirstDerivatives`][minifw.numdiff.first_derivatives.FirstDerivatives]):
      [`derivative`][minifw.numdiff.differentiator.Differentiator.derivative] (also elementwise at
      many points), [`partial`][minifw.numdiff.differentiator.Differentiator.partial],
      [`gradient`][minifw.numdiff.differentiator.Differentiator.gradient],
      [`directional`][minifw.numdiff.differentiator.Differentiator.directional] and
      [`jacobian`][minifw.numdiff.differentiator.Differentiator.jacobian] (dense, or from a
      sparsity pattern);
    - second derivatives ([`SecondDerivatives`][minifw.numdiff.second_derivatives.SecondDerivatives]):
      [`hessian`][minifw.numdiff.differentiator.Differentiator.hessian] and
      [`hessian_vector`][minifw.numdiff.differentiator.Differentiator.hessian_vector], by the
      scheme's own rule for second derivatives
      ([`second_rule`][minifw.numdiff.differentiator.Differentiator.second_rule]);
    - [`gradients`][minifw.numdiff.differentiator.Differentiator.gradients]
      ([`estimates`][minifw.numdiff.differentiator.Differentiator.estimates]) of an
      [`Objective`][minifw.numdiff.objective.Objective] over all of its parameter arrays.

    `h="auto"` chooses a step per coordinate, \(\varepsilon^{1/(p+d)} \max(1, |x_i|)\) for a
    rule of order \(p\) for the \(d\)-th derivative, with fallbacks where that stencil leaves the domain of \(f\) or
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

    @property
    def first_rule(self) -> Rule:
        """The stencil with the step policy: how first derivatives are taken."""
        return Rule(self.stencil, self.step_policy)

    @property
    def second_rule(self) -> Rule:
        r"""How second derivatives are taken: the stencil's own rule for them, with the same policy.

        The weights on the stencil's points that give \(f''\)
        ([`second_derivative`][minifw.numdiff.stencil.second_derivative]); a scheme may bring its
        own ([`ComplexStep`][minifw.numdiff.schemes.complex_step.ComplexStep],
        [`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff]).

        Examples:
            >>> from minifw import FivePointDiff
            >>> FivePointDiff().second_rule.stencil.weights
            (-0.08333333333333333, -0.08333333333333333, 1.3333333333333333, 1.3333333333333333)

        """
        return Rule(second_derivative(self.stencil), self.step_policy)

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
        done = estimate_tasks(self.first_rule, objective, workers, ENGINE_CHUNK)
        return covered(objective, gathered(objective, done, value))

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
        done = estimate_tasks(self.first_rule, objective, workers, ENGINE_CHUNK)
        values = covered(objective, gathered(objective, done, value))
        errors = gathered(objective, done, error)
        evaluations = done.evaluations
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
        return self.first_rule.estimate(objective, name, index)
