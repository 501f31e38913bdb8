"""Rules of the design that hold across the whole package.

- Every class is abstract or final (``typing.final``): behaviour is extended through abstract
  bases and capability protocols, never by overriding a concrete class.
- Imports read one way between the wings (`WINGS`): the numerical engine knows objectives only,
  the network parts never import training, nothing imports the front doors.
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


# The wings of the package, and the folders each may import from (besides its own). The data
# path reads one way: dataset -> sampler -> minibatch -> objective (model + loss) ->
# differentiator -> gradient -> optimizer. The numerical engine knows objectives only; the
# network parts never see training; nothing below the front doors imports them.
WINGS: dict[str, set[str]] = {
    "core": set(),  # typing, errors, _validation, _atomic: the vocabulary every wing shares
    "numdiff": {"core"},
    "nn": {"core", "numdiff"},
    "data": {"core"},
    "train": {"core", "numdiff", "nn", "data"},
    "app": {"core", "numdiff", "nn", "data", "train"},
}


def _wing(module: str) -> str:
    """Return the wing of a dotted module name inside the package (`core` for top-level files)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in WINGS) else "core"


def _package_files() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if path.name != "__main__.py" and path != PACKAGE / "__init__.py"
    )


@pytest.mark.parametrize("path", _package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_read_one_way_between_wings(path: Path) -> None:
    relative = path.relative_to(PACKAGE)
    wing = relative.parts[0] if len(relative.parts) > 1 else "core"
    allowed = WINGS[wing] | {wing}
    for module in _imports(path):
        if module == "minifw":
            pytest.fail(f"{relative} imports the package itself (an upward import)")
        if module.startswith("minifw."):
            target = _wing(module)
            assert target in allowed, f"{relative} ({wing}) imports {module} ({target})"


def test_every_module_is_in_a_wing() -> None:
    for path in _package_files():
        relative = path.relative_to(PACKAGE)
        wing = relative.parts[0] if len(relative.parts) > 1 else "core"
        assert wing in WINGS, f"{relative} is in no wing"


def test_the_package_exports_what_it_names() -> None:
    for name in minifw.__all__:
        assert hasattr(minifw, name), name
    for module in _modules():
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{module.__name__}.{name}"
