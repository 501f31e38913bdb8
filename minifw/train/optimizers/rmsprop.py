"""RMSprop, the book's rule: AdaGrad whose memory of squared gradients fades."""

from __future__ import annotations

from typing import final

import attrs
import numpy as np

from minifw.train.optimizers.base import Optimizer
from minifw.train.optimizers.fields import eps_field, learning_rate_field, rate_field
from minifw.typing import FloatArray

__all__ = ["RMSprop"]


@final
@attrs.define
class RMSprop(Optimizer):
    r"""AdaGrad with a leaky memory: old squared gradients fade by `decay_rate` each step.

    \[
    h \leftarrow \rho\, h + (1 - \rho)\, g \odot g, \qquad
    \theta \leftarrow \theta - \eta\, \frac{g}{\sqrt{h} + \epsilon}
    \]

    with `decay_rate` \(\rho\) (0.99), `learning_rate` \(\eta\) (0.01) and `eps`
    \(\epsilon\) (1e-7).

    Examples:
        >>> params = {"w": np.array([1.0])}
        >>> RMSprop().update(params, {"w": np.array([2.0])})
        >>> params["w"]  # h = 0.01 * 4 = 0.04: a first step of 0.01 * 2 / 0.2
        array([0.9])

    """

    learning_rate: float = learning_rate_field(0.01)
    decay_rate: float = rate_field(0.99)
    eps: float = eps_field()
    slots = ("h",)
    nonnegative_slots = ("h",)

    def apply(
        self, param: FloatArray, grad: FloatArray, state: dict[str, FloatArray], step: int
    ) -> None:
        r"""\(h \leftarrow \rho h + (1 - \rho) g^2\), then the AdaGrad step."""
        squares = state["h"]
        squares *= self.decay_rate
        squares += (1 - self.decay_rate) * grad * grad
        param -= self.learning_rate * grad / (np.sqrt(squares) + self.eps)
