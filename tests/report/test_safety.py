"""Hostile data renders inert: HTML and CSS in display names stay text, formula prefixes are
neutralised in findings.csv, and rendering a PDF fetches nothing from the network or from files
outside report_templates/ (and the configured logo).
"""

from __future__ import annotations

import base64
import csv
import io
import re
import socket
import struct
import zlib
from datetime import date
from pathlib import Path

import pypdf
import pytest
from htmldoc import ReportDoc, squash
from reportkit import chain, database, estate, replace

from dapaudit.cli import cli
from dapaudit.findings import neutralise, to_csv
from dapaudit.paths import TEMPLATES_DIR
from dapaudit.report import render
from dapaudit.report.render import restricted_url_fetcher, write_pdf

SCRIPT_NAME = '<script>alert("x")</script> Contoso'
IMG_NAME = "<img src=http://evil.example/t.png> Tailspin"
CSS_NAME = "</style><style>body{background:url(http://evil.example/css)}</style>Adatum"
FORMULA_PARTNER = '=HYPERLINK("http://evil.example")'
PATH_NAME = "../../evil/Wingtip"
LONG_NAME = "Litware" + "Subsidiary" * 15  # 157 characters and not one space
Q = '"'


class NetworkSpy:
    """Records (and refuses) every attempt to open a socket while rendering."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[object] = []

        def refuse(*args, **kwargs):
            self.attempts.append(args[1:] or kwargs)
            raise OSError("network disabled in tests")

        monkeypatch.setattr(socket.socket, "connect", lambda *a, **k: refuse(*a, **k))
        monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, *a, **k))
        monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: refuse(None, *a, **k))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    hyperlink = '"=HYPERLINK(""http://evil.example"")",'
    folder = estate(
        tmp / "estate",
        {
            "tenants.csv": chain(
                replace("Contoso Ltd,", f'"{SCRIPT_NAME.replace(Q, 2 * Q)}",'),
                replace("Tailspin Toys,", f"{IMG_NAME},"),
                replace("Adatum Corporation,", f"{CSS_NAME},"),
                replace("Wingtip Industries,", f"{PATH_NAME},"),
                replace("Litware Inc,", f"{LONG_NAME},"),
                replace("Fabrikam Cloud Services,", hyperlink),
            ),
            "partner_relationships.csv": replace("Fabrikam Cloud Services,", hyperlink),
            "directory_role_members.csv": chain(
                replace(
                    "Global Admin Two,admin2@contoso.example", "@SUM(1+1),admin2@contoso.example"
                ),
                replace(
                    "User Admin,useradmin@contoso.example", "+cmd|calc,useradmin@contoso.example"
                ),
            ),
        },
    )
    con = database(tmp / "h.duckdb", [("2026-11", date(2026, 11, 30), folder)])
    con.close()
    return tmp


def _no_active_content(doc: ReportDoc) -> None:
    assert not [e for e in doc.elements if e.tag in ("script", "img", "link", "iframe", "object")]
    assert len([e for e in doc.elements if e.tag == "style"]) == 2  # our two, in <head>
    for e in doc.elements:
        for value in e.attrs.values():
            assert "evil.example" not in value, (e.tag, e.attrs)


def test_hostile_names_render_as_text(hostile, runner, monkeypatch):
    spy = NetworkSpy(monkeypatch)
    out = hostile / "monthly"
    result = runner.invoke(
        cli,
        [
            "report",
            "monthly",
            "--db",
            str(hostile / "h.duckdb"),
            "--out",
            str(out),
            "--format",
            "html,pdf",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = ReportDoc((out / "report.html").read_text(encoding="utf-8"))
    _no_active_content(doc)
    for name in (SCRIPT_NAME, IMG_NAME, CSS_NAME, FORMULA_PARTNER):
        assert name in doc.text, name
    customers = doc.table("customers", "customers").column("Customer")
    assert SCRIPT_NAME in customers and CSS_NAME in customers
    pdf_text = squash(" ".join(p.extract_text() for p in pypdf.PdfReader(out / "report.pdf").pages))
    for name in (SCRIPT_NAME, IMG_NAME, CSS_NAME, LONG_NAME):
        assert squash(name) in pdf_text, name
    assert spy.attempts == []
    assert_text_within_pages(pypdf.PdfReader(out / "report.pdf"))


def assert_text_within_pages(pdf: pypdf.PdfReader) -> None:
    """No run of text reaches past the page edge: long names and ids wrap instead of spilling.

    A run's width is estimated generously at half an em per character (DejaVu Sans averages
    a little more, the monospace ids 0.6 em), so a line that did not wrap stands out by far.
    """
    for number, page in enumerate(pdf.pages, 1):
        width = float(page.mediabox.width)
        runs: list[tuple[float, float, str]] = []

        def visit(text, cm, tm, font, size, runs=runs):
            if text.strip():
                x = cm[0] * tm[4] + cm[2] * tm[5] + cm[4]
                scale = abs(tm[0] * cm[0]) or 1.0
                runs.append((x, size * scale, text.strip()))

        page.extract_text(visitor_text=visit)
        for x, size, text in runs:
            for line in re.sub(r"\.{4,}", "", text).splitlines():
                assert x + len(line) * size * 0.5 <= width, (number, line)


def test_hostile_names_in_reviews_and_file_names(hostile, runner):
    out = hostile / "reviews"
    result = runner.invoke(
        cli,
        [
            "report",
            "tenant",
            "--all-tenants",
            "--db",
            str(hostile / "h.duckdb"),
            "--out",
            str(out),
            "--format",
            "html",
        ],
    )
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert files and all(p.parent == out for p in files)
    assert not (hostile / "evil").exists()
    assert any(p.name.startswith("review-evil-wingtip-") for p in files)
    texts = []
    for path in files:
        doc = ReportDoc(path.read_text(encoding="utf-8"))
        _no_active_content(doc)
        texts.append(doc.text)
    assert any(SCRIPT_NAME in t and "@SUM(1+1)" in t for t in texts)
    assert any(FORMULA_PARTNER in t for t in texts)


def test_findings_csv_neutralises_formulas(hostile, runner):
    out = hostile / "run"
    from dapaudit import db
    from dapaudit.findings import load_findings

    con = db.connect(hostile / "h.duckdb", read_only=True)
    items = load_findings(con, "2026-11")
    con.close()
    rows = list(csv.DictReader(io.StringIO(to_csv(items))))
    assert rows
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    titles = [r["title"] for r in rows]
    assert any(t.startswith("'" + FORMULA_PARTNER) for t in titles), titles
    del out


# After any leading whitespace, not spaces only: a line break, a no-break space or an
# ideographic space before the formula (an import that trims cells runs it).
@pytest.mark.parametrize(
    "value",
    [
        "=1+2",
        "+1",
        "-1",
        "@SUM(A1)",
        "\tx",
        "\rx",
        " =x",
        "  @x",
        "\n=1+1",
        "\u00a0=1+1",
        "\u3000@x",
    ],
)
def test_neutralise_prefixes_formulas(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["", "Contoso", "1-2", " x=1", "'=x", "x=1"])
def test_neutralise_leaves_text_alone(value):
    assert neutralise(value) == value


def _fetch(fetcher, url: str):
    return fetcher.fetch(url) if hasattr(fetcher, "fetch") else fetcher(url)


def _png(path: Path) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\x1f\x4e\x8c"))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return data


def test_fetcher_refuses_network_and_outside_files(tmp_path, monkeypatch):
    spy = NetworkSpy(monkeypatch)
    logo = tmp_path / "logo.png"
    _png(logo)
    fetcher = restricted_url_fetcher([logo])
    for url in (
        "http://127.0.0.1:9/x.png",
        "https://evil.example/a.css",
        "ftp://evil.example/x",
        "file:///etc/passwd",
        "file://evil.example/etc/passwd",
        f"file://{TEMPLATES_DIR}/../pyproject.toml",
        f"file://{tmp_path}/other.png",
    ):
        with pytest.raises(ValueError, match="does not fetch"):
            _fetch(fetcher, url)
    assert spy.attempts == []
    # What it may read: the templates' own files and the configured logo.
    assert _fetch(fetcher, f"file://{TEMPLATES_DIR}/report.css") is not None
    assert _fetch(fetcher, f"file://{logo}") is not None


def test_outside_references_in_a_document_fetch_nothing(tmp_path, monkeypatch):
    spy = NetworkSpy(monkeypatch)
    asked: list[tuple[str, bool]] = []
    allowed = render._allowed

    def recording(url, files):
        verdict = allowed(url, files)
        asked.append((url, verdict))
        return verdict

    monkeypatch.setattr(render, "_allowed", recording)
    html = """<html><head>
      <link rel="stylesheet" href="http://127.0.0.1:9/x.css">
      <style>@import url(http://127.0.0.1:9/y.css);
             body { background: url(file:///etc/passwd); }</style>
      </head><body><p>text</p><img src="http://127.0.0.1:9/z.png"><img src="file:///etc/passwd">
      </body></html>"""
    target = tmp_path / "x.pdf"
    write_pdf(html, target)
    assert target.stat().st_size > 0
    outside = [(u, v) for u, v in asked if not u.startswith(f"file://{TEMPLATES_DIR}")]
    assert {u for u, _ in outside} >= {
        "http://127.0.0.1:9/x.css",
        "http://127.0.0.1:9/z.png",
        "file:///etc/passwd",
    }
    assert not any(v for _, v in outside)
    assert spy.attempts == []
    assert "root:" not in " ".join(p.extract_text() for p in pypdf.PdfReader(target).pages)


def test_branding_and_logo_as_data_uri(tmp_path, runner, hostile):
    data = _png(tmp_path / "logo.png")
    (tmp_path / "dapaudit.toml").write_text(
        '[report]\norganisation = "<b>Example</b> Audit"\ntitle = "Partner review"\n'
        'logo = "logo.png"\n',
        encoding="utf-8",
    )
    result = runner.invoke(
        cli,
        [
            "report",
            "monthly",
            "--db",
            str(hostile / "h.duckdb"),
            "--config",
            str(tmp_path / "dapaudit.toml"),
            "--out",
            str(tmp_path / "o"),
            "--format",
            "html",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = ReportDoc((tmp_path / "o" / "report.html").read_text(encoding="utf-8"))
    assert doc.headings_in("h1") == ["Partner review"]
    assert "<b>Example</b> Audit" in doc.text
    imgs = [e for e in doc.elements if e.tag == "img"]
    assert len(imgs) == 1
    prefix = "data:image/png;base64,"
    assert imgs[0].attrs["src"].startswith(prefix)
    assert base64.b64decode(imgs[0].attrs["src"][len(prefix) :]) == data


def test_missing_logo_is_a_config_error(tmp_path, runner, hostile):
    (tmp_path / "dapaudit.toml").write_text('[report]\nlogo = "nope.png"\n', encoding="utf-8")
    result = runner.invoke(
        cli,
        [
            "report",
            "monthly",
            "--db",
            str(hostile / "h.duckdb"),
            "--config",
            str(tmp_path / "dapaudit.toml"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2
    last = result.output.splitlines()[-1]
    where = f"{tmp_path / 'dapaudit.toml'}, field 'report.logo'"
    assert last.startswith(f"Error: {where}: cannot read logo")
