"""Hostile exports: markup, script, style, URLs, formulas, control and bidi characters, path
traversal and a megabyte-long name, placed in every free-text column a report shows. Driven
through the public CLI (`run`, `report monthly`, `findings`) so the report's internals may
change. Everything must come out inert (no markup, script, fetch, formula or terminal
control) and legible (the text is there, as text). No network connection is attempted.
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from hostile_estate import CONTROLS, HOSTILE, MEGABYTE, write_hostile_estate

from conftest import SAMPLE
from dapaudit import db
from dapaudit.cli import cli
from dapaudit.report import render

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CONNECTIONS: list[object] = []


def _no_network(monkeypatch) -> None:
    """Any attempt to resolve or connect fails the test (recorded, and refused)."""

    def refuse(*args, **kwargs):
        CONNECTIONS.append(args)
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    placed = write_hostile_estate(tmp / "estate")
    escape = Path("/tmp/dapaudit-escape")
    assert not escape.exists()
    fetched: list[str] = []
    original_allowed = render._allowed

    def recording_allowed(url, allowed_files):
        fetched.append(url)
        return original_allowed(url, allowed_files)

    before = _files_under(tmp)
    with pytest.MonkeyPatch.context() as mp:
        _no_network(mp)
        mp.setattr(render, "_allowed", recording_allowed)
        mp.setenv(db.CACHE_DIR_ENV, str(tmp / "cache"))  # its own: the template is made here
        mp.chdir(tmp)
        runner = CliRunner()
        run = runner.invoke(
            cli,
            [
                "run",
                "estate",
                "--db",
                "h.duckdb",
                "--as-of",
                "2026-11-30",
                "--out",
                "out",
                "--format",
                "html,pdf",
            ],
        )
        assert run.exit_code == 0, run.output
        table = runner.invoke(cli, ["findings", "--db", "h.duckdb", "--format", "table"])
        as_csv = runner.invoke(cli, ["findings", "--db", "h.duckdb", "--format", "csv"])
        snaps = runner.invoke(cli, ["snapshots", "--db", "h.duckdb"])
    assert not escape.exists()
    written = _files_under(tmp) - before
    return {
        "tmp": tmp,
        "placed": placed,
        "run": run,
        "table": table,
        "csv": as_csv,
        "snapshots": snaps,
        "written": written,
        "fetched": fetched,
        "findings": json.loads((tmp / "out" / "findings.json").read_text(encoding="utf-8")),
    }


def test_hostile_values_reach_the_findings(hostile_run):
    """The test is only worth something if hostile text is in what gets rendered."""
    titles = " ".join(f["title"] for f in hostile_run["findings"])
    assert len(hostile_run["findings"]) >= 4
    assert len(_markup_in_titles(hostile_run)) >= 3
    assert MEGABYTE in titles
    assert hostile_run["placed"] >= 100
    print(f"\nhostile data: {len(HOSTILE)} distinct strings, {hostile_run['placed']} values placed")


def _markup_in_titles(hostile_run) -> list[str]:
    """The hostile strings with markup that ended up in finding titles."""
    titles = " ".join(f["title"] for f in hostile_run["findings"])
    return [h for h in HOSTILE if "<" in h and h != MEGABYTE and h in titles]


def test_nothing_written_outside_out_and_the_database(hostile_run):
    tmp = hostile_run["tmp"]
    template = Path("cache") / db.template_name()
    for path in hostile_run["written"]:
        rel = path.relative_to(tmp)
        assert rel.parts[0] == "out" or rel.name.startswith("h.duckdb") or rel == template, rel
    # The empty database new ones are copied from, named by dapaudit alone, is all the cache has.
    assert tmp / template in hostile_run["written"]


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.style: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        (self.style if self._in_style else self.text).append(data)


def test_html_is_inert_and_legible(hostile_run):
    html = (hostile_run["tmp"] / "out" / "report.html").read_text(encoding="utf-8")
    parsed = _Html()
    parsed.feed(html)
    for tag, attrs in parsed.tags:
        assert tag not in ("script", "iframe", "link", "object", "embed", "base", "frame"), tag
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src", "xlink:href", "action", "formaction"):
                assert (value or "").startswith(("#", "data:")), (tag, name, value)
        if tag == "img":
            assert dict(attrs).get("src", "").startswith("data:")
    style = "".join(parsed.style)
    assert "evil.example" not in style and "@import" not in style
    text = "".join(parsed.text)
    # Legible: the hostile strings are shown as the text they are.
    for shown in _markup_in_titles(hostile_run):
        assert shown in text, shown
    # A megabyte value is cut, with a note saying so, not pasted in full.
    assert MEGABYTE not in text and "more characters]" in text
    # Control and bidi characters are shown as escapes, as on the terminal: a right-to-left
    # override reversed the rest of each finding title it was part of, dates included.
    for ch in ("\x00", "\x07", "\x1b", "\u202e", "\u2066", "\u2069"):
        assert ch not in html, repr(ch)
    titles = " ".join(f["title"] for f in hostile_run["findings"])
    placed = [h for h in CONTROLS if h in titles]
    assert placed  # else this proves nothing
    for h in placed:  # legible: every character that is not shown as itself, as its escape
        shown = re.sub(
            "[\x00-\x08\x0b-\x1f\u202a-\u202e\u2066-\u2069]",
            lambda m: f"\\u{ord(m.group()):04x}",
            h,
        )
        assert shown in text, shown


def test_pdf_is_inert_and_legible_and_fetched_nothing(hostile_run):
    from pypdf import PdfReader

    raw = (hostile_run["tmp"] / "out" / "report.pdf").read_bytes()
    for marker in (b"/JavaScript", b"/JS ", b"/Launch", b"/SubmitForm", b"/EmbeddedFile"):
        assert marker not in raw, marker
    reader = PdfReader(io.BytesIO(raw))
    # (pypdf returns this font's text with NULs between characters)
    text = " ".join(page.extract_text() for page in reader.pages).replace("\x00", "")
    squeezed = "".join(text.split())
    assert "\u202e" not in text and "\x1b" not in text
    for shown in _markup_in_titles(hostile_run):
        # Line breaks are squeezed out; "fi"/"fl" come back from pypdf as ligature glyphs.
        for chunk in re.split(r"f+.?", "".join(shown.split())):
            assert len(chunk) < 4 or chunk in squeezed, (shown, chunk)
    for page in reader.pages:
        for annot in page.get("/Annots") or []:
            action = annot.get_object().get("/A") or {}
            uri = action.get("/URI")
            assert uri is None or str(uri).startswith("#"), uri
    assert CONNECTIONS == []
    for url in hostile_run["fetched"]:
        assert "evil.example" not in url and "/etc/" not in url, url


def test_csv_cells_never_start_a_formula(hostile_run):
    csv.field_size_limit(sys.maxsize)  # the megabyte value is one cell
    for source in (
        hostile_run["csv"].output,
        (hostile_run["tmp"] / "out" / "findings.csv").read_text(encoding="utf-8"),
    ):
        rows = list(csv.reader(io.StringIO(source, newline="")))
        assert len(rows) == len(hostile_run["findings"]) + 1
        for row in rows:
            for cell in row:
                assert not cell.startswith(FORMULA_START), cell[:40]


def _terminal_safe(text: str) -> None:
    for ch in text:
        if ch != "\n":
            assert unicodedata.category(ch) not in ("Cc", "Cf"), f"U+{ord(ch):04X} in output"


def test_terminal_output_shows_no_control_or_bidi_characters(hostile_run):
    for key in ("table", "snapshots"):
        assert hostile_run[key].exit_code == 0
        _terminal_safe(hostile_run[key].output)
    _terminal_safe(hostile_run["run"].output)
    assert "\\u202e" in hostile_run["table"].output or "\\u001b" in hostile_run["table"].output


def test_hostile_file_names_in_messages_are_escaped(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    name = "evil\x1b[2J\u202efdp.csv"
    (folder / name).write_text("tenant_id,tenant_type\nnot-a-guid,customer\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["ingest", str(folder), "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 2
    assert "evil\\u001b[2J\\u202efdp.csv" in result.output
    _terminal_safe(result.output)


# ------------------------------------------------------------------ the PDF fetcher itself

ATTACK_HTML = """<html><head>
<link rel="stylesheet" href="http://evil.example/x.css">
<style>@import url("http://evil.example/a.css");
body { background: url(file:///etc/passwd) }</style>
</head><body>
<img src="http://evil.example/pixel.png"><img src="file:///etc/hostname">
<img src="../../../../etc/passwd"><img src="https://evil.example/a.svg">
<iframe src="file:///etc/passwd"></iframe><object data="http://evil.example/o"></object>
<p>text</p></body></html>"""


def test_pdf_renderer_refuses_network_and_outside_files(tmp_path, monkeypatch):
    _no_network(monkeypatch)
    CONNECTIONS.clear()
    seen: list[tuple[str, bool]] = []
    original_allowed = render._allowed

    def recording_allowed(url, allowed_files):
        verdict = original_allowed(url, allowed_files)
        seen.append((url, verdict))
        return verdict

    monkeypatch.setattr(render, "_allowed", recording_allowed)
    render.write_pdf(ATTACK_HTML, tmp_path / "attack.pdf")
    assert (tmp_path / "attack.pdf").stat().st_size > 0
    assert CONNECTIONS == []
    assert seen, "the fetcher was never asked: the attack HTML did not exercise it"
    for url, verdict in seen:
        assert not verdict, url


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example/x",
        "https://evil.example/x",
        "ftp://evil.example/x",
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        f"file://{render.TEMPLATES_DIR}/../../../../etc/passwd",
        f"file://{render.TEMPLATES_DIR}/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "//evil.example/x",
        "javascript:alert(1)",
    ],
)
def test_fetcher_policy_refuses(url):
    assert not render._allowed(url, [])


def test_fetcher_policy_allows_templates_and_data_urls():
    assert render._allowed("data:image/png;base64,AAAA", [])
    assert render._allowed(f"file://{render.TEMPLATES_DIR}/report.css", [])


def test_sample_estate_still_renders_with_the_cap(tmp_path):
    """Ordinary values are far below the cap and shown whole."""
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(SAMPLE),
            "--db",
            str(tmp_path / "s.duckdb"),
            "--as-of",
            "2026-11-30",
            "--out",
            str(tmp_path / "o"),
            "--format",
            "html",
        ],
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "more characters]" not in html and "Contoso Ltd" in html
