r"""The engine: a stencil evaluated through an objective's changes, for many coordinates at once.

For the coordinates \(i\) of one task, the engine asks the
[`Objective`][minifw.numdiff.objective.Objective] for the changes
\(c_{ik} = L(\theta + o_k h_i e_i) - L(\theta)\) at the stencil's offsets \(o_k\) and returns
\(\operatorname{Re} \frac{1}{h_i} \sum_k w_k c_{ik}\). How the steps \(h_i\) are chosen and checked,
and what happens where \(f\) is not finite, is a [`StepPolicy`][minifw.numdiff.engine.StepPolicy]:
a fixed step ([`minifw.numdiff.fixed_step`][minifw.numdiff.fixed_step]), `h="auto"`
([`minifw.numdiff.auto_step`][minifw.numdiff.auto_step]), the complex step
([`minifw.numdiff.imaginary_step`][minifw.numdiff.imaginary_step]) or Richardson's table
([`minifw.numdiff.schemes.richardson`][minifw.numdiff.schemes.richardson]).

Examples:
    >>> import numpy as np
    >>> from minifw import Perturbation, Stencil
    >>> w = np.array([3.0, 4.0])
    >>> objective = Perturbation(lambda: float(np.sum(w**2)), {"w": w})
    >>> changes = checked_changes(objective, "w", np.array([0, 1]), np.array([0.5, -0.5]))
    >>> changes
    array([[ 3.25, -2.75],
           [ 4.25, -3.75]])
    >>> combine(Stencil((1.0, -1.0), (0.5, -0.5)), changes, np.array([0.5, 0.5]))
    array([6., 8.])

"""

from __future__ import annotations

import abc
import math
from typing import Any, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw._validation import describe
from minifw.errors import DifferentiationError, MinifwError
from minifw.numdiff.objective import CombinedChanges, Objective
from minifw.numdiff.results import Estimate
from minifw.numdiff.stencil import Stencil
from minifw.typing import FloatArray, IntArray

__all__ = [
    "DOMAIN_ERRORS",
    "StencilPolicy",
    "StepPolicy",
    "Taken",
    "changes",
    "checked_changes",
    "combine",
    "combined_quotients",
    "coordinate_values",
    "grouped_changes",
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
        self, stencil: Stencil, objective: Objective, name: str, index: IntArray
    ) -> Estimate[FloatArray]:
        """Return the estimates along coordinates `index` (flat) of `objective.params[name]`.

        `evaluations` counts the changes asked of the objective (not the value at the point).
        """


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
    def steps(self, order: int, values: FloatArray) -> FloatArray:
        """Return the step of each coordinate, for a stencil of `order` at these values."""

    @abc.abstractmethod
    def check(
        self, objective: Objective, name: str, values: FloatArray, steps: NDArray[Any]
    ) -> None:
        """Refuse steps (`steps[k, m]`: coordinate `k`, offset `m`) before any is taken."""

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
        self, stencil: Stencil, objective: Objective, name: str, index: IntArray
    ) -> Estimate[FloatArray]:
        """Return the stencil's values along coordinates `index` of `name` (see the class text)."""
        values = coordinate_values(objective.params[name], index)
        h = self.steps(stencil.order, values)
        offsets = np.array(stencil.offsets)
        self.check(objective, name, values, h[:, None] * offsets)
        if not self.reads_changes and isinstance(objective, CombinedChanges):
            direct = combined_quotients(stencil, objective, name, index, h)
            if direct is not None:
                return Estimate(direct, np.full(index.size, math.nan), index.size * offsets.size)
        found = grouped_changes(objective, name, index, h, offsets, tolerant=self.tolerant)
        result = combine(stencil, found, h)
        more = self.settle(Taken(stencil, objective, name, index, values, h, found), result)
        return Estimate(result, np.full(index.size, math.nan), found.size + more)


@final
@attrs.frozen(eq=False)
class Taken:
    """One task's stencil steps, as a policy settles them: where, how far, and what f did.

    The coordinates `index` (flat) of `objective.params[name]` have the `values`; each was
    stepped by `h[k] * stencil.offsets`, and `changes[k]` holds what the objective reported.
    """

    stencil: Stencil
    objective: Objective
    name: str
    index: IntArray
    values: FloatArray
    h: FloatArray
    changes: NDArray[Any]


def coordinate_values(arr: FloatArray, index: IntArray) -> FloatArray:
    """Return the values of the coordinates `index` (flat, C order) of `arr`."""
    values: FloatArray = arr.reshape(-1)[index] if arr.flags.c_contiguous else arr.flat[index]
    return values


def combine(stencil: Stencil, found: NDArray[Any], h: FloatArray) -> FloatArray:
    r"""Return the real part of \(\frac1h \sum_k w_k c_k\), one value per row of changes."""
    total = np.zeros(found.shape[0], dtype=found.dtype)
    # Term by term, in stencil order: for the central difference this is
    # 0.5 * (f(x+h) - f(x-h)) / h, the book's number to the last digit.
    for k, weight in enumerate(stencil.weights):
        total += weight * found[:, k]
    result: FloatArray = (total.real if stencil.is_complex else total) / h
    return result


def combined_quotients(
    stencil: Stencil, objective: CombinedChanges, name: str, index: IntArray, h: FloatArray
) -> FloatArray | None:
    r"""Return \(\frac1h \sum_k w_k c_k\) from the objective's own weighted sum, or `None`.

    `None` where that does not apply (steps that differ by coordinate) or does not give finite
    numbers of the right shape: the changes themselves then say where.
    """
    if index.size == 0 or np.any(h != h[0]):
        return None
    offsets = float(h[0]) * np.array(stencil.offsets)
    total = np.asarray(objective.combined_changes(name, index, offsets, np.array(stencil.weights)))
    if total.shape != index.shape or total.dtype.kind not in "fc" or not np.all(np.isfinite(total)):
        return None
    result: FloatArray = (total.real if stencil.is_complex else total) / h
    return result


def grouped_changes(
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
    found = np.empty((index.size, offsets.size), dtype=np.result_type(offsets, np.float64))
    for g, step in enumerate(steps.tolist()):
        rows = np.flatnonzero(group == g) if steps.size > 1 else slice(None)
        found[rows] = changes(objective, name, index[rows], step * offsets, tolerant=tolerant)
    return found


def changes(
    objective: Objective, name: str, index: IntArray, steps: NDArray[Any], *, tolerant: bool
) -> NDArray[Any]:
    """Return the objective's changes; `tolerant`: nan where f is not finite or raised.

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
            return np.full((1, 1), np.nan)
    out = np.empty((index.size, steps.size))
    for k in range(index.size):
        for m in range(steps.size):
            out[k, m] = changes(objective, name, index[k : k + 1], steps[m : m + 1], tolerant=True)[
                0, 0
            ]
    return out


def checked_changes(
    objective: Objective, name: str, index: IntArray, steps: NDArray[Any], *, finite: bool = True
) -> NDArray[Any]:
    """Return the objective's changes, refusing a wrong shape or (with `finite`) nan and inf."""
    found = np.asarray(objective.changes(name, index, steps))
    expected = (index.size, steps.size)
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
    is_finite = np.isfinite(found)
    if finite and not np.all(is_finite):
        k, m = (int(i) for i in np.argwhere(~is_finite)[0])
        where = describe(name, objective.params[name].shape, int(index[k]))
        step = complex(steps[m]) if np.iscomplexobj(steps) else float(steps[m])
        raise DifferentiationError(
            f"the objective's change is {found[k, m].item()!r} at {where} moved by {step:g}: f is "
            "not finite there (h='auto' or RichardsonDiff step around a domain edge)"
        )
    result: FloatArray = found
    return result
