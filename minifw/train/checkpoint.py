r"""The checkpoint format: one `.npz` file, written atomically, read and checked completely.

A checkpoint holds everything a [`Trainer`][minifw.train.trainer.Trainer] needs to carry on as if it had
never stopped: the step count, the parameters, the optimizer's state, the sampler's state and the
history. It is a plain `.npz` archive (`np.savez`, members stored uncompressed, no pickle), one
member per array:

- `format`: `"minifw-checkpoint-2"`;
- `meta`: JSON naming the model, sampler and optimizer types and the parameter shapes; since
  minifw 0.2.0 also what rebuilds the run from the file alone (all optional, for
  [`Trainer.from_checkpoint`][minifw.train.trainer.Trainer.from_checkpoint] and
  `minifw train --resume`): `parts` (each part's class and options,
  [`minifw.train.parts`][minifw.train.parts]), `trainer` (the Trainer's settings), `data` (the
  data set's class and sizes), `fit` (`until`: the step the fit that saved it was to reach) and
  `config` (the configuration the Trainer was built from, if it was);
- `step`: the number of training steps (int64);
- `param.<name>`: each parameter array (float64);
- `optimizer.step` and `optimizer.<slot>.<name>`: the optimizer's update count and each of
  its state arrays, e.g. `optimizer.m.W1` for Adam;
- `sampler.<key>`: the sampler's state (`rng`, and e.g. `order` for shuffling);
- `history.<key>`: `loss`, `eval_step`, `train_accuracy`, `test_accuracy`.

[`read_checkpoint`][minifw.train.checkpoint.read_checkpoint] checks a file against the parts it is meant
for: the zip structure, the members present (none missing, none unknown, none compressed), and for
each member, before its data is read, the declared size and the `.npy` header (dtype and shape)
against what the model (its type and parameter shapes), the optimizer, the sampler and the step
count lead to expect. Only then is the member read (its CRC checked) and its values checked (finite, in range). So
a truncated or damaged file, a member that declares a terabyte, a compressed member that could
inflate to hundreds of MiB, or parameters stored as strings raise
[`CheckpointError`][minifw.errors.CheckpointError] naming the file and the member, and nothing is
allocated for them. Nothing changes either: the caller restores the returned
[`Checkpoint`][minifw.train.checkpoint.Checkpoint]. Files of the earlier format `minifw-checkpoint-1` (no
optimizer state) are read too; they can resume only a trainer with [`SGD`][minifw.train.optimizers.SGD],
which keeps no state.

Examples:
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from minifw import SGD, RandomChoiceSampler, TwoLayerNet
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.npz"
    >>> net, sampler, optimizer = TwoLayerNet(hidden_size=3, seed=0), RandomChoiceSampler(5), SGD()
    >>> history = {"loss": np.array([2.3]), "eval_step": np.array([1]),
    ...            "train_accuracy": np.array([0.1]), "test_accuracy": np.array([0.12])}
    >>> _ = write_checkpoint(path, step=1, model=net, history=history, sampler=sampler,
    ...                      optimizer=optimizer)
    >>> checkpoint = read_checkpoint(path, model=net, sampler=sampler, optimizer=optimizer,
    ...                              train_size=100)
    >>> checkpoint.step, sorted(checkpoint.params), checkpoint.history["loss"]
    (1, ['W1', 'W2', 'b1', 'b2'], array([2.3]))
    >>> read_checkpoint(path, model=TwoLayerNet(hidden_size=4), sampler=sampler,
    ...                 optimizer=optimizer, train_size=100)
    Traceback (most recent call last):
    ...
    minifw.errors.CheckpointError: .../run.npz holds parameters {'W1': (784, 3), 'b1': (3,), 'W2': (3, 10), 'b2': (10,)} but the model has {'W1': (784, 4), 'b1': (4,), 'W2': (4, 10), 'b2': (10,)} (checkpoint of a TwoLayerNet, this is a TwoLayerNet)
    >>> read_meta(path)["model"]
    'TwoLayerNet'

"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, final

import attrs
import numpy as np

from minifw._atomic import atomic_write
from minifw._header import ArrayHeader, HeaderCheck
from minifw._paths import check_path
from minifw._validation import check_params
from minifw.errors import CheckpointError, MinifwError
from minifw.nn.models import Model
from minifw.train.archive import NpzArchive
from minifw.train.optimizers import MAX_STEP, SGD, Optimizer
from minifw.train.parts import class_name, describe_part
from minifw.train.sampling import BatchSampler
from minifw.typing import AnyArray, FloatArray

__all__ = [
    "CHECKPOINT_FORMAT",
    "LEGACY_FORMAT",
    "Checkpoint",
    "check_writable",
    "read_checkpoint",
    "read_meta",
    "write_checkpoint",
]

CHECKPOINT_FORMAT = "minifw-checkpoint-2"
"""The format minifw writes."""

LEGACY_FORMAT = "minifw-checkpoint-1"
"""The earlier format, still read: no optimizer state (it resumes SGD only)."""

HISTORY_KEYS = ("loss", "eval_step", "train_accuracy", "test_accuracy")
# The longest `format` and `meta` strings accepted (characters).
_MAX_FORMAT_CHARS = 64
_MAX_META_CHARS = 1 << 20
_FLOAT64 = np.dtype("<f8")
_INT64 = np.dtype("<i8")


@final
@attrs.frozen
class Checkpoint:
    """The validated content of a checkpoint file, ready to be restored.

    `params` has the model's names and shapes; `optimizer` and `sampler` are states for
    [`Optimizer.load_state`][minifw.train.optimizers.Optimizer.load_state] and
    [`BatchSampler.load_state`][minifw.train.sampling.BatchSampler.load_state]; `history` holds
    the arrays of [`History.to_arrays`][minifw.train.trainer.History.to_arrays]; `format` is
    the format the file was written in.

    Examples:
        >>> Checkpoint(format=CHECKPOINT_FORMAT, step=0, params={}, optimizer={}, sampler={},
        ...            history={}, meta={}).step
        0

    """

    format: str
    step: int
    params: dict[str, FloatArray] = attrs.field(eq=False)
    optimizer: dict[str, AnyArray] = attrs.field(eq=False)
    sampler: dict[str, AnyArray] = attrs.field(eq=False)
    history: dict[str, AnyArray] = attrs.field(eq=False)
    meta: dict[str, Any]


# --- writing --------------------------------------------------------------------------------


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Check that a checkpoint can be written at `path` now, before long work; return the path.

    Creates the folder if needed (as saving would) and a temporary file in it, which it
    removes. Raises [`CheckpointError`][minifw.errors.CheckpointError] naming the path otherwise.

    Examples:
        >>> check_writable("/proc/no/such/folder/run.npz")
        Traceback (most recent call last):
        ...
        minifw.errors.CheckpointError: cannot write checkpoint /proc/no/such/folder/run.npz: ...

    """
    target = check_path(path, "checkpoint", CheckpointError)
    if target.is_dir():
        raise CheckpointError(f"cannot write checkpoint {target}: it is a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=target.parent)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        raise CheckpointError(f"cannot write checkpoint {target}: {err.strerror or err}") from err
    return target


def write_checkpoint(
    path: str | os.PathLike[str],
    *,
    step: int,
    model: Model,
    history: Mapping[str, AnyArray],
    sampler: BatchSampler,
    optimizer: Optimizer,
    about: Mapping[str, Any] | None = None,
) -> Path:
    """Write a `minifw-checkpoint-2` file atomically and return its path.

    The file is written to a temporary name in the same folder and renamed into place, so the
    previous checkpoint survives any failure. Non-finite values are refused before anything is
    written. `about` adds JSON entries to `meta` (the Trainer's `parts`, `trainer`, `data`,
    `fit` and `config`); the model, sampler and optimizer parts are recorded here.
    """
    target = check_path(path, "checkpoint", CheckpointError)
    meta: dict[str, Any] = dict(about or {})
    meta.update(
        model=type(model).__name__,
        sampler=type(sampler).__name__,
        optimizer={"type": type(optimizer).__name__, "repr": repr(optimizer)},
        shapes={k: list(v.shape) for k, v in model.params.items()},
    )
    parts = dict(meta.get("parts", {}))
    for kind, part in (("model", model), ("sampler", sampler), ("optimizer", optimizer)):
        parts[kind] = describe_part(part)
    meta["parts"] = parts
    arrays: dict[str, AnyArray] = {
        "format": np.array(CHECKPOINT_FORMAT),
        # default=str: a value JSON has no word for (a TOML date in a configuration) as text
        "meta": np.array(json.dumps(meta, default=str)),
        "step": np.array(step, dtype=np.int64),
    }
    arrays.update({f"param.{k}": np.asarray(v) for k, v in model.params.items()})
    arrays.update({f"optimizer.{k}": np.asarray(v) for k, v in optimizer.state().items()})
    arrays.update({f"sampler.{k}": np.asarray(v) for k, v in sampler.state().items()})
    arrays.update({f"history.{k}": np.asarray(v) for k, v in history.items()})
    for name, value in arrays.items():
        if value.dtype.hasobject:
            raise CheckpointError(f"refusing to save Python objects in {name} to {target}")
        if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
            raise CheckpointError(f"refusing to save non-finite values in {name} to {target}")
    problem = _history_problem(arrays, step)
    if problem:  # what read_checkpoint would refuse is not written in the first place
        raise CheckpointError(f"refusing to save {target}: {problem}")
    with atomic_write(target, error=CheckpointError, what="checkpoint") as handle:
        np.savez(handle, allow_pickle=False, **arrays)
    return target


def _history_problem(arrays: Mapping[str, AnyArray], step: int) -> str | None:
    """Say what is wrong with the history members for a checkpoint at `step`, if anything."""
    missing = [k for k in HISTORY_KEYS if f"history.{k}" not in arrays]
    if missing:
        return f"the history lacks {missing}"
    loss, evals = arrays["history.loss"], arrays["history.eval_step"]
    if loss.shape != (step,):
        return f"the history holds {loss.size} losses for {step} steps"
    if evals.ndim != 1 or np.any(evals < 0) or np.any(evals > step) or np.any(np.diff(evals) <= 0):
        return f"the history's evaluation steps {evals.tolist()} do not increase within 0..{step}"
    for key in ("train_accuracy", "test_accuracy"):
        values = arrays[f"history.{key}"]
        if values.shape != evals.shape or np.any((values < 0) | (values > 1)):
            return f"the history's {key} is not one accuracy in [0, 1] per evaluation"
    return None


# --- reading --------------------------------------------------------------------------------


def read_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: Model,
    sampler: BatchSampler,
    optimizer: Optimizer,
    train_size: int,
) -> Checkpoint:
    """Read and check a checkpoint for these parts; change nothing.

    `train_size` (the number of training examples) bounds the sampler's state arrays. Every problem
    raises [`CheckpointError`][minifw.errors.CheckpointError] naming the file and, where there is
    one, the member.
    """
    with NpzArchive.open(check_path(path, "checkpoint", CheckpointError)) as archive:
        return _Reader(archive, model, sampler, optimizer, train_size).read()


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return a checkpoint's `meta` (with its `format`), reading and checking only those two members.

    What [`Trainer.from_checkpoint`][minifw.train.trainer.Trainer.from_checkpoint] and
    `minifw train --resume` rebuild the run from; the rest of the file is read later, by
    [`read_checkpoint`][minifw.train.checkpoint.read_checkpoint].
    """
    with NpzArchive.open(check_path(path, "checkpoint", CheckpointError)) as archive:
        reader = _Reader(archive, None, None, None, 0)
        fmt = reader._read_format()
        return {**reader._read_meta(fmt), "format": fmt}


@final
@attrs.define
class _Reader:
    """One reading of one archive: what the parts lead each member to hold."""

    archive: NpzArchive
    model: Model | Any
    sampler: BatchSampler | Any
    optimizer: Optimizer | Any
    train_size: int

    @property
    def source(self) -> Path:
        return self.archive.source

    def fail(self, member: str | None, text: str) -> CheckpointError:
        return self.archive.fail(member, text)

    def read(self) -> Checkpoint:
        try:
            params = check_params(self.model.params, why="updated in place")
        except MinifwError as err:
            raise CheckpointError(f"cannot restore {self.source} into this model: {err}") from err
        fmt = self._read_format()
        meta = self._read_meta(fmt)
        self._check_parts(meta, fmt)
        self._check_param_headers(meta, params)
        self._check_member_names(fmt, params)
        step = self._read_step()
        loaded = {
            name: self._read_floats(f"param.{name}", value.shape) for name, value in params.items()
        }
        return Checkpoint(
            format=fmt,
            step=step,
            params=loaded,
            optimizer=self._read_optimizer(fmt, params, step),
            sampler=self._read_sampler(),
            history=self._read_history(step),
            meta=meta,
        )

    # -- members --

    def _read_string(self, name: str, max_chars: int) -> str:
        def check(header: ArrayHeader, where: str) -> None:
            if header.dtype.kind != "U" or header.shape != ():
                raise CheckpointError(
                    f"{where} must be a text scalar, got {header.dtype} of shape {header.shape}"
                )
            if header.dtype.itemsize > 4 * max_chars:
                raise CheckpointError(
                    f"{where} declares {header.dtype.itemsize // 4} characters, more than "
                    f"{max_chars}"
                )

        return str(self.archive.read(name, check))

    def _read_format(self) -> str:
        fmt = self._read_string("format", _MAX_FORMAT_CHARS)
        if fmt not in (CHECKPOINT_FORMAT, LEGACY_FORMAT):
            raise self.fail(
                "format",
                f"is {fmt!r}; this minifw reads {CHECKPOINT_FORMAT!r} and {LEGACY_FORMAT!r}",
            )
        return fmt

    def _read_meta(self, fmt: str) -> dict[str, Any]:
        text = self._read_string("meta", _MAX_META_CHARS)
        try:
            meta = json.loads(text)
        except json.JSONDecodeError as err:
            raise self.fail("meta", f"is not JSON ({err})") from err
        if not isinstance(meta, dict):
            raise self.fail("meta", f"must be a JSON object, got {type(meta).__name__}")
        required = (
            ("model", "sampler", "optimizer") if fmt == CHECKPOINT_FORMAT else ("model", "sampler")
        )
        for key in required:
            if key not in meta:
                raise self.fail("meta", f"lacks {key!r}")
        if fmt == CHECKPOINT_FORMAT and not (
            isinstance(meta["optimizer"], dict) and isinstance(meta["optimizer"].get("type"), str)
        ):
            raise self.fail("meta", "must name the optimizer type ({'optimizer': {'type': ...}})")
        return meta

    def _check_parts(self, meta: Mapping[str, Any], fmt: str) -> None:
        model = type(self.model)
        recorded = _recorded_type(meta, "model")
        if meta["model"] != model.__name__ or recorded not in (None, class_name(model)):
            raise CheckpointError(
                f"{self.source} holds a {recorded or meta['model']} but this model is a "
                f"{class_name(model)}: parameters of the same names and shapes do not make the "
                "same model"
            )
        sampler = type(self.sampler).__name__
        if meta["sampler"] != sampler:
            raise CheckpointError(
                f"{self.source} was saved with a {meta['sampler']} but this trainer uses a "
                f"{sampler}; the batches could not continue where they stopped"
            )
        optimizer = type(self.optimizer).__name__
        if fmt == LEGACY_FORMAT:
            if not isinstance(self.optimizer, SGD):
                raise CheckpointError(
                    f"{self.source} is a {LEGACY_FORMAT} file, which holds no optimizer state: "
                    f"it can resume a trainer with SGD, not one with {optimizer}"
                )
        elif meta["optimizer"]["type"] != optimizer:
            raise CheckpointError(
                f"{self.source} was saved with the optimizer {meta['optimizer']['type']} but "
                f"this trainer uses {optimizer}; its state could not continue"
            )

    def _check_param_headers(
        self, meta: Mapping[str, Any], params: Mapping[str, FloatArray]
    ) -> None:
        ours = {k: v.shape for k, v in params.items()}
        theirs = {
            name[len("param.") :]: self.archive.header(name)[0].shape
            for name in self.archive.members
            if name.startswith("param.")
        }
        if ours != theirs:
            raise CheckpointError(
                f"{self.source} holds parameters {theirs} but the model has {ours} "
                f"(checkpoint of a {meta.get('model')}, this is a {type(self.model).__name__})"
            )

    def _check_member_names(self, fmt: str, params: Mapping[str, FloatArray]) -> None:
        expected = {"format", "meta", "step"}
        expected |= {f"param.{k}" for k in params}
        expected |= {f"history.{k}" for k in HISTORY_KEYS}
        expected |= {f"sampler.{k}" for k in self.sampler.state()}
        required = set(expected)
        if fmt == CHECKPOINT_FORMAT:
            required.add("optimizer.step")
            slots = type(self.optimizer).slots
            expected |= {"optimizer.step"}
            expected |= {f"optimizer.{s}.{k}" for s in slots for k in params}
        members = set(self.archive.members)
        for name in sorted(required - members):
            raise self.fail(name, "is missing")
        for name in sorted(members - expected):
            raise self.fail(name, f"is not part of a {fmt} file for this trainer (unknown member)")

    def _read_step(self, name: str = "step") -> int:
        step = int(self.archive.read(name, _int64_scalar))
        if not 0 <= step <= MAX_STEP:
            raise self.fail(name, f"must be between 0 and 2**62, got {step}")
        return step

    def _read_floats(self, name: str, shape: tuple[int, ...]) -> FloatArray:
        def check(header: ArrayHeader, where: str) -> None:
            if header.dtype != _FLOAT64:
                raise CheckpointError(f"{where} must hold float64 numbers, got {header.dtype}")
            if header.shape != shape:
                raise CheckpointError(f"{where} declares shape {header.shape}, expected {shape}")

        array: FloatArray = self.archive.read(name, check)
        if not np.all(np.isfinite(array)):
            raise self.fail(name, "holds non-finite values")
        return array

    def _read_optimizer(
        self, fmt: str, params: Mapping[str, FloatArray], step: int
    ) -> dict[str, AnyArray]:
        if fmt == LEGACY_FORMAT:  # SGD (checked above): its state is its step count
            return {"step": np.array(step, dtype=np.int64)}
        state: dict[str, AnyArray] = {"step": np.array(self._read_step("optimizer.step"))}
        for name in sorted(self.archive.members):
            slot, _, param = name.removeprefix("optimizer.").partition(".")
            if name.startswith("optimizer.") and param:
                state[f"{slot}.{param}"] = self._read_floats(name, params[param].shape)
        try:  # the optimizer's own checks, on a copy: nothing changes here
            attrs.evolve(self.optimizer).load_state(state, params=params)
        except MinifwError as err:
            raise self.fail("optimizer.*", f"is not a state this optimizer accepts: {err}") from err
        return state

    def _read_sampler(self) -> dict[str, AnyArray]:
        return {
            key: self.archive.read(f"sampler.{key}", self._like_sampler_state(current))
            for key, current in self.sampler.state().items()
        }

    def _like_sampler_state(self, current: AnyArray) -> HeaderCheck:
        """Return the check of a saved sampler array: like `current`, of a size the data bounds."""
        # A sampler's state is about indices into the training set: bound it by that.
        limit = max(2 * current.size, self.train_size, 16)
        chars = max(2 * current.itemsize // 4, 1 << 16)

        def check(header: ArrayHeader, where: str) -> None:
            dtype, shape = header.dtype, header.shape
            if dtype.kind != current.dtype.kind or len(shape) != current.ndim:
                raise CheckpointError(
                    f"{where} must be like this sampler's state ({current.dtype}, {current.ndim} "
                    f"dimensions), got {dtype} of shape {shape}"
                )
            if math.prod(shape) > limit:
                raise CheckpointError(f"{where} declares shape {shape}, more than {limit} entries")
            if dtype.kind == "U" and dtype.itemsize > 4 * chars:
                raise CheckpointError(
                    f"{where} declares {dtype.itemsize // 4} characters, more than {chars}"
                )

        return check

    def _read_history(self, step: int) -> dict[str, AnyArray]:
        loss = self._read_floats("history.loss", (step,))

        def check_int(header: ArrayHeader, where: str) -> None:
            if header.dtype != _INT64:
                raise CheckpointError(f"{where} must hold int64 steps, got {header.dtype}")
            if len(header.shape) != 1 or header.shape[0] > step + 1:
                raise CheckpointError(
                    f"{where} declares shape {header.shape}, expected at most {step + 1} "
                    "evaluations"
                )

        eval_step = self.archive.read("history.eval_step", check_int)
        if np.any(eval_step < 0) or np.any(eval_step > step):
            raise self.fail("history.eval_step", f"holds steps outside 0..{step}")
        if np.any(np.diff(eval_step) <= 0):
            raise self.fail("history.eval_step", "must increase (one evaluation per step)")
        count = eval_step.shape[0]
        accuracies = {
            key: self._read_floats(f"history.{key}", (count,))
            for key in ("train_accuracy", "test_accuracy")
        }
        for key, values in accuracies.items():
            if np.any((values < 0) | (values > 1)):
                raise self.fail(f"history.{key}", "holds accuracies outside [0, 1]")
        return {"loss": loss, "eval_step": eval_step, **accuracies}


def _recorded_type(meta: Mapping[str, Any], kind: str) -> str | None:
    """Return the class `meta["parts"]` records for a part (`"module:Name"`), if it records one."""
    parts = meta.get("parts")
    record = parts.get(kind) if isinstance(parts, dict) else None
    wanted = record.get("type") if isinstance(record, dict) else None
    return wanted if isinstance(wanted, str) else None


def _int64_scalar(header: ArrayHeader, where: str) -> None:
    if header.dtype != _INT64 or header.shape != ():
        raise CheckpointError(
            f"{where} must be an int64 scalar, got {header.dtype} of shape {header.shape}"
        )
