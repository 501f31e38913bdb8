"""Rules of the design that hold across the whole package.

- Every class is abstract or final (``typing.final``): behaviour is extended through abstract
  bases and capability protocols, never by overriding a concrete class.
- The differentiation engine knows objectives only: it imports neither losses nor models.
- Every public name is importable from ``minifw`` itself or from its module's ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import minifw

PACKAGE = Path(minifw.__file__).parent


def _modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(minifw.__path__, "minifw.")]
    return [importlib.import_module(n) for n in names if not n.endswith("__main__")]


def _own_classes() -> list[type]:
    found = []
    for module in _modules():
        for obj in vars(module).values():
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


@pytest.mark.parametrize("cls", _own_classes(), ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_class_is_abstract_or_final(cls: type) -> None:
    if issubclass(cls, BaseException):
        return  # the error family is a hierarchy by design
    abstract = inspect.isabstract(cls) or bool(cls.__dict__.get("_is_protocol", False))
    final = bool(getattr(cls, "__final__", False))
    assert abstract or final, f"{cls.__qualname__} is neither abstract nor @final"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        (
            "differentiation.py",
            {"minifw.losses", "minifw.models", "minifw.layers", "minifw.trainer"},
        ),
        ("objective.py", {"minifw.losses", "minifw.models", "minifw.trainer"}),
        (
            "losses.py",
            {"minifw.models", "minifw.layers", "minifw.differentiation", "minifw.trainer"},
        ),
        ("layers.py", {"minifw.models", "minifw.losses", "minifw.trainer"}),
        ("optimizers.py", {"minifw.models", "minifw.trainer", "minifw.differentiation"}),
    ],
)
def test_the_data_path_reads_one_way(module: str, forbidden: set[str]) -> None:
    # sampler -> batch -> model.objective -> differentiator -> gradient -> optimizer: lower
    # layers never import higher ones.
    assert not (_imports(PACKAGE / module) & forbidden)


def test_the_package_exports_what_it_names() -> None:
    for name in minifw.__all__:
        assert hasattr(minifw, name), name
    for module in _modules():
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{module.__name__}.{name}"
