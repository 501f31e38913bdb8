r"""The book's `MultiLayerNet`: fully connected layers with one activation, and its fields' checks.

Examples:
    >>> net = MultiLayerNet(input_size=4, hidden_sizes=(3,), output_size=2, activation="tanh", seed=0)
    >>> [type(layer).__name__ for layer in net.layers]
    ['Affine', 'Tanh', 'Affine', 'Softmax']

"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias, final

import attrs
import numpy as np

from minifw._validation import SEED, one_of
from minifw.errors import ValidationError
from minifw.nn.layers.activations import ReLU, Sigmoid, Tanh
from minifw.nn.layers.affine import Affine
from minifw.nn.layers.layer import Layer
from minifw.nn.layers.softmax_layer import Softmax
from minifw.nn.models.init import WEIGHT_INIT, WeightInit, normal_weights, weight_scale
from minifw.nn.models.layered import Layered
from minifw.nn.models.sizes import SIZE, check_total
from minifw.nn.penalty import Penalty, WeightDecay
from minifw.typing import SeedLike

__all__ = [
    "ACTIVATION",
    "OUTPUT",
    "WEIGHT_INIT",
    "ActivationName",
    "MultiLayerNet",
    "OutputName",
    "affine_stack",
    "as_sizes",
    "check_decay",
    "weight_decay",
]

ActivationName: TypeAlias = Literal["relu", "sigmoid", "tanh"]
"""The activations a [`MultiLayerNet`][minifw.nn.models.MultiLayerNet] can use, by name."""
OutputName: TypeAlias = Literal["softmax", "identity"]
"""What a [`MultiLayerNet`][minifw.nn.models.MultiLayerNet] ends with: probabilities, or scores."""

ACTIVATIONS: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}

# The checks of the fields (the shared vocabulary: config and CLI read their words).
ACTIVATION = one_of(*ACTIVATIONS)
OUTPUT = one_of("softmax", "identity")


def as_sizes(value: object, name: str = "hidden_sizes") -> tuple[int, ...]:
    """Return hidden layer sizes as a tuple of ints, or refuse them naming the argument."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence | np.ndarray) or isinstance(value, str):
        raise ValidationError(
            f"{name} must be a sequence of positive integers, got {name}={value!r}"
        )
    sizes = tuple(value)
    for size in sizes:
        if not SIZE.accepts(size):
            raise ValidationError(
                f"{name} must be positive integers (at most 2**20 each), got {name}={value!r}"
            )
    return tuple(int(s) for s in sizes)


def _as_hidden_sizes(value: object) -> tuple[int, ...]:
    return as_sizes(value)


def check_decay(_instance: object, _attribute: object, value: float) -> None:
    """Refuse a weight decay strength that is not a non-negative finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
        raise ValidationError(
            f"weight_decay_lambda must be a non-negative finite number, got "
            f"weight_decay_lambda={value!r}"
        )


def weight_decay(strength: float, layers: int) -> Penalty | None:
    r"""Return the book's weight decay \(\tfrac{1}{2}\lambda\sum_k \lVert W_k\rVert^2\) over `W1..W<layers>` (`None` for 0)."""
    if strength == 0:
        return None
    return WeightDecay(float(strength), tuple(f"W{k}" for k in range(1, layers + 1)))


def affine_stack(
    sizes: Sequence[int], init: WeightInit, rng: np.random.Generator, argument: str
) -> list[Affine]:
    """Return the affine layers `sizes[0] -> sizes[1] -> ...`, weights drawn in order, biases 0."""
    check_total(sizes)
    return [
        Affine(
            W=normal_weights(rng, (sizes[k - 1], sizes[k]), weight_scale(init, sizes[k - 1]), argument),
            b=np.zeros(sizes[k]),
        )
        for k in range(1, len(sizes))
    ]


@final
@attrs.define(eq=False)
class MultiLayerNet(Layered):
    r"""A fully connected network as the book's `MultiLayerNet`: affine and activation layers.

    `input_size -> hidden_sizes[0] -> ... -> output_size`, each hidden layer an
    [`Affine`][minifw.nn.layers.Affine] layer followed by `activation` (`"relu"`, `"sigmoid"`
    or `"tanh"`), then an Affine output layer and `output`: `"softmax"` (probabilities,
    for [`CrossEntropy`][minifw.nn.losses.CrossEntropy]) or `"identity"` (scores, for
    [`MeanSquared`][minifw.nn.losses.MeanSquared]). Weights start as standard normal draws from
    `numpy.random.default_rng(seed)` (layer by layer) times a scale: `"he"` (the book's
    `"relu"`) \(\sqrt{2/n_\text{in}}\), `"xavier"` (`"sigmoid"`) \(\sqrt{1/n_\text{in}}\), or
    a number; biases at zero. Parameters are named `W1, b1, W2, b2, ...`. `weight_decay_lambda`
    \(\lambda\) adds the book's weight decay \(\tfrac{1}{2}\lambda\sum_k \lVert W_k\rVert^2\)
    to the loss and \(\lambda W_k\) to the gradients (a [penalty][minifw.nn.penalty.WeightDecay]
    of the model, exact in numerical gradients too).

    Examples:
        >>> net = MultiLayerNet(input_size=4, hidden_sizes=(3, 3), output_size=2, seed=0)
        >>> sorted(net.params)
        ['W1', 'W2', 'W3', 'b1', 'b2', 'b3']
        >>> [type(layer).__name__ for layer in net.layers]
        ['Affine', 'ReLU', 'Affine', 'ReLU', 'Affine', 'Softmax']

    """

    input_size: int = attrs.field(default=784, validator=SIZE)
    hidden_sizes: tuple[int, ...] = attrs.field(default=(100, 100), converter=_as_hidden_sizes)
    output_size: int = attrs.field(default=10, validator=SIZE)
    activation: ActivationName = attrs.field(default="relu", validator=ACTIVATION)
    weight_init: WeightInit = attrs.field(default="he", validator=WEIGHT_INIT)
    weight_decay_lambda: float = attrs.field(default=0.0, validator=check_decay)
    output: OutputName = attrs.field(default="softmax", validator=OUTPUT)
    seed: SeedLike = attrs.field(default=None, kw_only=True, validator=SEED)
    layers: tuple[Layer, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        sizes = (self.input_size, *self.hidden_sizes, self.output_size)
        affines = affine_stack(sizes, self.weight_init, rng, "weight_init")
        layers: list[Layer] = []
        for k, affine in enumerate(affines):
            layers.append(affine)
            if k < len(affines) - 1:
                layers.append(ACTIVATIONS[self.activation]())
        if self.output == "softmax":
            layers.append(Softmax())
        self.layers = tuple(layers)
        self._name_params(f"weight_init={self.weight_init!r}")

    @property
    def penalty(self) -> Penalty | None:
        r"""The weight decay over `W1, W2, ...` when `weight_decay_lambda > 0`."""
        return weight_decay(self.weight_decay_lambda, len(self.hidden_sizes) + 1)
