r"""The fully connected layer \(y = xW + b\): its forward, backward, change and parameter rules.

Beside the rules every layer keeps, `Affine` says that it is [linear][minifw.nn.layers.Linear] in
its input (a move \(\Delta x\) becomes \(\Delta x\,W\) wherever \(x\) is) and how a step of
each of its parameters moves its output ([step moves][minifw.nn.layers.HasStepMoves]): a step
\(s\) of \(W_{ij}\) moves output unit \(j\) of example \(n\) by \(s\,x_{ni}\), a step of
\(b_j\) moves unit \(j\) of every example by \(s\).

Examples:
    >>> import numpy as np
    >>> layer = Affine(W=np.array([[1.0, 2.0], [3.0, 4.0]]), b=np.zeros(2))
    >>> moves = layer.step_moves(np.array([[5.0, 6.0]]))
    >>> moves["W"].take(np.array([3])).amounts(np.array([0])).tolist()   # W[1, 1]: unit 1 by s * x[:, 1]
    [[6.0]]
    >>> moves["W"].units.tolist(), moves["b"].units.tolist()
    ([0, 1, 0, 1], [0, 1])

"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.nn.layered.steps import ScaledUnitSteps, StepMove, UniformUnitSteps
from minifw.nn.layers.arrays import check_weights_and_bias
from minifw.nn.layers.layer import Layer
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = ["Affine"]


@functools.lru_cache(maxsize=16)
def _weight_grid(inputs: int, width: int) -> tuple[IntArray, IntArray]:
    """Return the output unit `j` and the input `i` of each flat index `i * width + j` of `W`.

    Read-only and shared by every objective of a layer of that shape: a model's gradients ask
    for them once per batch, and two fresh arrays of the size of `W` each time cost more than the
    rest of building the objective.
    """
    units = np.broadcast_to(np.arange(width), (inputs, width)).reshape(-1)
    rows = np.broadcast_to(np.arange(inputs)[:, None], (inputs, width)).reshape(-1)
    units.setflags(write=False)
    rows.setflags(write=False)
    return units, rows


@final
@attrs.define(eq=False)
class Affine(Layer):
    r"""A fully connected layer \(y = xW + b\).

    `W` is `(n_in, n_out)` and `b` is `(n_out,)`, both float64. A change of the input
    moves the output linearly, \(\Delta y = \Delta x\,W\), and a change \(s\) of
    \(W_{ij}\) (or \(b_j\)) moves only column \(j\) of the output, by
    \(s\,x_{\cdot i}\) (or \(s\)): the structure fast numerical gradients build on.

    Examples:
        >>> import numpy as np
        >>> layer = Affine(W=np.array([[1.0, 2.0]]), b=np.array([0.0, 1.0]))
        >>> layer.forward(np.array([[3.0]]))
        array([[3., 7.]])
        >>> Affine.init(784, 50, std=0.01, rng=np.random.default_rng(0)).W.shape
        (784, 50)

    """

    W: FloatArray = attrs.field()
    b: FloatArray = attrs.field()

    def __attrs_post_init__(self) -> None:
        check_weights_and_bias("Affine", self.W, self.b, ndim=2, axis=1, per="column of W")

    @classmethod
    def init(cls, n_in: int, n_out: int, *, std: float, rng: np.random.Generator) -> Affine:
        """Return a layer with `W = std * rng.standard_normal((n_in, n_out))` and `b = 0`."""
        return cls(W=std * rng.standard_normal((n_in, n_out)), b=np.zeros(n_out))

    @property
    def params(self) -> dict[str, FloatArray]:
        """`{"W": W, "b": b}`."""
        return {"W": self.W, "b": self.b}

    @property
    def input_shape(self) -> tuple[int, ...]:
        """`(n_in,)`: the rows of `W`."""
        return (int(self.W.shape[0]),)

    def forward(self, x: AnyArray) -> AnyArray:
        r"""Return \(xW + b\) (the bias added in place: one array, not two)."""
        result: AnyArray = x @ self.W
        result += self.b
        return result

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""\(\partial L/\partial x = \delta W^\top\), \(\nabla W = x^\top\delta\),
        \(\nabla b = \sum_n \delta_n\) (with \(\delta = \partial L/\partial y\)).
        """  # noqa: D205
        return dy @ self.W.T, self.param_gradients(x, y, dy)

    def param_gradients(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> dict[str, AnyArray]:
        r"""\(\nabla W = x^\top\delta\), \(\nabla b = \sum_n \delta_n\) alone (for a first layer)."""
        return {"W": x.T @ dy, "b": dy.sum(axis=0)}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""\(\Delta y = \Delta x\,W\) (exact: the layer is linear)."""
        result: AnyArray = dx @ self.W
        return result

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Each coefficient times `W` (valid everywhere)."""
        result: AnyArray = dx @ self.W
        return result, np.ones(dx.shape[1], dtype=bool)

    def image(self, dx: AnyArray) -> AnyArray:
        r"""\(\Delta x\,W\): the output move of input moves, wherever the input is."""
        result: AnyArray = dx @ self.W
        return result

    def unit_images(self, units: IntArray) -> AnyArray:
        """`W[units]`: a unit move of input unit `i` moves the output along row `i` of `W`."""
        result: AnyArray = self.W[units]
        return result

    def step_moves(self, x: AnyArray) -> Mapping[str, StepMove]:
        r"""Return how steps move the output: \(W_{ij}\) unit \(j\) of example \(n\) by \(s\,x_{ni}\), \(b_j\) by \(s\).

        Coordinates are flat indices of `W` (`i * n_out + j`) and of `b` (`j`).
        """
        inputs, width = self.W.shape
        units, rows = _weight_grid(inputs, width)
        return {
            "W": ScaledUnitSteps(units=units, factor=x, inputs=rows),
            "b": UniformUnitSteps(units=np.arange(width), examples=x.shape[0]),
        }
