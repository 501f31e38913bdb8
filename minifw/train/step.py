r"""One training step on one batch, all or nothing, by one path for every gradient method.

The step checks the parameters once, builds the model's objective on the batch (one forward
pass), records its value as the loss, asks the gradient method (a finite-difference scheme or
[`Backprop`][minifw.nn.backprop.Backprop]) for the gradient of that same objective, and hands
parameters and gradients to the optimizer, which changes nothing unless every new value is
finite. Whatever fails raises a [`TrainingError`][minifw.errors.TrainingError] (or the loss's own
[`ValidationError`][minifw.errors.ValidationError]) before anything changed; the
[`Trainer`][minifw.train.trainer.Trainer] then also puts its sampler back.

Examples:
    >>> import numpy as np
    >>> from minifw import SGD, Backprop, CrossEntropy, TwoLayerNet
    >>> net = TwoLayerNet(input_size=2, hidden_size=2, output_size=2, seed=0)
    >>> step = TrainingStep(net, CrossEntropy(), Backprop(), SGD(learning_rate=0.1), number=1)
    >>> round(step.take(np.ones((1, 2)), np.array([1]), step.checked_params(), lambda: None), 6)
    0.691788

"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import final

import attrs
import numpy as np

from minifw._validation import check_params
from minifw.errors import TrainingError, ValidationError
from minifw.nn.losses import Loss
from minifw.nn.models import Model, model_objective
from minifw.numdiff.method import GradientMethod
from minifw.numdiff.objective import Objective
from minifw.numdiff.workers import Workers
from minifw.train.optimizers import Optimizer
from minifw.typing import AnyArray, FloatArray

__all__ = ["TrainingStep"]


@final
@attrs.frozen
class TrainingStep:
    """Step `number` of training `model` on `loss` with `method` and `optimizer`."""

    model: Model
    loss: Loss
    method: GradientMethod
    optimizer: Optimizer
    number: int = attrs.field(kw_only=True)

    def checked_params(self) -> dict[str, FloatArray]:
        """Return the parameters, checked once: they must be writeable float64 arrays."""
        try:
            return check_params(self.model.params, why="updated in place")
        except ValidationError as err:
            raise TrainingError(f"cannot take step {self.number}: the model's {err}") from err

    def take(
        self, x: AnyArray, t: AnyArray, params: dict[str, FloatArray], workers: Callable[[], Workers]
    ) -> float:
        """Evaluate, differentiate and update on the batch `(x, t)`; return the loss before it.

        `params` are the [`checked_params`][minifw.train.step.TrainingStep.checked_params];
        `workers()` says where the gradient runs.
        """
        objective = self._objective(x, t)
        value = objective.value()
        if not math.isfinite(value):
            raise TrainingError(
                f"loss became {value} at step {self.number}; stopped with the parameters of step "
                f"{self.number - 1} (lower learning_rate={self.optimizer.learning_rate}?)"
            )
        grads = self.method.gradients(objective, workers=workers())
        try:
            self.optimizer.update(params, grads)
        except ValidationError as err:
            raise TrainingError(
                f"the gradient at step {self.number} does not fit the parameters: {err}"
            ) from err
        except TrainingError as err:
            raise TrainingError(
                f"step {self.number} (loss {value:.6g}): {err}; training stopped with the "
                f"parameters of step {self.number - 1}"
            ) from err
        return value

    def _objective(self, x: AnyArray, t: AnyArray) -> Objective:
        """Return the model's objective on the batch (one forward pass).

        The parameters were checked by [`checked_params`][minifw.train.step.TrainingStep.checked_params],
        so the objective is built by [`model_objective`][minifw.nn.models.model_objective] directly
        ([`Model.objective`][minifw.nn.models.Model.objective] would check them again). Predictions
        that are not finite are refused by the loss; that is a divergence, and said as such.
        """
        try:
            return model_objective(self.model, x, t, self.loss)
        except ValidationError as err:
            if self._diverged(x):
                raise TrainingError(
                    f"the model's predictions became non-finite at step {self.number}; stopped "
                    f"with the parameters of step {self.number - 1} "
                    f"(lower learning_rate={self.optimizer.learning_rate}?)"
                ) from err
            raise

    def _diverged(self, x: AnyArray) -> bool:
        """Whether the model's predictions on `x` are not finite (asked only after a failure).

        This second forward pass runs only on the way out of a failed step, to tell a divergence
        from bad labels or inputs; if it fails too, the first error is the one to report.
        """
        try:
            predictions = np.asarray(self.model.predict(x))
        except Exception:  # the original error says what is wrong
            return False
        return predictions.dtype.kind in "fc" and not bool(np.all(np.isfinite(predictions)))
