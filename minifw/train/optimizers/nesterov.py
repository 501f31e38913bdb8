"""Nesterov's accelerated gradient, in the form the book's `Nesterov` writes it."""

from __future__ import annotations

from typing import final

import attrs

from minifw.train.optimizers.base import Optimizer
from minifw.train.optimizers.fields import learning_rate_field, rate_field
from minifw.typing import FloatArray

__all__ = ["Nesterov"]


@final
@attrs.define
class Nesterov(Optimizer):
    r"""Nesterov's accelerated gradient, in the form the book writes it.

    \[
    v \leftarrow \alpha v - \eta\, g, \qquad
    \theta \leftarrow \theta + \alpha^2 v - (1 + \alpha)\, \eta\, g
    \]

    with `momentum` \(\alpha\) (0.9) and `learning_rate` \(\eta\) (0.01): the
    gradient is, in effect, taken at the point the velocity is about to carry the parameters to.

    Examples:
        >>> import numpy as np
        >>> params = {"w": np.array([1.0])}
        >>> optimizer = Nesterov()
        >>> for _ in range(2):
        ...     optimizer.update(params, {"w": np.array([1.0])})
        >>> params["w"]  # 1 - 0.0271, then - 0.01539 - 0.019
        array([0.93851])

    """

    learning_rate: float = learning_rate_field(0.01)
    momentum: float = rate_field(0.9)
    slots = ("v",)

    def apply(
        self, param: FloatArray, grad: FloatArray, state: dict[str, FloatArray], step: int
    ) -> None:
        """Apply the book's four lines, in its order of operations."""
        velocity = state["v"]
        velocity *= self.momentum
        velocity -= self.learning_rate * grad
        param += self.momentum * self.momentum * velocity
        param -= (1 + self.momentum) * self.learning_rate * grad
