"""A Griffe extension: show the constructor signature attrs generates for an attrs class.

attrs writes a class's `__init__` at run time, from its fields, so the source (which is all Griffe
reads) has none, and the API reference would show a bare class name. For each class decorated
with `@attrs.define`, `@attrs.frozen` or `@attrs.mutable` (and the classic `attr.s`), this
extension adds the `__init__` attrs makes: the fields in order, base classes' first, without
`init=False` fields, with their `alias`, default (or `factory` shown as the value it makes) and
`kw_only` setting. The source files are never changed; only what the site shows.
"""

from __future__ import annotations

import ast
import textwrap
from typing import Any

from griffe import (
    Attribute,
    Class,
    Extension,
    Function,
    GriffeLoader,
    Module,
    Object,
    Parameter,
    ParameterKind,
    Parameters,
)

__all__ = ["AttrsSignature"]

_ATTRS_DECORATORS = {"attrs.define", "attrs.frozen", "attrs.mutable", "attr.s", "attr.attrs"}


class AttrsSignature(Extension):
    """Give every attrs class of a loaded package the `__init__` attrs generates."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        """Add `__init__` to the attrs classes of `pkg` (after the whole tree is known)."""
        for obj in _walk(pkg):
            if isinstance(obj, Class) and _is_attrs(obj) and "__init__" not in obj.members:
                _add_attrs_init(obj)


def _walk(obj: Object) -> list[Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_walk(member))  # type: ignore[arg-type]
    return found


def _is_attrs(cls: Class) -> bool:
    return any(str(d.value).split("(")[0] in _ATTRS_DECORATORS for d in cls.decorators)


def _field_options(attribute: Attribute) -> dict[str, str]:
    """Return the keyword arguments of `attrs.field(...)` as source text, or `default`."""
    if attribute.value is None:
        return {}
    source = str(attribute.value)  # griffe's rendering; the source itself keeps 1e-4 as written
    try:
        statement = ast.parse(textwrap.dedent(attribute.source)).body[0]
        if isinstance(statement, ast.AnnAssign) and statement.value is not None:
            source = (
                ast.get_source_segment(textwrap.dedent(attribute.source), statement.value) or source
            )
        call = ast.parse(source, mode="eval").body
    except (SyntaxError, IndexError, ValueError, OSError):
        return {"default": source}
    if not (isinstance(call, ast.Call) and ast.unparse(call.func) in {"attrs.field", "attr.ib"}):
        return {"default": source}
    options = {}
    for keyword in call.keywords:
        value = keyword.value
        # A factory is shown as the value it makes: list(), RandomChoiceSampler(100).
        if keyword.arg == "factory":
            value = value.body if isinstance(value, ast.Lambda) else ast.Call(value, [], [])
            options["default"] = ast.unparse(value)
        elif keyword.arg:
            options[keyword.arg] = ast.get_source_segment(source, value) or ast.unparse(value)
    return options


def _attrs_fields(cls: Class) -> list[Parameter]:
    """Return the `__init__` parameters of an attrs class: base classes' fields first."""
    params: list[Parameter] = []
    for base in cls.resolved_bases:
        if isinstance(base, Class) and _is_attrs(base):
            params.extend(_attrs_fields(base))
    for member in cls.members.values():
        if member.is_alias or not isinstance(member, Attribute) or member.annotation is None:
            continue
        if "class-attribute" not in member.labels and "instance-attribute" not in member.labels:
            continue
        options = _field_options(member)
        if options.get("init") == "False" or str(member.annotation).startswith("ClassVar"):
            continue
        name = options.get("alias", "").strip("'\"") or member.name.lstrip("_")
        default = options.get("default")
        kind = (
            ParameterKind.keyword_only
            if options.get("kw_only") == "True"
            else ParameterKind.positional_or_keyword
        )
        params = [p for p in params if p.name != name]
        params.append(Parameter(name, annotation=member.annotation, kind=kind, default=default))
    return params


def _add_attrs_init(cls: Class) -> None:
    fields = _attrs_fields(cls)
    positional = [p for p in fields if p.kind is ParameterKind.positional_or_keyword]
    keyword = [p for p in fields if p.kind is ParameterKind.keyword_only]
    init = Function(
        "__init__",
        parameters=Parameters(Parameter("self"), *positional, *keyword),
        returns="None",
        lineno=cls.lineno,
        endlineno=cls.lineno,
    )
    cls.set_member("__init__", init)
