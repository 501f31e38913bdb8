"""Flags as the classes see them: each value checked by its field's `Check`, then laid on a config.

[`field_type`][minifw.app.flags.field_type] makes an argparse `type` that parses a flag's text as a
TOML file would hold it and checks it as the class's field does;
[`train_config`][minifw.app.flags.train_config] lays the flags of `minifw train` over the
configuration file (if any), itself laid over the settings of the run a `--resume` continues (if
any), and validates the result again, as a file.

Examples:
    >>> from minifw.train.sampling import BatchSampler
    >>> field_type(BatchSampler, "batch_size")("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a positive integer, got '0'
    >>> data_flag("fashion-mnist"), data_flag("my-digits/")
    ({'name': 'FashionMNIST', 'source': 'download'}, {'source': 'directory', 'path': 'my-digits/'})

"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from minifw._validation import Check, check_written, field_check, keyword_fields
from minifw.app.config import TrainConfig, load_config
from minifw.app.registry import REGISTRY
from minifw.app.resolve import is_import_path, resolve
from minifw.app.schema import one_line
from minifw.data.sources import Bundled, Downloadable
from minifw.errors import MinifwError

__all__ = [
    "MODEL_OPTIONS",
    "check_conflicts",
    "check_model_flags",
    "check_type",
    "choose_model",
    "data_flag",
    "field_help",
    "field_type",
    "int_list",
    "lay_over",
    "layered_config",
    "literal",
    "model_owners",
    "set_type",
    "set_value",
    "show",
    "train_config",
]

# The model options the command line sets (`--hidden-size` ...); each belongs to the
# registered models that have such a field, and giving one chooses such a model.
MODEL_OPTIONS = (
    "hidden_size",
    "weight_init_std",
    "hidden_sizes",
    "activation",
    "weight_init",
    "output",
    "weight_decay_lambda",
    "hidden_size_list",
    "use_batchnorm",
    "use_dropout",
    "dropout_ration",
)


def model_owners(key: str) -> list[type]:
    """Return the registered models that have the option `key`."""
    return [p.cls for p in REGISTRY["model"].parts if key in keyword_fields(p.cls)]


def show(value: object) -> str:
    """Write a default as a flag _takes it (a tuple as `N,N,...`)."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


# --- flag values, checked as the classes check them -----------------------------------------------


def field_help(cls: type, key: str, lead: str = "", default: object = attrs.NOTHING) -> str:
    """Return a flag's help from the field it sets: what it takes and its default.

    The words are the field's own `Check`'s, so the help, the error for a bad value and the
    configuration file say the same.

    Examples:
        >>> from minifw.nn.models import MultiLayerNet
        >>> field_help(MultiLayerNet, "activation")
        "one of 'relu', 'sigmoid', 'tanh' (default relu)"

    """
    field = keyword_fields(cls)[key]
    check = field_check(field)
    value = field.default if default is attrs.NOTHING else default
    if isinstance(value, attrs.Factory):  # type: ignore[arg-type]
        value = value.factory()  # type: ignore[union-attr]
    takes = check.expected if check is not None else ""
    if takes.startswith("None or "):
        takes = takes.removeprefix("None or ")
    words = ": ".join(part for part in (lead, takes) if part)
    return f"{words} (default {show(value)})"


def literal(text: str) -> object:
    """Read a flag's text as what a TOML file would hold: an integer, a float, a bool or text."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def int_list(text: str) -> object:
    """Read a flag's text as a list of integers, `8,6` as `[8, 6]`."""
    try:
        return [int(piece) for piece in text.split(",")]
    except ValueError:
        raise ValueError("must be integers separated by commas") from None


def field_type(
    cls: type, key: str, parse: Callable[[str], object] = literal
) -> Callable[[str], object]:
    """Return an argparse `type` checking a flag as `cls` checks its field `key`."""
    field = keyword_fields(cls)[key]

    def flag_type(text: str) -> object:
        try:
            value = parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{err}, got {text!r}") from err
        try:
            converted, expected = check_written(field, value)
            if expected is None and field_check(field) is None and field.validator is not None:
                field.validator(None, field, converted)  # a built-in class's own check
        except MinifwError as err:
            raise argparse.ArgumentTypeError(one_line(err)) from err
        if expected is not None:
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return value

    flag_type.__name__ = key
    return flag_type


def check_type(check: Check, parse: Callable[[str], object]) -> Callable[[str], object]:
    """Return an argparse `type` applying `check` to the parsed text."""

    def flag_type(text: str) -> object:
        try:
            value = parse(text)
        except ValueError:
            value = text
        if not check.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {check.expectation(value)}, got {text!r}")
        return value

    return flag_type


def train_config(
    args: argparse.Namespace, recorded: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Return the configuration file (if any) with the flags laid over it, validated again.

    `recorded` is the configuration of the run a `--resume` continues
    ([`minifw.app.resuming`][minifw.app.resuming]): the file and the flags are laid over it.
    """
    source = f"{args.config} with the flags" if args.config else "the flags"
    return TrainConfig.from_dict(layered_config(args, recorded), source=source)


def lay_over(raw: dict[str, Any], top: Mapping[str, Any]) -> None:
    """Lay the sections of `top` over those of `raw`, key by key (a new part `type` drops the options it does not take)."""
    for section, values in top.items():
        target = raw.setdefault(section, {})
        if not isinstance(target, dict) or not isinstance(values, Mapping):
            raw[section] = copy.deepcopy(values)  # from_dict says what is wrong with it
            continue
        if section == "trainer" and "learning_rate" in values and "optimizer" in raw:
            if "optimizer" not in top:  # [trainer] learning_rate means SGD with that step
                raw["optimizer"] = {"type": "SGD", "learning_rate": values["learning_rate"]}
            values = {k: v for k, v in values.items() if k != "learning_rate"}
        if section in REGISTRY and "type" in values:
            set_type(target, section, values["type"])
        target.update(copy.deepcopy(dict(values)))


def layered_config(
    args: argparse.Namespace,
    recorded: Mapping[str, Any] | None = None,
    file: TrainConfig | None = None,
) -> dict[str, Any]:
    """Return the raw configuration `recorded`, then `--config`'s file, then the flags make.

    `file` is `--config` already loaded (loaded here when not given).
    """
    base = file if file is not None or args.config is None else load_config(args.config)
    raw: dict[str, Any] = copy.deepcopy(dict(recorded or {}))
    lay_over(raw, base.raw if base else {})
    trainer = raw.setdefault("trainer", {})
    for key in ("steps", "eval_every", "checkpoint_every", "blas_threads", "workers"):
        set_value(trainer, key, getattr(args, key, None))
    if args.checkpoint is not None:
        trainer["checkpoint"] = str(args.checkpoint)
    if args.quiet or args.no_progress:
        trainer["progress"] = False
    data = raw.setdefault("data", {})
    if args.data is not None:
        chosen = data_flag(args.data)
        if "name" in chosen:
            data.pop("dataset", None)  # the file's data set, under the key's earlier name
        data.update(chosen)
    set_value(data, "root", args.data_root)
    model = raw.setdefault("model", {})
    choose_model(args, model, _model_class(model, base))
    sampler = raw.setdefault("sampler", {})
    if args.sampler is not None:
        set_type(sampler, "sampler", REGISTRY["sampler"].by_cli(args.sampler).name)
    set_value(sampler, "batch_size", args.batch_size)
    if args.without_replacement:
        sampler["replace"] = False
    if args.drop_last:
        sampler["drop_last"] = True
    loss = raw.setdefault("loss", {})
    if args.loss is not None:
        set_type(loss, "loss", REGISTRY["loss"].by_cli(args.loss).name)
    set_value(loss, "eps", args.eps)
    differentiator = raw.setdefault("differentiator", {})
    scheme = "backprop" if args.analytic else args.scheme
    if scheme is not None:
        set_type(differentiator, "differentiator", REGISTRY["differentiator"].by_cli(scheme).name)
    set_value(differentiator, "h", args.h)
    if args.optimizer is not None:
        trainer.pop("learning_rate", None)  # the flag overrides the file's SGD
        optimizer = raw.setdefault("optimizer", {})
        set_type(optimizer, "optimizer", REGISTRY["optimizer"].by_cli(args.optimizer).name)
    if args.learning_rate is not None:
        raw.get("optimizer", trainer)["learning_rate"] = args.learning_rate
    if args.seed is not None:
        trainer["seed"] = args.seed
        for kind in REGISTRY:  # every part that _takes a seed gets this one
            if kind in raw:
                raw[kind].pop("seed", None)
    return raw


def data_flag(text: str) -> dict[str, str]:
    """Return the `[data]` keys `--data TEXT` sets: the sample, a data set by name, or a folder.

    `sample` is the bundled sample (of the file's data set, MNIST by default); a registered
    command-line name or `package.module:Class` chooses that data set, in full: downloaded once
    into the cache when it can be, else what ships with its code; anything else is a folder of
    the files (of the file's data set, MNIST by default).
    """
    if text == "sample":
        return {"source": "sample"}
    kind = REGISTRY["data"]
    if text in kind.cli_names:
        part = kind.by_cli(text)
        name, cls = part.name, part.cls
    elif is_import_path(text):
        name, cls = text, resolve(text, kind, "--data")
    else:
        return {"source": "directory", "path": text}
    full = "sample" if issubclass(cls, Bundled) and not issubclass(cls, Downloadable) else "download"
    return {"name": name, "source": full}


def check_conflicts(args: argparse.Namespace) -> None:
    """Refuse flags that contradict each other (one would be ignored): a one-line usage error."""
    scheme = getattr(args, "scheme", None)
    if getattr(args, "analytic", False) and scheme not in (None, "backprop"):
        args.parser.error(
            f"argument --analytic: not allowed with --scheme {scheme} (--analytic means "
            "--scheme backprop): give one"
        )
    if getattr(args, "no_plot", False) and getattr(args, "plot", None) is not None:
        args.parser.error(f"argument --no-plot: not allowed with --plot {args.plot}: give one")


def check_model_flags(args: argparse.Namespace) -> None:
    """Refuse model flags that no one model _takes (with --model: that model)."""
    kind = REGISTRY["model"]
    given = [key for key in MODEL_OPTIONS if getattr(args, key) is not None]
    flags = ", ".join("--" + key.replace("_", "-") for key in given)
    if args.model is not None:
        chosen = kind.by_cli(args.model).cls
        foreign = [key for key in given if key not in keyword_fields(chosen)]
        if foreign:
            flag = "--" + foreign[0].replace("_", "-")
            args.parser.error(f"argument {flag}: not an option of --model {args.model}")
    elif given and not _model_candidates(given):
        args.parser.error(f"arguments {flags}: options of different models; give those of one")


def _model_candidates(given: Sequence[str]) -> list[type]:
    return [p.cls for p in REGISTRY["model"].parts if _takes(p.cls, given)]


def choose_model(
    args: argparse.Namespace, model: dict[str, Any], current: type | None = None
) -> None:
    """Set the model's type from --model, or from the model flags given; then its options.

    `current` is the class the configuration file names: it stays when it _takes the flags.
    """
    kind = REGISTRY["model"]
    given = [key for key in MODEL_OPTIONS if getattr(args, key) is not None]
    if args.model is not None:
        set_type(model, "model", kind.by_cli(args.model).name)
    elif given and not (current is not None and _takes(current, given)):
        set_type(model, "model", _model_candidates(given)[0].__name__)
    for key in given:
        model[key] = getattr(args, key)


def _model_class(model: Mapping[str, Any], base: TrainConfig | None) -> type | None:
    """Return the class of the `[model]` section before the flags: the file's, or a built-in."""
    name = model.get("type", REGISTRY["model"].default)
    if base is not None and base.model.type == name:
        return base.model.cls
    part = REGISTRY["model"].by_name(name) if isinstance(name, str) else None
    return part.cls if part is not None else None


def _takes(cls: type, keys: Sequence[str]) -> bool:
    return attrs.has(cls) and all(key in keyword_fields(cls) for key in keys)


def set_type(section: dict[str, Any], kind: str, name: str) -> None:
    """Set a part's type, keeping the options the new class also _takes."""
    if section.get("type", REGISTRY[kind].default) == name:
        section["type"] = name
        return
    cls = REGISTRY[kind].by_name(name)
    accepted = set(keyword_fields(cls.cls)) if cls is not None and attrs.has(cls.cls) else set()
    kept = {k: v for k, v in section.items() if k in accepted}
    section.clear()
    section.update(type=name, **kept)


def set_value(section: dict[str, Any], key: str, value: object) -> None:
    """Set `section[key]` to a flag's value, unless the flag was not given (None)."""
    if value is not None:
        section[key] = value
