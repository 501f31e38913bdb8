r"""One training step on one batch, all or nothing, by one path for every gradient method.

The step checks the parameters once, builds the model's objective on the batch (one forward
pass), records its value as the loss, asks the gradient method (a finite-difference scheme or
[`Backprop`][minifw.nn.backprop.Backprop]) for the gradient of that same objective, and has the
optimizer work out the update ([`Optimizer.propose`][minifw.train.optimizers.Optimizer.propose]),
which must be finite everywhere. Nothing has changed then: whatever fails raises a
[`TrainingError`][minifw.errors.TrainingError] (or the loss's own
[`ValidationError`][minifw.errors.ValidationError]), and the
[`Trainer`][minifw.train.trainer.Trainer] commits a proposal only when the whole step succeeded.

Examples:
    >>> import numpy as np
    >>> from minifw import SGD, Backprop, CrossEntropy, TwoLayerNet
    >>> net = TwoLayerNet(input_size=2, hidden_size=2, output_size=2, seed=0)
    >>> step = TrainingStep(net, CrossEntropy(), Backprop(), SGD(learning_rate=0.1), number=1)
    >>> proposal = step.propose(np.ones((1, 2)), np.array([1]), step.checked_params(), lambda: None)
    >>> round(proposal.loss, 6), net.params["b2"].tolist()           # nothing changed yet
    (0.691788, [0.0, 0.0])
    >>> SGD(learning_rate=0.1).steps, sorted(proposal.update.values)
    (0, ['W1', 'W2', 'b1', 'b2'])

"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import final

import attrs
import numpy as np

from minifw.errors import TrainingError, ValidationError
from minifw.nn.losses import Loss
from minifw.nn.models import Model, model_objective
from minifw.numdiff.method import GradientMethod
from minifw.numdiff.objective import Objective
from minifw.numdiff.workers import Workers
from minifw.train.optimizers import CheckedParams, Optimizer, Update
from minifw.typing import AnyArray

__all__ = ["Proposal", "TrainingStep"]

# The square root of the largest float64 (about 1.34e154): n predictions beyond this over the
# square root of n have a sum of squares that overflows.
_FLOAT_MAX_ROOT = float(np.sqrt(np.finfo(np.float64).max))


@final
@attrs.frozen(eq=False)
class Proposal:
    """A step worked out and checked, not yet committed: the batch's `loss` and the optimizer's `update`."""

    loss: float
    update: Update


@final
@attrs.frozen
class TrainingStep:
    """Step `number` of training `model` on `loss` with `method` and `optimizer`."""

    model: Model
    loss: Loss
    method: GradientMethod
    optimizer: Optimizer
    number: int = attrs.field(kw_only=True)

    def checked_params(self) -> CheckedParams:
        """Return the parameters, checked once: writeable float64 arrays, finite, not empty."""
        try:
            return CheckedParams.check(self.model.params)
        except ValidationError as err:
            raise TrainingError(f"cannot take step {self.number}: the model's {err}") from err

    def propose(
        self, x: AnyArray, t: AnyArray, params: CheckedParams, workers: Callable[[], Workers]
    ) -> Proposal:
        """Evaluate, differentiate and work out the update on the batch `(x, t)`; change nothing.

        `params` are the [`checked_params`][minifw.train.step.TrainingStep.checked_params] (the
        optimizer does not check them again); `workers()` says where the gradient runs.
        """
        objective, value = self._evaluate(x, t)
        if not math.isfinite(value):
            raise TrainingError(f"loss became {value} at step {self.number}; {self._cause()}")
        grads = self.method.gradients(objective, workers=workers())
        try:
            return Proposal(value, self.optimizer.propose(params, grads))
        except ValidationError as err:
            raise TrainingError(
                f"the gradient at step {self.number} does not fit the parameters: {err}"
            ) from err
        except TrainingError as err:
            raise TrainingError(
                f"step {self.number} (loss {value:.6g}): {err}; training stopped with the "
                f"parameters of step {self.number - 1}"
            ) from err

    def _cause(self) -> str:
        """Say what the parameters a step stopped with are, and what to suspect."""
        if self.number > 1:
            return (
                f"stopped with the parameters of step {self.number - 1} "
                f"(lower learning_rate={self.optimizer.learning_rate}?)"
            )
        # No update was made yet: the learning rate is not to blame, the parameters' scale is.
        name, largest = max(
            ((k, float(np.max(np.abs(v)))) for k, v in self.model.params.items()),
            key=lambda item: item[1],
            default=("params", math.nan),
        )
        return (
            f"nothing was trained yet: the initial parameters are too large for finite "
            f"predictions (largest |{name}| = {largest:.3g}; a smaller weight init?)"
        )

    def _evaluate(self, x: AnyArray, t: AnyArray) -> tuple[Objective, float]:
        """Return the model's objective on the batch (one forward pass) and its value.

        The parameters were checked by [`checked_params`][minifw.train.step.TrainingStep.checked_params],
        so the objective is built by [`model_objective`][minifw.nn.models.model_objective] directly
        ([`Model.objective`][minifw.nn.models.Model.objective] would check them again). Predictions
        that are not finite, or a loss that overflows, are refused by the loss; that is a
        divergence, and said as such.
        """
        try:
            objective = model_objective(self.model, x, t, self.loss)
            return objective, objective.value()
        except ValidationError as err:
            diverged = self._diverged(x)
            if diverged:
                raise TrainingError(
                    f"the model's predictions became {diverged} at step {self.number}; "
                    f"{self._cause()}"
                ) from err
            raise

    def _diverged(self, x: AnyArray) -> str:
        """Say how the predictions on `x` diverged ("" if they did not; asked after a failure only).

        Non-finite predictions, or predictions so large that the sum of their squares overflows
        (a loss of them cannot be finite), are a divergence. This second forward pass runs only on the way
        out of a failed step, to tell a divergence from bad labels or inputs; if it fails too,
        the first error is the one to report.
        """
        try:
            with np.errstate(all="ignore"):  # overflow is what is being asked about
                predictions = np.asarray(self.model.predict(x))
        except Exception:  # the original error says what is wrong
            return ""
        if predictions.dtype.kind not in "fc" or predictions.size == 0:
            return ""
        if not bool(np.all(np.isfinite(predictions))):
            return "non-finite"
        largest = float(np.max(np.abs(predictions)))
        if largest > _FLOAT_MAX_ROOT / np.sqrt(predictions.size):
            return f"too large for a finite loss (up to {largest:.3g})"
        return ""
