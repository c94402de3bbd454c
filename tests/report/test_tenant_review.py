"""The customer security review: what each partner can effectively do, and nothing at all
about any other customer. Expectations are read from the database of the sample estate.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pypdf
import pytest
from htmldoc import ReportDoc, squash
from reportkit import TREY, TREY_DOMAIN, real_estate_cut_short

from conftest import AS_OF, SAMPLE
from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.cli import cli
from dapaudit.config import Config
from dapaudit.ingest import ingest
from dapaudit.report.service import review_file_stem
from dapaudit.rules import rules_by_id

SNAP = "2026-11"
GLOBAL_ADMIN = "global_administrator"
# PDF renders cost a second or two each: the isolation check reads the PDFs of the customers
# with the most partner access (DAP or active GDAP), at most this many.
PDF_TENANTS = 2


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reviews")
    con = db.connect(tmp / "r.duckdb")
    ingest(con, [SAMPLE], snapshot=SNAP, as_of=AS_OF)
    analyze(con, SNAP, Config())
    con.close()
    from click.testing import CliRunner

    runner = CliRunner()
    out = tmp / "html"
    result = runner.invoke(
        cli,
        [
            "report",
            "tenant",
            "--all-tenants",
            "--db",
            str(tmp / "r.duckdb"),
            "--format",
            "html",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    con = db.connect(tmp / "r.duckdb", read_only=True)
    customers = con.execute(
        "SELECT tenant_id, display_name, default_domain FROM tenants "
        "WHERE snapshot = ? AND tenant_type = 'customer' ORDER BY tenant_id",
        [SNAP],
    ).fetchall()
    rich = [
        t
        for (t,) in con.execute(
            """SELECT customer_tenant_id FROM partner_access WHERE snapshot = ?
           GROUP BY customer_tenant_id
           HAVING bool_or(dap_enabled) OR sum(active_gdap_relationships) > 0
           ORDER BY customer_tenant_id LIMIT ?""",
            [SNAP, PDF_TENANTS],
        ).fetchall()
    ]
    pdf_out = tmp / "pdf"
    for tenant_id in rich:
        result = runner.invoke(
            cli,
            [
                "report",
                "tenant",
                tenant_id,
                "--db",
                str(tmp / "r.duckdb"),
                "--format",
                "pdf",
                "--out",
                str(pdf_out),
            ],
        )
        assert result.exit_code == 0, result.output
    files = {}
    for tenant_id, name, _ in customers:
        stem = review_file_stem(name, tenant_id)
        files[tenant_id] = (out / f"{stem}.html", pdf_out / f"{stem}.pdf")
    yield {
        "con": con,
        "customers": customers,
        "files": files,
        "rich": rich,
        "db": tmp / "r.duckdb",
        "out": out,
    }
    con.close()


def _doc(reviews, tenant_id) -> ReportDoc:
    return ReportDoc(reviews["files"][tenant_id][0].read_text(encoding="utf-8"))


def _run_and_review(runner, tmp_path, inputs: list, tenant: str, *more: str) -> ReportDoc:
    """`run` on `inputs` into tmp_path/x.duckdb, then the HTML review of `tenant` (and of
    `more` tenants: a list of reviews then)."""
    path = tmp_path / "x.duckdb"
    args = ["run", *map(str, inputs), "--as-of", str(AS_OF), "--db", str(path)]
    result = runner.invoke(cli, [*args, "--format", "html", "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    docs = []
    for one in (tenant, *more):
        result = runner.invoke(
            cli,
            ["report", "tenant", one, "--db", str(path), "--format", "html"]
            + ["--out", str(tmp_path / "r")],
        )
        assert result.exit_code == 0, result.output
        (page,) = (tmp_path / "r").glob(f"*{one.replace('-', '')}.html")
        docs.append(ReportDoc(page.read_text(encoding="utf-8")))
    return docs if more else docs[0]


def test_one_review_per_customer(reviews):
    written = sorted(p.name for p in reviews["out"].iterdir())
    assert written == sorted(f[0].name for f in reviews["files"].values())
    assert len(written) == len(reviews["customers"])


def test_every_global_admin_path_is_shown(reviews):
    con = reviews["con"]
    for tenant_id, name, _ in reviews["customers"]:
        doc = _doc(reviews, tenant_id)
        assert doc.headings_in("h1") == [f"Customer security review: {name}"]
        rows = doc.table("global-admins", "access").dicts()
        listed = con.execute(
            """SELECT principal_display_name FROM directory_role_members m
               JOIN ref_directory_roles r USING (role_template_id)
               WHERE m.snapshot = ? AND m.tenant_id = ? AND r.role_key = ?
               ORDER BY 1""",
            [SNAP, tenant_id, GLOBAL_ADMIN],
        ).fetchall()
        own = sorted(r["Holder"] for r in rows if r.get("Path", "").startswith("listed"))
        assert len(own) == len(listed)
        for holder, (display_name,) in zip(own, listed, strict=True):
            assert holder.startswith(display_name)
        dap_partners = con.execute(
            """SELECT p.partner_tenant_id, p.partner_name FROM partner_access p
               WHERE p.snapshot = ? AND p.customer_tenant_id = ? AND p.dap_enabled
               ORDER BY 1""",
            [SNAP, tenant_id],
        ).fetchall()
        implicit = [r for r in rows if r.get("Path", "").startswith("implicit through DAP")]
        assert sorted(r["Partner"] for r in implicit) == sorted(n for _, n in dap_partners)
        for partner_id, partner_name in dap_partners:
            users = [
                u
                for (u,) in con.execute(
                    """SELECT m.member_upn FROM partner_group_members m
                   JOIN partner_agent_groups g
                     ON g.snapshot = m.snapshot AND g.group_id = m.group_id
                   WHERE m.snapshot = ? AND g.partner_tenant_id = ?
                     AND g.agent_role = 'admin_agents' AND m.member_type = 'user'
                   ORDER BY 1""",
                    [SNAP, partner_id],
                ).fetchall()
            ]
            cell = next(r for r in implicit if r["Partner"] == partner_name)["Users behind it"]
            if users:
                for upn in users:
                    assert upn in cell
            else:
                assert cell == "members not exported (partner side)"


def test_partner_sections_and_findings(reviews):
    con = reviews["con"]
    for tenant_id, _, _ in reviews["customers"]:
        doc = _doc(reviews, tenant_id)
        partners = con.execute(
            "SELECT partner_tenant_id FROM partner_access WHERE snapshot = ? "
            "AND customer_tenant_id = ? ORDER BY 1",
            [SNAP, tenant_id],
        ).fetchall()
        access = {t.article for t in doc.tables_in("partners", "access")}
        assert access == {f"partner-{p}" for (p,) in partners}
        # Principals of a tenant that is no partner of this customer, listed in its roles.
        foreign = con.execute(
            """SELECT count(*) FROM directory_role_members m
               WHERE m.snapshot = $s AND m.tenant_id = $t
                 AND m.principal_organization_id <> m.tenant_id
                 AND m.principal_organization_id NOT IN (
                     SELECT partner_tenant_id FROM partner_access
                     WHERE snapshot = $s AND customer_tenant_id = $t)""",
            {"s": SNAP, "t": tenant_id},
        ).fetchone()[0]
        shown_foreign = doc.tables_in("partners", "foreign-access")
        assert sum(len(t.rows) for t in shown_foreign) == foreign
        gdap = con.execute(
            "SELECT relationship_id FROM gdap_relationships WHERE snapshot = ? "
            "AND customer_tenant_id = ? ORDER BY 1",
            [SNAP, tenant_id],
        ).fetchall()
        shown = [c for t in doc.tables_in("partners", "gdap") for c in t.column("Relationship")]
        assert len(shown) == len(gdap)
        for (rel,) in gdap:
            assert any(rel in c for c in shown)
        titles = [
            t
            for (t,) in con.execute(
                "SELECT title FROM findings WHERE snapshot = ? AND customer_tenant_id = ? "
                "AND status = 'open' ORDER BY position",
                [SNAP, tenant_id],
            ).fetchall()
        ]
        cells = [c for t in doc.tables_in("findings", "findings") for c in t.column("Finding")]
        assert len(cells) == len(titles)
        for title in titles:
            assert any(c.startswith(title) for c in cells)
        steps = [e for e in doc.elements if e.tag == "ol" and e.section == "findings"]
        assert len(steps) == len({t.article for t in doc.tables_in("findings", "findings")})
        subs = con.execute(
            "SELECT count(*) FROM azure_subscriptions WHERE snapshot = ? AND tenant_id = ?",
            [SNAP, tenant_id],
        ).fetchone()[0]
        assert len(doc.table("azure", "azure").rows) == max(subs, 1)


def _identifiers(con, tenant_id: str) -> set[str]:
    """Every id, name, domain and user a customer's own exports hold about it."""
    rows = con.execute(
        """SELECT tenant_id, display_name, default_domain FROM tenants
           WHERE snapshot = $s AND tenant_id = $t
           UNION ALL SELECT principal_id, principal_display_name, principal_upn
           FROM directory_role_members WHERE snapshot = $s AND tenant_id = $t
           UNION ALL SELECT principal_id, principal_display_name, assignment_id
           FROM azure_role_assignments WHERE snapshot = $s AND tenant_id = $t
           UNION ALL SELECT subscription_id, display_name, NULL
           FROM azure_subscriptions WHERE snapshot = $s AND tenant_id = $t
           UNION ALL SELECT relationship_id, display_name, NULL
           FROM gdap_relationships WHERE snapshot = $s AND customer_tenant_id = $t""",
        {"s": SNAP, "t": tenant_id},
    ).fetchall()
    return {v.lower() for row in rows for v in row if v}


def _partner_side(con) -> set[str]:
    """Ids and names of the partners and their groups: shared by every customer they serve."""
    rows = con.execute(
        """SELECT tenant_id, display_name, default_domain FROM tenants
           WHERE snapshot = $s AND tenant_type = 'partner'
           UNION ALL SELECT group_id, display_name, partner_tenant_id
           FROM partner_agent_groups WHERE snapshot = $s
           UNION ALL SELECT member_id, member_display_name, member_upn
           FROM partner_group_members WHERE snapshot = $s""",
        {"s": SNAP},
    ).fetchall()
    return {v.lower() for row in rows for v in row if v}


def test_a_review_holds_nothing_about_another_customer(reviews):
    con = reviews["con"]
    partner_side = _partner_side(con)
    ids = {t: _identifiers(con, t) - partner_side for t, _, _ in reviews["customers"]}
    checked_pdfs = 0
    for tenant_id, _, _ in reviews["customers"]:
        # Strings that also belong to this customer (a shared display name such as
        # "Global Admin One") prove nothing; everything else of the others must be absent.
        foreign = set().union(*(v for t, v in ids.items() if t != tenant_id)) - ids[tenant_id]
        assert foreign
        html_path, pdf_path = reviews["files"][tenant_id]
        page = html.unescape(html_path.read_text(encoding="utf-8")).lower()
        leaked = sorted(s for s in foreign if s in page)
        assert not leaked, f"review of {tenant_id} names other customers: {leaked}"
        if pdf_path.exists():
            checked_pdfs += 1
            text = squash(" ".join(p.extract_text() for p in pypdf.PdfReader(pdf_path).pages))
            leaked = sorted(s for s in foreign if squash(s) in text.lower())
            assert not leaked, f"PDF review of {tenant_id} names other customers: {leaked}"
            assert squash(ids[tenant_id] and tenant_id) in text  # and it does name its own
    assert checked_pdfs == len(reviews["rich"]) > 0


def test_review_pdf_pages_and_headings(reviews):
    tenant_id = reviews["rich"][0]
    name = next(n for t, n, _ in reviews["customers"] if t == tenant_id)
    pdf = pypdf.PdfReader(reviews["files"][tenant_id][1])
    pages = [p.extract_text() for p in pdf.pages]
    assert len(pages) > 1
    assert all(round(float(p.mediabox.width)) == 595 for p in pdf.pages)  # A4 by default
    for i, text in enumerate(pages, 1):
        assert f"Page {i} of {len(pages)}" in text
        assert f"Customer security review: {name}" in text and "Snapshot 2026-11" in text
    full = "\n".join(pages)
    for heading in (
        "Who is Global Administrator",
        "Partners with access",
        "Azure subscriptions",
        "Findings and remediation",
        "Coverage",
    ):
        assert heading in full


def test_tenant_by_domain_and_unknown_tenant(reviews, runner, tmp_path):
    tenant_id, name, domain = reviews["customers"][0]
    result = runner.invoke(
        cli,
        [
            "report",
            "tenant",
            domain.upper(),
            "--db",
            str(reviews["db"]),
            "--format",
            "html",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == [review_file_stem(name, tenant_id) + ".html"]
    result = runner.invoke(
        cli,
        [
            "report",
            "tenant",
            "nobody.example",
            "--db",
            str(reviews["db"]),
            "--format",
            "html",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: no customer tenant 'nobody.example' in snapshot 2026-11 "
        "(give its tenant id or domain)"
    )
    # A partner is not a customer: no review of a partner tenant.
    partner = (
        reviews["con"]
        .execute(
            "SELECT default_domain FROM tenants WHERE snapshot = ? AND tenant_type = 'partner' "
            "ORDER BY 1 LIMIT 1",
            [SNAP],
        )
        .fetchone()[0]
    )
    result = runner.invoke(
        cli,
        [
            "report",
            "tenant",
            partner,
            "--db",
            str(reviews["db"]),
            "--format",
            "html",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    # ... and the message says it is a partner (it said no such customer tenant existed).
    assert f"Error: '{partner}' is a partner tenant (" in result.output
    assert "not a customer: reviews are of customer tenants" in result.output


def test_tenant_or_all_tenants_is_required(reviews, runner, tmp_path):
    for args in ([], ["x", "--all-tenants"]):
        result = runner.invoke(
            cli, ["report", "tenant", *args, "--db", str(reviews["db"]), "--out", str(tmp_path)]
        )
        assert result.exit_code == 2
        assert result.output.splitlines()[-1] == (
            "Error: give one TENANT (id or domain) or --all-tenants"
        )


def test_file_stem_is_safe():
    tid = "0e6249f8-cf40-5b6e-9138-82b4a7337e4f"
    for name in (
        "../../etc/passwd",
        "..",
        "a/b\\c",
        "C:\\x",
        "\x00\n",
        "Ünïcödé GmbH",
        "",
        "x" * 500,
        "CON",
    ):
        stem = review_file_stem(name, tid)
        assert "/" not in stem and "\\" not in stem and ".." not in stem
        assert stem.startswith("review-") and stem.endswith("-0e6249f8cf405b6e913882b4a7337e4f")
        assert len(stem) <= 80
        assert Path(stem).name == stem
    assert review_file_stem("Ünïcödé GmbH", tid) == (
        "review-unicode-gmbh-0e6249f8cf405b6e913882b4a7337e4f"
    )
    # Names without Latin letters, ids alike in their first digits: still two files.
    assert review_file_stem("Ромашка ООО", "aaaaaaaa-1111-4111-8111-111111111111") != (
        review_file_stem("Василёк АО", "aaaaaaaa-2222-4222-8222-222222222222")
    )


def test_framework_section_lists_this_tenants_findings_per_control(reviews):
    """Issue 10: each control, its rules and the tenant's own open findings under it."""
    from dapaudit.rules import frameworks, rules_by_id

    con = reviews["con"]
    rules = rules_by_id()
    for tenant_id, _, _ in reviews["customers"]:
        doc = _doc(reviews, tenant_id)
        tables = doc.tables_in("frameworks", "framework-controls")
        assert len(tables) == len(frameworks())
        findings = con.execute(
            "SELECT rule_id, title FROM findings WHERE snapshot = ? AND customer_tenant_id = ? "
            "AND status = 'open'",
            [SNAP, tenant_id],
        ).fetchall()
        cells = " ".join(squash(c) for t in tables for c in t.column("Open findings"))
        for rule_id, title in findings:
            if rules[rule_id].controls:
                assert squash(html.unescape(title)) in cells, (tenant_id, rule_id)
        if not findings:
            assert set(cells.split()) == {"none"}


def test_rule_headings_give_the_severities_of_this_tenants_findings(reviews):
    """A rule's heading names the severities its findings here carry, not the rule's default:
    Wingtip's lingering role is a Reader (medium) under a rule that defaults to high."""
    from dapaudit.rules import SEVERITIES

    con = reviews["con"]
    graded = 0
    for tenant_id, _, _ in reviews["customers"]:
        doc = _doc(reviews, tenant_id)
        for table in doc.tables_in("findings", "findings"):
            rule_id = table.article.removeprefix("rule-")
            carried = {
                s
                for (s,) in con.execute(
                    "SELECT severity FROM findings WHERE snapshot = ? AND customer_tenant_id = ? "
                    "AND rule_id = ? AND status = 'open'",
                    [SNAP, tenant_id, rule_id],
                ).fetchall()
            }
            assert {c.lower() for c in table.column("Severity")} == carried
            rule = rules_by_id()[rule_id]
            worst_first = ", ".join(s for s in SEVERITIES if s in carried)
            assert f"{rule.name} {worst_first} {rule_id}" in doc.headings_in("h3")
            graded += carried != {rule.severity}
    assert graded, "no finding of the sample carries a severity other than its rule's default"


def _without_time(text: str) -> str:
    # The generation time is the only thing allowed to differ between two runs.
    return re.sub(r"generated [0-9-]+ [0-9:]+ UTC", "generated", text)


def test_all_tenants_writes_what_each_single_review_writes(reviews, runner, tmp_path):
    """--all-tenants reads every customer's rows with one query per section and groups them in
    Python; `report tenant ID` reads one customer. Both must give the same document, byte for
    byte: a row grouped under the wrong customer, or in another order, would differ here."""
    assert len(reviews["customers"]) > 2
    for tenant_id, _, _ in reviews["customers"]:
        result = runner.invoke(
            cli,
            [
                "report",
                "tenant",
                tenant_id,
                "--db",
                str(reviews["db"]),
                "--format",
                "html",
                "--out",
                str(tmp_path),
            ],
        )
        assert result.exit_code == 0, result.output
        batch_html = reviews["files"][tenant_id][0]
        single = (tmp_path / batch_html.name).read_text(encoding="utf-8")
        assert _without_time(single) == _without_time(batch_html.read_text(encoding="utf-8"))


def test_reviews_read_in_small_ranges_are_the_same(reviews, monkeypatch, tmp_path):
    """The customers are read a range at a time; a range boundary must not move any row."""
    from dapaudit.report import reviews as reviews_module
    from dapaudit.report.parallel import write_all_reviews

    monkeypatch.setattr(reviews_module, "LOAD_BATCH", 2)
    run = write_all_reviews(reviews["db"], SNAP, tmp_path, ["html"], Config(), jobs=1)
    assert run.reviews == len(reviews["customers"]) > 2 * 2
    for html_path, _ in reviews["files"].values():
        small = (tmp_path / html_path.name).read_text(encoding="utf-8")
        assert _without_time(small) == _without_time(html_path.read_text(encoding="utf-8"))


def test_review_pdf_is_lean_and_leaves_fonttools_as_it_was(reviews):
    """The review PDF writer subsets fonts its own way (only around its own writes), still
    embeds text that extracts (the isolation test reads it), and prints the frameworks
    compactly: counts and rules, not every finding again."""
    from fontTools import subset
    from weasyprint.pdf.fonts import Font

    from dapaudit.report import review_pdf

    originals = (subset.Subsetter.subset, Font.subset)
    with review_pdf._lean_font_subsetting():
        assert subset.Subsetter.subset.__module__ == review_pdf.__name__
        assert Font.subset.__module__ == review_pdf.__name__
    assert (subset.Subsetter.subset, Font.subset) == originals
    tenant_id = reviews["rich"][0]
    pdf_path = reviews["files"][tenant_id][1]
    # Subset fonts: whole DejaVu fonts alone would make it over 1 MB.
    assert pdf_path.stat().st_size < 400_000
    text = squash(" ".join(p.extract_text() for p in pypdf.PdfReader(pdf_path).pages))
    assert squash("The PDF gives the number of open findings under each control") in text
    open_rules = (
        reviews["con"]
        .execute(
            "SELECT DISTINCT rule_id FROM findings WHERE snapshot = ? AND customer_tenant_id = ? "
            "AND status = 'open' ORDER BY 1",
            [SNAP, tenant_id],
        )
        .fetchall()
    )
    assert open_rules and all(squash(r) in text for (r,) in open_rules)


def test_review_pdf_leaves_an_unknown_weasyprint_font_layout_alone(monkeypatch):
    """The font-subset shortcut patches WeasyPrint internals: on any other layout of them
    (another WeasyPrint version) Font.subset is not touched and WeasyPrint subsets as usual."""
    from weasyprint.pdf.fonts import Font

    from dapaudit.report import review_pdf

    assert review_pdf._known_font_layout(Font)  # the layout the shortcut was written against

    class OtherFont:
        def subset(self, cmap):  # another signature
            return None

    assert not review_pdf._known_font_layout(OtherFont)
    monkeypatch.setattr(review_pdf, "_known_font_layout", lambda font_class: False)
    original = Font.subset
    with review_pdf._lean_font_subsetting():
        assert Font.subset is original
    assert Font.subset is original


def test_review_pdf_collects_garbage_once_per_review():
    """While a review renders the cyclic collector is paused; on the way out one collection of
    the youngest generation frees the review's cycles, and the collector is on again. A caller
    that paused the collector itself keeps it paused, with nothing collected behind its back."""
    import gc
    import weakref

    from dapaudit.report import review_pdf

    class Node:
        pass

    def cycle() -> weakref.ref:
        a, b = Node(), Node()
        a.other, b.other = b, a
        return weakref.ref(a)

    assert gc.isenabled()
    with review_pdf._one_collection_per_review():
        assert not gc.isenabled()
        inside = cycle()
        assert inside() is not None  # nothing collects it while the review renders
    assert gc.isenabled()
    assert inside() is None

    gc.disable()
    try:
        with review_pdf._one_collection_per_review():
            kept = cycle()
        assert not gc.isenabled() and kept() is not None
    finally:
        gc.enable()
        gc.collect()


def test_review_pdf_contents_give_each_sections_page(reviews):
    """The contents stand alone on the first page, each section with the page it starts on."""
    tenant_id = reviews["rich"][0]
    pdf = pypdf.PdfReader(reviews["files"][tenant_id][1])
    first = pdf.pages[0].extract_text(extraction_mode="layout")
    contents = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\S.*?\S) {3,}(\d+)$", first, flags=re.MULTILINE)
    }
    sections = [
        "Summary",
        "Who is Global Administrator",
        "Partners with access",
        "The tenant's own role holders",
        "Azure subscriptions",
        "Findings and remediation",
        "Compliance frameworks",
        "Coverage",
    ]
    assert sorted(contents.keys() & set(sections)) == sorted(sections), first
    assert "Tenant id" not in pdf.pages[0].extract_text()  # the summary starts on page 2
    # Each heading is a line of its own on the page the contents name, and not before it.
    pages = [set(p.extract_text().splitlines()) for p in pdf.pages]
    for heading in sections:
        starts = next(i for i, lines in enumerate(pages[1:], 2) if heading in lines)
        assert contents[heading] == starts, heading


def test_report_css_writes_its_colours_out():
    """WeasyPrint resolves a var() again for every element and property using it: the shared
    stylesheet spells its colours out (a custom property would cost every PDF page)."""
    from dapaudit.paths import TEMPLATES_DIR

    for sheet in ("report.css", "review-print.css"):
        assert "var(--" not in (TEMPLATES_DIR / sheet).read_text(encoding="utf-8"), sheet


def test_review_pdf_gives_each_framework_control_as_one_paragraph(reviews):
    """The PDF prints each framework control as a paragraph (cheaper to lay out than narrow
    table cells) that still carries every fact of the HTML table's row: control, title, rules,
    then this tenant's open findings under it."""
    tenant_id = reviews["rich"][0]
    pdf = pypdf.PdfReader(reviews["files"][tenant_id][1])
    text = squash(" ".join(p.extract_text() for p in pdf.pages))
    rows = [
        r
        for t in _doc(reviews, tenant_id).tables_in("frameworks", "framework-controls")
        for r in t.dicts()
    ]
    assert rows
    for row in rows:
        paragraph = f"{row['Control']} {row['Title']} Rules: {row['Rules']} Open findings:"
        assert squash(paragraph) in text, paragraph


def test_all_tenants_pdf_carries_the_single_review_pdfs_text(reviews, monkeypatch, tmp_path):
    """`--all-tenants` (one WeasyPrint setup reused per process) writes each PDF with the text,
    pages and title of that customer's own `report tenant ID` PDF."""
    from dapaudit.report import parallel

    rich = reviews["rich"]
    customers = parallel.customer_tenants
    monkeypatch.setattr(
        parallel,
        "customer_tenants",
        lambda con, snap: [c for c in customers(con, snap) if c[0] in rich],
    )
    run = parallel.write_all_reviews(reviews["db"], SNAP, tmp_path, ["pdf"], Config(), jobs=1)
    assert run.reviews == len(rich) > 0

    def pages(path: Path) -> tuple[str | None, list[str]]:
        pdf = pypdf.PdfReader(path)
        texts = [re.sub(r"generated [0-9-]+ [0-9:]+ UTC", "", p.extract_text()) for p in pdf.pages]
        return pdf.metadata.title, texts

    names = {t: n for t, n, _ in reviews["customers"]}
    for tenant_id in rich:
        single = reviews["files"][tenant_id][1]
        title, texts = pages(tmp_path / single.name)
        assert (title, texts) == pages(single)
        assert names[tenant_id] in title and f"Page 1 of {len(texts)}" in texts[0]


def test_the_same_review_pdf_written_twice_is_the_same_bytes(runner, tmp_path):
    """fontTools stamps the time of subsetting into each embedded font: written a second or
    more apart, by two processes, the same review was different bytes."""
    import os
    import subprocess
    import sys
    import time

    path = tmp_path / "d.duckdb"
    args = ["run", str(SAMPLE), "--as-of", str(AS_OF), "--db", str(path), "--format", "html"]
    assert runner.invoke(cli, [*args, "--out", str(tmp_path / "m")]).exit_code == 0
    written = []
    if time.gmtime().tm_sec > 45:  # both in one minute: the review states the minute written
        time.sleep(61 - time.gmtime().tm_sec)
    for n in range(2):
        if n:
            time.sleep(1.1)  # the font's timestamp counts seconds
        out = tmp_path / f"r{n}"
        subprocess.run(
            [sys.executable, "-m", "dapaudit.cli", "report", "tenant", "contoso.onmicrosoft.com"]
            + ["--db", str(path), "--format", "pdf", "--out", str(out)],
            check=True,
            capture_output=True,
            env={k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"},
        )
        (pdf,) = out.glob("*.pdf")
        written.append(pdf.read_bytes())
    assert written[0] == written[1]


def test_a_review_states_source_date_epoch_as_its_time_of_generation(runner, tmp_path, monkeypatch):
    # The reproducible-builds convention: with it, two reviews written minutes apart are the
    # same bytes (they said the minute each was written).
    path = tmp_path / "d.duckdb"
    args = ["run", str(SAMPLE), "--as-of", str(AS_OF), "--db", str(path), "--format", "html"]
    assert runner.invoke(cli, [*args, "--out", str(tmp_path / "m")]).exit_code == 0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796083200")
    result = runner.invoke(
        cli,
        ["report", "tenant", "contoso.onmicrosoft.com", "--db", str(path), "--format", "html"]
        + ["--out", str(tmp_path / "r")],
    )
    assert result.exit_code == 0, result.output
    (html,) = (tmp_path / "r").glob("*.html")
    assert "generated 2026-12-01 00:00 UTC" in html.read_text(encoding="utf-8")


def test_an_agent_group_exported_under_two_names_holds_the_role_once(tmp_path):
    """The same AdminAgents group in two exports under two names ('AdminAgents', 'AdminAgents
    (NW)') was listed twice in Contoso's 'who is Global Administrator', each time with the
    same three users, while the findings named one group."""
    from dapaudit.report.reviews import load_review_rows

    extra = tmp_path / "agent_groups_again.csv"
    extra.write_text(
        "partner_tenant_id,group_id,display_name,agent_role\n"
        "d6f7fc44-c24f-50b5-803c-2a06b9253355,d899e4a6-e77b-5d09-93fa-4c1d3b9f4af5,"
        "AdminAgents (NW),admin_agents\n",
        encoding="utf-8",
    )
    contoso = "0e6249f8-cf40-5b6e-9138-82b4a7337e4f"
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [SAMPLE, extra], snapshot="2026-11", as_of=AS_OF)
    access = load_review_rows(con, "2026-11", contoso, contoso)[contoso].access
    implicit = [row for row in access if row[4] == "implicit_dap" and row[2]]  # GA, via DAP
    assert [(row[5], row[7]) for row in implicit] == [
        ("d899e4a6-e77b-5d09-93fa-4c1d3b9f4af5", "AdminAgents")
    ]
    con.close()


def test_a_role_listing_without_its_last_page_is_incomplete_not_missing(runner, tmp_path):
    """Trey Research's role listing was read, page 1 of it only: its coverage says so, with
    the file, rather than call the listing missing (as if never exported)."""
    estate = real_estate_cut_short(tmp_path / "in")
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [estate], snapshot=SNAP, as_of=AS_OF)
    analyze(con, SNAP, Config())
    con.close()
    args = ["--db", str(tmp_path / "x.duckdb"), "--format", "html", "--out", str(tmp_path / "r")]
    result = runner.invoke(cli, ["report", "tenant", TREY, *args])
    assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "r").glob("*.html")
    doc = ReportDoc(path.read_text(encoding="utf-8"))
    coverage = {r["Export"]: r for r in doc.table("coverage", "coverage").dicts()}
    assert coverage["directory role listing"]["Status"] == "incomplete (last page missing)"
    assert coverage["directory role listing"]["Files"] == str(
        estate / TREY_DOMAIN / "roleAssignments-page1.json"
    )
    assert coverage["Azure role assignments"]["Status"] == "present"
    assert (
        "Missing exports: directory role listing (incomplete: a Graph listing without its last "
        "page)." in doc.text
    )


VANARSDEL = "2d503444-abde-5514-9504-e22738479760"


def test_a_dap_status_no_export_tells_is_unknown_not_not_held(reviews, runner, tmp_path):
    """A partner list with an empty DAP flag (as Graph contracts give it) says nothing about
    DAP: the review says so, and does not claim the partner cannot administer the tenant. The
    rules keep counting it as not held: their findings are those of the flag saying false."""
    import shutil

    estate = tmp_path / "estate"
    shutil.copytree(SAMPLE, estate)
    csv_path = estate / "partner_relationships.csv"
    text = csv_path.read_text(encoding="utf-8")
    held = (
        f"{VANARSDEL},d6f7fc44-c24f-50b5-803c-2a06b9253355,Northwind Partners Ltd,reseller,false,"
    )
    assert held in text
    csv_path.write_text(text.replace(held, held.removesuffix("false,") + ","), encoding="utf-8")
    doc = _run_and_review(runner, tmp_path, [estate], VANARSDEL)
    path = tmp_path / "x.duckdb"
    facts = dict(r[:2] for r in doc.tables_in("partners", "facts")[0].rows)
    assert facts["Delegated admin privileges (DAP)"].startswith("unknown: no export tells")
    summary = dict(r[:2] for r in doc.table("summary", "facts").rows)
    assert summary["Partners holding DAP (implicit Global Administrator)"] == "0"
    assert summary["Partners whose DAP status is unknown (no export tells it)"] == "1"
    assert "DAP status unknown for Northwind Partners Ltd" in doc.text
    assert "not held" not in doc.text and "cannot administer" not in doc.text
    # The view tells the rules' FALSE from "no export says": only this pair is unknown.
    con = db.connect(path, read_only=True)
    try:
        unknown = con.execute(
            "SELECT customer_tenant_id, dap_enabled FROM partner_access "
            "WHERE snapshot = ? AND NOT dap_known",
            [SNAP],
        ).fetchall()
        found = con.execute(
            "SELECT rule_id, severity, customer_tenant_id, partner_tenant_id, subject, title, "
            "status FROM findings WHERE snapshot = ? ORDER BY position",
            [SNAP],
        ).fetchall()
    finally:
        con.close()
    assert unknown == [(VANARSDEL, False)]
    assert (
        found
        == reviews["con"]
        .execute(
            "SELECT rule_id, severity, customer_tenant_id, partner_tenant_id, subject, title, "
            "status FROM findings WHERE snapshot = ? ORDER BY position",
            [SNAP],
        )
        .fetchall()
    )
    # Where the flag says false, the review still says so.
    said = dict(r[:2] for r in _doc(reviews, VANARSDEL).tables_in("partners", "facts")[0].rows)
    assert said["Delegated admin privileges (DAP)"] == "not held"


def test_review_files_of_an_earlier_run_are_named_not_removed(reviews, runner, tmp_path):
    """A review's other format or a name its customer had before (the file name ends with the
    customer's id) is named on stderr and left; so, with --all-tenants, is the review of a
    customer no longer in scope. Another customer's review is none of a single review's
    business, and files that are no review are never named."""
    tenant_id, name, _ = next(c for c in reviews["customers"] if c[2].startswith("contoso"))
    stem = review_file_stem(name, tenant_id)
    other_id, other_name, _ = next(c for c in reviews["customers"] if c[0] != tenant_id)
    planted = [
        f"{stem}.pdf",  # the other format, of an earlier run
        f"review-contoso-old-name-{stem.rpartition('-')[2]}.html",  # the customer's name before
        f"review-contoso-ltd-{tenant_id[:8]}.html",  # as dapaudit versions before named it
        f"{review_file_stem(other_name, other_id)}.html",  # another customer's review
        "review-gone-customer-deadbeef.html",  # a customer no longer in scope
        "review-notes.txt",
        "notes.html",
    ]
    for planted_name in planted:
        (tmp_path / planted_name).write_text("earlier", encoding="utf-8")
    args = ["--db", str(reviews["db"]), "--format", "html", "--out", str(tmp_path)]
    result = runner.invoke(cli, ["report", "tenant", tenant_id, *args])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"Warning: not written by this run: {', '.join(sorted(planted[:3]))} (from an earlier run)"
    ]
    result = runner.invoke(cli, ["report", "tenant", "--all-tenants", *args])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == (
        f"Warning: not written by this run: {', '.join(sorted(planted[:3] + planted[4:5]))} "
        "(from an earlier run)"
    )
    assert all(
        (tmp_path / n).read_text(encoding="utf-8") == "earlier" for n in planted if n != planted[3]
    )
    # Many are named by the first ten and a count.
    from dapaudit.report.service import earlier_files_warning

    many = [f"review-c-{i:08d}.pdf" for i in range(12)]
    assert earlier_files_warning(many) == (
        f"not written by this run: {', '.join(many[:10])} and 2 more (from an earlier run)"
    )
    assert earlier_files_warning([]) is None


RELECLOUD = "37ce1759-b3b5-505b-b3f3-e7fef4cf3dbd"


def test_roles_of_a_relationship_without_exported_assignments_are_not_called_unused(reviews):
    """Relecloud's active MLT relationship grants three roles and its access assignments were
    not exported: the review said Northwind 'cannot administer the tenant through Entra
    roles'. It says which groups hold them is not known (GDAP-ROLES-UNASSIGNED, too, leaves
    such a relationship unjudged)."""
    doc = _doc(reviews, RELECLOUD)
    gdap = doc.tables_in("partners", "gdap")[0].dicts()
    assert [g["Roles granted"] for g in gdap] == [
        "Directory Readers, Helpdesk Administrator, Service Support Administrator access "
        "assignments not exported: which partner groups hold these roles is not known"
    ]
    assert "cannot administer" not in doc.text
    assert "their access assignments were not exported: which of its groups hold them" in doc.text


def test_exports_not_collected_are_not_read_as_no_access(reviews, runner, tmp_path):
    """VanArsdel's role listing was not exported: its review said 0 effective Global
    Administrators. Lamna's Azure role assignments left out: its subscription read 'none'
    for the roles partners hold, where Northwind's AdminAgents is Owner. Each says now that
    it is not known."""
    doc = _doc(reviews, VANARSDEL)
    summary = dict(r[:2] for r in doc.table("summary", "facts").rows)
    assert summary["Effective Global Administrators (people or unexpanded groups, all paths)"] == (
        "0 or more: the role listing was not exported"
    )
    assert "the count above is a lower bound" in doc.text
    assert "The tenant's role listing was not exported." in doc.text
    lamna = "bcb4a400-e640-5b6a-840e-e74fc2c320c9"
    assert [r[2] for r in _doc(reviews, lamna).table("azure", "azure").rows] == [
        "Owner: Northwind Partners Ltd"
    ]
    estate = tmp_path / "estate"
    estate.mkdir()
    for name in SAMPLE.glob("*.csv"):
        lines = name.read_text(encoding="utf-8").splitlines(keepends=True)
        if name.name == "azure_role_assignments.csv":
            lines = [x for x in lines if not x.startswith(lamna)]
        (estate / name.name).write_text("".join(lines), encoding="utf-8")
    rows = _run_and_review(runner, tmp_path, [estate], lamna).table("azure", "azure").rows
    assert [r[2] for r in rows] == ["unknown: the Azure role assignments were not exported"]
    # A customer whose exports were collected still reads "none" where nothing is held.
    adatum = _doc(reviews, ADATUM)
    assert {r[2] for r in adatum.table("azure", "azure").rows} == {"none"}


WINGTIP = "7dbbb246-aba7-5ac3-a3e9-91e8eb18203f"
ADATUM = "ed2d3e2b-e6ef-580c-a70f-be40ecaf8848"
FABRIKAM = "daa14757-f34a-5b49-af24-e0343071f261"


def test_apps_and_partners_seen_only_in_azure(runner, tmp_path):
    """Three apps holding Global Administrator in Adatum counted as three more administrators
    (the rule counts none of them); Fabrikam's AdminAgents as Owner of Wingtip's subscription,
    with no relationship of Wingtip naming Fabrikam, was missing from 'Partners with access'
    (the subscription showed its bare tenant id). The assignment's ids, which the remediation
    asks for, are shown."""
    extra = tmp_path / "extra"
    extra.mkdir()
    apps = "".join(
        f"{ADATUM},62e90394-69f5-4237-9190-012177145e10,05000000-0000-4000-8000-00000000000{n},"
        f"servicePrincipal,Backup app {n},,,/\n"
        for n in range(1, 4)
    )
    (extra / "directory_role_members.csv").write_text(
        (SAMPLE / "directory_role_members.csv").read_text(encoding="utf-8") + apps, "utf-8"
    )
    (extra / "azure_role_assignments.csv").write_text(
        (SAMPLE / "azure_role_assignments.csv").read_text(encoding="utf-8")
        + f"{WINGTIP},/subscriptions/b1fb13e4-de61-57cd-bb23-4c3cd509ab6d,"
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635,Owner,85d4d73b-d9ba-5e7f-8b7a-5b2b79d46bab,"
        "foreignGroup,,77777777-0000-4000-8000-000000000001\n",
        "utf-8",
    )
    for name in SAMPLE.glob("*.csv"):
        if not (extra / name.name).exists():
            (extra / name.name).write_bytes(name.read_bytes())
    adatum, doc = _run_and_review(runner, tmp_path, [extra], ADATUM, WINGTIP)
    summary = dict(r[:2] for r in adatum.table("summary", "facts").rows)
    assert (
        summary["Effective Global Administrators (people or unexpanded groups, all paths)"] == "2"
    )
    summary = dict(r[:2] for r in doc.table("summary", "facts").rows)
    assert summary["Partners holding Azure roles with no relationship on record"] == "1"
    assert summary["Partners with a relationship"] == "1"
    facts = dict(r[:2] for r in doc.tables_in("partners", "facts")[1].rows)
    assert facts["Partner tenant id"] == FABRIKAM
    assert facts["Relationship"].startswith("none on record: no export names it")
    held = doc.tables_in("partners", "azure")[-1].rows
    assert held == [
        [
            "/subscriptions/b1fb13e4-de61-57cd-bb23-4c3cd509ab6d",
            "Owner lingering",
            "85d4d73b-d9ba-5e7f-8b7a-5b2b79d46bab (foreignGroup) object id "
            "85d4d73b-d9ba-5e7f-8b7a-5b2b79d46bab assignment /subscriptions/"
            "b1fb13e4-de61-57cd-bb23-4c3cd509ab6d/providers/Microsoft.Authorization/"
            "roleAssignments/77777777-0000-4000-8000-000000000001",
            "members not exported (partner side)",
        ]
    ]
    assert "Owner: Fabrikam Cloud Services" in doc.text
    with db.opened(tmp_path / "x.duckdb", read_only=True) as con:
        (evidence,) = con.execute(
            "SELECT evidence->'assignments'->0->>'role_assignment_id' FROM findings "
            "WHERE rule_id = 'AZURE-LINGERING-PARTNER-ROLE' AND customer_tenant_id = ? "
            "AND partner_tenant_id = ?",
            [WINGTIP, FABRIKAM],
        ).fetchone()
    assert evidence.endswith("/roleAssignments/77777777-0000-4000-8000-000000000001")


def test_one_estate_exported_in_two_formats_is_shown_once(runner, tmp_path):
    """The canonical and the real-format sample are the same estate: ingested into one
    snapshot, the review gave each GDAP role and each partner Azure role twice."""
    contoso = "0e6249f8-cf40-5b6e-9138-82b4a7337e4f"
    doc = _run_and_review(runner, tmp_path, [SAMPLE, SAMPLE.parent / "real-format"], contoso)
    roles = [g["Roles granted"].split(", ") for g in doc.tables_in("partners", "gdap")[0].dicts()]
    assert roles and all(len(r) == len(set(r)) for r in roles)
    held = [tuple(r[:2]) for t in doc.tables_in("partners", "azure") for r in t.rows]
    assert held and len(held) == len(set(held))


def test_the_partner_users_behind_an_azure_role_are_shown(reviews):
    """Northwind's AdminAgents keeps Owner of Tailspin's subscription after DAP went: the
    review gave no partner user behind Northwind's access (0), though the group's members
    were exported. They are listed with the role and counted."""
    doc = _doc(reviews, "7cab6131-e8ab-5981-ac0c-2ddbaa338a84")
    (held,) = doc.tables_in("partners", "azure")
    assert held.rows[0][3] == (
        "Ana Novak ana.novak@northwindpartners.example Ben Okafor "
        "ben.okafor@northwindpartners.example Chen Wei chen.wei@northwindpartners.example"
    )
    facts = dict(r[:2] for r in doc.tables_in("partners", "facts")[0].rows)
    assert facts["Partner users behind its access (where exported)"] == "3"


def test_subscriptions_mark_the_roles_that_linger_as_the_rule_finds_them(reviews):
    """Contoso's and Tailspin's subscriptions both read 'Owner: Northwind Partners Ltd',
    though Northwind holds DAP in Contoso and nothing in Tailspin, where the role outlived it.
    The review marks a role lingering exactly where AZURE-LINGERING-PARTNER-ROLE finds one."""
    lingering = {
        customer
        for (customer,) in reviews["con"]
        .execute(
            "SELECT DISTINCT customer_tenant_id FROM findings "
            "WHERE rule_id = 'AZURE-LINGERING-PARTNER-ROLE'"
        )
        .fetchall()
    }
    marked = {
        tenant_id
        for tenant_id, _, _ in reviews["customers"]
        if any(
            "(lingering: no DAP or active GDAP relationship)" in row[-1]
            for row in _doc(reviews, tenant_id).table("azure", "azure").rows
        )
    }
    assert len(lingering) >= 2 and marked == lingering
    contoso = _doc(reviews, "0e6249f8-cf40-5b6e-9138-82b4a7337e4f")
    assert [r[2] for r in contoso.table("azure", "azure").rows if len(r) > 2] == [
        "Owner: Northwind Partners Ltd"
    ]
