"""Train the book's network with numerical gradients, and with backprop for comparison.

The set-up of the book's ``train_neuralnet.py`` (TwoLayerNet 784-50-10, learning rate 0.1,
minibatches of 100 drawn with replacement, 10,000 steps) on the bundled MNIST sample, run twice
in one process with the same seed: once with central-difference gradients (h = 1e-4) through
minifw's fast objective, once with the analytic gradient. Prints wall time, steps per second
and accuracy, and checks the targets: under 5 minutes (issue 9; issue 5 asked for 10) and at
most 40 s (issue 20), at least 90% on the sample's 1,000 test digits, within 1 point of the
analytic run. Run it as is and with NPY_DISABLE_CPU_FEATURES=X86_V4 (a machine without AVX-512).

    python benchmarks/train_numerical.py            # the full run, about a minute here
    python benchmarks/train_numerical.py --steps 500
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Sequence

import numpy as np

from minifw import (
    MNIST,
    Backprop,
    CentralDiff,
    CrossEntropy,
    RandomChoiceSampler,
    Trainer,
    TwoLayerNet,
)
from minifw.numdiff.method import GradientMethod


def run(method: GradientMethod, steps: int, seed: int, progress: bool) -> tuple[Trainer, float]:
    trainer = Trainer(
        model=TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=seed),
        dataset=MNIST.sample(),
        sampler=RandomChoiceSampler(100, seed=seed),
        loss=CrossEntropy(),
        differentiator=method,
        learning_rate=0.1,
        eval_every=max(1, steps // 10),
        progress=progress,
    )
    started = time.perf_counter()
    trainer.fit(steps)
    return trainer, time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    print(
        f"TwoLayerNet 784-50-10, lr 0.1, batch 100, {args.steps} steps, seed {args.seed}, "
        "bundled sample (4,000 train / 1,000 test)\n"
    )
    results = {}
    for label, method in (
        ("numerical (central, h=1e-4)", CentralDiff()),
        ("analytic (backprop)", Backprop()),
    ):
        trainer, seconds = run(method, args.steps, args.seed, not args.no_progress)
        results[label] = (trainer, seconds)
    print(
        f"\n{'gradient':<30} {'wall time':>10} {'steps/s':>9} {'final loss*':>11} "
        f"{'train acc':>9} {'test acc':>9}"
    )
    for label, (trainer, seconds) in results.items():
        last = trainer.history.last
        assert last is not None
        loss = float(np.mean(trainer.history.loss[-100:]))
        print(
            f"{label:<30} {seconds:>9.1f}s {args.steps / seconds:>9.1f} {loss:>11.4f} "
            f"{last.train_accuracy:>9.2%} {last.test_accuracy:>9.2%}"
        )
    print("* mean minibatch loss of the last 100 steps")
    (num, num_s), (ana, _) = results.values()
    num_acc = num.history.last.test_accuracy if num.history.last else 0.0
    ana_acc = ana.history.last.test_accuracy if ana.history.last else 0.0
    print("\naccuracy at each evaluation (numerical / analytic):")
    for a, b in zip(num.history.evaluations, ana.history.evaluations, strict=True):
        print(f"  step {a.step:>6}: test {a.test_accuracy:.2%} / {b.test_accuracy:.2%}")
    gap = abs(num_acc - ana_acc)
    if args.steps == 10_000:
        print("\ntargets (issues 5, 9 and 20):")
        print(
            f"  {'PASS' if num_s < 300 else 'FAIL'}  10,000 numerical steps in under 5 minutes: {num_s / 60:.1f} min"
        )
        print(
            f"  {'PASS' if num_s <= 40 else 'FAIL'}  10,000 numerical steps in at most 40 s (issue 20): {num_s:.1f} s"
        )
        print(f"  {'PASS' if num_acc >= 0.90 else 'FAIL'}  test accuracy >= 90%: {num_acc:.2%}")
        print(
            f"  {'PASS' if gap <= 0.01 else 'FAIL'}  within 1 point of backprop: {gap * 100:.2f} points"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
