"""Plain-text tables for the terminal: aligned, wide cells cut, control characters made visible."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

MAX_CELL = 60
# Output formats of `dapaudit query` (here, not in query.py, so the command line can offer them
# without importing the query machinery on every command).
QUERY_FORMATS = ("table", "csv", "json", "markdown")


def printable(value: Any) -> str:
    """Text safe for a terminal: control and bidi-override characters shown as \\uXXXX."""
    text = "" if value is None else str(value)
    if text.isprintable():  # no Cc/Cf character: the common case, without a loop per character
        return text
    return "".join(
        ch if unicodedata.category(ch) not in ("Cc", "Cf") or ch == " " else f"\\u{ord(ch):04x}"
        for ch in text
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], max_cell: int = MAX_CELL) -> str:
    cells = [[_cut(printable(v), max_cell) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len(v))
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    body = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join([line, rule, *body]) + "\n"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
