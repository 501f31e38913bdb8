r"""The series route: every unit's loss change as a Taylor series, for small steps.

For the output units of layer \(k\), cut into pieces, the route computes
\(G_{nj}(u) = \sum_{p \le P} g_{njp} u^p\), the change of example \(n\)'s loss when unit \(j\)
moves by \(u\): a [`GridUnitMove`][minifw.nn.layered.moves.GridUnitMove] of the piece's units in
every example is pushed through the later layers' series rules, and the loss's series (or a head
rule across the last layer and the loss) closes it. A
[unit step move][minifw.nn.layered.steps.UnitSteps] turns the series into every coordinate's
change with a few matrix products.

The order \(P\) is chosen from the largest move (the plan) so that the neglected terms are below
the last bit, and checked for every example and unit: where a kink, a pole or a slowly decaying
series is within reach, that example and unit are left to the exact route. These are the values
of the finite differences themselves, truncation error of the stencil included, evaluated without
the rounding error of subtracting two losses. Series and sums are cached per plan and piece.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.nn import _series
from minifw.nn.capability import declares
from minifw.nn.layered import limits
from minifw.nn.layered.moves import GridUnitMove, Move, Network
from minifw.nn.layered.steps import UnitSteps
from minifw.nn.layers.layer import SeriesLayer
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = ["Plan", "SeriesRoute", "converged", "order_for"]

Mask = NDArray[np.bool_]


@final
@attrs.define(eq=False)
class Plan:
    """The series of one layer's units at one largest step: reach, order, and what was computed.

    `reach` bounds each example's unit moves; `series` and `sums` are filled per piece (and,
    for sums, per parameter).
    """

    reach: FloatArray
    order: int
    series: dict[int, tuple[AnyArray, Mask]] = attrs.field(factory=dict)
    sums: dict[tuple[str, int], list[AnyArray]] = attrs.field(factory=dict)


@final
@attrs.define(eq=False)
class SeriesRoute:
    """The series route of one layered objective, along its network."""

    net: Network
    _plans: dict[tuple[int, float], Plan | None] = attrs.field(factory=dict, init=False)

    def plan(self, k: int, max_step: float, bound: Callable[[], FloatArray]) -> Plan | None:
        """Return the plan of layer `k`'s units for steps up to `max_step`, or `None`.

        `bound()` gives each example's largest unit move per unit step (over the layer's step
        moves). `None` when no series applies (a later layer or the loss without one, or steps
        too large).
        """
        key = (k, max_step)
        if key not in self._plans:
            reach = max_step * bound()
            order = order_for(float(np.max(reach, initial=0.0)))
            fits = order is not None and self._has_series(k)
            self._plans[key] = Plan(reach, order) if fits and order is not None else None
        return self._plans[key]

    def piece_series(self, k: int, p: int, units: IntArray, plan: Plan) -> tuple[AnyArray, Mask]:
        """Return `(g, ok)` for piece `p` (`units`): `g` is `(P, N, J)`, `ok` `(N, J)`.

        `ok` marks the `(n, j)` whose series is trusted for moves up to the plan's reach.
        """
        if p not in plan.series:
            plan.series[p] = self._propagate(k, units, plan.reach, plan.order)
        return plan.series[p]

    def changes(
        self,
        k: int,
        local: str,
        p: int,
        units: IntArray,
        move: UnitSteps,
        steps: AnyArray,
        plan: Plan,
    ) -> AnyArray:
        """Return the series part of the changes of `move`'s coordinates (all in piece `p`)."""
        key = (local, p)
        if key not in plan.sums:
            g, ok = self.piece_series(k, p, units, plan)
            plan.sums[key] = move.sums(np.where(ok, g, 0.0), limits.ELEMENT_BUDGET)
        return move.evaluate(plan.sums[key], steps, int(units[0]))

    def _has_series(self, k: int) -> bool:
        net = self.net
        if not all(declares(layer, SeriesLayer) for layer in net.layers[k + 1 :]):
            return False
        probe = np.zeros((1, 1, net.t.shape[1]))
        return net.loss.series(net.acts[-1][:1], net.t[:1], probe, np.zeros(1)) is not None

    def _propagate(
        self, k: int, units: IntArray, reach: FloatArray, order: int
    ) -> tuple[AnyArray, Mask]:
        """Return `(g, ok)` for `units`, in parts small enough for the scratch budget."""
        n = self.net.acts[k + 1].shape[0]
        per_part = max(1, limits.ELEMENT_BUDGET // (order * n * self.net.widest(k + 1)))
        g = np.zeros((order, n, units.size))
        ok = np.zeros((n, units.size), dtype=bool)
        for start in range(0, units.size, per_part):
            part = slice(start, start + per_part)
            g[:, :, part], ok[:, part] = self._part(k, units[part], reach, order)
        return g, ok

    def _part(
        self, k: int, units: IntArray, reach: FloatArray, order: int
    ) -> tuple[AnyArray, Mask]:
        """Return the series of `G_nj` for every example `n` and the given units `j`."""
        net = self.net
        n = net.acts[0].shape[0]
        move: Move = GridUnitMove.start(n, units, order)
        lane_reach = reach[move.rows]
        ok = np.ones(move.rows.size, dtype=bool)
        last = len(net.layers) - 1
        for m in range(k + 1, len(net.layers)):
            layer, x_m, y_m = net.layers[m], net.acts[m], net.acts[m + 1]
            if m == last:
                head = move.head_series(layer, net.loss, x_m, y_m, net.t, lane_reach)
                if head is not None:
                    series, ok_head = head
                    ok &= ok_head & converged(series, lane_reach)
                    return series.reshape(order, n, units.size), ok.reshape(n, units.size)
            move, ok_m = move.series_through(layer, x_m, y_m, lane_reach)
            ok &= ok_m
        series, ok_loss = move.loss_series(net.loss, net.acts[-1], net.t, lane_reach)
        ok &= ok_loss & converged(series, lane_reach)
        return series.reshape(order, n, units.size), ok.reshape(n, units.size)


def order_for(reach: float) -> int | None:
    """Return the series order whose first neglected term is below the last bit, or `None`.

    Examples:
        >>> order_for(0.0), order_for(1e-4), order_for(0.2)
        (1, 6, None)

    """
    if reach == 0.0:
        return 1
    ratio = reach / limits.ORDER_RADIUS
    if ratio >= 0.25:
        return None
    order = 1 + math.ceil(math.log(limits.SERIES_TOLERANCE) / math.log(ratio))
    return order if order <= limits.MAX_ORDER else None


def converged(series: AnyArray, reach: FloatArray) -> Mask:
    """Whether the last two terms are negligible against the whole, at the largest move."""
    order = series.shape[0]
    size = _series.magnitude(series, reach)
    # The first neglected term, estimated from the last two (both, against a pattern of zeros).
    tail = np.abs(series[-1]) * reach**order
    if order > 1:
        tail = tail + np.abs(series[-2]) * reach ** (order - 1)
    tail = tail * (reach / limits.ORDER_RADIUS)
    # Against the pair's own size, or a thousandth of the largest in the piece: a pair whose
    # change is tiny next to the others' does not need more relative precision than they do.
    scale = np.maximum(size, 1e-3 * float(np.max(size, initial=0.0)))
    result: Mask = tail <= limits.SERIES_TOLERANCE * scale
    return result
