"""Canonical CSV ingest: every layout loads; broken files fail with file, line and field."""

from __future__ import annotations

import contextlib
import os
import threading
from datetime import date
from pathlib import Path

import pytest

from conftest import AS_OF, SAMPLE, db_dump
from dapaudit import db
from dapaudit.cli import cli
from dapaudit.errors import DapauditError
from dapaudit.ingest import ingest
from dapaudit.ingest.canonical import CANONICAL


def test_every_layout_has_a_sample_file_that_loads(tmp_path):
    con = db.connect(tmp_path / "x.duckdb")
    report = ingest(con, [SAMPLE], snapshot="s", as_of=AS_OF)
    kinds = {f.kind for f in report.files}
    for layout in CANONICAL:
        assert layout.kind in kinds
    assert con.execute("SELECT count(*) FROM tenants").fetchone()[0] == 16


def test_ingesting_the_same_files_twice_adds_nothing(tmp_path):
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [SAMPLE], snapshot="s", as_of=AS_OF)
    before = con.execute("SELECT count(*) FROM directory_role_members").fetchone()[0]
    report = ingest(con, [SAMPLE], snapshot="s", as_of=AS_OF)
    assert all(f.skipped for f in report.files)
    assert con.execute("SELECT count(*) FROM directory_role_members").fetchone()[0] == before


def _as_of(path: Path, snapshot: str) -> date:
    con = db.connect(path, read_only=True)
    try:
        return con.execute("SELECT as_of FROM snapshots WHERE snapshot = ?", [snapshot]).fetchone()[
            0
        ]
    finally:
        con.close()


def test_adding_files_without_as_of_keeps_the_snapshots_date(runner, tmp_path):
    """Ingesting into an existing snapshot without --as-of keeps its reference date (rules
    count from it): a second ingest of the same files changes nothing, not even the file."""
    path = tmp_path / "x.duckdb"
    first = ["ingest", str(SAMPLE), "--db", str(path), "--snapshot", "2026-11"]
    assert runner.invoke(cli, [*first, "--as-of", str(AS_OF)]).exit_code == 0
    before = path.read_bytes()
    again = runner.invoke(cli, first)
    assert again.exit_code == 0, again.output
    assert path.read_bytes() == before
    assert _as_of(path, "2026-11") == AS_OF
    # Given, --as-of still moves it; a new snapshot without it is dated today.
    assert runner.invoke(cli, [*first, "--as-of", "2026-10-31"]).exit_code == 0
    assert _as_of(path, "2026-11") == date(2026, 10, 31)
    assert runner.invoke(cli, [*first[:4], "--snapshot", "new"]).exit_code == 0
    assert _as_of(path, "new") == date.today()


def test_guids_are_stored_lower_case(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(
        "tenant_id,display_name,tenant_type\n3F1C8A52-7D0E-4C1B-9A4E-2B6F0D9E1A01,X,customer\n"
    )
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [f], snapshot="s", as_of=AS_OF)
    assert con.execute("SELECT tenant_id FROM tenants").fetchone()[0] == (
        "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01"
    )


def test_tenant_from_folder_domain(tmp_path):
    (tmp_path / "contoso.onmicrosoft.com").mkdir()
    (tmp_path / "tenants.csv").write_text(
        "tenant_id,display_name,default_domain,tenant_type\n"
        "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,Contoso,contoso.onmicrosoft.com,customer\n"
    )
    (tmp_path / "contoso.onmicrosoft.com" / "roles.csv").write_text(
        "tenant_id,role_template_id,principal_id,principal_type\n"
        ",62e90394-69f5-4237-9190-012177145e10,a0000001-0000-4000-8000-000000000001,user\n"
    )
    con = db.connect(tmp_path / "x.duckdb")
    ingest(
        con,
        [tmp_path / "tenants.csv", tmp_path / "contoso.onmicrosoft.com"],
        snapshot="s",
        as_of=AS_OF,
    )
    assert con.execute("SELECT tenant_id FROM directory_role_members").fetchone()[0] == (
        "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01"
    )


ROLES_HEADER = "tenant_id,role_template_id,principal_id,principal_type\n"
GOOD_ROW = (
    "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,62e90394-69f5-4237-9190-012177145e10,"
    "a0000001-0000-4000-8000-000000000001,user\n"
)

GDAP_HEADER = (
    "relationship_id,partner_tenant_id,customer_tenant_id,display_name,status,duration,"
    "auto_extend_duration,created_at,activated_at,end_at\n"
)
GDAP_ROW = (
    "aaaa0000-0000-4000-8000-00000000000a-3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,"
    "d6f7fc44-c24f-50b5-803c-2a06b9253355,3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,Support,active,"
    "P730D,PT0S,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z,2027-01-01T00:00:00Z\n"
)

ASSIGNMENTS_HEADER = "relationship_id,assignment_id,security_group_id,status,role_template_id\n"
ASSIGNMENT_ROW = (
    "aaaa0000-0000-4000-8000-00000000000a-3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,"
    "84c586df-0943-416e-b95f-7289cb8d3bd5,227a2f44-2682-4831-a021-f8d69a34bcba,active,"
    "62e90394-69f5-4237-9190-012177145e10\n"
)

BROKEN = {
    "invalid_guid": (
        ROLES_HEADER + GOOD_ROW + "not-a-guid,62e90394-69f5-4237-9190-012177145e10,"
        "a0000002-0000-4000-8000-000000000001,user\n",
        "line 3, field 'tenant_id': not a GUID",
    ),
    "missing_required_value": (
        ROLES_HEADER + GOOD_ROW.replace(",user", ","),
        "line 2, field 'principal_type': required value is missing",
    ),
    "bad_enum": (
        ROLES_HEADER + GOOD_ROW.replace(",user", ",wizard"),
        "line 2, field 'principal_type': unexpected value",
    ),
    "unknown_role": (
        ROLES_HEADER + GOOD_ROW.replace("62e90394", "00000000"),
        "line 2, field 'role_template_id': unknown directory role template id",
    ),
    "duplicate_row": (
        ROLES_HEADER + GOOD_ROW + GOOD_ROW,
        "line 3: duplicate record (same as line 2)",
    ),
    "no_tenant": (
        ROLES_HEADER + GOOD_ROW.replace("3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01", ""),
        "line 2, field 'tenant_id': no tenant id",
    ),
    "too_many_fields": (ROLES_HEADER + GOOD_ROW.rstrip("\n") + ",extra,more\n", "malformed CSV"),
    # Lines as a reader counts them: DuckDB skips blank lines; a #TYPE line comes first.
    "bad_row_after_blank_lines": (
        ROLES_HEADER + "\n" + GOOD_ROW + "\n\n" + "not-a-guid" + GOOD_ROW[GOOD_ROW.index(",") :],
        "line 6, field 'tenant_id': not a GUID",
    ),
    "duplicate_past_a_type_line_and_blank_lines": (
        "#TYPE Selected.System.Management.Automation.PSCustomObject\n"
        + ROLES_HEADER
        + "\n"
        + GOOD_ROW
        + "\n"
        + GOOD_ROW,
        "line 6: duplicate record (same as line 4)",
    ),
    # A row added on Linux to a file saved on Windows: DuckDB's message named no line.
    "mixed_line_endings": (
        ROLES_HEADER.replace("\n", "\r\n")
        + GOOD_ROW.replace("\n", "\r\n")
        + GOOD_ROW.replace("a0000001", "a0000002"),
        "line 3: mixed line endings: this line ends in LF (Unix), the lines before it in "
        "CRLF (Windows)",
    ),
    # Checked as the Graph reader checks them: an unreadable duration hid GDAP-EXPIRING.
    "duration_not_iso": (
        GDAP_HEADER + GDAP_ROW.replace(",P730D,", ",730 days,"),
        "line 2, field 'duration': not an ISO-8601 duration",
    ),
    "auto_extend_duration_not_iso": (
        GDAP_HEADER + GDAP_ROW.replace(",PT0S,", ",none,"),
        "line 2, field 'auto_extend_duration': not an ISO-8601 duration",
    ),
    # A misspelt status was taken: the relationship counted as not active, and its
    # GDAP-GLOBAL-ADMIN finding vanished without a word.
    "gdap_status_misspelt": (
        GDAP_HEADER + GDAP_ROW.replace(",active,", ",activ,"),
        "line 2, field 'status': unexpected value (expected one of: activating, active, "
        "approvalPending, approved, created, expired, expiring, terminated, terminating, "
        "terminationRequested, unknownFutureValue; in any case)",
    ),
    "access_assignment_status_misspelt": (
        ASSIGNMENTS_HEADER + ASSIGNMENT_ROW.replace(",active,", ",actve,"),
        "line 2, field 'status': unexpected value (expected one of: active, deleted, deleting, "
        "error, pending, unknownFutureValue; in any case)",
    ),
}


def _refused_beside_the_sample(runner, tmp_path, name: str, content: str, *args: str):
    """Ingest the sample, then `content` as in/NAME with `args`: the result, after checking
    that it failed with exit code 2 and left the database as it was."""
    dbfile = tmp_path / "x.duckdb"
    ok = runner.invoke(cli, ["ingest", str(SAMPLE), "--db", str(dbfile), "--as-of", "2026-11-30"])
    assert ok.exit_code == 0, ok.output
    before = db_dump(dbfile)
    bad = tmp_path / "in" / name
    bad.parent.mkdir()
    bad.write_text(content, encoding="utf-8")
    result = runner.invoke(
        cli, ["ingest", *[str(bad) if a == "BAD" else a for a in args], "--db", str(dbfile)]
    )
    assert result.exit_code == 2, result.output
    assert db_dump(dbfile) == before
    return result


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_canonical_csv_exits_2_and_changes_nothing(runner, tmp_path, case):
    content, message = BROKEN[case]
    result = _refused_beside_the_sample(
        runner,
        tmp_path,
        "roles.csv",
        content,
        str(SAMPLE),
        "BAD",
        "--as-of",
        "2026-11-30",
        "--snapshot",
        "2026-12",
    )
    assert "Error: " in result.output
    assert str(Path("in") / "roles.csv") in result.output
    assert message in result.output


def test_windows_line_endings_with_unix_ones_inside_quoted_values_load(tmp_path):
    # The near miss of mixed_line_endings: Excel ends rows in CRLF and a line break typed in a
    # cell in LF, which is data.
    path = tmp_path / "tenants.csv"
    path.write_bytes(
        b"tenant_id,display_name,tenant_type\r\n"
        b'3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,"Contoso\nEurope",customer\r\n'
        b"4f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,Fabrikam,customer\r\n"
    )
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [path], snapshot="2026-11", as_of=AS_OF)
    assert con.execute("SELECT display_name, source_record FROM tenants ORDER BY 2").fetchall() == [
        ("Contoso\nEurope", 2),
        ("Fabrikam", 3),
    ]
    con.close()


def test_unknown_header_lists_kinds(runner, tmp_path):
    bad = tmp_path / "mystery.csv"
    bad.write_text("colour,flavour\nred,sweet\n")
    result = runner.invoke(cli, ["ingest", str(bad), "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 2
    assert "mystery.csv" in result.output
    assert "canonical.tenants" in result.output


def test_unreadable_file_exits_2(runner, tmp_path):
    missing = tmp_path / "nope.csv"
    result = runner.invoke(cli, ["ingest", str(missing), "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 2
    assert "nope.csv" in result.output and "no such file" in result.output


def test_a_pipe_or_standard_input_is_refused_with_what_to_do(runner, tmp_path):
    # A pipe cannot be read twice (hashed, then loaded): its name used to be reported missing.
    fifo = tmp_path / "roles.csv"
    os.mkfifo(fifo)
    stop = threading.Event()

    def write() -> None:  # the rows to every reader, so that one that reads fails, not hangs
        while not stop.is_set():
            with contextlib.suppress(BrokenPipeError), open(fifo, "w") as pipe:
                pipe.write(ROLES_HEADER + GOOD_ROW)

    writer = threading.Thread(target=write)
    writer.start()
    dbfile = tmp_path / "x.duckdb"
    result = runner.invoke(cli, ["ingest", str(fifo), "--db", str(dbfile)])
    stop.set()
    os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # lets the waiting writer go
    writer.join()
    assert result.exit_code == 2
    assert f"Error: {fifo}: not a regular file (a pipe or a device)" in result.output
    result = runner.invoke(cli, ["ingest", "-", "--db", str(dbfile)], input=GOOD_ROW)
    assert result.exit_code == 2
    assert "Error: -: standard input is not read" in result.output
    assert not dbfile.exists()


def test_moving_an_analysed_snapshots_date_says_its_findings_do_not_follow(runner, tmp_path):
    path = tmp_path / "x.duckdb"
    first = ["--db", str(path), "--snapshot", "2026-11", "--as-of", str(AS_OF)]
    assert (
        runner.invoke(
            cli, ["run", str(SAMPLE), *first, "--out", str(tmp_path / "o"), "--format", "html"]
        ).exit_code
        == 0
    )
    moved = runner.invoke(
        cli,
        [
            "ingest",
            str(SAMPLE / "tenants.csv"),
            "--db",
            str(path),
            "--snapshot",
            "2026-11",
            "--as-of",
            "2027-06-01",
        ],
    )
    assert moved.exit_code == 0, moved.output
    assert (
        f"Warning: snapshot 2026-11: its reference date moves from {AS_OF} to 2027-06-01; the "
        "findings analysed before are out of date: run `dapaudit analyze --snapshot "
        "2026-11`" in moved.output
    )
    stale = runner.invoke(cli, ["findings", "--db", str(path), "--snapshot", "2026-11"])
    assert stale.exit_code == 2, stale.output
    again = runner.invoke(
        cli,
        [
            "ingest",
            str(SAMPLE / "tenants.csv"),
            "--db",
            str(path),
            "--snapshot",
            "new",
            "--as-of",
            "2027-06-01",
        ],
    )
    assert "Warning" not in again.output  # a new snapshot has no findings to leave behind


def _refused(tmp_path: Path, path: Path, **options) -> str:
    """The message of the DapauditError that ingesting `path` into a new database raises."""
    con = db.connect(tmp_path / "refused.duckdb")
    try:
        with pytest.raises(DapauditError) as refused:
            ingest(con, [path], snapshot="s", as_of=AS_OF, **options)
    finally:
        con.close()
    return str(refused.value)


def test_a_tenant_domain_the_snapshot_does_not_know_is_said_as_such(tmp_path):
    """--tenant with a domain no tenant of the snapshot has: the message said no --tenant
    was given, then that neither --tenant nor a folder gave a tenant."""
    roles = tmp_path / "roles.csv"
    roles.write_text(BROKEN["no_tenant"][0], encoding="utf-8")
    message = _refused(tmp_path, roles, tenant="unknown.onmicrosoft.com")
    assert "no --tenant was given" not in message
    assert "neither --tenant nor a parent folder" not in message
    assert "is a domain no tenant of the snapshot has" in message


def test_an_error_names_the_line_the_record_is_on(tmp_path):
    """Records were numbered by position: a quoted value over two lines (and blank lines, see
    BROKEN) moved the line an error named. Here the bad GUID is on line 5."""
    roles = tmp_path / "roles.csv"
    roles.write_text(
        "tenant_id,role_template_id,principal_id,principal_type,principal_display_name,"
        "principal_upn,principal_organization_id,directory_scope_id\n"  # line 1
        "0e6249f8-cf40-5b6e-9138-82b4a7337e4f,62e90394-69f5-4237-9190-012177145e10,"
        '31d439a3-00f9-5b02-b4ba-3fefdc9bdcea,user,"Admin\n'  # 2
        'One",a1@contoso.example,,/\n'  # 3
        "\n"  # 4
        "0e6249f8-cf40-5b6e-9138-82b4a7337e4f,62e90394-69f5-4237-9190-012177145e10,"
        "not-a-guid,user,Three,a3@contoso.example,,/\n",  # 5
        encoding="utf-8",
    )
    assert "roles.csv, line 5, field 'principal_id'" in _refused(tmp_path, roles)


def test_gdap_statuses_in_any_case_are_stored_as_graph_spells_them(tmp_path):
    """The statuses are Graph's closed lists: any case is the same status, stored in Graph's
    spelling, so every rule and query sees one value."""
    rels = tmp_path / "gdap_relationships.csv"
    rels.write_text(
        GDAP_HEADER
        + GDAP_ROW.replace(",active,", ",ACTIVE,")
        + GDAP_ROW.replace("aaaa0000", "bbbb0000").replace(",active,", ",ApprovalPending,")
    )
    assignments = tmp_path / "gdap_access_assignments.csv"
    assignments.write_text(ASSIGNMENTS_HEADER + ASSIGNMENT_ROW.replace(",active,", ",Active,"))
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [rels, assignments], snapshot="s", as_of=AS_OF)
    assert con.execute("SELECT status FROM gdap_relationships ORDER BY 1").fetchall() == [
        ("active",),
        ("approvalPending",),
    ]
    assert con.execute("SELECT status FROM gdap_access_assignments").fetchall() == [("active",)]
    con.close()


PARTNERS_HEADER = (
    "customer_tenant_id,partner_tenant_id,partner_name,relationship_type,dap_enabled,"
    "dap_granted_on,dap_removed_on,relationship_ended_on\n"
)
PARTNERS_ROW = (
    "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,9d2e7b10-4a5c-4f7e-8b1a-0c3d5e7f9a11,"
    "Northwind Partners,reseller,true,2019-03-01,,\n"
)

# A header forced on a canonical kind (--kind): detection refuses these files as of no kind,
# --kind read them, a misspelt column as one of empty values, without a word.
FORCED_HEADERS = {
    "misspelt_optional_column": (
        "canonical.partner_relationships",
        PARTNERS_HEADER.replace("dap_enabled", "dap_enabeld") + PARTNERS_ROW,
        "partners.csv, line 1, field 'dap_enabeld': not a column of "
        "canonical.partner_relationships (did you mean 'dap_enabled'?)",
    ),
    # It said "line 2, field 'tenant_id': required value is missing", of a column never there.
    "missing_required_column": (
        "canonical.tenants",
        "display_name,tenant_type\nContoso,customer\n",
        "partners.csv, line 1, field 'tenant_id': required column is missing from the header",
    ),
    "missing_required_column_after_a_type_line": (
        "canonical.partner_relationships",
        "#TYPE System.Management.Automation.PSCustomObject\n"
        + PARTNERS_HEADER.replace("relationship_type,", "")
        + PARTNERS_ROW.replace("reseller,", ""),
        "partners.csv, line 2, field 'relationship_type': required column is missing from the "
        "header",
    ),
}


@pytest.mark.parametrize("case", sorted(FORCED_HEADERS))
def test_a_forced_canonical_kind_refuses_a_header_outside_its_layout(runner, tmp_path, case):
    kind, content, message = FORCED_HEADERS[case]
    result = _refused_beside_the_sample(
        runner, tmp_path, "partners.csv", content, "BAD", "--kind", kind, "--snapshot", "2026-11"
    )
    assert result.output.startswith("Error: "), result.output
    assert result.output.endswith(f"{os.sep}in{os.sep}{message}\n"), result.output


def test_a_forced_canonical_kind_leaves_other_columns_unread_as_before(tmp_path):
    """Only a near miss of a column the header lacks is refused: a helper column kept beside
    the layout's (customer_name, whose near miss customer_tenant_id is there), a nameless
    column after Excel's trailing delimiter, and a tenant_id column left out where the
    folder gives the tenant, loaded before the header check and still do."""
    tenant = "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01"
    folder = tmp_path / tenant
    folder.mkdir()
    (folder / "members.csv").write_text(
        "role_template_id,principal_id,principal_type,notes,\n"
        "62e90394-69f5-4237-9190-012177145e10,a0000001-0000-4000-8000-000000000001,user,x,\n",
        encoding="utf-8",
    )
    (tmp_path / "partners.csv").write_text(
        PARTNERS_HEADER.replace("\n", ",customer_name\n") + PARTNERS_ROW.replace("\n", ",C\n"),
        encoding="utf-8",
    )
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [folder], snapshot="s", as_of=AS_OF, kind="canonical.directory_role_members")
    ingest(
        con,
        [tmp_path / "partners.csv"],
        snapshot="s",
        as_of=AS_OF,
        kind="canonical.partner_relationships",
    )
    assert con.execute("SELECT tenant_id FROM directory_role_members").fetchall() == [(tenant,)]
    assert con.execute("SELECT count(*) FROM partner_relationships").fetchone() == (1,)


def test_a_forced_canonical_kind_still_takes_its_optional_columns_left_out(tmp_path):
    path = tmp_path / "partners.csv"
    path.write_text(
        "Partner_Tenant_ID,customer_tenant_id,relationship_type\n"
        "9d2e7b10-4a5c-4f7e-8b1a-0c3d5e7f9a11,3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,reseller\n",
        encoding="utf-8",
    )
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [path], snapshot="s", as_of=AS_OF, kind="canonical.partner_relationships")
    assert con.execute(
        "SELECT partner_tenant_id, relationship_type, dap_enabled FROM partner_relationships"
    ).fetchall() == [("9d2e7b10-4a5c-4f7e-8b1a-0c3d5e7f9a11", "reseller", None)]
    con.close()


def test_a_misspelt_column_found_by_a_folder_scan_is_named(tmp_path, sample_copy):
    """`dap_enabeld` in a folder ingested without --kind: the message listed every kind
    dapaudit knows and said to use --kind (which then refused the column)."""
    partners = sample_copy / "partner_relationships.csv"
    text = partners.read_text(encoding="utf-8")
    partners.write_text(text.replace("dap_enabled", "dap_enabeld", 1), encoding="utf-8")
    message = _refused(tmp_path, sample_copy)
    assert message == (
        f"{partners}: cannot tell the kind of this file from its CSV header; it comes closest "
        "to canonical.partner_relationships: 'dap_enabeld' is not a column of it (did you mean "
        "'dap_enabled'?). Correct the header"
    )


def test_a_column_the_layout_does_not_know_found_by_a_folder_scan_says_to_use_kind(
    tmp_path, sample_copy, runner
):
    """A `notes` column kept in tenants.csv: detection takes only the layout's columns, and the
    message did not say which kind came close or that --kind reads it."""
    tenants = sample_copy / "tenants.csv"
    lines = tenants.read_text(encoding="utf-8").splitlines()
    tenants.write_text(
        "\n".join([lines[0] + ",notes"] + [x + ",kept by hand" for x in lines[1:]]) + "\n",
        encoding="utf-8",
    )
    message = _refused(tmp_path, sample_copy)
    assert message.endswith(
        "it comes closest to canonical.tenants: it has columns the layout does not know "
        "(notes). Ingest it on its own with --kind canonical.tenants (columns the layout does "
        "not know are left unread)"
    )
    dbfile = str(tmp_path / "told.duckdb")
    result = runner.invoke(
        cli, ["ingest", str(tenants), "--kind", "canonical.tenants", "--db", dbfile]
    )
    assert result.exit_code == 0, result.output
    with db.opened(dbfile, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM tenants").fetchone()[0] == len(lines) - 1


def test_a_header_near_no_layout_lists_the_kinds_as_before(tmp_path):
    """Two canonical columns in an export of some other tool: not close to any layout."""
    other = tmp_path / "other.csv"
    other.write_text("tenant_id,display_name,colour,size\nx,y,z,w\n", encoding="utf-8")
    message = _refused(tmp_path, other)
    assert "comes closest" not in message and "considered: " in message
