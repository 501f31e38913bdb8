"""Stochastic gradient descent, the book's `SGD`: a step against the gradient."""

from __future__ import annotations

from typing import final

import attrs

from minifw.train.optimizers.base import Optimizer
from minifw.train.optimizers.fields import learning_rate_field
from minifw.typing import FloatArray

__all__ = ["SGD"]


@final
@attrs.define
class SGD(Optimizer):
    r"""Stochastic gradient descent: \(\theta \leftarrow \theta - \eta\, g\).

    `learning_rate` \(\eta\) defaults to 0.01, as in the book. No state.

    Examples:
        >>> import numpy as np
        >>> params = {"w": np.array([1.0, 2.0])}
        >>> SGD().update(params, {"w": np.array([10.0, -10.0])})
        >>> params["w"]
        array([0.9, 2.1])

    """

    learning_rate: float = learning_rate_field(0.01)
    slots = ()

    def apply(
        self, param: FloatArray, grad: FloatArray, state: dict[str, FloatArray], step: int
    ) -> None:
        r"""\(\theta \leftarrow \theta - \eta\, g\)."""
        param -= self.learning_rate * grad
