"""What training records: the loss of every step and each evaluation of accuracy.

A [`Trainer`][minifw.train.trainer.Trainer] appends to its [`History`][minifw.train.history.History]
as it goes; a checkpoint stores it as plain arrays ([`to_arrays`][minifw.train.history.History.to_arrays]).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import attrs
import numpy as np

from minifw.typing import AnyArray

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
@attrs.define
class History:
    """What training recorded: the loss of every step and each evaluation.

    Examples:
        >>> history = History(loss=[2.3, 2.1], evaluations=[Evaluation(2, 0.5, 0.4)])
        >>> history.steps
        2
        >>> history.last
        Evaluation(step=2, train_accuracy=0.5, test_accuracy=0.4)

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
