r"""Richardson extrapolation of central differences, with an error bound: `RichardsonDiff`.

[`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff] brings its own step policy,
[`Extrapolation`][minifw.numdiff.schemes.richardson.Extrapolation], which runs one Richardson table
([`minifw.numdiff.tables`][minifw.numdiff.tables]: the table, its steps, its bound and the checks of
what it found) per coordinate and output, side by side, and batches their requests into few calls
of the objective. Second derivatives extrapolate the central second difference the same way.
"""

from __future__ import annotations

import math
from typing import Literal, final

import attrs
import numpy as np

from minifw._validation import to_float
from minifw.errors import DifferentiationError
from minifw.numdiff.checks import STEP, TOLERANCE, to_step
from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.engine import (
    Rule,
    StepPolicy,
    bases,
    changes,
    coordinate_values,
    pointwise_changes,
    relative_scales,
)
from minifw.numdiff.fixed_step import check_steps, named
from minifw.numdiff.objective import Differentiable, Pointwise, output_shape, where
from minifw.numdiff.results import Estimate
from minifw.numdiff.schemes.central import CENTRAL
from minifw.numdiff.stencil import Stencil, second_derivative
from minifw.numdiff.tables import (
    Coordinate,
    FirstDerivative,
    Outcome,
    Quotient,
    Request,
    SecondDerivative,
    coordinate,
    run,
)
from minifw.numdiff.vector_tables import first_derivatives, first_steps_of, replayed, resumed
from minifw.typing import FloatArray, IntArray

__all__ = ["CENTRAL_SECOND", "Extrapolation", "RichardsonDiff"]

CENTRAL_SECOND = second_derivative(CENTRAL)
"""The central second difference \\((f(x+h) - 2f(x) + f(x-h)) / h^2\\), which Richardson extrapolates."""

_QUOTIENTS: dict[int, Quotient] = {1: FirstDerivative(), 2: SecondDerivative()}


@final
class _Evaluations:
    """The changes a task's tables ask for, each (coordinate, step) evaluated once.

    Table `j` is output `j % outputs` of coordinate `j // outputs`; the tables of one coordinate
    share its evaluations (a step asked by several is computed once, also in a later round), and
    what a coordinate asked for is dropped once none of its tables asks any more.
    """

    def __init__(self, objective: Differentiable, name: str, index: IntArray, outputs: int) -> None:
        self.objective, self.name, self.index, self.outputs = objective, name, index, outputs
        self.known: dict[int, dict[float, FloatArray]] = {}
        self.count = 0

    def __call__(self, groups: dict[Request, list[int]]) -> dict[int, list[float]]:
        """Return the changes of every table of a round, computing what is not known yet.

        A request of zero steps (f at the point again, for noise) is always evaluated afresh.
        """
        active = {j // self.outputs for members in groups.values() for j in members}
        for k in [k for k in self.known if k not in active]:
            del self.known[k]  # every table of k has finished
        wanted: dict[float, dict[int, None]] = {}
        repeats: dict[int, list[float]] = {}
        for request, members in groups.items():
            if not any(request):
                repeats.update(self._repeats(request, members))
                continue
            for k in dict.fromkeys(j // self.outputs for j in members):
                known = self.known.setdefault(k, {})
                for step in request:
                    if step not in known:
                        wanted.setdefault(step, {})[k] = None
        self._compute({step: list(ks) for step, ks in wanted.items()})
        found = {
            j: [float(self.known[j // self.outputs][s][j % self.outputs]) for s in request]
            for request, members in groups.items()
            if any(request)
            for j in members
        }
        return found | repeats

    def _repeats(self, request: Request, members: list[int]) -> dict[int, list[float]]:
        """Evaluate f at the point again, `len(request)` times, for each coordinate asking."""
        ks = list(dict.fromkeys(j // self.outputs for j in members))
        rows = np.array(ks, dtype=np.intp)
        zeros = np.zeros(len(request))
        if isinstance(self.objective, Pointwise):
            steps = np.zeros((len(ks), len(request)))
            found = pointwise_changes(self.objective, self.name, self.index[rows], steps)
        else:
            found = changes(self.objective, self.name, self.index[rows], zeros, tolerant=True)
        self.count += found.shape[0] * found.shape[1]
        at = {k: found[i] for i, k in enumerate(ks)}
        return {j: at[j // self.outputs][:, j % self.outputs].tolist() for j in members}

    def _compute(self, wanted: dict[float, list[int]]) -> None:
        """Evaluate the changes of coordinates `wanted[step]` at each step."""
        if isinstance(self.objective, Pointwise):  # every (coordinate, step) in one call
            pairs = [(k, step) for step, ks in wanted.items() for k in ks]
            if pairs:
                rows = np.array([k for k, _ in pairs], dtype=np.intp)
                steps = np.array([[step] for _, step in pairs])
                found = pointwise_changes(self.objective, self.name, self.index[rows], steps)
                for (k, step), value in zip(pairs, found.reshape(len(pairs), 1), strict=True):
                    self.known[k][step] = value
                self.count += len(pairs)
            return
        for step, ks in wanted.items():
            rows = np.array(ks, dtype=np.intp)
            found = changes(
                self.objective, self.name, self.index[rows], np.array([step]), tolerant=True
            )
            for k, value in zip(ks, found[:, 0], strict=True):
                self.known[k][step] = value
            self.count += len(ks)


@final
@attrs.frozen
class Extrapolation(StepPolicy):
    """Richardson's step policy: a table per coordinate and output, run side by side.

    `h` is the first step (`None` for `"auto"`: see
    [`first_steps`][minifw.numdiff.tables.first_steps]); the tables stop at
    `atol + rtol * |derivative|`. The stencil says which derivative (its `derivative`): the
    central first or second difference is what the tables extrapolate.
    """

    h: float | None
    rtol: float
    atol: float

    def scales(self, values: FloatArray) -> FloatArray:
        """Relative for `"auto"` (the first step scales with the point), 1 for a fixed first step."""
        return relative_scales(values) if self.h is None else np.ones(values.shape)

    def estimate(
        self, stencil: Stencil, objective: Differentiable, name: str, index: IntArray
    ) -> Estimate[FloatArray]:
        """Return the extrapolations along coordinates `index` of `name`, with their bounds.

        A coordinate where `f` is not finite on either side for any step tried, or where the
        table finds no derivative (a jump, a kink, a singularity), is an error naming it.
        """
        quotient = _QUOTIENTS[stencil.derivative]
        arr = objective.params[name]
        values = coordinate_values(arr, index)
        base = bases(objective, name, index)
        outputs = base.shape[1]
        first, small = first_steps_of(values, self.h, quotient)
        starts = list(zip(first.tolist(), small.tolist(), strict=True))
        if self.h is not None:
            check_steps(
                self.h,
                np.stack([first, -first], axis=1),
                values,
                name,
                named(objective, name, index),
            )
        if isinstance(objective, Pointwise) and outputs == 1 and stencil.derivative == 1:
            # an elementwise f: all the points' tables as arrays (equal to the per-point ones)
            value, error, outcomes, count = self._side_by_side(
                objective, name, index, values, base[:, 0], (first, small)
            )
        else:
            tables = [
                coordinate(v, b, step, smaller, self.rtol, self.atol, quotient)
                for v, (step, smaller), row in zip(
                    values.tolist(), starts, base.tolist(), strict=True
                )
                for b in row
            ]
            evaluations = _Evaluations(objective, name, index, outputs)
            results, count = run(tables, evaluations), evaluations.count
            value = np.array([r.value for r in results])
            error = np.array([r.error for r in results])
            outcomes = dict(enumerate(results))
        for j, outcome in outcomes.items():  # in order: the first coordinate without one is named
            if outcome.problem is not None or not math.isfinite(outcome.value):
                _refuse(outcome, objective, name, index, values, starts, j // outputs)
        shape = (index.size, *output_shape(objective))
        return Estimate(value.reshape(shape), error.reshape(shape), count)

    def _side_by_side(
        self,
        objective: Differentiable,
        name: str,
        index: IntArray,
        values: FloatArray,
        base: FloatArray,
        steps: tuple[FloatArray, FloatArray],
    ) -> tuple[FloatArray, FloatArray, dict[int, Outcome], int]:
        """Run the first-derivative tables of a pointwise objective as arrays where they can be.

        The points the arrays leave go on in their own tables from where the arrays left them
        ([`replayed`][minifw.numdiff.vector_tables.replayed]), with what they were told known;
        their outcomes are returned beside the values and bounds of all the points.
        """
        first, small = steps
        pointwise = objective
        if not isinstance(pointwise, Pointwise):
            raise TypeError(f"{type(objective).__name__} is not pointwise")

        def at_steps(rows: IntArray, steps: FloatArray) -> FloatArray:
            found = pointwise_changes(pointwise, name, index[rows], steps[:, None]).reshape(-1)
            if found.dtype.kind == "c":  # as the per-point tables take them: float() of each
                return np.array([float(v) for v in found])
            return np.asarray(found, dtype=np.float64)

        def again(rows: IntArray) -> FloatArray:
            return at_steps(rows, np.zeros(rows.size))

        found = first_derivatives(values, base, first, small, self.rtol, self.atol, at_steps, again)
        left = sorted(found.transcripts)
        if not left:
            return found.value, found.error, {}, found.evaluations
        tables: list[Coordinate] = []
        going: list[int] = []
        outcomes: dict[int, Outcome] = {}
        for k in left:
            own = coordinate(
                float(values[k]),
                float(base[k]),
                float(first[k]),
                float(small[k]),
                self.rtol,
                self.atol,
                FirstDerivative(),
            )
            now = replayed(own, found.transcripts[k])
            if isinstance(now, Outcome):  # the answers so far finish it
                outcomes[k] = now
            else:
                tables.append(resumed(own, now))
                going.append(k)
        evaluations = _Evaluations(objective, name, index[going], 1)
        for position, k in enumerate(going):  # what each was told is known
            evaluations.known[position] = {
                step: np.array([change])
                for request, answer in found.transcripts[k]
                if any(request)
                for step, change in zip(request, answer, strict=True)
            }
        outcomes.update(zip(going, run(tables, evaluations), strict=True))
        outcomes = dict(sorted(outcomes.items()))
        value, error = found.value.copy(), found.error.copy()
        value[left] = [outcome.value for outcome in outcomes.values()]
        error[left] = [outcome.error for outcome in outcomes.values()]
        return value, error, outcomes, found.evaluations + evaluations.count


def _refuse(
    outcome: Outcome,
    objective: Differentiable,
    name: str,
    index: IntArray,
    values: FloatArray,
    starts: list[tuple[float, float]],
    k: int,
) -> None:
    """Raise where a table found no derivative, naming the coordinate."""
    at = where(objective, name, int(index[k]))
    if outcome.problem is not None:
        raise DifferentiationError(
            f"f has no derivative at {at}={float(values[k])!r} that differences can find: "
            f"{outcome.problem}; a smooth f would not do this"
        )
    if not math.isfinite(outcome.value):
        raise DifferentiationError(
            f"f is not finite on either side of {at}={float(values[k])!r} for any step tried "
            f"(from {starts[k][0]:g} down): {at} is on the edge of f's domain"
        )


@final
@attrs.frozen
class RichardsonDiff(Differentiator):
    r"""Central differences at \(h, h/2, h/4, \dots\) extrapolated to \(h = 0\), with error bounds.

    The central difference is \(D(h) = f'(x) + a_1 h^2 + a_2 h^4 + \dots\); Richardson extrapolation
    combines \(D\) at several steps to cancel the \(a_j\) terms one by one (Neville's table in
    \(h^2\)). Each coordinate stops on its own, when its error bound meets
    `atol + rtol * |derivative|`, when rounding dominates the bound, or when the bound stops
    improving. The bound ([`minifw.numdiff.tables`][minifw.numdiff.tables] derives it) is
    deliberately pessimistic: it is the error of the previous, less accurate extrapolation plus a
    rounding bound with the noise the values show, so the value is usually far more accurate than
    it says (`benchmarks/accuracy.py` and `benchmarks/derivatives.py` measure the errors, the
    bounds and the evaluations against other libraries; `benchmarks/README.md` has the figures).

    `h="auto"` starts at \(2^{-5} \max(1, |x|)\) (second derivatives: \(2^{-3} \max(1, |x|)\)),
    rounded down to a power of two, and restarts smaller where that is too large for the function;
    a float `h` is the first step. Near a domain edge (`f` nan, inf, or raising `ValueError` or
    `ArithmeticError` on one side) the step shrinks until the stencil fits, and where it never
    does, a one-sided table is used; a coordinate where neither side works is an error. So is a
    point where f has no derivative the differences can find: a jump, a kink (`abs` at 0) or a
    singularity, told by forward and backward differences that do not settle or do not agree.

    Second derivatives (Hessians) extrapolate the central second difference
    \((f(x+h) - 2f(x) + f(x-h)) / h^2 = f''(x) + b_1 h^2 + \dots\) the same way
    ([`second_rule`][minifw.numdiff.differentiator.Differentiator.second_rule]).

    [`estimate`][minifw.numdiff.differentiator.Differentiator.estimate],
    [`gradient_estimate`][minifw.numdiff.differentiator.Differentiator.gradient_estimate] and
    [`estimates`][minifw.numdiff.differentiator.Differentiator.estimates] return the bounds and the
    number of evaluations beside the values, as for every scheme (whose bound is nan);
    [`derivative`][minifw.numdiff.differentiator.Differentiator.derivative],
    [`gradient`][minifw.numdiff.differentiator.Differentiator.gradient] and
    [`gradients`][minifw.numdiff.differentiator.Differentiator.gradients] return the values alone.

    Examples:
        >>> import math
        >>> result = RichardsonDiff().estimate(math.exp, 1.0)
        >>> abs(result.value - math.e) <= result.error <= 1e-8 * math.e, result.evaluations
        (True, 7)
        >>> RichardsonDiff().derivative(math.log, 1e-3)  # math.log raises below 0
        1000.0000000000994
        >>> RichardsonDiff().derivative(abs, 0.0)
        Traceback (most recent call last):
        ...
        minifw.errors.DifferentiationError: f has no derivative at x=0.0 that differences can find: the forward differences give 1 (+-...) and the backward ones -1 (+-...), and the central ones 0 (a kink or a jump); a smooth f would not do this

    """

    h: float | Literal["auto"] = attrs.field(default="auto", converter=to_step, validator=STEP)
    rtol: float = attrs.field(default=1e-8, converter=to_float, validator=TOLERANCE)
    atol: float = attrs.field(default=0.0, converter=to_float, validator=TOLERANCE)

    @property
    def stencil(self) -> Stencil:
        """The central difference, which the table extrapolates."""
        return CENTRAL

    @property
    def step_policy(self) -> Extrapolation:
        """Its own: [`Extrapolation`][minifw.numdiff.schemes.richardson.Extrapolation]."""
        first = None if isinstance(self.h, str) else self.h
        return Extrapolation(first, self.rtol, self.atol)

    @property
    def second_rule(self) -> Rule:
        """The central second difference, extrapolated by the same policy."""
        return Rule(CENTRAL_SECOND, self.step_policy)
