r"""Trainer configuration from TOML files.

A configuration names every part of a :class:`~minifw.Trainer` and its options. All sections
and keys are optional; what is left out takes the default shown here::

    [trainer]
    learning_rate = 0.1
    eval_every = 100        # evaluate accuracy every so many steps (0: only at the end)
    steps = 1000            # what `minifw train` runs
    seed = 0                # seeds the model and the sampler unless they set their own
    progress = true
    checkpoint = ""         # a .npz path to save to ("" for none)
    checkpoint_every = 0    # save every so many steps (0: at the end)
    blas_threads = 1        # BLAS threads while training (0: numpy's own setting)

    [data]
    source = "sample"       # "sample" (bundled), "download" (full data set) or "directory"
    dataset = "MNIST"       # or "FashionMNIST" (for "download" and "directory")
    path = ""               # the folder, for source = "directory"
    root = ""               # the cache folder, for source = "download" ("" for the default)
    normalize = true
    flatten = true
    one_hot = false

    [model]
    type = "TwoLayerNet"    # then the class's own options, e.g. hidden_size = 50

    [sampler]
    type = "RandomChoiceSampler"
    batch_size = 100

    [loss]
    type = "CrossEntropy"

    [differentiator]
    type = "CentralDiff"    # or ForwardDiff, BackwardDiff, Backprop; h = 1e-4

A ``type`` is a built-in name or ``"package.module:ClassName"`` for a class of your own (a
subclass of the part's base class). Unknown sections or keys and values of the wrong type are
:class:`~minifw.errors.ConfigError`\ s that name the file, the section and the key.

>>> config = TrainConfig.from_dict({"model": {"hidden_size": 10}, "trainer": {"seed": 1}})
>>> config.model
PartSpec(type='TwoLayerNet', options={'hidden_size': 10, 'seed': 1})
>>> TrainConfig.from_dict({"loss": {"type": "CrossEntropy", "epsilon": 1e-7}})
Traceback (most recent call last):
...
minifw.errors.ConfigError: <dict>: [loss] unknown key 'epsilon'; CrossEntropy takes: eps, reduction
"""

from __future__ import annotations

import importlib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, final

import attrs

from minifw.data import MNIST, FashionMNIST
from minifw.data.dataset import Dataset
from minifw.data.idx_dataset import IDXDataset
from minifw.differentiation import BackwardDiff, CentralDiff, Differentiator, ForwardDiff
from minifw.errors import ConfigError, MinifwError
from minifw.losses import CrossEntropy, Loss, MeanSquared
from minifw.models import Backprop, Model, MultiLayerNet, TwoLayerNet
from minifw.sampling import BatchSampler, RandomChoiceSampler, ShuffleSampler
from minifw.trainer import Trainer

__all__ = ["PartSpec", "TrainConfig", "load_config"]

#: Built-in classes by the name a configuration uses, per part.
REGISTRY: dict[str, dict[str, type]] = {
    "model": {"TwoLayerNet": TwoLayerNet},
    "sampler": {"RandomChoiceSampler": RandomChoiceSampler, "ShuffleSampler": ShuffleSampler},
    "loss": {"CrossEntropy": CrossEntropy, "MeanSquared": MeanSquared},
    "differentiator": {
        "CentralDiff": CentralDiff,
        "ForwardDiff": ForwardDiff,
        "BackwardDiff": BackwardDiff,
        "Backprop": Backprop,
    },
}
_BASES: dict[str, tuple[type, ...]] = {
    "model": (Model,),
    "sampler": (BatchSampler,),
    "loss": (Loss,),
    "differentiator": (Differentiator, Backprop),
}
_DEFAULT_TYPES = {
    "model": "TwoLayerNet",
    "sampler": "RandomChoiceSampler",
    "loss": "CrossEntropy",
    "differentiator": "CentralDiff",
}
_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {"sampler": {"batch_size": 100}}
_DATASETS: dict[str, type[IDXDataset]] = {"MNIST": MNIST, "FashionMNIST": FashionMNIST}
_SOURCES = ("sample", "download", "directory")


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


#: Keys of [trainer] and [data]: (check, what is expected, default).
_TRAINER_KEYS: dict[str, tuple[Callable[[object], bool], str, Any]] = {
    "learning_rate": (_is_number, "a number", 0.1),
    "eval_every": (_is_int, "an integer", 100),
    "steps": (_is_int, "an integer", 1000),
    "seed": (lambda v: v is None or _is_int(v), "an integer", None),
    "progress": (lambda v: isinstance(v, bool), "true or false", True),
    "checkpoint": (lambda v: isinstance(v, str), "a string (a path)", ""),
    "checkpoint_every": (_is_int, "an integer", 0),
    "blas_threads": (_is_int, "an integer (0: numpy's own setting)", 1),
}
_DATA_KEYS: dict[str, tuple[Callable[[object], bool], str, Any]] = {
    "source": (lambda v: v in _SOURCES, "one of " + ", ".join(map(repr, _SOURCES)), "sample"),
    "dataset": (lambda v: v in _DATASETS, "one of 'MNIST', 'FashionMNIST'", "MNIST"),
    "path": (lambda v: isinstance(v, str), "a string (a folder)", ""),
    "root": (lambda v: isinstance(v, str), "a string (a folder)", ""),
    "normalize": (lambda v: isinstance(v, bool), "true or false", True),
    "flatten": (lambda v: isinstance(v, bool), "true or false", True),
    "one_hot": (lambda v: isinstance(v, bool), "true or false", False),
}


@final
@attrs.frozen
class PartSpec:
    """One part of a configuration: the class's name and its keyword options."""

    type: str
    options: dict[str, Any] = attrs.field(factory=dict)


@final
@attrs.frozen
class TrainConfig:
    """A validated training configuration; :meth:`build` makes the :class:`~minifw.Trainer`."""

    trainer: dict[str, Any]
    data: dict[str, Any]
    model: PartSpec
    sampler: PartSpec
    loss: PartSpec
    differentiator: PartSpec
    source: str = "<dict>"

    @property
    def steps(self) -> int:
        """How many steps ``minifw train`` runs."""
        return int(self.trainer["steps"])

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "<dict>") -> TrainConfig:
        """Validate a parsed configuration (the same shape as the TOML file)."""
        where = source
        known = {"trainer", "data", *REGISTRY}
        for section, value in raw.items():
            if section not in known:
                raise ConfigError(
                    f"{where}: unknown section [{section}]; expected: {', '.join(sorted(known))}"
                )
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: [{section}] must be a table, got {value!r}")
        trainer = _plain_section(raw.get("trainer", {}), "trainer", _TRAINER_KEYS, where)
        for key in ("eval_every", "steps", "checkpoint_every", "blas_threads"):
            if trainer[key] < 0:
                raise ConfigError(f"{where}: [trainer] {key} must be >= 0, got {trainer[key]}")
        data = _plain_section(raw.get("data", {}), "data", _DATA_KEYS, where)
        if data["source"] == "directory" and not data["path"]:
            raise ConfigError(f"{where}: [data] path is required when source = 'directory'")
        parts = {part: _part(raw.get(part, {}), part, where, trainer["seed"]) for part in REGISTRY}
        return cls(trainer=trainer, data=data, source=source, **parts)

    def build(self) -> Trainer:
        """Build the data set, every part and the Trainer."""
        parts = {part: self._instantiate(part) for part in REGISTRY}
        return Trainer(
            model=parts["model"],
            dataset=self.build_dataset(),
            sampler=parts["sampler"],
            loss=parts["loss"],
            differentiator=parts["differentiator"],
            learning_rate=self.trainer["learning_rate"],
            eval_every=self.trainer["eval_every"],
            progress=self.trainer["progress"],
            blas_threads=self.trainer["blas_threads"] or None,
        )

    def build_dataset(self) -> Dataset:
        """Load the configured data set."""
        data = self.data
        options = {k: data[k] for k in ("normalize", "flatten", "one_hot")}
        dataset_type = _DATASETS[data["dataset"]]
        if data["source"] == "sample":
            if dataset_type is not MNIST:
                raise ConfigError(
                    f"{self.source}: [data] only MNIST has a bundled sample, "
                    f"got dataset = {data['dataset']!r} with source = 'sample'"
                )
            return MNIST.sample(**options)
        if data["source"] == "directory":
            return dataset_type.from_directory(data["path"], **options)
        root = data["root"] or None
        return dataset_type.download(root=root, progress=self.trainer["progress"], **options)

    def _instantiate(self, part: str) -> Any:
        spec: PartSpec = getattr(self, part)
        cls = _resolve(spec.type, part, self.source)
        try:
            return cls(**spec.options)
        except MinifwError as err:
            raise ConfigError(f"{self.source}: [{part}] {err}") from err
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{self.source}: [{part}] {spec.type}: {err}") from err


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    r"""Read and validate a TOML configuration file.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "train.toml").write_text('[sampler]\nbatch_size = "big"\n')
    >>> load_config(folder / "train.toml").build()
    Traceback (most recent call last):
    ...
    minifw.errors.ConfigError: ...train.toml: [sampler] batch_size must be a positive integer, got batch_size='big'
    """
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"configuration file {file} does not exist") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read configuration file {file}: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file}: not valid TOML: {err}") from err
    return TrainConfig.from_dict(raw, source=str(file))


def _plain_section(
    raw: Mapping[str, Any],
    section: str,
    keys: Mapping[str, tuple[Callable[[object], bool], str, Any]],
    where: str,
) -> dict[str, Any]:
    values = {}
    for key, value in raw.items():
        if key not in keys:
            raise ConfigError(
                f"{where}: [{section}] unknown key {key!r}; expected: {', '.join(keys)}"
            )
        check, expected, _ = keys[key]
        if not check(value):
            raise ConfigError(
                f"{where}: [{section}] {key} must be {expected}, got {value!r} "
                f"({type(value).__name__})"
            )
        values[key] = value
    return {key: values.get(key, default) for key, (_, _, default) in keys.items()}


def _part(raw: Mapping[str, Any], part: str, where: str, seed: int | None) -> PartSpec:
    options = dict(raw)
    type_name = options.pop("type", _DEFAULT_TYPES[part])
    if not isinstance(type_name, str):
        raise ConfigError(f"{where}: [{part}] type must be a string, got {type_name!r}")
    cls = _resolve(type_name, part, where)
    accepted = _accepted_options(cls)
    for key in options:
        if accepted is not None and key not in accepted:
            takes = ", ".join(sorted(accepted)) or "no options"
            raise ConfigError(
                f"{where}: [{part}] unknown key {key!r}; {cls.__name__} takes: {takes}"
            )
    merged = dict(options)
    for key, value in _DEFAULT_OPTIONS.get(part, {}).items():
        if key not in merged and (accepted is None or key in accepted):
            merged[key] = value
    if seed is not None and "seed" not in merged and accepted is not None and "seed" in accepted:
        merged["seed"] = seed
    return PartSpec(type=type_name, options=merged)


def _resolve(name: str, part: str, where: str) -> type:
    if name in REGISTRY[part]:
        return REGISTRY[part][name]
    if ":" not in name:
        raise ConfigError(
            f"{where}: [{part}] unknown type {name!r}; built-in: "
            f"{', '.join(REGISTRY[part])}, or 'package.module:ClassName' for your own"
        )
    module_name, _, class_name = name.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"{where}: [{part}] cannot import type {name!r}: {err}") from err
    if not (isinstance(cls, type) and issubclass(cls, _BASES[part])):
        bases = " or ".join(b.__name__ for b in _BASES[part])
        raise ConfigError(f"{where}: [{part}] type {name!r} is not a {bases} subclass")
    return cls


def _accepted_options(cls: type) -> set[str] | None:
    """Return the keyword options of an attrs class (None when it is not an attrs class)."""
    if not attrs.has(cls):
        return None
    return {a.alias for a in attrs.fields(cls) if a.init and a.alias is not None}
