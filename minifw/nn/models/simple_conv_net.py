r"""The book's `SimpleConvNet` of chapter 7: convolution, ReLU, max pooling, two affine layers, softmax.

Examples:
    >>> net = SimpleConvNet(seed=0)
    >>> {name: value.shape for name, value in net.params.items()}
    {'W1': (30, 1, 5, 5), 'b1': (30,), 'W2': (4320, 100), 'b2': (100,), 'W3': (100, 10), 'b3': (10,)}
    >>> sum(value.size for value in net.params.values())
    433890

"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import final

import attrs
import numpy as np

from minifw._validation import POSITIVE_FLOAT, SEED, to_float
from minifw.errors import ValidationError
from minifw.nn.layers.activations import ReLU
from minifw.nn.layers.affine import Affine
from minifw.nn.layers.convolution import Convolution
from minifw.nn.layers.layer import Layer
from minifw.nn.layers.patches import output_size
from minifw.nn.layers.pooling import Pooling
from minifw.nn.layers.reshape import Flatten
from minifw.nn.layers.softmax_layer import Softmax
from minifw.nn.models.init import normal_weights
from minifw.nn.models.layered import Layered
from minifw.nn.models.sizes import MAX_PARAMETERS, SIZE
from minifw.typing import SeedLike

__all__ = ["CONV_PARAM", "SimpleConvNet"]

CONV_PARAM: Mapping[str, int] = MappingProxyType(
    {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
)
"""The book's default `conv_param`: 30 filters of 5x5, no padding, stride 1."""


def _as_input_dim(value: object) -> tuple[int, int, int]:
    dims = tuple(value) if isinstance(value, tuple | list) else ()
    if len(dims) != 3 or not all(SIZE.accepts(d) for d in dims):
        raise ValidationError(
            "input_dim must be (channels, height, width), three positive integers, "
            f"got input_dim={value!r}"
        )
    return (int(dims[0]), int(dims[1]), int(dims[2]))


def _as_conv_param(value: object) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"conv_param must be a mapping with the keys {sorted(CONV_PARAM)}, "
            f"got {type(value).__name__}"
        )
    unknown = sorted(set(map(str, value)) - set(CONV_PARAM))
    if unknown:
        raise ValidationError(
            f"conv_param has unknown keys {unknown}; it takes {sorted(CONV_PARAM)}"
        )
    merged = {**CONV_PARAM, **{str(k): v for k, v in value.items()}}
    for key, item in merged.items():
        least = 0 if key == "pad" else 1
        if isinstance(item, bool) or not isinstance(item, int | np.integer) or not least <= item <= 2**20:
            kind = "a non-negative" if least == 0 else "a positive"
            raise ValidationError(
                f"conv_param[{key!r}] must be {kind} integer (at most 2**20), got {item!r}"
            )
    return MappingProxyType({key: int(item) for key, item in merged.items()})


@final
@attrs.define(eq=False)
class SimpleConvNet(Layered):
    r"""The book's `SimpleConvNet(input_dim, conv_param, hidden_size, output_size, weight_init_std)`.

    conv - ReLU - 2x2 max pool (stride 2) - affine - ReLU - affine - softmax, with
    `W1` `(filter_num, C, filter_size, filter_size)` and `b1` the filters, `W2` `(pooled
    features, hidden_size)`, `W3` `(hidden_size, output_size)`; weights are `weight_init_std`
    times standard normal draws from `numpy.random.default_rng(seed)` in that order, biases zero.
    `conv_param` takes the book's keys (`filter_num`, `filter_size`, `pad`, `stride`; missing
    ones are the book's defaults). Batches are `(N, C, H, W)` images, or rows of `C * H * W`
    values (MNIST's `(N, 784)`), reshaped. (The book computes the pooled size from
    `(H - filter_size + 2 pad) / stride + 1` as a real number; here it is the size the layers
    give, which is the same whenever the book's network runs.)

    Examples:
        >>> import numpy as np
        >>> net = SimpleConvNet(input_dim=(1, 10, 10), conv_param={"filter_num": 10, "filter_size": 3,
        ...                     "pad": 0, "stride": 1}, hidden_size=10, output_size=10, seed=0)
        >>> net.params["W2"].shape, net.predict(np.zeros((2, 100))).shape
        ((160, 10), (2, 10))

    """

    input_dim: tuple[int, int, int] = attrs.field(default=(1, 28, 28), converter=_as_input_dim)
    conv_param: Mapping[str, int] = attrs.field(
        default=CONV_PARAM, converter=_as_conv_param, repr=lambda v: repr(dict(v))
    )
    hidden_size: int = attrs.field(default=100, validator=SIZE)
    output_size: int = attrs.field(default=10, validator=SIZE)
    weight_init_std: float = attrs.field(default=0.01, converter=to_float, validator=POSITIVE_FLOAT)
    seed: SeedLike = attrs.field(default=None, kw_only=True, validator=SEED)
    layers: tuple[Layer, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        channels, height, width = self.input_dim
        filters, size = self.conv_param["filter_num"], self.conv_param["filter_size"]
        stride, pad = self.conv_param["stride"], self.conv_param["pad"]
        out_h = output_size(height, size, stride, pad)
        out_w = output_size(width, size, stride, pad)
        pooled = filters * output_size(out_h, 2, 2, 0) * output_size(out_w, 2, 2, 0)
        shapes: list[tuple[int, ...]] = [
            (filters, channels, size, size),
            (pooled, self.hidden_size),
            (self.hidden_size, self.output_size),
        ]
        total = sum(math.prod(s) + s[-1 if len(s) == 2 else 0] for s in shapes)
        if total > MAX_PARAMETERS:
            raise ValidationError(
                f"this SimpleConvNet needs {total:,} parameters, more than the "
                f"{MAX_PARAMETERS:,} (1 GiB of float64) a built-in network accepts"
            )
        rng = np.random.default_rng(self.seed)
        std = float(self.weight_init_std)
        weights = [normal_weights(rng, shape, std, "weight_init_std") for shape in shapes]
        self.layers = (
            Convolution(W=weights[0], b=np.zeros(filters), stride=stride, pad=pad),
            ReLU(),
            Pooling(pool_h=2, pool_w=2, stride=2),
            Flatten(),
            Affine(W=weights[1], b=np.zeros(self.hidden_size)),
            ReLU(),
            Affine(W=weights[2], b=np.zeros(self.output_size)),
            Softmax(),
        )
        self._name_params(f"weight_init_std={self.weight_init_std!r}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """`input_dim`: one image."""
        return self.input_dim
