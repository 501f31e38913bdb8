"""The `minifw` command: `demo`, `train`, `gradcheck` and `seed`; its argument parsing.

Every failure reaches the user as one line on standard error and exit status 2 (1 for a failed
gradcheck), never a traceback or a page of usage. A flag's value is checked by the same `Check` the
class it configures applies (and a configuration file's value), so the command line, the
configuration and Python accept and refuse alike ([`minifw.app.flags`][minifw.app.flags]). The
choices of `--model`, `--sampler`, `--loss`, `--scheme`, `--optimizer` and the names `--data`
takes are the command-line names in [`minifw.app.registry.REGISTRY`][minifw.app.registry.REGISTRY];
every command ([`minifw.app.commands`][minifw.app.commands]) builds its parts through
[`TrainConfig`][minifw.app.config.TrainConfig].

Examples:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    minifw ...
    0

"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, final

from threadpoolctl import threadpool_limits

from minifw._validation import POSITIVE_FLOAT, keyword_fields
from minifw._version import __version__
from minifw.app import commands
from minifw.app.config import RunOptions
from minifw.app.flags import (
    MODEL_OPTIONS,
    check_model_flags,
    check_type,
    field_type,
    int_list,
    literal,
    model_owners,
    show,
)
from minifw.app.registry import REGISTRY
from minifw.app.schema import one_line
from minifw.errors import MinifwError
from minifw.nn.losses import CrossEntropy
from minifw.numdiff.differentiator import Differentiator
from minifw.train.sampling import BatchSampler
from minifw.train.trainer import Trainer

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `minifw` command with `argv` (default: `sys.argv[1:]`); return the status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "model", None) is not None or any(
            getattr(args, key, None) is not None for key in MODEL_OPTIONS
        ):
            check_model_flags(args)
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
        return _fail(f"{where}: error: {one_line(err)}")
    except KeyboardInterrupt:
        return _fail(f"{where}: interrupted", status=130)
    except OSError as err:  # a file or folder minifw was not told about, e.g. a full disk
        return _fail(f"{where}: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "))
    except MemoryError:
        return _fail(f"{where}: error: out of memory (try a smaller model or batch)")
    except Exception as err:  # a bug: still one line, with what a report needs
        return _fail(f"{where}: internal error, please report it: {type(err).__name__}: {err}")


def _fail(line: str, status: int = 2) -> int:
    print(one_line(line), file=sys.stderr)
    return status


# --- the parser ----------------------------------------------------------------------------------


@final
class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Report a bad command line on one line (no usage block) and exit with status 2."""
        self.exit(2, f"minifw: error: {one_line(message)} (see {self.prog} --help)\n")


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
        type=field_type(RunOptions, "steps"),
        default=commands.DEMO_STEPS,
        help="training steps (%(default)s)",
    )
    demo.add_argument(
        "--seed",
        type=field_type(RunOptions, "seed"),
        default=0,
        help="seed of the network and sampler (%(default)s)",
    )
    demo.add_argument(
        "--plot", type=Path, default=Path("minifw-demo.png"), help="PNG to write (%(default)s)"
    )
    demo.add_argument("--no-plot", action="store_true", help="do not write a plot")
    _add_quiet(demo)
    demo.set_defaults(run=commands.demo)

    train = sub.add_parser(
        "train",
        help="train a model (flags or --config FILE)",
        description="Train with numerical (or analytic) gradients. Flags override --config.",
    )
    train.add_argument("--config", type=Path, help="a TOML file (see minifw.app.config)")
    names = ", ".join(REGISTRY["data"].cli_names)
    train.add_argument(
        "--data",
        metavar="DATA",
        help=f"sample (the bundled MNIST sample, default), a data set ({names}: the full set, "
        "from the cache or downloaded once; or package.module:Class), or a folder of its files",
    )
    train.add_argument(
        "--data-root", help="cache folder of --data NAME (default $MINIFW_DATA, ~/.cache/minifw)"
    )
    train.add_argument("--steps", type=field_type(RunOptions, "steps"))
    _add_model_flags(train)
    sampler = REGISTRY["sampler"]
    train.add_argument("--sampler", choices=sampler.cli_names, help="minibatch sampler")
    train.add_argument("--batch-size", type=field_type(BatchSampler, "batch_size"))
    train.add_argument(
        "--without-replacement", action="store_true", help="choice sampler: distinct indices"
    )
    train.add_argument(
        "--drop-last", action="store_true", help="shuffle sampler: skip short batches"
    )
    train.add_argument("--loss", choices=REGISTRY["loss"].cli_names)
    train.add_argument(
        "--eps", type=field_type(CrossEntropy, "eps"), help="cross-entropy's delta (1e-7)"
    )
    train.add_argument(
        "--scheme",
        choices=REGISTRY["differentiator"].cli_names,
        help="difference scheme, or backprop (default central)",
    )
    train.add_argument(
        "--h", type=field_type(Differentiator, "h"), help="difference step (default 1e-4)"
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
        type=field_type(Trainer, "learning_rate"),
        help="the step size (of --optimizer, when given)",
    )
    train.add_argument("--eval-every", type=field_type(Trainer, "eval_every"))
    train.add_argument("--seed", type=field_type(RunOptions, "seed"))
    train.add_argument("--checkpoint", type=Path, help="save a checkpoint (.npz) here")
    train.add_argument("--checkpoint-every", type=field_type(RunOptions, "checkpoint_every"))
    train.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train.add_argument("--plot", type=Path, help="write a loss/accuracy PNG here")
    train.add_argument(
        "--blas-threads",
        type=field_type(Trainer, "blas_threads"),
        help="BLAS threads while training (0: numpy's own setting)",
    )
    train.add_argument(
        "--workers",
        type=field_type(Trainer, "workers"),
        help="processes computing each numerical gradient",
    )
    _add_quiet(train)
    train.set_defaults(run=commands.train, parser=train)

    check = sub.add_parser(
        "gradcheck",
        help="compare numerical and backprop gradients of a built-in network",
        description="Numerical (finite-difference) against analytic (backprop) gradients of a "
        "network on one minibatch of the bundled sample. Exit status 1 if it fails.",
    )
    check.add_argument(
        "--batch-size",
        type=field_type(BatchSampler, "batch_size"),
        default=100,
        help="(%(default)s)",
    )
    _add_model_flags(check)
    numerical = [
        p.cli for p in REGISTRY["differentiator"].parts if issubclass(p.cls, Differentiator)
    ]
    check.add_argument("--scheme", choices=numerical, default="central", help="(%(default)s)")
    check.add_argument("--h", type=field_type(Differentiator, "h"), help="(1e-4)")
    check.add_argument(
        "--loss", choices=REGISTRY["loss"].cli_names, default="cross-entropy", help="(%(default)s)"
    )
    check.add_argument(
        "--tolerance", type=check_type(POSITIVE_FLOAT, float), default=1e-7, help="(%(default)s)"
    )
    check.add_argument(
        "--seed", type=field_type(RunOptions, "seed"), default=0, help="(%(default)s)"
    )
    check.set_defaults(run=commands.gradcheck, parser=check)

    seed = sub.add_parser(
        "seed",
        help="the seed note's computations, each value beside the one the note prints",
        description="Walk through the study note minifw started from: each value it prints "
        "beside the value minifw computes, and where the note's code was wrong.",
    )
    seed.set_defaults(run=commands.seed)
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
        owners = model_owners(key)
        field = keyword_fields(owners[0])[key]
        sequence = isinstance(field.default, tuple)
        parser.add_argument(
            "--" + key.replace("_", "-"),
            dest=key,
            type=field_type(owners[0], key, int_list if sequence else literal),
            metavar="N,N,..." if sequence else None,
            help=f"{' or '.join(o.__name__ for o in owners)}'s {key} "
            f"(default {show(field.default)})",
        )


if __name__ == "__main__":
    sys.exit(main())
