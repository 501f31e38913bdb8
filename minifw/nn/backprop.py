r"""Exact gradients as a gradient method: backpropagation from what an objective already holds.

[`Backprop`][minifw.nn.backprop.Backprop] is a
`GradientMethod` (`minifw.numdiff.method`) like the finite-difference schemes: it
takes an objective and returns the gradient of each parameter array. It asks the objective for
its exact gradients ([`HasExactGradients`][minifw.nn.backprop.HasExactGradients]): the objective
of a layered model backpropagates from the activations of the forward pass that built it (no
second pass), and the objective of any other model with a `backprop(x, t, loss)` method calls
that ([`minifw.nn.models`][minifw.nn.models]).

Examples:
    >>> import numpy as np
    >>> from minifw import CrossEntropy, TwoLayerNet
    >>> net = TwoLayerNet(input_size=2, hidden_size=2, output_size=2, seed=0)
    >>> objective = net.objective(np.ones((1, 2)), [1], CrossEntropy())
    >>> sorted(Backprop().gradients(objective))
    ['W1', 'W2', 'b1', 'b2']

"""

from __future__ import annotations

from typing import Protocol, final, runtime_checkable

import attrs
import numpy as np

from minifw.errors import NotSupportedError
from minifw.numdiff.method import GradientMethod
from minifw.numdiff.objective import Objective
from minifw.numdiff.results import Estimate
from minifw.numdiff.workers import Workers, check_workers
from minifw.typing import FloatArray

__all__ = ["Backprop", "HasExactGradients"]


@runtime_checkable
class HasExactGradients(Protocol):
    """An objective that knows its exact gradient (a model's loss with backpropagation)."""

    def exact_gradients(self) -> dict[str, FloatArray]:
        """Return the exact gradient of the objective for each parameter array, by name."""
        ...


@final
@attrs.frozen
class Backprop(GradientMethod):
    """The exact gradient of an objective, by backpropagation, where a scheme would go.

    `Trainer(..., differentiator=Backprop())` trains with backpropagation, as the book's
    chapter 5 does: a fair baseline for numerical training. There is nothing to spread over
    workers: `workers` is checked and the gradient computed here, in one pass.
    """

    def gradients(self, objective: Objective, *, workers: Workers = None) -> dict[str, FloatArray]:
        """Return `objective.exact_gradients()`.

        Raises [`NotSupportedError`][minifw.errors.NotSupportedError] for an objective without
        exact gradients (such as a [`Perturbation`][minifw.Perturbation] of a
        plain function) and for a model's objective whose model has no `backprop`.
        """
        check_workers(workers)
        if not isinstance(objective, HasExactGradients):
            raise NotSupportedError(
                f"{type(objective).__name__} has no exact gradient: Backprop needs the objective "
                "of a model (model.objective(x, t, loss)) whose model has backprop or is layered"
            )
        return objective.exact_gradients()

    def estimates(
        self, objective: Objective, *, workers: Workers = None
    ) -> dict[str, Estimate[FloatArray]]:
        """Return [`gradients`][minifw.nn.backprop.Backprop.gradients] as estimates.

        The error is nan (exact up to rounding, which backpropagation does not bound) and
        `evaluations` is 0: no function value is asked of the objective beyond the forward pass
        that built it.

        Examples:
            >>> import numpy as np
            >>> from minifw import CrossEntropy, TwoLayerNet
            >>> net = TwoLayerNet(input_size=2, hidden_size=2, output_size=2, seed=0)
            >>> found = Backprop().estimates(net.objective(np.ones((1, 2)), [1], CrossEntropy()))
            >>> found["b2"].evaluations, bool(np.isnan(found["b2"].error).all())
            (0, True)

        """
        return {
            name: Estimate(value, np.full(value.shape, np.nan), 0)
            for name, value in self.gradients(objective, workers=workers).items()
        }
