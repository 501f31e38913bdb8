"""What training records: the loss of every step and each evaluation of accuracy.

A [`Trainer`][minifw.train.trainer.Trainer] appends to its [`History`][minifw.train.history.History]
as it goes; a checkpoint stores it as plain arrays ([`to_arrays`][minifw.train.history.History.to_arrays]).
In Jupyter a History shows as a table of its evaluations, and
[`plot`][minifw.train.history.History.plot] draws the loss and the accuracy (it needs the `plot`
extra, matplotlib).
"""

from __future__ import annotations

import functools
import io
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, final

import attrs
import numpy as np

from minifw._html import html_table
from minifw.errors import NotSupportedError
from minifw.typing import AnyArray

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The window of the running mean drawn over the minibatch losses.
MEAN_WINDOW = 50

__all__ = ["Evaluation", "History"]


@final
@attrs.frozen
class Evaluation:
    """Accuracy on the training and the test split after `step` training steps."""

    step: int
    train_accuracy: float
    test_accuracy: float

    def __str__(self) -> str:
        return (
            f"step {self.step}: train accuracy {self.train_accuracy:.4f}, "
            f"test accuracy {self.test_accuracy:.4f}"
        )


@final
@attrs.define(repr=False)
class History:
    """What training recorded: the loss of every step and each evaluation.

    The `repr` summarises (the losses of thousands of steps are not for reading); the lists
    are `loss` and `evaluations`.

    Examples:
        >>> history = History(loss=[2.3, 2.1], evaluations=[Evaluation(2, 0.5, 0.4)])
        >>> history.steps
        2
        >>> history.last
        Evaluation(step=2, train_accuracy=0.5, test_accuracy=0.4)
        >>> history
        History(2 steps, loss 2.3000 first and 2.1000 last, 1 evaluation: step 2: train accuracy 0.5000, test accuracy 0.4000)

    """

    loss: list[float] = attrs.field(factory=list)
    evaluations: list[Evaluation] = attrs.field(factory=list)

    @property
    def steps(self) -> int:
        """The number of recorded steps."""
        return len(self.loss)

    @property
    def last(self) -> Evaluation | None:
        """The most recent evaluation, if any."""
        return self.evaluations[-1] if self.evaluations else None

    def __repr__(self) -> str:
        steps = f"{self.steps} step{'' if self.steps == 1 else 's'}"
        if self.loss:
            steps += f", loss {self.loss[0]:.4f} first and {self.loss[-1]:.4f} last"
        count = len(self.evaluations)
        evaluations = f"{count} evaluation{'' if count == 1 else 's'}"
        if self.last is not None:
            evaluations += f": {self.last}" if count == 1 else f", the last at {self.last}"
        return f"History({steps}, {evaluations})"

    def _repr_html_(self) -> str:
        """Return the table Jupyter shows: one row per evaluation, the loss in the caption."""
        caption = repr(self).removeprefix("History(").removesuffix(")").split(", ")[0]
        if self.loss:
            caption += (
                f"; minibatch loss {self.loss[0]:.4f} at the first, {self.loss[-1]:.4f} at the last"
            )
        rows = [
            [e.step, f"{e.train_accuracy:.4f}", f"{e.test_accuracy:.4f}"] for e in self.evaluations
        ]
        return html_table(
            ["step", "train accuracy", "test accuracy"], rows, caption=f"History: {caption}"
        )

    def plot(self, *, title: str = "") -> Figure:
        r"""Draw the loss of every step and the accuracy of each evaluation; return the figure.

        Left: the minibatch loss per step, with its running mean over 50 steps; right: train
        and test accuracy at each evaluation. In Jupyter the figure shows below the cell when the
        cell ends with it (once, with or without `%matplotlib inline`); elsewhere save it with
        `figure.savefig(path)`
        ([`plot_history`][minifw.app.plotting.plot_history] does, atomically). Raises
        [`NotSupportedError`][minifw.errors.NotSupportedError] without matplotlib
        (`pip install 'minifw[plot]'`).

        Examples:
            >>> figure = History(loss=[2.3, 2.0, 1.5], evaluations=[Evaluation(3, 0.5, 0.4)]).plot()
            >>> [axes.get_title() for axes in figure.axes]
            ['loss', 'accuracy']

        """
        figure = _shown_figure()(figsize=(10, 4), layout="constrained")
        ax_loss, ax_acc = figure.subplots(1, 2)
        loss = np.asarray(self.loss, dtype=np.float64)
        steps = np.arange(1, loss.size + 1)
        ax_loss.plot(steps, loss, lw=0.6, alpha=0.5, label="minibatch loss")
        if loss.size >= MEAN_WINDOW:
            mean = np.convolve(loss, np.ones(MEAN_WINDOW) / MEAN_WINDOW, mode="valid")
            half = MEAN_WINDOW // 2
            # each mean sits in the middle of its window
            ax_loss.plot(
                steps[half : half + mean.size] - 0.5,
                mean,
                lw=1.5,
                label=f"mean of {MEAN_WINDOW} steps",
            )
        ax_loss.set(xlabel="step", ylabel="loss", title="loss")
        if loss.size:
            ax_loss.legend()
        marks = [e.step for e in self.evaluations]
        ax_acc.plot(marks, [e.train_accuracy for e in self.evaluations], "o-", label="train")
        ax_acc.plot(marks, [e.test_accuracy for e in self.evaluations], "s--", label="test")
        ax_acc.set(xlabel="step", ylabel="accuracy", title="accuracy", ylim=(0.0, 1.0))
        ax_acc.legend(loc="lower right")
        if title:
            figure.suptitle(title)
        return figure

    def to_arrays(self) -> dict[str, AnyArray]:
        """Return the history as arrays (for `np.savez`; no pickle needed)."""
        return {
            "loss": np.asarray(self.loss, dtype=np.float64),
            "eval_step": np.asarray([e.step for e in self.evaluations], dtype=np.int64),
            "train_accuracy": np.asarray(
                [e.train_accuracy for e in self.evaluations], dtype=np.float64
            ),
            "test_accuracy": np.asarray(
                [e.test_accuracy for e in self.evaluations], dtype=np.float64
            ),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, AnyArray]) -> History:
        """Rebuild a history from [`to_arrays`][minifw.train.history.History.to_arrays]' output."""
        evaluations = [
            Evaluation(int(s), float(a), float(b))
            for s, a, b in zip(
                arrays["eval_step"], arrays["train_accuracy"], arrays["test_accuracy"], strict=True
            )
        ]
        return cls(loss=[float(v) for v in arrays["loss"]], evaluations=evaluations)


@functools.cache
def _shown_figure() -> type[Figure]:
    """Return a matplotlib `Figure` that Jupyter shows when a cell returns it (made once).

    A plain figure returned by a cell shows as text unless `%matplotlib inline` was run; this
    one draws itself as PNG (`_repr_png_`). It is made without pyplot, so pyplot does not show
    it a second time at the end of the cell, nor keep it open.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise NotSupportedError("plotting needs matplotlib: pip install 'minifw[plot]'") from err

    @typing.final
    class ShownFigure(Figure):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=100)
            return buffer.getvalue()

    return ShownFigure
