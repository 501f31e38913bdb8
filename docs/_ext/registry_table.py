"""MkDocs hook: the table of built-in parts, generated from :data:`minifw.app.registry.REGISTRY`.

A page writes ``<!-- minifw:registry-table -->`` where the table goes; the hook replaces it with
:func:`minifw.app.registry.markdown_table` when the site is built, so a new built-in part appears in
the documentation without editing it.
"""

from __future__ import annotations

from typing import Any

from minifw.app.registry import markdown_table

MARKER = "<!-- minifw:registry-table -->"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the marker with the registry's table."""
    return markdown.replace(MARKER, markdown_table()) if MARKER in markdown else markdown
