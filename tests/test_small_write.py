"""Small writes (what waits in the WAL after ingest or analyze, up to SMALL_CHECKPOINT_BYTES) go
into the database file at the end of the command, without FSST string compression; larger ones
are left to DuckDB as before, and the connection keeps its compression setting either way."""

from __future__ import annotations

import pytest

from conftest import AS_OF, SAMPLE
from dapaudit import db
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
        with db.transaction(con):
            con.execute(DISTINCT_STRINGS)
        assert _in_wal(path)
        db.checkpoint_small(con)
        assert not _in_wal(path)  # in the file now
        assert "FSST" not in _compressions(con, "t")
        assert _disabled(con) == "ZSTD"  # as it was
    finally:
        con.close()


def test_a_larger_write_is_left_to_duckdb(tmp_path, monkeypatch):
    monkeypatch.setattr(db, "SMALL_CHECKPOINT_BYTES", 1000)
    path = tmp_path / "a.duckdb"
    con = db.connect(path)
    try:
        with db.transaction(con):
            con.execute(DISTINCT_STRINGS)
        db.checkpoint_small(con)
        assert _in_wal(path)  # checkpointed later, by DuckDB, with every compression
        assert _disabled(con) == ""
        # (Which compression DuckDB then picks is its own choice: a CI run once saw it store
        # these strings uncompressed, where every other run chose FSST.)
    finally:
        con.close()


def test_nothing_waiting_and_no_file_are_no_work(tmp_path):
    path = tmp_path / "a.duckdb"
    con = db.connect(path)
    try:
        db.checkpoint_small(con)  # nothing written
        assert not _in_wal(path)
        assert _disabled(con) == ""
    finally:
        con.close()
    memory = db.duckdb.connect()
    try:
        db.checkpoint_small(memory)  # no database file, no WAL
        assert _disabled(memory) == ""
    finally:
        memory.close()


@pytest.mark.parametrize("limit, small", [(None, True), (0, False)])
def test_ingest_checkpoints_only_a_small_write(tmp_path, monkeypatch, limit, small):
    if limit is not None:
        monkeypatch.setattr(db, "SMALL_CHECKPOINT_BYTES", limit)
    path = tmp_path / "a.duckdb"
    con = db.connect(path)
    try:
        report = ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
        assert report.rows > 0
        assert _in_wal(path) is not small
        assert _disabled(con) == ""
    finally:
        con.close()


@pytest.mark.parametrize("limit, small", [(None, True), (0, False)])
def test_analyze_checkpoints_only_a_small_write(tmp_path, monkeypatch, limit, small):
    path = tmp_path / "a.duckdb"
    con = db.connect(path)
    try:
        ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
        con.execute("CHECKPOINT")
        if limit is not None:
            monkeypatch.setattr(db, "SMALL_CHECKPOINT_BYTES", limit)
        assert analyze(con, "2026-11", Config()).total > 0
        assert _in_wal(path) is not small
        assert _disabled(con) == ""
    finally:
        con.close()


class _RefusingCheckpoint:
    """A connection whose CHECKPOINT fails with `error`."""

    def __init__(self, con, error: Exception) -> None:
        self.con, self.error = con, error

    def execute(self, sql: str, *args):
        if sql == "CHECKPOINT":
            raise self.error
        return self.con.execute(sql, *args)


def test_a_refused_checkpoint_leaves_the_data_waiting_and_the_setting_as_it_was(tmp_path):
    path = tmp_path / "a.duckdb"
    con = db.connect(path)
    try:
        with db.transaction(con):
            con.execute(DISTINCT_STRINGS)
        refused = db.duckdb.TransactionException("other transactions are open")
        db.checkpoint_small(_RefusingCheckpoint(con, refused))  # not the command's failure
        assert _in_wal(path)
        assert _disabled(con) == ""
        with pytest.raises(db.duckdb.InterruptException):  # Ctrl-C still stops the command
            db.checkpoint_small(_RefusingCheckpoint(con, db.duckdb.InterruptException()))
        assert _disabled(con) == ""
    finally:
        con.close()
