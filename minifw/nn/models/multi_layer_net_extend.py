r"""The book's `MultiLayerNetExtend`: fully connected layers with weight decay, dropout and batch normalization.

Examples:
    >>> net = MultiLayerNetExtend(4, [3], 2, use_dropout=True, use_batchnorm=True, seed=0)
    >>> [type(layer).__name__ for layer in net.layers]
    ['Affine', 'BatchNormalization', 'ReLU', 'Dropout', 'Affine', 'Softmax']
    >>> sorted(net.params)
    ['W1', 'W2', 'b1', 'b2', 'beta1', 'gamma1']

"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np

from minifw._validation import BOOL, SEED
from minifw.errors import ValidationError
from minifw.nn.layers.batch_norm import BatchNormalization
from minifw.nn.layers.dropout import Dropout
from minifw.nn.layers.layer import Layer
from minifw.nn.layers.softmax_layer import Softmax
from minifw.nn.models.init import WEIGHT_INIT, WeightInit
from minifw.nn.models.layered import Layered
from minifw.nn.models.multi_layer_net import (
    ACTIVATION,
    ACTIVATIONS,
    ActivationName,
    affine_stack,
    as_sizes,
    check_decay,
    weight_decay,
)
from minifw.nn.models.sizes import SIZE
from minifw.nn.penalty import Penalty
from minifw.typing import SeedLike

__all__ = ["MultiLayerNetExtend"]


def _as_hidden_size_list(value: object) -> tuple[int, ...]:
    return as_sizes(value, "hidden_size_list")


def _check_ratio(_instance: object, _attribute: object, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValidationError(
            f"dropout_ration must be a number in [0, 1), got dropout_ration={value!r}"
        )


@final
@attrs.define(eq=False)
class MultiLayerNetExtend(Layered):
    r"""The book's `MultiLayerNetExtend(input_size, hidden_size_list, output_size, activation, weight_init_std, weight_decay_lambda, use_dropout, dropout_ration, use_batchnorm)`.

    Each hidden layer `k` is an [`Affine`][minifw.nn.layers.Affine] layer (`Wk`, `bk`), with
    `use_batchnorm` a [`BatchNormalization`][minifw.nn.layers.BatchNormalization] (`gammak` at
    ones, `betak` at zeros), the `activation` (`"relu"` or `"sigmoid"`, or `"tanh"`), with
    `use_dropout` a [`Dropout`][minifw.nn.layers.Dropout] of ratio `dropout_ration` (the book's
    spelling); then an Affine output layer and a softmax (the book's `SoftmaxWithLoss` is this
    softmax and [`CrossEntropy`][minifw.nn.losses.CrossEntropy]). The weights are drawn as
    [`MultiLayerNet`][minifw.nn.models.MultiLayerNet]'s (`weight_init_std`: `"relu"`/`"he"`,
    `"sigmoid"`/`"xavier"` or a number), from `numpy.random.default_rng(seed)`; each dropout layer
    draws its masks from its own generator spawned from it. `weight_decay_lambda` adds
    \(\tfrac{1}{2}\lambda\sum_k \lVert W_k\rVert^2\) to the loss.

    The book's constructor has no defaults; here `784`, `(100, 100)` and `10` are (for a
    configuration or the command line, `--model multi-layer-extend`).

    In training (the loss, objectives and gradients) dropout masks are drawn once per objective and
    batch normalization uses the batch's statistics; `predict` and `accuracy` are test time
    (running statistics, outputs scaled by `1 - dropout_ration`), as the book's `train_flg`.

    Examples:
        >>> import numpy as np
        >>> from minifw import CrossEntropy, gradcheck
        >>> net = MultiLayerNetExtend(5, [4, 3], 2, use_batchnorm=True, weight_decay_lambda=0.1, seed=1)
        >>> x, t = np.random.default_rng(0).random((3, 5)), np.array([0, 1, 1])
        >>> gradcheck(net, x, t, CrossEntropy()).passed
        True

    """

    input_size: int = attrs.field(default=784, validator=SIZE)
    hidden_size_list: tuple[int, ...] = attrs.field(default=(100, 100), converter=_as_hidden_size_list)
    output_size: int = attrs.field(default=10, validator=SIZE)
    activation: ActivationName = attrs.field(default="relu", validator=ACTIVATION)
    weight_init_std: WeightInit = attrs.field(default="relu", validator=WEIGHT_INIT)
    weight_decay_lambda: float = attrs.field(default=0.0, validator=check_decay)
    use_dropout: bool = attrs.field(default=False, validator=BOOL)
    dropout_ration: float = attrs.field(default=0.5, validator=_check_ratio)
    use_batchnorm: bool = attrs.field(default=False, validator=BOOL)
    seed: SeedLike = attrs.field(default=None, kw_only=True, validator=SEED)
    layers: tuple[Layer, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        sizes = (self.input_size, *self.hidden_size_list, self.output_size)
        affines = affine_stack(sizes, self.weight_init_std, rng, "weight_init_std")
        masks = iter(rng.spawn(len(self.hidden_size_list)))
        layers: list[Layer] = []
        for affine in affines[:-1]:
            layers.append(affine)
            width = affine.W.shape[1]
            if self.use_batchnorm:
                layers.append(BatchNormalization(gamma=np.ones(width), beta=np.zeros(width)))
            layers.append(ACTIVATIONS[self.activation]())
            if self.use_dropout:
                layers.append(Dropout(float(self.dropout_ration), seed=next(masks)))
        layers += [affines[-1], Softmax()]
        self.layers = tuple(layers)
        self._name_params(f"weight_init_std={self.weight_init_std!r}")

    @property
    def penalty(self) -> Penalty | None:
        r"""The weight decay over `W1, W2, ...` when `weight_decay_lambda > 0`."""
        return weight_decay(self.weight_decay_lambda, len(self.hidden_size_list) + 1)

    def _layer_numbers(self) -> list[int | None]:
        """Return the numbers of the book: each batch normalization layer as its hidden layer (`gamma1` beside `W1`)."""
        numbers: list[int | None] = []
        affines = 0
        for layer in self.layers:
            affines += 1 if isinstance(layer.params.get("W"), np.ndarray) else 0
            numbers.append(affines if layer.params else None)
        return numbers
