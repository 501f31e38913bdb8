"""A model from any sequence of layers, the built-in ones or your own.

Examples:
    >>> import numpy as np
    >>> from minifw.nn.layers import Affine, Softmax
    >>> net = Sequential([Affine(W=np.eye(2), b=np.zeros(2)), Softmax()])
    >>> net.predict(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]

"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import final

import attrs

from minifw.errors import ValidationError
from minifw.nn.layers.arrays import example_shape
from minifw.nn.layers.layer import Layer
from minifw.nn.models.layered import Layered

__all__ = ["Sequential"]


def _as_layers(value: Sequence[Layer]) -> tuple[Layer, ...]:
    if isinstance(value, Layer):
        raise ValidationError(
            f"layers must be a sequence of layers, got one {type(value).__name__} layer: "
            "wrap it in a list, Sequential([layer])"
        )
    if not isinstance(value, Iterable) or isinstance(value, str | bytes | Mapping):
        raise ValidationError(
            f"layers must be a sequence of Layer objects, got {type(value).__name__}"
        )
    layers = tuple(value)
    for k, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ValidationError(
                f"layers must be Layer objects, got {type(layer).__name__} at position {k}"
            )
    if not layers:
        raise ValidationError("layers must hold at least one layer, got none")
    return layers


def _as_shape(value: object) -> tuple[int, ...] | None:
    return None if value is None else example_shape(value, "input_shape")


@final
@attrs.define(eq=False)
class Sequential(Layered):
    """A model from a sequence of layers.

    `input_shape` is the shape of one example, when the first layer does not say it (a
    convolution first: `(1, 28, 28)`); with it, or with a first layer that says it
    ([`Affine`][minifw.nn.layers.Affine]), the layers are tried on one row when the model is
    built, so a mismatch is named there, with the shapes.

    Examples:
        >>> import numpy as np
        >>> from minifw.nn.layers import Affine, ReLU, Softmax
        >>> rng = np.random.default_rng(0)
        >>> net = Sequential([Affine.init(2, 3, std=1.0, rng=rng), ReLU(), Affine.init(3, 2, std=1.0, rng=rng), Softmax()])
        >>> sorted(net.params)
        ['W1', 'W2', 'b1', 'b2']
        >>> net.predict(np.array([[1.0, -1.0]])).round(4)
        array([[0.5122, 0.4878]])

    """

    layers: tuple[Layer, ...] = attrs.field(converter=_as_layers)
    input_shape: tuple[int, ...] | None = attrs.field(default=None, converter=_as_shape, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.input_shape is None:
            self.input_shape = self.layers[0].input_shape
        self._name_params()
