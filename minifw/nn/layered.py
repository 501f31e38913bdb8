r"""The loss of a layered model on one batch, as an objective that answers changes in bulk.

Moving one parameter of layer \(k\) changes nothing before that layer, so only layers
\(k, k+1, \ldots\) are recomputed, and only for the examples the move reaches. For an
[`Affine`][minifw.nn.layers.Affine] layer \(a = xW + b\) the structure is simplest: a step
\(s\) of \(W_{ij}\) moves only output unit \(j\), by \(u_n = s\,x_{ni}\), and only
in examples with \(x_{ni} \ne 0\) (most MNIST pixels are zero); \(b_j\) moves unit
\(j\) by \(s\) in every example. Writing \(G_{nj}(u)\) for the change of example
\(n\)'s loss when unit \(j\) of layer \(k\)'s output moves by \(u\),

\[
L(\theta + s\,e_{W_{ij}}) - L(\theta) = w \sum_n G_{nj}(s\,x_{ni}),
\]

with \(w\) the reduction's weight (\(1/N\) for a mean). Two routes evaluate it:

- **exact**: each distinct move \((n, j, u)\) is pushed through the layers after \(k\)
  with their [`change`][minifw.nn.layers.Layer.change] rules (no cancellation), and the loss change
  is taken with [`loss_change`][minifw.nn.loss_changes.loss_change]. Moves that are equal are computed
  once (in an example, pixels of equal value move a hidden unit identically).
- **series**, for small steps: the Taylor coefficients \(G_{nj}(u) = \sum_{p \le P}
  g_{njp} u^p\) are propagated through the same layers
  ([`SeriesLayer`][minifw.nn.layers.SeriesLayer]), and then
  \(\sum_n G_{nj}(s\,x_{ni}) = \sum_p s^p \sum_n x_{ni}^p\,g_{njp}\): a few matrix products
  give every \(W_{ij}\) at once. The order \(P\) is chosen from the largest move so that
  the neglected terms are below the last bit (checked for every example and unit: where a kink,
  a pole or a slowly decaying series is within reach, that example and unit take the exact
  route). These are the values of the finite differences themselves, truncation error of the
  stencil included, evaluated without the rounding error of subtracting two losses.

The output units of each Affine layer are cut into a few pieces
([`LayeredObjective.pieces`][minifw.nn.layered.LayeredObjective.pieces]), fixed by the layer's width
alone. Series and sums are computed, and cached, per piece, and the tasks of a gradient
([`LayeredObjective.chunks`][minifw.nn.layered.LayeredObjective.chunks]) are the pieces: the weights
and the bias of a piece's units together. A worker computes only the pieces of its own tasks, and a
task gives the same numbers wherever and in whatever order it runs (see
[`minifw.numdiff.workers`][minifw.numdiff.workers]). Within a piece, work is split into parts of bounded size, so
scratch memory stays bounded whatever the model.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError
from minifw.nn import _series
from minifw.nn.layers import Activation, Affine, Layer, SeriesLayer, Softmax
from minifw.nn.loss_changes import loss_change, loss_series, single_targets
from minifw.nn.losses import CrossEntropy, Loss
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = ["LayeredObjective"]


# Largest number of elements in one scratch array (8 MiB of float64).
ELEMENT_BUDGET = 1 << 20
# A layer of w output units is cut into isqrt(w // UNIT_SCALE) pieces (at least one), each a
# task of a gradient (its W columns and b entries): 2 for the book's 50 hidden units, 6 for
# 500. A piece has a fixed cost (its series are computed in parts of bounded memory, rounded
# up per piece), so the pieces grow with the layer, and their number more slowly.
UNIT_SCALE = 12
# Coordinates per task for parameters of layers other than Affine.
GENERIC_TASK = 64
# Highest series order tried; larger moves take the exact route.
MAX_ORDER = 12
# A series is trusted when its last terms are below this fraction of its size.
SERIES_TOLERANCE = 2.0**-56
# Assumed convergence radius of a change's series in u, when choosing the order and judging
# the neglected terms (the book's networks measure about 1; the check decides per pair).
_ORDER_RADIUS = 0.5


@final
@attrs.define(eq=False)
class LayeredObjective:
    """The loss of a stack of layers on one batch; see the module text for how it answers.

    `acts[0]` is the batch's input and `acts[k + 1]` the output of `layers[k]` at the
    current parameters; `names` maps each parameter's name to `(layer index, local name)`;
    `t` holds the prepared `(N, K)` targets.
    """

    layers: tuple[Layer, ...]
    names: Mapping[str, tuple[int, str]]
    loss: Loss
    t: FloatArray
    acts: tuple[FloatArray, ...]
    weight: float = attrs.field(init=False)
    # Lazily filled, per layer k, piece p (of the layer's units) and largest step: the plan
    # (each example's reach and the order, or None), the series and the sums of each piece.
    _plans: dict[tuple[int, float], tuple[FloatArray, int] | None] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _series_cache: dict[tuple[int, int, float], tuple[AnyArray, NDArray[np.bool_]]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _sum_cache: dict[tuple[int, str, int, float], list[AnyArray]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _powers: dict[int, tuple[IntArray, list[AnyArray]]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _pieces: dict[int, list[IntArray]] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self.weight = self.loss.weight(self.t.shape[0])

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The model's parameter arrays, by name."""
        return {name: self.layers[k].params[local] for name, (k, local) in self.names.items()}

    def value(self) -> float:
        """Return the loss at the current parameters."""
        return float(self.weight * np.sum(self.loss.evaluate(self.acts[-1], self.t)))

    def chunks(self) -> list[dict[str, IntArray]]:
        """Return the tasks of a gradient (see [`Chunked`][minifw.numdiff.objective.Chunked]).

        For an Affine layer, one task per piece of its output units
        ([`pieces`][minifw.nn.layered.LayeredObjective.pieces]): the columns of `W` and the entries of
        `b` of those units, which share the piece's series. For parameters of other layers, runs of
        `GENERIC_TASK` coordinates.
        """
        by_layer: dict[int, dict[str, str]] = {}
        for name, (k, local) in self.names.items():
            by_layer.setdefault(k, {})[local] = name
        tasks: list[dict[str, IntArray]] = []
        for k, local_names in by_layer.items():
            layer = self.layers[k]
            if isinstance(layer, Affine):
                inputs, width = layer.W.shape
                for units in self.pieces(k):
                    task: dict[str, IntArray] = {}
                    for local, name in local_names.items():
                        task[name] = (
                            (np.arange(inputs)[:, None] * width + units).reshape(-1)
                            if local == "W"
                            else units.copy()
                        )
                    tasks.append(task)
                continue
            for local, name in local_names.items():
                size = layer.params[local].size
                for start in range(0, size, GENERIC_TASK):
                    tasks.append({name: np.arange(start, min(start + GENERIC_TASK, size))})
        return tasks

    def pieces(self, k: int) -> list[IntArray]:
        """Return the pieces of layer `k`'s output units, of nearly equal sizes.

        `isqrt(width // UNIT_SCALE)` of them, at least one (see `UNIT_SCALE`).

        Series and sums are computed, and cached, per piece; the pieces depend on the layer's
        width alone, so a task is computed the same way wherever it runs.
        """
        if k not in self._pieces:
            width = self.acts[k + 1].shape[1]
            count = max(1, math.isqrt(width // UNIT_SCALE))
            self._pieces[k] = list(np.array_split(np.arange(width), count))
        return self._pieces[k]

    def changes(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        """Return `L(params + s e_i) - L(params)` for flat indices of `params[name]`."""
        k, local = self.names[name]
        layer = self.layers[k]
        if isinstance(layer, Affine):
            return self._affine(k, local, index, steps)
        return self._generic(k, local, index, steps)

    # --- Affine parameters ------------------------------------------------------------------

    def _affine(self, k: int, local: str, index: IntArray, steps: AnyArray) -> AnyArray:
        layer = self.layers[k]
        assert isinstance(layer, Affine)
        x = self.acts[k]
        width = layer.W.shape[1]
        if local == "W":
            pixel, unit = np.divmod(index, width)
        else:
            pixel, unit = np.zeros_like(index), index
        dtype = np.result_type(steps, np.float64)
        out = np.zeros((index.size, steps.size), dtype=dtype)
        max_step = float(np.max(np.abs(steps), initial=0.0))
        plan = self._plan(k, max_step)
        if plan is None:
            exact = np.ones((x.shape[0], width), dtype=bool)
        else:
            # Only the columns of the units in index are filled (and read).
            exact = np.zeros((x.shape[0], width), dtype=bool)
            pieces = self.pieces(k)
            starts = [int(piece[0]) for piece in pieces]
            first = bisect.bisect_right(starts, int(unit.min(initial=width))) - 1
            last = bisect.bisect_right(starts, int(unit.max(initial=0))) - 1
            groups: list[tuple[int, Any]] = [(first, slice(None))]  # a task: one piece
            if first != last:
                piece_of = np.searchsorted(starts, unit, side="right") - 1
                groups = [(p, np.flatnonzero(piece_of == p)) for p in range(first, last + 1)]
                groups = [(p, rows) for p, rows in groups if rows.size]
            for p, rows in groups:
                units = pieces[p]
                _, ok = self._piece_series(k, p, max_step)
                exact[:, units] = ~ok
                out[rows] = self._series_changes(
                    k, local, p, pixel[rows], unit[rows] - int(units[0]), steps, max_step
                )
        if np.any(exact):
            out += self._exact_unit_changes(k, local, pixel, unit, exact, steps)
        result: AnyArray = self.weight * out
        return result

    def _series_changes(
        self,
        k: int,
        local: str,
        p: int,
        pixel: IntArray,
        column: IntArray,
        steps: AnyArray,
        max_step: float,
    ) -> AnyArray:
        """Return `sum_q s^q S_q[i, j]` for coordinates `(pixel, column)` of piece `p`.

        Horner's rule, one column per step. For a whole piece (a task) it runs on the sums
        themselves and the result is then picked in index order: the same operations per
        element as picking first.
        """
        sums = self._piece_sums(k, local, p, max_step)
        dtype = np.result_type(steps, np.float64)
        out = np.zeros((steps.size, column.size), dtype=dtype)  # returned transposed
        width = sums[0].shape[-1]
        if local == "W":
            active, _ = self._input_powers(k, 0)
            inputs = self.acts[k].shape[1]
            whole = column.size == inputs * width
            flat = pixel * width + column
        else:
            whole = column.size == width
            flat = column
        # The order of chunks(): the piece's coordinates as they lie in (inputs, J).
        in_order = whole and np.array_equal(flat, np.arange(flat.size))
        for m, step in enumerate(steps.tolist()):
            if whole:
                acc = np.zeros(sums[0].shape, dtype=dtype)
                for q in range(len(sums), 0, -1):
                    acc += sums[q - 1]
                    acc *= step
                if local == "b":
                    out[m] = acc[flat]
                elif in_order:
                    # Inputs that are 0 in every example move nothing: their changes stay 0.
                    out[m].reshape(inputs, width)[active] = acc
                else:
                    full = np.zeros((inputs, width), dtype=dtype)
                    full[active] = acc
                    out[m] = full.reshape(-1)[flat]
                continue
            keep: Any
            if local == "W":
                position = np.full(inputs, -1)
                position[active] = np.arange(active.size)
                row, keep = position[pixel], position[pixel] >= 0
                picks = [sums[q][row[keep], column[keep]] for q in range(len(sums))]
            else:
                keep = slice(None)
                picks = [sums[q][column] for q in range(len(sums))]
            acc = np.zeros(picks[0].size, dtype=dtype)
            for q in range(len(sums), 0, -1):
                acc += picks[q - 1]
                acc *= step
            out[m, keep] = acc
        return out.T

    def _piece_sums(self, k: int, local: str, p: int, max_step: float) -> list[AnyArray]:
        """Return `S_q = sum_n x_ni^q g_njq` (W) or `sum_n g_njq` (b), q = 1..P, piece p.

        For W only the rows of the inputs that are not 0 in every example (most of MNIST's
        border is 0): `(active inputs, J)`.
        """
        key = (k, local, p, max_step)
        if key not in self._sum_cache:
            plan = self._plan(k, max_step)
            assert plan is not None
            order = plan[1]
            g, ok = self._piece_series(k, p, max_step)
            trusted = np.where(ok, g, 0.0)
            if local == "W":
                _, powers = self._input_powers(k, order)
                sums = [powers[q] @ trusted[q] for q in range(order)]
            else:
                sums = [trusted[q].sum(axis=0) for q in range(order)]
            self._sum_cache[key] = sums
        return self._sum_cache[key]

    def _input_powers(self, k: int, order: int) -> tuple[IntArray, list[AnyArray]]:
        """Return the inputs of layer k not 0 in every example, and their powers 1..order.

        The powers are of the transposed input, `(active inputs, N)`; kept when small.
        """
        if k not in self._powers:
            xt = np.ascontiguousarray(self.acts[k].T)
            active = np.flatnonzero(np.any(xt != 0, axis=1))
            self._powers[k] = (active, [xt[active]])
        active, kept = self._powers[k]
        if len(kept) >= order:
            return active, kept[:order]
        powers = list(kept)
        while len(powers) < order:
            powers.append(powers[-1] * kept[0])
        if order * kept[0].size <= ELEMENT_BUDGET:
            self._powers[k] = (active, powers)
        return active, powers

    def _plan(self, k: int, max_step: float) -> tuple[FloatArray, int] | None:
        """Return `(reach, P)`: each example's largest move and the series order, or `None`.

        `None` when no series applies (a layer or the loss without one, or steps too large).
        """
        key = (k, max_step)
        if key not in self._plans:
            x = self.acts[k]
            reach = max_step * np.maximum(1.0, np.max(np.abs(x), axis=1))
            order = _order_for(float(np.max(reach, initial=0.0)))
            ok = order is not None and self._has_series(k)
            self._plans[key] = (reach, order) if ok and order is not None else None
        return self._plans[key]

    def _piece_series(self, k: int, p: int, max_step: float) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Return `(g, ok)`: the series of every `G_nj` of piece `p`'s units to order P.

        `g` is `(P, N, J)`; `ok` marks the `(n, j)` whose series is trusted for moves
        up to `max_step * max(1, max_i |x_ni|)`.
        """
        key = (k, p, max_step)
        if key not in self._series_cache:
            plan = self._plan(k, max_step)
            assert plan is not None
            reach, order = plan
            self._series_cache[key] = self._propagate_series(k, self.pieces(k)[p], reach, order)
        return self._series_cache[key]

    def _has_series(self, k: int) -> bool:
        later = self.layers[k + 1 :]
        if not all(isinstance(layer, SeriesLayer) for layer in later):
            return False
        probe = np.zeros((1, 1, self.t.shape[1]))
        return loss_series(self.loss, self.acts[-1][:1], self.t[:1], probe, np.zeros(1)) is not None

    def _propagate_series(
        self, k: int, units: IntArray, reach: FloatArray, order: int
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Return `(g, ok)` for `units`, in parts small enough for the scratch budget."""
        n = self.acts[k + 1].shape[0]
        widest = max(a.shape[1] for a in self.acts[k + 1 :])
        per_part = max(1, ELEMENT_BUDGET // (order * n * widest))
        g = np.zeros((order, n, units.size))
        ok = np.zeros((n, units.size), dtype=bool)
        for start in range(0, units.size, per_part):
            part = slice(start, start + per_part)
            g[:, :, part], ok[:, part] = self._series_piece(k, units[part], reach, order)
        return g, ok

    def _series_piece(
        self, k: int, units: IntArray, reach: FloatArray, order: int
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Return the series of `G_nj` for all examples `n` and the given units `j`."""
        n = self.acts[0].shape[0]
        rows = np.repeat(np.arange(n), units.size)
        cols = np.tile(units, n)
        pair_reach = reach[rows]
        # The move of unit j itself: the series u (coefficient 1, then zeros). It stays a move
        # of one unit through elementwise layers; an Affine layer turns it into d(u) * w, a
        # scalar series times a fixed vector ("rank one"), which further Affine layers keep.
        d: AnyArray = np.zeros((order, rows.size))
        d[0] = 1.0
        stage = "unit"
        w: AnyArray = np.zeros(0)
        dense: AnyArray = np.zeros(0)
        ok = np.ones(rows.size, dtype=bool)
        last = len(self.layers) - 1
        for m in range(k + 1, len(self.layers)):
            layer = self.layers[m]
            x_m, y_m = self.acts[m], self.acts[m + 1]
            if stage == "unit":
                if isinstance(layer, Activation):
                    d, ok_m = layer.series_change(x_m[rows, cols], y_m[rows, cols], d, pair_reach)
                    ok &= ok_m
                    continue
                if isinstance(layer, Affine):
                    stage, w = "rank one", layer.W[units]  # one vector per unit, (J, width)
                    continue
                if m == last and isinstance(layer, Softmax):
                    # A move of one score is d(u) times a unit vector: rank one as well.
                    stage, w = "rank one", np.eye(x_m.shape[1])[units]
                else:
                    stage, dense = "dense", _unit_to_dense(d, cols, x_m.shape[1], None)
            if stage == "rank one":
                if isinstance(layer, Affine):
                    w = w @ layer.W
                    continue
                if m == last and isinstance(layer, Softmax):
                    head = _softmax_head(self.loss, y_m, self.t, d, w, pair_reach)
                    if head is not None:
                        series, ok_head = head
                        ok &= ok_head & _converged(series, pair_reach)
                        return series.reshape(order, n, units.size), ok.reshape(n, units.size)
                stage, dense = "dense", d[..., None] * np.tile(w, (n, 1))
            assert isinstance(layer, SeriesLayer)
            dense, ok_m = layer.series_change(x_m[rows], y_m[rows], dense, pair_reach)
            ok &= ok_m
        if stage == "unit":
            dense = _unit_to_dense(d, cols, self.acts[-1].shape[1], None)
        elif stage == "rank one":
            dense = d[..., None] * np.tile(w, (n, 1))
        found = loss_series(self.loss, self.acts[-1][rows], self.t[rows], dense, pair_reach)
        assert found is not None
        series, ok_loss = found
        ok &= ok_loss & _converged(series, pair_reach)
        return series.reshape(order, n, units.size), ok.reshape(n, units.size)

    def _exact_unit_changes(
        self,
        k: int,
        local: str,
        pixel: IntArray,
        unit: IntArray,
        exact: NDArray[np.bool_],
        steps: AnyArray,
    ) -> AnyArray:
        """Sum, per coordinate and step, the exact loss changes of the moves in `exact`.

        Coordinate `c` moves unit `unit[c]` of example `n` by `s x[n, pixel[c]]` (W) or
        `s` (b); only examples with `exact[n, unit[c]]` (and a non-zero input) are computed.
        """
        x = self.acts[k]
        dtype = np.result_type(steps, np.float64)
        out = np.zeros((unit.size, steps.size), dtype=dtype)
        # Only coordinates whose unit has an example on the exact route.
        needed = np.flatnonzero(np.any(exact, axis=0)[unit])
        if needed.size == 0:
            return out
        if local == "W":
            factor = x[:, pixel[needed]]  # (N, C)
            reached = exact[:, unit[needed]] & (factor != 0)
        else:
            factor = np.ones((x.shape[0], needed.size))
            reached = exact[:, unit[needed]]
        example, coord = np.nonzero(reached)
        values = factor[example, coord]
        # Equal moves are computed once: key (example, unit, input value).
        _, value_code = np.unique(values, return_inverse=True)
        width = self.acts[k + 1].shape[1]
        key = (example * width + unit[needed[coord]]) * (int(value_code.max(initial=0)) + 1) + value_code
        _, first, group = np.unique(key, return_index=True, return_inverse=True)
        g_example, g_unit, g_value = example[first], unit[needed[coord[first]]], values[first]
        for m, step in enumerate(steps.tolist()):
            change = self._exact_moves(k, g_example, g_unit, step * g_value)
            out[needed, m] = _sum_by(coord, change[group], needed.size)
        return out

    def _exact_moves(self, k: int, rows: IntArray, units: IntArray, amounts: AnyArray) -> AnyArray:
        """Return each example's exact loss change when unit `units` of layer k moves."""
        widest = max(a.shape[1] for a in self.acts[k + 1 :])
        per_piece = max(1, ELEMENT_BUDGET // widest)
        out = np.zeros(rows.size, dtype=np.result_type(amounts, np.float64))
        for start in range(0, rows.size, per_piece):
            piece = slice(start, start + per_piece)
            out[piece] = self._propagate_exact(k, rows[piece], units[piece], amounts[piece])
        return out

    def _propagate_exact(self, k: int, rows: IntArray, units: IntArray, amounts: AnyArray) -> AnyArray:
        scalar: AnyArray | None = amounts
        dense: AnyArray = np.zeros(0)
        for m in range(k + 1, len(self.layers)):
            layer = self.layers[m]
            x_m, y_m = self.acts[m], self.acts[m + 1]
            if scalar is not None and isinstance(layer, Activation):
                scalar = layer.change(x_m[rows, units], y_m[rows, units], scalar)
                continue
            if scalar is not None:
                dense = _unit_to_dense(scalar[None], units, x_m.shape[1], layer)[0]
                scalar = None
                if isinstance(layer, Affine):
                    continue
            dense = layer.change(x_m[rows], y_m[rows], dense)
        if scalar is not None:
            dense = _unit_to_dense(scalar[None], units, self.acts[-1].shape[1], None)[0]
        return _checked_loss_change(self.loss, self.acts[-1][rows], dense, self.t[rows])

    # --- parameters of other layers ---------------------------------------------------------

    def _generic(self, k: int, local: str, index: IntArray, steps: AnyArray) -> AnyArray:
        """Perturb a parameter of a layer that is not Affine, recompute from that layer on."""
        if np.iscomplexobj(steps):
            raise DifferentiationError(
                f"{type(self.layers[k]).__name__} parameters are perturbed in place, which a "
                "complex step cannot do; use a real scheme such as CentralDiff"
            )
        layer = self.layers[k]
        arr = layer.params[local]
        flat = arr.reshape(-1)
        x_k, y_k = self.acts[k], self.acts[k + 1]
        rows = np.arange(x_k.shape[0])
        out = np.zeros((index.size, steps.size))
        for c, i in enumerate(index.tolist()):
            original = float(flat[i])
            try:
                for m, step in enumerate(steps.tolist()):
                    flat[i] = original + step
                    moved = layer.forward(x_k) - y_k
                    flat[i] = original
                    out[c, m] = np.sum(self._propagate_dense(k + 1, rows, moved))
            finally:
                flat[i] = original
        result: AnyArray = self.weight * out
        return result

    def _propagate_dense(self, start: int, rows: IntArray, dense: AnyArray) -> AnyArray:
        for m in range(start, len(self.layers)):
            dense = self.layers[m].change(self.acts[m][rows], self.acts[m + 1][rows], dense)
        return _checked_loss_change(self.loss, self.acts[-1][rows], dense, self.t[rows])


def _unit_to_dense(scalar: AnyArray, cols: IntArray, width: int, layer: Layer | None) -> AnyArray:
    """Turn moves of single units into full rows (through `layer` when it is Affine).

    `scalar` is `(P, R)` (series coefficients or, with `P = 1`, plain amounts); an Affine
    layer maps a move of input unit `j` to `scalar * W[j, :]` directly.
    """
    if isinstance(layer, Affine):
        result: AnyArray = scalar[..., None] * layer.W[cols]
        return result
    dense = np.zeros((*scalar.shape, width), dtype=scalar.dtype)
    dense[:, np.arange(cols.size), cols] = scalar
    return dense


def _softmax_head(
    loss: Loss, y: FloatArray, t: FloatArray, d: AnyArray, w: AnyArray, reach: FloatArray
) -> tuple[AnyArray, NDArray[np.bool_]] | None:
    r"""Return the cross-entropy change of softmax outputs whose scores move by \(d(u)\,w\).

    With \(D_m = d^m\) (series), \(e^{d w_k} - 1 = \sum_m w_k^m D_m / m!\), so
    \(s = \sum_k y_k (e^{d w_k} - 1) = \sum_m M_m D_m\) with the moments
    \(M_m = \sum_k y_k w_k^m / m!\): a handful of multiply-adds per example instead of one
    exponential per class. Then
    \(y'_c / y_c - 1 = (e_c - s)/(1 + s)\) for the target class \(c\), and the change is
    \(-t_c \operatorname{log1p}\big(\tfrac{y_c}{y_c + \varepsilon}(y'_c/y_c - 1)\big)\).
    `None` where this does not apply (another loss, or targets with several classes).
    """
    if not isinstance(loss, CrossEntropy):
        return None
    target = single_targets(t)
    if target is None:
        return None
    # Pair b = n * J + j (example n, unit j); w holds one vector per unit, (J, K).
    n, units = y.shape[0], w.shape[0]
    order = d.shape[0]
    # D[m - 1] = d^m / m!, a series that starts at order m.
    powers = np.empty((order, *d.shape))
    powers[0] = d
    for m in range(2, order + 1):
        powers[m - 1] = _series.multiply(powers[m - 2], d, low_a=m - 1) / m
    # Moments M[m - 1, n, j] = sum_k y_nk w_jk^m, and the target's w_jc^m, for m = 1..P.
    w_powers = np.cumprod(np.broadcast_to(w, (order, *w.shape)), axis=0)  # (P, J, K)
    moments = np.matmul(y, w_powers.transpose(0, 2, 1)).reshape(order, -1)  # (P, N * J)
    target_powers = w_powers[:, :, target].transpose(0, 2, 1).reshape(order, -1)
    s = np.einsum("mb,mpb->pb", moments, powers)
    e = np.einsum("mb,mpb->pb", target_powers, powers)
    diff = e - s
    rows = np.arange(n)
    y_target = np.repeat(y[rows, target], units)
    t_target = np.repeat(t[rows, target], units)
    inverse = _series.reciprocal_change(s)
    ratio = (y_target / (y_target + loss.eps)) * (diff + _series.multiply(diff, inverse))
    series = -t_target * _series.log1p(ratio)
    ok = (_series.magnitude(s, reach) <= 0.5) & (_series.magnitude(ratio, reach) <= 0.5)
    return series, ok


def _order_for(reach: float) -> int | None:
    """Return the series order whose first neglected term is below the last bit, or `None`."""
    if reach == 0.0:
        return 1
    ratio = reach / _ORDER_RADIUS
    if ratio >= 0.25:
        return None
    order = 1 + math.ceil(math.log(SERIES_TOLERANCE) / math.log(ratio))
    return order if order <= MAX_ORDER else None


def _converged(series: AnyArray, reach: FloatArray) -> NDArray[np.bool_]:
    """Whether the last two terms are negligible against the whole, at the largest move."""
    order = series.shape[0]
    size = _series.magnitude(series, reach)
    # The first neglected term, estimated from the last two (both, against a pattern of zeros).
    tail = np.abs(series[-1]) * reach**order
    if order > 1:
        tail = tail + np.abs(series[-2]) * reach ** (order - 1)
    tail = tail * (reach / _ORDER_RADIUS)
    # Against the pair's own size, or a thousandth of the largest in the piece: a pair whose
    # change is tiny next to the others' does not need more relative precision than they do.
    scale = np.maximum(size, 1e-3 * float(np.max(size, initial=0.0)))
    result: NDArray[np.bool_] = tail <= SERIES_TOLERANCE * scale
    return result


def _sum_by(group: IntArray, values: AnyArray, size: int) -> AnyArray:
    """Sum `values` per `group` (in order, so the result does not depend on chunking)."""
    if np.iscomplexobj(values):
        real = np.bincount(group, weights=values.real, minlength=size)
        imag = np.bincount(group, weights=values.imag, minlength=size)
        complex_sum: AnyArray = real + 1j * imag
        return complex_sum
    result: AnyArray = np.bincount(group, weights=values, minlength=size)
    return result


def _checked_loss_change(loss: Loss, y: AnyArray, dy: AnyArray, t: FloatArray) -> AnyArray:
    change = np.asarray(loss_change(loss, y, dy, t))
    if change.shape != (y.shape[0],):
        raise DifferentiationError(
            f"loss_change for {type(loss).__name__} must return one value per row "
            f"({y.shape[0]},), got shape {change.shape}"
        )
    return change
