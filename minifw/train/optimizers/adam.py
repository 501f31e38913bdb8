"""Adam, the book's rule: momentum and RMSprop together, with bias correction."""

from __future__ import annotations

import math
from typing import final

import attrs
import numpy as np

from minifw.train.optimizers.base import Optimizer
from minifw.train.optimizers.fields import eps_field, learning_rate_field, rate_field
from minifw.typing import FloatArray

__all__ = ["Adam"]


@final
@attrs.define
class Adam(Optimizer):
    r"""Momentum and RMSprop together, with the bias correction folded into the step size.

    At step \(k = 1, 2, \dots\):

    \[
    \eta_k = \eta\, \frac{\sqrt{1 - \beta_2^k}}{1 - \beta_1^k}, \qquad
    m \leftarrow m + (1 - \beta_1)(g - m), \qquad
    v \leftarrow v + (1 - \beta_2)(g \odot g - v), \qquad
    \theta \leftarrow \theta - \eta_k\, \frac{m}{\sqrt{v} + \epsilon}
    \]

    with `learning_rate` \(\eta\) (0.001), `beta1` (0.9), `beta2` (0.999) and `eps`
    \(\epsilon\) (1e-7), as in the book. \(m\) and \(v\) start at zero.

    Examples:
        >>> params = {"w": np.array([1.0, 1.0])}
        >>> optimizer = Adam()
        >>> optimizer.update(params, {"w": np.array([5.0, -0.1])})
        >>> params["w"]  # the first step is learning_rate whatever the gradient's size (up to eps)
        array([0.999     , 1.00099997])

    """

    learning_rate: float = learning_rate_field(0.001)
    beta1: float = rate_field(0.9)
    beta2: float = rate_field(0.999)
    eps: float = eps_field()
    slots = ("m", "v")
    nonnegative_slots = ("v",)

    def apply(
        self, param: FloatArray, grad: FloatArray, state: dict[str, FloatArray], step: int
    ) -> None:
        """Take the book's Adam step for one parameter array at step `step`."""
        rate = self.learning_rate * math.sqrt(1.0 - self.beta2**step) / (1.0 - self.beta1**step)
        mean, square = state["m"], state["v"]
        mean += (1 - self.beta1) * (grad - mean)
        square += (1 - self.beta2) * (grad * grad - square)
        param -= rate * mean / (np.sqrt(square) + self.eps)
