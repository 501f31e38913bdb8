"""AdaGrad, the book's rule: a step size per coordinate that shrinks with the gradients seen."""

from __future__ import annotations

from typing import final

import attrs
import numpy as np

from minifw.train.optimizers.base import Optimizer
from minifw.train.optimizers.fields import eps_field, learning_rate_field
from minifw.typing import FloatArray

__all__ = ["AdaGrad"]


@final
@attrs.define
class AdaGrad(Optimizer):
    r"""A step size per coordinate that shrinks with the squared gradients seen so far.

    \[
    h \leftarrow h + g \odot g, \qquad
    \theta \leftarrow \theta - \eta\, \frac{g}{\sqrt{h} + \epsilon}
    \]

    with `learning_rate` \(\eta\) (0.01) and `eps` \(\epsilon\) (1e-7, which keeps
    the first step finite where \(h = 0\)).

    Examples:
        >>> params = {"w": np.array([1.0, 1.0])}
        >>> optimizer = AdaGrad()
        >>> for _ in range(2):
        ...     optimizer.update(params, {"w": np.array([3.0, 0.0])})
        >>> params["w"]  # 0.01 (3/3), then 0.01 (3/sqrt(18)); the zero gradient moves nothing
        array([0.98292893, 1.        ])

    """

    learning_rate: float = learning_rate_field(0.01)
    eps: float = eps_field()
    slots = ("h",)
    nonnegative_slots = ("h",)

    def apply(
        self, param: FloatArray, grad: FloatArray, state: dict[str, FloatArray], step: int
    ) -> None:
        r"""\(h \leftarrow h + g^2\), then \(\theta \leftarrow \theta - \eta g / (\sqrt{h} + \epsilon)\)."""
        squares = state["h"]
        squares += grad * grad
        param -= self.learning_rate * grad / (np.sqrt(squares) + self.eps)
