r"""What a checkpoint says about the parts a Trainer was made of, and how they are made again.

A checkpoint records each part (model, sampler, loss, differentiator, optimizer) as its class,
written `"module:QualifiedName"`, and its options: the values of the class's attrs fields, as
JSON. [`describe_part`][minifw.train.parts.describe_part] writes that record and
[`rebuild_part`][minifw.train.parts.rebuild_part] makes the part again from it, which is how
[`Trainer.from_checkpoint`][minifw.train.trainer.Trainer.from_checkpoint] rebuilds a run from the
file alone.

Rebuilding never imports anything a file names: the class must be one already loaded, a
subclass of the part's base class (minifw's own are loaded with minifw; a class of your own once
you import its module). A part whose options are not plain values (a `Sequential` of layer
objects, a class that is not an attrs class) is recorded without options and must be passed in
again. A `seed` that is a `numpy.random.Generator` is recorded as None: the seed only decides
the starting state, which the checkpoint restores anyway.

Examples:
    >>> from minifw import Adam, Optimizer
    >>> record = describe_part(Adam(learning_rate=0.01))
    >>> record["type"], record["options"]["learning_rate"]
    ('minifw.train.optimizers.adam:Adam', 0.01)
    >>> rebuild_part(record, Optimizer, "optimizer", source="run.npz")
    Adam(learning_rate=0.01, beta1=0.9, beta2=0.999, eps=1e-07)

"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

import attrs
import numpy as np

from minifw._validation import keyword_fields
from minifw.errors import CheckpointError, MinifwError

__all__ = ["PartRecord", "class_name", "describe_part", "plain_value", "rebuild_part"]

PartRecord: TypeAlias = dict[str, Any]
"""`{"type": "module:QualifiedName", "name": ClassName, "options": {...} or None}` (JSON)."""


def class_name(cls: type) -> str:
    """Return how a record names a class: `"module:QualifiedName"`.

    Examples:
        >>> from minifw import TwoLayerNet
        >>> class_name(TwoLayerNet)
        'minifw.nn.models.two_layer_net:TwoLayerNet'

    """
    return f"{cls.__module__}:{cls.__qualname__}"


def plain_value(value: object) -> object:
    """Return `value` as JSON holds it (tuples as lists, numpy scalars as Python's), or raise TypeError.

    Examples:
        >>> import numpy as np
        >>> plain_value((100, np.int64(50))), plain_value("he")
        ([100, 50], 'he')

    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise TypeError(f"{value!r} is not finite")
        return float(value)
    if isinstance(value, list | tuple):
        return [plain_value(item) for item in value]
    raise TypeError(f"a {type(value).__name__} is not a plain value")


def describe_part(part: object) -> PartRecord:
    """Return the record of a part: its class and, when they are plain values, its options.

    Examples:
        >>> from minifw import MultiLayerNet
        >>> describe_part(MultiLayerNet(input_size=4, hidden_sizes=(3,), output_size=2, seed=0))
        {'type': 'minifw.nn.models.multi_layer_net:MultiLayerNet', 'name': 'MultiLayerNet', 'options': {'input_size': 4, 'hidden_sizes': [3], 'output_size': 2, 'activation': 'relu', 'weight_init': 'he', 'weight_decay_lambda': 0.0, 'output': 'softmax', 'seed': 0}}

    """
    cls = type(part)
    record: PartRecord = {"type": class_name(cls), "name": cls.__name__, "options": None}
    if not attrs.has(cls):
        return record
    options: dict[str, object] = {}
    for key, field in keyword_fields(cls).items():
        value = getattr(part, field.name)
        try:
            options[key] = plain_value(value)
        except TypeError:
            if key != "seed":
                return record  # cannot be written down: the part must be passed in again
            options[key] = None  # a Generator: the restored state makes the seed moot
    json.dumps(options)  # plain values only, so this cannot fail
    record["options"] = options
    return record


def _loaded_subclasses(base: type) -> Iterator[type]:
    seen: set[type] = set()
    todo = [base]
    while todo:
        cls = todo.pop()
        subclasses: list[type] = cls.__subclasses__()
        for sub in subclasses:
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
                yield sub


def rebuild_part(record: Mapping[str, Any], base: type, what: str, *, source: object) -> Any:
    """Make the part a record describes again: a loaded subclass of `base`, with its options.

    `what` names the part in messages (`"model"`), `source` the file. Raises
    [`CheckpointError`][minifw.errors.CheckpointError] when the class is not loaded, the record has
    no options, or the class refuses them.

    Examples:
        >>> from minifw import Model
        >>> rebuild_part({"type": "mypackage.nets:Net", "name": "Net", "options": {}}, Model,
        ...              "model", source="run.npz")
        Traceback (most recent call last):
        ...
        minifw.errors.CheckpointError: run.npz was saved with the model mypackage.nets:Net, which is not loaded (minifw never imports what a file names): import its module first, or pass model=... yourself

    """
    wanted = record.get("type")
    options = record.get("options")
    cls = next((c for c in _loaded_subclasses(base) if class_name(c) == wanted), None)
    if cls is None:
        raise CheckpointError(
            f"{source} was saved with the {what} {wanted}, which is not loaded (minifw never "
            f"imports what a file names): import its module first, or pass {what}=... yourself"
        )
    if not isinstance(options, Mapping):
        raise CheckpointError(
            f"{source} was saved with the {what} {cls.__name__}, whose options are not plain "
            f"values and were not recorded: pass {what}=... yourself"
        )
    try:
        return cls(**options)
    except (MinifwError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"{source} records the {what} {cls.__name__} with options {dict(options)} that it "
            f"refuses now: {err}"
        ) from err
