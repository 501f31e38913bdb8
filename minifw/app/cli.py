"""The `minifw` command: `demo`, `train`, `gradcheck` and `seed`; its argument parsing.

Every failure reaches the user as one line on standard error and exit status 2 (1 for a failed
gradcheck), never a traceback or a page of usage; flags that contradict each other are such a
failure. SIGINT (Ctrl-C) and SIGTERM end a command with one line and exit status 130 and 143;
during training the current step finishes first and the checkpoint, if one was asked for, is
saved ([`minifw.train.interrupts`][minifw.train.interrupts]). numpy's floating-point warnings
never reach the output (minifw checks finiteness itself and says what went wrong), and a closed
standard error or output costs the messages, never the run. A flag's value is checked by the same `Check` the
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
import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn, TextIO, final

import numpy as np
from threadpoolctl import threadpool_limits

from minifw._validation import POSITIVE_FLOAT, keyword_fields
from minifw._version import __version__
from minifw.app import commands
from minifw.app.config import RunOptions
from minifw.app.flags import (
    MODEL_OPTIONS,
    check_conflicts,
    check_model_flags,
    check_type,
    field_help,
    field_type,
    int_list,
    literal,
    model_owners,
)
from minifw.app.registry import REGISTRY
from minifw.app.schema import one_line
from minifw.errors import MinifwError
from minifw.nn.losses import CrossEntropy
from minifw.numdiff.differentiator import Differentiator
from minifw.train.interrupts import Interrupted, raising_on_sigterm
from minifw.train.sampling import BatchSampler
from minifw.train.trainer import DEFAULT_LEARNING_RATE, Trainer

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `minifw` command with `argv` (default: `sys.argv[1:]`); return the status."""
    with _usable_streams():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "model", None) is not None or any(
            getattr(args, key, None) is not None for key in MODEL_OPTIONS
        ):
            check_model_flags(args)
        check_conflicts(args)
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
        # numpy's floating-point warnings are not for users: minifw checks finiteness itself.
        with (
            raising_on_sigterm(),
            threadpool_limits(1, user_api="blas"),
            np.errstate(all="ignore"),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="numpy")
            warnings.showwarning = _one_line_warning(where)
            return command(args)
    except Interrupted as stop:
        return _fail(f"{where}: {_stopped(stop)}", status=stop.status)
    except KeyboardInterrupt:
        return _fail(f"{where}: interrupted", status=130)
    except MinifwError as err:
        return _fail(f"{where}: error: {one_line(err)}")
    except BrokenPipeError:  # the reader of the output went away (`minifw seed | head -1`)
        with contextlib.suppress(OSError, ValueError):  # and no complaint when Python exits
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:  # a file or folder minifw was not told about, e.g. a full disk
        return _fail(f"{where}: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "))
    except MemoryError:
        return _fail(f"{where}: error: out of memory (try a smaller model or batch)")
    except RecursionError:
        return _fail(f"{where}: error: input nested too deeply")
    except Exception as err:  # a bug: still one line, with what a report needs
        return _fail(f"{where}: internal error, please report it: {type(err).__name__}: {err}")


def _stopped(stop: Interrupted) -> str:
    """Say how a command stopped on a signal, and how to go on."""
    text = str(stop)
    if stop.checkpoint is not None:
        return f"{text} (continue with: minifw train --resume {stop.checkpoint})"
    if stop.step is not None:
        return f"{text} (nothing saved: no --checkpoint was given)"
    return text


def _one_line_warning(where: str) -> Callable[..., None]:
    """Return a `warnings.showwarning` that says minifw's own warnings on one line of stderr."""

    def show(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
        with contextlib.suppress(OSError, ValueError):
            print(one_line(f"{where}: warning: {message}"), file=sys.stderr, flush=True)

    return show


def _fail(line: str, status: int = 2) -> int:
    with contextlib.suppress(OSError, ValueError):  # a stderr closed meanwhile
        print(one_line(line), file=sys.stderr, flush=True)
    return status


@contextlib.contextmanager
def _usable_streams() -> Iterator[None]:
    """Give a closed stdin's, stdout's or stderr's place to the null device while the command runs.

    Python sets `sys.stderr` to None when the program was started with it closed (`2>&-`); the
    messages are then lost, the work is not. A pipe whose reader went away afterwards
    (`| head -1`) is the caller's `BrokenPipeError`.
    """
    spare: list[TextIO] = []
    saved = {name: getattr(sys, name) for name in ("stdout", "stderr")}
    for name, stream in saved.items():
        if stream is None or getattr(stream, "closed", False):
            spare.append(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
            setattr(sys, name, spare[-1])
    try:
        yield
    finally:
        for name, stream in saved.items():
            if getattr(sys, name) in spare:
                setattr(sys, name, stream)
        for handle in spare:
            handle.close()


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
    _demo_parser(sub)
    _train_parser(sub)
    _gradcheck_parser(sub)
    seed = sub.add_parser(
        "seed",
        help="the seed note's computations, each value beside the one the note prints",
        description="Walk through the study note minifw started from: each value it prints "
        "beside the value minifw computes, and where the note's code was wrong.",
    )
    seed.set_defaults(run=commands.seed)
    return parser


def _demo_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
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
        help=field_help(RunOptions, "steps", "training steps", commands.DEMO_STEPS),
    )
    demo.add_argument(
        "--seed",
        type=field_type(RunOptions, "seed"),
        default=0,
        help=field_help(RunOptions, "seed", "seed of the network and sampler", 0),
    )
    demo.add_argument(
        "--plot",
        type=Path,
        help=f"the plot to write; its suffix names the format (default {commands.DEMO_PLOT})",
    )
    demo.add_argument("--no-plot", action="store_true", help="do not write a plot")
    _add_quiet(demo, "print only the test accuracy (no progress, no walkthrough)")
    demo.set_defaults(run=commands.demo, parser=demo)


def _train_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    train = sub.add_parser(
        "train",
        help="train a model (flags or --config FILE; --resume CHECKPOINT continues a run)",
        description="Train with numerical (or analytic) gradients. Flags override --config; "
        "--resume continues the run a checkpoint records, and flags that would change what it "
        "trains are refused.",
    )
    train.add_argument("--config", type=Path, help="a TOML file (--print-config shows one)")
    train.add_argument(
        "--print-config",
        action="store_true",
        help="print the example configuration (every section, with comments) and exit",
    )
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
    train.add_argument(
        "--steps",
        type=field_type(RunOptions, "steps"),
        help=field_help(RunOptions, "steps", "training steps")[:-1]
        + "; with --resume: the steps the run had left)",
    )
    _add_model_flags(train)
    sampler = REGISTRY["sampler"]
    train.add_argument(
        "--sampler",
        choices=sampler.cli_names,
        help=f"minibatch sampler (default {sampler.parts[0].cli})",
    )
    train.add_argument(
        "--batch-size",
        type=field_type(BatchSampler, "batch_size"),
        help=field_help(
            BatchSampler, "batch_size", "examples per minibatch", sampler.defaults["batch_size"]
        ),
    )
    train.add_argument(
        "--without-replacement", action="store_true", help="choice sampler: distinct indices"
    )
    train.add_argument(
        "--drop-last", action="store_true", help="shuffle sampler: skip short batches"
    )
    loss = REGISTRY["loss"]
    train.add_argument("--loss", choices=loss.cli_names, help=f"(default {loss.parts[0].cli})")
    train.add_argument(
        "--eps",
        type=field_type(CrossEntropy, "eps"),
        help=field_help(CrossEntropy, "eps", "cross-entropy's delta"),
    )
    train.add_argument(
        "--scheme",
        choices=REGISTRY["differentiator"].cli_names,
        help="difference scheme, or backprop (default central)",
    )
    train.add_argument(
        "--h",
        type=field_type(Differentiator, "h"),
        help=field_help(Differentiator, "h", "difference step"),
    )
    train.add_argument(
        "--analytic",
        action="store_true",
        help="train with backprop (the same as --scheme backprop)",
    )
    train.add_argument(
        "--optimizer",
        choices=REGISTRY["optimizer"].cli_names,
        help=f"(default sgd with --learning-rate {DEFAULT_LEARNING_RATE})",
    )
    train.add_argument(
        "--learning-rate",
        type=field_type(Trainer, "learning_rate"),
        help=f"the step size: a positive finite float (default {DEFAULT_LEARNING_RATE} for "
        "sgd, else the optimizer's own)",
    )
    train.add_argument(
        "--eval-every",
        type=field_type(Trainer, "eval_every"),
        help=field_help(
            Trainer, "eval_every", "accuracy on both splits every so many steps, 0: at the end"
        ),
    )
    train.add_argument(
        "--seed",
        type=field_type(RunOptions, "seed"),
        help="seeds the model and the sampler: an integer in 0..2**128-1 (default: one chosen "
        "at random and printed, so the run can be repeated)",
    )
    train.add_argument("--checkpoint", type=Path, help="save a checkpoint (.npz) here")
    train.add_argument(
        "--checkpoint-every",
        type=field_type(RunOptions, "checkpoint_every"),
        help=field_help(RunOptions, "checkpoint_every", "save every so many steps, 0: at the end"),
    )
    train.add_argument(
        "--resume",
        type=Path,
        metavar="CHECKPOINT",
        help="continue the run this checkpoint records (its model, optimizer, sampler and "
        "settings; it keeps saving there if it was saving)",
    )
    train.add_argument(
        "--plot", type=Path, help="write a loss/accuracy plot here (.png, .svg, .pdf, ...)"
    )
    train.add_argument(
        "--blas-threads",
        type=field_type(Trainer, "blas_threads"),
        help=field_help(
            Trainer, "blas_threads", "BLAS threads while training, 0: numpy's own setting"
        ),
    )
    train.add_argument(
        "--workers",
        type=field_type(Trainer, "workers"),
        help="processes computing each numerical gradient (default: none, in this process)",
    )
    _add_quiet(train, "print only the results (no progress, no description of the parts)")
    train.set_defaults(run=commands.train, parser=train)


def _gradcheck_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
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
        help=field_help(BatchSampler, "batch_size", "", 100),
    )
    _add_model_flags(check)
    numerical = [
        p.cli for p in REGISTRY["differentiator"].parts if issubclass(p.cls, Differentiator)
    ]
    check.add_argument(
        "--scheme", choices=numerical, default="central", help="(default %(default)s)"
    )
    check.add_argument(
        "--h", type=field_type(Differentiator, "h"), help=field_help(Differentiator, "h")
    )
    check.add_argument(
        "--loss",
        choices=REGISTRY["loss"].cli_names,
        default="cross-entropy",
        help="(default %(default)s)",
    )
    check.add_argument(
        "--tolerance",
        type=check_type(POSITIVE_FLOAT, float),
        default=1e-7,
        help=f"{POSITIVE_FLOAT.expected} (default %(default)s)",
    )
    check.add_argument(
        "--seed",
        type=field_type(RunOptions, "seed"),
        default=0,
        help=field_help(RunOptions, "seed", "", 0),
    )
    check.set_defaults(run=commands.gradcheck, parser=check)


def _add_quiet(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--quiet", action="store_true", help=help)
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress report while training"
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
            help=field_help(owners[0], key, f"{' or '.join(o.__name__ for o in owners)}'s {key}"),
        )


if __name__ == "__main__":
    sys.exit(main())
