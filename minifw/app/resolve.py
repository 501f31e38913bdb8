"""Classes by name: a built-in name from the registry, or `"package.module:ClassName"`.

[`resolve`][minifw.app.resolve.resolve] is how a configuration's `type` (and `[data] name`) becomes
a class: the name is checked as import syntax before anything is imported, whatever the import
raises becomes a [`ConfigError`][minifw.errors.ConfigError], and the class must be a concrete
subclass of its kind's base.

Examples:
    >>> from minifw.app.registry import REGISTRY
    >>> resolve("FashionMNIST", REGISTRY["data"], "train.toml").__name__
    'FashionMNIST'
    >>> is_import_path("minifw.data:MNIST"), is_import_path("C:/data/mnist")
    (True, False)

"""

from __future__ import annotations

import importlib
import inspect
import keyword

from minifw.app.registry import Kind
from minifw.app.schema import one_line
from minifw.errors import ConfigError

__all__ = ["is_import_path", "resolve"]


def resolve(name: str, kind: Kind, where: str) -> type:
    """Return the class a configuration names: built-in, or `"module:Class"`.

    The name is checked before anything is imported; whatever importing the module raises
    (even `SystemExit`) becomes a [`ConfigError`][minifw.errors.ConfigError] naming the file, the
    section and the key, and the class must be a concrete subclass of the kind's base.

    Examples:
        >>> from minifw.app.registry import REGISTRY
        >>> resolve("..:X", REGISTRY["loss"], "train.toml")
        Traceback (most recent call last):
        ...
        minifw.errors.ConfigError: train.toml: [loss] type '..:X' is neither a built-in name (CrossEntropy, MeanSquared) nor 'package.module:ClassName' (got module '..')

    """
    part = kind.by_name(name)
    if part is not None:
        return part.cls
    where_key = f"{where}: [{kind.name}] {kind.key}"
    builtin = ", ".join(kind.names)
    if ":" not in name:
        raise ConfigError(
            f"{where}: [{kind.name}] unknown {kind.key} {name!r}; built-in: {builtin}, or "
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
            f"{type(err).__name__}: {one_line(err)}"
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


def is_import_path(text: str) -> bool:
    """Whether `text` is written `"package.module:ClassName"` (a Windows path `C:/x` is not)."""
    module_name, colon, class_name = text.partition(":")
    return bool(colon) and not _syntax_problem(module_name, class_name)


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
