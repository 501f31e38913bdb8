r"""Trainer configuration from TOML files: `load_config(path).build()` makes the Trainer.

A configuration names every part of a [`Trainer`][minifw.train.trainer.Trainer] and its options. All
sections and keys are optional; what is left out takes the default shown here:

```toml
[trainer]               # the Trainer's own settings, and what `minifw train` does
learning_rate = 0.1     # SGD's step size (or an [optimizer] section, not both)
eval_every = 100        # evaluate accuracy every so many steps (0: only at the end)
progress = true
blas_threads = 1        # BLAS threads while training (0: numpy's own setting)
workers = 2             # processes sharing each numerical gradient (absent: none)
steps = 1000            # what `minifw train` runs
seed = 0                # seeds the model and the sampler unless they set their own
checkpoint = ""         # a .npz path to save to ("" for none)
checkpoint_every = 0    # save every so many steps (0: at the end)

[data]
source = "sample"       # "sample" (bundled), "download" (full data set) or "directory"
dataset = "MNIST"       # or "FashionMNIST" (for "download" and "directory")
path = ""               # the folder, for source = "directory"
root = ""               # the cache folder, for source = "download" ("" for the default)
normalize = true
flatten = true
one_hot = false

[model]
type = "TwoLayerNet"    # or "MultiLayerNet"; then the class's own options

[sampler]
type = "RandomChoiceSampler"
batch_size = 100

[loss]
type = "CrossEntropy"

[differentiator]
type = "CentralDiff"    # h = 1e-4

[optimizer]             # absent: SGD with [trainer] learning_rate
type = "Adam"           # learning_rate = 0.001, beta1 = 0.9, ...
```

A `type` is a built-in name ([`minifw.app.registry.REGISTRY`][minifw.app.registry.REGISTRY]) or
`"package.module:ClassName"` for a class of your own (a subclass of the part's base class). The keys
of a part's section are its class's attrs fields; those of `[trainer]` are the settings among the
fields of [`Trainer`][minifw.train.trainer.Trainer] and the fields of
[`RunOptions`][minifw.app.config.RunOptions]; those of `[data]` the fields of
[`DataOptions`][minifw.app.config.DataOptions]. Each value is checked by the same check
(`minifw._validation.Check`) the class itself applies. Unknown sections or keys and values of the
wrong type are [`ConfigError`][minifw.errors.ConfigError]s that name the file, the section and the
key.

Examples:
    >>> config = TrainConfig.from_dict({"model": {"hidden_size": 10}, "trainer": {"seed": 1}})
    >>> config.model
    PartSpec(type='TwoLayerNet', options={'hidden_size': 10, 'seed': 1})
    >>> TrainConfig.from_dict({"loss": {"type": "CrossEntropy", "epsilon": 1e-7}})
    Traceback (most recent call last):
    ...
    minifw.errors.ConfigError: <dict>: [loss] unknown key 'epsilon'; CrossEntropy takes: eps, reduction

"""

from __future__ import annotations

import copy
import importlib
import inspect
import keyword
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias, final

import attrs

from minifw._validation import BOOL, COUNT, SEED_NUMBER, TEXT, check_written, keyword_fields, one_of
from minifw.app.registry import REGISTRY, Kind
from minifw.data import MNIST, FashionMNIST
from minifw.data.dataset import Dataset
from minifw.data.idx_dataset import IDXDataset
from minifw.errors import ConfigError, MinifwError
from minifw.nn.losses import Loss
from minifw.nn.models import Backprop, Model
from minifw.numdiff.differentiator import Differentiator
from minifw.train.optimizers import Optimizer
from minifw.train.sampling import BatchSampler
from minifw.train.trainer import Trainer

__all__ = ["DataOptions", "PartSpec", "RunOptions", "TrainConfig", "load_config"]

_DATASETS: dict[str, type[IDXDataset]] = {"MNIST": MNIST, "FashionMNIST": FashionMNIST}
_Class: TypeAlias = type  # PartSpec's field `type` hides the builtin in its class body


@final
@attrs.frozen
class RunOptions:
    """What `minifw train` does with the Trainer; keys of `[trainer]` beside its settings.

    `steps` to train, the `seed` handed to every part that takes one and sets none, and a
    `checkpoint` path ("" for none) saved every `checkpoint_every` steps (0: at the end).

    Examples:
        >>> RunOptions(steps=-1)
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: steps must be a non-negative integer, got steps=-1

    """

    steps: int = attrs.field(default=1000, validator=COUNT)
    seed: int | None = attrs.field(default=None, validator=SEED_NUMBER.or_none(say=False))
    checkpoint: str = attrs.field(default="", validator=TEXT)
    checkpoint_every: int = attrs.field(default=0, validator=COUNT)


@final
@attrs.frozen
class DataOptions:
    """Where the examples come from: the keys of `[data]`.

    `source` is `"sample"` (the bundled MNIST sample), `"download"` (the full data set,
    cached under `root`) or `"directory"` (the IDX files in `path`); `dataset` is
    `"MNIST"` or `"FashionMNIST"`; `normalize`, `flatten` and `one_hot` are as in the
    book's `load_mnist`.

    Examples:
        >>> DataOptions(source="web")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: source must be one of 'sample', 'download', 'directory', got source='web'

    """

    source: str = attrs.field(default="sample", validator=one_of("sample", "download", "directory"))
    dataset: str = attrs.field(default="MNIST", validator=one_of(*_DATASETS))
    path: str = attrs.field(default="", validator=TEXT)
    root: str = attrs.field(default="", validator=TEXT)
    normalize: bool = attrs.field(default=True, validator=BOOL)
    flatten: bool = attrs.field(default=True, validator=BOOL)
    one_hot: bool = attrs.field(default=False, validator=BOOL)

    def load(self, *, progress: bool = True) -> Dataset:
        """Load the data set (downloading it first for `source = "download"`)."""
        normalize, flatten, one_hot = self.normalize, self.flatten, self.one_hot
        dataset_type = _DATASETS[self.dataset]
        if self.source == "sample":
            if dataset_type is not MNIST:
                raise ConfigError(
                    f"[data] only MNIST has a bundled sample, got dataset = {self.dataset!r} "
                    "with source = 'sample'"
                )
            return MNIST.sample(normalize=normalize, flatten=flatten, one_hot=one_hot)
        if self.source == "directory":
            return dataset_type.from_directory(
                self.path, normalize=normalize, flatten=flatten, one_hot=one_hot
            )
        return dataset_type.download(
            root=self.root or None,
            progress=progress,
            normalize=normalize,
            flatten=flatten,
            one_hot=one_hot,
        )


@final
@attrs.frozen
class PartSpec:
    """One part of a configuration: the class's name, its keyword options and the class."""

    type: str
    options: dict[str, Any] = attrs.field(factory=dict)
    cls: _Class = attrs.field(default=object, repr=False, eq=False)


@final
@attrs.frozen
class TrainConfig:
    """A validated training configuration; `build` makes the `Trainer`.

    `trainer` holds the Trainer settings the configuration gives (the others keep the Trainer's
    defaults), `run` and `data` the other keys of `[trainer]` and `[data]`; each part is a
    [`PartSpec`][minifw.app.config.PartSpec] (`optimizer` is None without an `[optimizer]` section: SGD
    with `[trainer] learning_rate`). `raw` is the configuration as given.
    """

    trainer: dict[str, Any]
    run: RunOptions
    data: DataOptions
    model: PartSpec
    sampler: PartSpec
    loss: PartSpec
    differentiator: PartSpec
    optimizer: PartSpec | None = None
    source: str = "<dict>"
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def steps(self) -> int:
        """How many steps `minifw train` runs."""
        return self.run.steps

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "<dict>") -> TrainConfig:
        """Validate a parsed configuration (the same shape as the TOML file)."""
        where = source
        known = ("trainer", "data", *REGISTRY)
        for section, value in raw.items():
            if section not in known:
                raise ConfigError(
                    f"{where}: unknown section [{section}]; expected: {', '.join(sorted(known))}"
                )
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: [{section}] must be a table, got {value!r}")
        trainer_raw = dict(raw.get("trainer", {}))
        settings = _trainer_settings()
        given = {k: trainer_raw.pop(k) for k in list(trainer_raw) if k in settings}
        run = _options(RunOptions, trainer_raw, "trainer", where, also=settings)
        trainer = _settings(given, settings, where)
        data = _options(DataOptions, raw.get("data", {}), "data", where)
        if data.source == "directory" and not data.path:
            raise ConfigError(f"{where}: [data] path is required when source = 'directory'")
        parts = {
            kind: _part(raw.get(kind, {}), REGISTRY[kind], where, run.seed)
            for kind in ("model", "sampler", "loss", "differentiator")
        }
        optimizer = None
        if "optimizer" in raw:
            if "learning_rate" in trainer:
                rate = trainer["learning_rate"]
                raise ConfigError(
                    f"{where}: [trainer] learning_rate and [optimizer] both given; the step size "
                    f"is the optimizer's own: put learning_rate = {rate!r} in [optimizer], or "
                    "drop [optimizer] for SGD"
                )
            optimizer = _part(raw["optimizer"], REGISTRY["optimizer"], where, run.seed)
        return cls(
            trainer=trainer,
            run=run,
            data=data,
            optimizer=optimizer,
            source=source,
            raw=copy.deepcopy(dict(raw)),
            **parts,
        )

    def build(self) -> Trainer:
        """Build every part, then load the data set and make the Trainer."""
        model, sampler, loss = self.build_model(), self.build_sampler(), self.build_loss()
        differentiator = self.build_differentiator()
        settings = dict(self.trainer)
        if self.optimizer is not None:
            settings["optimizer"] = self.build_optimizer()
        dataset = self.build_dataset()
        try:
            return Trainer(
                model=model,
                dataset=dataset,
                sampler=sampler,
                loss=loss,
                differentiator=differentiator,
                **settings,
            )
        except MinifwError as err:
            raise ConfigError(f"{self.source}: [trainer] {err}") from err

    def build_model(self) -> Model:
        """Build the configured model."""
        model: Model = self._instantiate("model", self.model)
        return model

    def build_sampler(self) -> BatchSampler:
        """Build the configured sampler."""
        sampler: BatchSampler = self._instantiate("sampler", self.sampler)
        return sampler

    def build_loss(self) -> Loss:
        """Build the configured loss."""
        loss: Loss = self._instantiate("loss", self.loss)
        return loss

    def build_differentiator(self) -> Differentiator | Backprop:
        """Build the configured differentiator (a finite-difference scheme, or Backprop)."""
        differentiator: Differentiator | Backprop = self._instantiate(
            "differentiator", self.differentiator
        )
        return differentiator

    def build_optimizer(self) -> Optimizer | None:
        """Build the configured optimizer (None without an `[optimizer]` section)."""
        if self.optimizer is None:
            return None
        optimizer: Optimizer = self._instantiate("optimizer", self.optimizer)
        return optimizer

    def build_dataset(self) -> Dataset:
        """Load the configured data set."""
        progress = self.trainer.get("progress", _trainer_settings()["progress"].default)
        try:
            return self.data.load(progress=bool(progress))
        except ConfigError as err:
            raise ConfigError(f"{self.source}: {err}") from err

    def _instantiate(self, kind: str, spec: PartSpec) -> Any:
        try:
            return spec.cls(**spec.options)
        except MinifwError as err:
            raise ConfigError(f"{self.source}: [{kind}] {_one_line(err)}") from err
        except Exception as err:  # the class's own code (a user's, perhaps) failed
            raise ConfigError(
                f"{self.source}: [{kind}] {spec.type}: {type(err).__name__}: {_one_line(err)}"
            ) from err


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    r"""Read and validate a TOML configuration file.

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "train.toml").write_text('[sampler]\nbatch_size = "big"\n')
        >>> load_config(folder / "train.toml")
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


# --- the schema, from attrs fields ----------------------------------------------------------------


def _trainer_settings() -> dict[str, attrs.Attribute[Any]]:
    """Return the Trainer's fields that are settings, not parts, by keyword."""
    parts = {"dataset", *REGISTRY}
    return {k: a for k, a in keyword_fields(Trainer).items() if k not in parts}


def _settings(
    given: Mapping[str, Any], settings: Mapping[str, attrs.Attribute[Any]], where: str
) -> dict[str, Any]:
    return {
        key: _checked(settings[key], key, value, "trainer", where) for key, value in given.items()
    }


def _checked(field: attrs.Attribute[Any], key: str, value: Any, section: str, where: str) -> Any:
    """Convert and check one value with the field's own converter and Check."""
    try:
        converted, expected = check_written(field, value)
    except MinifwError as err:
        raise ConfigError(f"{where}: [{section}] {_one_line(err)}") from err
    if expected is not None:
        raise ConfigError(f"{where}: [{section}] {key} must be {expected}, got {key}={converted!r}")
    return converted


def _options(
    cls: type[Any],
    raw: Mapping[str, Any],
    section: str,
    where: str,
    *,
    also: Mapping[str, object] = {},
) -> Any:
    """Build an options class from a section, naming the key of any refused value."""
    fields = keyword_fields(cls)
    values = {}
    for key, value in raw.items():
        if key not in fields:
            expected = ", ".join([*also, *fields])
            raise ConfigError(f"{where}: [{section}] unknown key {key!r}; expected: {expected}")
        values[key] = _checked(fields[key], key, value, section, where)
    return cls(**values)


def _part(raw: Mapping[str, Any], kind: Kind, where: str, seed: int | None) -> PartSpec:
    options = dict(raw)
    type_name = options.pop("type", kind.default)
    if not isinstance(type_name, str):
        raise ConfigError(f"{where}: [{kind.name}] type must be a string, got {type_name!r}")
    cls = resolve(type_name, kind, where)
    fields = _fields(cls)
    accepted = _accepted(cls, fields)
    for key, value in options.items():
        if accepted is not None and key not in accepted:
            takes = ", ".join(sorted(accepted)) or "no options"
            raise ConfigError(
                f"{where}: [{kind.name}] unknown key {key!r}; {cls.__name__} takes: {takes}"
            )
        if key in fields:
            options[key] = _checked(fields[key], key, value, kind.name, where)
    for key, value in kind.defaults.items():
        if key not in options and (accepted is None or key in accepted):
            options[key] = value
    if seed is not None and "seed" not in options and accepted is not None and "seed" in accepted:
        options["seed"] = seed
    return PartSpec(type=type_name, options=options, cls=cls)


def _fields(cls: type) -> dict[str, attrs.Attribute[Any]]:
    """Return the attrs fields of `cls` by keyword ({} unless `cls` itself is an attrs class)."""
    if "__attrs_attrs__" not in vars(cls):  # a plain subclass of an attrs class has its own init
        return {}
    return keyword_fields(cls)


def _accepted(cls: type, fields: Mapping[str, object]) -> set[str] | None:
    """Return the keyword options of `cls` (None when it takes any keyword)."""
    if fields:
        return set(fields)
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


# --- types by name --------------------------------------------------------------------------------


def resolve(name: str, kind: Kind, where: str) -> type:
    """Return the class a configuration's `type` names: built-in, or `"module:Class"`.

    The name is checked before anything is imported; whatever importing the module raises
    (even `SystemExit`) becomes a [`ConfigError`][minifw.errors.ConfigError] naming the file, the
    section and the key, and the class must be a concrete subclass of the kind's base.

    Examples:
        >>> resolve("..:X", REGISTRY["loss"], "train.toml")
        Traceback (most recent call last):
        ...
        minifw.errors.ConfigError: train.toml: [loss] type '..:X' is neither a built-in name (CrossEntropy, MeanSquared) nor 'package.module:ClassName' (got module '..')

    """
    part = kind.by_name(name)
    if part is not None:
        return part.cls
    where_key = f"{where}: [{kind.name}] type"
    builtin = ", ".join(kind.names)
    if ":" not in name:
        raise ConfigError(
            f"{where}: [{kind.name}] unknown type {name!r}; built-in: {builtin}, or "
            "'package.module:ClassName' for your own"
        )
    module_name, _, class_name = name.partition(":")
    problem = _syntax_problem(module_name, class_name)
    if problem:
        raise ConfigError(
            f"{where_key} {name!r} is neither a built-in name ({builtin}) nor "
            f"'package.module:ClassName' (got {problem})"
        )
    try:
        module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # ImportError, SyntaxError, anything raised at import, SystemExit
        raise ConfigError(
            f"{where_key} {name!r}: cannot import module {module_name!r}: "
            f"{type(err).__name__}: {_one_line(err)}"
        ) from err
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigError(f"{where_key} {name!r}: module {module_name!r} has no {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, kind.bases)):
        raise ConfigError(f"{where_key} {name!r} is not a {kind.base_names} subclass")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise ConfigError(f"{where_key} {name!r} is abstract (it lacks {missing})")
    return cls


def _syntax_problem(module_name: str, class_name: str) -> str:
    """Describe what is wrong with `module:Class` as import syntax ("" when nothing is)."""
    if not module_name:
        return "no module before ':'"
    if not all(_is_name(piece) for piece in module_name.split(".")):
        return f"module {module_name!r}"
    if not _is_name(class_name):
        return f"class {class_name!r}"
    return ""


def _is_name(text: str) -> bool:
    return text.isidentifier() and not keyword.iskeyword(text)


def _one_line(err: BaseException) -> str:
    """Return the exception's message on one line."""
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
