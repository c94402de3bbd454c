"""Other tools: the Parquet export round-trips, the database opens in DuckDB and in the Python
API with the same views, and query waits for (or reports) a process writing the database."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import duckdb
import pandas as pd
import pytest

import dapaudit
from dapaudit import db as dbmod
from dapaudit.cli import cli
from dapaudit.docs import build_sample_database
from dapaudit.errors import DapauditError
from dapaudit.export import MANIFEST, checksum, read_back_relation


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("interop") / "sample.duckdb"
    build_sample_database(path)
    return path


def truth(path, sql):
    """What the database says, read directly: expectations derived, not retyped."""
    with dbmod.opened(path, read_only=True) as con:
        return con.execute(sql).fetchall()


def _export(runner, sample_file, out, *extra):
    result = runner.invoke(cli, ["export", "--db", str(sample_file), "--parquet", str(out), *extra])
    assert result.exit_code == 0, result.output
    return json.loads((out / MANIFEST).read_text())


def test_parquet_export_round_trips_with_duckdb_and_pandas(runner, sample_file, tmp_path):
    out = tmp_path / "parquet"
    manifest = _export(runner, sample_file, out)
    tables = manifest["tables"]
    with dbmod.opened(sample_file, read_only=True) as con:
        for name in (
            "findings",
            "tenants",
            "partner_relationships",
            "azure_role_assignments",
            "ref_directory_roles",
            "snapshots",
            "source_files",
        ):
            assert name in tables
        for name, info in tables.items():
            source_rows = con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
            assert info["rows"] == source_rows, name
    assert (
        tables["findings"]["rows"] == truth(sample_file, "SELECT count(*) FROM findings")[0][0] > 0
    )
    assert (out / "findings" / "snapshot=2026-11").is_dir()

    reader = duckdb.connect()
    for name, info in tables.items():
        if not info["rows"]:
            assert not (out / name).exists(), name
            continue
        columns = [c["name"] for c in info["columns"]]
        partitioned = info["partitioned_by"] == "snapshot"
        # DuckDB read_parquet
        got = checksum(reader, read_back_relation(out, name, partitioned), columns)
        assert got == (info["rows"], info["checksum"]), name
        # pandas (pyarrow), checked through the same checksum
        frame = pd.read_parquet(out / name)
        if partitioned:
            frame["snapshot"] = frame["snapshot"].astype(str)
        assert len(frame) == info["rows"], name
        reader.register("frame", frame)
        assert checksum(reader, "frame", columns) == (info["rows"], info["checksum"]), name
        reader.unregister("frame")


def test_checksum_notices_a_changed_row(sample_file, tmp_path):
    with dbmod.opened(sample_file, read_only=True) as con:
        cols = ["tenant_id", "display_name"]
        one = checksum(con, "tenants", cols)
        two = checksum(
            con, "(SELECT * REPLACE (upper(display_name) AS display_name) FROM tenants)", cols
        )
    assert one[0] == two[0] and one[1] != two[1]


def test_export_of_one_snapshot_and_refusals(runner, sample_file, tmp_path):
    manifest = _export(runner, sample_file, tmp_path / "one", "--snapshot", "2026-11")
    assert manifest["snapshot"] == "2026-11"
    assert (
        manifest["tables"]["findings"]["rows"]
        == truth(sample_file, "SELECT count(*) FROM findings WHERE snapshot = '2026-11'")[0][0]
    )
    result = runner.invoke(
        cli, ["export", "--db", str(sample_file), "--parquet", str(tmp_path / "one")]
    )
    assert result.exit_code == 2 and "must be new or empty" in result.output
    result = runner.invoke(
        cli,
        [
            "export",
            "--db",
            str(sample_file),
            "--parquet",
            str(tmp_path / "two"),
            "--snapshot",
            "1999-01",
        ],
    )
    assert result.exit_code == 2 and "no snapshot '1999-01'" in result.output


def test_duckdb_python_sees_the_same_views_and_comments(sample_file):
    con = duckdb.connect(str(sample_file), read_only=True)
    try:
        rows = con.execute("SELECT customer_name FROM finding_details ORDER BY position").fetchall()
        comment = con.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'partner_access' "
            "AND column_name = 'dap_enabled'"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert rows == truth(
        sample_file,
        "SELECT t.display_name FROM findings f LEFT JOIN tenant_directory t "
        "ON t.snapshot = f.snapshot AND t.tenant_id = f.customer_tenant_id ORDER BY f.position",
    )
    assert ("Tailspin Toys",) in rows
    assert comment.startswith("TRUE when any export says")


def _duckdb_cli_version() -> tuple[int, int] | None:
    exe = shutil.which("duckdb")
    if exe is None:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    major, minor = out.strip().lstrip("v").split(".")[:2]
    return int(major), int(minor)


@pytest.mark.skipif(
    (_duckdb_cli_version() or (0, 0)) < (1, 2),
    reason="no DuckDB command line 1.2 or later on PATH (pip install duckdb-cli)",
)
def test_duckdb_cli_sees_the_same_views(sample_file):
    # The CLI may be another DuckDB version than the Python package: the file is written in a
    # storage format DuckDB 1.2 and later read (db.STORAGE_COMPATIBILITY).
    out = subprocess.run(
        [
            "duckdb",
            "-readonly",
            "-csv",
            str(sample_file),
            "-c",
            "SELECT count(*) AS n FROM finding_details; "
            "SELECT count(*) AS pairs FROM partner_access WHERE dap_enabled; "
            "SELECT comment FROM duckdb_columns() "
            "WHERE table_name = 'partner_access' AND column_name = 'dap_enabled'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    findings = truth(sample_file, "SELECT count(*) FROM findings")[0][0]
    pairs = truth(sample_file, "SELECT count(*) FROM partner_access WHERE dap_enabled")[0][0]
    assert lines[:4] == ["n", str(findings), "pairs", str(pairs)]
    assert lines[5].strip('"').startswith("TRUE when any export says")


def test_python_api(sample_file):
    with dapaudit.open(sample_file) as audit:
        assert {"findings", "partner_access", "finding_details"} <= set(audit.tables())
        findings = audit.findings()
        assert list(findings["fingerprint"]) == [
            r[0] for r in truth(sample_file, "SELECT fingerprint FROM findings ORDER BY position")
        ]
        assert "Tailspin Toys" in set(findings["customer_name"])
        frame = audit.sql("SELECT count(*) AS n FROM tenants WHERE tenant_type = $t", t="partner")
        partners = truth(sample_file, "SELECT count(*) FROM tenants WHERE tenant_type = 'partner'")
        assert isinstance(frame, pd.DataFrame) and frame["n"][0] == partners[0][0] > 0
        with pytest.raises(DapauditError, match="read-only"):
            audit.sql("DELETE FROM findings")
    with dapaudit.open(sample_file, snapshot="2026-11") as audit:
        assert audit.snapshot == "2026-11"
        assert len(audit.findings()) == len(findings)


WRITER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
con.close()
print("closed", flush=True)
"""


def _writer(path):
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_query_reports_a_writer_that_does_not_finish(runner, sample_file, monkeypatch):
    monkeypatch.setattr(dbmod, "LOCK_WAIT_SECONDS", 0.5)
    proc = _writer(sample_file)
    try:
        result = runner.invoke(cli, ["query", "--db", str(sample_file), "SELECT 1"])
    finally:
        proc.communicate("\n")
    assert result.exit_code == 2
    assert "the database is in use by another process" in result.output
    assert "Traceback" not in result.output


def test_query_waits_for_a_writer_that_finishes(runner, sample_file, monkeypatch):
    proc = _writer(sample_file)
    real_sleep = dbmod.time.sleep

    def release_writer(seconds):  # the first retry ends the writer: no clock in the test
        if proc.poll() is None:
            proc.stdin.write("\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "closed"
            proc.wait()
        real_sleep(seconds)

    monkeypatch.setattr(dbmod.time, "sleep", release_writer)
    result = runner.invoke(
        cli,
        [
            "query",
            "--db",
            str(sample_file),
            "--format",
            "csv",
            "SELECT count(*) AS n FROM findings",
        ],
    )
    assert proc.poll() is not None, "query never had to wait"
    assert result.exit_code == 0, result.output
    # The wait notice goes to stderr; the query's answer alone is on stdout.
    assert result.stdout == f"n\n{truth(sample_file, 'SELECT count(*) FROM findings')[0][0]}\n"
    assert "Waiting for the database" in result.stderr
