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
name = "MNIST"          # or "FashionMNIST", or "package.module:ClassName"
source = "sample"       # "sample" (bundled), "download" (full data set) or "directory"
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

The example configuration ships inside minifw ([`EXAMPLE_CONFIG`][minifw.app.config.EXAMPLE_CONFIG];
`minifw train --print-config > train.toml` writes it). A file is read only up to
[`MAX_CONFIG_BYTES`][minifw.app.config.MAX_CONFIG_BYTES] and nested at most
[`MAX_DEPTH`][minifw.app.schema.MAX_DEPTH] tables and arrays deep (a configuration needs three):
anything larger or deeper is refused before it is parsed or walked.

A `type` (and the data set's `name`) is a built-in name
([`minifw.app.registry.REGISTRY`][minifw.app.registry.REGISTRY]) or `"package.module:ClassName"`
for a class of your own (a subclass of the part's base class, see
[`resolve`][minifw.app.resolve.resolve]). The keys
of a part's section are its class's attrs fields; those of `[trainer]` are the settings among the
fields of [`Trainer`][minifw.train.trainer.Trainer] and the fields of
[`RunOptions`][minifw.app.config.RunOptions]; those of `[data]` the fields of
[`DataOptions`][minifw.app.config.DataOptions]. Each value is checked by the same check
(`minifw._validation.Check`) the class itself applies. Unknown sections or keys and values of the
wrong type are [`ConfigError`][minifw.errors.ConfigError]s that name the file, the section and the
key ([`minifw.app.schema`][minifw.app.schema] holds these checks).

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
import importlib.resources
import os
import tomllib
from collections.abc import Mapping
from typing import Any, Final, TypeAlias, final

import attrs

from minifw._paths import check_path
from minifw._validation import BOOL, COUNT, SEED_NUMBER, TEXT, keyword_fields, one_of
from minifw.app.registry import REGISTRY, Kind
from minifw.app.resolve import resolve
from minifw.app.schema import (
    MAX_DEPTH,
    accepted_keywords,
    check_depth,
    checked,
    class_fields,
    one_line,
    section_options,
)
from minifw.data.dataset import Dataset
from minifw.data.sources import Bundled, Downloadable, FromDirectory
from minifw.errors import ConfigError, MinifwError
from minifw.nn.losses import Loss
from minifw.nn.models import Backprop, Model
from minifw.numdiff.differentiator import Differentiator
from minifw.train.optimizers import Optimizer
from minifw.train.sampling import BatchSampler
from minifw.train.trainer import Trainer

__all__ = [
    "EXAMPLE_CONFIG",
    "MAX_CONFIG_BYTES",
    "DataOptions",
    "PartSpec",
    "RunOptions",
    "TrainConfig",
    "example_config",
    "load_config",
]

MAX_CONFIG_BYTES: Final = 1 << 20
"""The largest configuration file read (1 MiB; the example is under 2 KiB)."""

EXAMPLE_CONFIG: Final = "train.toml"
"""The example configuration's name inside the package (`minifw/app/train.toml`)."""

_SOURCES = ("sample", "download", "directory")
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

    `name` is the data set: a built-in name (`"MNIST"`, `"FashionMNIST"`) or
    `"package.module:ClassName"`. `source` is where it comes from: `"sample"` (what ships with
    the code, [`Bundled`][minifw.data.sources.Bundled]), `"download"` (the full data set, in a
    cache under `root`, fetched once; [`Downloadable`][minifw.data.sources.Downloadable]) or
    `"directory"` (the files in `path`, [`FromDirectory`][minifw.data.sources.FromDirectory]); a
    data set offers some of these. `normalize`, `flatten` and `one_hot` are as in the book's
    `load_mnist`.

    Examples:
        >>> DataOptions(source="web")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: source must be one of 'sample', 'download', 'directory', got source='web'
        >>> DataOptions(name="FashionMNIST").load()
        Traceback (most recent call last):
        ...
        minifw.errors.ConfigError: <dict>: [data] only MNIST has a bundled sample, got name = 'FashionMNIST' with source = 'sample'; FashionMNIST offers source = 'download' or 'directory'

    """

    source: str = attrs.field(default="sample", validator=one_of(*_SOURCES))
    name: str = attrs.field(default="MNIST", validator=TEXT)
    path: str = attrs.field(default="", validator=TEXT)
    root: str = attrs.field(default="", validator=TEXT)
    normalize: bool = attrs.field(default=True, validator=BOOL)
    flatten: bool = attrs.field(default=True, validator=BOOL)
    one_hot: bool = attrs.field(default=False, validator=BOOL)

    def dataset_class(self, where: str = "<dict>") -> type[Dataset]:
        """Return the class `name` names (a [`ConfigError`][minifw.errors.ConfigError] if none)."""
        cls: type[Dataset] = resolve(self.name, REGISTRY["data"], where)
        return cls

    def load(self, *, progress: bool = True, where: str = "<dict>") -> Dataset:
        """Load the data set from `source` (for `"download"`, fetching what is missing first)."""
        cls = self.dataset_class(where)
        options = {"normalize": self.normalize, "flatten": self.flatten, "one_hot": self.one_hot}
        if self.source == "sample":
            if issubclass(cls, Bundled):
                return cls.sample(**options)
        elif self.source == "directory":
            if issubclass(cls, FromDirectory):
                return cls.from_directory(self.path, **options)
        elif issubclass(cls, Downloadable):
            return cls.download(root=self.root or None, progress=progress, **options)
        raise ConfigError(f"{where}: [data] {self._not_offered(cls)}")

    def _not_offered(self, cls: type[Dataset]) -> str:
        """Say that `cls` cannot come from `source`, and which sources it does offer."""
        offered = [
            source
            for source, protocol in zip(_SOURCES, (Bundled, Downloadable, FromDirectory), strict=True)
            if issubclass(cls, protocol)
        ]
        offers = (
            f"{cls.__name__} offers source = {' or '.join(map(repr, offered))}"
            if offered
            else f"{cls.__name__} has none of sample, from_directory and download"
        )
        got = f"got name = {self.name!r} with source = {self.source!r}; {offers}"
        if self.source == "sample":
            bundled = [p.name for p in REGISTRY["data"].parts if issubclass(p.cls, Bundled)]
            has = "has" if len(bundled) == 1 else "have"
            return f"only {' and '.join(bundled)} {has} a bundled sample, {got}"
        way = "read from a folder" if self.source == "directory" else "downloaded"
        return f"{cls.__name__} cannot be {way}, {got}"


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
        check_depth(raw, where)
        known = ("trainer", *REGISTRY)
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
        run = section_options(RunOptions, trainer_raw, "trainer", where, also=settings)
        trainer = {
            key: checked(settings[key], key, value, "trainer", where) for key, value in given.items()
        }
        data = section_options(DataOptions, _data_section(raw, where), "data", where)
        if data.source == "directory" and not data.path:
            raise ConfigError(f"{where}: [data] path is required when source = 'directory'")
        data.dataset_class(where)  # an unknown name stops the run here, before any part is built
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
            trainer = Trainer(
                model=model,
                dataset=dataset,
                sampler=sampler,
                loss=loss,
                differentiator=differentiator,
                **settings,
            )
        except MinifwError as err:
            raise ConfigError(f"{self.source}: [trainer] {err}") from err
        trainer.config = copy.deepcopy(self.raw)  # recorded in its checkpoints
        return trainer

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
        return self.data.load(progress=bool(progress), where=self.source)

    def _instantiate(self, kind: str, spec: PartSpec) -> Any:
        try:
            return spec.cls(**spec.options)
        except MinifwError as err:
            raise ConfigError(f"{self.source}: [{kind}] {one_line(err)}") from err
        except Exception as err:  # the class's own code (a user's, perhaps) failed
            raise ConfigError(
                f"{self.source}: [{kind}] {spec.type}: {type(err).__name__}: {one_line(err)}"
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
    file = check_path(path, "configuration file", ConfigError)
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)  # never more: /dev/zero is endless
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"configuration file {file} is larger than {MAX_CONFIG_BYTES // 1024} KiB; a "
                "configuration is a few lines (is it the right file?)"
            )
        raw = tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"configuration file {file} does not exist") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read configuration file {file}: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file}: not valid TOML: {err}") from err
    except RecursionError as err:  # tomllib parses nested arrays by recursion
        raise ConfigError(
            f"{file}: tables or arrays nested more than {MAX_DEPTH} levels deep (a "
            "configuration needs three)"
        ) from err
    return TrainConfig.from_dict(raw, source=str(file))


def example_config() -> str:
    """Return the text of the example configuration that ships with minifw.

    Examples:
        >>> config = TrainConfig.from_dict(tomllib.loads(example_config()), source="example")
        >>> config.model.type, config.steps
        ('TwoLayerNet', 300)

    """
    return importlib.resources.files(__package__).joinpath(EXAMPLE_CONFIG).read_text("utf-8")


# --- sections, from attrs fields ------------------------------------------------------------------


def _trainer_settings() -> dict[str, attrs.Attribute[Any]]:
    """Return the Trainer's fields that are settings, not parts, by keyword."""
    parts = {"dataset", *REGISTRY}
    return {k: a for k, a in keyword_fields(Trainer).items() if k not in parts}


def _data_section(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Return `[data]` with `dataset`, the earlier name of its key `name`, read as `name`."""
    section = dict(raw.get("data", {}))
    if "dataset" in section:
        if "name" in section:
            raise ConfigError(
                f"{where}: [data] name and dataset both given; dataset is the earlier name of "
                "name: keep one"
            )
        section["name"] = section.pop("dataset")
    return section


def _part(raw: Mapping[str, Any], kind: Kind, where: str, seed: int | None) -> PartSpec:
    """Check a part's section: its `type`, then each key against that class's fields."""
    options = dict(raw)
    type_name = options.pop("type", kind.default)
    if not isinstance(type_name, str):
        raise ConfigError(f"{where}: [{kind.name}] type must be a string, got {type_name!r}")
    cls = resolve(type_name, kind, where)
    fields = class_fields(cls)
    accepted = accepted_keywords(cls, fields)
    for key, value in options.items():
        if accepted is not None and key not in accepted:
            takes = ", ".join(sorted(accepted)) or "no options"
            raise ConfigError(
                f"{where}: [{kind.name}] unknown key {key!r}; {cls.__name__} takes: {takes}"
            )
        if key in fields:
            options[key] = checked(fields[key], key, value, kind.name, where)
    for key, value in kind.defaults.items():
        if key not in options and (accepted is None or key in accepted):
            options[key] = value
    if seed is not None and "seed" not in options and accepted is not None and "seed" in accepted:
        options["seed"] = seed
    return PartSpec(type=type_name, options=options, cls=cls)
