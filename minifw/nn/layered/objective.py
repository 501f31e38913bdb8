r"""The loss of a layered model on one batch, as an objective that answers changes in bulk.

Moving one parameter of layer \(k\) changes nothing before that layer, so only layers
\(k, k+1, \ldots\) are recomputed, and only for the examples the move reaches. A layer that says
how a step of its parameter moves its output ([`HasStepMoves`][minifw.nn.layers.HasStepMoves])
lets the objective push only that move: for an [`Affine`][minifw.nn.layers.Affine] layer
\(a = xW + b\) a step \(s\) of \(W_{ij}\) moves only output unit \(j\), by \(u_n = s\,x_{ni}\),
and only in examples with \(x_{ni} \ne 0\) (most MNIST pixels are zero); \(b_j\) moves unit \(j\)
by \(s\) in every example. Writing \(G_{nj}(u)\) for the change of example \(n\)'s loss when unit
\(j\) of layer \(k\)'s output moves by \(u\),

\[
L(\theta + s\,e_{W_{ij}}) - L(\theta) = w \sum_n G_{nj}(s\,x_{ni}),
\]

with \(w\) the reduction's weight (\(1/N\) for a mean). The [series route][minifw.nn.layered.series]
gives \(G\) as Taylor series for small steps; the [exact route][minifw.nn.layered.exact] takes
the examples and units the series cannot be trusted for, and every move of a large step. A
parameter of a layer without step moves is perturbed in place and the network recomputed from
that layer on.

The output units of each layer with step moves are cut into a few pieces
([`pieces`][minifw.nn.layered.LayeredObjective.pieces]), fixed by the layer's width alone. Series
and sums are computed, and cached, per piece, and the tasks of a gradient
([`chunks`][minifw.nn.layered.LayeredObjective.chunks]) are the pieces: the weights and the bias
of a piece's units together. A worker computes only the pieces of its own tasks, and a task gives
the same numbers wherever and in whatever order it runs (see
[`minifw.numdiff.workers`][minifw.numdiff.workers]).

The activations it holds also give the exact gradient by backpropagation
([`exact_gradients`][minifw.nn.layered.LayeredObjective.exact_gradients]), which is what
[`Backprop`][minifw.nn.backprop.Backprop] asks for: no second forward pass.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Mapping
from typing import Any, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError
from minifw.nn.capability import declares
from minifw.nn.layered import limits
from minifw.nn.layered.batch_route import BatchRoute
from minifw.nn.layered.channel_steps import ChannelSteps
from minifw.nn.layered.exact import ExactRoute
from minifw.nn.layered.moves import Network
from minifw.nn.layered.series import SeriesRoute
from minifw.nn.layered.steps import StepMove, UnitSteps, coefficients
from minifw.nn.layers.layer import HasParamGradients, HasStepMoves, Layer, RowCoupled
from minifw.nn.losses.loss import Loss
from minifw.nn.penalty import Penalty
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = ["LayeredObjective"]


@final
@attrs.define(eq=False)
class LayeredObjective:
    """The loss of a stack of layers on one batch; see the module text for how it answers.

    `acts[0]` is the batch's input and `acts[k + 1]` the output of `layers[k]` at the
    current parameters; `names` maps each parameter's name to `(layer index, local name)`;
    `t` holds the prepared `(N, K)` targets. The loss must reduce to a scalar. The layers are
    those of one training pass (a dropout layer's mask for this batch, batch normalization by the
    batch's statistics: [`HasTrainingMode`][minifw.nn.layers.HasTrainingMode]); a `penalty` of the
    model's parameters (weight decay) is added to the loss, with its exact changes and gradient.
    """

    layers: tuple[Layer, ...]
    names: Mapping[str, tuple[int, str]]
    loss: Loss
    t: FloatArray
    acts: tuple[FloatArray, ...]
    penalty: Penalty | None = attrs.field(default=None, kw_only=True)
    weight: float = attrs.field(init=False)
    _series: SeriesRoute = attrs.field(init=False, repr=False)
    _exact: ExactRoute = attrs.field(init=False, repr=False)
    _batches: BatchRoute = attrs.field(init=False, repr=False)
    # Per layer: the step moves of its parameters (None: it has none), and its pieces of units.
    _moves: dict[int, Mapping[str, StepMove] | None] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _pieces: dict[int, list[IntArray]] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self.loss.require_scalar()
        self.weight = self.loss.weight(self.t.shape[0])
        net = Network(self.layers, self.loss, self.t, self.acts)
        self._series = SeriesRoute(net)
        self._exact = ExactRoute(net)
        self._batches = BatchRoute(net)

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The model's parameter arrays, by name."""
        return {name: self.layers[k].params[local] for name, (k, local) in self.names.items()}

    def value(self) -> float:
        """Return the loss at the current parameters (from the activations held: no new pass)."""
        return self._total(self.acts[-1])

    def reevaluate(self) -> float:
        """Return the loss at the parameters as they are now: one forward pass through the same layers.

        The same masks and the same kind of statistics as [`value`][minifw.nn.layered.LayeredObjective.value]
        (which is this at the parameters the objective was built at). For checks that move the
        parameters along a direction ([`gradcheck`][minifw.nn.gradcheck.gradcheck]'s fast mode).
        """
        out = self.acts[0]
        for layer in self.layers:
            out = np.asarray(layer.forward(out), dtype=np.float64)
        return self._total(out)

    def _total(self, predictions: FloatArray) -> float:
        value = float(self.loss.reduce(self.loss.evaluate(predictions, self.t)))
        return value if self.penalty is None else value + self.penalty.value(self.params)

    def exact_gradients(self) -> dict[str, FloatArray]:
        r"""Return the exact gradient of the loss by backpropagation from the held activations.

        Starting from \(w\,\partial\ell/\partial y\) (`w` the reduction's weight), each layer's
        [`backward`][minifw.nn.layers.Layer.backward] gives the gradient of its input and its
        parameters, last layer first; the first layer gives its parameters' alone where it can
        ([`HasParamGradients`][minifw.nn.layers.HasParamGradients]): nothing needs the batch's.
        """
        grad = self.weight * self.loss.gradient(self.acts[-1], self.t)
        by_layer: dict[int, dict[str, Any]] = {}
        for k in range(len(self.layers) - 1, 0, -1):
            grad, by_layer[k] = self.layers[k].backward(self.acts[k], self.acts[k + 1], grad)
        first = self.layers[0]
        if declares(first, HasParamGradients):
            by_layer[0] = first.param_gradients(self.acts[0], self.acts[1], grad)
        else:
            _, by_layer[0] = first.backward(self.acts[0], self.acts[1], grad)
        grads = {name: np.asarray(by_layer[k][local]) for name, (k, local) in self.names.items()}
        if self.penalty is not None:
            for name, extra in self.penalty.gradients(self.params).items():
                grads[name] = grads[name] + extra
        return grads

    def chunks(self) -> list[dict[str, IntArray]]:
        """Return the tasks of a gradient (see [`Chunked`][minifw.numdiff.objective.Chunked]).

        For a layer with step moves, one task per piece of its output units
        ([`pieces`][minifw.nn.layered.LayeredObjective.pieces]): the coordinates of each of its
        parameters whose moves fall in those units, which share the piece's series. For
        parameters of other layers, runs of `limits.GENERIC_TASK` coordinates.
        """
        by_layer: dict[int, dict[str, str]] = {}
        for name, (k, local) in self.names.items():
            by_layer.setdefault(k, {})[local] = name
        tasks: list[dict[str, IntArray]] = []
        for k, local_names in by_layer.items():
            moves = self._step_moves(k)
            if moves is None:
                for local, name in local_names.items():
                    size = self.layers[k].params[local].size
                    for start in range(0, size, limits.GENERIC_TASK):
                        tasks.append({name: np.arange(start, min(start + limits.GENERIC_TASK, size))})
                continue
            pieces = self.pieces(k)
            if len(pieces) == 1:  # one task: every coordinate of the layer's parameters
                sizes = {name: self.layers[k].params[local].size for local, name in local_names.items()}
                tasks.append({name: np.arange(size) for name, size in sizes.items()})
                continue
            piece_of = np.zeros(sum(piece.size for piece in pieces), dtype=np.intp)
            for p, units in enumerate(pieces):
                piece_of[units] = p
            of = {name: moves[local].pieces_of(piece_of) for local, name in local_names.items()}
            for p in range(len(pieces)):
                task = {name: np.flatnonzero(where == p) for name, where in of.items()}
                tasks.append({name: index for name, index in task.items() if index.size})
        return tasks

    def pieces(self, k: int) -> list[IntArray]:
        """Return the pieces of layer `k`'s output units (flat features), of nearly equal sizes.

        `isqrt(width // UNIT_SCALE)` of them, at least one (see `limits.UNIT_SCALE`).

        Series and sums are computed, and cached, per piece; the pieces depend on the layer's
        width alone, so a task is computed the same way wherever it runs.
        """
        if k not in self._pieces:
            width = math.prod(self.acts[k + 1].shape[1:])
            count = max(1, math.isqrt(width // limits.UNIT_SCALE))
            self._pieces[k] = list(np.array_split(np.arange(width), count))
        return self._pieces[k]

    def changes(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        """Return `L(params + s e_i) - L(params)` for flat indices of `params[name]`: `(K, M)`."""
        return self._weighted(name, index, steps, np.eye(steps.size)).T

    def combined_changes(
        self, name: str, index: IntArray, steps: NDArray[Any], weights: NDArray[Any]
    ) -> NDArray[Any]:
        r"""Return \(\sum_m w_m (L(\theta + s_m e_i) - L(\theta))\) for each coordinate: `(K,)`.

        What a stencil needs of [`changes`][minifw.nn.layered.LayeredObjective.changes], without
        forming each change: on the series route only the orders the stencil keeps are summed
        (the odd ones for a central difference; see [`minifw.nn.layered.steps`][minifw.nn.layered.steps]).
        """
        combined: NDArray[Any] = self._weighted(name, index, steps, np.asarray(weights)[None, :])[0]
        return combined

    def _weighted(
        self, name: str, index: IntArray, steps: NDArray[Any], weights: NDArray[Any]
    ) -> NDArray[Any]:
        """Return the `(Q, K)` changes of the coordinates combined by the rows of `weights`."""
        k, local = self.names[name]
        moves = self._step_moves(k)
        if moves is None:
            found = weights @ self._exact.perturbed_changes(k, local, index, steps).T
        else:
            move = moves[local]
            every = index.size == self.layers[k].params[local].size and _in_order(index)
            found = (move if every else move.take(index)).loss_changes(self, k, local, steps, weights)
        found *= self.weight
        if self.penalty is not None and name in self.penalty.names:
            values = self.layers[k].params[local].reshape(-1)[index]
            found += weights @ self.penalty.change(name, values, steps).T
        return found

    def unit_steps(
        self, k: int, local: str, move: UnitSteps, steps: AnyArray, weights: AnyArray
    ) -> AnyArray:
        """Return the `(Q, C)` weighted changes of unit steps: series where trusted, exact elsewhere.

        Behind a [row-coupled][minifw.nn.layers.RowCoupled] layer the examples' changes do not
        add up one at a time: there every example moves at once, on the exact batch route.
        """
        if self._coupled_after(k):
            return weights @ self._batches.column_changes(k, move, steps).T
        examples = self.acts[k].shape[0]
        width = math.prod(self.acts[k + 1].shape[1:])
        unit = move.units
        dtype = np.result_type(steps, weights, np.float64)
        out = np.zeros((weights.shape[0], unit.size), dtype=dtype)
        max_step = float(np.max(np.abs(steps), initial=0.0))
        plan = self._series.plan(k, max_step, functools.partial(self._row_bound, k))
        if plan is None:
            exact = np.ones((examples, width), dtype=bool)
        else:
            # Only the columns of the units in index are filled (and read).
            exact = np.zeros((examples, width), dtype=bool)
            kappa = coefficients(steps, weights, plan.order)
            for p, rows in self._groups(k, unit, width):
                units = self.pieces(k)[p]
                g, ok = self._series.piece_series(k, p, units, plan)
                exact[:, units] = ~ok
                part = move if rows is None else move.take(rows)
                found = part.combine(g, kappa, int(units[0]))
                if rows is None:
                    out = found.astype(dtype, copy=False)
                else:
                    out[:, rows] = found
        if exact.any():
            out += weights @ self._exact.unit_changes(k, move, exact, steps).T
        return out

    def _groups(self, k: int, unit: IntArray, width: int) -> list[tuple[int, IntArray | None]]:
        """Return the pieces the units fall in, with the positions of each (`None`: all, one piece)."""
        pieces = self.pieces(k)
        if len(pieces) == 1:
            return [(0, None)]
        starts = [int(piece[0]) for piece in pieces]
        first = bisect.bisect_right(starts, int(unit.min(initial=width))) - 1
        last = bisect.bisect_right(starts, int(unit.max(initial=0))) - 1
        if first == last:
            return [(first, None)]  # a task: one piece
        piece_of = np.searchsorted(starts, unit, side="right") - 1
        found = [(p, np.flatnonzero(piece_of == p)) for p in range(first, last + 1)]
        return [(p, rows) for p, rows in found if rows.size]

    def channel_steps(
        self, k: int, local: str, move: ChannelSteps, steps: AnyArray, weights: AnyArray
    ) -> AnyArray:
        """Return the `(Q, C)` weighted changes of channel steps: the exact batch route."""
        found: AnyArray = weights @ self._batches.channel_changes(k, move, steps).T
        return found

    def _step_moves(self, k: int) -> Mapping[str, StepMove] | None:
        """Return the step moves of layer `k`'s parameters for the batch (`None`: it has none)."""
        if k not in self._moves:
            layer = self.layers[k]
            found = layer.step_moves(self.acts[k]) if declares(layer, HasStepMoves) else None
            if found is not None:
                _check_moves(layer, found, self.acts[k].shape[0], math.prod(self.acts[k + 1].shape[1:]))
            self._moves[k] = found
        return self._moves[k]

    def _coupled_after(self, k: int) -> bool:
        """Whether a layer after `k` couples the batch's rows (batch normalization in training)."""
        return any(declares(later, RowCoupled) for later in self.layers[k + 1 :])

    def _row_bound(self, k: int) -> FloatArray:
        """Each example's largest unit move per unit step, over layer `k`'s parameters."""
        moves = self._step_moves(k)
        assert moves is not None  # only layers with step moves are planned
        bound: FloatArray = functools.reduce(np.maximum, [m.row_bound() for m in moves.values()])
        return bound


def _in_order(index: IntArray) -> bool:
    """Whether `index` is `0, 1, ..., size - 1` (a whole parameter, in order)."""
    return bool(index.size == 0 or (index[0] == 0 and index[-1] == index.size - 1 and (np.diff(index) == 1).all()))


def _check_moves(layer: Layer, moves: Mapping[str, StepMove], examples: int, features: int) -> None:
    """Refuse step moves that do not describe the layer's parameters on this batch."""
    name = type(layer).__name__
    if not isinstance(moves, Mapping) or set(moves) != set(layer.params):
        got = sorted(moves) if isinstance(moves, Mapping) else type(moves).__name__
        raise DifferentiationError(
            f"{name}.step_moves must give one step move per parameter {sorted(layer.params)}, "
            f"got {got}"
        )
    for local, move in moves.items():
        wrong = (
            f"is a {type(move).__name__}, not a StepMove"
            if not isinstance(move, StepMove)
            else move.check(layer.params[local].size, examples, features)
        )
        if wrong is not None:
            raise DifferentiationError(f"{name}.step_moves()[{local!r}]: {wrong}")
