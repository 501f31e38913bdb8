"""A loss of your own: subclass Loss, implement per_example, and it works everywhere.

    python examples/custom_loss.py

Defines the focal loss, -sum_k t_k (1 - y_k)^gamma log(y_k + eps), checks it against the
cross-entropy (gamma = 0), checks its hand-written derivative with gradcheck, and trains the
book's network with it, with numerical gradients. Offline; a few seconds.
Explained step by step in docs/howto/new-loss.md.
"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw import (
    MNIST,
    Backprop,
    CentralDiff,
    CrossEntropy,
    Loss,
    RandomChoiceSampler,
    Trainer,
    TwoLayerNet,
    gradcheck,
)
from minifw.errors import ValidationError

FloatArray = NDArray[np.float64]


def _check_gamma(_instance: object, _attribute: object, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValidationError(f"gamma must be a non-negative number, got gamma={value!r}")


@final
@attrs.frozen
class FocalLoss(Loss):
    """Cross-entropy that turns down examples already predicted well.

    Per example: -sum_k t_k (1 - y_k)^gamma log(y_k + eps); then the reduction (default: mean).
    gamma = 0 is the cross-entropy.
    """

    gamma: float = attrs.field(default=2.0, validator=_check_gamma)
    eps: float = 1e-7

    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        focus = (1.0 - y) ** self.gamma
        values: FloatArray = -np.sum(t * focus * np.log(y + self.eps), axis=1)
        return values

    def per_example_grad(self, y: FloatArray, t: FloatArray) -> FloatArray:
        """d loss / d y_k, for backprop and gradcheck (numerical gradients do not need it)."""
        # For gamma = 0 the second term vanishes (and 0 * inf must not become nan at y = 1).
        slope = self.gamma * (1.0 - y) ** (self.gamma - 1.0) if self.gamma else 0.0
        grad: FloatArray = -t * (
            (1.0 - y) ** self.gamma / (y + self.eps) - slope * np.log(y + self.eps)
        )
        return grad


def main() -> None:
    guess_two = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    guess_seven = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
    focal = FocalLoss()
    print(f"focal loss, 0.6 on the answer '2':  {focal(guess_two, 2)!r}")
    print(f"focal loss, 0.6 on the wrong '7':   {focal(guess_seven, 2)!r}")
    print(
        f"cross-entropy, same two:            {CrossEntropy()(guess_two, 2)!r}, "
        f"{CrossEntropy()(guess_seven, 2)!r}"
    )
    same = FocalLoss(gamma=0.0)(guess_two, 2) == CrossEntropy()(guess_two, 2)
    print(f"gamma = 0 equals the cross-entropy: {same}")
    print(
        f"per example (reduction='none'):     {FocalLoss(reduction='none')([guess_two, guess_seven], [2, 2])}"
    )
    try:
        FocalLoss(gamma=-1.0)
    except ValidationError as err:
        print(f"FocalLoss(gamma=-1.0) is refused:   {err}")

    dataset = MNIST.sample()
    x, t = RandomChoiceSampler(10, seed=0).minibatch(dataset.train.x, dataset.train.t)
    report = gradcheck(TwoLayerNet(seed=0), x, t, focal, CentralDiff())
    print("\nper_example_grad, through TwoLayerNet.backprop, against central differences:")
    print(report)

    def make_trainer(differentiator: CentralDiff | Backprop) -> Trainer:
        return Trainer(
            model=TwoLayerNet(seed=0),
            dataset=dataset,
            sampler=RandomChoiceSampler(100, seed=0),
            loss=focal,
            differentiator=differentiator,
            learning_rate=0.5,
            eval_every=0,
            progress=False,
        )

    # Numerical gradients need nothing but per_example; they follow the analytic ones.
    numerical = make_trainer(CentralDiff()).fit(5).loss
    analytic = make_trainer(Backprop()).fit(5).loss
    gap = max(abs(a - b) for a, b in zip(numerical, analytic, strict=True))
    print(
        f"\n5 steps with numerical and with analytic gradients: losses differ by at most {gap:.1e}"
    )

    # Generic per_example evaluations make numerical steps slower than for the built-in
    # losses (see docs/howto/new-loss.md, "precision hooks"); the analytic run shows the rest.
    trainer = make_trainer(Backprop())
    history = trainer.fit(500)
    first, last = np.mean(history.loss[:10]), np.mean(history.loss[-10:])
    print(
        f"500 steps with the focal loss: mean loss {first:.4f} (first 10) -> {last:.4f} (last 10)"
    )
    if history.last is not None:
        print(history.last)


if __name__ == "__main__":
    main()
