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
    "Elementwise",
    "HasParamGradients",
    "HasStepMoves",
    "HasTaylor",
    "Layer",
    "Linear",
    "RelativeOutputs",
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
