"""How a section of a configuration is checked: keys are the class's fields, values their Checks.

The configuration ([`minifw.app.config`][minifw.app.config]) and the command line
(`minifw.app.cli`) both go through these functions, so a value written in a
file, given as a flag or passed in Python is accepted or refused alike, in the same words, on one
line ([`one_line`][minifw.app.schema.one_line]).

Examples:
    >>> import attrs
    >>> from minifw._validation import COUNT
    >>> @attrs.frozen
    ... class Run:
    ...     steps: int = attrs.field(default=10, validator=COUNT)
    >>> section_options(Run, {"steps": 3}, "run", "f.toml")
    Run(steps=3)
    >>> section_options(Run, {"step": 3}, "run", "f.toml")
    Traceback (most recent call last):
    ...
    minifw.errors.ConfigError: f.toml: [run] unknown key 'step'; expected: steps

"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Final

import attrs

from minifw._validation import check_written, keyword_fields
from minifw.errors import ConfigError, MinifwError

__all__ = [
    "MAX_DEPTH",
    "accepted_keywords",
    "check_depth",
    "checked",
    "class_fields",
    "one_line",
    "section_options",
]

MAX_DEPTH: Final = 32
"""How deeply tables and arrays may nest in a configuration (one needs three: section, key, list)."""


def one_line(err: object) -> str:
    r"""Return an error's message (or any text) on one line, its lines joined by `"; "`.

    Examples:
        >>> one_line(ValueError("bad value\n  expected 3"))
        'bad value; expected 3'

    """
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip())


def checked(field: attrs.Attribute[Any], key: str, value: Any, section: str, where: str) -> Any:
    """Convert and check one value with the field's own converter and `Check`."""
    try:
        converted, expected = check_written(field, value)
    except MinifwError as err:
        raise ConfigError(f"{where}: [{section}] {one_line(err)}") from err
    if expected is not None:
        raise ConfigError(f"{where}: [{section}] {key} must be {expected}, got {key}={converted!r}")
    return converted


def section_options(
    cls: type[Any],
    raw: Mapping[str, Any],
    section: str,
    where: str,
    *,
    also: Mapping[str, object] = {},
) -> Any:
    """Build an options class (attrs) from a section, naming the key of any refused value.

    `also` names keys the section accepts besides the fields of `cls` (listed first when a key
    is unknown).
    """
    fields = keyword_fields(cls)
    values = {}
    for key, value in raw.items():
        if key not in fields:
            expected = ", ".join([*also, *fields])
            raise ConfigError(f"{where}: [{section}] unknown key {key!r}; expected: {expected}")
        values[key] = checked(fields[key], key, value, section, where)
    return cls(**values)


def check_depth(raw: object, where: str) -> None:
    """Refuse a parsed configuration nested more than `MAX_DEPTH` tables and arrays deep.

    Walked without recursion, so a hostile file costs an error, not a crash.

    Examples:
        >>> deep: dict = {}
        >>> inner = deep
        >>> for _ in range(100):
        ...     inner["a"] = {}
        ...     inner = inner["a"]
        >>> check_depth(deep, "deep.toml")
        Traceback (most recent call last):
        ...
        minifw.errors.ConfigError: deep.toml: tables or arrays nested more than 32 levels deep (a configuration needs three)

    """
    todo: list[tuple[object, int]] = [(raw, 0)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, Mapping | list):
            if depth >= MAX_DEPTH:
                raise ConfigError(
                    f"{where}: tables or arrays nested more than {MAX_DEPTH} levels deep (a "
                    "configuration needs three)"
                )
            children = value.values() if isinstance(value, Mapping) else value
            todo.extend((child, depth + 1) for child in children)


def class_fields(cls: type) -> dict[str, attrs.Attribute[Any]]:
    """Return the attrs fields of `cls` by keyword ({} unless `cls` itself is an attrs class)."""
    if "__attrs_attrs__" not in vars(cls):  # a plain subclass of an attrs class has its own init
        return {}
    return keyword_fields(cls)


def accepted_keywords(cls: type, fields: Mapping[str, object]) -> set[str] | None:
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
