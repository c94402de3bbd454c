"""Snapshots over time: a finding resolved, one new, one persisting with its first_seen."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest

from conftest import SAMPLE, table_dump
from dapaudit import db
from dapaudit.cli import cli

ADATUM = "ed2d3e2b-e6ef-580c-a70f-be40ecaf8848"
TAILSPIN = "7cab6131-e8ab-5981-ac0c-2ddbaa338a84"
RELECLOUD = "37ce1759-b3b5-505b-b3f3-e7fef4cf3dbd"
# Northwind's AdminAgents as Owner of Adatum's subscription, in October only.
ADATUM_OWNER = (
    "ed2d3e2b-e6ef-580c-a70f-be40ecaf8848,/subscriptions/c9ab9011-3818-5df3-82e6-4a0406e26850,"
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635,Owner,d899e4a6-e77b-5d09-93fa-4c1d3b9f4af5,"
    "foreignGroup,,0f3c1b8e-7a55-4d0a-9f0e-2b8d1c6e4a10\n"
)


def _october(estate):
    """October: Adatum still had a lingering Owner; Relecloud had no GDAP relationship yet."""
    roles = estate / "azure_role_assignments.csv"
    roles.write_text(roles.read_text(encoding="utf-8") + ADATUM_OWNER, encoding="utf-8")
    rels = estate / "gdap_relationships.csv"
    lines = rels.read_text(encoding="utf-8").splitlines(keepends=True)
    rels.write_text("".join(x for x in lines if "MLT_9d2b6e01_Relecloud" not in x), "utf-8")


def _cli(runner, *args):
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def _month(runner, dbfile: str, estate, as_of: str, label: str | None = None, *analyze: str):
    """Ingest `estate` as snapshot `label` (the month of `as_of` by default) and analyse it,
    with `analyze`'s arguments (a --config); the output of analyze."""
    label = label or as_of[:7]
    _cli(runner, "ingest", str(estate), "--db", dbfile, "--as-of", as_of, "--snapshot", label)
    return _cli(runner, "analyze", "--db", dbfile, "--snapshot", label, *analyze).output


def _october_then_november(runner, dbfile: str, estate, *november: str) -> None:
    """Snapshots 2026-10 (_october's estate) and 2026-11 (the sample), each analysed; `november`:
    more arguments for the second analyze (a --config)."""
    _october(estate)
    _cli(runner, "ingest", str(estate), "--db", dbfile, "--as-of", "2026-10-31")
    _cli(runner, "analyze", "--db", dbfile, "--snapshot", "2026-10")
    _cli(runner, "ingest", str(SAMPLE), "--db", dbfile, "--as-of", "2026-11-30")
    _cli(runner, "analyze", "--db", dbfile, "--snapshot", "2026-11", *november)


def test_two_snapshots_resolved_new_and_persisting(runner, tmp_path, sample_copy):
    dbfile = str(tmp_path / "a.duckdb")
    _october_then_november(runner, dbfile, sample_copy)

    con = db.connect(dbfile, read_only=True)
    try:
        changes = {
            (rule, customer): (change, first_seen)
            for rule, customer, change, first_seen in con.execute(
                """SELECT c.rule_id, c.customer_tenant_id, c.change, f.first_seen
                   FROM finding_changes c
                   LEFT JOIN findings f ON f.snapshot = c.snapshot AND f.fingerprint = c.fingerprint
                   WHERE c.snapshot = '2026-11' ORDER BY ALL"""
            ).fetchall()
        }
        deltas = con.execute(
            "SELECT previous_snapshot, new, still_open, resolved FROM snapshot_deltas "
            "WHERE snapshot = '2026-11'"
        ).fetchone()
        counts = con.execute(
            """SELECT count(*) FILTER (WHERE change = 'new'), count(*) FILTER (WHERE change =
               'still_open'), count(*) FILTER (WHERE change = 'resolved') FROM finding_changes
               WHERE snapshot = '2026-11'"""
        ).fetchone()
    finally:
        con.close()
    assert changes[("AZURE-LINGERING-PARTNER-ROLE", ADATUM)] == ("resolved", None)
    assert changes[("GDAP-MLT-ONLY", RELECLOUD)] == ("new", "2026-11")
    assert changes[("AZURE-LINGERING-PARTNER-ROLE", TAILSPIN)] == ("still_open", "2026-10")
    assert deltas == ("2026-10", *counts)
    assert counts[0] >= 1 and counts[1] >= 1 and counts[2] >= 1

    listing = _cli(runner, "snapshots", "--db", dbfile).output.splitlines()
    assert listing[0].split()[:10] == [
        "snapshot",
        "as_of",
        "files",
        "rows",
        "findings",
        "new",
        "resolved",
        "not_assessed",
        "offboarded",
        "analyzed",
    ]
    nov = next(x for x in listing if x.startswith("2026-11")).split()
    assert nov[5:7] == [str(deltas[1]), str(deltas[3])]


def test_new_and_still_open_count_open_findings_and_add_up_to_them(runner, tmp_path, sample_copy):
    # A report said "20 open findings, 3 suppressed. Since 2026-11: 6 new, 6 resolved, 17
    # still open": the suppressed findings were counted as new and still open.
    dbfile = str(tmp_path / "a.duckdb")
    config = tmp_path / "dapaudit.toml"
    config.write_text(  # one finding still there from October, one new in November
        "[[suppressions]]\nrule = 'AZURE-LINGERING-PARTNER-ROLE'\n"
        f"tenant = '{TAILSPIN}'\nreason = 'contract C-1'\nowner = 'secops@example.com'\n"
        "[[suppressions]]\nrule = 'GDAP-MLT-ONLY'\n"
        f"tenant = '{RELECLOUD}'\nreason = 'ends in January'\nowner = 'secops@example.com'\n",
        encoding="utf-8",
    )
    _october_then_november(runner, dbfile, sample_copy, "--config", str(config))
    con = db.connect(dbfile, read_only=True)
    try:
        new, still_open, suppressed = con.execute(
            "SELECT new, still_open, suppressed FROM snapshot_deltas WHERE snapshot = '2026-11'"
        ).fetchone()
        open_, held = con.execute(
            "SELECT count(*) FILTER (WHERE status = 'open'), "
            "count(*) FILTER (WHERE status = 'suppressed') FROM findings "
            "WHERE snapshot = '2026-11'"
        ).fetchone()
    finally:
        con.close()
    assert held == suppressed == 2
    assert new + still_open == open_
    out = tmp_path / "out"
    _cli(runner, "report", "monthly", "--db", dbfile, "--out", str(out), "--format", "html")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"{open_} open findings, 2 suppressed" in html
    assert f"{new} new," in html and f"{still_open} still open." in html


def test_reanalysing_replaces_findings_and_keeps_fingerprints(runner, tmp_path):
    from conftest import SAMPLE

    dbfile = str(tmp_path / "a.duckdb")
    _cli(
        runner,
        "run",
        str(SAMPLE),
        "--db",
        dbfile,
        "--as-of",
        "2026-11-30",
        "--format",
        "html",
        "--out",
        str(tmp_path / "out"),
    )
    first = json.loads(_cli(runner, "findings", "--db", dbfile, "--format", "json").output)
    before = db.connect(dbfile, read_only=True)
    try:
        dump = table_dump(before)
    finally:
        before.close()
    _cli(runner, "analyze", "--db", dbfile)
    again = json.loads(_cli(runner, "findings", "--db", dbfile, "--format", "json").output)
    assert again == first
    after = db.connect(dbfile, read_only=True)
    try:
        assert {k: v for k, v in table_dump(after).items() if k != "snapshots"} == {
            k: v for k, v in dump.items() if k != "snapshots"
        }
    finally:
        after.close()


def test_fail_on_on_analyze(runner, tmp_path):
    from conftest import SAMPLE

    dbfile = str(tmp_path / "a.duckdb")
    _cli(runner, "ingest", str(SAMPLE), "--db", dbfile, "--as-of", "2026-11-30")
    result = runner.invoke(cli, ["analyze", "--db", dbfile, "--fail-on", "high"])
    assert result.exit_code == 1
    assert "Open findings at or above high: exit code 1" in result.output
    assert runner.invoke(cli, ["analyze", "--db", dbfile, "--fail-on", "critical"]).exit_code == 0
    result = runner.invoke(cli, ["analyze", "--db", dbfile, "--fail-on", "severe"])
    assert result.exit_code == 2


def test_first_seen_does_not_depend_on_the_order_of_analysis(tmp_path):
    """Three months of the same estate, analysed in order and in reverse: the same findings
    with the same first_seen (re-analysing an earlier month left later months' first_seen as
    they were computed without it)."""
    from datetime import date

    from dapaudit import db
    from dapaudit.analyze import analyze
    from dapaudit.config import Config
    from dapaudit.ingest import ingest

    months = (("2026-10", date(2026, 10, 15)), ("2026-11", date(2026, 11, 15)))
    months += (("2026-12", date(2026, 12, 15)),)

    def first_seen(order: list[str]) -> list[tuple]:
        con = db.connect(tmp_path / f"{'-'.join(order)}.duckdb")
        try:
            for label, as_of in months:
                ingest(con, [SAMPLE], snapshot=label, as_of=as_of)
            for label in order:
                analyze(con, label, Config())
            return con.execute(
                "SELECT snapshot, fingerprint, first_seen FROM findings ORDER BY ALL"
            ).fetchall()
        finally:
            con.close()

    in_order = first_seen(["2026-10", "2026-11", "2026-12"])
    assert {seen for _, _, seen in in_order} >= {"2026-10"}
    assert first_seen(["2026-12", "2026-11", "2026-10"]) == in_order
    assert first_seen(["2026-10", "2026-12", "2026-11", "2026-10"]) == in_order


def test_findings_and_reports_refuse_a_snapshot_not_analysed_since_it_changed(
    runner, tmp_path, sample_copy
):
    """A snapshot ingested but not analysed (or changed by an ingest since) has no findings, or
    out-of-date ones: `findings` and the reports would pass them off as the audit's result."""
    dbfile = str(tmp_path / "a.duckdb")
    _cli(runner, "ingest", str(SAMPLE), "--db", dbfile, "--as-of", "2026-11-30")
    reading = [
        ["findings"],
        ["report", "monthly", "--out", str(tmp_path / "m"), "--format", "html"],
        ["report", "tenant", ADATUM, "--out", str(tmp_path / "t"), "--format", "html"],
        ["report", "tenant", "--all-tenants", "--out", str(tmp_path / "t"), "--format", "html"],
    ]
    for args in reading:
        result = runner.invoke(cli, [*args, "--db", dbfile])
        assert result.exit_code == 2, (args, result.output)
        assert "snapshot 2026-11 has not been analysed since its files or reference date" in (
            result.output
        )
        assert "`dapaudit analyze --snapshot 2026-11`" in result.output
    _cli(runner, "analyze", "--db", dbfile)
    for args in reading:
        _cli(runner, *args, "--db", dbfile)
    listed = _cli(runner, "snapshots", "--db", dbfile).output
    assert "out of date" not in listed and "never" not in listed

    # A file added later: the findings speak for the snapshot as it was.
    _october(sample_copy)
    extra = sample_copy / "late" / "azure_role_assignments.csv"
    extra.parent.mkdir()
    (sample_copy / "azure_role_assignments.csv").rename(extra)
    result = _cli(runner, "ingest", str(extra), "--db", dbfile, "--snapshot", "2026-11")
    assert "the findings analysed before are out of date" in result.output
    assert "out of date" in _cli(runner, "snapshots", "--db", dbfile).output
    assert runner.invoke(cli, ["findings", "--db", dbfile]).exit_code == 2
    _cli(runner, "analyze", "--db", dbfile)
    _cli(runner, "findings", "--db", dbfile)

    # Ingesting the same files again changes nothing, and keeps the snapshot analysed.
    _cli(runner, "ingest", str(SAMPLE), "--db", dbfile, "--snapshot", "2026-11")
    _cli(runner, "findings", "--db", dbfile)


def test_snapshots_lists_each_snapshots_source_files(runner, tmp_path):
    dbfile = str(tmp_path / "a.duckdb")
    _cli(runner, "ingest", str(SAMPLE), "--db", dbfile, "--as-of", "2026-11-30")
    listed = _cli(runner, "snapshots", "--db", dbfile).output
    files = sorted(p.name for p in SAMPLE.iterdir() if p.is_file())
    assert f"Source files of 2026-11 ({len(files)}):" in listed
    lines = listed.split("Source files of 2026-11", 1)[1].splitlines()[3:]
    assert [line.split()[0].rsplit("/", 1)[-1] for line in lines] == files
    assert "canonical.tenants" in listed
    summary = _cli(runner, "snapshots", "--db", dbfile, "--summary").output
    assert "Source files" not in summary and "2026-11-30" in summary


COHO = "92b6d115-08c7-5d2a-874a-21e78f17c86f"


def _gone(dbfile: str, snapshot: str) -> dict[tuple[str, str], str]:
    """(rule, customer) -> resolved or not_assessed, for the findings `snapshot` no longer has."""
    with db.opened(dbfile, read_only=True) as con:
        rows = con.execute(
            "SELECT rule_id, customer_tenant_id, change FROM finding_changes "
            "WHERE snapshot = ? AND change IN ('resolved', 'not_assessed')",
            [snapshot],
        ).fetchall()
    return {(rule, customer): change for rule, customer, change in rows}


def _november_without(runner, dbfile: str, estate, *november: str) -> None:
    """The sample as 2026-10, then `estate` (changed by the test) as 2026-11, each analysed;
    `november`: more arguments for the second analyze."""
    _cli(runner, "ingest", str(SAMPLE), "--db", dbfile, "--as-of", "2026-10-31")
    _cli(runner, "analyze", "--db", dbfile, "--snapshot", "2026-10")
    _cli(runner, "ingest", str(estate), "--db", dbfile, "--as-of", "2026-11-30")
    _cli(runner, "analyze", "--db", dbfile, "--snapshot", "2026-11", *november)


def test_a_customer_export_missing_this_month_is_not_assessed_not_resolved(
    runner, tmp_path, sample_copy
):
    """Coho's Azure role assignments missing in November: its AZURE-UNKNOWN-FOREIGN-PRINCIPAL
    finding was reported 'resolved since the previous snapshot'. It is not assessed now, in the
    views and in the monthly report; Adatum's Owner, removed while Adatum's export is there,
    stays resolved (test_two_snapshots_resolved_new_and_persisting)."""
    roles = sample_copy / "azure_role_assignments.csv"
    lines = roles.read_text(encoding="utf-8").splitlines(keepends=True)
    roles.write_text("".join(x for x in lines if not x.startswith(COHO)), encoding="utf-8")
    dbfile = str(tmp_path / "a.duckdb")
    _november_without(runner, dbfile, sample_copy)
    assert _gone(dbfile, "2026-11") == {("AZURE-UNKNOWN-FOREIGN-PRINCIPAL", COHO): "not_assessed"}
    with db.opened(dbfile, read_only=True) as con:
        assert con.execute(
            "SELECT resolved, not_assessed FROM snapshot_deltas WHERE snapshot = '2026-11'"
        ).fetchone() == (0, 1)
    out = tmp_path / "report"
    _cli(runner, "report", "monthly", "--db", dbfile, "--format", "html", "--out", str(out))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "0 resolved" in html and "1 not assessed" in html
    section = html[html.index('id="not-assessed"') :]
    assert "Coho Winery" in section[: section.index("</section>")]


def test_partner_exports_missing_this_month_leave_their_findings_not_assessed(
    runner, tmp_path, sample_copy
):
    """No partner relationships or DAP monitoring in November: every DAP finding, and the
    Global Administrator counts that took the DAP partners' users, read as resolved."""
    (sample_copy / "partner_relationships.csv").unlink()
    (sample_copy / "dap_monitoring.csv").unlink()
    dbfile = str(tmp_path / "a.duckdb")
    _november_without(runner, dbfile, sample_copy)
    gone = _gone(dbfile, "2026-11")
    dap_rules = {"DAP-IMPLICIT-GLOBAL-ADMIN", "DAP-IMPLICIT-HELPDESK-ADMIN", "DAP-INACTIVE"}
    judged = {rule for rule, _ in gone} & (dap_rules | {"EXCESS-GLOBAL-ADMINS"})
    assert judged == dap_rules | {"EXCESS-GLOBAL-ADMINS"}
    assert {
        change for (rule, _), change in gone.items() if rule in dap_rules | {"EXCESS-GLOBAL-ADMINS"}
    } == {"not_assessed"}


def test_a_rule_turned_off_is_not_assessed_and_a_remediation_still_resolved(
    runner, tmp_path, sample_copy
):
    config = tmp_path / "dapaudit.toml"
    config.write_text("[rules.DAP-INACTIVE]\nenabled = false\n", encoding="utf-8")
    dbfile = str(tmp_path / "a.duckdb")
    _october_then_november(runner, dbfile, sample_copy, "--config", str(config))
    gone = _gone(dbfile, "2026-11")
    assert {change for (rule, _), change in gone.items() if rule == "DAP-INACTIVE"} == {
        "not_assessed"
    }
    assert gone[("AZURE-LINGERING-PARTNER-ROLE", ADATUM)] == "resolved"


def test_a_recollected_export_added_to_the_snapshot_says_it_joins_the_old_one(
    runner, tmp_path, sample_copy
):
    """The Azure export collected again after Tailspin removed the partner's Owner, ingested
    into the same snapshot: its rows joined the first collection's, the finding stayed, and
    nothing said why. The ingest now says so and what to do; the same files again, or a kind
    the snapshot does not hold yet, say nothing."""
    dbfile = str(tmp_path / "a.duckdb")
    tenants_only = tmp_path / "tenants-only"
    tenants_only.mkdir()
    (sample_copy / "tenants.csv").rename(tenants_only / "tenants.csv")
    first = _cli(runner, "ingest", str(sample_copy), "--db", dbfile, "--as-of", "2026-11-30")
    again = _cli(runner, "ingest", str(sample_copy), "--db", dbfile, "--as-of", "2026-11-30")
    more = _cli(runner, "ingest", str(tenants_only), "--db", dbfile, "--as-of", "2026-11-30")
    # Another page of a listing held, with a name of its own: nothing re-collected.
    page = tmp_path / "page2" / "directory_role_members_page2.csv"
    page.parent.mkdir()
    page.write_text(
        (sample_copy / "directory_role_members.csv").read_text(encoding="utf-8").splitlines()[0]
        + "\n"
        + "0e6249f8-cf40-5b6e-9138-82b4a7337e4f,62e90394-69f5-4237-9190-012177145e10,"
        "a0000009-0000-4000-8000-000000000009,user,Late Admin,late@contoso.example,,/\n",
        encoding="utf-8",
    )
    paged = _cli(runner, "ingest", str(page), "--db", dbfile, "--as-of", "2026-11-30")
    assert "Warning" not in first.output + again.output + more.output + paged.output
    recollected = tmp_path / "recollected"
    recollected.mkdir()
    roles = (sample_copy / "azure_role_assignments.csv").read_text(encoding="utf-8")
    (recollected / "azure_role_assignments.csv").write_text(
        "".join(x for x in roles.splitlines(keepends=True) if TAILSPIN not in x), "utf-8"
    )
    result = _cli(runner, "ingest", str(recollected), "--db", dbfile, "--as-of", "2026-11-30")
    assert (
        "Warning: snapshot 2026-11: 1 file(s) added beside exports of the same kind, tenant and "
        f"name it already holds (first: {recollected / 'azure_role_assignments.csv'}, beside "
        f"{sample_copy / 'azure_role_assignments.csv'}); the rows of both count"
    ) in result.output
    assert "ingest them as a snapshot of their own (--snapshot LABEL)" in result.output


WOODGROVE = "b3581e5f-7119-564f-bf56-e413ae802dfa"
CONTOSO = "0e6249f8-cf40-5b6e-9138-82b4a7337e4f"


def test_dap_removed_with_its_monitoring_row_gone_is_resolved(runner, tmp_path, sample_copy):
    """Fabrikam's DAP removed in Woodgrove: the partner list says so (false, with the date)
    and the DAP monitoring row is gone. The partner list tells it: resolved, where each table
    judged alone made it not assessed."""
    partners = sample_copy / "partner_relationships.csv"
    text = partners.read_text(encoding="utf-8")
    old = (
        f"{WOODGROVE},daa14757-f34a-5b49-af24-e0343071f261,Fabrikam Cloud Services,reseller,"
        "true,2021-04-01,,"
    )
    assert old in text
    partners.write_text(
        text.replace(old, old.replace("true,2021-04-01,,", "false,2021-04-01,2026-11-10,")), "utf-8"
    )
    monitoring = sample_copy / "dap_monitoring.csv"
    lines = monitoring.read_text(encoding="utf-8").splitlines(keepends=True)
    monitoring.write_text("".join(x for x in lines if WOODGROVE not in x), encoding="utf-8")
    dbfile = str(tmp_path / "a.duckdb")
    _november_without(runner, dbfile, sample_copy)
    gone = _gone(dbfile, "2026-11")
    assert gone[("DAP-IMPLICIT-GLOBAL-ADMIN", WOODGROVE)] == "resolved"
    assert gone[("DAP-IMPLICIT-HELPDESK-ADMIN", WOODGROVE)] == "resolved"


def test_a_partners_group_members_left_out_leave_the_counts_not_assessed(
    runner, tmp_path, sample_copy
):
    """The partner's agent group members not exported in November: the Global Administrator
    counts that took its users fall, and read as resolved."""
    (sample_copy / "partner_group_members.csv").unlink()
    dbfile = str(tmp_path / "a.duckdb")
    _november_without(runner, dbfile, sample_copy)
    gone = _gone(dbfile, "2026-11")
    excess = {c for (rule, _), c in gone.items() if rule == "EXCESS-GLOBAL-ADMINS"}
    assert excess == {"not_assessed"}


def test_every_rule_turned_off_leaves_every_finding_not_assessed(runner, tmp_path, sample_copy):
    from dapaudit.rules import all_rules

    config = tmp_path / "dapaudit.toml"
    config.write_text(
        "".join(f"[rules.{r.id}]\nenabled = false\n" for r in all_rules()), encoding="utf-8"
    )
    dbfile = str(tmp_path / "a.duckdb")
    _november_without(runner, dbfile, sample_copy, "--config", str(config))
    with db.opened(dbfile, read_only=True) as con:
        resolved, not_assessed, before = con.execute(
            "SELECT resolved, not_assessed, (SELECT count(*) FROM findings "
            "WHERE snapshot = '2026-10') FROM snapshot_deltas WHERE snapshot = '2026-11'"
        ).fetchone()
    assert (resolved, not_assessed) == (0, before) and before > 0
    out = tmp_path / "report"
    _cli(runner, "report", "monthly", "--db", dbfile, "--format", "html", "--out", str(out))
    html = (out / "report.html").read_text(encoding="utf-8")
    chart = html[html.index("Change since") :]
    assert "not assessed" in chart[: chart.index("</svg>")]  # a bar of its own


COHO_ROW_START = COHO + ","


def _coho_azure(estate, how: str) -> None:
    """Coho's Azure role assignments in `estate`: 'missing' (not exported), or 'remediated' (the
    foreign group's Owner replaced by a user of Coho's own: still exported)."""
    roles = estate / "azure_role_assignments.csv"
    lines = roles.read_text(encoding="utf-8").splitlines(keepends=True)
    coho = [x for x in lines if x.startswith(COHO_ROW_START)]
    assert len(coho) == 1 and ",foreignGroup," in coho[0]
    rest = [x for x in lines if not x.startswith(COHO_ROW_START)]
    if how == "remediated":
        fields = coho[0].split(",")
        fields[5], fields[6] = "User", "Coho Winery admin"
        rest.append(",".join(fields))
    roles.write_text("".join(rest), encoding="utf-8")


def _three_months(runner, tmp_path, december: str | None) -> str:
    """The sample as 2026-10; November without Coho's Azure role assignments; December the
    sample (None), or with Coho's Azure export `december` (_coho_azure). Each analysed."""
    dbfile = str(tmp_path / "a.duckdb")
    november = tmp_path / "november"
    shutil.copytree(SAMPLE, november)
    _coho_azure(november, "missing")
    _november_without(runner, dbfile, november)
    estate = SAMPLE
    if december is not None:
        estate = tmp_path / "december"
        shutil.copytree(SAMPLE, estate)
        _coho_azure(estate, december)
    _month(runner, dbfile, estate, "2026-12-31")
    return dbfile


def _coho_change(dbfile: str, snapshot: str) -> tuple | None:
    with db.opened(dbfile, read_only=True) as con:
        return con.execute(
            "SELECT change, previous_snapshot, last_found_snapshot FROM finding_changes "
            "WHERE snapshot = ? AND rule_id = 'AZURE-UNKNOWN-FOREIGN-PRINCIPAL' "
            "AND customer_tenant_id = ?",
            [snapshot, COHO],
        ).fetchone()


def test_a_finding_carried_twice_is_judged_each_time_from_where_it_left(runner, tmp_path):
    """Coho's finding leaves twice: November (export missing; resolved in December), and again
    in February after January found it anew. The second carry is its own, from January: a
    window over the fingerprint alone took December's judgement for it, and February lost
    the row."""
    dbfile = _three_months(runner, tmp_path, "remediated")
    _month(runner, dbfile, SAMPLE, "2027-01-31")
    february = tmp_path / "february"
    shutil.copytree(SAMPLE, february)
    _coho_azure(february, "missing")
    _month(runner, dbfile, february, "2027-02-28")
    assert _coho_change(dbfile, "2026-12") == ("resolved", "2026-11", "2026-10")
    assert _coho_change(dbfile, "2027-01") == ("new", "2026-12", "2027-01")
    assert _coho_change(dbfile, "2027-02") == ("not_assessed", "2027-01", "2027-01")


FABRIKAM = "daa14757-f34a-5b49-af24-e0343071f261"
NORTHWIND = "d6f7fc44-c24f-50b5-803c-2a06b9253355"


def _without_fabrikams_own_files(estate) -> None:
    """Fabrikam named by Woodgrove's partner list and DAP monitoring only: no tenant row, no
    agent group of it exported."""
    for name in ("tenants.csv", "partner_agent_groups.csv"):
        path = estate / name
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(x for x in lines if FABRIKAM not in x), encoding="utf-8")


@pytest.mark.parametrize("own_files", [True, False], ids=["with-its-files", "named-only"])
def test_a_partner_no_export_names_any_more_leaves_its_findings_not_assessed(
    runner, tmp_path, own_files
):
    """November's partner list and DAP monitoring name Northwind for Woodgrove where October's
    named Fabrikam: Woodgrove's exports are all there, yet nothing names Fabrikam any more
    (no export tells an ended relationship from a partial collection). Fabrikam's DAP
    findings are not assessed; they read as resolved when only a partner's own exports
    counted as lapsing, and (named-only) when a partner no export covers counted as named."""
    october, november = tmp_path / "october", tmp_path / "november"
    shutil.copytree(SAMPLE, october)
    if not own_files:
        _without_fabrikams_own_files(october)
    shutil.copytree(october, november)
    for name in ("partner_relationships.csv", "dap_monitoring.csv"):
        path = november / name
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("Fabrikam Cloud Services", "Northwind Partners Ltd").replace(
                FABRIKAM, NORTHWIND
            ),
            encoding="utf-8",
        )
    dbfile = str(tmp_path / "a.duckdb")
    _month(runner, dbfile, october, "2026-10-31")
    _month(runner, dbfile, november, "2026-11-30")
    with db.opened(dbfile, read_only=True) as con:
        changes = con.execute(
            "SELECT DISTINCT rule_id, change FROM finding_changes WHERE snapshot = '2026-11' "
            "AND partner_tenant_id = ? AND rule_id LIKE 'DAP-IMPLICIT-%' ORDER BY ALL",
            [FABRIKAM],
        ).fetchall()
    assert changes == [
        ("DAP-IMPLICIT-GLOBAL-ADMIN", "not_assessed"),
        ("DAP-IMPLICIT-HELPDESK-ADMIN", "not_assessed"),
    ]


def test_a_finding_not_assessed_and_found_again_is_still_open_not_new(runner, tmp_path):
    """Coho's export back in December with the same foreign Owner: the finding never left, so
    it is still open (it read as new, with October's first_seen)."""
    dbfile = _three_months(runner, tmp_path, None)
    assert _coho_change(dbfile, "2026-11") == ("not_assessed", "2026-10", "2026-10")
    assert _coho_change(dbfile, "2026-12") == ("still_open", "2026-11", "2026-12")
    with db.opened(dbfile, read_only=True) as con:
        first_seen = con.execute(
            "SELECT first_seen FROM findings WHERE snapshot = '2026-12' "
            "AND rule_id = 'AZURE-UNKNOWN-FOREIGN-PRINCIPAL' AND customer_tenant_id = ?",
            [COHO],
        ).fetchone()[0]
    assert str(first_seen).startswith("2026-10")


def test_a_finding_remediated_while_not_assessed_is_resolved_when_assessed(runner, tmp_path):
    """Coho removed the foreign Owner while its November export was missing: December, with
    the export back, reports it resolved (it was never reported at all), last found in
    October, in the views and in the monthly report."""
    dbfile = _three_months(runner, tmp_path, "remediated")
    assert _coho_change(dbfile, "2026-12") == ("resolved", "2026-11", "2026-10")
    out = tmp_path / "report"
    _cli(runner, "report", "monthly", "--db", dbfile, "--format", "html", "--out", str(out))
    html = (out / "report.html").read_text(encoding="utf-8")
    section = html[html.index('id="resolved"') :]
    section = section[: section.index("</section>")]
    assert "Coho Winery" in section and "2026-10" in section


def test_a_finding_not_assessed_twice_stays_not_assessed(runner, tmp_path):
    """Coho's Azure export missing in November and December: the finding was gone from
    December's changes altogether; it stays not assessed, last found in October."""
    dbfile = _three_months(runner, tmp_path, "missing")
    assert _coho_change(dbfile, "2026-12") == ("not_assessed", "2026-11", "2026-10")
    with db.opened(dbfile, read_only=True) as con:
        assert con.execute(
            "SELECT not_assessed FROM snapshot_deltas WHERE snapshot = '2026-12'"
        ).fetchone() == (1,)
    listed = _cli(runner, "snapshots", "--db", dbfile, "--summary").output.splitlines()
    header = listed[0].split()
    december = next(x for x in listed if x.startswith("2026-12")).split()
    assert december[header.index("not_assessed")] == "1"


def _section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    return html[start : html.index("</section>", start)]


def test_only_the_list_with_a_finding_found_earlier_says_when(runner, tmp_path):
    """December with Coho's export still missing: the not-assessed list gives the snapshot
    each was last found in (October); the resolved list, all last found in November, does not
    (it said so of both, and 'stood open, not assessed' of November's findings)."""
    dbfile = _three_months(runner, tmp_path, "missing")
    out = tmp_path / "report"
    _cli(runner, "report", "monthly", "--db", dbfile, "--format", "html", "--out", str(out))
    html = (out / "report.html").read_text(encoding="utf-8")
    resolved, not_assessed = _section(html, "resolved"), _section(html, "not-assessed")
    assert "<td" in resolved and "Last found" not in resolved and "not assessed in" not in resolved
    assert "Last found" in not_assessed and ">2026-10<" in not_assessed


def _offboard(estate, tenant: str) -> None:
    """Every row naming `tenant` taken out of the canonical estate (its partner's customer list
    included): the partner no longer manages it."""
    for path in estate.glob("*.csv"):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text(lines[0] + "".join(x for x in lines[1:] if tenant not in x), "utf-8")


def test_an_offboarded_customer_stays_not_assessed_named_as_when_last_found(runner, tmp_path):
    """Contoso off every export and off its partners' lists from November. No export tells an
    offboarded customer from a failed collection: its findings stay not assessed each month,
    last found in October, named as then (the report gave a bare tenant id)."""
    dbfile = str(tmp_path / "a.duckdb")
    gone = tmp_path / "gone"
    shutil.copytree(SAMPLE, gone)
    _offboard(gone, CONTOSO)
    _month(runner, dbfile, SAMPLE, "2026-10-31")
    for as_of in ("2026-11-30", "2026-12-31", "2027-01-31"):
        _month(runner, dbfile, gone, as_of)
    with db.opened(dbfile, read_only=True) as con:
        rows = con.execute(
            "SELECT snapshot, change, last_found_snapshot, count(*) FROM finding_changes "
            "WHERE customer_tenant_id = ? AND change = 'not_assessed' GROUP BY ALL ORDER BY ALL",
            [CONTOSO],
        ).fetchall()
    assert [r[:3] for r in rows] == [
        ("2026-11", "not_assessed", "2026-10"),
        ("2026-12", "not_assessed", "2026-10"),
        ("2027-01", "not_assessed", "2026-10"),
    ]
    assert rows[0][3] == rows[2][3] > 0
    out = tmp_path / "report"
    _cli(runner, "report", "monthly", "--db", dbfile, "--format", "html", "--out", str(out))
    section = _section((out / "report.html").read_text("utf-8"), "not-assessed")
    assert "Contoso" in section and CONTOSO not in section


def _offboarded_config(tmp_path, tenant: str, since: str) -> str:
    path = tmp_path / f"offboarded-{since}.toml"
    path.write_text(
        f'[[offboarded_customers]]\ntenant = "{tenant}"\nsince = {since}\n'
        'reason = "Contract ended; DAP and GDAP removed (change 4711)"\n'
        'owner = "secops@northwind.example"\n',
        encoding="utf-8",
    )
    return str(path)


def _changes_of(dbfile: str, tenant: str) -> list[tuple]:
    with db.opened(dbfile, read_only=True) as con:
        return con.execute(
            "SELECT snapshot, change, count(*) FROM finding_changes "
            "WHERE customer_tenant_id = ? AND snapshot > '2026-10' GROUP BY ALL ORDER BY ALL",
            [tenant],
        ).fetchall()


def _contoso_gone(runner, tmp_path) -> tuple[str, object]:
    """The sample as 2026-10 (ingested, analysed), and a copy of it without Contoso: the
    database file and the copy."""
    dbfile = str(tmp_path / "a.duckdb")
    gone = tmp_path / "gone"
    shutil.copytree(SAMPLE, gone)
    _offboard(gone, CONTOSO)
    _month(runner, dbfile, SAMPLE, "2026-10-31")
    return dbfile, gone


def test_an_offboarded_customer_in_the_configuration_ends_its_carried_findings(runner, tmp_path):
    """Contoso off every export from November, and named offboarded since November 1 by its
    domain (which no November export gives any more): what November could not judge ends
    there as offboarded, with the entry's reason and owner in the report, and December lists
    none of it. What November judged (a relationship gone from a partner-wide export) is still
    resolved. Back in January, its findings are new."""
    dbfile, gone = _contoso_gone(runner, tmp_path)
    config = ("--config", _offboarded_config(tmp_path, "contoso.onmicrosoft.com", "2026-11-01"))
    for as_of in ("2026-11-30", "2026-12-31"):
        assert "offboarded_customers" not in _month(runner, dbfile, gone, as_of, None, *config)
    _month(runner, dbfile, SAMPLE, "2027-01-31", None, *config)
    changes = _changes_of(dbfile, CONTOSO)
    assert [r[:2] for r in changes] == [
        ("2026-11", "offboarded"),
        ("2026-11", "resolved"),
        ("2027-01", "new"),
    ]
    ended = changes[0][2]
    with db.opened(dbfile, read_only=True) as con:
        assert con.execute(
            "SELECT snapshot, offboarded, not_assessed FROM snapshot_deltas ORDER BY snapshot"
        ).fetchall() == [
            ("2026-10", 0, 0),
            ("2026-11", ended, 0),
            ("2026-12", 0, 0),
            ("2027-01", 0, 0),
        ]
        assert con.execute(
            "SELECT snapshot, tenant_id, since FROM analysis_offboarded ORDER BY ALL"
        ).fetchall() == [
            (label, CONTOSO, date(2026, 11, 1)) for label in ("2026-11", "2026-12", "2027-01")
        ]
    out = tmp_path / "report"
    _cli(
        runner,
        "report",
        "monthly",
        "--db",
        dbfile,
        "--snapshot",
        "2026-11",
        "--format",
        "html",
        "--out",
        str(out),
    )
    html = (out / "report.html").read_text("utf-8")
    section = _section(html, "offboarded")
    assert "Contoso Ltd" in section and "2026-11-01" in section
    assert "change 4711" in section and "secops@northwind.example" in section
    assert f'<td class="num">{ended}</td>' in section
    assert "not-assessed" not in html and f"{ended} no longer tracked" in html
    listed = _cli(runner, "snapshots", "--db", dbfile, "--summary").output.splitlines()
    header = listed[0].split()
    november = next(x for x in listed if x.startswith("2026-11")).split()
    assert november[header.index("offboarded")] == str(ended)


def test_an_offboarded_customer_back_the_next_month_has_new_findings(runner, tmp_path):
    """Offboarded in November, a customer again in December: what November ended as
    offboarded no longer stands, so December's findings are new, not still open."""
    dbfile, gone = _contoso_gone(runner, tmp_path)
    config = ("--config", _offboarded_config(tmp_path, CONTOSO, "2026-11-01"))
    _month(runner, dbfile, gone, "2026-11-30", None, *config)
    _month(runner, dbfile, SAMPLE, "2026-12-31")
    assert {r[1] for r in _changes_of(dbfile, CONTOSO) if r[0] == "2026-12"} == {"new"}


def test_an_offboarding_dated_after_the_snapshot_ends_nothing_yet(runner, tmp_path):
    """Near miss: offboarded from December 15. November's carried findings stay not assessed;
    December ends them. Another customer named offboarded (Coho) loses nothing it still has."""
    dbfile, gone = _contoso_gone(runner, tmp_path)
    config = ("--config", _offboarded_config(tmp_path, CONTOSO, "2026-12-15"))
    for as_of in ("2026-11-30", "2026-12-31"):
        _month(runner, dbfile, gone, as_of, None, *config)
    assert [r[:2] for r in _changes_of(dbfile, CONTOSO)] == [
        ("2026-11", "not_assessed"),
        ("2026-11", "resolved"),
        ("2026-12", "offboarded"),
    ]
    coho = ("--config", _offboarded_config(tmp_path, COHO, "2026-11-01"))
    output = _month(runner, dbfile, SAMPLE, "2027-01-31", None, *coho)
    assert {r[1] for r in _changes_of(dbfile, COHO) if r[0] == "2027-01"} == {"still_open"}
    # Coho's exports were still collected: its findings stand, and analyze says why.
    assert f"offboarded_customers[1] (tenant {COHO}), offboarded since 2026-11-01, has" in output
    assert "its findings stand" in output


def test_an_offboarded_entry_naming_no_known_tenant_is_said(runner, tmp_path):
    """A misspelt domain would leave the customer's findings listed as not assessed with
    nothing said: analyze warns that the entry names no tenant, and nothing ends."""
    dbfile, gone = _contoso_gone(runner, tmp_path)
    config = ("--config", _offboarded_config(tmp_path, "contoso.onmicrosft.com", "2026-11-01"))
    output = _month(runner, dbfile, gone, "2026-11-30", None, *config)
    assert (
        "offboarded_customers[1] (tenant contoso.onmicrosft.com) names no tenant of snapshot "
        "2026-11 or an earlier one" in output
    )
    assert {r[1] for r in _changes_of(dbfile, CONTOSO)} == {"not_assessed", "resolved"}


def test_a_customer_collection_failing_two_months_carries_through_both(runner, tmp_path):
    """Coho's and Alpine's folders not collected in November and December, the other
    customers' (whose partner lists name the same partner) collected: December forgot Coho's
    finding, and January called it new. It stays not assessed, then still open."""
    real = SAMPLE.parent / "real-format"
    partial = tmp_path / "partial"
    shutil.copytree(real, partial)
    for folder in ("cohowinery.onmicrosoft.com", "alpineskihouse.onmicrosoft.com"):
        shutil.rmtree(partial / folder)
    dbfile = str(tmp_path / "a.duckdb")
    for estate, as_of in (
        (real, "2026-10-31"),
        (partial, "2026-11-30"),
        (partial, "2026-12-31"),
        (real, "2027-01-31"),
    ):
        _month(runner, dbfile, estate, as_of)
    with db.opened(dbfile, read_only=True) as con:
        changes = con.execute(
            "SELECT snapshot, list(DISTINCT change) FROM finding_changes "
            "WHERE customer_tenant_id = ? AND snapshot > '2026-10' GROUP BY ALL ORDER BY ALL",
            [COHO],
        ).fetchall()
    assert changes == [
        ("2026-11", ["not_assessed"]),
        ("2026-12", ["not_assessed"]),
        ("2027-01", ["still_open"]),
    ]


def test_a_snapshot_of_a_few_recollected_exports_ends_no_carried_finding(runner, tmp_path):
    """A re-check snapshot holding only the Azure role assignments names no customer list:
    it shows no relationship ended, and the findings it could not assess are judged by the
    next full snapshot (resolved, or still open), not forgotten."""
    dbfile = str(tmp_path / "a.duckdb")
    recheck = tmp_path / "recheck"
    recheck.mkdir()
    shutil.copy(SAMPLE / "azure_role_assignments.csv", recheck)
    _month(runner, dbfile, SAMPLE, "2026-11-30")
    _month(runner, dbfile, recheck, "2026-11-30", "2026-11-recheck")
    _month(runner, dbfile, SAMPLE, "2026-11-30", "2026-11-z")
    with db.opened(dbfile, read_only=True) as con:
        carried = con.execute(
            "SELECT r.fingerprint, z.change FROM finding_changes r "
            "LEFT JOIN finding_changes z ON z.snapshot = '2026-11-z' "
            "AND z.fingerprint = r.fingerprint "
            "WHERE r.snapshot = '2026-11-recheck' AND r.change = 'not_assessed'"
        ).fetchall()
    assert carried and {change for _, change in carried} == {"still_open"}


def test_a_snapshot_analysed_before_analysis_rules_judges_by_the_rules_recorded_then(
    runner, tmp_path
):
    """December analysed by a dapaudit before schema version 2 (no analysis_rules rows): what
    the rule judges from is taken from October's record, so Coho's finding, its export still
    missing, stays not assessed (it read as resolved)."""
    dbfile = _three_months(runner, tmp_path, "missing")
    with db.opened(dbfile) as con:
        con.execute("DELETE FROM analysis_rules WHERE snapshot = '2026-12'")
    assert _coho_change(dbfile, "2026-12") == ("not_assessed", "2026-11", "2026-10")


TREY = "8199bd56-ce9a-526c-a511-9eead2a051cb"


def test_a_role_listing_without_its_last_page_leaves_its_findings_not_assessed(runner, tmp_path):
    """In November the export script saved Trey Research's role assignments up to page 1
    only: page 2 held the Global Administrator group (and a Reports Reader) of a tenant that is
    no partner, and their GDAP-FOREIGN-ROLE-HOLDER findings read as resolved. The ingest now
    says the listing lacks its last page, and the findings are not assessed."""
    real = SAMPLE.parent / "real-format"
    estate = tmp_path / "estate"
    shutil.copytree(real, estate)
    (estate / "treyresearch.onmicrosoft.com" / "roleAssignments-page2.json").unlink()
    dbfile = str(tmp_path / "a.duckdb")
    _cli(runner, "ingest", str(real), "--db", dbfile, "--as-of", "2026-10-31")
    _cli(runner, "analyze", "--db", dbfile, "--snapshot", "2026-10")
    november = _cli(runner, "ingest", str(estate), "--db", dbfile, "--as-of", "2026-11-30")
    _cli(runner, "analyze", "--db", dbfile, "--snapshot", "2026-11")
    assert _gone(dbfile, "2026-11") == {("GDAP-FOREIGN-ROLE-HOLDER", TREY): "not_assessed"}
    with db.opened(dbfile, read_only=True) as con:
        assert con.execute(
            "SELECT resolved, not_assessed FROM snapshot_deltas WHERE snapshot = '2026-11'"
        ).fetchone() == (0, 2)
    page1 = estate / "treyresearch.onmicrosoft.com" / "roleAssignments-page1.json"
    assert (
        f"Warning: {page1}: the last page of this Graph listing (graph.role_assignments, "
        f"tenant {TREY}) is missing"
    ) in november.output


def test_a_subscription_list_exported_empty_judges_the_azure_findings(runner, tmp_path):
    """Tailspin cancelled its subscription: November's role assignments have none of its rows,
    and its `az account list` came back empty. COVERAGE-GAP counts that as Azure covered
    (nothing to assign roles on); the lingering Owner read as not assessed, month after
    month. It is resolved."""
    november = tmp_path / "november"
    shutil.copytree(SAMPLE, november)
    for name in ("azure_role_assignments.csv", "azure_subscriptions.csv"):
        path = november / name
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text(lines[0] + "".join(x for x in lines[1:] if TAILSPIN not in x), "utf-8")
    accounts = tmp_path / "az-account-list.json"
    accounts.write_text("[]\n", encoding="utf-8")
    dbfile = str(tmp_path / "a.duckdb")
    _month(runner, dbfile, SAMPLE, "2026-10-31")
    _cli(runner, "ingest", str(november), "--db", dbfile, "--as-of", "2026-11-30")
    _cli(
        runner,
        "ingest",
        str(accounts),
        "--kind",
        "azure.accounts",
        "--tenant",
        TAILSPIN,
        "--db",
        dbfile,
        "--snapshot",
        "2026-11",
    )
    _cli(runner, "analyze", "--db", dbfile, "--snapshot", "2026-11")
    assert _gone(dbfile, "2026-11")[("AZURE-LINGERING-PARTNER-ROLE", TAILSPIN)] == "resolved"
