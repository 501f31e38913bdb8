"""Compare the six optimizers on one network, as the book's optimizer comparison does.

    python examples/compare_optimizers.py                 # 200 steps each, writes compare_optimizers.png
    python examples/compare_optimizers.py --steps 500 --out optimizers.png

Each optimizer trains the same MultiLayerNet 784-50-10 (ReLU, He initialisation, the same seed)
on the same minibatches of the MNIST sample bundled with minifw, with numerical gradients
(central differences, h = 1e-4) and the book's default hyperparameters: SGD and the others at
learning rate 0.01, Adam at 0.001. It prints a table of the losses and draws the smoothed
minibatch loss of each (the book's smooth_curve) when matplotlib is installed. About 40 s for
the default 200 steps on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from minifw import (
    MNIST,
    SGD,
    AdaGrad,
    Adam,
    CentralDiff,
    History,
    Momentum,
    MultiLayerNet,
    Nesterov,
    Optimizer,
    RandomChoiceSampler,
    RMSprop,
    Trainer,
)
from minifw.app.plotting import matplotlib_available

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The optimizers compared, with the book's defaults.
OPTIMIZERS: list[Optimizer] = [SGD(), Momentum(), Nesterov(), AdaGrad(), RMSprop(), Adam()]


def smooth_curve(values: list[float]) -> NDArray[np.float64]:
    """The book's smooth_curve: a Kaiser window of 11 steps, the ends mirrored."""
    x = np.asarray(values, dtype=np.float64)
    window = 11
    if x.size < window:
        return x
    padded = np.r_[x[window - 1 : 0 : -1], x, x[-1:-window:-1]]
    weights = np.kaiser(window, 2)
    smoothed = np.convolve(weights / weights.sum(), padded, mode="valid")
    return smoothed[5 : len(smoothed) - 5]


def train(optimizer: Optimizer, dataset: MNIST, steps: int, seed: int) -> History:
    trainer = Trainer(
        model=MultiLayerNet(hidden_sizes=(50,), seed=seed),
        dataset=dataset,
        sampler=RandomChoiceSampler(batch_size=100, seed=seed),
        differentiator=CentralDiff(h=1e-4),
        optimizer=optimizer,
        eval_every=0,  # evaluate once, at the end
        progress=False,
    )
    return trainer.fit(steps)


def draw(histories: dict[str, History]) -> Figure:
    """The smoothed minibatch loss of each optimizer, in the manner of the book's figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    markers = ["o", "x", "^", "s", "D", "v"]
    for (name, history), marker in zip(histories.items(), markers, strict=True):
        curve = smooth_curve(history.loss)
        steps = np.arange(1, curve.size + 1)
        ax.plot(steps, curve, marker=marker, markevery=max(1, curve.size // 10), label=name)
    # RMSprop's first steps overshoot (its h starts at zero); the book's figure clips too.
    ax.set(xlabel="step", ylabel="minibatch loss (smoothed)", ylim=(0.0, 2.5))
    ax.set_title("Optimizers on MultiLayerNet 784-50-10, numerical gradients")
    ax.legend()
    return fig


def compare(steps: int, seed: int, *, verbose: bool = True) -> dict[str, History]:
    """Train a fresh network with each optimizer on the same batches; their histories."""
    dataset = MNIST.sample()
    histories: dict[str, History] = {}
    for optimizer in OPTIMIZERS:
        started = time.perf_counter()
        histories[type(optimizer).__name__] = train(optimizer, dataset, steps, seed)
        if verbose:
            print(f"  {optimizer!r}: {time.perf_counter() - started:.1f} s")
    return histories


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps per optimizer")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and batches")
    parser.add_argument(
        "--out", type=Path, default=Path("compare_optimizers.png"), help="the plot (PNG)"
    )
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be a positive integer, got {args.steps}")

    print(
        "MultiLayerNet 784-50-10, the bundled sample's 4000 training digits, batches of 100, "
        f"{args.steps} steps, numerical gradients (central, h=1e-4)"
    )
    histories = compare(args.steps, args.seed)

    tail = min(10, args.steps)
    print()
    print(
        f"{'optimizer':<10} {'learning rate':>13} {'first loss':>10} {'last ' + str(tail):>10}"
        f" {'test accuracy':>13}"
    )
    for optimizer, (name, history) in zip(OPTIMIZERS, histories.items(), strict=True):
        last = float(np.mean(history.loss[-tail:]))
        accuracy = history.last.test_accuracy if history.last else float("nan")
        print(
            f"{name:<10} {optimizer.learning_rate:>13g} {history.loss[0]:>10.4f} {last:>10.4f} "
            f"{accuracy:>13.4f}"
        )
    print(f"(last {tail}: the mean minibatch loss of the last {tail} steps)")

    if matplotlib_available():
        draw(histories).savefig(args.out, dpi=100)
        print(f"plot: {args.out}")
    else:
        print('no plot: matplotlib is not installed (pip install "minifw[plot]")')
    return 0


if __name__ == "__main__":
    sys.exit(main())
