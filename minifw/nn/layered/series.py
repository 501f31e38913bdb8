r"""The series route: every unit's loss change as a Taylor series, for small steps.

For the output units of layer \(k\) (flat features of any shape), cut into pieces, the route
computes \(G_{nu}(t) = \sum_{p \le P} g_{nup}\,t^p\), the change of example \(n\)'s loss when unit
\(u\) moves by \(t\), for every example and unit of a piece at once: a
[grid move][minifw.nn.layered.grid] of the piece's units in every example is pushed through the
later layers, and a head rule across the last layer and the loss (a softmax and a cross-entropy:
[`RelativeOutputs`][minifw.nn.layers.RelativeOutputs] and
[`TargetClassLoss`][minifw.nn.losses.TargetClassLoss]), or the loss's own series, closes it. A
[unit step move][minifw.nn.layered.steps.UnitSteps] turns the series into every coordinate's
change with a few matrix products.

The plan of a layer (per largest step) fixes each example's reach and the order \(P\), chosen so
that the neglected terms are below the last bit; every lane is then checked: where a kink, a pole
or a slowly decaying series is within reach, that example and unit are left to the exact route.
These are the values of the finite differences themselves, truncation error of the stencil
included, evaluated without the rounding error of subtracting two losses. Plans and the series of
each piece are cached for the batch; the layers' Taylor coefficients and matrices once per order.
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
from minifw.nn.layered.grid import (
    Grid,
    GridMove,
    LayerSeries,
    TermsMove,
    flat,
    scratch_per_lane,
    terms_for,
)
from minifw.nn.layered.moves import Network
from minifw.nn.layers.layer import RelativeOutputs, SeriesLayer
from minifw.nn.losses.loss import TargetClassLoss
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = ["Plan", "SeriesRoute", "converged", "order_for"]

Mask = NDArray[np.bool_]


@final
@attrs.define(eq=False)
class Plan:
    """The series of one layer's units at one largest step: reach, order, and each piece's series.

    `reach` bounds each example's unit moves; `series[p]` holds piece `p`'s series with the lanes
    left to the exact route set to zero, and the mask of the lanes it is trusted for.
    """

    reach: FloatArray
    order: int
    series: dict[int, tuple[AnyArray, Mask]] = attrs.field(factory=dict)


@final
@attrs.define(eq=False)
class SeriesRoute:
    """The series route of one layered objective, along its network."""

    net: Network
    _plans: dict[tuple[int, float], Plan | None] = attrs.field(factory=dict, init=False)
    _layers: LayerSeries = attrs.field(init=False)
    _usable: dict[int, bool] = attrs.field(factory=dict, init=False)
    _targets: tuple[IntArray | None] | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._layers = LayerSeries(self.net.layers, self.net.acts, limits.ELEMENT_BUDGET)

    def plan(self, k: int, max_step: float, bound: Callable[[], FloatArray]) -> Plan | None:
        """Return the plan of layer `k`'s units for steps up to `max_step`, or `None`.

        `bound()` gives each example's largest unit move per unit step (over the layer's step
        moves). `None` when no series applies (a later layer or the loss without one, or steps
        too large).
        """
        key = (k, max_step)
        if key not in self._plans:
            self._plans[key] = None
            if self._has_series(k):
                reach = max_step * bound()
                order = order_for(float(np.max(reach, initial=0.0)))
                if order is not None:
                    self._plans[key] = Plan(reach, order)
        return self._plans[key]

    def piece_series(self, k: int, p: int, units: IntArray, plan: Plan) -> tuple[AnyArray, Mask]:
        """Return `(g, ok)` for piece `p` (`units`): `g` is `(P, N, U)`, `ok` `(N, U)`.

        `ok` marks the `(n, u)` whose series is trusted for moves up to the plan's reach; the
        others are zero in `g`.
        """
        if p not in plan.series:
            g, ok = self._propagate(k, units, plan)
            g[:, ~ok] = 0.0
            plan.series[p] = (g, ok)
        return plan.series[p]

    def _has_series(self, k: int) -> bool:
        if k not in self._usable:
            net = self.net
            layers_ok = all(declares(layer, SeriesLayer) for layer in net.layers[k + 1 :])
            probe = np.zeros((1, 1, net.t.shape[1]))
            self._usable[k] = layers_ok and (
                net.loss.series(net.acts[-1][:1], net.t[:1], probe, np.zeros(1)) is not None
            )
        return self._usable[k]

    def _propagate(self, k: int, units: IntArray, plan: Plan) -> tuple[AnyArray, Mask]:
        """Return `(g, ok)` for `units`, in parts small enough for the scratch budget."""
        n = self.net.acts[k + 1].shape[0]
        order = plan.order
        per_lane = scratch_per_lane(self._layers, k + 1, order)
        per_part = max(1, limits.ELEMENT_BUDGET // (n * per_lane))
        if per_part >= units.size:
            return self._part(k, units, plan)
        g = np.zeros((order, n, units.size))
        ok = np.zeros((n, units.size), dtype=bool)
        for start in range(0, units.size, per_part):
            part = slice(start, start + per_part)
            g[:, :, part], ok[:, part] = self._part(k, units[part], plan)
        return g, ok

    def _part(self, k: int, units: IntArray, plan: Plan) -> tuple[AnyArray, Mask]:
        """Return the series of `G_nu` for every example `n` and the given units `u`."""
        net = self.net
        n = net.acts[0].shape[0]
        grid = Grid(plan.order, n, units.size, plan.reach, self._layers)
        move: GridMove = TermsMove.start(n, units, plan.order)
        ok = np.ones((n, units.size), dtype=bool)
        last = len(net.layers) - 1
        for m in range(k + 1, len(net.layers)):
            if m == last:
                head = self._head(move, m, grid)
                if head is not None:
                    series, ok_head = head
                    ok &= ok_head
                    return self._closed(series, ok, grid)
            move, ok_m = move.through(net.layers[m], m, grid)
            ok &= ok_m
        predictions = net.acts[-1]
        dense = move.dense(math.prod(predictions.shape[1:])).reshape(plan.order, n * units.size, -1)
        rows = grid.rows
        found = net.loss.series(predictions[rows], net.t[rows], dense, grid.lane_reach)
        assert found is not None  # checked by _has_series
        series, ok_loss = found
        ok &= np.asarray(ok_loss, dtype=bool).reshape(n, units.size)
        return self._closed(series, ok, grid)

    def _head(self, move: GridMove, m: int, grid: Grid) -> tuple[AnyArray, Mask] | None:
        r"""Return the rule across the last layer and the loss at once, where it applies.

        The scores of lane \((n, u)\) move by \(z\,w_{nu}\) with \(z = D_{nu}(t)\): the layer and
        the loss give the loss change as a series in \(z\) (to the order its size needs), composed
        once with \(D\).
        """
        net = self.net
        layer, loss = net.layers[m], net.loss
        term = move.single()
        if term is None or not (declares(layer, RelativeOutputs) and declares(loss, TargetClassLoss)):
            return None
        if self._targets is None:
            self._targets = (loss.target_classes(net.t),)
        (target,) = self._targets
        if target is None:
            return None
        y = flat(net.acts[m + 1])
        n, units = grid.examples, grid.units
        vectors = term.direction.vectors(n, y.shape[1])
        amounts = term.amounts.reshape(grid.order, n * units)
        reach = grid.lane_reach
        if term.start:  # z is the step itself
            order, z_reach = grid.order, reach
        else:
            z_reach = _series.magnitude(amounts, reach)
            largest = np.broadcast_to(np.max(np.abs(vectors), axis=-1), (n, units)).reshape(-1)
            ratio = float(np.max(z_reach * largest, initial=0.0)) / limits.ORDER_RADIUS
            order = terms_for(ratio, grid.order)
        relative, ok_layer = layer.relative_series(y, vectors, target, order, z_reach)
        chosen = np.arange(n), target
        series, ok_loss = loss.target_series(
            np.repeat(y[chosen], units), np.repeat(net.t[chosen], units), relative, z_reach
        )
        if not term.start:
            series = _series.compose(series, amounts, term.low)
        return series, np.asarray(ok_layer & ok_loss, dtype=bool).reshape(n, units)

    @staticmethod
    def _closed(series: AnyArray, ok: Mask, grid: Grid) -> tuple[AnyArray, Mask]:
        """Shape the loss series of the lanes `(P, N, U)` and add the convergence check."""
        ok &= converged(series, grid.lane_reach).reshape(grid.examples, grid.units)
        return np.asarray(series).reshape(grid.order, grid.examples, grid.units), ok


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
    last = reach ** (order - 1)
    tail = np.abs(series[-1]) * (last * reach)
    if order > 1:
        tail += np.abs(series[-2]) * last
    tail *= reach / limits.ORDER_RADIUS
    # Against the pair's own size, or a thousandth of the largest in the piece: a pair whose
    # change is tiny next to the others' does not need more relative precision than they do.
    scale = np.maximum(size, 1e-3 * float(np.max(size, initial=0.0)))
    result: Mask = tail <= limits.SERIES_TOLERANCE * scale
    return result
