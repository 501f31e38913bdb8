r"""The layer contract: the rules every layer keeps, and the capabilities a layer may declare.

[`Layer`][minifw.nn.layers.Layer] is the abstract base (forward, backward, change); the protocols
here are what a layer may say besides, so that fast numerical gradients can take shortcuts
through it (the table is in [`minifw.nn.layers`][minifw.nn.layers]). A layer declares one by
having its methods; nothing is registered.

Examples:
    >>> import numpy as np
    >>> from minifw.nn.layers import Affine, Elementwise, Linear, Sigmoid
    >>> isinstance(Sigmoid(), Elementwise), isinstance(Sigmoid(), Linear)
    (True, False)
    >>> isinstance(Affine(W=np.ones((2, 3)), b=np.zeros(3)), Linear)
    True

"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from minifw.typing import AnyArray, FloatArray, IntArray

if TYPE_CHECKING:
    from minifw.nn.layered.steps import StepMove

__all__ = [
    "Channelwise",
    "Elementwise",
    "Featurewise",
    "HasParamGradients",
    "HasRunningStatistics",
    "HasStepMoves",
    "HasTaylor",
    "HasTrainingMode",
    "Layer",
    "Linear",
    "PerExample",
    "PiecewiseLinear",
    "RankOneCoupled",
    "RelativeOutputs",
    "RowCoupled",
    "SeriesLayer",
]


class Layer(abc.ABC):
    r"""One stage of a network: forward, backward and change rules side by side.

    Shapes: `x` is `(R, *input features)` (`R` rows, one per example), `y = forward(x)` is
    `(R, *output features)`; the built-in layers take and give `(R, n)`. Every method receives
    the rows it concerns and must not modify its arguments.

    A new layer implements the four members below. Numerical gradients then work for any model
    built from it, and [`backward`][minifw.nn.layers.Layer.backward] gives the exact gradient that
    [`gradcheck`][minifw.nn.gradcheck] checks them against. A smooth elementwise function is simpler
    to write as an [`Activation`][minifw.nn.layers.Activation]; a layer with parameters gets fast
    numerical gradients of them by saying how their steps move its output
    ([`HasStepMoves`][minifw.nn.layers.HasStepMoves]).
    """

    @property
    @abc.abstractmethod
    def params(self) -> dict[str, FloatArray]:
        """The layer's parameter arrays by local name (`{}` for none); updated in place."""

    @abc.abstractmethod
    def forward(self, x: AnyArray) -> AnyArray:
        """Return the output for inputs `x` of shape `(R, *input features)`."""

    @abc.abstractmethod
    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""Return \(\partial L/\partial x\) and \(\partial L/\partial\theta\) by name.

        `dy` is \(\partial L/\partial y\), the shape of `y`; the parameter gradients sum
        over the rows.
        """

    @abc.abstractmethod
    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""Return \(f(x + \Delta x) - f(x)\) for moves `dx` of the inputs `x`.

        `x`, `y` and `dx` have the same number of rows (each row of `dx` moves the matching row of
        `x`). Compute it so that a tiny move keeps its relative precision (not as
        `forward(x + dx) - y` where a better formula exists), and with complex arithmetic when `dx`
        is complex (a complex step) or raise
        [`DifferentiationError`][minifw.errors.DifferentiationError] where the layer is not
        analytic.
        """

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The shape of one example this layer takes (after the batch axis), if it says.

        `None` (the default) accepts any; [`Affine`][minifw.nn.layers.Affine] says `(n_in,)`,
        which lets a model name the inputs it expects in its error messages.
        """
        return None


@runtime_checkable
class SeriesLayer(Protocol):
    """A layer that propagates Taylor series of changes (the fast path for tiny steps)."""

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        r"""Return the series of the output change and which rows it is valid for.

        `dx` has shape `(P, R, *input features)`: coefficients of \(u^1, \ldots, u^P\) of each
        row's input move. `reach` (`(R,)`) bounds \(|u|\). The second result is `False` for a row
        whose series cannot be trusted up to that reach (a kink or a pole within reach); those rows
        are then computed with [`Layer.change`][minifw.nn.layers.Layer.change].
        """
        ...


@runtime_checkable
class Elementwise(Protocol):
    r"""A layer whose output unit \(j\) depends on input unit \(j\) alone (same shape in and out).

    A move of one unit then stays a move of that unit: only the moved values are computed.
    The arguments are gathered values, one per moved unit, in any shape.
    """

    def unit_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""Return \(f(x + \Delta x) - f(x)\) elementwise for the gathered `x`, `y` and moves."""
        ...

    def unit_series(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        r"""Return the series of the change of each gathered unit, `dx` of shape `(P, R)`.

        As [`SeriesLayer.series_change`][minifw.nn.layers.SeriesLayer.series_change] with one unit
        per row: the mask says which of the `R` moves the series is trusted for.
        """
        ...


@runtime_checkable
class HasTaylor(Protocol):
    r"""An elementwise layer that gives the Taylor coefficients of its change at any input.

    With them a move along a vector stays cheap past the layer: \(\sum_q \tau_q(x)\,(d\,v)^q\) is
    \(\sum_q d^q\,(\tau_q \odot v^q)\), a few terms of an amount times a vector, for every example
    at once (see [`minifw.nn.layered.grid`][minifw.nn.layered.grid]). Every
    [`Activation`][minifw.nn.layers.Activation] has them.
    """

    def taylor(self, x: AnyArray, y: AnyArray, order: int) -> tuple[AnyArray, FloatArray]:
        r"""Return the Taylor coefficients of \(f(x + v) - f(x)\) in \(v\), and a reach.

        The coefficients have shape `(order, *x.shape)`, `[p - 1]` holding the coefficient of
        \(v^p\). The reach (shape of `x`) is a radius within which the series converges (the
        distance to the nearest singularity or kink; `inf` for a polynomial). Where every
        coefficient after the first is 0 the layer is taken as linear up to the reach (a kink).
        """
        ...


@runtime_checkable
class HasParamGradients(Protocol):
    """A layer that gives the gradient of its parameters alone, without that of its input.

    Backpropagation asks the first layer for this: nothing needs the gradient of the batch, and
    for a fully connected first layer it is a matrix product the size of the forward pass.
    """

    def param_gradients(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> dict[str, AnyArray]:
        r"""Return \(\partial L/\partial\theta\) by name, as [`Layer.backward`][minifw.nn.layers.Layer.backward]'s second result."""
        ...


@runtime_checkable
class Linear(Protocol):
    r"""A layer whose change is linear in the move and independent of the input: \(\Delta y = A\,\Delta x\).

    A move along a fixed vector then stays a move along a fixed vector (its image), which is how
    one hidden unit's move crosses a fully connected layer in one small matrix product.
    """

    def image(self, dx: AnyArray) -> AnyArray:
        """Return the output move of input moves `dx` (rows of input features), `A dx`."""
        ...

    def unit_images(self, units: IntArray) -> AnyArray:
        """Return the output move of a unit move of each input unit in `units`, one row each."""
        ...


@runtime_checkable
class HasStepMoves(Protocol):
    r"""A layer that says how a step of each of its parameters moves its output.

    For a parameter \(\theta\) and a coordinate \(c\), a step \(s\) of \(\theta_c\) moves the
    layer's output by \(s\,v_c\) (the layer is linear in its parameters); the
    [step move][minifw.nn.layered.steps.StepMove] describes \(v_c\) for every coordinate at once,
    for example "unit \(j_c\) of every row \(n\) moves by \(s\,a_{nc}\)"
    ([`ScaledUnitSteps`][minifw.nn.layered.steps.ScaledUnitSteps]). With it, numerical gradients
    of the parameter push only those moves through the later layers; without it, the parameter is
    perturbed in place and everything after the layer is recomputed.
    """

    def step_moves(self, x: AnyArray) -> Mapping[str, StepMove]:
        """Return, per parameter (by local name), how steps of its coordinates move the output.

        `x` is the layer's input for the whole batch; coordinates are flat (C-order) indices
        into the parameter array.
        """
        ...


@runtime_checkable
class RelativeOutputs(Protocol):
    r"""A layer that says how chosen outputs move *relatively* when its input moves along vectors.

    Lanes form a grid: every example \(n\) (row of `y`) moved by \(z\,w_v\) along each vector
    \(w_v\) (row of `w`, or of `w[n]` where the vectors differ by example). Returns the series in
    \(z\) of \(y'_{nc}/y_{nc} - 1\) for the output \(c = \) `outputs[n]` of each lane, which is all a
    loss such as cross-entropy with one target class needs
    ([`TargetClassLoss`][minifw.nn.losses.TargetClassLoss]). The engine composes it with each
    lane's amount, itself a series in the step.
    """

    def relative_series(
        self, y: AnyArray, w: AnyArray, outputs: IntArray, order: int, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        r"""Return the `(order, N * V)` relative series in \(z\) (lane `n * V + v`) and the lanes it is trusted for.

        `y` is the `(N, K)` output, `w` the `(V, K)` vectors (or `(N, V, K)`, a set per example)
        and `reach` (`(N * V,)`) the bound on each lane's \(|z|\).
        """
        ...


@runtime_checkable
class RowCoupled(Protocol):
    r"""A layer whose rows are coupled: every output row depends on every input row.

    Batch normalization in training is one: each row is normalized with the mean and variance of
    the whole batch, so a move of one example's input moves every example's output. Its
    [`change`][minifw.nn.layers.Layer.change] is then called with the whole batch only (`x`,
    `y` and `dx` of all `N` rows, in batch order), and numerical gradients move every row at
    once: a parameter of a layer before it is perturbed in place and the difference of that
    layer's whole output pushed on as one move of the batch (the engine never splits such a move
    into examples).
    """

    def batch_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""Return \(f(x + \Delta x) - f(x)\) for `L` moves of the whole batch at once.

        `x` and `y` are the whole batch, `(N, *features)`; `dx` is `(L, N, *input features)`,
        each of its `L` entries a move of every row. Returns `(L, N, *output features)`, without
        the cancellation of subtracting two outputs.
        """
        ...


@runtime_checkable
class PerExample(Protocol):
    r"""A layer whose rules differ from one example to the next (a dropout mask drawn for a batch).

    The layer was made for one batch; the engine's moves reach only some of its rows (and, past
    an [elementwise][minifw.nn.layers.Elementwise] layer, single units), so before asking for a
    rule it asks the layer for the part that acts there.
    """

    def for_rows(self, rows: IntArray) -> Layer:
        """Return the layer as it acts on the batch's rows `rows` (positions, in that order)."""
        ...

    def for_units(self, rows: IntArray, units: IntArray) -> Layer:
        r"""Return the layer as it acts on the gathered values at `(rows[b], units[b])`.

        `units` are flat feature indices; the result's
        [`unit_change`][minifw.nn.layers.Elementwise.unit_change] and
        [`unit_series`][minifw.nn.layers.Elementwise.unit_series] take the values gathered there.
        """
        ...


@runtime_checkable
class HasTrainingMode(Protocol):
    r"""A layer that acts differently in training (the book's `train_flg=True`) than at test time.

    Its own [`forward`][minifw.nn.layers.Layer.forward] is the test-time rule
    ([`predict`][minifw.nn.models.Layered.predict] and accuracy use it); for the loss, the
    objective and the gradients of one batch, the model asks it for the layer as it acts in
    training on that batch: [`Dropout`][minifw.nn.layers.Dropout] gives its mask, drawn once for
    the batch, [`BatchNormalization`][minifw.nn.layers.BatchNormalization] the normalization by
    the batch's own statistics. That layer shares this layer's parameter arrays, and every
    evaluation of one objective sees the same one.
    """

    def training(self, x: AnyArray) -> Layer:
        """Return the layer as it acts in training on the batch `x` (its input there)."""
        ...


@runtime_checkable
class HasRunningStatistics(Protocol):
    r"""A layer that keeps statistics of the batches it is trained on (not parameters: no gradient).

    Batch normalization's running mean and variance, which its test-time rule uses. They move
    once per objective a model builds in training, as the book's forward pass in training moves
    them ([`Layered`][minifw.nn.models.Layered] says where); evaluating an objective never moves
    them.
    """

    def statistics(self) -> dict[str, FloatArray]:
        """Return the statistics arrays by local name (the live arrays, updated in place)."""
        ...

    def observe(self, x: AnyArray) -> None:
        """Move the statistics by those of the batch `x` (the layer's input in training)."""
        ...


@runtime_checkable
class Channelwise(Protocol):
    r"""A layer on images whose output channel \(c\) depends on input channel \(c\) alone, by one rule.

    Inputs are `(R, C, H, W)` and outputs `(R, C, O_H, O_W)`, and every channel is mapped the same
    way (max pooling is one). A move of one channel of an example then stays a move of that
    channel: a convolution's filter step moves one output channel, and it crosses the layer
    without the other channels ([`BlockMove`][minifw.nn.layered.block_moves.BlockMove]).
    """

    def channel_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""Return \(f(x + \Delta x) - f(x)\) for single channels, one per row.

        `x` and `dx` are `(R, H, W)` (row `r` one channel of one example), `y` the `(R, O_H, O_W)`
        output of those channels; returns `(R, O_H, O_W)`, computed as
        [`change`][minifw.nn.layers.Layer.change] computes it (no cancellation).
        """
        ...


@runtime_checkable
class Featurewise(Protocol):
    r"""A row-coupled layer whose output feature \(j\) depends on input feature \(j\) alone, in every row.

    Batch normalization in training is one: column \(j\) of the output is column \(j\) of the input
    normalized by that column's own mean and variance over the batch. A move of one feature of
    some rows then moves that feature of every row and no other: a *column move*, one vector of
    the batch's size, not a dense move of the whole batch
    ([`ColumnMove`][minifw.nn.layered.column_moves.ColumnMove]).
    """

    def feature_change(self, x: AnyArray, y: AnyArray, units: IntArray, dx: AnyArray) -> AnyArray:
        r"""Return the change of feature `units[g]` of every row when that feature moves by `dx[g]`.

        `x` and `y` are the whole batch, `(N, *features)`; `units` holds `G` flat feature
        indices and `dx` is `(G, N)`: group `g` moves feature `units[g]` of row `n` by
        `dx[g, n]`. Returns `(G, N)`, as [`batch_change`][minifw.nn.layers.RowCoupled.batch_change]
        computes it (no cancellation).
        """
        ...


@runtime_checkable
class PiecewiseLinear(Protocol):
    r"""An elementwise layer that is linear between kinks: \(f(x + d) - f(x) = f'(x)\,d\) while \(|d| <\) the reach.

    ReLU is one (slope 0 or 1, reach \(|x|\), the distance to its kink); a dropout mask and a
    reshape are linear everywhere. Past the last batch normalization, layers like these and one
    fully connected layer map each example's move to its scores linearly, which the
    [statistics route][minifw.nn.layered.statistics_route] builds on.
    """

    def linear_reach(self, x: AnyArray, y: AnyArray) -> tuple[AnyArray, AnyArray]:
        r"""Return the slope \(f'(x)\) and how far each input may move with the change exactly linear.

        `x` and `y` are the whole batch; both results have its shape (the reach `inf` where no
        kink exists). Within the reach the layer's [`change`][minifw.nn.layers.Layer.change] is
        the slope times the move.
        """
        ...


@runtime_checkable
class RankOneCoupled(Protocol):
    r"""A row-coupled layer whose change for a rank-one move of the batch is a rescaled rank-one move.

    For a move of every row \(n\) by \(v_n\,w\) (one vector \(w\), one amount per row), batch
    normalization in training moves its output by

    \[
    \Delta y_{nk} = (1 + \varphi_k)\,\bar v_n a_k + \varphi_k\,c_{nk},
    \]

    with \(\bar v = v - \operatorname{mean}(v)\), \(a = \gamma w / s\) (the move with the
    statistics frozen), \(c = \gamma \hat x\) (the output without its shift) and
    \(\varphi = s/s' - 1\) the relative change of the scale, a few per mille of the move. The
    [statistics route][minifw.nn.layered.statistics_route] expands the loss in \(\varphi\).
    """

    def rank_one_change(
        self, x: AnyArray, y: AnyArray, v: AnyArray, w: AnyArray
    ) -> tuple[AnyArray, AnyArray, AnyArray, AnyArray]:
        r"""Return \((\bar v, a, \varphi, c)\) for the moves \(v_g \otimes w_g\) of the whole batch.

        `x` and `y` are the whole batch `(N, F)`; `v` is `(G, N)` and `w` `(G, F)`, one rank-one
        move per group. Returns \(\bar v\) `(G, N)`, \(a\) and \(\varphi\) `(G, F)`, and
        \(c\) `(N, F)`; \(\varphi\) computed without cancellation.
        """
        ...
