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


def display_width(text: str) -> int:
    """Columns `text` takes on a terminal: two for a wide East Asian character, none for a
    combining mark, one for the others (len() put a column of 日本語 three columns short)."""
    if text.isascii():
        return len(text)
    return sum(
        0
        if unicodedata.combining(ch)
        else 2
        if unicodedata.east_asian_width(ch) in ("W", "F")
        else 1
        for ch in text
    )


def pad(text: str, columns: int) -> str:
    return text + " " * (columns - display_width(text))


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` columns, … marking a cut."""
    if display_width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > limit - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], max_cell: int = MAX_CELL) -> str:
    cells = [[cut(printable(v), max_cell) for v in row] for row in rows]
    widths = [display_width(h) for h in headers]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], display_width(v))
    line = "  ".join(pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    body = [
        "  ".join(pad(v, w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join([line, rule, *body]) + "\n"
