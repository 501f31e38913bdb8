r"""Jacobians, directional derivatives and Jacobian-vector products of a function, on lines.

The Jacobian of \(f\) at \(x\) has the shape `f(x).shape + x.shape`: column \(j\) is the
derivative along \(e_j\), one line per coordinate ([`minifw.numdiff.lines`][minifw.numdiff.lines]),
or, with a sparsity pattern, one line per group of structurally orthogonal columns
([`minifw.numdiff.sparsity`][minifw.numdiff.sparsity]), each row then reading its own column.
A directional derivative is one line along \(v\): \(\nabla f \cdot v\) (\(J v\) for an array-valued
\(f\)), from one stencil. Every scheme's first-derivative rule does the work, with its steps,
checks, bounds and `workers`.

Examples:
    >>> import numpy as np
    >>> from minifw import RichardsonDiff
    >>> found = jacobian_estimate(RichardsonDiff().first_rule, lambda v: v**2, [1.0, 2.0])
    >>> found.value.round(12).tolist(), bool(np.all(found.error < 1e-8))
    ([[2.0, 0.0], [0.0, 4.0]], True)

"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from minifw.errors import DifferentiationError
from minifw.numdiff.engine import Rule
from minifw.numdiff.lines import Lines, along, function_point, through
from minifw.numdiff.results import Estimate
from minifw.numdiff.sparsity import Pattern, column_groups
from minifw.numdiff.tasks import covered, error, estimate_tasks, gathered, value
from minifw.numdiff.workers import Workers
from minifw.typing import ArrayLike, FloatArray, IntArray

__all__ = ["directional_estimate", "jacobian_estimate", "line_estimates", "sparse_jacobian"]


def line_estimates(
    rule: Rule, objective: Lines, workers: Workers
) -> tuple[FloatArray, FloatArray, int]:
    """Return the derivatives along the objective's lines, their bounds, and the evaluations.

    The derivatives have the shape `(len(lines),) + f(x).shape`, in units of each line's `t`.
    """
    done = estimate_tasks(rule, objective, workers)
    values = covered(objective, gathered(objective, done, value))["t"]
    errors = gathered(objective, done, error)["t"]
    return values, errors, done.evaluations


def jacobian_estimate(
    rule: Rule,
    f: Callable[[Any], Any],
    x: ArrayLike,
    *,
    workers: Workers = None,
    strict: bool = False,
) -> Estimate[FloatArray]:
    """Return the Jacobian of `f` at `x`, `f(x).shape + x.shape`, with bounds and evaluations."""
    point = function_point(x)
    lines = [along(point, j) for j in range(point.size)]
    objective = Lines.at(f, point, lines, strict=strict)
    values, errors, evaluations = line_estimates(rule, objective, workers)
    shape = (*objective.shape, *point.shape)
    return Estimate(_columns(values, shape), _columns(errors, shape), evaluations)


def _columns(per_line: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """Turn one row per input coordinate into the Jacobian's layout, outputs first."""
    n = per_line.shape[0]
    result: FloatArray = per_line.reshape(n, -1).T.reshape(shape)
    return result


def sparse_jacobian(
    rule: Rule,
    f: Callable[[Any], Any],
    x: ArrayLike,
    sparsity: object,
    *,
    workers: Workers = None,
) -> Estimate[Any]:
    """Return the Jacobian of `f` at `x` from a sparsity pattern, one stencil per column group.

    The result (and the bound) is a scipy matrix of the pattern's format, or a dense 2-D array
    for a boolean pattern. An output that changes along a group where the pattern says it
    depends on none of the group's columns means the pattern is wrong, and is an error naming it;
    a left-out entry in a group where the output has another entry cannot be seen (that entry
    takes its slope too): the pattern must hold every entry that can be non-zero.
    """
    point = function_point(x)
    at_point = Lines.at(f, point, [])
    pattern = Pattern.of(sparsity, (int(at_point.base.size), point.size))
    groups = column_groups(pattern)
    if not groups:  # f depends on nothing: the Jacobian is all zeros
        empty = np.zeros(0)
        return Estimate(pattern.result(empty), pattern.result(empty), 1)
    scales = rule.policy.scales(point.reshape(-1))
    lines = []
    for group in groups:
        v = np.zeros(point.size)
        v[group] = scales[group]
        lines.append(through(point, v, scales))
    objective = Lines(f, point, lines, at_point.base)
    values, errors, evaluations = line_estimates(rule, objective, workers)
    along_lines = values.reshape(len(groups), -1)
    bounds = errors.reshape(len(groups), -1)
    group_of = np.full(point.size, -1)
    coefficient = np.zeros(point.size)
    for g, (group, line) in enumerate(zip(groups, lines, strict=True)):
        group_of[group] = g
        coefficient[line.index] = line.coefficients
    of_entry = group_of[pattern.cols]
    entries = along_lines[of_entry, pattern.rows] / coefficient[pattern.cols]
    entry_errors = bounds[of_entry, pattern.rows] / coefficient[pattern.cols]
    _check_pattern(pattern, groups, along_lines, bounds)
    return Estimate(pattern.result(entries), pattern.result(entry_errors), evaluations)


def _check_pattern(
    pattern: Pattern, groups: list[IntArray], along_lines: FloatArray, bounds: FloatArray
) -> None:
    """Refuse a pattern that leaves out an entry: an output moving along a group it is not in."""
    claimed = np.zeros(along_lines.shape, dtype=bool)
    group_of = np.full(pattern.shape[1], -1)
    for g, group in enumerate(groups):
        group_of[group] = g
    claimed[group_of[pattern.cols], pattern.rows] = True
    scale = float(np.max(np.abs(along_lines), initial=0.0))
    tolerance = math.sqrt(2.0**-52) * scale
    finite_bounds = np.where(np.isfinite(bounds), bounds, 0.0)
    stray = ~claimed & (np.abs(along_lines) > tolerance + finite_bounds)
    if np.any(stray):
        g, r = (int(i) for i in np.argwhere(stray)[0])
        raise DifferentiationError(
            f"output {r} of f changes (by a slope of {float(along_lines[g, r]):.3g}) along "
            f"columns {groups[g].tolist()[:6]} of which the sparsity pattern says it depends on "
            "none: the pattern leaves out an entry of the Jacobian"
        )


def directional_estimate(
    rule: Rule,
    f: Callable[[Any], Any],
    x: ArrayLike,
    v: ArrayLike,
    *,
    workers: Workers = None,
    strict: bool = False,
) -> Estimate[FloatArray]:
    r"""Return \(J(x)\, v\) (\(\nabla f \cdot v\) for a scalar `f`) from one stencil along `v`.

    The value and the bound have the shape of `f(x)`.
    """
    point = function_point(x)
    direction = function_point(v, "v")
    if direction.shape != point.shape:
        raise DifferentiationError(
            f"v must have x's shape {point.shape}, got shape {direction.shape}"
        )
    if not np.any(direction):
        raise DifferentiationError("v must not be all zeros: a direction has a length")
    scales = rule.policy.scales(point.reshape(-1))
    line = through(point, direction.reshape(-1), scales)
    objective = Lines.at(f, point, [line], strict=strict)
    values, errors, evaluations = line_estimates(rule, objective, workers)
    return Estimate(values[0] * line.factor, errors[0] * line.factor, evaluations)
