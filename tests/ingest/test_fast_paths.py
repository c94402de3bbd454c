"""The shortcuts taken for speed give exactly what the plain way gives.

- JSON files read whole while detecting them are handed to DuckDB as text; anything that is
  not one valid document (NDJSON, concatenated pages, malformed) is read from its file.
- JSON fields a statement reads from a staged table are parsed once per row (hoist_json).
- Folders are walked with os.scandir, resolving each input once.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

import dapaudit.ingest as ingest_module
from conftest import AS_OF, SAMPLE, table_dump
from dapaudit import db
from dapaudit.errors import DapauditError
from dapaudit.ingest import base, discover, ingest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TENANT = "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01"
ODATA_TYPE = '"@odata.type"'


def _graph_page(context: str, records: list[dict]) -> str:
    return json.dumps({"@odata.context": context, "value": records})


def _mixed_json_folder(root: Path) -> Path:
    """Small JSON exports in every shape stage_json accepts, UTF-8 and UTF-16."""
    folder = root / "exports" / TENANT
    folder.mkdir(parents=True)
    for name in (
        "graph_autopilot_devices_utf16be.json",
        "graph_contracts.json",
        "graph_directory_roles_listing.json",
        "az_role_assignments_nested_old_cli.json",
    ):
        shutil.copy(FIXTURES / name, folder / name)
    shutil.copytree(FIXTURES / "gdap_paged", folder / "gdap_paged")
    context = "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignments"
    role = "62e90394-69f5-4237-9190-012177145e10"

    def assignment(n: int) -> dict:
        return {
            "id": f"a{n}",
            "roleDefinitionId": role,
            "principalId": f"00000000-0000-4000-8000-{n:012d}",
            "directoryScopeId": "/",
        }

    # One page in UTF-16 with BOM, two pages concatenated, and NDJSON: one file each.
    (folder / "ra_utf16.json").write_bytes(
        b"\xff\xfe" + _graph_page(context, [assignment(1), assignment(2)]).encode("utf-16-le")
    )
    (folder / "ra_concatenated.json").write_text(
        _graph_page(context, [assignment(3)]) + "\n" + _graph_page(context, [assignment(4)]),
        encoding="utf-8",
    )
    (folder / "ra_ndjson.json").write_text(
        "\n".join(json.dumps(assignment(n)) for n in (5, 6, 7)) + "\n", encoding="utf-8"
    )
    return root / "exports"


def _load(path: Path, inputs: Path) -> dict:
    con = db.connect(path)
    try:
        ingest(con, [inputs], snapshot="2026-11", as_of=AS_OF)
        dump = table_dump(con)
    finally:
        con.close()
    # The time of ingest differs between the two runs; everything else must not.
    dump.pop("source_files")
    dump.pop("snapshots")
    return dump


def test_json_handed_over_as_text_loads_exactly_as_read_from_disk(tmp_path, monkeypatch):
    inputs = _mixed_json_folder(tmp_path)
    handed_over = _load(tmp_path / "text.duckdb", inputs)
    # No text kept: every file goes through DuckDB's own reader (the way before the shortcut).
    monkeypatch.setattr(ingest_module, "whole_text", lambda whole, info: None)
    from_disk = _load(tmp_path / "disk.duckdb", inputs)
    assert handed_over == from_disk
    assert len(handed_over["directory_role_members"]) == 7
    assert len(handed_over["autopilot_devices"]) > 0


def test_texts_handed_over_in_many_small_chunks_load_the_same(tmp_path, monkeypatch):
    """Python holds one chunk of small files' text at a time; where the chunks split must not
    change what is loaded (a chunk of one character: one file per chunk)."""
    inputs = _mixed_json_folder(tmp_path)
    whole = _load(tmp_path / "one.duckdb", inputs)
    monkeypatch.setattr(base, "TEXT_CHUNK", 1)
    chunked = _load(tmp_path / "many.duckdb", inputs)
    assert chunked == whole
    assert len(chunked["directory_role_members"]) == 7


def test_a_small_utf16_file_malformed_after_its_first_record_is_still_located(tmp_path):
    # The first record reads, so detection passes; the text is not one valid document, so
    # it is read from a UTF-8 copy written then, and DuckDB's error names the file.
    folder = tmp_path / TENANT
    folder.mkdir()
    text = (
        '{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#roleManagement/'
        'directory/roleAssignments", "value": [{"id": "a", "roleDefinitionId": '
        '"62e90394-69f5-4237-9190-012177145e10", "principalId": '
        '"00000000-0000-4000-8000-000000000001", "directoryScopeId": "/"}, {"id": "b", '
    )
    (folder / "cut.json").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    con = db.connect(tmp_path / "p.duckdb")
    before = table_dump(con)
    with pytest.raises(DapauditError) as err:
        ingest(con, [folder], snapshot="2026-11", as_of=AS_OF)
    assert "malformed JSON" in str(err.value)
    assert err.value.file.endswith("cut.json")
    assert table_dump(con) == before
    con.close()


@pytest.fixture
def staged():
    con = duckdb.connect()
    records = [
        {"a": "x", "b": 1, "n": {"c": " y "}, "@odata.type": "#microsoft.graph.user"},
        {"a": None, "b": [1, 2], "n": {}},
        {},
        {"a": "", "b": True, "n": {"c": "\u00e9"}},
    ]
    con.execute(
        "CREATE TABLE stg (source_file_id INTEGER, source_record INTEGER, rec JSON)",
    )
    for n, rec in enumerate(records, 1):
        con.execute("INSERT INTO stg VALUES (1, ?, ?)", [n, json.dumps(rec)])
    yield con
    con.close()


def test_hoisted_fields_are_the_fields_read_one_by_one(staged):
    sql = (
        f"SELECT s.source_record, {base.js('a')}, {base.js('b')}, {base.js('n.c')}, "
        f"{base.js('a')} IS NULL, {base.js(ODATA_TYPE)} FROM stg s ORDER BY 1"
    )
    hoisted = base.hoist_json(sql, "stg")
    assert "s.rec->>" not in hoisted and "json_extract_string(rec, [" in hoisted
    assert staged.execute(hoisted).fetchall() == staged.execute(sql).fetchall()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT s.*, s.rec->>'$.a', s.rec->>'$.b' FROM stg s",  # s.* would expose the list
        "SELECT s.rec->>'$.a' FROM stg s",  # one field: nothing to share
        "SELECT s.rec->>'$.a', s.rec->>'$.b' FROM stg s JOIN stg s2 USING (source_record) "
        "UNION ALL SELECT s.rec->>'$.a', s.rec->>'$.b' FROM stg s",  # read twice as s
        "SELECT * FROM stg s WHERE s.rec->>'$.a' = s.rec->>'$.b'",
    ],
)
def test_hoisting_leaves_statements_it_cannot_rewrite_safely(staged, sql):
    assert base.hoist_json(sql, "stg") == sql


def test_discover_order_hidden_files_and_symlinks(tmp_path):
    root = tmp_path / "in"
    for rel in ("a/b/y", "a/x", "a-b/q", "A/r", ".hidden/z", "a/.h", "top"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x", encoding="utf-8")
    os.symlink(root / "a", root / "A" / "linked_folder")  # not entered
    os.symlink(root / "top", root / "a" / "linked_file")  # the same file as top: once
    found = [p.relative_to(root).as_posix() for p in discover([root])]
    # Sorted as Paths are (by part, so a/... before a-b/...), each file once.
    assert found == ["A/r", "a/b/y", "a/linked_file", "a/x", "a-b/q"]
    # A file named first and found again below a folder is read once, where first named.
    again = discover([root / "a" / "x", root])
    assert [p.relative_to(root).as_posix() for p in again][:2] == ["a/x", "A/r"]
    assert len(again) == len(found)


def test_a_symlinked_folder_is_not_read_and_said_so(tmp_path):
    root = tmp_path / "in"
    shutil.copytree(SAMPLE, root)
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(SAMPLE / "tenants.csv", tmp_path / "elsewhere" / "more.csv")
    os.symlink(tmp_path / "elsewhere", root / "linked")
    con = db.connect(tmp_path / "x.duckdb")
    try:
        report = ingest(con, [root], snapshot="s", as_of=AS_OF)
    finally:
        con.close()
    assert "more.csv" not in {Path(f.path).name for f in report.files}
    assert report.warnings == [
        f"{root / 'linked'}: a symlinked folder, not read (name it as an input to read it)"
    ]


def test_a_folder_that_cannot_be_read_is_an_error_not_a_gap(tmp_path, monkeypatch):
    """Its exports would be missing from the audit without a word (chmod 000 as anyone but
    root gives this; the tests may run as root, so the listing itself is refused here)."""
    root = tmp_path / "in"
    shutil.copytree(SAMPLE, root)
    (root / "locked").mkdir()
    real = os.scandir

    def scandir(path):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(ingest_module.os, "scandir", scandir)
    with pytest.raises(DapauditError) as err:
        discover([root])
    assert str(err.value) == f"{root / 'locked'}: cannot read this folder: permission denied"


def test_run_does_not_read_its_own_report_folder(runner, tmp_path, monkeypatch):
    """`dapaudit run .` in the exports folder, twice: the second run does not take the first
    one's findings.csv for an export."""
    from dapaudit.cli import cli

    root = tmp_path / "in"
    shutil.copytree(SAMPLE, root)
    monkeypatch.chdir(root)
    args = ["run", ".", "--as-of", "2026-11-30", "--db", str(tmp_path / "x.duckdb")]
    args += ["--format", "html"]
    assert runner.invoke(cli, args).exit_code == 0
    assert (root / "dapaudit-report" / "findings.csv").exists()
    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "dapaudit-report" not in again.output.split("Wrote")[0]


def test_small_kinds_load_on_one_thread_and_ingest_gives_the_threads_back(tmp_path, monkeypatch):
    """A kind with at most ONE_THREAD_BYTES to read loads on one DuckDB thread (its tables fit
    in one row group, which one core scans anyway), a larger one on the connection's threads:
    the same rows either way, and the connection has its own threads again afterwards."""
    seen: dict[str, int] = {}
    real = ingest_module._load_kind

    def spy(con, kind, snapshot, files, **kwargs):
        seen[kind.name] = db.current_threads(con)
        return real(con, kind, snapshot, files, **kwargs)

    monkeypatch.setattr(ingest_module, "_load_kind", spy)
    dumps = []
    for limit, expected in ((ingest_module.ONE_THREAD_BYTES, 1), (0, 2)):
        monkeypatch.setattr(ingest_module, "ONE_THREAD_BYTES", limit)
        con = db.connect(tmp_path / f"{limit}.duckdb")
        try:
            con.execute("SET threads = 2")
            ingest(con, [SAMPLE], snapshot="s", as_of=AS_OF)
            assert len(seen) > 5 and set(seen.values()) == {expected}
            assert db.current_threads(con) == 2
            dump = table_dump(con)
        finally:
            con.close()
        seen.clear()
        del dump["snapshots"], dump["source_files"]  # when each file was ingested
        dumps.append(dump)
    assert dumps[0] == dumps[1]


def test_ingest_gives_the_threads_back_after_a_kind_fails(tmp_path):
    """The failing kind ran on one thread; a failed transaction refuses even SET, so ingest
    sets the threads back once the transaction has rolled back."""
    folder = tmp_path / "in"
    shutil.copytree(SAMPLE, folder)
    tenants = folder / "tenants.csv"
    tenants.write_text(
        tenants.read_text(encoding="utf-8") + "not-a-guid,Broken,broken.example,customer\n",
        encoding="utf-8",
    )
    con = db.connect(tmp_path / "t.duckdb")
    try:
        con.execute("SET threads = 2")
        before = table_dump(con)
        with pytest.raises(DapauditError, match="tenants.csv"):
            ingest(con, [folder], snapshot="s", as_of=AS_OF)
        assert db.current_threads(con) == 2
        assert table_dump(con) == before
    finally:
        con.close()


def test_an_empty_json_array_is_said_and_skipped_and_loads_with_kind(tmp_path):
    """`az role assignment list -o json` with nothing to list writes []: no record tells its
    kind. It does not stop the ingest; it is named in a warning, and with --kind it records
    the export as empty (coverage for its tenant, no rows)."""
    root = tmp_path / "in"
    shutil.copytree(SAMPLE, root)
    empty = root / "c" / "az-role-assignments.json"
    empty.parent.mkdir()
    empty.write_text("[ ]\n", encoding="utf-8")
    con = db.connect(tmp_path / "x.duckdb")
    try:
        report = ingest(con, [root], snapshot="s", as_of=AS_OF)
        assert empty.name not in {Path(f.path).name for f in report.files}
        assert len(report.files) == len(list(SAMPLE.glob("*.csv")))
        assert report.warnings == [
            f"{empty}: an empty JSON array, whose kind no record tells; not read (give it with "
            "--kind, alone, to record the export as empty)"
        ]
        tenant = "0e6249f8-cf40-5b6e-9138-82b4a7337e4f"
        forced = ingest(
            con, [empty], snapshot="t", as_of=AS_OF, kind="azure.role_assignments", tenant=tenant
        )
        assert [(f.kind, f.rows) for f in forced.files] == [("azure.role_assignments", 0)]
        assert con.execute(
            "SELECT tenant_id, dataset FROM export_coverage WHERE snapshot = 't'"
        ).fetchall() == [(tenant, "azure_role_assignments")]
    finally:
        con.close()


def test_an_empty_subscription_list_given_with_kind_closes_the_azure_coverage_gap(tmp_path):
    """COVERAGE-GAP asks for `az account list` to be exported even when it is empty: given
    with --kind, that empty list counts as the tenant's Azure export (nothing to assign roles
    on), and the gap about Azure closes for that tenant only."""
    from dapaudit.analyze import analyze
    from dapaudit.config import Config

    relecloud = "37ce1759-b3b5-505b-b3f3-e7fef4cf3dbd"  # the sample's customer without Azure
    empty = tmp_path / "relecloud" / "az-account-list.json"
    empty.parent.mkdir()
    empty.write_text("[]\n", encoding="utf-8")

    def gaps(extra: bool) -> list[str]:
        con = db.connect(tmp_path / f"x{extra}.duckdb")
        try:
            ingest(con, [SAMPLE], snapshot="s", as_of=AS_OF)
            if extra:
                ingest(
                    con, [empty], snapshot="s", kind="azure.accounts", tenant=relecloud, as_of=None
                )
            analyze(con, "s", Config())
            return [
                r[0]
                for r in con.execute(
                    "SELECT customer_tenant_id FROM findings WHERE rule_id = 'COVERAGE-GAP' "
                    "ORDER BY 1"
                ).fetchall()
            ]
        finally:
            con.close()

    before, after = gaps(False), gaps(True)
    assert relecloud in before
    assert after == [t for t in before if t != relecloud]
