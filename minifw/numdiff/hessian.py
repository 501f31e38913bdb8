r"""Hessians and Hessian-vector products of a scalar function, from second derivatives on lines.

A scheme's second-derivative rule gives \(Q(w) = w^\top H w\), the second derivative along a line
\(x + t w\) ([`second_rule`][minifw.numdiff.differentiator.Differentiator.second_rule]: its own
second difference, extrapolated by Richardson, or the complex step of a real one). Mixed entries
come by polarization:

\[
H_{ii} = Q(e_i), \qquad
H_{ij} = \frac{Q(s_i e_i + s_j e_j) - s_i^2 H_{ii} - s_j^2 H_{jj}}{2 s_i s_j},
\qquad
(Hv)_i = \frac{Q(a_i e_i + b v) - Q(a_i e_i - b v)}{4 a_i b},
\]

with each coordinate's scale \(s_i\) (its relative step's scale for `h="auto"` and Richardson, 1
for a fixed step; \(a_i = s_i\), \(b\) makes \(bv\) reach as far). A Hessian takes
\(n + n(n-1)/2\) lines, each a stencil of two evaluations for central schemes: \(n^2 + n\) per
level of Richardson's table, half of what the four-point mixed formula
\(f(x \pm h e_i \pm h e_j)\) takes. The bound of an entry is the sum of its lines' bounds with
the same weights.

Examples:
    >>> import numpy as np
    >>> from minifw import RichardsonDiff
    >>> found = hessian_estimate(RichardsonDiff().second_rule, lambda v: v[0] ** 2 * v[1], [1.0, 3.0])
    >>> found.value.round(10).tolist(), bool(np.all(found.error < 1e-6))
    ([[6.0, 2.0], [2.0, 0.0]], True)

"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minifw.errors import DifferentiationError
from minifw.numdiff.engine import Rule
from minifw.numdiff.jacobian import line_estimates
from minifw.numdiff.lines import Line, Lines, along, function_point, through
from minifw.numdiff.results import Estimate
from minifw.numdiff.workers import Workers
from minifw.typing import ArrayLike, FloatArray

__all__ = ["hessian_estimate", "hessian_vector_estimate"]


def _scalar(objective: Lines) -> None:
    if objective.shape != ():
        raise DifferentiationError(
            f"a Hessian is of a scalar function, but f returns an array of shape "
            f"{objective.shape}; take the Hessian of each output (or the Jacobian of a gradient)"
        )


def hessian_estimate(
    rule: Rule,
    f: Callable[[Any], Any],
    x: ArrayLike,
    *,
    workers: Workers = None,
    strict: bool = False,
) -> Estimate[FloatArray]:
    """Return the Hessian of a scalar `f` at `x`, `x.shape + x.shape`, with bounds."""
    point = function_point(x)
    n = point.size
    scales = rule.policy.scales(point.reshape(-1))
    lines: list[Line] = [along(point, i) for i in range(n)]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    for i, j in pairs:
        w = np.zeros(n)
        w[i], w[j] = scales[i], scales[j]
        lines.append(through(point, w, scales))
    objective = Lines.at(f, point, lines, strict=strict)
    _scalar(objective)
    q, e, evaluations = line_estimates(rule, objective, workers)
    hessian = np.diag(q[:n])
    bound = np.diag(e[:n])
    for (i, j), line, qw, ew in zip(pairs, lines[n:], q[n:], e[n:], strict=True):
        si, sj = scales[i], scales[j]
        square = line.factor**2
        entry = (qw * square - si * si * q[i] - sj * sj * q[j]) / (2 * si * sj)
        entry_bound = (ew * square + si * si * e[i] + sj * sj * e[j]) / (2 * si * sj)
        hessian[i, j] = hessian[j, i] = entry
        bound[i, j] = bound[j, i] = entry_bound
    shape = (*point.shape, *point.shape)
    return Estimate(hessian.reshape(shape), bound.reshape(shape), evaluations)


def hessian_vector_estimate(
    rule: Rule,
    f: Callable[[Any], Any],
    x: ArrayLike,
    v: ArrayLike,
    *,
    workers: Workers = None,
    strict: bool = False,
) -> Estimate[FloatArray]:
    r"""Return \(H(x)\, v\) for a scalar `f`, of `x`'s shape, from `2n` lines."""
    point = function_point(x)
    direction = function_point(v, "v").reshape(-1)
    if direction.size != point.size:
        raise DifferentiationError(
            f"v must have x's shape {point.shape}, got {direction.size} elements"
        )
    if not np.any(direction):
        raise DifferentiationError("v must not be all zeros: a direction has a length")
    n = point.size
    scales = rule.policy.scales(point.reshape(-1))
    b = 1.0 / float(np.max(np.abs(direction) / scales))
    # Line 2i is a_i e_i + b v, line 2i + 1 is a_i e_i - b v; the latter vanishes where v is a
    # multiple of e_i (Q(0) = 0 then, and no line is needed).
    ws = _directions(n, scales, b, direction)
    kept = [k for k, w in enumerate(ws) if np.any(w)]
    lines = [through(point, ws[k], scales) for k in kept]
    objective = Lines.at(f, point, lines, strict=strict)
    _scalar(objective)
    q, e, evaluations = line_estimates(rule, objective, workers)
    qs, es = np.zeros(2 * n), np.zeros(2 * n)
    for k, line, qk, ek in zip(kept, lines, q, e, strict=True):
        qs[k], es[k] = qk * line.factor**2, ek * line.factor**2
    product = (qs[0::2] - qs[1::2]) / (4 * scales * b)
    bound = (es[0::2] + es[1::2]) / (4 * scales * b)
    return Estimate(product.reshape(point.shape), bound.reshape(point.shape), evaluations)


def _directions(n: int, scales: FloatArray, b: float, direction: FloatArray) -> list[FloatArray]:
    r"""Return the directions \(a_i e_i \pm b v\), two per coordinate."""
    found = []
    for i in range(n):
        for sign in (1.0, -1.0):
            w = sign * b * direction
            w[i] += scales[i]
            found.append(w)
    return found
