"""Read a rendered report the way a reader does: headings, tables (header and cell text),
element ids, links and every attribute, parsed with html.parser rather than matched as strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Table:
    section: str | None  # id of the enclosing <section>
    article: str | None  # id of the enclosing <article>, if any
    classes: list[str]
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def column(self, name: str) -> list[str]:
        i = self.header.index(name)
        return [r[i] for r in self.rows]

    def dicts(self) -> list[dict[str, str]]:
        return [dict(zip(self.header, r, strict=False)) for r in self.rows]


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    section: str | None


class ReportDoc(HTMLParser):
    """Headings (level, text, section), tables, elements with their attributes, visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[str, str, str | None]] = []
        self.tables: list[Table] = []
        self.elements: list[Element] = []
        self.text_parts: list[str] = []
        self._sections: list[str | None] = []
        self._articles: list[str | None] = []
        self._heading: tuple[str, list[str]] | None = None
        self._table: Table | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_thead = False
        self._raw: str | None = None  # inside <style>/<script>/<title>: not visible body text
        self.feed(html)
        self.close()

    @property
    def section(self) -> str | None:
        return self._sections[-1] if self._sections else None

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text_parts))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.elements.append(Element(tag, a, self.section))
        if tag in ("style", "script", "title"):
            self._raw = tag
        elif tag == "section":
            self._sections.append(a.get("id"))
        elif tag == "article":
            self._articles.append(a.get("id"))
        elif tag in ("h1", "h2", "h3", "h4"):
            self._heading = (tag, [])
        elif tag == "table":
            self._table = Table(
                self.section,
                self._articles[-1] if self._articles else None,
                a.get("class", "").split(),
            )
        elif tag == "thead":
            self._in_thead = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")
        elif tag == "li" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._raw:
            self._raw = None
        elif tag == "section" and self._sections:
            self._sections.pop()
        elif tag == "article" and self._articles:
            self._articles.pop()
        elif self._heading and tag == self._heading[0]:
            text = re.sub(r"\s+", " ", "".join(self._heading[1])).strip()
            self.headings.append((tag, text, self.section))
            self._heading = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._in_thead:
                self._table.header = self._row
            else:
                self._table.rows.append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_thead = False
        elif tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._raw:
            return
        self.text_parts.append(data)
        if self._heading:
            self._heading[1].append(data)
        if self._cell is not None:
            self._cell.append(data)

    # -------------------------------------------------------------- queries

    def ids(self) -> set[str]:
        return {e.attrs["id"] for e in self.elements if "id" in e.attrs}

    def links(self) -> list[str]:
        return [e.attrs["href"] for e in self.elements if e.tag == "a" and "href" in e.attrs]

    def headings_in(self, level: str) -> list[str]:
        return [t for lvl, t, _ in self.headings if lvl == level]

    def tables_in(self, section: str, cls: str | None = None) -> list[Table]:
        return [
            t for t in self.tables if t.section == section and (cls is None or cls in t.classes)
        ]

    def table(self, section: str, cls: str | None = None) -> Table:
        found = self.tables_in(section, cls)
        assert len(found) == 1, f"{len(found)} tables in #{section} with class {cls}"
        return found[0]


def squash(text: str) -> str:
    """Text without whitespace: PDF extraction breaks lines (and long ids) anywhere."""
    return re.sub(r"\s+", "", text)
