r"""How `minifw train --resume ck.npz` continues a run from the checkpoint alone.

The checkpoint records the run ([`minifw.train.resume`][minifw.train.resume]): every part's class
and options, the settings, the configuration the command line built it from, and the step the
run was to reach. [`recorded_config`][minifw.app.resuming.recorded_config] turns that record into
a configuration; `--config` and the flags are laid over it
([`train_config`][minifw.app.flags.train_config]); and
[`check_agreement`][minifw.app.resuming.check_agreement] refuses, in one line naming every field,
flags that would change what is trained (a part, an option of one, the seed, the data). How to
run this time may change freely: `--steps`, `--checkpoint`, `--checkpoint-every`,
`--eval-every`, `--workers`, `--blas-threads`, `--plot`, `--quiet`.

Nothing a checkpoint names is imported: a part of your own (`"package.module:Class"`) must be
named again by `--config`, as when the run began.

Examples:
    >>> meta = {"parts": {"model": {"type": "minifw.nn.models.two_layer_net:TwoLayerNet",
    ...                             "name": "TwoLayerNet", "options": {"hidden_size": 8}}}}
    >>> recorded_config(meta, "ck.npz")["model"]
    {'type': 'TwoLayerNet', 'hidden_size': 8}

"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import attrs

from minifw.app.config import PartSpec, TrainConfig
from minifw.app.registry import REGISTRY
from minifw.app.resolve import is_import_path
from minifw.errors import ConfigError
from minifw.train.parts import class_name
from minifw.train.trainer import DEFAULT_LEARNING_RATE

__all__ = ["PARTS", "check_agreement", "check_data", "recorded_config"]

PARTS = ("model", "sampler", "loss", "differentiator", "optimizer")
"""The parts a checkpoint records, by their configuration sections."""

# The [trainer] settings a checkpoint records and a resumed run keeps unless told otherwise.
_SETTINGS = ("eval_every", "blas_threads", "workers")


def _section(kind: str, record: Mapping[str, Any], source: object) -> dict[str, Any]:
    """Return the configuration section of a recorded part: its type name and its options."""
    wanted = record.get("type")
    built_in = next((p for p in REGISTRY[kind].parts if class_name(p.cls) == wanted), None)
    options = record.get("options")
    name = built_in.name if built_in is not None else str(wanted)
    if not isinstance(options, Mapping):
        raise ConfigError(
            f"--resume {source}: its {kind} ({record.get('name', name)}) has options that are "
            "not plain values, which the command line cannot rebuild; resume it in Python with "
            f"Trainer.from_checkpoint(..., {kind}=...)"
        )
    return {"type": name, **copy.deepcopy(dict(options))}


def recorded_config(meta: Mapping[str, Any], source: object) -> dict[str, Any]:
    """Return the configuration a checkpoint's `meta` records (empty for a file of minifw 0.1).

    The parts come from their records (what was really built), the rest (the data, how the run
    ran) from the configuration the run was built from, when it was built from one.
    """
    parts = meta.get("parts")
    if not isinstance(parts, Mapping):
        return {}  # an earlier minifw's file: the flags must say it all, as they did then
    config = meta.get("config")
    raw: dict[str, Any] = copy.deepcopy(dict(config)) if isinstance(config, Mapping) else {}
    for kind in PARTS:
        record = parts.get(kind)
        if isinstance(record, Mapping):
            raw[kind] = _section(kind, record, source)
    trainer = raw.setdefault("trainer", {})
    trainer.pop("steps", None)  # how far the run went is the checkpoint's `fit`, not this
    if "optimizer" in raw:
        trainer.pop("learning_rate", None)  # the recorded optimizer says its own step size
    settings = meta.get("trainer")
    if isinstance(settings, Mapping):
        for key in _SETTINGS:
            if key in settings and key not in trainer:
                trainer[key] = settings[key]
    return raw


def _differences(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    missing = object()
    found = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, missing), new.get(key, missing)
        if before != after:
            shown = [("(none)" if v is missing else repr(v)) for v in (before, after)]
            found.append(f"[{kind}] {key} {shown[0]} there, {shown[1]} here")
    return found


def check_agreement(
    recorded: TrainConfig,
    given: TrainConfig,
    source: object,
    *,
    data: bool,
    named: Mapping[str, Any],
) -> None:
    """Refuse `given` if it would train anything else than the `recorded` run; name every field.

    `data` says whether the record holds the `[data]` section to compare. `named` is the raw
    `--config` file, the only place a part of your own may be named again (its module is
    imported only then).

    Examples:
        >>> old = TrainConfig.from_dict({"model": {"hidden_size": 8}})
        >>> new = TrainConfig.from_dict({"model": {"hidden_size": 9}, "optimizer": {"type": "Adam"}})
        >>> check_agreement(old, new, "ck.npz", data=False, named={})
        Traceback (most recent call last):
        ...
        minifw.errors.ConfigError: --resume ck.npz: the flags change the run it continues: [model] hidden_size 8 there, 9 here; [optimizer] type 'SGD' there, 'Adam' here (leave them out to continue it, or train afresh without --resume)

    """
    found: list[str] = []
    for kind in PARTS:
        old, new = getattr(recorded, kind), getattr(given, kind)
        if kind == "optimizer":  # None stands for SGD with [trainer] learning_rate
            old = old or _sgd(recorded)
            new = new or _sgd(given)
        if old.type != new.type:  # then their options differ as a matter of course
            found.append(f"[{kind}] type {old.type!r} there, {new.type!r} here")
        else:
            found += _differences(kind, old.options, new.options)
    if data:
        found += _differences("data", attrs.asdict(recorded.data), attrs.asdict(given.data))
    if found:
        raise ConfigError(
            f"--resume {source}: the flags change the run it continues: {'; '.join(found)} "
            "(leave them out to continue it, or train afresh without --resume)"
        )
    for kind in PARTS:
        spec = getattr(given, kind)
        if spec is None or not is_import_path(spec.type):
            continue
        section = named.get(kind)
        if not (isinstance(section, Mapping) and section.get("type") == spec.type):
            raise ConfigError(
                f"--resume {source}: its {kind} is {spec.type}, a class of your own; minifw "
                f"never imports code a checkpoint names: give --config with [{kind}] type = "
                f"{spec.type!r}, as when the run began"
            )


def _sgd(config: TrainConfig) -> PartSpec:
    rate = config.trainer.get("learning_rate", DEFAULT_LEARNING_RATE)
    return PartSpec(type="SGD", options={"learning_rate": rate})


def check_data(meta: Mapping[str, Any], train_size: int, type_name: str, source: object) -> None:
    """Refuse a data set of another class or training size than the checkpoint was trained on."""
    data = meta.get("data")
    if not isinstance(data, Mapping):
        return
    wanted, size = data.get("type"), data.get("train")
    if (wanted is not None and wanted != type_name) or (size is not None and size != train_size):
        raise ConfigError(
            f"--resume {source}: the run was trained on {wanted} with {size} training examples, "
            f"the data given is {type_name} with {train_size} (give --data as when it began)"
        )
