"""Train the book's two-layer network with numerical gradients, with a progress bar and a plot.

    python examples/train_two_layer_net.py                     # 800 steps, writes two_layer_net.png
    python examples/train_two_layer_net.py --steps 2000 --out run.png

Every gradient is a central difference (h = 1e-4) of the minibatch loss, for all 39,760
parameters, as in chapter 4 of the book; no backpropagation is involved. Offline, on the MNIST
sample bundled with minifw; about half a minute for the default 800 steps. The plot (loss per
step, train and test accuracy per evaluation) needs matplotlib: pip install "minifw[plot]".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from minifw import (
    MNIST,
    CentralDiff,
    CrossEntropy,
    RandomChoiceSampler,
    Trainer,
    TwoLayerNet,
)
from minifw.app.plotting import matplotlib_available, plot_history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800, help="training steps (800)")
    parser.add_argument("--eval-every", type=int, default=100, help="evaluate every so often")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and batches")
    parser.add_argument("--out", type=Path, default=Path("two_layer_net.png"), help="the plot")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)

    dataset = MNIST.sample()
    trainer = Trainer(
        model=TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=args.seed),
        dataset=dataset,
        sampler=RandomChoiceSampler(batch_size=100, seed=args.seed),
        loss=CrossEntropy(),
        differentiator=CentralDiff(h=1e-4),
        learning_rate=0.1,
        eval_every=args.eval_every,
        progress=not args.no_progress,
    )
    parameters = sum(p.size for p in trainer.model.params.values())
    print(
        f"TwoLayerNet 784-50-10 ({parameters} parameters), {len(dataset.train)} training and "
        f"{len(dataset.test)} test digits, batches of 100, numerical gradients (central, h=1e-4)"
    )
    started = time.perf_counter()
    history = trainer.fit(args.steps)
    elapsed = time.perf_counter() - started
    print(
        f"{history.steps} steps in {elapsed:.1f} s; minibatch loss {history.loss[0]:.4f} (first) "
        f"-> {history.loss[-1]:.4f} (last)"
    )
    print(f"after training: {history.last}")

    if matplotlib_available():
        path = plot_history(history, args.out, title="TwoLayerNet, numerical gradients")
        print(f"plot: {path}")
    else:
        print('no plot: matplotlib is not installed (pip install "minifw[plot]")')
    return 0


if __name__ == "__main__":
    sys.exit(main())
