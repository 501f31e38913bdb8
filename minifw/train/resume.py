r"""What a Trainer's checkpoint records beside the arrays, and how a Trainer is restored and rebuilt.

[`Trainer.save_checkpoint`][minifw.train.trainer.Trainer.save_checkpoint] writes, in the
checkpoint's `meta` ([`minifw.train.checkpoint`][minifw.train.checkpoint]), the record
[`record`][minifw.train.resume.record] makes: every part ([`minifw.train.parts`][minifw.train.parts]),
the settings, the data set's class and size, the step the running fit was to reach and the
configuration the Trainer was built from. [`rebuilt_options`][minifw.train.resume.rebuilt_options]
turns that record back into a Trainer's keyword arguments
([`Trainer.from_checkpoint`][minifw.train.trainer.Trainer.from_checkpoint]), and
[`restore`][minifw.train.resume.restore] writes a read checkpoint's state into a Trainer.

Examples:
    >>> from minifw import MNIST, Trainer, TwoLayerNet
    >>> trainer = Trainer(model=TwoLayerNet(hidden_size=8), dataset=MNIST.sample(), progress=False)
    >>> facts = record(trainer)
    >>> facts["trainer"], facts["data"]["train"], facts["parts"]["loss"]["name"]
    ({'eval_every': 100, 'progress': False, 'blas_threads': 1, 'workers': None}, 4000, 'CrossEntropy')

"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from minifw.errors import CheckpointError
from minifw.nn.losses import Loss
from minifw.nn.models import Model
from minifw.numdiff.method import GradientMethod
from minifw.train.checkpoint import Checkpoint
from minifw.train.optimizers import Optimizer
from minifw.train.parts import class_name, describe_part, rebuild_part
from minifw.train.sampling import BatchSampler

if TYPE_CHECKING:  # the Trainer imports this module
    from minifw.train.trainer import Trainer

__all__ = ["PARTS", "SETTINGS", "rebuilt_options", "record", "restore"]

PARTS: Mapping[str, type] = {
    "model": Model,
    "sampler": BatchSampler,
    "loss": Loss,
    "differentiator": GradientMethod,
    "optimizer": Optimizer,
}
"""The parts a checkpoint records and `from_checkpoint` rebuilds, with the base class of each."""

SETTINGS = ("eval_every", "progress", "blas_threads", "workers")
"""The Trainer settings a checkpoint records and `from_checkpoint` gives back."""


def record(trainer: Trainer) -> dict[str, Any]:
    """Return what a checkpoint of `trainer` records beside its arrays (JSON)."""
    parts = {
        "loss": describe_part(trainer.loss_function),
        "differentiator": describe_part(trainer.differentiator),
    }
    settings = {key: getattr(trainer, key) for key in SETTINGS}
    if not (settings["workers"] is None or isinstance(settings["workers"], int)):
        settings["workers"] = None  # an executor or a map function is not a value to write down
    facts: dict[str, Any] = {
        "parts": parts,
        "trainer": settings,
        "data": {
            "type": class_name(type(trainer.dataset)),
            "train": len(trainer.dataset.train),
            "test": len(trainer.dataset.test),
        },
    }
    if trainer.fit_until is not None:
        facts["fit"] = {"until": trainer.fit_until}
    if trainer.config is not None:
        facts["config"] = dict(trainer.config)
    return facts


def rebuilt_options(
    meta: Mapping[str, Any], path: str | os.PathLike[str], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the Trainer's keyword arguments a checkpoint's `meta` records (parts rebuilt).

    The parts and settings in `given` are not rebuilt (the caller passes its own).
    """
    parts = meta.get("parts")
    if not isinstance(parts, dict):
        raise CheckpointError(
            f"{path} was written by an earlier minifw and does not record its parts: build "
            "the Trainer as it was and call load_checkpoint"
        )
    options: dict[str, Any] = {}
    settings = meta.get("trainer")
    if isinstance(settings, dict):
        options.update({k: v for k, v in settings.items() if k in SETTINGS and k not in given})
    for kind, base in PARTS.items():
        if kind in given:
            continue
        part = parts.get(kind)
        if not isinstance(part, dict):
            raise CheckpointError(f"{path} does not record its {kind}: pass {kind}=...")
        options[kind] = rebuild_part(part, base, kind, source=path)
    return options


def restore(trainer: Trainer, checkpoint: Checkpoint, path: str | os.PathLike[str]) -> None:
    """Write a read and checked checkpoint's sampler, optimizer and parameter state into `trainer`.

    The caller holds signals back around it and sets the history and the step count after it.
    A sampler that refuses its state changes nothing (it is checked first).
    """
    previous = trainer.sampler.state()
    try:
        trainer.sampler.load_state(checkpoint.sampler)
        # Checked by read_checkpoint against these parameters: it cannot fail here.
        trainer.optimizer.load_state(checkpoint.optimizer, params=trainer.model.params)
    except Exception as err:
        trainer.sampler.load_state(previous)
        raise CheckpointError(f"{path} holds a sampler state this sampler rejects: {err}") from err
    for name, value in checkpoint.params.items():
        trainer.model.params[name][...] = value
