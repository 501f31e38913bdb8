r"""The Trainer: a model, a data set, a sampler, a loss and a differentiator, composed.

One training step draws a minibatch with the sampler, evaluates the loss, asks the
differentiator for the gradient of every parameter array, and moves each parameter against it:

.. math::

    \theta \leftarrow \theta - \eta\, \nabla_\theta L(\theta; x_B, t_B)

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
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, final

import attrs
import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from minifw._atomic import atomic_write
from minifw._validation import is_positive_float
from minifw.data.dataset import Dataset
from minifw.differentiation import CentralDiff
from minifw.errors import CheckpointError, ConfigError, TrainingError
from minifw.losses import CrossEntropy, Loss
from minifw.models import Model
from minifw.sampling import BatchSampler, RandomChoiceSampler
from minifw.typing import AnyArray, ArrayLike, FloatArray

__all__ = ["CHECKPOINT_FORMAT", "Evaluation", "GradientMethod", "History", "Trainer"]

CHECKPOINT_FORMAT = "minifw-checkpoint-1"


class GradientMethod(Protocol):
    """What a Trainer needs of its ``differentiator``: gradients of a model's loss on a batch.

    Every :class:`~minifw.Differentiator` (numerical) and :class:`~minifw.Backprop` (analytic)
    provide it.
    """

    def model_gradients(
        self, model: Model, x: ArrayLike, t: ArrayLike, loss: Loss
    ) -> dict[str, FloatArray]:
        """Return the gradient of ``loss`` on ``(x, t)`` for each of ``model``'s parameters."""
        ...


@final
@attrs.frozen
class Evaluation:
    """Accuracy on the training and the test split after ``step`` training steps."""

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
        """Return the history as arrays (for ``np.savez``; no pickle needed)."""
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
        """Rebuild a history from :meth:`to_arrays`' output."""
        evaluations = [
            Evaluation(int(s), float(a), float(b))
            for s, a, b in zip(
                arrays["eval_step"], arrays["train_accuracy"], arrays["test_accuracy"], strict=True
            )
        ]
        return cls(loss=[float(v) for v in arrays["loss"]], evaluations=evaluations)


def _check_field(check: Any, expected: str) -> Any:
    """Return an attrs validator that raises ConfigError naming the field."""

    def validator(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not check(value):
            raise ConfigError(
                f"Trainer field {attribute.alias} must be {expected}, got {attribute.alias}={value!r}"
            )

    return validator


def _is_count(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 0


def _has_gradients(value: object) -> bool:
    return callable(getattr(value, "model_gradients", None))


def _scalar_loss(value: object) -> bool:
    return isinstance(value, Loss) and value.reduction != "none"


@final
@attrs.define(eq=False)
class Trainer:
    """Trains a model on a data set with minibatches and (numerical) gradients.

    Every part is an object and can be swapped for another: ``model`` (a
    :class:`~minifw.Model`), ``dataset`` (a :class:`~minifw.Dataset`), ``sampler`` (a
    :class:`~minifw.BatchSampler`, default ``RandomChoiceSampler(100)``), ``loss`` (a
    :class:`~minifw.Loss` that reduces to a scalar, default ``CrossEntropy()``),
    ``differentiator`` (any :class:`~minifw.Differentiator`, default ``CentralDiff()``, or
    :class:`~minifw.Backprop` for analytic gradients). ``learning_rate`` is the SGD step size;
    ``eval_every`` evaluates accuracy every so many steps during :meth:`fit` (0: only at the
    end); ``progress`` shows a progress bar. ``blas_threads`` caps the BLAS threads numpy uses
    during :meth:`fit` (``None`` leaves numpy's setting): minibatch-sized matrix products are
    fastest on one thread, and much faster than on two when the machine is busy (measured on a
    shared 2-core machine: 30 ms per step against 70 to 86 ms). A field of the wrong kind is rejected when the
    Trainer is built, with a :class:`~minifw.errors.ConfigError` naming the field.

    The configured loss is :attr:`loss_function`; :meth:`loss` evaluates it on a batch.
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
            _has_gradients, "a Differentiator or Backprop (anything with model_gradients)"
        ),
    )
    learning_rate: float = attrs.field(
        default=0.1, validator=_check_field(is_positive_float, "a positive finite number")
    )
    eval_every: int = attrs.field(
        default=100, validator=_check_field(_is_count, "a non-negative integer")
    )
    progress: bool = attrs.field(
        default=True, validator=_check_field(lambda v: isinstance(v, bool), "True or False")
    )
    blas_threads: int | None = attrs.field(
        default=1,
        validator=_check_field(
            lambda v: v is None or (_is_count(v) and v > 0), "None or a positive integer"
        ),
    )
    history: History = attrs.field(factory=History, init=False)
    step_count: int = attrs.field(default=0, init=False)

    @property
    def loss_function(self) -> Loss:
        """The configured :class:`~minifw.Loss`."""
        return self._loss

    def minibatch(self) -> tuple[AnyArray, AnyArray]:
        """Return the next training minibatch ``(x, t)`` drawn by the sampler."""
        train = self.dataset.train
        return self.sampler.minibatch(train.x, train.t)

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """Return the loss of the model's predictions on ``(x, t)``."""
        return self.model.loss(x, t, self._loss)

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, FloatArray]:
        """Return the gradient of :meth:`loss` on ``(x, t)`` for every parameter array.

        Computed by the configured ``differentiator`` (numerically, for a finite-difference
        scheme).
        """
        return self.differentiator.model_gradients(self.model, x, t, self._loss)

    def step(self) -> float:
        """Take one SGD step on a fresh minibatch and return its loss (before the update).

        Raises :class:`~minifw.errors.TrainingError` and leaves the parameters untouched when
        the loss, a gradient or an updated parameter is not finite.
        """
        x, t = self.minibatch()
        value = self.loss(x, t)
        step = self.step_count + 1
        if not math.isfinite(value):
            raise TrainingError(
                f"loss became {value} at step {step}; stopped with the parameters of step "
                f"{self.step_count} (lower learning_rate={self.learning_rate}?)"
            )
        grads = self.gradient(x, t)
        updated = {}
        for name, param in self.model.params.items():
            new = param - self.learning_rate * grads[name]
            if not np.all(np.isfinite(new)):
                raise TrainingError(
                    f"the update of {name} is not finite at step {step} (loss {value:.6g}); "
                    f"stopped with the parameters of step {self.step_count}"
                )
            updated[name] = new
        for name, new in updated.items():
            self.model.params[name][...] = new
        self.step_count = step
        self.history.loss.append(value)
        return value

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
        """Train for ``steps`` steps and return the :attr:`history` (of all steps so far).

        Evaluates every ``eval_every`` steps and after the last one. With ``checkpoint``, saves
        there every ``checkpoint_every`` steps (0: only at the end), each time atomically, so a
        failure never leaves a damaged or non-finite checkpoint behind.
        """
        if not _is_count(steps):
            raise ConfigError(f"steps must be a non-negative integer, got steps={steps!r}")
        if not _is_count(checkpoint_every):
            raise ConfigError(
                f"checkpoint_every must be a non-negative integer, got {checkpoint_every!r}"
            )
        bar = tqdm(
            total=steps, disable=not self.progress, unit="step", dynamic_ncols=True, leave=True
        )
        limits = threadpool_limits(self.blas_threads, user_api="blas")
        try:
            for _ in range(steps):
                value = self.step()
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
                if self.eval_every and self.step_count % self.eval_every == 0:
                    self._record(self.evaluate(), bar)
                if (
                    checkpoint is not None
                    and checkpoint_every
                    and (self.step_count % checkpoint_every == 0)
                ):
                    self.save_checkpoint(checkpoint)
        finally:
            limits.restore_original_limits()
            bar.close()
        last = self.history.last
        if steps and (last is None or last.step != self.step_count):
            self._record(self.evaluate(), None)
        if checkpoint is not None:
            self.save_checkpoint(checkpoint)
        return self.history

    def _record(self, evaluation: Evaluation, bar: Any) -> None:
        self.history.evaluations.append(evaluation)
        if bar is not None and not bar.disable:
            bar.write(str(evaluation))

    # --- checkpoints --------------------------------------------------------------------------

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Save parameters, history, step count and sampler state to one ``.npz`` file.

        The file is written to a temporary name in the same folder and renamed into place, so
        the previous checkpoint survives any failure. No pickle is used.
        """
        target = Path(path)
        arrays: dict[str, AnyArray] = {
            "format": np.array(CHECKPOINT_FORMAT),
            "meta": np.array(json.dumps(self._meta())),
            "step": np.array(self.step_count, dtype=np.int64),
        }
        arrays.update({f"param.{k}": v for k, v in self.model.params.items()})
        arrays.update({f"history.{k}": v for k, v in self.history.to_arrays().items()})
        arrays.update({f"sampler.{k}": v for k, v in self.sampler.state().items()})
        for name, value in arrays.items():
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise CheckpointError(f"refusing to save non-finite values in {name} to {target}")
        with atomic_write(target, error=CheckpointError, what="checkpoint") as handle:
            np.savez(handle, allow_pickle=False, **arrays)
        return target

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore a checkpoint saved by :meth:`save_checkpoint` into this trainer.

        The model must have parameters of the same names and shapes, and the sampler the same
        type. Everything is read and checked before anything changes, so a bad file leaves the
        trainer as it was.
        """
        source = Path(path)
        try:
            with np.load(source, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError as err:
            raise CheckpointError(f"checkpoint {source} does not exist") from err
        except (OSError, ValueError) as err:
            raise CheckpointError(f"{source} is not a minifw checkpoint (.npz): {err}") from err
        if str(arrays.get("format", "")) != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{source} is not a {CHECKPOINT_FORMAT} file "
                f"(format={str(arrays.get('format', 'missing'))!r})"
            )
        meta = json.loads(str(arrays["meta"]))
        params = {k[6:]: v for k, v in arrays.items() if k.startswith("param.")}
        self._check_compatible(source, meta, params)
        sampler_state = {k[8:]: v for k, v in arrays.items() if k.startswith("sampler.")}
        history = History.from_arrays(
            {k[8:]: v for k, v in arrays.items() if k.startswith("history.")}
        )
        previous = self.sampler.state()
        try:
            self.sampler.load_state(sampler_state)
        except Exception as err:
            self.sampler.load_state(previous)
            raise CheckpointError(
                f"{source} holds a sampler state this sampler rejects: {err}"
            ) from err
        for name, value in params.items():
            self.model.params[name][...] = value
        self.history = history
        self.step_count = int(arrays["step"])

    def _meta(self) -> dict[str, Any]:
        return {
            "model": type(self.model).__name__,
            "sampler": type(self.sampler).__name__,
            "shapes": {k: list(v.shape) for k, v in self.model.params.items()},
            "learning_rate": self.learning_rate,
        }

    def _check_compatible(
        self, source: Path, meta: Mapping[str, Any], params: Mapping[str, AnyArray]
    ) -> None:
        ours = {k: v.shape for k, v in self.model.params.items()}
        theirs = {k: v.shape for k, v in params.items()}
        if ours != theirs:
            raise CheckpointError(
                f"{source} holds parameters {theirs} but the model has {ours} "
                f"(checkpoint of a {meta.get('model')}, this is a {type(self.model).__name__})"
            )
        if meta.get("sampler") != type(self.sampler).__name__:
            raise CheckpointError(
                f"{source} was saved with a {meta.get('sampler')} but this trainer uses a "
                f"{type(self.sampler).__name__}; the batches could not continue where they stopped"
            )
        for name, value in params.items():
            if not np.all(np.isfinite(value)):
                raise CheckpointError(f"{source} holds non-finite values in {name}")

    # --- configuration --------------------------------------------------------------------------

    @classmethod
    def from_config(cls, path: str | os.PathLike[str]) -> Trainer:
        """Build a Trainer from a TOML file; see :mod:`minifw.config` for its sections."""
        from minifw.config import load_config

        return load_config(path).build()
