r"""Plots of training, written as PNG files (needs the `plot` extra: matplotlib).

Examples:
    >>> from minifw.train.trainer import Evaluation, History
    >>> import tempfile, pathlib
    >>> history = History(loss=[2.3, 2.0, 1.5, 1.2], evaluations=[Evaluation(2, 0.5, 0.45), Evaluation(4, 0.7, 0.66)])
    >>> path = plot_history(history, pathlib.Path(tempfile.mkdtemp()) / "history.png")
    >>> path.read_bytes()[:4]
    b'\x89PNG'

"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from minifw._atomic import atomic_write
from minifw.errors import NotSupportedError
from minifw.train.trainer import History

__all__ = ["matplotlib_available", "plot_history"]


def matplotlib_available() -> bool:
    """Return whether matplotlib can be imported (the `plot` extra is installed).

    Examples:
        >>> isinstance(matplotlib_available(), bool)
        True

    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_history(history: History, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Draw the loss of every step and the accuracy of each evaluation into a PNG file.

    Left: the minibatch loss per step (and its running mean over 50 steps); right: train and
    test accuracy at each evaluation. The file is written atomically; its path is returned.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise NotSupportedError("plotting needs matplotlib: pip install 'minifw[plot]'") from err
    target = Path(path)
    loss = np.asarray(history.loss)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    steps = np.arange(1, loss.size + 1)
    ax_loss.plot(steps, loss, lw=0.6, alpha=0.5, label="minibatch loss")
    if loss.size >= 50:
        mean = np.convolve(loss, np.ones(50) / 50, mode="valid")
        centred = steps[25 : 25 + mean.size] - 0.5  # each mean sits in the middle of its window
        ax_loss.plot(centred, mean, lw=1.5, label="mean of 50 steps")
    ax_loss.set(xlabel="step", ylabel="loss", title="loss")
    ax_loss.legend()
    evals = history.evaluations
    ax_acc.plot([e.step for e in evals], [e.train_accuracy for e in evals], "o-", label="train")
    ax_acc.plot([e.step for e in evals], [e.test_accuracy for e in evals], "s--", label="test")
    ax_acc.set(xlabel="step", ylabel="accuracy", title="accuracy", ylim=(0.0, 1.0))
    ax_acc.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    try:
        with atomic_write(target, what="plot") as handle:
            fig.savefig(handle, format="png", dpi=100)
    finally:
        plt.close(fig)
    return target
