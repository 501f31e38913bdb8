r"""Reshapes between images and rows: [`Flatten`][minifw.nn.layers.Flatten] and [`Reshape`][minifw.nn.layers.Reshape].

The book's `Affine` flattens a 4-D input itself; minifw's [`Affine`][minifw.nn.layers.Affine]
takes rows, and a `Flatten` layer stands between a convolution or pooling layer and it. A reshape
moves no value: unit \(j\) of the output (features flattened) is unit \(j\) of the input, so it is
[elementwise][minifw.nn.layers.Elementwise] with the identity as its rule.

Examples:
    >>> import numpy as np
    >>> Flatten().forward(np.zeros((2, 3, 4, 4))).shape
    (2, 48)
    >>> Reshape((1, 2, 2)).forward(np.arange(8.0).reshape(2, 4)).shape
    (2, 1, 2, 2)

"""

from __future__ import annotations

import abc
import math
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import ValidationError
from minifw.nn.layers.arrays import example_shape
from minifw.nn.layers.layer import Layer
from minifw.typing import AnyArray, FloatArray

__all__ = ["Flatten", "Reshape"]


class Reshaping(Layer):
    """A layer that only reshapes each example: its rules are the identity, in another shape."""

    @abc.abstractmethod
    def example_shape(self, features: tuple[int, ...]) -> tuple[int, ...]:
        """Return the shape of one output example for input examples of shape `features`."""

    @property
    @final
    def params(self) -> dict[str, FloatArray]:
        """No parameters."""
        return {}

    @final
    def forward(self, x: AnyArray) -> AnyArray:
        """Return `x` with each example reshaped."""
        return self._reshaped(x, 1, x.shape[1:])

    @final
    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        """Return the output gradient in the input's shape."""
        result: AnyArray = dy.reshape(x.shape)
        return result, {}

    @final
    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        """Return the move itself, reshaped."""
        return self._reshaped(dx, 1, x.shape[1:])

    @final
    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Return the coefficients, reshaped (valid everywhere)."""
        return self._reshaped(dx, 2, x.shape[1:]), np.ones(dx.shape[1], dtype=bool)

    @final
    def unit_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        """Return the move itself: a moved unit keeps its flat index and its amount."""
        return dx

    @final
    def unit_series(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Return the series itself (valid everywhere)."""
        return dx, np.ones(dx.shape[-1], dtype=bool)

    @final
    def linear_reach(self, x: AnyArray, y: AnyArray) -> tuple[AnyArray, AnyArray]:
        """Return slope 1, linear everywhere (reach `inf`), in the input's shape."""
        return np.ones(np.shape(x)), np.full(np.shape(x), np.inf)

    def _reshaped(self, a: AnyArray, lead: int, features: tuple[int, ...]) -> AnyArray:
        result: AnyArray = a.reshape(*a.shape[:lead], *self.example_shape(features))
        return result


@final
@attrs.define(eq=False)
class Flatten(Reshaping):
    """Each example's features as one row: `(N, C, H, W)` to `(N, C * H * W)`.

    Examples:
        >>> import numpy as np
        >>> Flatten().example_shape((30, 12, 12))
        (4320,)

    """

    def example_shape(self, features: tuple[int, ...]) -> tuple[int, ...]:
        """`(prod(features),)`."""
        return (math.prod(features),)


def _as_shape(value: object) -> tuple[int, ...]:
    return example_shape(value, "shape")


@final
@attrs.define(eq=False)
class Reshape(Reshaping):
    """Each example reshaped to `shape`: rows of 784 pixels to `(1, 28, 28)` images, say.

    Examples:
        >>> Reshape((1, 28, 28)).input_shape
        (784,)

    """

    shape: tuple[int, ...] = attrs.field(converter=_as_shape)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """`(prod(shape),)`: the rows it takes."""
        return (math.prod(self.shape),)

    def example_shape(self, features: tuple[int, ...]) -> tuple[int, ...]:
        """`shape`, for examples of as many features."""
        if math.prod(features) != math.prod(self.shape):
            raise ValidationError(
                f"Reshape to {self.shape} takes examples of {math.prod(self.shape)} features, "
                f"got examples of shape {features}"
            )
        return self.shape
