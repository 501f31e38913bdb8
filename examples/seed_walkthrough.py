"""Chapter 4 in the order of the Korean study note, recomputed with minifw objects.

    python examples/seed_walkthrough.py

Each line shows the value minifw computes beside the value the note printed (or "-" where it
printed none), and says where the note's code went wrong. Offline; takes a second or two.
The same walk in Korean, with tables: docs/ko/walkthrough.md.
"""

from __future__ import annotations

import math

import numpy as np

from minifw import (
    MNIST,
    Backprop,
    CentralDiff,
    CrossEntropy,
    ForwardDiff,
    MeanSquared,
    RandomChoiceSampler,
    Trainer,
    TwoLayerNet,
    sigmoid,
)
from minifw.errors import DifferentiationError

ANSWER = 2
ONE_HOT = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
GUESS_TWO = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
GUESS_SEVEN = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]


def heading(text: str) -> None:
    print(f"\n== {text} ==")


def row(what: str, ours: object, note: str = "-") -> None:
    print(f"  {what:<46} minifw {ours!s:<26} note {note}")


def remark(text: str) -> None:
    print(f"    -> {text}")


def data_driven_learning() -> MNIST:
    heading("1.1 Learning from data")
    dataset = MNIST.sample()
    row("digits bundled with minifw", len(dataset.train) + len(dataset.test))
    remark("no hand-written rules: the weights are fitted to labelled examples")

    heading("1.2 Training data and test data")
    row("training split", len(dataset.train))
    row("test split (never trained on)", len(dataset.test))
    return dataset


def mean_squared() -> None:
    heading("2.1 Mean squared error")
    loss = MeanSquared()
    row("0.6 on the answer '2'", loss(GUESS_TWO, ONE_HOT), "0.0975000000031")
    row("0.6 on the wrong '7'", loss(GUESS_SEVEN, ONE_HOT), "0.597500000003")
    remark(f"17 digits: {loss(GUESS_TWO, ONE_HOT):.17g} (the book's print)")
    remark("the book's formula is half the SUM of squares per example, not a mean over classes")


def cross_entropy() -> None:
    heading("2.2 Cross-entropy error")
    loss = CrossEntropy()
    row("0.6 on the answer '2'", loss(GUESS_TWO, ANSWER), "0.5108254709933802")
    row("0.6 on the wrong '7'", loss(GUESS_SEVEN, ANSWER), "2.3025840929945458")
    row("-log(0.6 + 1e-7) by hand", float(-np.log(0.6 + 1e-7)))
    remark(f"17 digits: {loss(GUESS_TWO, ANSWER):.17g}; the note lost a '5' of the book's value")
    row("index label 2 == one-hot label", loss(GUESS_TWO, ANSWER) == loss(GUESS_TWO, ONE_HOT))


def minibatches(dataset: MNIST) -> None:
    heading("2.3 Minibatch learning")
    one_hot = MNIST.sample(one_hot=True)
    row("x_train.shape (bundled sample)", one_hot.train.x.shape, "(60000, 784)")
    row("t_train.shape (bundled sample)", one_hot.train.t.shape, "(60000, 10)")
    remark("MNIST.download() gives the full 60,000 and the note's shapes")
    sampler = RandomChoiceSampler(batch_size=10, seed=0)
    indices = sampler.sample(len(dataset.train))
    row("10 random indices (seed=0)", f"{indices[:4].tolist()} ...", "random")
    remark("drawn WITH replacement, like np.random.choice(train_size, batch_size)")
    chance = 1 - np.prod(1 - np.arange(100) / len(dataset.train))
    row("chance of a repeat in a batch of 100", f"{chance:.3f}")


def batched_cross_entropy() -> None:
    heading("2.4 Cross-entropy for a batch")
    loss = CrossEntropy()
    batch = [GUESS_TWO, GUESS_SEVEN]
    row("mean over the batch of both guesses", loss(batch, [ANSWER, ANSWER]))
    row("same, one-hot labels", loss(batch, [ONE_HOT, ONE_HOT]))
    row("a zero probability on the answer", loss([[0.0, 1.0]], [0]), "inf")
    remark("the note's batched code drops the 1e-7 delta, so log(0) = -inf; minifw keeps it")


def why_a_loss(dataset: MNIST) -> None:
    heading("2.5 Why a loss, not the accuracy")
    net = TwoLayerNet(seed=0)
    x, t = dataset.test.x[:100], dataset.test.t[:100]
    loss_before, accuracy_before = net.loss(x, t, CrossEntropy()), net.accuracy(x, t)
    net.params["W2"][0, 0] += 0.01
    row(
        "loss change after nudging one weight",
        f"{net.loss(x, t, CrossEntropy()) - loss_before:.3e}",
    )
    row("accuracy change after the same nudge", net.accuracy(x, t) - accuracy_before)
    slope = CentralDiff().derivative(lambda v: float(sigmoid(v)), 0.0)
    row("slope of the sigmoid at 0", f"{slope:.6f}")
    row("slope of the step function at 1", CentralDiff().derivative(lambda v: float(v > 0), 1.0))
    remark("learning follows slopes: accuracy and the step function have none to follow")


def derivative() -> None:
    heading("3.1 Derivatives")

    def f(x: float) -> float:
        return 0.01 * x**2 + 0.1 * x

    try:
        ForwardDiff(h=1e-50).derivative(f, 5.0)
        refused = "no error"
    except DifferentiationError:
        refused = "DifferentiationError"
    row("forward difference, h = 1e-50", refused, "SyntaxError (h = 10e - 50)")
    row("  the same quotient by hand", (f(5.0 + 1e-50) - f(5.0)) / 1e-50)
    remark("5.0 + 1e-50 == 5.0 in float64: the difference is 0; minifw refuses such a step")
    row("forward difference, h = 1e-4, at 5", ForwardDiff().derivative(f, 5.0))
    row("central difference, h = 1e-4, at 5", CentralDiff().derivative(f, 5.0))
    row("central difference, h = 1e-4, at 10", CentralDiff().derivative(f, 10.0))
    h = 1e-4
    misplaced = f(5.0 + h) - f(5.0 - h) / (2 * h)
    row("the note's parentheses, at 5", f"{misplaced:.4f}")
    remark("(f(x+h) - f(x-h) / (2*h)) divides only f(x-h); (f(x+h) - f(x-h)) / (2*h) is meant")


def partial_derivatives() -> None:
    heading("3.2 Partial derivatives of f(x0, x1) = x0**2 + x1**2 at (3, 4)")
    central = CentralDiff()
    row(
        "d/dx0, x1 held at 4", central.derivative(lambda x0: x0 * x0 + 4.0**2.0, 3.0), "6.000000378"
    )
    row(
        "d/dx1, x0 held at 3",
        central.derivative(lambda x1: 3.0**2.0 + x1 * x1, 4.0),
        "7.99999999119",
    )
    wrong = central.derivative(lambda x1: 3.0**2.0 + x1**x1, 4.0)
    row("d/dx1 of the note's x1 ** x1", f"{wrong:.4f}")
    remark("the note writes x1 ** x1 (x1 to the power x1); x1 * x1 is meant")
    row("partial(f, [3, 4], 0)", central.partial(lambda v: v[0] ** 2 + v[1] ** 2, [3.0, 4.0], 0))
    row("gradient at (3, 4)", central.gradient(lambda v: np.sum(v**2), np.array([3.0, 4.0])))


def and_then(dataset: MNIST) -> None:
    heading("What the chapter builds up to: training on minibatches")
    trainer = Trainer(
        model=TwoLayerNet(seed=0),
        dataset=dataset,
        sampler=RandomChoiceSampler(100, seed=0),
        differentiator=Backprop(),  # the same steps as CentralDiff(), much faster (see docs)
        eval_every=0,
        progress=False,
    )
    history = trainer.fit(300)
    row("loss of the first batch", f"{history.loss[0]:.4f}")
    row("ln 10 (even guessing among 10 digits)", f"{math.log(10):.4f}")
    row("loss of the 300th batch", f"{history.loss[-1]:.4f}")
    if history.last is not None:
        row("test accuracy after 300 steps", f"{history.last.test_accuracy:.3f}")


def main() -> None:
    print("Chapter 4 as the study note walks through it; minifw's value, then the note's.")
    dataset = data_driven_learning()
    mean_squared()
    cross_entropy()
    minibatches(dataset)
    batched_cross_entropy()
    why_a_loss(dataset)
    derivative()
    partial_derivatives()
    and_then(dataset)


if __name__ == "__main__":
    main()
