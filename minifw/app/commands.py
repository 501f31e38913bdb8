"""What each command of `minifw` does: `demo`, `train`, `gradcheck` and `seed`.

Each takes the parsed arguments ([`minifw.app.cli`][minifw.app.cli] parses them), builds its parts
through [`TrainConfig`][minifw.app.config.TrainConfig], checks every output path before any long
work, prints what it does and returns the exit status.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from minifw.app.config import TrainConfig, example_config, load_config
from minifw.app.flags import choose_model, layered_config, set_value
from minifw.app.plotting import check_plot_path, matplotlib_available, plot_history
from minifw.app.registry import REGISTRY
from minifw.app.resuming import check_agreement, check_data, recorded_config
from minifw.errors import ConfigError
from minifw.nn.gradcheck import gradcheck as check_gradients
from minifw.numdiff.differentiator import Differentiator
from minifw.train.checkpoint import read_meta
from minifw.train.parts import class_name
from minifw.train.trainer import History, Trainer

__all__ = ["DEMO_PLOT", "DEMO_STEPS", "demo", "gradcheck", "plural", "seed", "train"]

# A seed chosen for a run given none is below this (short to read and to type again).
SEED_RANGE = 2**32


def plural(count: int, word: str) -> str:
    """Return `count word`, the word in the plural unless the count is one.

    Examples:
        >>> plural(1, "step"), plural(30, "step")
        ('1 step', '30 steps')

    """
    return f"{count} {word}{'' if count == 1 else 's'}"


def _printer(quiet: bool) -> Callable[..., None]:
    """Return `print`, or a function that prints nothing when `quiet` (only results then)."""
    return (lambda *args, **kwargs: None) if quiet else print


# Steps the demo trains for: about 90% on the sample's test digits, well under a minute on a
# 2-core machine with or without AVX-512 (see benchmarks/README.md).
DEMO_STEPS = 2400

# Where the demo draws its loss and accuracy unless told otherwise.
DEMO_PLOT = Path("minifw-demo.png")


# --- outputs, checked before any long work ---------------------------------------------------------


def _check_output(path: Path, flag: str, *, create_folder: bool = True) -> None:
    """Refuse an output path that cannot be written, creating and leaving nothing.

    With `create_folder` (a checkpoint) missing folders are made when it is written; without (a
    plot) the folder must exist.
    """
    problem = _unwritable(path, create_folder)
    if problem:
        raise ConfigError(f"cannot write {flag} {path}: {problem}")


def _unwritable(target: Path, create_folder: bool) -> str:
    """Say why `target` cannot be written ("" when it can), probing with a temporary file."""
    if target.is_dir():
        return "it is a folder"
    existing = target.parent
    if not create_folder and not existing.is_dir():
        what = "is not a folder" if existing.exists() else "does not exist"
        return f"the folder {existing} {what} (minifw creates no folders for a plot)"
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
    """`minifw demo`: loss, numerical gradient, gradcheck and training on the bundled sample.

    With `--quiet` it prints only the result: the test accuracy after training.
    """
    started = time.perf_counter()
    say = _printer(args.quiet)
    plot = None if args.no_plot else (args.plot or DEMO_PLOT)
    if plot is not None:
        _check_plot(plot)
    config = TrainConfig.from_dict(
        {
            "trainer": {
                "seed": args.seed,
                "learning_rate": 0.1,
                "eval_every": max(1, args.steps // 6) if args.steps else 100,
                "progress": not (args.quiet or args.no_progress),
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
    say(
        f"data: the bundled MNIST sample, {len(dataset.train)} training and "
        f"{len(dataset.test)} test digits (offline)"
    )
    say(f"model: {trainer.model!r} ({_count_params(trainer.model.params)} parameters)")
    x, t = trainer.minibatch()
    say(
        f"\n1. minibatch of {len(x)} digits, cross-entropy loss of the fresh network: "
        f"{trainer.loss(x, t):.6f} (about ln 10 = {math.log(10):.6f}: it still guesses)"
    )
    tick = time.perf_counter()
    grads = trainer.gradient(x, t)
    took = time.perf_counter() - tick
    say(
        f"\n2. numerical gradient, central difference h=1e-4, all "
        f"{_count_params(grads)} coordinates in {took * 1e3:.0f} ms:"
    )
    say(f"   {'param':<6} {'shape':<9} {'max |g|':>10} {'norm':>10} {'zero entries':>13}")
    for name, g in grads.items():
        say(
            f"   {name:<6} {'x'.join(map(str, g.shape)):<9} {np.max(np.abs(g)):>10.3e} "
            f"{np.linalg.norm(g):>10.3e} {int(np.count_nonzero(g == 0)):>13}"
        )
    if not args.quiet:
        print("\n3. " + str(check_gradients(trainer.model, x, t)).replace("\n", "\n   "))
    say(
        f"\n4. training {plural(args.steps, 'step')} with numerical gradients (batch 100, "
        "learning rate 0.1):"
    )
    history = trainer.fit(args.steps)
    last = history.last
    if last is not None:
        first_loss = np.mean(history.loss[:10]) if history.loss else float("nan")
        last_loss = np.mean(history.loss[-10:]) if history.loss else float("nan")
        say(f"   loss {first_loss:.4f} (first 10 steps) -> {last_loss:.4f} (last 10 steps)")
        print(
            f"{'' if args.quiet else '   '}test accuracy: {last.test_accuracy:.1%} of "
            f"{len(dataset.test)} digits (train {last.train_accuracy:.1%})"
        )
    _maybe_plot(history, plot, "minifw demo", say)
    say(f"\ndone in {time.perf_counter() - started:.0f} s")
    return 0


def _count_params(params: Mapping[str, Any]) -> int:
    return int(sum(np.size(v) for v in params.values()))


def _check_plot(path: Path) -> None:
    """Refuse a plot path before any work: a format matplotlib cannot write, or no such folder."""
    _check_output(path, "--plot", create_folder=False)
    try:
        check_plot_path(path)
    except ConfigError as err:
        raise ConfigError(f"--plot {path}: {err}") from err


def _maybe_plot(
    history: History, path: Path | None, title: str, say: Callable[..., None] = print
) -> None:
    if path is None:
        return
    if not matplotlib_available():
        say("   (no plot: matplotlib is not installed; pip install 'minifw[plot]')")
        return
    written = plot_history(history, path, title=title)
    say(f"   plot of loss and accuracy written to {written}")


# --- train -----------------------------------------------------------------------------------------


def train(args: argparse.Namespace) -> int:
    """`minifw train`: build the Trainer from the flags (and `--config`), train, report.

    With `--resume`, the run the checkpoint records is rebuilt and continued
    ([`minifw.app.resuming`][minifw.app.resuming]); flags that would change it are refused.
    Without a seed anywhere, one is chosen and printed, so the run can be repeated.
    """
    if args.print_config:
        print(example_config(), end="")
        return 0
    say = _printer(args.quiet)
    file = load_config(args.config) if args.config is not None else None
    meta = read_meta(args.resume) if args.resume is not None else None
    recorded = recorded_config(meta, args.resume) if meta is not None else {}
    raw = layered_config(args, recorded, file)
    chosen = _choose_seed(raw) if meta is None else None
    source = f"{args.config} with the flags" if args.config else "the flags"
    config = TrainConfig.from_dict(raw, source=source)
    if recorded:
        check_agreement(
            TrainConfig.from_dict(recorded, source=str(args.resume)),
            config,
            args.resume,
            data="data" in recorded,
            named=file.raw if file is not None else {},
        )
    checkpoint = _checkpoint_path(args, config, recorded, file)
    if checkpoint:
        _check_output(Path(checkpoint), "--checkpoint")
    if args.plot is not None:
        _check_plot(args.plot)
    trainer = config.build()
    if meta is not None:
        check_data(meta, len(trainer.dataset.train), class_name(type(trainer.dataset)), args.resume)
        trainer.load_checkpoint(args.resume)
        print(f"resumed from {args.resume} at step {trainer.step_count}")
    if chosen is not None:
        print(f"seed: {chosen} (none given, so chosen at random: --seed {chosen} repeats this run)")
    say(f"model: {trainer.model!r}")
    say(f"sampler: {trainer.sampler!r}, loss: {trainer.loss_function!r}")
    say(f"gradient: {trainer.differentiator!r}, optimizer: {trainer.optimizer!r}")
    steps = _steps(args, config, file, meta, trainer)
    if meta is not None and steps == 0 and args.steps is None:
        print(
            f"{args.resume} is at step {trainer.step_count}, where its run was to stop: "
            "--steps N trains N more"
        )
        return 0
    started = time.perf_counter()
    history = trainer.fit(
        steps, checkpoint=checkpoint or None, checkpoint_every=config.run.checkpoint_every
    )
    seconds = time.perf_counter() - started
    rate = steps / seconds if seconds > 0 else float("inf")
    print(
        f"{plural(steps, 'step')} in {seconds:.1f} s ({rate:.1f} steps/s); now at step "
        f"{trainer.step_count}"
    )
    if history.last is not None:
        print(f"final {history.last}")
    if checkpoint:
        print(f"checkpoint: {checkpoint}")
    _maybe_plot(history, args.plot, "minifw train", say)
    return 0


def _choose_seed(raw: dict[str, Any]) -> int | None:
    """Seed a run that names no seed anywhere with a random one; return it (None if one was given)."""
    trainer = raw.setdefault("trainer", {})
    if "seed" in trainer or any(
        isinstance(raw.get(kind), Mapping) and raw[kind].get("seed") is not None
        for kind in REGISTRY
    ):
        return None
    trainer["seed"] = secrets.randbelow(SEED_RANGE)
    return int(trainer["seed"])


def _checkpoint_path(
    args: argparse.Namespace,
    config: TrainConfig,
    recorded: Mapping[str, Any],
    file: TrainConfig | None,
) -> str:
    """Return where this run saves ("" for nowhere).

    `--checkpoint` or the file's `checkpoint` say so; a resumed run that was saving keeps
    saving, into the file it resumed from.
    """
    given = args.checkpoint is not None or (file is not None and file.run.checkpoint)
    if args.resume is not None and not given and recorded.get("trainer", {}).get("checkpoint"):
        return str(args.resume)
    return config.run.checkpoint


def _steps(
    args: argparse.Namespace,
    config: TrainConfig,
    file: TrainConfig | None,
    meta: Mapping[str, Any] | None,
    trainer: Trainer,
) -> int:
    """Return how many steps to train: as given, or what a resumed run had left to go."""
    given = args.steps is not None or (file is not None and "steps" in file.raw.get("trainer", {}))
    fit = meta.get("fit") if meta is not None else None
    if given or not isinstance(fit, Mapping) or not isinstance(fit.get("until"), int):
        return config.run.steps
    return max(0, int(fit["until"]) - trainer.step_count)


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
