"""Small HTML tables for the rich display of reports in Jupyter (`_repr_html_`).

Reports that learners look at in a notebook ([`History`][minifw.train.history.History],
[`GradcheckReport`][minifw.nn.gradcheck.GradcheckReport],
[`Estimate`][minifw.numdiff.results.Estimate]) show as a table: a caption saying what it is,
a header row, a row per item. Every piece of text is escaped.

Examples:
    >>> print(html_table(["param", "result"], [["W1", "pass"], ["<b>", 0.5]], caption="check"))
    <table class="minifw-report"><caption>check</caption><thead><tr><th>param</th><th>result</th></tr></thead><tbody><tr><td>W1</td><td>pass</td></tr><tr><td>&lt;b&gt;</td><td>0.5</td></tr></tbody></table>

"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["html_table"]


def html_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], *, caption: str = ""
) -> str:
    """Return an HTML table with `caption` above, `header` and one row per item of `rows`.

    Each cell is `str()` of its value, escaped; numbers are right-aligned by the notebook's own
    style sheet.
    """

    def cells(tag: str, values: Sequence[object]) -> str:
        return "".join(f"<{tag}>{html.escape(str(v))}</{tag}>" for v in values)

    head = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return (
        f'<table class="minifw-report">{head}<thead><tr>{cells("th", header)}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
