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

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, final

import attrs

from minifw._validation import BOOL, COUNT, POSITIVE_FLOAT, POSITIVE_INT, Check
from minifw.data.dataset import Dataset
from minifw.errors import CheckpointError, ConfigError
from minifw.nn.backprop import Backprop
from minifw.nn.losses import CrossEntropy, Loss
from minifw.nn.models import Model
from minifw.numdiff.method import GradientMethod
from minifw.numdiff.schemes.central import CentralDiff
from minifw.numdiff.workers import WORKERS, Workers, is_serial
from minifw.train.checkpoint import (
    CHECKPOINT_FORMAT,
    check_writable,
    read_checkpoint,
    read_meta,
    write_checkpoint,
)
from minifw.train.fit import Fit
from minifw.train.history import Evaluation, History
from minifw.train.interrupts import deferred_signals
from minifw.train.optimizers import SGD, Optimizer
from minifw.train.pool import WorkerPool
from minifw.train.resume import rebuilt_options, record, restore
from minifw.train.sampling import BatchSampler, RandomChoiceSampler
from minifw.train.step import TrainingStep
from minifw.typing import AnyArray, ArrayLike, FloatArray

__all__ = ["CHECKPOINT_FORMAT", "Evaluation", "History", "Trainer"]

# The step size of the SGD a Trainer uses when given neither an optimizer nor a learning rate.
DEFAULT_LEARNING_RATE = 0.1


def _field(check: Check) -> Check:
    """Return `check` as a Trainer field's validator: a ConfigError naming the field."""
    return check.raising(ConfigError, "Trainer field ")


def _check_field(test: Callable[[object], bool], expected: str) -> Check:
    """Return a Trainer field's validator from a test and the words for what it expects."""
    return _field(Check(expected, test))


# More BLAS threads than any machine minifw runs on has cores.
MAX_BLAS_THREADS = 1024


def _instance(cls: type, expected: str) -> Check:
    """Return a Trainer field's validator: an instance of `cls` (`expected` says it in words)."""
    return _check_field(lambda v: isinstance(v, cls), expected)


def _optimizer(optimizer: Optimizer | None, rate: float | None) -> Optimizer:
    """Return the optimizer a Trainer uses for its `optimizer` and `learning_rate` fields."""
    if optimizer is not None and rate is not None:
        raise ConfigError(
            "Trainer takes optimizer or learning_rate, not both: got "
            f"optimizer={optimizer!r} and learning_rate={rate!r} (the step size is the "
            f"optimizer's own: {type(optimizer).__name__}(learning_rate={rate!r}))"
        )
    return optimizer or SGD(learning_rate=DEFAULT_LEARNING_RATE if rate is None else float(rate))


def _check_workers(method: GradientMethod, workers: Workers) -> None:
    """Refuse workers for backprop: there is nothing to spread."""
    if isinstance(method, Backprop) and not is_serial(workers):
        raise ConfigError(
            f"Trainer field workers={workers!r} spreads a numerical gradient over "
            "workers, but differentiator=Backprop() computes the exact one in one pass: "
            "drop workers, or use a finite-difference scheme such as CentralDiff()"
        )


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
    [`GradientMethod`][minifw.GradientMethod]: a
    [`Differentiator`][minifw.Differentiator], default `CentralDiff()`, or
    [`Backprop`][minifw.Backprop] for analytic gradients) and `optimizer` (an
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

    model: Model = attrs.field(validator=_instance(Model, "a Model"))
    dataset: Dataset = attrs.field(validator=_instance(Dataset, "a Dataset"))
    sampler: BatchSampler = attrs.field(
        factory=lambda: RandomChoiceSampler(100), validator=_instance(BatchSampler, "a BatchSampler")
    )
    _loss: Loss = attrs.field(
        factory=CrossEntropy,
        alias="loss",
        validator=_check_field(_scalar_loss, "a Loss with reduction 'mean' or 'sum'"),
    )
    differentiator: GradientMethod = attrs.field(
        factory=CentralDiff, validator=_instance(GradientMethod, "a Differentiator or Backprop()")
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
    _pool: WorkerPool = attrs.field(factory=WorkerPool, init=False, repr=False)
    _keep_pool: bool = attrs.field(default=False, init=False, repr=False)
    optimizer: Optimizer = attrs.field(init=False, validator=_instance(Optimizer, "an Optimizer"))
    history: History = attrs.field(factory=History, init=False)
    step_count: int = attrs.field(default=0, init=False)
    config: Mapping[str, Any] | None = attrs.field(default=None, init=False, repr=False)
    fit_until: int | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self.optimizer = _optimizer(self._requested_optimizer, self._requested_learning_rate)
        _check_workers(self.differentiator, self.workers)

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
        return self._pool.workers(self.workers)  # an int: this Trainer's pool, started once

    def close(self) -> None:
        """Shut down this Trainer's pool of worker processes, if it started one.

        A later gradient starts a new one. Only the pool of an `int` `workers` is this
        Trainer's; an executor or a map function passed as `workers` is left alone.
        """
        self._pool.close()

    def __enter__(self) -> Trainer:
        """Keep the pool of worker processes for every step and fit until the block ends."""
        self._keep_pool = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._keep_pool = False
        self.close()

    def step(self) -> float:
        """Take one optimizer step on a fresh minibatch and return its loss (before the update).

        One path for every gradient method ([`TrainingStep`][minifw.train.step.TrainingStep]): the
        model's objective on the batch (one forward pass), its value, the gradient of the same
        objective, the optimizer's update. All or nothing: when the parameters cannot be updated in
        place (read-only, not float64, not finite), the loss is not finite, the gradient does not
        fit the parameters or the update would not be finite, [`TrainingError`][minifw.errors.TrainingError]
        is raised and the parameters, the optimizer's state, the sampler (it draws the same batch
        next time), the history and the step count are as they were. A Ctrl-C (or any exception)
        during the step leaves them so too; the moment that writes them all holds SIGINT and
        SIGTERM back ([`deferred_signals`][minifw.train.interrupts.deferred_signals]). A pool of
        workers that lost a process is replaced at the next step.
        """
        step = TrainingStep(
            self.model, self._loss, self.differentiator, self.optimizer, number=self.step_count + 1
        )
        params = step.checked_params()
        saved = None  # the sampler's state before the step, while the step is not committed
        try:
            with deferred_signals():
                saved = self.sampler.state()
                x, t = self.minibatch()
            proposal = step.propose(x, t, params, self._workers)
            with deferred_signals():
                self.optimizer.commit(proposal.update)
                self.step_count = step.number
                self.history.loss.append(proposal.loss)
                saved = None
        except BaseException:
            if saved is not None:
                with deferred_signals():
                    self.sampler.load_state(saved)
            self._pool.drop_if_broken()
            raise
        return proposal.loss

    def evaluate(self) -> Evaluation:
        """Return the accuracy on the training and the test split now."""
        train, test = self.dataset.train, self.dataset.test
        return Evaluation(
            step=self.step_count,
            train_accuracy=self.model.accuracy(train.x, train.t),
            test_accuracy=self.model.accuracy(test.x, test.t),
        )

    def fit(
        self, steps: int, *, checkpoint: str | os.PathLike[str] | None = None, checkpoint_every: int = 0
    ) -> History:
        """Train for `steps` steps and return the `history` (of all steps so far).

        Evaluates every `eval_every` steps and after the last one. With `checkpoint`, saves
        there every `checkpoint_every` steps (0: only at the end), each time atomically, so a
        failure never leaves a damaged or non-finite checkpoint behind; that the path can be
        written is checked before the first step.

        SIGINT (Ctrl-C) or SIGTERM stops the fit after the current step (a second one stops the
        step itself, which is rolled back): the checkpoint, when one was asked for, is saved,
        and [`Interrupted`][minifw.train.interrupts.Interrupted] is raised, saying the signal,
        the step and the file ([`minifw.train.fit`][minifw.train.fit]).
        """
        COUNT.raising(ConfigError).require("steps", steps)
        COUNT.raising(ConfigError).require("checkpoint_every", checkpoint_every)
        target = check_writable(checkpoint) if checkpoint is not None else None
        self.fit_until = self.step_count + steps
        try:
            Fit(self, steps, checkpoint=target, every=checkpoint_every).run()
        finally:
            if not self._keep_pool:  # outside a with block, fit leaves no processes behind
                self.close()
        return self.history

    # --- checkpoints --------------------------------------------------------------------------

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Save parameters, optimizer and sampler state, history and step count to one `.npz`.

        The format is [`minifw.train.checkpoint`][minifw.train.checkpoint]'s. The file is written
        to a temporary name in the same folder and renamed into place, so the previous checkpoint
        survives any failure. No pickle is used. The file also records every part, the settings
        and the data set's size ([`minifw.train.resume`][minifw.train.resume]), so
        [`from_checkpoint`][minifw.train.trainer.Trainer.from_checkpoint] can rebuild the Trainer
        from it alone.
        """
        return write_checkpoint(
            path, step=self.step_count, model=self.model, history=self.history.to_arrays(),
            sampler=self.sampler, optimizer=self.optimizer, about=record(self),
        )

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore a checkpoint saved by `save_checkpoint` into this trainer.

        The model must be of the same type with parameters of the same names and shapes, the
        sampler and the optimizer of the same types (a `minifw-checkpoint-1` file, which has no
        optimizer state, resumes only [`SGD`][minifw.train.optimizers.SGD]). The whole file is read
        and checked before anything changes
        ([`read_checkpoint`][minifw.train.checkpoint.read_checkpoint]), so a damaged or mismatched
        file raises [`CheckpointError`][minifw.errors.CheckpointError] and leaves the trainer as it
        was; the restoring itself holds SIGINT and SIGTERM back, so it happens whole or not at all.
        """
        checkpoint = read_checkpoint(
            path, model=self.model, sampler=self.sampler, optimizer=self.optimizer,
            train_size=len(self.dataset.train),
        )
        history = History.from_arrays(checkpoint.history)
        with deferred_signals():
            restore(self, checkpoint, path)
            self.history = history
            self.step_count = checkpoint.step

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], *, dataset: Dataset, **given: Any
    ) -> Trainer:
        """Rebuild the Trainer a checkpoint was saved from, and restore the checkpoint into it.

        Every part (model, sampler, loss, differentiator, optimizer) is made again from the
        file's record of it ([`minifw.train.parts`][minifw.train.parts]) and the settings
        (`eval_every`, `progress`, `blas_threads`, `workers`) are those saved; a keyword given
        here replaces the part or setting of that name (a given part must still fit the file).
        Only `dataset` is always yours to give: the file records its class and size, not the
        data. Raises [`CheckpointError`][minifw.errors.CheckpointError] when a part cannot be
        rebuilt (a class that is not loaded, options that are not plain values: pass that part),
        or when the file does not fit.

        Examples:
            >>> import pathlib, tempfile
            >>> from minifw import MNIST, Adam, TwoLayerNet
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.npz"
            >>> trainer = Trainer(model=TwoLayerNet(hidden_size=8, seed=0), dataset=MNIST.sample(),
            ...                   optimizer=Adam(), progress=False)
            >>> _ = trainer.fit(3, checkpoint=path)
            >>> again = Trainer.from_checkpoint(path, dataset=MNIST.sample())
            >>> again.step_count, again.model, again.optimizer
            (3, TwoLayerNet(input_size=784, hidden_size=8, output_size=10, weight_init_std=0.01, seed=0), Adam(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-07))

        """
        meta = read_meta(path)
        options = {**rebuilt_options(meta, path, given), **given}
        try:
            trainer = cls(dataset=dataset, **options)
        except ConfigError as err:
            raise CheckpointError(f"cannot rebuild the Trainer of {path}: {err}") from err
        if isinstance(meta.get("config"), dict):
            trainer.config = meta["config"]
        trainer.load_checkpoint(path)
        return trainer
