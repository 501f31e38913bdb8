"""A model from any sequence of layers, the built-in ones or your own.

Examples:
    >>> import numpy as np
    >>> from minifw.nn.layers import Affine, Softmax
    >>> net = Sequential([Affine(W=np.eye(2), b=np.zeros(2)), Softmax()])
    >>> net.predict(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]

"""

from __future__ import annotations

from collections.abc import Sequence
from typing import final

import attrs

from minifw.errors import ValidationError
from minifw.nn.layers.layer import Layer
from minifw.nn.models.layered import Layered

__all__ = ["Sequential"]


def _as_layers(value: Sequence[Layer]) -> tuple[Layer, ...]:
    layers = tuple(value)
    for k, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ValidationError(
                f"layers must be Layer objects, got {type(layer).__name__} at position {k}"
            )
    if not layers:
        raise ValidationError("layers must hold at least one layer, got none")
    return layers


@final
@attrs.define(eq=False)
class Sequential(Layered):
    """A model from a sequence of layers.

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

    def __attrs_post_init__(self) -> None:
        self._name_params()
