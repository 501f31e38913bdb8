"""What each command of `minifw` does: `demo`, `train`, `gradcheck` and `seed`.

Each takes the parsed arguments ([`minifw.app.cli`][minifw.app.cli] parses them), builds its parts
through [`TrainConfig`][minifw.app.config.TrainConfig], checks every output path before any long
work, prints what it does and returns the exit status.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from minifw.app.config import TrainConfig
from minifw.app.flags import choose_model, set_value, train_config
from minifw.app.plotting import matplotlib_available, plot_history
from minifw.app.registry import REGISTRY
from minifw.errors import ConfigError
from minifw.nn.gradcheck import gradcheck as check_gradients
from minifw.numdiff.differentiator import Differentiator
from minifw.train.trainer import History

__all__ = ["DEMO_STEPS", "demo", "gradcheck", "seed", "train"]

# Steps the demo trains for: about 90% on the sample's test digits, well under a minute on a
# 2-core machine with or without AVX-512 (see benchmarks/README.md).
DEMO_STEPS = 2400


# --- outputs, checked before any long work ---------------------------------------------------------


def _check_output(path: Path, flag: str) -> None:
    """Refuse an output path that cannot be written, creating and leaving nothing."""
    problem = _unwritable(path)
    if problem:
        raise ConfigError(f"cannot write {flag} {path}: {problem}")


def _unwritable(target: Path) -> str:
    """Say why `target` cannot be written ("" when it can), probing with a temporary file."""
    if target.is_dir():
        return "it is a folder"
    existing = target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".minifw-", suffix=".probe", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return str(err.strerror or err)
    return ""


# --- demo -----------------------------------------------------------------------------------------


def demo(args: argparse.Namespace) -> int:
    """`minifw demo`: loss, numerical gradient, gradcheck and training on the bundled sample."""
    started = time.perf_counter()
    plot = None if args.no_plot else args.plot
    if plot is not None:
        _check_output(plot, "--plot")
    config = TrainConfig.from_dict(
        {
            "trainer": {
                "seed": args.seed,
                "learning_rate": 0.1,
                "eval_every": max(1, args.steps // 6) if args.steps else 100,
                "progress": not args.quiet,
            },
            "model": {"type": "TwoLayerNet"},
            "sampler": {"type": "RandomChoiceSampler", "batch_size": 100},
            "loss": {"type": "CrossEntropy"},
            "differentiator": {"type": "CentralDiff"},
        },
        source="minifw demo",
    )
    trainer = config.build()
    dataset = trainer.dataset
    print(
        f"data: the bundled MNIST sample, {len(dataset.train)} training and "
        f"{len(dataset.test)} test digits (offline)"
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
    print("\n3. " + str(check_gradients(trainer.model, x, t)).replace("\n", "\n   "))
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
    _maybe_plot(history, plot, "minifw demo")
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    return 0


def _count_params(params: Mapping[str, Any]) -> int:
    return int(sum(np.size(v) for v in params.values()))


def _maybe_plot(history: History, path: Path | None, title: str) -> None:
    if path is None:
        return
    if not matplotlib_available():
        print("   (no plot: matplotlib is not installed; pip install 'minifw[plot]')")
        return
    written = plot_history(history, path, title=title)
    print(f"   plot of loss and accuracy written to {written}")


# --- train -----------------------------------------------------------------------------------------


def train(args: argparse.Namespace) -> int:
    """`minifw train`: build the Trainer from the flags (and `--config`), train, report."""
    config = train_config(args)
    if config.run.checkpoint:
        _check_output(Path(config.run.checkpoint), "--checkpoint")
    if args.plot is not None:
        _check_output(args.plot, "--plot")
    trainer = config.build()
    if args.resume is not None:
        trainer.load_checkpoint(args.resume)
        print(f"resumed from {args.resume} at step {trainer.step_count}")
    print(f"model: {trainer.model!r}")
    print(f"sampler: {trainer.sampler!r}, loss: {trainer.loss_function!r}")
    print(f"gradient: {trainer.differentiator!r}, optimizer: {trainer.optimizer!r}")
    checkpoint = config.run.checkpoint or None
    steps = config.run.steps
    started = time.perf_counter()
    history = trainer.fit(
        steps, checkpoint=checkpoint, checkpoint_every=config.run.checkpoint_every
    )
    seconds = time.perf_counter() - started
    rate = steps / seconds if seconds > 0 else float("inf")
    print(
        f"{steps} steps in {seconds:.1f} s ({rate:.1f} steps/s); now at step {trainer.step_count}"
    )
    if history.last is not None:
        print(f"final {history.last}")
    if checkpoint:
        print(f"checkpoint: {checkpoint}")
    _maybe_plot(history, args.plot, "minifw train")
    return 0


# --- gradcheck ------------------------------------------------------------------------------------


def gradcheck(args: argparse.Namespace) -> int:
    """`minifw gradcheck`: numerical against backprop gradients on one sample minibatch."""
    model: dict[str, Any] = {}
    choose_model(args, model)
    differentiator: dict[str, Any] = {"type": REGISTRY["differentiator"].by_cli(args.scheme).name}
    set_value(differentiator, "h", args.h)
    config = TrainConfig.from_dict(
        {
            "trainer": {"seed": args.seed},
            "model": model,
            "sampler": {"type": "RandomChoiceSampler", "batch_size": args.batch_size},
            "loss": {"type": REGISTRY["loss"].by_cli(args.loss).name},
            "differentiator": differentiator,
        },
        source="the flags",
    )
    net, loss = config.build_model(), config.build_loss()
    scheme = config.build_differentiator()
    if not isinstance(scheme, Differentiator):  # the choices are numerical schemes only
        raise ConfigError(f"--scheme {args.scheme} is not a finite-difference scheme")
    dataset = config.build_dataset()
    x, t = config.build_sampler().minibatch(dataset.train.x, dataset.train.t)
    print(f"{net!r} on {len(x)} digits of the bundled sample, {loss!r}")
    report = check_gradients(net, x, t, loss, scheme, tolerance=args.tolerance)
    print(report)
    return 0 if report.passed else 1


# --- seed -----------------------------------------------------------------------------------------


def seed(_args: argparse.Namespace) -> int:
    """`minifw seed`: the seed note's values beside the ones minifw computes."""
    from minifw.app.walkthrough import seed_walkthrough

    for line in seed_walkthrough():
        print(line)
    return 0
