"""The ``minifw`` command: ``demo``, ``train``, ``gradcheck`` and ``seed``.

Errors reach the user as one line on standard error and exit status 2 (1 for a failed
gradcheck), never as a traceback.

>>> main(["--version"])  # doctest: +ELLIPSIS
minifw ...
0
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import minifw
from minifw.config import TrainConfig, load_config
from minifw.differentiation import BackwardDiff, CentralDiff, Differentiator, ForwardDiff
from minifw.errors import MinifwError
from minifw.gradcheck import gradcheck
from minifw.losses import CrossEntropy, MeanSquared
from minifw.models import TwoLayerNet
from minifw.plotting import matplotlib_available, plot_history
from minifw.sampling import RandomChoiceSampler
from minifw.trainer import Trainer

__all__ = ["main"]

#: Steps the demo trains for: enough for 85% on the sample's test digits, under a minute.
DEMO_STEPS = 1200

_SCHEMES: dict[str, Callable[..., Differentiator]] = {
    "central": CentralDiff,
    "forward": ForwardDiff,
    "backward": BackwardDiff,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``minifw`` command with ``argv`` (default: ``sys.argv[1:]``); return the status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"minifw {minifw.__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 0
    command: Callable[[argparse.Namespace], int] = args.run
    try:
        # Minibatch-sized matrix products run fastest on one BLAS thread (see Trainer).
        with threadpool_limits(1, user_api="blas"):
            return command(args)
    except MinifwError as err:
        print(f"minifw {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minifw {args.command}: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minifw",
        description="Loss functions, minibatches and numerical gradients on MNIST "
        "(chapter 4 of Deep Learning from Scratch).",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="the main job: minibatch loss, numerical gradient, gradcheck and training "
        "on the bundled MNIST sample (offline, under a minute)",
        description="On the bundled MNIST sample: the minibatch loss of a fresh TwoLayerNet, "
        "its numerical gradient, a gradient check against backprop, then training with "
        "numerical gradients and the test accuracy.",
    )
    demo.add_argument(
        "--steps", type=_count, default=DEMO_STEPS, help="training steps (%(default)s)"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the network and sampler")
    demo.add_argument(
        "--plot", type=Path, default=Path("minifw-demo.png"), help="PNG to write (%(default)s)"
    )
    demo.add_argument("--no-plot", action="store_true", help="do not write a plot")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    demo.set_defaults(run=_demo)

    train = sub.add_parser(
        "train",
        help="train a TwoLayerNet (flags or --config FILE)",
        description="Train with numerical (or analytic) gradients. Flags override --config.",
    )
    train.add_argument("--config", type=Path, help="a TOML file (see minifw.config)")
    train.add_argument(
        "--data", help="sample (bundled, default), mnist (download full MNIST) or a folder"
    )
    train.add_argument("--data-root", help="cache folder for --data mnist")
    train.add_argument("--steps", type=_count)
    train.add_argument("--hidden-size", type=_positive)
    train.add_argument("--weight-init-std", type=float)
    train.add_argument("--batch-size", type=_positive)
    train.add_argument("--sampler", choices=["choice", "shuffle"])
    train.add_argument(
        "--without-replacement", action="store_true", help="choice sampler: distinct indices"
    )
    train.add_argument(
        "--drop-last", action="store_true", help="shuffle sampler: skip short batches"
    )
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--loss", choices=["cross-entropy", "mean-squared"])
    train.add_argument("--eps", type=float, help="cross-entropy's delta inside the log (1e-7)")
    train.add_argument("--scheme", choices=sorted(_SCHEMES), help="difference scheme")
    train.add_argument("--h", type=float, help="difference step (default 1e-4)")
    train.add_argument(
        "--analytic", action="store_true", help="train with backprop instead (for comparison)"
    )
    train.add_argument("--eval-every", type=_count)
    train.add_argument("--seed", type=int)
    train.add_argument("--checkpoint", type=Path, help="save a checkpoint (.npz) here")
    train.add_argument("--checkpoint-every", type=_count)
    train.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train.add_argument("--plot", type=Path, help="write a loss/accuracy PNG here")
    train.add_argument("--blas-threads", type=_count, help="BLAS threads (0: numpy's setting)")
    train.add_argument("--no-progress", action="store_true")
    train.set_defaults(run=_train)

    check = sub.add_parser(
        "gradcheck",
        help="compare numerical and backprop gradients of a TwoLayerNet",
        description="Numerical (finite-difference) against analytic (backprop) gradients of a "
        "TwoLayerNet on one minibatch of the bundled sample. Exit status 1 if it fails.",
    )
    check.add_argument("--batch-size", type=_positive, default=100)
    check.add_argument("--hidden-size", type=_positive, default=50)
    check.add_argument("--weight-init-std", type=float, default=0.01)
    check.add_argument("--scheme", choices=sorted(_SCHEMES), default="central")
    check.add_argument("--h", type=float, default=1e-4)
    check.add_argument("--loss", choices=["cross-entropy", "mean-squared"], default="cross-entropy")
    check.add_argument("--tolerance", type=float, default=1e-7)
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(run=_gradcheck)

    seed = sub.add_parser(
        "seed",
        help="the seed note's computations, each value beside the one the note prints",
        description="Walk through the study note minifw started from: each value it prints "
        "beside the value minifw computes, and where the note's code was wrong.",
    )
    seed.set_defaults(run=_seed)
    return parser


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


# --- demo -----------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    dataset = minifw.MNIST.sample()
    print(
        f"data: the bundled MNIST sample, {len(dataset.train)} training and "
        f"{len(dataset.test)} test digits (offline)"
    )
    trainer = Trainer(
        model=TwoLayerNet(seed=args.seed),
        dataset=dataset,
        sampler=RandomChoiceSampler(100, seed=args.seed),
        loss=CrossEntropy(),
        differentiator=CentralDiff(),
        learning_rate=0.1,
        eval_every=max(1, args.steps // 6) if args.steps else 100,
        progress=not args.no_progress,
    )
    print(f"model: {trainer.model!r} ({_count_params(trainer.model.params)} parameters)")
    x, t = trainer.minibatch()
    print(
        f"\n1. minibatch of {len(x)} digits, cross-entropy loss of the fresh network: "
        f"{trainer.loss(x, t):.6f} (about ln 10 = {math.log(10):.6f}: it still guesses)"
    )
    tick = time.perf_counter()
    grads = trainer.gradient(x, t)
    took = time.perf_counter() - tick
    print(
        f"\n2. numerical gradient, central difference h=1e-4, all "
        f"{_count_params(grads)} coordinates in {took * 1e3:.0f} ms:"
    )
    print(f"   {'param':<6} {'shape':<9} {'max |g|':>10} {'norm':>10} {'zero entries':>13}")
    for name, g in grads.items():
        print(
            f"   {name:<6} {'x'.join(map(str, g.shape)):<9} {np.max(np.abs(g)):>10.3e} "
            f"{np.linalg.norm(g):>10.3e} {int(np.count_nonzero(g == 0)):>13}"
        )
    print("\n3. " + str(gradcheck(trainer.model, x, t)).replace("\n", "\n   "))
    print(
        f"\n4. training {args.steps} steps with numerical gradients (batch 100, learning rate 0.1):"
    )
    history = trainer.fit(args.steps)
    last = history.last
    if last is not None:
        first_loss = np.mean(history.loss[:10]) if history.loss else float("nan")
        last_loss = np.mean(history.loss[-10:]) if history.loss else float("nan")
        print(f"   loss {first_loss:.4f} (first 10 steps) -> {last_loss:.4f} (last 10 steps)")
        print(
            f"   test accuracy: {last.test_accuracy:.1%} of {len(dataset.test)} digits "
            f"(train {last.train_accuracy:.1%})"
        )
    _maybe_plot(history, None if args.no_plot else args.plot, "minifw demo")
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    return 0


def _count_params(params: dict[str, Any]) -> int:
    return int(sum(np.size(v) for v in params.values()))


def _maybe_plot(history: minifw.History, path: Path | None, title: str) -> None:
    if path is None:
        return
    if not matplotlib_available():
        print("   (no plot: matplotlib is not installed; pip install 'minifw[plot]')")
        return
    written = plot_history(history, path, title=title)
    print(f"   plot of loss and accuracy written to {written}")


# --- train -----------------------------------------------------------------------------------------


def _train(args: argparse.Namespace) -> int:
    config = _train_config(args)
    trainer = config.build()
    if args.resume is not None:
        trainer.load_checkpoint(args.resume)
        print(f"resumed from {args.resume} at step {trainer.step_count}")
    print(f"model: {trainer.model!r}")
    print(f"sampler: {trainer.sampler!r}, loss: {trainer.loss_function!r}")
    print(f"gradient: {trainer.differentiator!r}, learning rate {trainer.learning_rate}")
    checkpoint = config.trainer["checkpoint"] or None
    started = time.perf_counter()
    history = trainer.fit(
        config.steps, checkpoint=checkpoint, checkpoint_every=config.trainer["checkpoint_every"]
    )
    seconds = time.perf_counter() - started
    rate = config.steps / seconds if seconds > 0 else float("inf")
    print(
        f"{config.steps} steps in {seconds:.1f} s ({rate:.1f} steps/s); now at step "
        f"{trainer.step_count}"
    )
    if history.last is not None:
        print(f"final {history.last}")
    if checkpoint:
        print(f"checkpoint: {checkpoint}")
    _maybe_plot(history, args.plot, "minifw train")
    return 0


def _train_config(args: argparse.Namespace) -> TrainConfig:
    base = load_config(args.config) if args.config is not None else TrainConfig.from_dict({})
    raw: dict[str, dict[str, Any]] = {
        "trainer": dict(base.trainer),
        "data": dict(base.data),
        **{part: {"type": spec.type, **spec.options} for part, spec in _parts(base).items()},
    }
    trainer, data, model = raw["trainer"], raw["data"], raw["model"]
    sampler, loss, diff = raw["sampler"], raw["loss"], raw["differentiator"]
    _set(trainer, "steps", args.steps)
    _set(trainer, "learning_rate", args.learning_rate)
    _set(trainer, "eval_every", args.eval_every)
    _set(trainer, "checkpoint_every", args.checkpoint_every)
    _set(trainer, "blas_threads", args.blas_threads)
    if args.checkpoint is not None:
        trainer["checkpoint"] = str(args.checkpoint)
    if args.no_progress:
        trainer["progress"] = False
    if args.data is not None:
        if args.data == "sample":
            data["source"] = "sample"
        elif args.data == "mnist":
            data["source"] = "download"
        else:
            data.update(source="directory", path=args.data)
    _set(data, "root", args.data_root)
    _set(model, "hidden_size", args.hidden_size)
    _set(model, "weight_init_std", args.weight_init_std)
    if args.sampler is not None:
        sampler["type"] = {"choice": "RandomChoiceSampler", "shuffle": "ShuffleSampler"}[
            args.sampler
        ]
    _set(sampler, "batch_size", args.batch_size)
    if args.without_replacement:
        sampler["replace"] = False
    if args.drop_last:
        sampler["drop_last"] = True
    if args.loss is not None:
        loss.clear()
        loss["type"] = {"cross-entropy": "CrossEntropy", "mean-squared": "MeanSquared"}[args.loss]
    _set(loss, "eps", args.eps)
    if args.scheme is not None:
        diff["type"] = {
            "central": "CentralDiff",
            "forward": "ForwardDiff",
            "backward": "BackwardDiff",
        }[args.scheme]
    _set(diff, "h", args.h)
    if args.analytic:
        diff.clear()
        diff["type"] = "Backprop"
    if args.seed is not None:
        trainer["seed"] = args.seed
        for part in (model, sampler):
            part["seed"] = args.seed
    return TrainConfig.from_dict(raw, source=str(args.config) if args.config else "flags")


def _parts(config: TrainConfig) -> dict[str, Any]:
    return {
        "model": config.model,
        "sampler": config.sampler,
        "loss": config.loss,
        "differentiator": config.differentiator,
    }


def _set(section: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        section[key] = value


# --- gradcheck ------------------------------------------------------------------------------------


def _gradcheck(args: argparse.Namespace) -> int:
    dataset = minifw.MNIST.sample()
    net = TwoLayerNet(
        hidden_size=args.hidden_size, weight_init_std=args.weight_init_std, seed=args.seed
    )
    x, t = RandomChoiceSampler(args.batch_size, seed=args.seed).minibatch(
        dataset.train.x, dataset.train.t
    )
    loss = CrossEntropy() if args.loss == "cross-entropy" else MeanSquared()
    scheme = _SCHEMES[args.scheme](h=args.h)
    print(f"{net!r} on {len(x)} digits of the bundled sample, {loss!r}")
    report = gradcheck(net, x, t, loss, scheme, tolerance=args.tolerance)
    print(report)
    return 0 if report.passed else 1


# --- seed -----------------------------------------------------------------------------------------


def _seed(_args: argparse.Namespace) -> int:
    from minifw.walkthrough import seed_walkthrough

    for line in seed_walkthrough():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
