"""A database file handed over (by a client, a colleague, a download) is input too: its table
names and views are the file's own. Reading it never writes a file, never reads one into a
report, and never writes outside the folder named."""

from __future__ import annotations

import duckdb
import pytest

from conftest import SAMPLE
from dapaudit.cli import cli


@pytest.fixture
def handed_over(sample_db, tmp_path):
    """The analysed sample database, closed, to be tampered with."""
    path = sample_db.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]
    sample_db.close()
    return tmp_path, path


def _tamper(path: str, *statements: str) -> None:
    con = duckdb.connect(path)
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def _table_named(name: str) -> str:
    return 'CREATE TABLE "' + name.replace('"', '""') + '" (a INTEGER)'


def test_a_table_name_cannot_run_statements_in_query_snapshot_or_check(runner, handed_over):
    tmp_path, path = handed_over
    written = tmp_path / "written.csv"
    # Closes the quote dapaudit's own statements put it in, then writes a file.
    _tamper(path, _table_named(f"zz\" AS SELECT 1 AS a; COPY (SELECT 1) TO '{written}'; --"))
    result = runner.invoke(
        cli, ["query", "--db", path, "--snapshot", "2026-11", "SELECT count(*) AS n FROM tenants"]
    )
    assert result.exit_code == 0, result.output
    assert "n" in result.output
    assert not written.exists()
    # check counts every table by name: this one closes that quote.
    _tamper(path, _table_named(f"dapaudit_meta\" t; COPY (SELECT 1) TO '{written}'; --"))
    result = runner.invoke(cli, ["check", "--db", path])
    assert "Traceback" not in result.output
    assert not written.exists()


def test_export_refuses_a_table_name_that_leaves_its_folder(runner, handed_over):
    tmp_path, path = handed_over
    # Sorted after dapaudit's own tables: nothing of them is written either.
    _tamper(path, _table_named("zz/../../../escaped"))
    out = tmp_path / "exp" / "a" / "b" / "parquet"
    result = runner.invoke(cli, ["export", "--db", path, "--parquet", str(out)])
    assert result.exit_code == 2, result.output
    assert "table 'zz/../../../escaped' is not one dapaudit makes" in result.output
    assert not (tmp_path / "exp" / "a" / "escaped").exists()
    assert not any(p.suffix == ".parquet" for p in tmp_path.rglob("*"))


def test_a_view_that_reads_a_file_puts_nothing_of_it_in_a_report(runner, handed_over):
    tmp_path, path = handed_over
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET 4711", encoding="utf-8")
    _tamper(
        path,
        "CREATE OR REPLACE VIEW tenant_directory AS "
        "SELECT snapshot, tenant_id, min(display_name) || "
        f"(SELECT ' ' || content FROM read_text('{secret}')) AS display_name, "
        "min(default_domain) AS default_domain, min(tenant_type) AS tenant_type "
        "FROM tenants GROUP BY ALL",
    )
    out = tmp_path / "report"
    result = runner.invoke(
        cli, ["report", "monthly", "--db", path, "--out", str(out), "--format", "html"]
    )
    assert result.exit_code == 2, result.output
    assert "reads a file or URL" in result.output and "do not trust" in result.output
    assert "Traceback" not in result.output
    assert not any("TOP SECRET" in p.read_text("utf-8") for p in out.rglob("*.html"))
    result = runner.invoke(cli, ["findings", "--db", path, "--format", "csv"])
    assert "TOP SECRET" not in result.output


def test_a_report_of_an_untouched_database_is_written(runner, handed_over):
    # The near miss: the sealed connection reads a database of dapaudit's own as before.
    tmp_path, path = handed_over
    out = tmp_path / "report"
    result = runner.invoke(
        cli, ["report", "monthly", "--db", path, "--out", str(out), "--format", "html"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "report.html").exists()
    assert SAMPLE.exists()
