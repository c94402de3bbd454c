"""The monthly compliance report, read back as a reader sees it: HTML parsed into headings and
tables, the PDF's extracted text. Expectations come from the database, never from constants,
so the tests keep holding as the sample estate and the rule set grow.
"""

from __future__ import annotations

import re
from datetime import date

import pypdf
import pytest
from htmldoc import ReportDoc, squash
from reportkit import (
    TREY,
    append,
    customers,
    database,
    estate,
    open_findings,
    real_estate_cut_short,
    replace,
    write_config,
)

from dapaudit.cli import cli
from dapaudit.rules import SEVERITIES, frameworks, rules_by_id

SNAP, PREV = "2026-11", "2026-10"
PDF_LIMIT = 1
GAP_TENANT = "e0c7a0de-2f7e-4a53-9d0f-5a0f4c1f6e11"  # a customer with no exports at all


@pytest.fixture(scope="module")
def monthly(tmp_path_factory):
    """Two snapshots: October (Coho with DAP, Woodgrove without), November (the sample, plus a
    customer with no exports at all); a suppression; the report as HTML and Letter PDF."""
    tmp = tmp_path_factory.mktemp("monthly")
    october = estate(
        tmp / "oct",
        {
            "partner_relationships.csv": lambda t: replace(
                "92b6d115-08c7-5d2a-874a-21e78f17c86f,d6f7fc44-c24f-50b5-803c-2a06b9253355,"
                "Northwind Partners Ltd,advisor,false",
                "92b6d115-08c7-5d2a-874a-21e78f17c86f,d6f7fc44-c24f-50b5-803c-2a06b9253355,"
                "Northwind Partners Ltd,advisor,true",
            )(
                replace(
                    "b3581e5f-7119-564f-bf56-e413ae802dfa,daa14757-f34a-5b49-af24-e0343071f261,"
                    "Fabrikam Cloud Services,reseller,true",
                    "b3581e5f-7119-564f-bf56-e413ae802dfa,daa14757-f34a-5b49-af24-e0343071f261,"
                    "Fabrikam Cloud Services,reseller,false",
                )(t)
            ),
        },
    )
    november = estate(
        tmp / "nov",
        {
            "tenants.csv": append(
                f"{GAP_TENANT},Unexported Customer Gap,unexportedgap.onmicrosoft.com,customer"
            ),
        },
    )
    config = write_config(
        tmp / "dapaudit.toml",
        """
[report]
organisation = "Example Audit GmbH"
title = "Partner access report"

[[suppressions]]
rule = "AZURE-LINGERING-PARTNER-ROLE"
tenant = "7dbbb246-aba7-5ac3-a3e9-91e8eb18203f"
reason = "Reader kept for the billing export, contract C-7"
owner = "secops@example.com"
expires = 2027-03-31
""",
    )
    db_path = tmp / "m.duckdb"
    con = database(
        db_path, [(PREV, date(2026, 10, 31), october), (SNAP, date(2026, 11, 30), november)], config
    )
    con.close()
    from click.testing import CliRunner

    out = tmp / "out"
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "monthly",
            "--db",
            str(db_path),
            "--snapshot",
            SNAP,
            "--out",
            str(out),
            "--config",
            str(tmp / "dapaudit.toml"),
            "--paper",
            "letter",
            "--pdf-limit",
            str(PDF_LIMIT),
        ],
    )
    assert result.exit_code == 0, result.output
    from dapaudit import db

    con = db.connect(db_path, read_only=True)
    yield {
        "con": con,
        "doc": ReportDoc((out / "report.html").read_text(encoding="utf-8")),
        "pdf": pypdf.PdfReader(out / "report.pdf"),
        "db": db_path,
        "tmp": tmp,
        "out": out,
    }
    con.close()


def test_sections_and_branding(monthly):
    doc = monthly["doc"]
    assert doc.headings_in("h1") == ["Partner access report"]
    assert doc.headings_in("h2") == [
        "Contents",
        "Scope and coverage",
        "Executive summary",
        "Findings by rule",
        "Customers",
        "Findings by customer",
        "Compliance frameworks",
        "Resolved since the previous snapshot",
        "Suppressed findings",
        "Appendix: inputs and run",
    ]
    assert "Example Audit GmbH" in doc.text
    # Self-contained: no script, no external stylesheet, every link an in-page anchor.
    assert not [e for e in doc.elements if e.tag in ("script", "link", "iframe", "object")]
    links = doc.links()
    assert links and all(h.startswith("#") for h in links)
    assert {h[1:] for h in links} <= doc.ids()


def test_scope_and_missing_exports(monthly):
    con, doc = monthly["con"], monthly["doc"]
    facts = dict(r[:2] for r in doc.tables_in("scope", "facts")[0].rows)
    assert int(facts["Customer tenants assessed"]) == len(customers(con, SNAP))
    # The report's list of tenants with an export missing agrees with the COVERAGE-GAP rule.
    gaps = {
        t
        for (t,) in con.execute(
            "SELECT customer_tenant_id FROM findings "
            "WHERE snapshot = ? AND rule_id = 'COVERAGE-GAP'",
            [SNAP],
        ).fetchall()
    }
    shown = [r["Tenant id"] for r in doc.table("scope", "coverage").dicts()]
    assert sorted(shown) == sorted(gaps) and GAP_TENANT in gaps
    gap = next(r for r in doc.table("scope", "coverage").dicts() if r["Tenant id"] == GAP_TENANT)
    assert gap["Customer"] == "Unexported Customer Gap"
    assert gap["Missing exports"] == "Azure role assignments, directory role listing"


def test_summary_counts_and_charts(monthly):
    con, doc = monthly["con"], monthly["doc"]
    found = open_findings(con, SNAP)
    table = doc.table("summary", "severity-counts")
    assert [(r[0].lower(), int(r[1])) for r in table.rows] == [
        (s, sum(1 for f in found if f[1] == s)) for s in SEVERITIES
    ]
    rule_rows = doc.table("summary", "rule-counts").dicts()
    by_rule = {r["Rule"]: int(r["Open findings"]) for r in rule_rows}
    assert by_rule == {rid: sum(1 for f in found if f[0] == rid) for rid in {f[0] for f in found}}
    # Change since October, computed here from the fingerprints of both snapshots: new and
    # still open among the open findings (they add up to them), resolved among all.
    fps = {
        (s, only_open): {
            fp
            for (fp,) in con.execute(
                "SELECT fingerprint FROM findings WHERE snapshot = ? AND (status = 'open' OR ?)",
                [s, not only_open],
            ).fetchall()
        }
        for s in (PREV, SNAP)
        for only_open in (True, False)
    }
    now_open, now, before = fps[SNAP, True], fps[SNAP, False], fps[PREV, False]
    assert now_open != now  # a suppressed finding, for the counts to tell the difference
    change = {r[0]: int(r[1]) for r in doc.table("summary", "change-counts").rows}
    assert change == {
        "new": len(now_open - before),
        "resolved": len(before - now),
        "still open": len(now_open & before),
    }
    assert change["new"] + change["still open"] == len(found)
    assert change["new"] >= 1 and change["resolved"] >= 1  # the estate edits made both happen
    # Charts are inline SVG whose bars carry the same numbers.
    svgs = [e for e in doc.elements if e.tag == "svg" and e.section == "summary"]
    assert len(svgs) == 3
    rects = [e for e in doc.elements if e.tag == "rect" and e.section == "summary"]
    assert len(rects) == len(SEVERITIES) + 3 + len(by_rule)
    widths = [float(r.attrs["width"]) for r in rects[: len(SEVERITIES)]]
    counts = [int(r[1]) for r in table.rows]
    assert widths.index(max(widths)) == counts.index(max(counts))


def test_every_open_finding_is_listed_under_its_rule(monthly):
    con, doc = monthly["con"], monthly["doc"]
    found = open_findings(con, SNAP)
    rules = rules_by_id()
    for rule_id in {f[0] for f in found}:
        tables = doc.tables_in("findings", "findings")
        table = next(t for t in tables if t.article == f"rule-{rule_id}")
        assert sorted(table.column("Finding")) == sorted(f[3] for f in found if f[0] == rule_id)
        heading = next(h for h in doc.headings_in("h3") if h.startswith(rule_id + ":"))
        assert rules[rule_id].name in heading
    # Remediation steps are numbered, and each rule lists its controls.
    steps = [e for e in doc.elements if e.tag == "ol" and e.section == "findings"]
    assert len(steps) == len({f[0] for f in found})


def test_customer_table_counts_and_anchors(monthly):
    con, doc = monthly["con"], monthly["doc"]
    found = open_findings(con, SNAP)
    rows = doc.table("customers", "customers").dicts()
    names = {c[0]: c[1] for c in customers(con, SNAP)}
    assert sorted(r["Customer"] for r in rows) == sorted(names.values())
    by_name = {r["Customer"]: r for r in rows}
    for tenant_id, name in names.items():
        mine = [f for f in found if f[2] == tenant_id]
        assert int(by_name[name]["Open"]) == len(mine), name
        for sev in SEVERITIES:
            assert int(by_name[name][sev]) == sum(1 for f in mine if f[1] == sev)
        if mine:  # the name links to that customer's findings
            assert f"customer-{tenant_id}" in doc.ids()
    suppressed = doc.table("suppressed", "suppressed").dicts()
    assert [(r["Customer"], r["Owner"], r["Expires"]) for r in suppressed] == [
        ("Wingtip Industries", "secops@example.com", "2027-03-31")
    ]


def test_framework_sections(monthly):
    doc = monthly["doc"]
    found = open_findings(monthly["con"], SNAP)
    rules = rules_by_id()
    articles = [t.article for t in doc.tables_in("frameworks", "framework-controls")]
    assert articles == [f"framework-{fid}" for fid in frameworks()]
    for fid, fw in frameworks().items():
        table = next(t for t in doc.tables_in("frameworks") if t.article == f"framework-{fid}")
        assert table.column("Control") == list(fw.controls)
        for row in table.dicts():
            mapped = {r.id for r in rules.values() if f"{fid}:{row['Control']}" in r.controls}
            assert int(row["Open findings"]) == sum(1 for f in found if f[0] in mapped)
            if int(row["Open findings"]) > 3:  # the HTML names the first findings of each control
                assert "more, listed under their rules above" in row["Title"]


def test_manifest(monthly):
    con, doc = monthly["con"], monthly["doc"]
    rows = doc.table("manifest", "manifest").dicts()
    expected = con.execute(
        "SELECT path, kind, row_count, sha256 FROM source_files WHERE snapshot = ? "
        "ORDER BY path, source_file_id",
        [SNAP],
    ).fetchall()
    assert [(r["File"], r["Kind"], int(r["Rows"]), r["SHA-256"]) for r in rows] == expected


def test_pdf_pages_toc_running_header_and_limit(monthly):
    pdf, doc = monthly["pdf"], monthly["doc"]
    pages = [p.extract_text() for p in pdf.pages]
    n = len(pages)
    assert n > 1
    assert all(float(p.mediabox.width) == 612 for p in pdf.pages)  # --paper letter
    for i, text in enumerate(pages, 1):
        assert f"Page {i} of {n}" in text
        assert "Partner access report" in text and "Snapshot 2026-11" in text
    full = "\n".join(pages)
    # The contents stand alone on the first page, each entry with its page at the right edge
    # (no dot leaders: WeasyPrint draws one text box per dot).
    first = pdf.pages[0].extract_text(extraction_mode="layout")
    contents = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^\s*(\S.*?\S) {3,}(\d+)$", first, flags=re.MULTILINE)
    }
    assert "Customer tenants assessed" not in pages[0]  # scope and coverage start on page 2
    for heading in (
        "Scope and coverage",
        "Executive summary",
        "Findings by rule",
        "Compliance frameworks",
        "Appendix: inputs and run",
    ):
        assert heading in contents, f"no table-of-contents entry with a page number for {heading}"
        assert heading in pages[contents[heading] - 1]
    # Per rule, the first PDF_LIMIT findings of the HTML table are in the PDF, the rest are
    # not, and the PDF says where the full list is.
    flat = squash(full)
    cut = 0
    for table in doc.tables_in("findings", "findings"):
        titles = table.column("Finding")
        for title in titles[:PDF_LIMIT]:
            assert squash(title) in flat
        if len(titles) > PDF_LIMIT:
            for title in titles[PDF_LIMIT:]:
                assert squash(title) not in flat
            note = f"The PDF lists {PDF_LIMIT} of {len(titles)} findings of this rule"
            assert squash(note) in flat
            cut += 1
    assert cut, "no rule has more findings than the PDF limit: the limit is untested"
    # findings.csv names only the customers with findings: the customers' note sends the
    # reader to the HTML report alone (it said findings.csv held the full list too).
    assert squash("customers; the full list is in the HTML report.") in flat
    assert squash("customers; the full list is in the HTML report and") not in flat
    assert "Findings by customer" not in full  # HTML only: it repeats every finding


def test_framework_filter(monthly, runner, tmp_path):
    result = runner.invoke(
        cli,
        [
            "report",
            "monthly",
            "--db",
            str(monthly["db"]),
            "--format",
            "html",
            "--framework",
            "cis-m365",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = ReportDoc((tmp_path / "report.html").read_text(encoding="utf-8"))
    mapped = {
        r.id for r in rules_by_id().values() if any(c.startswith("cis-m365:") for c in r.controls)
    }
    shown = {a[len("rule-") :] for a in (t.article for t in doc.tables_in("findings", "findings"))}
    expected = {f[0] for f in open_findings(monthly["con"], SNAP) if f[0] in mapped}
    assert shown == expected
    assert [t.article for t in doc.tables_in("frameworks")] == ["framework-cis-m365"]


def test_unknown_framework_is_a_usage_error(monthly, runner, tmp_path):
    result = runner.invoke(
        cli,
        [
            "report",
            "monthly",
            "--db",
            str(monthly["db"]),
            "--format",
            "html",
            "--framework",
            "nope",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith("Error: unknown framework 'nope'; known: ")


def test_long_tables_repeat_their_header_on_every_page(monthly, tmp_path):
    """The customer table of a large estate breaks across pages with its header repeated."""
    from dataclasses import replace as copy

    from dapaudit.report.model import Branding, ReportView, build_monthly
    from dapaudit.report.render import render_html, write_pdf

    model = build_monthly(monthly["con"], SNAP, branding=Branding("Big estate", ""))
    template = model.customers[0]
    model.customers = [copy(template, name=f"Customer number {i:03d}") for i in range(70)]
    html = render_html("monthly.html", r=model, view=ReportView("pdf", "A4", 70))
    write_pdf(html, tmp_path / "big.pdf")
    pages = [squash(p.extract_text()) for p in pypdf.PdfReader(tmp_path / "big.pdf").pages]
    holding = [p for p in pages if "Customernumber" in p]
    assert len(holding) > 1
    for text in holding:
        assert squash("Customer Domain critical high medium low info Open Suppressed") in text
    assert all(f"Customernumber{i:03d}" in "".join(holding) for i in range(70))


def test_review_of_a_customer_without_exports_says_what_is_missing(monthly, runner, tmp_path):
    result = runner.invoke(
        cli,
        [
            "report",
            "tenant",
            GAP_TENANT,
            "--db",
            str(monthly["db"]),
            "--format",
            "html",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.iterdir()
    doc = ReportDoc(path.read_text(encoding="utf-8"))
    coverage = {r["Export"]: r["Status"] for r in doc.table("coverage", "coverage").dicts()}
    assert coverage["directory role listing"] == "missing"
    assert coverage["Azure role assignments"] == "missing"
    assert "Missing exports: directory role listing, Azure role assignments." in doc.text


def test_a_role_listing_without_its_last_page_is_said_incomplete_not_missing(runner, tmp_path):
    """A role listing read but cut short (its last page missing) counts as no role listing,
    but the report and COVERAGE-GAP say it is incomplete: it was exported, in part."""
    con = database(
        tmp_path / "a.duckdb", [(SNAP, date(2026, 11, 30), real_estate_cut_short(tmp_path / "in"))]
    )
    (title,) = con.execute(
        "SELECT title FROM findings WHERE rule_id = 'COVERAGE-GAP' AND customer_tenant_id = ?",
        [TREY],
    ).fetchone()
    assert title == (
        "Trey Research lacks a complete directory role listing (the one exported is missing its "
        "last page), so partner access to it could not be fully assessed."
    )
    con.close()
    out = tmp_path / "report"
    result = runner.invoke(
        cli,
        [
            "report",
            "monthly",
            "--db",
            str(tmp_path / "a.duckdb"),
            "--format",
            "html",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = ReportDoc((out / "report.html").read_text(encoding="utf-8"))
    gaps = {r["Tenant id"]: r["Missing exports"] for r in doc.table("scope", "coverage").dicts()}
    assert (
        gaps[TREY] == "directory role listing (incomplete: a Graph listing without its last page)"
    )


def test_findings_files_beside_the_report_hold_every_finding(monthly):
    import csv
    import json

    out, con = monthly["out"], monthly["con"]
    total = con.execute("SELECT count(*) FROM findings WHERE snapshot = ?", [SNAP]).fetchone()[0]
    with (out / "findings.csv").open(encoding="utf-8", newline="") as f:
        assert len(list(csv.DictReader(f))) == total
    assert len(json.loads((out / "findings.json").read_text(encoding="utf-8"))) == total


def test_pdf_manifest_of_many_files_is_given_per_kind(monthly):
    """A real-format estate reads one role listing per customer: past 100 files the PDF gives
    files and rows per kind (bounded by the number of kinds), the HTML every file."""
    from dataclasses import replace as copy

    from dapaudit.report.model import Branding, ReportView, build_monthly
    from dapaudit.report.render import render_html

    model = build_monthly(monthly["con"], SNAP, branding=Branding("Big estate", ""))
    first = model.manifest[0]
    model.manifest = [
        copy(first, path=f"customers/{i:04d}/roleAssignments.json", kind="graph.role_assignments")
        for i in range(150)
    ] + [copy(first, path="azure/az-account-list.json", kind="azure.accounts", rows=7)]
    pdf_view = ReportDoc(render_html("monthly.html", r=model, view=ReportView("pdf", "A4", 25)))
    per_kind = pdf_view.table("manifest", "manifest-kinds").dicts()
    assert per_kind == [
        {"Kind": "azure.accounts", "Files": "1", "Rows": "7"},
        {"Kind": "graph.role_assignments", "Files": "150", "Rows": str(150 * first.rows)},
    ]
    assert "customers/0042/roleAssignments.json" not in pdf_view.text
    assert "every file with its path, rows and SHA-256 is in the HTML report" in pdf_view.text
    html_view = render_html("monthly.html", r=model, view=ReportView("html", "A4", None))
    assert all(f"customers/{i:04d}/roleAssignments.json" in html_view for i in range(150))


SEVERITY_CELL = re.compile(r"^(?:(critical|high|medium|low|info) (\d+))(?:, |$)")


def _severity_cell(text: str) -> dict[str, int]:
    """'high 2, medium 1' as {'high': 2, 'medium': 1}, refusing anything else."""
    counts: dict[str, int] = {}
    while text:
        match = SEVERITY_CELL.match(text)
        assert match, f"not a list of severities with counts: {text!r}"
        counts[match.group(1)] = int(match.group(2))
        text = text[match.end() :]
    return counts


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The sample estate with GDAP-EXPIRING overridden to critical: AZURE-LINGERING-PARTNER-ROLE
    keeps findings of two severities (Owner high, Reader medium), GDAP-EXPIRING's finding
    carries a severity other than the rule's default."""
    from click.testing import CliRunner

    tmp = tmp_path_factory.mktemp("graded")
    path = tmp / "dapaudit.toml"
    config = write_config(path, '[rules.GDAP-EXPIRING]\nseverity = "critical"\n')
    database(tmp / "g.duckdb", [(SNAP, date(2026, 11, 30), estate(tmp / "nov"))], config).close()
    out = tmp / "out"
    result = CliRunner().invoke(
        cli,
        ["report", "monthly", "--db", str(tmp / "g.duckdb"), "--config", str(path)]
        + ["--out", str(out), "--pdf-limit", "1"],
    )
    assert result.exit_code == 0, result.output
    from dapaudit import db

    con = db.connect(tmp / "g.duckdb", read_only=True)
    yield {
        "con": con,
        "doc": ReportDoc((out / "report.html").read_text(encoding="utf-8")),
        "pdf": squash(
            " ".join(p.extract_text() for p in pypdf.PdfReader(out / "report.pdf").pages)
        ),
    }
    con.close()


def test_rule_rows_show_their_findings_severities_and_add_up_to_the_summary(graded):
    con, doc = graded["con"], graded["doc"]
    found = open_findings(con, SNAP)
    rows = doc.table("summary", "rule-counts").dicts()
    shown = {r["Rule"]: _severity_cell(r["Severity"]) for r in rows}
    for r in rows:
        assert sum(shown[r["Rule"]].values()) == int(r["Open findings"]), r
    # Each rule's row holds its findings' own severities, worst first ...
    for rule_id, counts in shown.items():
        mine = [f[1] for f in found if f[0] == rule_id]
        expected = [(s, mine.count(s)) for s in SEVERITIES if s in mine]
        assert list(counts.items()) == expected, rule_id
    assert shown["AZURE-LINGERING-PARTNER-ROLE"] == {"high": 2, "medium": 1}
    assert shown["GDAP-EXPIRING"] == {"critical": 1}
    # ... so the rows of a severity add up to the summary's count of it.
    summary = {r[0]: int(r[1]) for r in doc.table("summary", "severity-counts").rows}
    assert summary == {s: sum(c.get(s, 0) for c in shown.values()) for s in SEVERITIES}
    # The rule's heading gives the same severities, never the rule's default alone; the
    # worst-graded rule leads the findings.
    for rule_id, counts in shown.items():
        heading = next(h for h in doc.headings_in("h3") if h.startswith(rule_id + ":"))
        assert heading.endswith(" " + ", ".join(counts)), heading
    assert doc.tables_in("findings", "findings")[0].article == "rule-GDAP-EXPIRING"
    # The PDF is the same HTML: its table says the same (in capitals, by the stylesheet).
    assert squash("high 2, medium 1 3") in graded["pdf"].lower()
    assert squash("critical 1 1") in graded["pdf"].lower()
