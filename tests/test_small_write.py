"""Small writes (a small ingest, the findings of a small snapshot) go into the database file at
the end of the command, without FSST string compression; large ones are written as before, and
the connection keeps its compression setting either way."""

from __future__ import annotations

import pytest

from conftest import AS_OF, SAMPLE
from dapaudit import analyze as analyze_module
from dapaudit import db
from dapaudit import ingest as ingest_module
from dapaudit.analyze import analyze
from dapaudit.config import Config
from dapaudit.ingest import ingest

# Long distinct strings: where DuckDB picks FSST when it may.
DISTINCT_STRINGS = (
    "CREATE TABLE t AS SELECT md5(range::VARCHAR) || md5(range::VARCHAR) AS s FROM range(20000)"
)


def _compressions(con, table: str) -> set[str]:
    rows = con.execute(f"SELECT DISTINCT compression FROM pragma_storage_info('{table}')")
    return {r[0].upper() for r in rows.fetchall()}


def _disabled(con) -> str:
    return con.execute("SELECT current_setting('disabled_compression_methods')").fetchone()[0]


def _in_wal(path) -> bool:
    """Whether committed data still waits in the WAL for a checkpoint."""
    wal = path.with_name(path.name + ".wal")
    return wal.exists() and wal.stat().st_size > 0


def test_a_small_write_is_checkpointed_without_fsst(tmp_path):
    path = tmp_path / "a.duckdb"
    con = db.connect(path)
    try:
        con.execute("SET disabled_compression_methods = 'zstd'")  # the caller's own setting
        with db.small_write(con, True), db.transaction(con):
            con.execute(DISTINCT_STRINGS)
        assert not _in_wal(path)  # in the file already
        assert "FSST" not in _compressions(con, "t")
        assert _disabled(con) == "ZSTD"  # as it was
    finally:
        con.close()


def test_a_large_write_is_left_as_before(tmp_path):
    path = tmp_path / "a.duckdb"
    con = db.connect(path)
    try:
        with db.small_write(con, False), db.transaction(con):
            con.execute(DISTINCT_STRINGS)
        assert _in_wal(path)  # checkpointed later, by DuckDB
        con.execute("CHECKPOINT")
        assert "FSST" in _compressions(con, "t")
        assert _disabled(con) == ""
    finally:
        con.close()


def test_a_failed_small_write_restores_the_setting_and_checkpoints_nothing(tmp_path):
    con = db.connect(tmp_path / "a.duckdb")
    try:
        with pytest.raises(ZeroDivisionError), db.small_write(con, True), db.transaction(con):
            con.execute(DISTINCT_STRINGS)
            raise ZeroDivisionError
        assert _disabled(con) == ""
        assert (
            con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'").fetchone()[0]
            == 0
        )
    finally:
        con.close()


@pytest.mark.parametrize("threshold, small", [(None, True), (-1, False)])
def test_ingest_checkpoints_only_a_small_input(tmp_path, monkeypatch, threshold, small):
    if threshold is not None:
        monkeypatch.setattr(ingest_module, "ONE_THREAD_BYTES", threshold)
    path = tmp_path / "a.duckdb"
    con = db.connect(path)
    try:
        report = ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
        assert report.rows > 0
        assert _in_wal(path) is not small
        assert _disabled(con) == ""
    finally:
        con.close()


@pytest.mark.parametrize("small", [True, False])
def test_analyze_checkpoints_the_findings_of_a_small_snapshot(tmp_path, monkeypatch, small):
    path = tmp_path / "a.duckdb"
    con = db.connect(path)
    try:
        ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
        con.execute("CHECKPOINT")
        if not small:
            monkeypatch.setattr(analyze_module, "ROW_GROUP_ROWS", 0)
        assert analyze(con, "2026-11", Config()).total > 0
        assert _in_wal(path) is not small
        assert _disabled(con) == ""
    finally:
        con.close()
