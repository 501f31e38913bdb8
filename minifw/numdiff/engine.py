r"""The engine: a stencil evaluated through an objective's changes, for many coordinates at once.

For the coordinates \(i\) of one task, the engine asks the
[`Objective`][minifw.numdiff.objective.Objective] for the changes
\(c_{ik} = L(\theta + o_k h_i e_i) - L(\theta)\) at the stencil's offsets \(o_k\) and returns
\(\operatorname{Re} \frac{1}{h_i^d} \sum_k w_k c_{ik}\) (\(d\) the stencil's derivative, 1 or 2).
How the steps \(h_i\) are chosen and checked, and what happens where \(f\) is not finite, is a
[`StepPolicy`][minifw.numdiff.engine.StepPolicy]: a fixed step
([`minifw.numdiff.fixed_step`][minifw.numdiff.fixed_step]), `h="auto"`
([`minifw.numdiff.auto_step`][minifw.numdiff.auto_step]), the complex step
([`minifw.numdiff.imaginary_step`][minifw.numdiff.imaginary_step]) or Richardson's table
([`minifw.numdiff.schemes.richardson`][minifw.numdiff.schemes.richardson]). A
[`Rule`][minifw.numdiff.engine.Rule] is a stencil with its policy: what a scheme does for one
derivative order.

An [`ArrayObjective`][minifw.numdiff.objective.ArrayObjective] has an array for a value: the engine
then carries an axis of outputs through every step, and a coordinate's estimate is a column of a
Jacobian. Inside the engine, changes have the shape `(K, M, P)` (coordinates, steps, outputs; one
output for a scalar objective) and values `(K, P)`.

Examples:
    >>> import numpy as np
    >>> from minifw import Perturbation, Stencil
    >>> w = np.array([3.0, 4.0])
    >>> objective = Perturbation(lambda: float(np.sum(w**2)), {"w": w})
    >>> changes = checked_changes(objective, "w", np.array([0, 1]), np.array([0.5, -0.5]))
    >>> changes[:, :, 0]
    array([[ 3.25, -2.75],
           [ 4.25, -3.75]])
    >>> combine(Stencil((1.0, -1.0), (0.5, -0.5)), changes, np.array([0.5, 0.5]))[:, 0]
    array([6., 8.])

"""

from __future__ import annotations

import abc
import contextlib
import math
from typing import Any, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError, MinifwError
from minifw.numdiff.objective import (
    CombinedChanges,
    Differentiable,
    Pointwise,
    output_shape,
    where,
)
from minifw.numdiff.results import Estimate
from minifw.numdiff.stencil import Stencil
from minifw.typing import FloatArray, IntArray

__all__ = [
    "DOMAIN_ERRORS",
    "Rule",
    "StencilPolicy",
    "StepPolicy",
    "Taken",
    "bases",
    "changes",
    "checked_changes",
    "combine",
    "combined_quotients",
    "coordinate_values",
    "grouped_changes",
    "pointwise_changes",
    "relative_scales",
]

DOMAIN_ERRORS = (ValueError, ArithmeticError)
"""What f raises where it is not defined.

A policy that steps around an edge (`h="auto"`, Richardson) takes these as "not finite here";
minifw's own errors always propagate.
"""


@attrs.frozen
class StepPolicy(abc.ABC):
    """How a scheme steps along coordinates and turns the objective's changes into derivatives."""

    @abc.abstractmethod
    def estimate(
        self, stencil: Stencil, objective: Differentiable, name: str, index: IntArray
    ) -> Estimate[FloatArray]:
        """Return the estimates along coordinates `index` (flat) of `objective.params[name]`.

        `value` and `error` have the shape `(K,) + output_shape(objective)`; `evaluations`
        counts the changes asked of the objective (not the value at the point).
        """

    @abc.abstractmethod
    def scales(self, values: FloatArray) -> FloatArray:
        r"""Return how far this policy's steps reach at coordinates of these values, relatively.

        1 everywhere for an absolute step (a float `h`); \(\max(1, |x|)\) as a power of two for
        steps relative to the point (`h="auto"`, Richardson's first step). A line through several
        coordinates moves each by its scale, as a step of its own would
        ([`minifw.numdiff.lines`][minifw.numdiff.lines]).
        """


def relative_scales(values: FloatArray) -> FloatArray:
    r"""Return \(\max(1, |x|)\) rounded down to a power of two: the scale of a relative step.

    Examples:
        >>> relative_scales(np.array([0.5, 3.0, -1e6]))
        array([1.00000e+00, 2.00000e+00, 5.24288e+05])

    """
    _, exponent = np.frexp(np.maximum(1.0, np.abs(values)))
    scales: FloatArray = np.ldexp(1.0, exponent - 1)
    return scales


@final
@attrs.frozen
class Rule:
    """A stencil and the policy that takes its steps: what a scheme does for one derivative order.

    Examples:
        >>> import numpy as np
        >>> from minifw import CentralDiff, Perturbation
        >>> w = np.array([3.0])
        >>> rule = CentralDiff(h=0.5).second_rule  # (f(x+h) - 2f(x) + f(x-h)) / h^2
        >>> rule.estimate(Perturbation(lambda: float(w[0] ** 3), {"w": w}), "w", np.array([0])).value
        array([18.])

    """

    stencil: Stencil
    policy: StepPolicy

    def estimate(
        self, objective: Differentiable, name: str, index: IntArray
    ) -> Estimate[FloatArray]:
        """Return the policy's estimates of this stencil along coordinates `index` of `name`."""
        return self.policy.estimate(self.stencil, objective, name, index)


@attrs.frozen
class StencilPolicy(StepPolicy):
    """A stencil evaluated at one step per coordinate: what every fixed-stencil scheme does.

    The engine reads straight: steps, their check, the changes, the weighted sum, then
    [`settle`][minifw.numdiff.engine.StencilPolicy.settle], where a policy repairs or refuses
    what the changes showed. A fixed stencil has no error bound: `error` is nan.
    """

    @property
    @abc.abstractmethod
    def tolerant(self) -> bool:
        """Whether a change that is not finite (or raised a domain error) becomes nan, not an error."""

    @abc.abstractmethod
    def steps(self, stencil: Stencil, values: FloatArray) -> FloatArray:
        """Return the step of each coordinate, for this stencil at these values."""

    @abc.abstractmethod
    def check(
        self,
        objective: Differentiable,
        name: str,
        index: IntArray,
        values: FloatArray,
        steps: NDArray[Any],
    ) -> None:
        """Refuse steps (`steps[k, m]`: coordinate `index[k]`, offset `m`) before any is taken."""

    @abc.abstractmethod
    def settle(self, taken: Taken, result: FloatArray) -> int:
        """Repair (in place) or refuse the values in `result`; return the further evaluations."""

    @property
    def reads_changes(self) -> bool:
        """Whether [`settle`][minifw.numdiff.engine.StencilPolicy.settle] reads the changes themselves.

        A policy that does not lets an objective that can
        ([`CombinedChanges`][minifw.numdiff.objective.CombinedChanges]) give the stencil's weighted
        sum of changes directly.
        """
        return True

    def estimate(
        self, stencil: Stencil, objective: Differentiable, name: str, index: IntArray
    ) -> Estimate[FloatArray]:
        """Return the stencil's values along coordinates `index` of `name` (see the class text)."""
        values = coordinate_values(objective.params[name], index)
        h = self.steps(stencil, values)
        offsets = np.array(stencil.offsets)
        self.check(objective, name, index, values, h[:, None] * offsets)
        if not self.reads_changes and isinstance(objective, CombinedChanges):
            direct = combined_quotients(stencil, objective, name, index, h)
            if direct is not None:
                return Estimate(direct, np.full(index.size, math.nan), index.size * offsets.size)
        found = grouped_changes(objective, name, index, h, offsets, tolerant=self.tolerant)
        result = combine(stencil, found, h)
        more = self.settle(Taken(stencil, objective, name, index, values, h, found), result)
        shape = (index.size, *output_shape(objective))
        value = result.reshape(shape)
        return Estimate(value, np.full(shape, math.nan), index.size * offsets.size + more)


@final
@attrs.frozen(eq=False)
class Taken:
    """One task's stencil steps, as a policy settles them: where, how far, and what f did.

    The coordinates `index` (flat) of `objective.params[name]` have the `values`; each was
    stepped by `h[k] * stencil.offsets`, and `changes[k]` (steps by outputs) holds what the
    objective reported.
    """

    stencil: Stencil
    objective: Differentiable
    name: str
    index: IntArray
    values: FloatArray
    h: FloatArray
    changes: NDArray[Any]


def coordinate_values(arr: FloatArray, index: IntArray) -> FloatArray:
    """Return the values of the coordinates `index` (flat, C order) of `arr`."""
    values: FloatArray = arr.reshape(-1)[index] if arr.flags.c_contiguous else arr.flat[index]
    return values


def bases(objective: Differentiable, name: str, index: IntArray) -> FloatArray:
    """Return the value at the point for each coordinate `index`, shape `(K, P)`.

    One value shared by every coordinate (broadcast), or each coordinate's own for a
    [`Pointwise`][minifw.numdiff.objective.Pointwise] objective. Evaluating it is also the check
    that f is defined at the point itself.
    """
    if isinstance(objective, Pointwise):
        own = np.asarray(objective.values_at(name, index), dtype=np.float64)
        return own.reshape(index.size, 1)
    value = np.asarray(objective.value(), dtype=np.float64).reshape(1, -1)
    return np.broadcast_to(value, (index.size, value.shape[1]))


def combine(stencil: Stencil, found: NDArray[Any], h: FloatArray) -> FloatArray:
    r"""Return the real part of \(\frac{1}{h^d} \sum_k w_k c_k\), one value per row of changes.

    `found` is `(K, M)` or `(K, M, P)`; the result drops the steps' axis.
    """
    total = np.zeros((found.shape[0], *found.shape[2:]), dtype=found.dtype)
    # Term by term, in stencil order: for the central difference this is
    # 0.5 * (f(x+h) - f(x-h)) / h, the book's number to the last digit.
    for k, weight in enumerate(stencil.weights):
        total += weight * found[:, k]
    return _divided(stencil, total, h.reshape(-1, *([1] * (found.ndim - 2))))


def _divided(stencil: Stencil, total: NDArray[Any], scale: FloatArray) -> FloatArray:
    r"""Return the real part of \(\text{total} / h^d\), \(d\) the stencil's derivative order."""
    real = total.real if stencil.is_complex else total
    # h**2 is exact for a power of two; otherwise dividing twice keeps h**2 from underflowing
    result: FloatArray = real / scale if stencil.derivative == 1 else real / scale / scale
    return result


def combined_quotients(
    stencil: Stencil, objective: CombinedChanges, name: str, index: IntArray, h: FloatArray
) -> FloatArray | None:
    r"""Return \(\frac{1}{h^d} \sum_k w_k c_k\) from the objective's own weighted sum, or `None`.

    `None` where that does not apply (steps that differ by coordinate) or does not give finite
    numbers of the right shape: the changes themselves then say where.
    """
    if index.size == 0 or np.any(h != h[0]):
        return None
    offsets = float(h[0]) * np.array(stencil.offsets)
    total = np.asarray(objective.combined_changes(name, index, offsets, np.array(stencil.weights)))
    if total.shape != index.shape or total.dtype.kind not in "fc" or not np.all(np.isfinite(total)):
        return None
    return _divided(stencil, total, h)


def grouped_changes(
    objective: Differentiable,
    name: str,
    index: IntArray,
    h: FloatArray,
    offsets: NDArray[Any],
    *,
    tolerant: bool,
) -> NDArray[Any]:
    """Return the changes `(K, M, P)` at steps `h_k * offsets`, one call per distinct step.

    A [`Pointwise`][minifw.numdiff.objective.Pointwise] objective takes every coordinate's steps in
    one call.
    """
    if isinstance(objective, Pointwise):
        return pointwise_changes(objective, name, index, h[:, None] * offsets, tolerant=tolerant)
    steps, group = np.unique(h, return_inverse=True)
    found = np.empty(
        (index.size, offsets.size, math.prod(output_shape(objective))),
        dtype=np.result_type(offsets, np.float64),
    )
    for g, step in enumerate(steps.tolist()):
        rows = np.flatnonzero(group == g) if steps.size > 1 else slice(None)
        found[rows] = changes(objective, name, index[rows], step * offsets, tolerant=tolerant)
    return found


def pointwise_changes(
    objective: Pointwise,
    name: str,
    index: IntArray,
    steps: NDArray[Any],
    *,
    tolerant: bool = True,
) -> NDArray[Any]:
    """Return a pointwise objective's changes at `steps[k, m]`, `(K, M, 1)`, from one call.

    `tolerant`: nan where f is not finite or raised a domain error (for all the points of the
    call, since one call computes them all).
    """
    with np.errstate(all="ignore") if tolerant else contextlib.nullcontext():
        try:
            found = np.asarray(objective.changes_at(name, index, steps))
        except DOMAIN_ERRORS as err:
            if isinstance(err, MinifwError) or not tolerant:
                raise
            found = np.full(steps.shape, np.nan)
    if found.shape != steps.shape or found.dtype.kind not in "fc":
        raise DifferentiationError(
            f"{type(objective).__name__}.changes_at must return a float array of shape "
            f"{steps.shape}, got dtype {found.dtype} and shape {found.shape}"
        )
    if not tolerant:
        _refuse_not_finite(objective, name, index, steps, found)  # type: ignore[arg-type]
    return found.reshape(*steps.shape, 1)


def changes(
    objective: Differentiable,
    name: str,
    index: IntArray,
    steps: NDArray[Any],
    *,
    tolerant: bool,
) -> NDArray[Any]:
    """Return the objective's changes `(K, M, P)`; `tolerant`: nan where f is not finite or raised.

    A call that raises is repeated one coordinate and one step at a time, so that only the
    failing evaluations become nan.
    """
    if not tolerant:
        return checked_changes(objective, name, index, steps)
    try:
        with np.errstate(all="ignore"):  # nan and inf are expected here, and handled
            return checked_changes(objective, name, index, steps, finite=False)
    except DOMAIN_ERRORS as err:
        if isinstance(err, MinifwError):
            raise
        if index.size * steps.size == 1:
            return np.full((1, 1, math.prod(output_shape(objective))), np.nan)
    out = np.empty((index.size, steps.size, math.prod(output_shape(objective))))
    for k in range(index.size):
        for m in range(steps.size):
            out[k, m] = changes(objective, name, index[k : k + 1], steps[m : m + 1], tolerant=True)[
                0, 0
            ]
    return out


def checked_changes(
    objective: Differentiable,
    name: str,
    index: IntArray,
    steps: NDArray[Any],
    *,
    finite: bool = True,
) -> NDArray[Any]:
    """Return the changes `(K, M, P)`, refusing a wrong shape or (with `finite`) nan and inf."""
    found = np.asarray(objective.changes(name, index, steps))
    shape = output_shape(objective)
    expected = (index.size, steps.size, *shape)
    if found.shape != expected or found.dtype.kind not in "fc":
        raise DifferentiationError(
            f"{type(objective).__name__}.changes must return a float array of shape "
            f"{expected} for {index.size} coordinates of {name!r} and {steps.size} steps, got "
            f"dtype {found.dtype} and shape {found.shape}"
        )
    if np.iscomplexobj(steps) and found.dtype.kind != "c":
        raise DifferentiationError(
            f"{type(objective).__name__}.changes returned real changes for complex steps: "
            "it does not take complex steps, so ComplexStep cannot differentiate it"
        )
    flat = found.reshape(index.size, steps.size, math.prod(shape))
    if finite:
        _refuse_not_finite(objective, name, index, np.broadcast_to(steps, flat.shape[:2]), flat)
    return flat


def _refuse_not_finite(
    objective: Differentiable,
    name: str,
    index: IntArray,
    steps: NDArray[Any],
    found: NDArray[Any],
) -> None:
    """Refuse a change that is nan or inf, naming the coordinate and the step."""
    is_finite = np.isfinite(found)
    if np.all(is_finite):
        return
    k, m = (int(i) for i in np.argwhere(~is_finite)[0][:2])
    bad = found[k, m].reshape(-1)[~is_finite[k, m].reshape(-1)][0]
    step = complex(steps[k, m]) if np.iscomplexobj(steps) else float(steps[k, m])
    raise DifferentiationError(
        f"the objective's change is {bad.item()!r} at {where(objective, name, int(index[k]))} "
        f"moved by {step:g}: f is not finite there (h='auto' or RichardsonDiff step around a "
        "domain edge)"
    )
