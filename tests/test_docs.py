"""The documentation is executed: no number on a page can go stale.

Every fenced ``python`` (or ``pycon``) block in ``docs/**/*.md`` and ``README.md`` runs, page by
page, in order, in one fresh namespace per page and a temporary working directory:

- a block that starts with a ``>>>`` prompt is a doctest (``NUMBER`` and ``NORMALIZE_WHITESPACE``),
  so the output shown on the page must be what the code prints;
- any other python block is executed; it must not raise.

A block right after an ``<!-- skip -->`` comment (for instance one that downloads) is not run;
``test_skip_markers_are_rare`` keeps that the exception. A table right after a
``<!-- numbers-from-code -->`` comment may only hold numbers that appear in the page's executed
code blocks (as a literal or as printed output). Finally the site must build with
``mkdocs build --strict``.
"""

from __future__ import annotations

import doctest
import importlib.util
import io
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from minifw.app.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = [*sorted(p for p in DOCS.rglob("*.md") if "_ext" not in p.parts), REPO / "README.md"]

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
SKIP = re.compile(r"^\s*<!--\s*skip\b.*-->\s*$")
NUMBERS_FROM_CODE = re.compile(r"^\s*<!--\s*numbers-from-code\s*-->\s*$")
INLINE_MATH = re.compile(r"\\\(.*?\\\)")
SNIPPET = re.compile(r'^\s*--8<--\s+"(?P<path>[^"]+)"\s*$')
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])")
PYTHON = {"python", "py", "pycon", "python3"}
#: pytest's NUMBER option (the same flag value when pytest has registered it already).
NUMBER_FLAG = doctest.register_optionflag("NUMBER")
DOCTEST_FLAGS = NUMBER_FLAG | doctest.NORMALIZE_WHITESPACE
FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?\d+[eE][+-]?\d+")
#: The most skipped blocks the whole documentation may have.
MAX_SKIPPED = 8


@dataclass(frozen=True)
class Block:
    """A fenced code block of a Markdown page."""

    page: Path
    line: int  # 1-based line of the first line of code
    language: str
    code: str
    skip: bool

    @property
    def is_doctest(self) -> bool:
        # A transcript starts with a prompt; source that starts otherwise (a module with
        # doctests in its docstrings, say) is executed.
        first = next((line for line in self.code.splitlines() if line.strip()), "")
        return first.lstrip().startswith(">>>")

    @property
    def where(self) -> str:
        page = self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page
        return f"{page}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    """Return the fenced code blocks of ``page`` in order (any language)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    previous = ""  # the last non-blank line outside code
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            if lines[i].strip():
                previous = lines[i]
            i += 1
            continue
        indent, fence = match.group("indent"), match.group("fence")
        info = match.group("info").strip()
        language = info.split()[0].lstrip(".{").rstrip("}") if info else ""
        start = i + 1
        i = start
        while i < len(lines) and not (
            lines[i].strip().startswith(fence[0] * len(fence))
            and not lines[i].strip().strip(fence[0])
        ):
            i += 1
        body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[start:i]]
        body = [piece for line in body for piece in _included(line)]
        blocks.append(
            Block(page, start + 1, language, "\n".join(body) + "\n", bool(SKIP.match(previous)))
        )
        previous = ""
        i += 1
    return blocks


def _included(line: str) -> list[str]:
    """Return a pymdownx.snippets line (``--8<-- "path"``) as the lines of that file."""
    match = SNIPPET.match(line)
    if not match:
        return [line]
    return (REPO / match.group("path")).read_text(encoding="utf-8").splitlines()


def python_blocks(page: Path) -> list[Block]:
    return [b for b in fenced_blocks(page) if b.language in PYTHON]


def tables_after_marker(page: Path) -> list[tuple[int, list[str]]]:
    """Return ``(line, rows)`` for each Markdown table preceded by the numbers marker."""
    lines = page.read_text(encoding="utf-8").splitlines()
    tables = []
    for i, line in enumerate(lines):
        if not NUMBERS_FROM_CODE.match(line):
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        rows = []
        while j < len(lines) and lines[j].lstrip().startswith("|"):
            rows.append(lines[j])
            j += 1
        tables.append((i + 2, rows))
    return tables


PAGES_WITH_CODE = [p for p in PAGES if p.exists() and python_blocks(p)]


class NumberChecker(doctest.OutputChecker):
    """Doctest output checking with pytest's ``NUMBER`` option.

    With ``NUMBER``, a float in the expected output matches an actual float that is within the
    precision written: ``0.5108`` matches ``0.510825457099338``, ``6.00000000000378`` must match
    to its last digit (pytest's rule: absolute tolerance ``10 ** -digits`` after the point).
    """

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        if super().check_output(want, got, optionflags):
            return True
        if not optionflags & NUMBER_FLAG:
            return False
        return super().check_output(want, _numbers_as_written(want, got), optionflags)


def _numbers_as_written(want: str, got: str) -> str:
    """Return ``got`` with each float that agrees with ``want``'s to its precision written as there."""
    wanted, found = list(FLOAT.finditer(want)), list(FLOAT.finditer(got))
    if len(wanted) != len(found):
        return got
    pieces, end = [], 0
    for w, g in zip(wanted, found, strict=True):
        text = w.group()
        mantissa, _, exponent = text.lower().partition("e")
        precision = len(mantissa.partition(".")[2]) - (int(exponent) if exponent else 0)
        if abs(float(text) - float(g.group())) <= 10.0**-precision:
            pieces += [got[end : g.start()], text]
            end = g.end()
    return "".join([*pieces, got[end:]])


def run_doctest(block: Block, namespace: dict[str, object]) -> str | None:
    """Run ``block`` as a doctest in ``namespace``; return the failure report, if any."""
    parser = doctest.DocTestParser()
    test = parser.get_doctest(block.code, namespace, block.where, str(block.page), block.line - 1)
    runner = doctest.DocTestRunner(checker=NumberChecker(), optionflags=DOCTEST_FLAGS)
    report = io.StringIO()
    result = runner.run(test, out=report.write, clear_globs=False)
    namespace.update(test.globs)  # DocTest works on a copy: carry its names to the next block
    return report.getvalue() if result.failed else None


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(REPO)))
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages are written as if run from the repository root: they may read examples/.
    (tmp_path / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("MINIFW_DATA", str(tmp_path / "minifw-data"))  # never the user's cache
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in python_blocks(page):
        if block.skip:
            continue
        if block.is_doctest:
            failure = run_doctest(block, namespace)
            if failure:
                pytest.fail(f"doctest in {block.where} failed:\n{failure}", pytrace=False)
        else:
            exec(compile(block.code, block.where, "exec"), namespace)


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if p.exists() and tables_after_marker(p)],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_marked_tables_hold_only_numbers_from_code(page: Path) -> None:
    code = "\n".join(b.code for b in python_blocks(page) if not b.skip)
    known = set(NUMBER.findall(code))
    for line, rows in tables_after_marker(page):
        assert rows, f"{page.relative_to(REPO)}:{line}: the marker is not followed by a table"
        # Header and separator rows hold no values; inline math is notation, not output.
        body = [INLINE_MATH.sub("", r) for r in rows[2:]]
        missing = sorted(
            {n for row in body for n in NUMBER.findall(row) if n not in known and len(n) > 2}
        )
        assert not missing, (
            f"{page.relative_to(REPO)}:{line}: numbers in the table that no executed code block "
            f"on the page prints or contains: {missing}"
        )


def readme_quickstart() -> list[str]:
    """Return the README's Quickstart commands: the code line after each quickstart marker."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    commands = []
    for i, line in enumerate(lines):
        if line.strip().startswith("<!-- quickstart:"):
            fence = next(j for j in range(i + 1, len(lines)) if lines[j].strip())
            assert FENCE.match(lines[fence]), f"README.md:{fence + 1}: a fence should follow"
            commands.append(lines[fence + 1].strip())
    return commands


def test_getting_started_has_the_readme_quickstart_commands() -> None:
    commands = readme_quickstart()
    assert len(commands) == 2, "README.md should mark its two Quickstart commands"
    index = [b.code.strip() for b in fenced_blocks(DOCS / "index.md") if b.language == "bash"]
    assert index[:2] == commands


TOML_BLOCKS = [
    b for p in PAGES if p.exists() for b in fenced_blocks(p) if b.language == "toml" and not b.skip
]


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=lambda b: b.where)
def test_toml_blocks_are_valid_configurations(block: Block) -> None:
    raw = tomllib.loads(block.code)
    if any(":" in str(section.get("type", "")) for section in raw.values()):
        pytest.skip("names a class of the reader's own package")
    TrainConfig.from_dict(raw, source=block.where)


def test_pages_have_code_that_runs() -> None:
    # The parser must find the blocks: a broken fence pattern would silently test nothing.
    assert len(PAGES_WITH_CODE) >= 10
    assert sum(len(python_blocks(p)) for p in PAGES_WITH_CODE) >= 40


def test_skip_markers_are_rare() -> None:
    skipped = [b.where for p in PAGES if p.exists() for b in python_blocks(p) if b.skip]
    assert len(skipped) <= MAX_SKIPPED, f"too many skipped blocks: {skipped}"


def test_fence_parser_reads_skip_markers_and_indented_fences(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n<!-- skip: downloads -->\n\n```python\nx = 1\n```\n\n"
        "- item\n\n    ```pycon\n    >>> 1 + 1\n    2\n    ```\n\n```toml\n[a]\n```\n",
        encoding="utf-8",
    )
    blocks = fenced_blocks(page)
    assert [(b.language, b.skip, b.line) for b in blocks] == [
        ("python", True, 6),
        ("pycon", False, 12),
        ("toml", False, 17),
    ]
    assert blocks[1].code == ">>> 1 + 1\n2\n"
    assert blocks[1].is_doctest
    assert not blocks[0].is_doctest


@pytest.mark.parametrize(
    ("shown", "passes"),
    [
        ("0.30000000000000004", True),
        ("0.3", True),  # NUMBER: as precise as written
        ("0.33", False),
        ("0.30000000000000009", False),
        ("[0.3, 6.0000000000038]", True),
        ("[0.3, 6.0000000000048]", False),
    ],
)
def test_a_wrong_number_on_a_page_fails(tmp_path: Path, shown: str, passes: bool) -> None:
    page = tmp_path / "page.md"
    code = "[0.1 + 0.2, 6.00000000000378]" if shown.startswith("[") else "0.1 + 0.2"
    page.write_text(f"```python\n>>> {code}\n{shown}\n```\n", encoding="utf-8")
    (block,) = python_blocks(page)
    assert (run_doctest(block, {}) is None) is passes


def _have(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


@pytest.mark.skipif(
    not _have("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"),
    reason="the docs extra is not installed (pip install -e '.[docs]')",
)
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    # The notebooks are executed by tests/test_notebooks.py (and by CI's own docs build, which
    # renders their outputs); here they are only rendered, which keeps this test at seconds.
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "MINIFW_DOCS_NOTEBOOKS": "false"},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "index.html").is_file()
    assert (site / "ko" / "walkthrough" / "index.html").is_file()
    api = (site / "api" / "losses" / "index.html").read_text(encoding="utf-8")
    trainer = (site / "api" / "trainer" / "index.html").read_text(encoding="utf-8")
    # The docstrings' Markdown is rendered natively (docs/contributing.md): a cross-reference
    # `[`per_example`][minifw.nn.losses.Loss.per_example]` became a link, on its page and across
    # pages, and none is left as text.
    assert 'href="#minifw.nn.losses.Loss.per_example"' in api
    assert 'href="../losses/#minifw.nn.losses.Loss"' in trainer
    assert "][minifw." not in api + trainer
    # \( ... \) and \[ ... \] became math (MathML when latex2mathml is installed), doctests
    # under Examples: became highlighted code, and attrs classes show their constructor.
    assert "\\(" not in api.replace('class="arithmatex">\\(', "")
    assert "<math" in api or 'class="arithmatex"' in api
    assert 'doc-section-title">Examples:<' in api
    assert '<span class="gp">&gt;&gt;&gt; </span>' in api
    assert "eps: float = 1e-7, *, reduction" in re.sub(r"<[^>]+>", "", api)
