"""Check a hand-written backprop against numerical gradients with gradcheck.

    python examples/gradient_check.py

A two-layer tanh network with its backward pass written by hand, checked with central
differences for two losses and both reductions; then the same check catching two typical bugs.
Exits with status 1 if the correct model fails or a bug goes unnoticed. Offline; a few seconds.
Explained in docs/howto/gradcheck.md.
"""

from __future__ import annotations

import sys
from typing import final

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from minifw import (
    MNIST,
    CentralDiff,
    CrossEntropy,
    Loss,
    MeanSquared,
    Model,
    RandomChoiceSampler,
    gradcheck,
    softmax,
)

FloatArray = NDArray[np.float64]


@final
@attrs.define(eq=False)
class TanhNet(Model):
    """x -> tanh(x W1 + b1) -> softmax(z W2 + b2), with a hand-written backprop."""

    input_size: int = 784
    hidden_size: int = 10
    output_size: int = 10
    seed: int | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.params = {
            "W1": 0.1 * rng.standard_normal((self.input_size, self.hidden_size)),
            "b1": np.zeros(self.hidden_size),
            "W2": 0.1 * rng.standard_normal((self.hidden_size, self.output_size)),
            "b2": np.zeros(self.output_size),
        }

    def forward(self, x: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        inputs = np.asarray(x, dtype=np.float64)
        z = np.tanh(inputs @ self.params["W1"] + self.params["b1"])
        return inputs, z, softmax(z @ self.params["W2"] + self.params["b2"])

    def predict(self, x: ArrayLike) -> FloatArray:
        return self.forward(x)[-1]

    def deltas(
        self, x: ArrayLike, t: ArrayLike, loss: Loss
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Return inputs, hidden activations and the deltas dL/da of both layers."""
        inputs, z, y = self.forward(x)
        y_batch, t_batch = loss.prepare(y, t)
        g = loss.weight(len(inputs)) * loss.per_example_grad(y_batch, t_batch)  # dL/dy
        d2 = y * (g - np.sum(g * y, axis=1, keepdims=True))  # through the softmax
        d1 = (d2 @ self.params["W2"].T) * (1.0 - z**2)  # through tanh
        return inputs, z, d1, d2

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        inputs, z, d1, d2 = self.deltas(x, t, loss)
        return {
            "W1": inputs.T @ d1,
            "b1": d1.sum(axis=0),
            "W2": z.T @ d2,
            "b2": d2.sum(axis=0),
        }


@final
@attrs.define(eq=False)
class ForgotTheMean(Model):
    """A bug: the backprop of ``inner`` without the 1/N of the mean reduction."""

    inner: Model

    def __attrs_post_init__(self) -> None:
        self.params = self.inner.params

    def predict(self, x: ArrayLike) -> FloatArray:
        return self.inner.predict(x)

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        grads = self.inner.backprop(x, t, loss)
        return {name: len(np.asarray(x)) * g for name, g in grads.items()}


@final
@attrs.define(eq=False)
class AveragedBias(Model):
    """A bug in one layer: b1's gradient as one mean of all hidden deltas, not a sum per unit."""

    inner: TanhNet

    def __attrs_post_init__(self) -> None:
        self.params = self.inner.params

    def predict(self, x: ArrayLike) -> FloatArray:
        return self.inner.predict(x)

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        grads = self.inner.backprop(x, t, loss)
        d1 = self.inner.deltas(x, t, loss)[2]
        # The bug: a mean over the hidden units, broadcast, instead of a sum over examples.
        grads["b1"] = np.full(d1.shape[1], d1.mean())
        return grads


def main() -> int:
    train = MNIST.sample().train
    x, t = RandomChoiceSampler(10, seed=0).minibatch(train.x, train.t)
    ok = True

    print("1. The hand-written backprop, against central differences (h = 1e-4)\n")
    losses: list[Loss] = [CrossEntropy(), CrossEntropy(reduction="sum"), MeanSquared()]
    for loss in losses:
        report = gradcheck(TanhNet(seed=0), x, t, loss, CentralDiff())
        print(f"loss = {loss!r}")
        print(report, end="\n\n")
        ok &= report.passed

    print("2. Two bugs, and what the report says about them\n")
    for buggy in (ForgotTheMean(TanhNet(seed=0)), AveragedBias(TanhNet(seed=0))):
        report = gradcheck(buggy, x, t, CrossEntropy())
        print(f"{type(buggy).__name__}: {type(buggy).__doc__}")
        print(report, end="\n\n")
        ok &= not report.passed

    print("every check came out as expected" if ok else "UNEXPECTED RESULT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
