"""The `minifw` command: `demo`, `train`, `gradcheck` and `seed`.

Every failure reaches the user as one line on standard error and exit status 2 (1 for a failed
gradcheck), never a traceback or a page of usage. A flag's value is checked by the same `Check` the
class it configures applies (and a configuration file's value), so the command line, the
configuration and Python accept and refuse alike. The choices of `--model`, `--sampler`, `--loss`,
`--scheme` and `--optimizer` are the command-line names in
[`minifw.app.registry.REGISTRY`][minifw.app.registry.REGISTRY], and every command builds its parts through
[`TrainConfig`][minifw.app.config.TrainConfig].

Examples:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    minifw ...
    0

"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, final

import attrs
import numpy as np
from threadpoolctl import threadpool_limits

from minifw._validation import POSITIVE_FLOAT, Check, check_written, field_check, keyword_fields
from minifw._version import __version__
from minifw.app.config import RunOptions, TrainConfig, load_config
from minifw.app.plotting import matplotlib_available, plot_history
from minifw.app.registry import REGISTRY
from minifw.errors import ConfigError, MinifwError
from minifw.nn.gradcheck import gradcheck
from minifw.nn.losses import CrossEntropy
from minifw.numdiff.differentiator import Differentiator
from minifw.train.sampling import BatchSampler
from minifw.train.trainer import History, Trainer

__all__ = ["main"]

# Steps the demo trains for: about 90% on the sample's test digits, well under a minute on a
# 2-core machine with or without AVX-512 (see benchmarks/README.md).
DEMO_STEPS = 2400

# The model options the command line sets (`--hidden-size` ...); each belongs to the
# registered models that have such a field, and giving one chooses such a model.
MODEL_OPTIONS = (
    "hidden_size",
    "weight_init_std",
    "hidden_sizes",
    "activation",
    "weight_init",
    "output",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `minifw` command with `argv` (default: `sys.argv[1:]`); return the status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "model", None) is not None or any(
            getattr(args, key, None) is not None for key in MODEL_OPTIONS
        ):
            _check_model_flags(args)
    except SystemExit as stop:  # --help (0) or a bad flag (2, already reported on one line)
        return stop.code if isinstance(stop.code, int) else 2
    if args.version:
        print(f"minifw {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 0
    command: Callable[[argparse.Namespace], int] = args.run
    where = f"minifw {args.command}"
    try:
        # Minibatch-sized matrix products run fastest on one BLAS thread (see Trainer).
        with threadpool_limits(1, user_api="blas"):
            return command(args)
    except MinifwError as err:
        return _fail(f"{where}: error: {_one_line(err)}")
    except KeyboardInterrupt:
        return _fail(f"{where}: interrupted", status=130)
    except OSError as err:  # a file or folder minifw was not told about, e.g. a full disk
        return _fail(f"{where}: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "))
    except MemoryError:
        return _fail(f"{where}: error: out of memory (try a smaller model or batch)")
    except Exception as err:  # a bug: still one line, with what a report needs
        return _fail(f"{where}: internal error, please report it: {type(err).__name__}: {err}")


def _fail(line: str, status: int = 2) -> int:
    print(_one_line(line), file=sys.stderr)
    return status


def _one_line(text: object) -> str:
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


# --- the parser ----------------------------------------------------------------------------------


@final
class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Report a bad command line on one line (no usage block) and exit with status 2."""
        self.exit(2, f"minifw: error: {_one_line(message)} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        "--steps",
        type=_field_type(RunOptions, "steps"),
        default=DEMO_STEPS,
        help="training steps (%(default)s)",
    )
    demo.add_argument(
        "--seed",
        type=_field_type(RunOptions, "seed"),
        default=0,
        help="seed of the network and sampler (%(default)s)",
    )
    demo.add_argument(
        "--plot", type=Path, default=Path("minifw-demo.png"), help="PNG to write (%(default)s)"
    )
    demo.add_argument("--no-plot", action="store_true", help="do not write a plot")
    _add_quiet(demo)
    demo.set_defaults(run=_demo)

    train = sub.add_parser(
        "train",
        help="train a model (flags or --config FILE)",
        description="Train with numerical (or analytic) gradients. Flags override --config.",
    )
    train.add_argument("--config", type=Path, help="a TOML file (see minifw.app.config)")
    train.add_argument(
        "--data", help="sample (bundled, default), mnist (download full MNIST) or a folder"
    )
    train.add_argument("--data-root", help="cache folder for --data mnist")
    train.add_argument("--steps", type=_field_type(RunOptions, "steps"))
    _add_model_flags(train)
    sampler = REGISTRY["sampler"]
    train.add_argument("--sampler", choices=sampler.cli_names, help="minibatch sampler")
    train.add_argument("--batch-size", type=_field_type(BatchSampler, "batch_size"))
    train.add_argument(
        "--without-replacement", action="store_true", help="choice sampler: distinct indices"
    )
    train.add_argument(
        "--drop-last", action="store_true", help="shuffle sampler: skip short batches"
    )
    train.add_argument("--loss", choices=REGISTRY["loss"].cli_names)
    train.add_argument(
        "--eps", type=_field_type(CrossEntropy, "eps"), help="cross-entropy's delta (1e-7)"
    )
    train.add_argument(
        "--scheme",
        choices=REGISTRY["differentiator"].cli_names,
        help="difference scheme, or backprop (default central)",
    )
    train.add_argument(
        "--h", type=_field_type(Differentiator, "h"), help="difference step (default 1e-4)"
    )
    train.add_argument(
        "--analytic",
        action="store_true",
        help="train with backprop (the same as --scheme backprop)",
    )
    train.add_argument(
        "--optimizer",
        choices=REGISTRY["optimizer"].cli_names,
        help="default: sgd with --learning-rate (0.1)",
    )
    train.add_argument(
        "--learning-rate",
        type=_field_type(Trainer, "learning_rate"),
        help="the step size (of --optimizer, when given)",
    )
    train.add_argument("--eval-every", type=_field_type(Trainer, "eval_every"))
    train.add_argument("--seed", type=_field_type(RunOptions, "seed"))
    train.add_argument("--checkpoint", type=Path, help="save a checkpoint (.npz) here")
    train.add_argument("--checkpoint-every", type=_field_type(RunOptions, "checkpoint_every"))
    train.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train.add_argument("--plot", type=Path, help="write a loss/accuracy PNG here")
    train.add_argument(
        "--blas-threads",
        type=_field_type(Trainer, "blas_threads"),
        help="BLAS threads while training (0: numpy's own setting)",
    )
    if "workers" in keyword_fields(Trainer):
        train.add_argument(
            "--workers",
            type=_field_type(Trainer, "workers"),
            help="processes computing each numerical gradient",
        )
    _add_quiet(train)
    train.set_defaults(run=_train, parser=train)

    check = sub.add_parser(
        "gradcheck",
        help="compare numerical and backprop gradients of a built-in network",
        description="Numerical (finite-difference) against analytic (backprop) gradients of a "
        "network on one minibatch of the bundled sample. Exit status 1 if it fails.",
    )
    check.add_argument(
        "--batch-size",
        type=_field_type(BatchSampler, "batch_size"),
        default=100,
        help="(%(default)s)",
    )
    _add_model_flags(check)
    numerical = [
        p.cli for p in REGISTRY["differentiator"].parts if issubclass(p.cls, Differentiator)
    ]
    check.add_argument("--scheme", choices=numerical, default="central", help="(%(default)s)")
    check.add_argument("--h", type=_field_type(Differentiator, "h"), help="(1e-4)")
    check.add_argument(
        "--loss", choices=REGISTRY["loss"].cli_names, default="cross-entropy", help="(%(default)s)"
    )
    check.add_argument(
        "--tolerance", type=_check_type(POSITIVE_FLOAT, float), default=1e-7, help="(%(default)s)"
    )
    check.add_argument(
        "--seed", type=_field_type(RunOptions, "seed"), default=0, help="(%(default)s)"
    )
    check.set_defaults(run=_gradcheck, parser=check)

    seed = sub.add_parser(
        "seed",
        help="the seed note's computations, each value beside the one the note prints",
        description="Walk through the study note minifw started from: each value it prints "
        "beside the value minifw computes, and where the note's code was wrong.",
    )
    seed.set_defaults(run=_seed)
    return parser


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet",
        "--no-progress",
        dest="quiet",
        action="store_true",
        help="no progress output while training",
    )


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        choices=REGISTRY["model"].cli_names,
        help="default: chosen by the model flags given, else two-layer",
    )
    for key in MODEL_OPTIONS:
        owners = _model_owners(key)
        field = keyword_fields(owners[0])[key]
        sequence = isinstance(field.default, tuple)
        parser.add_argument(
            "--" + key.replace("_", "-"),
            dest=key,
            type=_field_type(owners[0], key, _int_list if sequence else _literal),
            metavar="N,N,..." if sequence else None,
            help=f"{' or '.join(o.__name__ for o in owners)}'s {key} "
            f"(default {_show(field.default)})",
        )


def _model_owners(key: str) -> list[type]:
    return [p.cls for p in REGISTRY["model"].parts if key in keyword_fields(p.cls)]


def _show(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


# --- flag values, checked as the classes check them -----------------------------------------------


def _literal(text: str) -> object:
    """Read a flag's text as what a TOML file would hold: an integer, a float, a bool or text."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _int_list(text: str) -> object:
    try:
        return [int(piece) for piece in text.split(",")]
    except ValueError:
        raise ValueError("must be integers separated by commas") from None


def _field_type(
    cls: type, key: str, parse: Callable[[str], object] = _literal
) -> Callable[[str], object]:
    """Return an argparse `type` checking a flag as `cls` checks its field `key`."""
    field = keyword_fields(cls)[key]

    def flag_type(text: str) -> object:
        try:
            value = parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{err}, got {text!r}") from err
        try:
            converted, expected = check_written(field, value)
            if expected is None and field_check(field) is None and field.validator is not None:
                field.validator(None, field, converted)  # a built-in class's own check
        except MinifwError as err:
            raise argparse.ArgumentTypeError(_one_line(err)) from err
        if expected is not None:
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return value

    flag_type.__name__ = key
    return flag_type


def _check_type(check: Check, parse: Callable[[str], object]) -> Callable[[str], object]:
    """Return an argparse `type` applying `check` to the parsed text."""

    def flag_type(text: str) -> object:
        try:
            value = parse(text)
        except ValueError:
            value = text
        if not check.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {check.expectation(value)}, got {text!r}")
        return value

    return flag_type


# --- outputs, checked before any long work ---------------------------------------------------------


def _check_output(path: Path, flag: str) -> None:
    """Refuse an output path that cannot be written, creating and leaving nothing."""
    problem = _unwritable(path)
    if problem:
        raise ConfigError(f"cannot write {flag} {path}: {problem}")


def _unwritable(target: Path) -> str:
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


def _demo(args: argparse.Namespace) -> int:
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
    _maybe_plot(history, plot, "minifw demo")
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    return 0


def _count_params(params: dict[str, Any]) -> int:
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


def _train(args: argparse.Namespace) -> int:
    config = _train_config(args)
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


def _train_config(args: argparse.Namespace) -> TrainConfig:
    """Return the configuration file (if any) with the flags laid over it, validated again."""
    base = load_config(args.config) if args.config is not None else None
    raw: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (base.raw if base else {}).items()}
    trainer = raw.setdefault("trainer", {})
    for key in ("steps", "eval_every", "checkpoint_every", "blas_threads", "workers"):
        _set(trainer, key, getattr(args, key, None))
    if args.checkpoint is not None:
        trainer["checkpoint"] = str(args.checkpoint)
    if args.quiet:
        trainer["progress"] = False
    data = raw.setdefault("data", {})
    if args.data is not None:
        source = {"sample": "sample", "mnist": "download"}.get(args.data, "directory")
        data.update(source=source, **({"path": args.data} if source == "directory" else {}))
    _set(data, "root", args.data_root)
    _choose_model(args, raw.setdefault("model", {}), base.model.cls if base else None)
    sampler = raw.setdefault("sampler", {})
    if args.sampler is not None:
        _set_type(sampler, "sampler", REGISTRY["sampler"].by_cli(args.sampler).name)
    _set(sampler, "batch_size", args.batch_size)
    if args.without_replacement:
        sampler["replace"] = False
    if args.drop_last:
        sampler["drop_last"] = True
    loss = raw.setdefault("loss", {})
    if args.loss is not None:
        _set_type(loss, "loss", REGISTRY["loss"].by_cli(args.loss).name)
    _set(loss, "eps", args.eps)
    differentiator = raw.setdefault("differentiator", {})
    scheme = "backprop" if args.analytic else args.scheme
    if scheme is not None:
        _set_type(differentiator, "differentiator", REGISTRY["differentiator"].by_cli(scheme).name)
    _set(differentiator, "h", args.h)
    if args.optimizer is not None:
        trainer.pop("learning_rate", None)  # the flag overrides the file's SGD
        optimizer = raw.setdefault("optimizer", {})
        _set_type(optimizer, "optimizer", REGISTRY["optimizer"].by_cli(args.optimizer).name)
    if args.learning_rate is not None:
        raw.get("optimizer", trainer)["learning_rate"] = args.learning_rate
    if args.seed is not None:
        trainer["seed"] = args.seed
        for kind in REGISTRY:  # every part that takes a seed gets this one
            if kind in raw:
                raw[kind].pop("seed", None)
    source = f"{args.config} with the flags" if args.config else "the flags"
    return TrainConfig.from_dict(raw, source=source)


def _check_model_flags(args: argparse.Namespace) -> None:
    """Refuse model flags that no one model takes (with --model: that model)."""
    kind = REGISTRY["model"]
    given = [key for key in MODEL_OPTIONS if getattr(args, key) is not None]
    flags = ", ".join("--" + key.replace("_", "-") for key in given)
    if args.model is not None:
        chosen = kind.by_cli(args.model).cls
        foreign = [key for key in given if key not in keyword_fields(chosen)]
        if foreign:
            flag = "--" + foreign[0].replace("_", "-")
            args.parser.error(f"argument {flag}: not an option of --model {args.model}")
    elif given and not _model_candidates(given):
        args.parser.error(f"arguments {flags}: options of different models; give those of one")


def _model_candidates(given: Sequence[str]) -> list[type]:
    return [p.cls for p in REGISTRY["model"].parts if _takes(p.cls, given)]


def _choose_model(
    args: argparse.Namespace, model: dict[str, Any], current: type | None = None
) -> None:
    """Set the model's type from --model, or from the model flags given; then its options.

    `current` is the class the configuration file names: it stays when it takes the flags.
    """
    kind = REGISTRY["model"]
    given = [key for key in MODEL_OPTIONS if getattr(args, key) is not None]
    if args.model is not None:
        _set_type(model, "model", kind.by_cli(args.model).name)
    elif given and not (current is not None and _takes(current, given)):
        _set_type(model, "model", _model_candidates(given)[0].__name__)
    for key in given:
        model[key] = getattr(args, key)


def _takes(cls: type, keys: Sequence[str]) -> bool:
    return attrs.has(cls) and all(key in keyword_fields(cls) for key in keys)


def _set_type(section: dict[str, Any], kind: str, name: str) -> None:
    """Set a part's type, keeping the options the new class also takes."""
    if section.get("type", REGISTRY[kind].default) == name:
        section["type"] = name
        return
    cls = REGISTRY[kind].by_name(name)
    accepted = set(keyword_fields(cls.cls)) if cls is not None and attrs.has(cls.cls) else set()
    kept = {k: v for k, v in section.items() if k in accepted}
    section.clear()
    section.update(type=name, **kept)


def _set(section: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        section[key] = value


# --- gradcheck ------------------------------------------------------------------------------------


def _gradcheck(args: argparse.Namespace) -> int:
    model: dict[str, Any] = {}
    _choose_model(args, model)
    differentiator: dict[str, Any] = {"type": REGISTRY["differentiator"].by_cli(args.scheme).name}
    _set(differentiator, "h", args.h)
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
    report = gradcheck(net, x, t, loss, scheme, tolerance=args.tolerance)
    print(report)
    return 0 if report.passed else 1


# --- seed -----------------------------------------------------------------------------------------


def _seed(_args: argparse.Namespace) -> int:
    from minifw.app.walkthrough import seed_walkthrough

    for line in seed_walkthrough():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
