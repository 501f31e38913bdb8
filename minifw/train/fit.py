"""One call of `Trainer.fit`: the steps, the evaluations, the checkpoints, the progress report, a clean stop.

[`Fit`][minifw.train.fit.Fit] runs the loop of [`Trainer.fit`][minifw.train.trainer.Trainer.fit]
with the Trainer's BLAS threads and progress report, and listens for SIGINT and SIGTERM
([`StopRequest`][minifw.train.interrupts.StopRequest]): the first stops the run after the
current step, a second stops the step itself (the Trainer rolls it back). Either way the
checkpoint, when one was asked for, is saved with every step so far, and
[`Interrupted`][minifw.train.interrupts.Interrupted] says the signal, the step and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, final

import attrs
from threadpoolctl import threadpool_limits

from minifw.train.history import Evaluation
from minifw.train.interrupts import Interrupted, StopRequest
from minifw.train.progress import Progress, progress_for

if TYPE_CHECKING:  # the Trainer imports this module
    from minifw.train.trainer import Trainer

__all__ = ["Fit"]


@final
@attrs.define(eq=False)
class Fit:
    """`steps` steps of `trainer`, saving to `checkpoint` every `every` steps (0: at the end).

    Examples:
        >>> from minifw import MNIST, Trainer, TwoLayerNet
        >>> trainer = Trainer(model=TwoLayerNet(hidden_size=5, seed=0), dataset=MNIST.sample(),
        ...                   eval_every=2, progress=False)
        >>> Fit(trainer, 3).run()
        >>> trainer.step_count, [e.step for e in trainer.history.evaluations]
        (3, [2, 3])

    """

    trainer: Trainer
    steps: int
    checkpoint: Path | None = attrs.field(default=None, kw_only=True)
    every: int = attrs.field(default=0, kw_only=True)

    def run(self) -> None:
        """Take the steps, evaluate after the last, save; raise `Interrupted` if a signal stopped it."""
        trainer = self.trainer
        progress = progress_for(trainer.progress, total=self.steps)
        limits = threadpool_limits(trainer.blas_threads, user_api="blas")
        try:
            with StopRequest() as stop:
                self._steps(stop, progress)
                if stop.signal is not None:
                    saved = self._save()
                    raise Interrupted(stop.signal, step=trainer.step_count, checkpoint=saved)
        finally:
            limits.restore_original_limits()
            progress.close()
        last = trainer.history.last
        if self.steps and (last is None or last.step != trainer.step_count):
            self._record(trainer.evaluate(), None)
        self._save()

    def _steps(self, stop: StopRequest, progress: Progress) -> None:
        """Take up to `steps` steps, stopping early when a signal asks."""
        trainer = self.trainer
        for _ in range(self.steps):
            try:
                value = trainer.step()
            except BaseException:
                if stop.signal is None:
                    raise
                return  # asked to stop: the step, rolled back, may have failed because of it
            progress.update(value)
            if stop.signal is not None:
                return
            if trainer.eval_every and trainer.step_count % trainer.eval_every == 0:
                self._record(trainer.evaluate(), progress)
            if self.every and trainer.step_count % self.every == 0:
                self._save()

    def _save(self) -> Path | None:
        if self.checkpoint is None:
            return None
        return self.trainer.save_checkpoint(self.checkpoint)

    def _record(self, evaluation: Evaluation, progress: Progress | None) -> None:
        self.trainer.history.evaluations.append(evaluation)
        if progress is not None:
            progress.note(str(evaluation))
