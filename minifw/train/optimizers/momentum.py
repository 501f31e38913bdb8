"""Momentum, the book's rule: a velocity that the gradients accelerate."""

from __future__ import annotations

from typing import final

import attrs

from minifw.train.optimizers.base import Optimizer
from minifw.train.optimizers.fields import learning_rate_field, rate_field
from minifw.typing import FloatArray

__all__ = ["Momentum"]


@final
@attrs.define
class Momentum(Optimizer):
    r"""SGD with a velocity: a ball rolling down the loss surface.

    \[
    v \leftarrow \alpha v - \eta\, g, \qquad \theta \leftarrow \theta + v
    \]

    with `momentum` \(\alpha\) (0.9) and `learning_rate` \(\eta\) (0.01); the
    velocity \(v\) starts at zero.

    Examples:
        >>> import numpy as np
        >>> params = {"w": np.array([1.0])}
        >>> optimizer = Momentum()
        >>> for _ in range(3):
        ...     optimizer.update(params, {"w": np.array([1.0])})
        >>> params["w"]  # steps of 0.01, 0.019, 0.0271
        array([0.9439])

    """

    learning_rate: float = learning_rate_field(0.01)
    momentum: float = rate_field(0.9)
    slots = ("v",)

    def apply(
        self, param: FloatArray, grad: FloatArray, state: dict[str, FloatArray], step: int
    ) -> None:
        r"""\(v \leftarrow \alpha v - \eta g\), then \(\theta \leftarrow \theta + v\)."""
        velocity = state["v"]
        velocity[...] = self.momentum * velocity - self.learning_rate * grad
        param += velocity
