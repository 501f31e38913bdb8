"""Nesterov's accelerated gradient, in the form the book's `Nesterov` writes it since its 2021 fix."""

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
    r"""Nesterov's accelerated gradient, as the book's corrected `Nesterov` computes it.

    With `momentum` \(\mu\) (0.9), `learning_rate` \(\eta\) (0.01) and the velocity \(v\)
    (starting at zero), each step moves the parameters with the velocity *before* it is updated,
    then updates it:

    \[
    \theta \leftarrow \theta + \mu^2 v - (1 + \mu)\, \eta\, g, \qquad
    v \leftarrow \mu v - \eta\, g .
    \]

    This is Nesterov's method, \(v \leftarrow \mu v - \eta \nabla f(\theta + \mu v)\),
    \(\theta \leftarrow \theta + v\), written for the look-ahead point \(\Theta = \theta + \mu v\)
    so that the gradient is taken where the parameters are (Bengio, Boulanger-Lewandowski and
    Pascanu 2012, arXiv:1212.0901): \(\Theta \leftarrow \Theta + \mu^2 v - (1 + \mu)\eta g\).

    The book as first printed (and copies made before its author's fix of 2021, the Korean
    translation's among them) updates the velocity first and moves the parameters with the *new*
    one, \(v \leftarrow \mu v - \eta g\), \(\theta \leftarrow \theta + \mu^2 v - (1 + \mu)\eta g\):
    that adds \(\mu^3 v - (1 + \mu + \mu^2)\,\eta g\), a larger step than Nesterov's, which is not
    the method. minifw follows the corrected form; the state is the same velocity \(v\), so
    checkpoints are unchanged.

    Examples:
        >>> import numpy as np
        >>> params = {"w": np.array([1.0])}
        >>> optimizer = Nesterov()
        >>> for _ in range(2):
        ...     optimizer.update(params, {"w": np.array([1.0])})
        >>> params["w"]  # 1 - 0.019, then - 0.81 * 0.01 - 0.019
        array([0.9539])

    """

    learning_rate: float = learning_rate_field(0.01)
    momentum: float = rate_field(0.9)
    slots = ("v",)

    def apply(
        self, param: FloatArray, grad: FloatArray, state: dict[str, FloatArray], step: int
    ) -> None:
        """Apply the book's four lines, in its corrected order of operations."""
        velocity = state["v"]
        param += self.momentum * self.momentum * velocity
        param -= (1 + self.momentum) * self.learning_rate * grad
        velocity *= self.momentum
        velocity -= self.learning_rate * grad
