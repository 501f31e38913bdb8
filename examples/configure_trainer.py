"""Build a Trainer from a TOML file and train it.

    python examples/configure_trainer.py                      # minifw's example configuration
    python examples/configure_trainer.py my.toml --steps 50   # another file, fewer steps

The file names every part (model, data, sampler, loss, differentiator, optimizer) and its
options; see docs/howto/configure-toml.md. `minifw train --print-config > my.toml` writes the
example, which ships inside minifw (minifw/app/train.toml). With it this trains the book's
network for 300 steps with numerical gradients and SGD on the bundled MNIST sample: offline,
well under a minute.
"""

from __future__ import annotations

import argparse
import importlib.resources
import sys
from pathlib import Path

from minifw import Trainer
from minifw.app.config import EXAMPLE_CONFIG, load_config
from minifw.errors import MinifwError

# The example configuration that ships with minifw (a file of the installed package).
EXAMPLE = Path(str(importlib.resources.files("minifw.app").joinpath(EXAMPLE_CONFIG)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", type=Path, default=EXAMPLE)
    parser.add_argument("--steps", type=int, help="override [trainer] steps")
    args = parser.parse_args(argv)

    try:
        config = load_config(args.config)  # validated: a typo is an error naming the key
        trainer: Trainer = config.build()
    except MinifwError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    steps = config.steps if args.steps is None else args.steps

    print(f"configuration: {args.config}")
    for part in ("model", "sampler", "loss", "differentiator"):
        print(f"  {part:<15} {getattr(config, part).type} {getattr(config, part).options}")
    data = config.data
    print(f"  {'data':<15} {data.name} {data.source} ({len(trainer.dataset.train)} training images)")
    print(f"  {'optimizer':<15} {trainer.optimizer!r}")

    history = trainer.fit(steps)  # progress on stderr when [trainer] progress = true
    print(
        f"\ntrained {history.steps} steps; minibatch loss {history.loss[0]:.4f} (first) -> "
        f"{history.loss[-1]:.4f} (last)"
    )
    for evaluation in history.evaluations[:-1]:  # every [trainer] eval_every steps
        print(f"  {evaluation}")
    print(f"after training: {history.last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
