r"""The book's network of chapter 4: `TwoLayerNet`, affine, sigmoid, affine, softmax.

Examples:
    >>> net = TwoLayerNet(input_size=3, hidden_size=4, output_size=2, seed=1)
    >>> {name: value.shape for name, value in net.params.items()}
    {'W1': (3, 4), 'b1': (4,), 'W2': (4, 2), 'b2': (2,)}

"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np

from minifw._validation import SEED, positive_float, to_float
from minifw.nn.layers.activations import Sigmoid
from minifw.nn.layers.layer import Layer
from minifw.nn.layers.softmax_layer import Softmax
from minifw.nn.models.layered import Layered
from minifw.nn.models.multi_layer_net import affine_stack
from minifw.nn.models.sizes import SIZE
from minifw.typing import SeedLike

__all__ = ["TwoLayerNet"]


@final
@attrs.define(eq=False)
class TwoLayerNet(Layered):
    r"""The book's network of chapter 4: affine, sigmoid, affine, softmax.

    \[
    a_1 = x W_1 + b_1,\quad z = \sigma(a_1),\quad a_2 = z W_2 + b_2,\quad
    y = \operatorname{softmax}(a_2)
    \]

    Weights start as `weight_init_std` times standard normal draws from
    `numpy.random.default_rng(seed)` (`W1` first), biases at zero.

    Examples:
        >>> from minifw import CentralDiff, CrossEntropy
        >>> net = TwoLayerNet(input_size=3, hidden_size=4, output_size=2, seed=1)
        >>> x, t = np.array([[0.0, 0.5, 1.0]]), np.array([1])
        >>> num = CentralDiff().gradients(net.objective(x, t, CrossEntropy()))
        >>> ana = net.backprop(x, t, CrossEntropy())
        >>> all(np.allclose(num[k], ana[k], rtol=0, atol=1e-10) for k in net.params)
        True

    """

    input_size: int = attrs.field(default=784, validator=SIZE)
    hidden_size: int = attrs.field(default=50, validator=SIZE)
    output_size: int = attrs.field(default=10, validator=SIZE)
    weight_init_std: float = attrs.field(default=0.01, converter=to_float, validator=positive_float)
    seed: SeedLike = attrs.field(default=None, kw_only=True, validator=SEED)
    layers: tuple[Layer, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        sizes = (self.input_size, self.hidden_size, self.output_size)
        first, second = affine_stack(sizes, float(self.weight_init_std), rng, "weight_init_std")
        self.layers = (first, Sigmoid(), second, Softmax())
        self._name_params(f"weight_init_std={self.weight_init_std!r}")
