r"""A Griffe extension: render minifw's reStructuredText-flavoured docstrings as Markdown.

minifw's docstrings use Sphinx roles (``:class:`Loss```, ``:math:`h```), ``.. math::`` blocks and
bare doctest paragraphs. mkdocstrings renders docstrings as Markdown, where those would show as
literal text and run-together lines. Before rendering, this extension rewrites every docstring of
the loaded package:

- ``:class:``/``:meth:``/``:func:``/``:attr:``/``:mod:``/``:data:``/``:exc:`` roles become
  cross-references (``[Loss][minifw.losses.Loss]``) when the target is documented on the site,
  else inline code; a leading ``~`` shows only the last name, as in Sphinx;
- ``:math:`...``` becomes inline math ``\( ... \)``, and a ``.. math::`` block display math;
- a paragraph of ``>>>`` lines and their output becomes a fenced ``pycon`` code block;
- an attrs class (``@attrs.define``, ``@attrs.frozen``) gets the ``__init__`` signature attrs
  generates at run time, read from its fields, so the reference shows how to construct it.

The source files are never changed; only what the site shows.
"""

from __future__ import annotations

import ast
import re
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

__all__ = ["SphinxMarkup"]

_ROLE = re.compile(r":(?:py:)?(class|meth|func|attr|mod|data|exc|obj):`([^`]+)`")
_MATH = re.compile(r":math:`([^`]+)`")
_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. math::\s*$")
_LITERAL = re.compile(r"^(?P<indent>\s*)(?P<text>.*\S)::\s*$")
_TOML_SECTION = re.compile(r"^\s*\[[A-Za-z_.]+\]\s*$")
_ESCAPED_SPACE = re.compile(r"(?<=`)\\ ")


class SphinxMarkup(Extension):
    """Rewrite each docstring of a loaded package once, after the whole tree is known."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        """Convert the docstrings of ``pkg`` and every object inside it."""
        for obj in _walk(pkg):
            if isinstance(obj, Class) and _is_attrs(obj) and "__init__" not in obj.members:
                _add_attrs_init(obj)
            docstring = obj.docstring
            if docstring is None or obj.extra["sphinx_markup"].get("done"):
                continue
            docstring.value = convert(docstring.value, lambda name, o=obj: _resolve(o, name))
            obj.extra["sphinx_markup"]["done"] = True


def _walk(obj: Object) -> list[Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_walk(member))  # type: ignore[arg-type]
    return found


def convert(text: str, resolve: Any) -> str:
    """Return ``text`` with roles, math and doctest paragraphs turned into Markdown."""
    text = _fence_doctests(_literal_blocks(_display_math(text)))
    text = _ESCAPED_SPACE.sub("", text)
    text = _MATH.sub(lambda m: f"\\({m.group(1)}\\)", text)
    return _ROLE.sub(lambda m: _reference(m.group(2), resolve), text)


def _reference(target: str, resolve: Any) -> str:
    short = target.startswith("~")
    name = target.lstrip("~").lstrip(".")
    shown = name.rsplit(".", 1)[-1] if short else name
    path = resolve(name)
    return f"[`{shown}`][{path}]" if path else f"`{shown}`"


def _display_math(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = match.group("indent")
        i += 1
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(indent)):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        out.append(f"{indent}\\[")
        out.extend(indent + line for line in textwrap.dedent("\n".join(body)).strip().splitlines())
        out.append(f"{indent}\\]")
        if i < len(lines):
            out.append("")
    return "\n".join(out)


def _literal_blocks(text: str) -> str:
    """Turn an RST literal block (a paragraph ending in ``::``, then indented lines) into a fence."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _LITERAL.match(lines[i])
        if not match or match.group("text").lstrip().startswith(".. "):
            out.append(lines[i])
            i += 1
            continue
        indent = match.group("indent")
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j == i + 1 or j >= len(lines) or _indent(lines[j]) <= len(indent):
            out.append(lines[i])
            i += 1
            continue
        body: list[str] = []
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > len(indent)):
            body.append(lines[j])
            j += 1
        while body and not body[-1].strip():
            body.pop()
        code = textwrap.dedent("\n".join(body)).splitlines()
        language = "toml" if any(_TOML_SECTION.match(line) for line in code) else "text"
        out.extend([f"{indent}{match.group('text')}:", "", f"{indent}```{language}"])
        out.extend(indent + line if line else "" for line in code)
        out.extend([f"{indent}```", ""])
        i = j
    return "\n".join(out)


def _fence_doctests(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            in_fence = not in_fence
        if in_fence or not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: _indent(line)]
        if out and out[-1].strip():
            out.append("")
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _resolve(obj: Object, name: str) -> str | None:
    """Return the path of the documented object ``name`` refers to from ``obj``, or None."""
    scopes = []
    scope: Object | None = obj
    while scope is not None:
        scopes.append(scope.path)
        scope = scope.parent
    candidates = [f"{s}.{name}" for s in scopes] + [name, f"minifw.{name}"]
    collection = obj.modules_collection
    for candidate in candidates:
        try:
            found = collection.get_member(candidate)
            target = found.final_target if found.is_alias else found
        except Exception:  # any failure: not a target we can link
            continue
        if _documented(target):
            return str(target.path)
    return None


def _documented(obj: Object) -> bool:
    """Whether the site shows ``obj``: public all the way down and with a docstring."""
    if not obj.path.startswith("minifw.") or not obj.docstring:
        return False
    parts = obj.path.split(".")
    return not any(
        p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts
    )


_ATTRS_DECORATORS = {"attrs.define", "attrs.frozen", "attrs.mutable", "attr.s", "attr.attrs"}


def _is_attrs(cls: Class) -> bool:
    return any(str(d.value).split("(")[0] in _ATTRS_DECORATORS for d in cls.decorators)


def _field_options(attribute: Attribute) -> dict[str, str]:
    """Return the keyword arguments of ``attrs.field(...)`` as source text, or ``default``."""
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
        if (
            keyword.arg == "factory"
        ):  # shown as the value it makes: list(), RandomChoiceSampler(100)
            value = value.body if isinstance(value, ast.Lambda) else ast.Call(value, [], [])
            options["default"] = ast.unparse(value)
        elif keyword.arg:
            options[keyword.arg] = ast.get_source_segment(source, value) or ast.unparse(value)
    return options


def _attrs_fields(cls: Class) -> list[Parameter]:
    """Return the ``__init__`` parameters of an attrs class: base classes' fields first."""
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
