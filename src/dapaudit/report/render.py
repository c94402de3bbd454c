"""Render report models to HTML (Jinja2, autoescaped) and PDF (WeasyPrint, no network).

There is one Jinja2 environment: autoescape on for every template and string, StrictUndefined so
a misspelt variable is an error. The PDF is the same HTML rendered with the print stylesheet.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, lru_cache
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from ..errors import DapauditError
from ..paths import TEMPLATES_DIR, atomic_target, checkout_folder

# The longest value a report shows in full. Exports are untrusted: a megabyte-long display
# name would make the PDF layout take minutes and bury the page; the data files
# (findings.json/.csv) keep the full value.
MAX_SHOWN_CHARS = 1500


# A word longer than this gets a break opportunity (U+200B) every WORD_CHUNK characters:
# WeasyPrint's line breaking slows down sharply on long unbreakable words.
LONG_WORD = re.compile(r"\S{200,}")
WORD_CHUNK = 100
SHORT = min(200, MAX_SHOWN_CHARS)  # shorter than LONG_WORD's 200 and the cut


# What a report shows as `\uXXXX` rather than as itself, as the terminal does (textout): control
# characters (a NUL, an ESC, C1 codes; not tab and line ends, which HTML takes as spaces) and
# the bidi controls. A right-to-left override in a display name reversed the rest of each
# finding title it was part of (HTML and PDF), dates included. Right-to-left letters are text.
_UNSHOWABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _shown(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def bounded(value: Any) -> Any:
    """Jinja finalize: every {{ value }} a template prints, cut to MAX_SHOWN_CHARS, with its
    control and bidi characters shown as escapes."""
    if type(value) is not str and (not isinstance(value, str) or isinstance(value, Markup)):
        return value
    if not value.isprintable():  # C-level: the common case costs no regular expression
        value = _UNSHOWABLE.sub(_shown, value)
    if len(value) < SHORT:  # most values: nothing to cut, no word long enough to break
        return value
    if len(value) > MAX_SHOWN_CHARS:
        value = f"{value[:MAX_SHOWN_CHARS]}… [{len(value) - MAX_SHOWN_CHARS:,} more characters]"
    return LONG_WORD.sub(
        lambda m: "\u200b".join(
            m.group(0)[i : i + WORD_CHUNK] for i in range(0, len(m.group(0)), WORD_CHUNK)
        ),
        value,
    )


# ------------------------------------------------------------------ rows of the long tables
# The monthly report's three long tables have a row per finding or customer: 300,000 rows at
# 100,000 customers. In Jinja each printed value costs an attribute lookup, finalize and escape
# through Python wrappers; that was most of the rendering time. These functions write the
# same rows (the markup the template had, byte for byte), each value through the same
# bounded() and escape(), and hand them to the template in chunks of ROWS_PER_CHUNK.

ROWS_PER_CHUNK = 2000


# What markupsafe.escape replaces, and what bounded() shows as an escape.
_TO_ESCAPE = re.compile("[&<>\"']|" + _UNSHOWABLE.pattern)


def cell(value: Any) -> str:
    """A value as {{ value }} prints it: bounded, then escaped (what escape() makes of a short
    string without a special character, or of an int, is the same text: skip its wrappers)."""
    kind = type(value)
    if kind is str and len(value) < SHORT:
        return value if _TO_ESCAPE.search(value) is None else escape(bounded(value))
    if kind is int:
        return str(value)
    return escape(bounded(value))


# The same for values that repeat row after row (severities, names, dates, counts).
# typed=True: True must not be served what 1 printed.
rcell = lru_cache(maxsize=4096, typed=True)(cell)


def _chunked(lines: Iterator[str]) -> Iterator[Markup]:
    while chunk := list(islice(lines, ROWS_PER_CHUNK)):
        yield Markup("".join(chunk))


def rule_finding_rows(findings: list[Any], full: bool) -> Iterator[Markup]:
    """The rows of a rule's findings table (FindingRow): customer names link in the HTML."""

    def lines() -> Iterator[str]:
        for f in findings:
            sev = rcell(f.severity)
            name = rcell(f.customer_name)
            if full:
                name = f'<a href="#customer-{cell(f.customer_tenant_id)}">{name}</a>'
            yield (
                f'        <tr><td><span class="sev sev-{sev}">{sev}</span></td><td>{name}</td>'
                f"<td>{rcell(f.partner_name)}</td><td>{cell(f.title)}</td>"
                f'<td class="mono">{cell(f.subject)}</td><td>{rcell(f.first_seen)}</td></tr>\n'
            )

    return _chunked(lines())


def customer_finding_rows(findings: list[Any]) -> Iterator[Markup]:
    """The rows of one customer's findings table (FindingRow), linking to the rules."""

    def lines() -> Iterator[str]:
        for f in findings:
            sev = rcell(f.severity)
            rule = rcell(f.rule_id)
            yield (
                f'        <tr><td><span class="sev sev-{sev}">{sev}</span></td>'
                f'<td><a href="#rule-{rule}">{rule}</a></td><td>{cell(f.title)}</td>'
                f'<td class="mono">{cell(f.subject)}</td><td>{rcell(f.first_seen)}</td></tr>\n'
            )

    return _chunked(lines())


def customer_rows(customers: list[Any], full: bool) -> Iterator[Markup]:
    """The rows of the customers table (CustomerRow): open findings per severity."""

    def lines() -> Iterator[str]:
        for c in customers:
            name = cell(c.name)
            if full and c.total:
                name = f'<a href="#{cell(c.anchor)}">{name}</a>'
            counts = "".join(f'<td class="num">{rcell(n)}</td>' for n in c.counts)
            yield (
                f"      <tr><td>{name}</td><td>{cell(c.domain)}</td>{counts}"
                f'<td class="num">{rcell(c.total)}</td><td class="num">{rcell(c.suppressed)}</td>'
                f"<td>{rcell(', '.join(c.missing))}</td></tr>\n"
            )

    return _chunked(lines())


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(checkout_folder(TEMPLATES_DIR))),
        finalize=bounded,
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["inline_css"] = inline_css
    env.globals["rule_finding_rows"] = rule_finding_rows
    env.globals["customer_finding_rows"] = customer_finding_rows
    env.globals["customer_rows"] = customer_rows
    return env


def inline_css(name: str) -> Markup:
    """A stylesheet of report_templates/, inlined verbatim: <style> is raw text, so escaping its
    quotes would break it. Only our own files pass here, never data."""
    path = (TEMPLATES_DIR / name).resolve()
    if not path.is_relative_to(TEMPLATES_DIR.resolve()) or path.suffix != ".css":
        raise ValueError(f"not a report stylesheet: {name!r}")
    return Markup(path.read_text(encoding="utf-8"))


def render_html(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def write_html(target: Path, template: str, **context: Any) -> None:
    """Render straight into `target` as the pieces come: the monthly report of a large estate
    is over 100 MB, and holding it as one string (and its pieces) doubled the memory peak.
    (Pieces are written one by one, not gathered by the thousand: the long tables' pieces
    are already chunks of thousands of rows.)"""
    pieces = environment().get_template(template).generate(**context)
    with (
        atomic_target(target) as scratch,
        open(scratch, "w", encoding="utf-8", buffering=1 << 20) as fh,
    ):
        fh.writelines(pieces)


def _allowed(url: str, allowed_files: list[Path]) -> bool:
    """Only data: URLs, files under report_templates/ and the files named (a configured logo)."""
    if url.startswith("data:"):
        return True
    parsed = urlparse(url)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return False
    target = Path(unquote(parsed.path)).resolve()
    allowed = {p.resolve() for p in allowed_files}
    return target in allowed or target.is_relative_to(TEMPLATES_DIR.resolve())


def restricted_url_fetcher(allowed_files: list[Path]):
    """A WeasyPrint URL fetcher that refuses the network and every file not explicitly allowed."""
    try:
        from weasyprint.urls import URLFetcher  # WeasyPrint >= 66: a fetcher class
    except ImportError:  # older WeasyPrint: a fetcher function
        from weasyprint import default_url_fetcher

        def fetch(url: str, *args: Any, **kwargs: Any):
            if not _allowed(url, allowed_files):
                raise ValueError(f"dapaudit does not fetch {url[:80]!r} while rendering a PDF")
            return default_url_fetcher(url, *args, **kwargs)

        return fetch

    class RestrictedFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None):
            if not _allowed(url, allowed_files):
                raise ValueError(f"dapaudit does not fetch {url[:80]!r} while rendering a PDF")
            return super().fetch(url, headers)

    return RestrictedFetcher(allowed_protocols={"file", "data"})


@contextmanager
def font_times_fixed() -> Iterator[None]:
    """While a PDF is written: fontTools stamps the time it subsets a font into that font
    (`head.modified`), and WeasyPrint embeds the subset, so the same review written twice
    differed in those bytes. fontTools takes the time from $SOURCE_DATE_EPOCH when set
    (reproducible-builds.org): the user's value is kept, else it is 0 for the write."""
    if "SOURCE_DATE_EPOCH" in os.environ:
        yield
        return
    os.environ["SOURCE_DATE_EPOCH"] = "0"
    try:
        yield
    finally:
        os.environ.pop("SOURCE_DATE_EPOCH", None)


def write_pdf(html: str, target: Path, allowed_files: list[Path] | None = None) -> None:
    try:
        from weasyprint import HTML
    except OSError as exc:  # missing system libraries (Pango)
        raise DapauditError(f"cannot render PDF: WeasyPrint could not load ({exc})") from None
    with font_times_fixed(), atomic_target(target) as scratch:
        HTML(
            string=html,
            base_url=str(TEMPLATES_DIR) + "/",
            url_fetcher=restricted_url_fetcher(allowed_files or []),
        ).write_pdf(str(scratch))
