r"""Objectives: scalar functions of named parameter arrays, as the differentiation engine sees them.

An [`Objective`][minifw.numdiff.objective.Objective] has parameter arrays (`params`), a
[`value`][minifw.numdiff.objective.Objective.value], and reports its own *changes*:
\(L(\theta + s\,e_i) - L(\theta)\) for many coordinates \(i\) and steps \(s\) at once. The engine
([`minifw.numdiff.engine`][minifw.numdiff.engine]) knows nothing else: it asks for changes and
combines them with a scheme's weights. [`Perturbation`][minifw.numdiff.perturbation.Perturbation] is
the objective of any function, perturbing one coordinate at a time; a model built from layers gives
a faster one that recomputes only what a coordinate changes (see
[`minifw.Model.objective`][minifw.nn.models.Model.objective]). The coordinates split into tasks
([`Chunked`][minifw.numdiff.objective.Chunked], [`task_chunks`][minifw.numdiff.objective.task_chunks]).

More kinds the engine understands: an [`ArrayObjective`][minifw.numdiff.objective.ArrayObjective]
has an array as its value (its changes have that shape too: the columns of a Jacobian); a
[`Pointwise`][minifw.numdiff.objective.Pointwise] objective's coordinates are separate points, each
with a value of its own, whose changes come in one call (an elementwise function at many points);
an objective that [`NamesCoordinates`][minifw.numdiff.objective.NamesCoordinates] says in its
own words where a coordinate is, for the engine's messages; and one that
[`DeclaresComplexSafety`][minifw.numdiff.objective.DeclaresComplexSafety] says whether complex
steps may go through it.

Examples:
    >>> import numpy as np
    >>> from minifw import Perturbation
    >>> objective = Perturbation(lambda: 0.0, {"w": np.zeros(3)})
    >>> isinstance(objective, Objective)
    True
    >>> [{k: v.tolist() for k, v in task.items()} for task in task_chunks(objective, 2)]
    [{'w': [0]}, {'w': [1, 2]}]

"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from minifw._validation import describe
from minifw.errors import DifferentiationError
from minifw.typing import FloatArray, IntArray

__all__ = [
    "ArrayObjective",
    "Chunked",
    "CombinedChanges",
    "DeclaresComplexSafety",
    "Differentiable",
    "NamesCoordinates",
    "Objective",
    "Pointwise",
    "output_shape",
    "task_chunks",
    "where",
]


# Default split of an objective that is not `Chunked`: about this many tasks ...
DEFAULT_TASKS = 64
# ... of at least this many coordinates (fewer only where there are fewer in all).
MIN_TASK_SIZE = 8


@runtime_checkable
class Objective(Protocol):
    r"""A scalar function of named parameter arrays that reports its own changes."""

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The parameter arrays, by name (float64; left as they were after every call)."""
        ...

    def value(self) -> float:
        """Return the value at the parameters as they are."""
        ...

    def changes(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        r"""Return \(L(\theta + s_m e_{i_k}) - L(\theta)\), shape `(K, M)`.

        `index` holds `K` flat (C-order) indices into `params[name]`; `steps` the `M`
        steps \(s_m\) (real, or complex for a complex step: then the changes are complex).
        """
        ...


@runtime_checkable
class CombinedChanges(Protocol):
    r"""An `Objective` that also gives a stencil's weighted sum of changes directly.

    A scheme with a fixed step needs only \(\sum_m w_m\,(L(\theta + s_m e_i) - L(\theta))\) of each
    coordinate. An objective whose changes share work across steps (a Taylor series in the step,
    whose even orders cancel in a central difference) computes that sum without forming each
    change; the engine asks for it where its policy reads no single change.
    """

    def combined_changes(
        self, name: str, index: IntArray, steps: NDArray[Any], weights: NDArray[Any]
    ) -> NDArray[Any]:
        r"""Return \(\sum_m w_m\,(L(\theta + s_m e_{i_k}) - L(\theta))\), shape `(K,)`.

        The weighted sum of what [`changes`][minifw.numdiff.objective.Objective.changes] gives for
        the same `index` and `steps`, to rounding.
        """
        ...


@runtime_checkable
class ArrayObjective(Protocol):
    r"""An array-valued function of named parameter arrays that reports its own changes.

    The same three members as an [`Objective`][minifw.numdiff.objective.Objective], and the
    `shape` of its value: [`changes`][minifw.numdiff.objective.ArrayObjective.changes] returns an
    array of shape `(K, M) + shape`, so a stencil through it gives, per coordinate, a column of
    the Jacobian.
    """

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The parameter arrays, by name (float64; left as they were after every call)."""
        ...

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the value."""
        ...

    def value(self) -> FloatArray:
        """Return the value at the parameters as they are, an array of `shape`."""
        ...

    def changes(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        r"""Return \(F(\theta + s_m e_{i_k}) - F(\theta)\), shape `(K, M) + shape`."""
        ...


Differentiable: TypeAlias = "Objective | ArrayObjective"
"""What the engine differentiates: a scalar objective or an array-valued one."""


@runtime_checkable
class Pointwise(Protocol):
    r"""An objective whose coordinates are separate points: \(f(x_k)\) depends on \(x_k\) alone.

    Each coordinate has a value of its own
    ([`values_at`][minifw.numdiff.objective.Pointwise.values_at]), and the changes of many
    coordinates at steps of their own come from one evaluation
    ([`changes_at`][minifw.numdiff.objective.Pointwise.changes_at]): the engine then asks once per
    round instead of once per step.
    """

    def values_at(self, name: str, index: IntArray) -> FloatArray:
        """Return the value at each coordinate `index` (flat) of `params[name]`, shape `(K,)`."""
        ...

    def changes_at(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        r"""Return \(f(x_{i_k} + s_{km}) - f(x_{i_k})\) for `steps` of shape `(K, M)`, in one go."""
        ...


@runtime_checkable
class DeclaresComplexSafety(Protocol):
    """An objective that knows whether complex steps go through it as through an analytic f.

    A layered model's objective asks its layers; the engine then trusts the answer instead of
    checking a sample of coordinates against real differences
    ([`ImaginaryStep`][minifw.numdiff.imaginary_step.ImaginaryStep]).
    """

    def complex_safety(self) -> str | None:
        """Return `None` when every part is complex-safe, else which part is not, and why."""
        ...


@runtime_checkable
class NamesCoordinates(Protocol):
    """An objective that names its coordinates itself in the engine's messages."""

    def coordinate(self, name: str, flat: int) -> str:
        """Return how a message names coordinate `flat` of `params[name]` (say, `x[3]`)."""
        ...


def where(objective: object, name: str, flat: int) -> str:
    """Return how messages name a coordinate: the objective's own words, or `name[i, j]`.

    Examples:
        >>> from minifw import Perturbation
        >>> where(Perturbation(lambda: 0.0, {"w": np.zeros((2, 2))}), "w", 3)
        'w[1, 1]'

    """
    if isinstance(objective, NamesCoordinates):
        return objective.coordinate(name, flat)
    params: Mapping[str, FloatArray] = objective.params  # type: ignore[attr-defined]
    return describe(name, params[name].shape, flat)


def output_shape(objective: object) -> tuple[int, ...]:
    """Return the shape of an objective's value: `()` for a scalar one.

    Examples:
        >>> from minifw import Perturbation
        >>> output_shape(Perturbation(lambda: 0.0, {"w": np.zeros(2)}))
        ()

    """
    return tuple(objective.shape) if isinstance(objective, ArrayObjective) else ()


@runtime_checkable
class Chunked(Protocol):
    r"""An `Objective` that says how its coordinates split into independent tasks.

    [`chunks`][minifw.numdiff.objective.Chunked.chunks] returns the tasks: each maps parameter names to flat
    (C-order) indices, and together they hold every coordinate of every parameter exactly once. The
    engine asks for each task's changes in one go (one
    [`changes`][minifw.numdiff.objective.Objective.changes] call per name), in this process or in
    a worker, so an objective that shares work within a group of coordinates (the weights and the
    bias of one hidden unit, say) keeps the group in one task.

    The split must depend on the objective alone, never on the number of workers: every task is
    then computed the same way wherever it runs, and the gradient is the same to the last bit.
    An objective without this capability is split by [`task_chunks`][minifw.numdiff.objective.task_chunks].
    """

    def chunks(self) -> Sequence[Mapping[str, IntArray]]:
        """Return the tasks, each `{name: flat indices}`."""
        ...


def task_chunks(objective: Objective, max_size: int) -> tuple[dict[str, IntArray], ...]:
    """Return the tasks of `objective`: its own `Chunked.chunks`, checked, or a default.

    The default cuts the coordinates of all parameters, in order, into about
    `DEFAULT_TASKS` runs of equal length (at least `MIN_TASK_SIZE` coordinates, at
    most `max_size`); a run may continue from one array into the next.

    Examples:
        >>> from minifw import Perturbation
        >>> w, b = np.zeros((3, 4)), np.zeros(2)
        >>> objective = Perturbation(lambda: 0.0, {"w": w, "b": b})
        >>> [{k: v.tolist() for k, v in task.items()} for task in task_chunks(objective, 1 << 16)]
        [{'w': [0, 1, 2, 3, 4, 5, 6]}, {'w': [7, 8, 9, 10, 11], 'b': [0, 1]}]

    """
    sizes = {name: int(arr.size) for name, arr in objective.params.items()}
    if isinstance(objective, Chunked):
        return _checked_chunks(objective.chunks(), sizes)
    total = sum(sizes.values())
    size = min(max(1, max_size), max(MIN_TASK_SIZE, math.ceil(total / DEFAULT_TASKS)))
    count = math.ceil(total / size)
    bounds = [total * i // count for i in range(count + 1)]
    tasks: list[dict[str, IntArray]] = []
    offset = 0
    starts = {}
    for name, n in sizes.items():
        starts[name] = offset
        offset += n
    for lo, hi in itertools.pairwise(bounds):
        task = {}
        for name, n in sizes.items():
            first, last = max(lo, starts[name]), min(hi, starts[name] + n)
            if first < last:
                task[name] = np.arange(first - starts[name], last - starts[name], dtype=np.intp)
        tasks.append(task)
    return tuple(tasks)


def _checked_chunks(
    chunks: Sequence[Mapping[str, IntArray]], sizes: Mapping[str, int]
) -> tuple[dict[str, IntArray], ...]:
    """Refuse tasks with unknown names or indices that are not flat indices of the array.

    That every coordinate is in some task is checked by the engine when it puts the results
    together (a coordinate in two tasks only costs time: both give the same value).
    """
    tasks: list[dict[str, IntArray]] = []
    for number, chunk in enumerate(chunks):
        task = {}
        for name, index in chunk.items():
            flat = np.asarray(index)
            if name not in sizes or flat.ndim != 1 or flat.dtype.kind not in "iu":
                raise DifferentiationError(
                    f"chunks() task {number} must map parameter names ({sorted(sizes)}) to flat "
                    f"integer indices, got {name!r}: dtype {flat.dtype}, shape {flat.shape}"
                )
            if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= sizes[name]):
                raise DifferentiationError(
                    f"chunks() task {number} has indices of {name!r} outside 0..{sizes[name] - 1}"
                )
            task[name] = flat.astype(np.intp, copy=False)
        tasks.append(task)
    return tuple(tasks)
