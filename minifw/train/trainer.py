r"""The Trainer: a model, a data set, a sampler, a loss, a differentiator and an optimizer, composed.

One training step draws a minibatch with the sampler, builds the model's objective on it (one
forward pass), takes the loss from that objective, asks the gradient method (a finite-difference
scheme or backprop) for the gradient of every parameter array from the same objective, and hands
parameters and gradients to the optimizer, which moves each parameter against its gradient; for
plain SGD

\[
\theta \leftarrow \theta - \eta\, \nabla_\theta L(\theta; x_B, t_B)
\]

Examples:
    >>> from minifw import MNIST, CrossEntropy, CentralDiff, RandomChoiceSampler, Trainer, TwoLayerNet
    >>> trainer = Trainer(
    ...     model=TwoLayerNet(hidden_size=10, seed=0),
    ...     dataset=MNIST.sample(),
    ...     sampler=RandomChoiceSampler(100, seed=0),
    ...     loss=CrossEntropy(),
    ...     differentiator=CentralDiff(),
    ...     learning_rate=0.1,
    ...     progress=False,
    ... )
    >>> x, t = trainer.minibatch()
    >>> round(trainer.loss(x, t), 6)
    2.304277
    >>> sorted(trainer.gradient(x, t))
    ['W1', 'W2', 'b1', 'b2']
    >>> trainer.optimizer                  # learning_rate=0.1 means plain SGD with that step size
    SGD(learning_rate=0.1)
    >>> from minifw import Adam
    >>> Trainer(model=TwoLayerNet(hidden_size=10), dataset=MNIST.sample(), optimizer=Adam()).optimizer
    Adam(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-07)

"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import final

import attrs
import numpy as np
from threadpoolctl import threadpool_limits

from minifw._validation import BOOL, COUNT, POSITIVE_FLOAT, POSITIVE_INT, Check, is_int
from minifw.data.dataset import Dataset
from minifw.errors import CheckpointError, ConfigError, TrainingError, ValidationError
from minifw.nn.backprop import Backprop
from minifw.nn.losses import CrossEntropy, Loss
from minifw.nn.models import Model, model_objective
from minifw.numdiff.differentiation import CentralDiff
from minifw.numdiff.method import GradientMethod
from minifw.numdiff.objective import Objective
from minifw.numdiff.workers import WORKERS, Workers, is_serial, process_pool
from minifw.train.checkpoint import (
    CHECKPOINT_FORMAT,
    check_writable,
    read_checkpoint,
    write_checkpoint,
)
from minifw.train.optimizers import SGD, Optimizer, check_params
from minifw.train.progress import Progress, progress_for
from minifw.train.sampling import BatchSampler, RandomChoiceSampler
from minifw.typing import AnyArray, ArrayLike, FloatArray

__all__ = ["CHECKPOINT_FORMAT", "Evaluation", "History", "Trainer"]

# The step size of the SGD a Trainer uses when given neither an optimizer nor a learning rate.
DEFAULT_LEARNING_RATE = 0.1


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
        """Rebuild a history from [`to_arrays`][minifw.train.trainer.History.to_arrays]' output."""
        evaluations = [
            Evaluation(int(s), float(a), float(b))
            for s, a, b in zip(
                arrays["eval_step"], arrays["train_accuracy"], arrays["test_accuracy"], strict=True
            )
        ]
        return cls(loss=[float(v) for v in arrays["loss"]], evaluations=evaluations)


def _field(check: Check) -> Check:
    """Return `check` as a Trainer field's validator: a ConfigError naming the field."""
    return check.raising(ConfigError, "Trainer field ")


def _check_field(test: Callable[[object], bool], expected: str) -> Check:
    """Return a Trainer field's validator from a test and the words for what it expects."""
    return _field(Check(expected, test))


# More BLAS threads than any machine minifw runs on has cores.
MAX_BLAS_THREADS = 1024


def _has_gradients(value: object) -> bool:
    return isinstance(value, GradientMethod)


def _scalar_loss(value: object) -> bool:
    return isinstance(value, Loss) and value.reduction != "none"


@final
@attrs.define(eq=False)
class Trainer:
    """Trains a model on a data set with minibatches, (numerical) gradients and an optimizer.

    Every part is an object and can be swapped for another: `model` (a
    [`Model`][minifw.nn.models.Model]), `dataset` (a [`Dataset`][minifw.data.dataset.Dataset]),
    `sampler` (a [`BatchSampler`][minifw.train.sampling.BatchSampler], default
    `RandomChoiceSampler(100)`), `loss` (a [`Loss`][minifw.nn.losses.Loss] that reduces to a scalar,
    default `CrossEntropy()`), `differentiator` (any
    `GradientMethod` (`minifw.numdiff.method`): a
    [`Differentiator`][minifw.numdiff.differentiation.Differentiator], default `CentralDiff()`, or
    [`Backprop`][minifw.nn.backprop.Backprop] for analytic gradients) and `optimizer` (an
    [`Optimizer`][minifw.train.optimizers.Optimizer], such as `Adam()`). `learning_rate=r` is short for
    `optimizer=SGD(learning_rate=r)`; give one or the other (neither: `SGD(learning_rate=0.1)`).

    `eval_every` evaluates accuracy every so many steps during [`fit`][minifw.train.trainer.Trainer.fit]
    (0: only at the end). `progress` says whether [`fit`][minifw.train.trainer.Trainer.fit] reports on
    stderr: `True` (the default) draws a bar on a terminal and writes a plain line every few seconds
    when stderr is a file or a pipe (never carriage returns there); `False` writes nothing (see
    [`minifw.train.progress`][minifw.train.progress]). A Trainer is built from a TOML file by
    [`minifw.app.config.load_config`][minifw.app.config.load_config] (`.build()`). `blas_threads` caps the
    BLAS threads numpy uses during [`fit`][minifw.train.trainer.Trainer.fit] (`None` leaves numpy's
    setting): minibatch-sized matrix products are fastest on one thread. A field of the wrong kind
    is rejected when the Trainer is built, with a [`ConfigError`][minifw.errors.ConfigError] naming
    the field.

    `workers` spreads each numerical gradient over workers (see
    [`minifw.numdiff.workers`][minifw.numdiff.workers]; the parameters come out the same to the last bit as with
    `None`, the default). An `int` starts a pool of that many processes at the first gradient and
    reuses it: [`fit`][minifw.train.trainer.Trainer.fit] shuts it down when it returns, unless the Trainer
    is used as a context manager (`with Trainer(..., workers=2) as trainer:`), which keeps it for
    every fit until the block ends; [`close`][minifw.train.trainer.Trainer.close] shuts it down. An
    executor or a map function is used as it is.

    The configured loss is [`loss_function`][minifw.train.trainer.Trainer.loss_function];
    [`loss`][minifw.train.trainer.Trainer.loss] evaluates it on a batch.
    """

    model: Model = attrs.field(validator=_check_field(lambda v: isinstance(v, Model), "a Model"))
    dataset: Dataset = attrs.field(
        validator=_check_field(lambda v: isinstance(v, Dataset), "a Dataset")
    )
    sampler: BatchSampler = attrs.field(
        factory=lambda: RandomChoiceSampler(100),
        validator=_check_field(lambda v: isinstance(v, BatchSampler), "a BatchSampler"),
    )
    _loss: Loss = attrs.field(
        factory=CrossEntropy,
        alias="loss",
        validator=_check_field(_scalar_loss, "a Loss with reduction 'mean' or 'sum'"),
    )
    differentiator: GradientMethod = attrs.field(
        factory=CentralDiff,
        validator=_check_field(
            _has_gradients, "a Differentiator or Backprop()"
        ),
    )
    _requested_optimizer: Optimizer | None = attrs.field(
        default=None,
        alias="optimizer",
        repr=False,
        validator=_check_field(lambda v: v is None or isinstance(v, Optimizer), "an Optimizer"),
    )
    _requested_learning_rate: float | None = attrs.field(
        default=None,
        alias="learning_rate",
        repr=False,
        # None means "not given" (then the optimizer decides); say what a given one must be.
        validator=_check_field(
            lambda v: v is None or POSITIVE_FLOAT.accepts(v), POSITIVE_FLOAT.expected
        ),
    )
    eval_every: int = attrs.field(default=100, validator=_field(COUNT))
    progress: bool = attrs.field(default=True, validator=_field(BOOL))
    blas_threads: int | None = attrs.field(
        default=1,
        validator=_field(POSITIVE_INT.at_most(MAX_BLAS_THREADS, "1024").or_none()),
    )
    workers: Workers = attrs.field(default=None, validator=_field(WORKERS))
    _pool: ProcessPoolExecutor | None = attrs.field(default=None, init=False, repr=False)
    _shutdown: Callable[[], object] | None = attrs.field(default=None, init=False, repr=False)
    _keep_pool: bool = attrs.field(default=False, init=False, repr=False)
    optimizer: Optimizer = attrs.field(
        init=False, validator=_check_field(lambda v: isinstance(v, Optimizer), "an Optimizer")
    )
    history: History = attrs.field(factory=History, init=False)
    step_count: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        optimizer, rate = self._requested_optimizer, self._requested_learning_rate
        if optimizer is not None and rate is not None:
            raise ConfigError(
                "Trainer takes optimizer or learning_rate, not both: got "
                f"optimizer={optimizer!r} and learning_rate={rate!r} (the step size is the "
                f"optimizer's own: {type(optimizer).__name__}(learning_rate={rate!r}))"
            )
        self.optimizer = optimizer or SGD(
            learning_rate=DEFAULT_LEARNING_RATE if rate is None else float(rate)
        )
        if isinstance(self.differentiator, Backprop) and not is_serial(self.workers):
            raise ConfigError(
                f"Trainer field workers={self.workers!r} spreads a numerical gradient over "
                "workers, but differentiator=Backprop() computes the exact one in one pass: "
                "drop workers, or use a finite-difference scheme such as CentralDiff()"
            )

    @property
    def learning_rate(self) -> float:
        """The optimizer's step size (`optimizer.learning_rate`)."""
        return self.optimizer.learning_rate

    @property
    def loss_function(self) -> Loss:
        """The configured [`Loss`][minifw.nn.losses.Loss]."""
        return self._loss

    def minibatch(self) -> tuple[AnyArray, AnyArray]:
        """Return the next training minibatch `(x, t)` drawn by the sampler."""
        train = self.dataset.train
        return self.sampler.minibatch(train.x, train.t)

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """Return the loss of the model's predictions on `(x, t)`."""
        return self.model.loss(x, t, self._loss)

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, FloatArray]:
        """Return the gradient of `loss` on `(x, t)` for every parameter array.

        Computed by the configured `differentiator` from the model's
        [`objective`][minifw.nn.models.Model.objective] (numerically, for a finite-difference
        scheme; by backpropagation for [`Backprop`][minifw.nn.backprop.Backprop]).
        """
        objective = self.model.objective(x, t, self._loss)
        return self.differentiator.gradients(objective, workers=self._workers())

    def _workers(self) -> Workers:
        """Return the workers of a gradient: for an int, this Trainer's pool (started once)."""
        if is_int(self.workers) and not is_serial(self.workers):
            if self._pool is None:
                self._pool = process_pool(int(self.workers))  # type: ignore[arg-type]
                # Also shut down when the Trainer is collected unclosed: no processes left behind.
                self._shutdown = weakref.finalize(self, self._pool.shutdown)
            return self._pool
        return self.workers

    def close(self) -> None:
        """Shut down this Trainer's pool of worker processes, if it started one.

        A later gradient starts a new one. Only the pool of an `int` `workers` is this
        Trainer's; an executor or a map function passed as `workers` is left alone.
        """
        shutdown, self._pool, self._shutdown = self._shutdown, None, None
        if shutdown is not None:
            shutdown()  # the finalizer: shuts the pool down once, then is done

    def __enter__(self) -> Trainer:
        """Keep the pool of worker processes for every step and fit until the block ends."""
        self._keep_pool = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._keep_pool = False
        self.close()

    def step(self) -> float:
        """Take one optimizer step on a fresh minibatch and return its loss (before the update).

        All or nothing: when the parameters cannot be updated in place (read-only, not float64), the
        loss is not finite, the gradient does not fit the parameters or the update would not be
        finite, [`TrainingError`][minifw.errors.TrainingError] is raised and the parameters, the
        optimizer's state, the sampler (it draws the same batch next time), the history and the step
        count are as they were.
        """
        step = self.step_count + 1
        try:
            params = check_params(self.model.params)
        except ValidationError as err:
            raise TrainingError(f"cannot take step {step}: the model's {err}") from err
        saved = self.sampler.state()
        try:
            value = self._update(params, step)
        except BaseException:
            self.sampler.load_state(saved)
            raise
        self.step_count = step
        self.history.loss.append(value)
        return value

    def _update(self, params: dict[str, FloatArray], step: int) -> float:
        """Draw a batch, evaluate, differentiate and update; return the batch's loss.

        One path for every gradient method: the objective holds the forward pass of the batch,
        its value is the loss recorded, and the same objective gives the gradient.
        """
        x, t = self.minibatch()
        objective = self._objective(x, t, step)
        value = objective.value()
        if not math.isfinite(value):
            raise TrainingError(
                f"loss became {value} at step {step}; stopped with the parameters of step "
                f"{self.step_count} (lower learning_rate={self.learning_rate}?)"
            )
        grads = self.differentiator.gradients(objective, workers=self._workers())
        try:
            self.optimizer.update(params, grads)
        except ValidationError as err:
            raise TrainingError(
                f"the gradient at step {step} does not fit the parameters: {err}"
            ) from err
        except TrainingError as err:
            raise TrainingError(
                f"step {step} (loss {value:.6g}): {err}; training stopped with the parameters "
                f"of step {self.step_count}"
            ) from err
        return value

    def _objective(self, x: AnyArray, t: AnyArray, step: int) -> Objective:
        """Return the model's objective on the batch (one forward pass; parameters checked once).

        The parameters were checked by [`step`][minifw.train.trainer.Trainer.step], so the
        objective is built by [`model_objective`][minifw.nn.models.model_objective] directly
        ([`Model.objective`][minifw.nn.models.Model.objective] would check them again). Predictions
        that are not finite are refused by the loss; that is a divergence, and said as such.
        """
        try:
            return model_objective(self.model, x, t, self._loss)
        except ValidationError as err:
            if self._diverged(x):
                raise TrainingError(
                    f"the model's predictions became non-finite at step {step}; stopped with "
                    f"the parameters of step {self.step_count} "
                    f"(lower learning_rate={self.learning_rate}?)"
                ) from err
            raise

    def _diverged(self, x: AnyArray) -> bool:
        """Whether the model's predictions on `x` are not finite (asked only after a failure).

        This second forward pass runs only on the way out of a failed step, to tell a divergence
        from bad labels or inputs; if it fails too, the first error is the one to report.
        """
        try:
            predictions = np.asarray(self.model.predict(x))
        except Exception:  # the original error says what is wrong
            return False
        return predictions.dtype.kind in "fc" and not bool(np.all(np.isfinite(predictions)))

    def evaluate(self) -> Evaluation:
        """Return the accuracy on the training and the test split now."""
        train, test = self.dataset.train, self.dataset.test
        return Evaluation(
            step=self.step_count,
            train_accuracy=self.model.accuracy(train.x, train.t),
            test_accuracy=self.model.accuracy(test.x, test.t),
        )

    def fit(
        self,
        steps: int,
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 0,
    ) -> History:
        """Train for `steps` steps and return the `history` (of all steps so far).

        Evaluates every `eval_every` steps and after the last one. With `checkpoint`, saves
        there every `checkpoint_every` steps (0: only at the end), each time atomically, so a
        failure never leaves a damaged or non-finite checkpoint behind; that the path can be
        written is checked before the first step.
        """
        COUNT.raising(ConfigError).require("steps", steps)
        COUNT.raising(ConfigError).require("checkpoint_every", checkpoint_every)
        if checkpoint is not None:
            check_writable(checkpoint)
        progress = progress_for(self.progress, total=steps)
        limits = threadpool_limits(self.blas_threads, user_api="blas")
        try:
            for _ in range(steps):
                value = self.step()
                progress.update(value)
                if self.eval_every and self.step_count % self.eval_every == 0:
                    self._record(self.evaluate(), progress)
                if (
                    checkpoint is not None
                    and checkpoint_every
                    and (self.step_count % checkpoint_every == 0)
                ):
                    self.save_checkpoint(checkpoint)
        finally:
            limits.restore_original_limits()
            progress.close()
            if not self._keep_pool:  # outside a with block, fit leaves no processes behind
                self.close()
        last = self.history.last
        if steps and (last is None or last.step != self.step_count):
            self._record(self.evaluate(), None)
        if checkpoint is not None:
            self.save_checkpoint(checkpoint)
        return self.history

    def _record(self, evaluation: Evaluation, progress: Progress | None) -> None:
        self.history.evaluations.append(evaluation)
        if progress is not None:
            progress.note(str(evaluation))

    # --- checkpoints --------------------------------------------------------------------------

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Save parameters, optimizer and sampler state, history and step count to one `.npz`.

        The format is [`minifw.train.checkpoint`][minifw.train.checkpoint]'s. The file is written to a temporary
        name in the same folder and renamed into place, so the previous checkpoint survives any
        failure. No pickle is used.
        """
        return write_checkpoint(
            path,
            step=self.step_count,
            model=self.model,
            history=self.history.to_arrays(),
            sampler=self.sampler,
            optimizer=self.optimizer,
        )

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore a checkpoint saved by `save_checkpoint` into this trainer.

        The model must have parameters of the same names and shapes, the sampler and the optimizer
        the same types (a `minifw-checkpoint-1` file, which has no optimizer state, resumes only
        [`SGD`][minifw.train.optimizers.SGD]). The whole file is read and checked before anything changes
        ([`read_checkpoint`][minifw.train.checkpoint.read_checkpoint]), so a damaged or mismatched file
        raises [`CheckpointError`][minifw.errors.CheckpointError] and leaves the trainer as it was.
        """
        checkpoint = read_checkpoint(
            path,
            model=self.model,
            sampler=self.sampler,
            optimizer=self.optimizer,
            train_size=len(self.dataset.train),
        )
        history = History.from_arrays(checkpoint.history)
        previous = self.sampler.state()
        try:
            self.sampler.load_state(checkpoint.sampler)
            # Checked by read_checkpoint against these parameters: it cannot fail here.
            self.optimizer.load_state(checkpoint.optimizer, params=self.model.params)
        except Exception as err:
            self.sampler.load_state(previous)
            raise CheckpointError(
                f"{path} holds a sampler state this sampler rejects: {err}"
            ) from err
        for name, value in checkpoint.params.items():
            self.model.params[name][...] = value
        self.history = history
        self.step_count = checkpoint.step
