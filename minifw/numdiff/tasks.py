"""An objective's derivatives as tasks: split, run where `workers` says, and put back together.

[`estimate_tasks`][minifw.numdiff.tasks.estimate_tasks] splits the coordinates of an objective into
the tasks fixed by the objective ([`task_chunks`][minifw.numdiff.objective.task_chunks]), runs a
[`Rule`][minifw.numdiff.engine.Rule] on each where `workers` says
([`minifw.numdiff.workers`][minifw.numdiff.workers]), and [`gathered`][minifw.numdiff.tasks.gathered]
puts one field of their estimates back into arrays of the parameters' shapes (followed by the
shape of the objective's value, for an array-valued one).

Examples:
    >>> import numpy as np
    >>> from minifw import CentralDiff, Perturbation
    >>> w = np.array([1.0, 2.0])
    >>> objective = Perturbation(lambda: float(np.sum(w**2)), {"w": w})
    >>> found = estimate_tasks(CentralDiff().first_rule, objective, None)
    >>> gathered(objective, found, value)["w"].round(6)
    array([2., 4.])

"""

from __future__ import annotations

from collections.abc import Callable
from typing import final

import attrs
import numpy as np

from minifw.errors import DifferentiationError
from minifw.numdiff.engine import Rule
from minifw.numdiff.objective import Differentiable, output_shape, task_chunks, where
from minifw.numdiff.perturbation import check_copyable
from minifw.numdiff.results import Estimate
from minifw.numdiff.workers import WorkerError, Workers, check_workers, is_serial, run_tasks
from minifw.typing import FloatArray, IntArray

__all__ = [
    "ENGINE_CHUNK",
    "Done",
    "covered",
    "error",
    "estimate_tasks",
    "gathered",
    "value",
]

ENGINE_CHUNK = 1 << 16
"""Most coordinates in one task of an objective split by default; bounds the engine's scratch."""


@final
@attrs.frozen(eq=False)
class Done:
    """The tasks of one run: their coordinates (`chunks`) and what each found (`parts`)."""

    chunks: tuple[dict[str, IntArray], ...]
    parts: list[dict[str, Estimate[FloatArray]]]

    @property
    def evaluations(self) -> int:
        """The changes asked by every task, plus one for the value at the point."""
        return 1 + sum(found.evaluations for part in self.parts for found in part.values())


def estimate_tasks(
    rule: Rule, objective: Differentiable, workers: Workers, chunk: int = ENGINE_CHUNK
) -> Done:
    """Split the objective into its tasks and run `rule` on each where `workers` says.

    A task holds at most `chunk` coordinates where the objective does not split itself.
    """
    check_workers(workers)
    if not is_serial(workers):
        check_copyable(objective)  # type: ignore[arg-type]
    chunks = task_chunks(objective, chunk)  # type: ignore[arg-type]
    parts = run_tasks(_chunk_estimates, (rule, objective), chunks, workers)
    for task, part in zip(chunks, parts, strict=True):
        _check_part(objective, task, part)
    return Done(chunks, parts)


def _chunk_estimates(
    job: tuple[Rule, Differentiable], chunk: dict[str, IntArray]
) -> dict[str, Estimate[FloatArray]]:
    """One task: the estimates of a chunk's coordinates."""
    rule, objective = job
    return {name: rule.estimate(objective, name, index) for name, index in chunk.items()}


def _check_part(objective: Differentiable, chunk: dict[str, IntArray], part: object) -> None:
    """Refuse a task's result that is not the estimates of its own coordinates.

    Workers bring results back by task (minifw.numdiff.workers checks that each is its task's);
    this checks that each holds what a task of these coordinates returns.
    """
    shape = output_shape(objective)
    ok = isinstance(part, dict) and set(part) == set(chunk)
    if ok:
        found_parts: dict[str, object] = part  # type: ignore[assignment]
        for name, index in chunk.items():
            found = found_parts[name]
            expected = (index.size, *shape)
            ok = ok and (
                isinstance(found, Estimate)
                and np.shape(found.value) == expected
                and np.shape(found.error) == expected
            )
    if not ok:
        raise WorkerError(
            "a task came back with something other than the estimates of its coordinates "
            f"({type(part).__name__}); the map or executor given as workers returned results "
            "that are not its tasks'"
        )


def value(found: Estimate[FloatArray]) -> FloatArray:
    """Return the values of a task's estimate."""
    return found.value


def error(found: Estimate[FloatArray]) -> FloatArray:
    """Return the error bounds of a task's estimate."""
    return found.error


def gathered(
    objective: Differentiable,
    done: Done,
    field: Callable[[Estimate[FloatArray]], FloatArray],
) -> dict[str, FloatArray]:
    """Put one field of the tasks' estimates together, array by array (nan where none is).

    Each array has its parameter's shape followed by the shape of the objective's value.
    """
    shape = output_shape(objective)
    found = {name: np.full((*arr.shape, *shape), np.nan) for name, arr in objective.params.items()}
    for chunk, part in zip(done.chunks, done.parts, strict=True):
        for name, index in chunk.items():
            flat = found[name].reshape(-1, *shape)
            flat[index] = field(part[name])
    return found


def covered(objective: Differentiable, values: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """Return the gathered values, refusing a coordinate that no task computed.

    Every derivative computed is finite, so nan marks a coordinate left out.
    """
    for name, found in values.items():
        missing = np.isnan(found).reshape(objective.params[name].size, -1).any(axis=1)
        if missing.any():
            flat = int(np.flatnonzero(missing)[0])
            raise DifferentiationError(
                f"{type(objective).__name__}.chunks() leaves out "
                f"{where(objective, name, flat)}: the tasks must hold every coordinate"
            )
    return values
