r"""The book's `MultiLayerNet`: fully connected layers with one activation, and its fields' checks.

Examples:
    >>> net = MultiLayerNet(input_size=4, hidden_sizes=(3,), output_size=2, activation="tanh", seed=0)
    >>> [type(layer).__name__ for layer in net.layers]
    ['Affine', 'Tanh', 'Affine', 'Softmax']

"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, TypeAlias, final

import attrs
import numpy as np

from minifw._validation import SEED, Check, is_positive_float, one_of
from minifw.errors import ValidationError
from minifw.nn.layers.activations import ReLU, Sigmoid, Tanh
from minifw.nn.layers.affine import Affine
from minifw.nn.layers.layer import Layer
from minifw.nn.layers.softmax_layer import Softmax
from minifw.nn.models.layered import Layered
from minifw.nn.models.sizes import SIZE, check_total
from minifw.typing import SeedLike

__all__ = ["ACTIVATION", "OUTPUT", "WEIGHT_INIT", "ActivationName", "MultiLayerNet", "OutputName"]

ActivationName: TypeAlias = Literal["relu", "sigmoid", "tanh"]
"""The activations a [`MultiLayerNet`][minifw.nn.models.MultiLayerNet] can use, by name."""
OutputName: TypeAlias = Literal["softmax", "identity"]
"""What a [`MultiLayerNet`][minifw.nn.models.MultiLayerNet] ends with: probabilities, or scores."""

_ACTIVATIONS: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}

# The checks of the fields (the shared vocabulary: config and CLI read their words).
ACTIVATION = one_of(*_ACTIVATIONS)
OUTPUT = one_of("softmax", "identity")
WEIGHT_INIT = Check(
    "'he', 'xavier' or a positive standard deviation",
    lambda v: v in ("he", "xavier") or is_positive_float(v),
)


def _as_sizes(value: object) -> tuple[int, ...]:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence | np.ndarray) or isinstance(value, str):
        raise ValidationError(
            f"hidden_sizes must be a sequence of positive integers, got hidden_sizes={value!r}"
        )
    sizes = tuple(value)
    for size in sizes:
        if not SIZE.accepts(size):
            raise ValidationError(
                "hidden_sizes must be positive integers (at most 2**20 each), "
                f"got hidden_sizes={value!r}"
            )
    return tuple(int(s) for s in sizes)


@final
@attrs.define(eq=False)
class MultiLayerNet(Layered):
    r"""A fully connected network as the book's `MultiLayerNet`: affine and activation layers.

    `input_size -> hidden_sizes[0] -> ... -> output_size`, each hidden layer an
    [`Affine`][minifw.nn.layers.Affine] layer followed by `activation` (`"relu"`, `"sigmoid"`
    or `"tanh"`), then an Affine output layer and `output`: `"softmax"` (probabilities,
    for [`CrossEntropy`][minifw.nn.losses.CrossEntropy]) or `"identity"` (scores, for
    [`MeanSquared`][minifw.nn.losses.MeanSquared]). Weights start as standard normal draws from
    `numpy.random.default_rng(seed)` (layer by layer) times a scale: `"he"`
    \(\sqrt{2/n_\text{in}}\), `"xavier"` \(\sqrt{1/n_\text{in}}\), or a number; biases
    at zero. Parameters are named `W1, b1, W2, b2, ...`.

    Examples:
        >>> net = MultiLayerNet(input_size=4, hidden_sizes=(3, 3), output_size=2, seed=0)
        >>> sorted(net.params)
        ['W1', 'W2', 'W3', 'b1', 'b2', 'b3']
        >>> [type(layer).__name__ for layer in net.layers]
        ['Affine', 'ReLU', 'Affine', 'ReLU', 'Affine', 'Softmax']

    """

    input_size: int = attrs.field(default=784, validator=SIZE)
    hidden_sizes: tuple[int, ...] = attrs.field(default=(100, 100), converter=_as_sizes)
    output_size: int = attrs.field(default=10, validator=SIZE)
    activation: ActivationName = attrs.field(default="relu", validator=ACTIVATION)
    weight_init: Literal["he", "xavier"] | float = attrs.field(
        default="he", validator=WEIGHT_INIT
    )
    output: OutputName = attrs.field(default="softmax", validator=OUTPUT)
    seed: SeedLike = attrs.field(default=None, kw_only=True, validator=SEED)
    layers: tuple[Layer, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        sizes = (self.input_size, *self.hidden_sizes, self.output_size)
        check_total(sizes)
        layers: list[Layer] = []
        for k in range(1, len(sizes)):
            layers.append(Affine.init(sizes[k - 1], sizes[k], std=self._scale(sizes[k - 1]), rng=rng))
            if k < len(sizes) - 1:
                layers.append(_ACTIVATIONS[self.activation]())
        if self.output == "softmax":
            layers.append(Softmax())
        self.layers = tuple(layers)
        self._name_params()

    def _scale(self, n_in: int) -> float:
        if self.weight_init == "he":
            return math.sqrt(2.0 / n_in)
        if self.weight_init == "xavier":
            return math.sqrt(1.0 / n_in)
        return float(self.weight_init)
