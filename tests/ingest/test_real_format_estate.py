"""sample_data/real-format: written from the canonical estate by the converter, it never
drifts from it, and it gives exactly the canonical estate's findings (same fingerprints)."""

from __future__ import annotations

import filecmp
import importlib.util
import shutil
from pathlib import Path

import pytest

from conftest import AS_OF, ROOT, SAMPLE
from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.config import Config
from dapaudit.errors import DapauditError
from dapaudit.ingest import ingest
from dapaudit.ingest.canonical import CANONICAL

REAL = ROOT / "sample_data" / "real-format"
TOOL = ROOT / "tests" / "tools" / "make_real_format_estate.py"


def _converter():
    spec = importlib.util.spec_from_file_location("make_real_format_estate", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_committed_estate_is_what_the_converter_writes(tmp_path):
    out = tmp_path / "real-format"
    _converter().build(SAMPLE, out)
    assert _files(out) == _files(REAL), "re-run tests/tools/make_real_format_estate.py"
    _, mismatch, errors = filecmp.cmpfiles(out, REAL, _files(out), shallow=False)
    assert (mismatch, errors) == ([], []), "re-run tests/tools/make_real_format_estate.py"


def _findings(tmp_path: Path, folder: Path) -> list[tuple]:
    con = db.connect(tmp_path / f"{folder.name}.duckdb")
    try:
        ingest(con, [folder], snapshot="2026-11", as_of=AS_OF)
        analyze(con, "2026-11", Config())
        return con.execute(
            "SELECT rule_id, severity, customer_tenant_id, partner_tenant_id, subject, fingerprint "
            "FROM findings ORDER BY fingerprint"
        ).fetchall()
    finally:
        con.close()


def test_real_format_estate_gives_the_canonical_findings(tmp_path):
    canonical = _findings(tmp_path, SAMPLE)
    assert canonical, "the canonical estate has findings to compare"
    assert _findings(tmp_path, REAL) == canonical


def test_real_format_estate_uses_several_encodings_and_formats():
    heads = {p: p.read_bytes()[:4] for p in REAL.rglob("*") if p.is_file()}
    assert any(h.startswith(b"\xff\xfe") for h in heads.values())  # UTF-16LE with BOM
    assert any(h.startswith(b"\xef\xbb\xbf") for h in heads.values())  # UTF-8 with BOM
    assert any(p.read_bytes().startswith(b"#TYPE") for p in heads)  # Windows PowerShell 5.1
    assert any(b";" in p.read_bytes().split(b"\n")[0] for p in heads if p.suffix == ".csv")


# What no real export carries (README, "What a real export cannot say").
LOSSY = {
    "partner_relationships": ("dap_granted_on", "dap_removed_on", "relationship_ended_on"),
    "autopilot_devices": ("added_by",),
    "azure_role_assignments": ("role_definition_name", "principal_display_name"),
}
TABLES = tuple(layout.table for layout in CANONICAL)
EXTRA = {
    "dap_monitoring.csv": (
        "partner_tenant_id,customer_tenant_id,dap_enabled,partner_agent_count,"
        "partner_sign_in_count,global_admin_sign_in_count,start_at,end_at,last_sign_in_at\n"
        "d6f7fc44-c24f-50b5-803c-2a06b9253355,0e6249f8-cf40-5b6e-9138-82b4a7337e4f,true,2,14,3,"
        "2019-03-01T00:00:00Z,,2026-07-30T08:15:00Z\n"
        "d6f7fc44-c24f-50b5-803c-2a06b9253355,7cab6131-e8ab-5981-ac0c-2ddbaa338a84,false,0,0,0,"
        "2018-06-01T00:00:00Z,2025-06-01T00:00:00Z,\n"
    ),
    "autopilot_devices.csv": (
        "tenant_id,device_id,serial_number,manufacturer,model,group_tag,"
        "purchase_order_identifier,enrollment_state,added_by\n"
        "0e6249f8-cf40-5b6e-9138-82b4a7337e4f,7c141ea9-2816-4e15-a819-53f6856499ff,2R9-ZNP67,"
        "Dell Inc.,Precision 7560,SALES,PO-1,enrolled,Northwind Partners Ltd\n"
    ),
    "more_role_members.csv": (
        "tenant_id,role_template_id,principal_id,principal_type,principal_display_name,"
        "principal_upn,principal_organization_id,directory_scope_id\n"
        "7cab6131-e8ab-5981-ac0c-2ddbaa338a84,62e90394-69f5-4237-9190-012177145e10,"
        "11111111-2222-4333-8444-555555555555,group,Unknown GDAP Admins,,"
        "99999999-8888-4777-8666-555555555555,/\n"
    ),
    "loose_members.csv": (
        "partner_tenant_id,group_id,member_id,member_type,member_display_name,member_upn\n"
        "d6f7fc44-c24f-50b5-803c-2a06b9253355,77777777-6666-4555-8444-333333333333,"
        "22222222-3333-4444-8555-666666666666,user,Dana Lee,dana@northwindpartners.example\n"
    ),
    "more_gdap.csv": (
        "relationship_id,partner_tenant_id,customer_tenant_id,display_name,status,duration,"
        "auto_extend_duration,created_at,activated_at,end_at\n"
        "5d027261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836,"
        "d6f7fc44-c24f-50b5-803c-2a06b9253355,0e6249f8-cf40-5b6e-9138-82b4a7337e4f,"
        "MLT_Contoso,active,P730D,PT0S,2023-02-10T11:24:42Z,2023-02-10T11:26:44Z,"
        "2027-02-10T11:24:42Z\n"
    ),
}


def _tables(tmp_path: Path, folder: Path) -> dict[str, list[tuple]]:
    con = db.connect(tmp_path / f"{folder.name}-tables.duckdb")
    try:
        ingest(con, [folder], snapshot="s", as_of=AS_OF)
        out = {}
        for table in TABLES:
            drop = ", ".join(("snapshot", "source_file_id", "source_record", *LOSSY.get(table, ())))
            out[table] = con.execute(
                f"SELECT * EXCLUDE ({drop}) FROM {table} ORDER BY ALL"
            ).fetchall()
        return out
    finally:
        con.close()


def test_converter_carries_every_canonical_table(tmp_path):
    """Fed an estate with rows in every table (DAP monitoring, Autopilot, a foreign principal
    with its organization id, two GDAP relationships), the converter writes real exports that
    load back into the same rows, but for what no real export carries."""
    canonical = tmp_path / "canonical"
    shutil.copytree(SAMPLE, canonical)
    for name, text in EXTRA.items():
        (canonical / name).write_text(text, encoding="utf-8")
    real = tmp_path / "real"
    _converter().build(canonical, real)
    want = _tables(tmp_path, canonical)
    assert all(want[t] for t in TABLES), "every table has rows to carry"
    assert _tables(tmp_path, real) == want


def test_ingesting_the_real_format_estate_twice_adds_nothing(tmp_path):
    con = db.connect(tmp_path / "twice.duckdb")
    try:
        first = ingest(con, [REAL], snapshot="s", as_of=AS_OF)
        counts = [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES]
        second = ingest(con, [REAL], snapshot="s", as_of=AS_OF)
        assert first.rows > 0 and all(f.skipped for f in second.files)
        assert [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES] == counts
    finally:
        con.close()


def test_cli_ingest_reports_each_files_detected_kind(runner, tmp_path):
    from dapaudit.cli import cli

    result = runner.invoke(
        cli, ["ingest", str(REAL), "--db", str(tmp_path / "cli.duckdb"), "--as-of", "2026-11-30"]
    )
    assert result.exit_code == 0, result.output
    files = [p for p in REAL.rglob("*") if p.is_file()]
    kind_lines = [ln for ln in result.output.splitlines() if ln.startswith(("sample_data/", "/"))]
    assert len(kind_lines) == len(files)
    assert any("groups.json: graph.groups, " in ln for ln in kind_lines)
    assert any("partners.csv: aadinternals.ms_partners, " in ln for ln in kind_lines)


def test_tenant_option_against_the_tenant_folders_of_the_input(tmp_path):
    """--tenant over an estate laid out by tenant put every customer's role listing under the
    one tenant, without a word. A folder named by another tenant id is refused; a folder named
    like a domain (the tenant's own default or custom domain, or another tenant's: only its
    exports could tell) is said once per folder and taken as --tenant says."""
    contoso_id = "0e6249f8-cf40-5b6e-9138-82b4a7337e4f"
    by_id = tmp_path / "by-id" / "3ac27fbb-d22e-527d-82ee-53af90aadbdf"
    shutil.copytree(REAL / "contoso.onmicrosoft.com", by_id)
    con = db.connect(tmp_path / "x.duckdb")
    before = con.execute("SELECT count(*) FROM source_files").fetchone()
    with pytest.raises(DapauditError) as refused:
        ingest(con, [by_id.parent], snapshot="2026-11", as_of=AS_OF, tenant=contoso_id)
    assert (
        f"--tenant {contoso_id}, but the file is in the folder of tenant "
        "3ac27fbb-d22e-527d-82ee-53af90aadbdf" in str(refused.value)
    )
    assert con.execute("SELECT count(*) FROM source_files").fetchone() == before
    # The tenant's own folder, named by its domain, with its id as --tenant: read, and said.
    report = ingest(
        con, [REAL / "contoso.onmicrosoft.com"], snapshot="2026-11", as_of=AS_OF, tenant=contoso_id
    )
    notes = [w for w in report.warnings if w.startswith("--tenant")]
    assert notes == [
        f"--tenant {contoso_id} is taken for the files below the folder "
        "contoso.onmicrosoft.com, named like a tenant: if it is another tenant's, ingest that "
        "folder without --tenant"
    ]
    # A folder above the input that looks like a domain is not the input's tenant folder.
    outer = tmp_path / "audit.example.com"
    shutil.copytree(REAL / "contoso.onmicrosoft.com", outer / "exports")
    report = ingest(con, [outer / "exports"], snapshot="2026-12", as_of=AS_OF, tenant=contoso_id)
    assert not [w for w in report.warnings if w.startswith("--tenant")]
    con.close()
