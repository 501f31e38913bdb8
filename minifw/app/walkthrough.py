"""The seed note's computations redone with minifw, beside the values the note prints.

`minifw seed` prints these lines. Each value on the left is computed now; the value on the
right is what the study note printed, and the notes say where its code was wrong.

Examples:
    >>> lines = seed_walkthrough()
    >>> any("0.510825457099338" in line for line in lines)
    True

"""

from __future__ import annotations

import math

import numpy as np

from minifw.data import MNIST
from minifw.errors import DifferentiationError
from minifw.nn.losses import CrossEntropy, MeanSquared
from minifw.numdiff.schemes.central import CentralDiff
from minifw.numdiff.schemes.forward import ForwardDiff
from minifw.train.sampling import RandomChoiceSampler

__all__ = ["seed_walkthrough"]

T = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]  # the answer is "2"
Y_TWO = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
Y_SEVEN = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]


# The widths of the label and of minifw's value columns.
LABEL, VALUE = 44, 30


def _row(label: str, ours: object, seed: str, note: str = "") -> str:
    """Return one row: the label, minifw's value, the note's value, and a remark below.

    A value too wide for its column keeps the columns: the note's value goes on the next line,
    under minifw's.
    """
    value = str(ours)
    if len(value) <= VALUE:
        text = f"  {label:<{LABEL}} minifw {value:<{VALUE}} note {seed}"
    else:
        text = f"  {label:<{LABEL}} minifw {value}\n  {'':<{LABEL}} note   {seed}"
    return text + (f"\n      ({note})" if note else "")


def seed_walkthrough() -> list[str]:
    """Return the walkthrough as lines of text."""
    lines = ["Losses (section 2 of the note)"]
    mse = MeanSquared()
    lines.append(_row("mean squared, 0.6 on the answer '2'", mse(Y_TWO, T), "0.0975000000031"))
    lines.append(_row("mean squared, 0.6 on the wrong '7'", mse(Y_SEVEN, T), "0.597500000003"))
    lines.append("      (the book's 'mean squared error' is half the SUM of squares per example)")
    ce = CrossEntropy()
    lines.append(
        _row(
            "cross-entropy, 0.6 on '2'",
            ce(Y_TWO, T),
            "0.5108254709933802",
            "the note's digits are transposed: -log(0.6 + 1e-7) = 0.510825457...",
        )
    )
    lines.append(_row("cross-entropy, 0.6 on '7'", ce(Y_SEVEN, T), "2.3025840929945458"))
    both = ce([Y_TWO, Y_SEVEN], [2, 2])
    lines.append(
        _row(
            "batch of both, index labels [2, 2]",
            both,
            "(not printed)",
            "the minibatch formula: the mean of the two",
        )
    )
    zero = ce([[1.0, 0.0]], [1])
    lines.append(
        _row(
            "batch with a zero probability on the answer",
            f"{zero:.6f}",
            "inf",
            "the note's batched version drops the 1e-7 delta; minifw keeps it",
        )
    )

    lines.append("")
    lines.append("Minibatches (section 2.3)")
    ds = MNIST.sample(normalize=True, one_hot=True)
    lines.append(
        _row(
            "x_train, t_train shapes (bundled sample)",
            f"{ds.train.x.shape} {ds.train.t.shape}",
            "(60000, 784) (60000, 10)",
            "full MNIST via MNIST.download() gives the note's shapes",
        )
    )
    batch = RandomChoiceSampler(10, seed=0).sample(len(ds.train))
    lines.append(_row("10 indices, with replacement (seed=0)", batch.tolist(), "random"))

    lines.append("")
    lines.append("Numerical differentiation (section 3)")

    def f(x: float) -> float:
        return 0.01 * x**2 + 0.1 * x

    try:
        ForwardDiff(h=1e-50).derivative(f, 5.0)
        bad = "no error"
    except DifferentiationError as err:
        bad = "error: " + str(err).split(":")[0]
    lines.append(
        _row(
            "forward difference with h = 1e-50",
            bad,
            "SyntaxError (10e - 50)",
            "x + 1e-50 == x in float64: the quotient is 0; minifw refuses",
        )
    )
    h = 1e-4
    misplaced = f(5.0 + h) - f(5.0 - h) / (2 * h)
    lines.append(
        _row(
            "central difference of 0.01x^2+0.1x at 5",
            CentralDiff().derivative(f, 5.0),
            "(not printed)",
            f"the note's parentheses compute f(x+h) - f(x-h)/(2h) = {misplaced:.1f}",
        )
    )
    tmp1 = CentralDiff().derivative(lambda x0: x0 * x0 + 4.0**2.0, 3.0)
    lines.append(
        _row(
            "d/dx0 (x0^2 + x1^2) at (3, 4)", tmp1, "6.000000378", "the note shows a shortened value"
        )
    )
    tmp2 = CentralDiff().derivative(lambda x1: 3.0**2.0 + x1 * x1, 4.0)
    power = CentralDiff().derivative(lambda x1: 3.0**2.0 + x1**x1, 4.0)
    lines.append(
        _row(
            "d/dx1 (x0^2 + x1^2) at (3, 4)",
            tmp2,
            "7.99999999119",
            f"the note writes x1 ** x1, whose derivative at 4 is {power:.1f}; x1 * x1 is meant",
        )
    )
    grad = CentralDiff().gradient(lambda x: float(np.sum(x**2)), np.array([3.0, 4.0]))
    lines.append(
        _row(
            "gradient of x0^2 + x1^2 at (3, 4)",
            grad.round(6).tolist(),
            "(not printed)",
            "the book's next step: [6, 8]",
        )
    )
    lines.append("")
    lines.append(f"(ln 10 = {math.log(10):.6f} is the loss of a network that guesses evenly)")
    return lines
