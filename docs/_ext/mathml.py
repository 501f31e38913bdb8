r"""MkDocs hook: turn the math on each page into MathML when the site is built.

pymdownx.arithmatex leaves TeX in the HTML (``<span class="arithmatex">\(...\)</span>``) for
MathJax to typeset in the browser, which needs MathJax's script from the network. With the
``latex2mathml`` package installed, this hook converts that TeX to MathML while building, and
browsers render MathML themselves: the formulas show offline too. Without the package (or for
TeX it cannot convert) the page keeps the TeX, and MathJax typesets it when it can be loaded.
"""

from __future__ import annotations

import html
import re
from typing import Any

try:
    from latex2mathml.converter import convert
except ImportError:  # an optional docs dependency: MathJax remains the fallback
    convert = None

_INLINE = re.compile(r'<span class="arithmatex">\\\((?P<tex>.*?)\\\)</span>', re.S)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(?P<tex>.*?)\\\]</div>', re.S)


def _to_mathml(match: re.Match[str], display: str) -> str:
    tex = html.unescape(match.group("tex")).strip()
    try:
        mathml = str(convert(tex, display=display))  # type: ignore[misc]
    except Exception:  # any TeX latex2mathml does not know: leave it for MathJax
        return match.group(0)
    return mathml if display == "inline" else f'<div class="math-block">{mathml}</div>'


def on_page_content(html_text: str, **kwargs: Any) -> str:
    """Replace arithmatex's TeX with MathML in the rendered page."""
    if convert is None:
        return html_text
    html_text = _BLOCK.sub(lambda m: _to_mathml(m, "block"), html_text)
    return _INLINE.sub(lambda m: _to_mathml(m, "inline"), html_text)
