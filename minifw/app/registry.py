"""Every built-in part of minifw, listed once, with the names a configuration and the command line use.

Six kinds of part make a [`Trainer`][minifw.train.trainer.Trainer]: a data set, a model, a sampler,
a loss, a differentiator and an optimizer. For each, [`REGISTRY`][minifw.app.registry.REGISTRY]
holds a [`Kind`][minifw.app.registry.Kind]: the base class a part of that kind must subclass, the
built-in classes, each with its command-line name, and the default. A new built-in part is one line
here; [`minifw.app.config`][minifw.app.config] (`type = "Adam"`, `name = "FashionMNIST"`), the
command line (`minifw train --optimizer adam`, `--data fashion-mnist`) and the table in the
documentation derive from it.

Examples:
    >>> REGISTRY["optimizer"].by_cli("adam").cls
    <class 'minifw.train.optimizers.adam.Adam'>
    >>> REGISTRY["data"].by_cli("fashion-mnist").name
    'FashionMNIST'
    >>> REGISTRY["loss"].names
    ('CrossEntropy', 'MeanSquared')
    >>> REGISTRY["sampler"].by_name("ShuffleSampler").cli
    'shuffle'

"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, final

import attrs

from minifw.data import MNIST, Dataset, FashionMNIST
from minifw.nn.losses import CrossEntropy, Loss, MeanSquared
from minifw.nn.models import (
    Backprop,
    Model,
    MultiLayerNet,
    MultiLayerNetExtend,
    SimpleConvNet,
    TwoLayerNet,
)
from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.schemes.backward import BackwardDiff
from minifw.numdiff.schemes.central import CentralDiff
from minifw.numdiff.schemes.complex_step import ComplexStep
from minifw.numdiff.schemes.five_point import FivePointDiff
from minifw.numdiff.schemes.forward import ForwardDiff
from minifw.numdiff.schemes.richardson import RichardsonDiff
from minifw.train.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RMSprop
from minifw.train.sampling import BatchSampler, RandomChoiceSampler, ShuffleSampler

__all__ = ["REGISTRY", "Kind", "Part", "markdown_table"]


@final
@attrs.frozen
class Part:
    """One built-in class and its command-line name (its configuration name is the class name).

    Examples:
        >>> Part(CentralDiff, "central").name
        'CentralDiff'

    """

    cls: type
    cli: str

    @property
    def name(self) -> str:
        """The name a configuration's `type` uses: the class name."""
        return self.cls.__name__


def _as_parts(value: tuple[Part, ...]) -> tuple[Part, ...]:
    return tuple(value)


def _as_options(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@final
@attrs.frozen
class Kind:
    """One kind of part: its base classes, the built-in parts and the default.

    `default` names the part used when a configuration does not say, with `defaults` for
    options that part needs (the sampler's `batch_size`). `key` is the key of the kind's
    section that names the class: `type`, or `name` for the data set (whose section holds where
    the data comes from, not the class's fields).

    Examples:
        >>> kind = REGISTRY["differentiator"]
        >>> kind.cli_names
        ('central', 'forward', 'backward', 'five-point', 'richardson', 'complex-step', 'backprop')
        >>> kind.base_names
        'Differentiator or Backprop'

    """

    name: str
    bases: tuple[type, ...]
    parts: tuple[Part, ...] = attrs.field(converter=_as_parts)
    default: str
    defaults: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_options)
    key: str = "type"

    @property
    def names(self) -> tuple[str, ...]:
        """The configuration names (class names) of the built-in parts."""
        return tuple(part.name for part in self.parts)

    @property
    def cli_names(self) -> tuple[str, ...]:
        """The command-line names of the built-in parts."""
        return tuple(part.cli for part in self.parts)

    @property
    def base_names(self) -> str:
        """The base classes, as an error message names them."""
        return " or ".join(base.__name__ for base in self.bases)

    def by_name(self, name: str) -> Part | None:
        """Return the built-in part whose class is called `name`, or None."""
        return next((part for part in self.parts if part.name == name), None)

    def by_cli(self, cli: str) -> Part:
        """Return the built-in part whose command-line name is `cli` (a KeyError otherwise)."""
        for part in self.parts:
            if part.cli == cli:
                return part
        raise KeyError(cli)


_KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "data",
            (Dataset,),
            (Part(MNIST, "mnist"), Part(FashionMNIST, "fashion-mnist")),
            default="MNIST",
            key="name",
        ),
        Kind(
            "model",
            (Model,),
            (
                Part(TwoLayerNet, "two-layer"),
                Part(MultiLayerNet, "multi-layer"),
                Part(MultiLayerNetExtend, "multi-layer-extend"),
                Part(SimpleConvNet, "simple-conv"),
            ),
            default="TwoLayerNet",
        ),
        Kind(
            "sampler",
            (BatchSampler,),
            (Part(RandomChoiceSampler, "choice"), Part(ShuffleSampler, "shuffle")),
            default="RandomChoiceSampler",
            defaults={"batch_size": 100},
        ),
        Kind(
            "loss",
            (Loss,),
            (Part(CrossEntropy, "cross-entropy"), Part(MeanSquared, "mean-squared")),
            default="CrossEntropy",
        ),
        Kind(
            "differentiator",
            (Differentiator, Backprop),
            (
                Part(CentralDiff, "central"),
                Part(ForwardDiff, "forward"),
                Part(BackwardDiff, "backward"),
                Part(FivePointDiff, "five-point"),
                Part(RichardsonDiff, "richardson"),
                Part(ComplexStep, "complex-step"),
                Part(Backprop, "backprop"),
            ),
            default="CentralDiff",
        ),
        Kind(
            "optimizer",
            (Optimizer,),
            (
                Part(SGD, "sgd"),
                Part(Momentum, "momentum"),
                Part(Nesterov, "nesterov"),
                Part(AdaGrad, "adagrad"),
                Part(RMSprop, "rmsprop"),
                Part(Adam, "adam"),
            ),
            default="SGD",
        ),
    )
}

REGISTRY: Mapping[str, Kind] = MappingProxyType(_KINDS)
"""The built-in parts by kind. Add a new built-in part here, and only here."""


def markdown_table() -> str:
    """Return the built-in parts as a Markdown table (the documentation's, generated when it is built).

    Examples:
        >>> print(markdown_table().splitlines()[2])
        | `[data] name` | `MNIST`, `FashionMNIST` | `mnist`, `fashion-mnist` | `MNIST` |

    """
    lines = [
        "| section and key | built-in | command line | default |",
        "|---|---|---|---|",
    ]
    for kind in REGISTRY.values():
        names = ", ".join(f"`{name}`" for name in kind.names)
        clis = ", ".join(f"`{cli}`" for cli in kind.cli_names)
        options = ", ".join(f"`{k} = {v!r}`" for k, v in kind.defaults.items())
        default = f"`{kind.default}`" + (f" with {options}" if options else "")
        lines.append(f"| `[{kind.name}] {kind.key}` | {names} | {clis} | {default} |")
    return "\n".join(lines)
