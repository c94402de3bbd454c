"""A new database is a copy of an empty one this build made once: the same database as one
created in place, made once per build, and never in the way when it cannot be used."""

from __future__ import annotations

import os
import time

import pytest

from conftest import AS_OF, SAMPLE, table_dump
from dapaudit import db
from dapaudit.faults import TRACE_ENV
from dapaudit.ingest import ingest


def _catalog(con) -> dict[str, list[tuple]]:
    """What creating writes besides rows: views, macros, comments, the storage version."""
    return {
        "views": con.execute(
            "SELECT view_name, sql, comment FROM duckdb_views() "
            "WHERE NOT internal AND NOT temporary ORDER BY ALL"
        ).fetchall(),
        "macros": con.execute(
            "SELECT DISTINCT function_name, function_type, macro_definition "
            "FROM duckdb_functions() WHERE function_type LIKE '%macro' "
            "AND database_name = current_database() ORDER BY ALL"
        ).fetchall(),
        "tables": con.execute(
            "SELECT table_name, comment, sql FROM duckdb_tables() WHERE NOT temporary ORDER BY ALL"
        ).fetchall(),
        "columns": con.execute(
            "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
            "WHERE NOT internal AND database_name = current_database() ORDER BY ALL"
        ).fetchall(),
        "storage": con.execute(
            "SELECT tags FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchall(),
    }


def _made(path):
    """A new database at `path`, as read back from its file (DuckDB prints a view it just
    created with more parentheses than one it read from storage)."""
    db.connect(path).close()
    con = db.connect(path, read_only=True)
    try:
        return table_dump(con), _catalog(con)
    finally:
        con.close()


def test_a_copy_of_the_template_is_the_database_created_in_place(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(db.CACHE_DIR_ENV, str(cache))
    first = _made(tmp_path / "first.duckdb")  # makes the template, then copies it
    template = cache / db.template_name()
    made_at = template.stat().st_mtime_ns
    second = _made(tmp_path / "second.duckdb")  # copies it
    monkeypatch.setenv(db.CACHE_DIR_ENV, "")  # no template: created in place
    in_place = _made(tmp_path / "in_place.duckdb")
    assert first == second == in_place
    assert first[1]["views"] and first[1]["macros"] and first[0]["ref_directory_roles"]
    assert sorted(p.name for p in cache.iterdir()) == [template.name]  # nothing half-written
    assert template.stat().st_mtime_ns == made_at  # made once, then only read
    # And it takes data like any database.
    con = db.connect(tmp_path / "second.duckdb")
    try:
        ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
        assert con.execute("SELECT count(*) FROM tenants").fetchone()[0] > 0
    finally:
        con.close()


def test_a_broken_template_is_replaced_and_the_database_still_created(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv(db.CACHE_DIR_ENV, str(cache))
    template = cache / db.template_name()
    template.write_bytes(b"not a database" * 1000)
    made = _made(tmp_path / "a.duckdb")
    assert not template.exists()  # thrown away, not used again
    monkeypatch.setenv(db.CACHE_DIR_ENV, "")
    assert made == _made(tmp_path / "b.duckdb")
    monkeypatch.setenv(db.CACHE_DIR_ENV, str(cache))
    _made(tmp_path / "c.duckdb")
    assert template.exists()  # the next new database made a good one


@pytest.mark.parametrize("why", ["cache is a file", "disk full while copying"])
def test_no_usable_template_still_creates_the_database(tmp_path, monkeypatch, why):
    cache = tmp_path / "cache"
    monkeypatch.setenv(db.CACHE_DIR_ENV, str(cache))
    if why == "cache is a file":
        cache.write_text("", encoding="utf-8")
    else:
        _made(tmp_path / "first.duckdb")  # the template exists; copying it fails half-way

        def copy_half(source, target):
            target.write(source.read(4096))
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(db.shutil, "copyfileobj", copy_half)
    made = _made(tmp_path / "a.duckdb")  # the half copy is gone: created in place
    monkeypatch.undo()
    monkeypatch.setenv(db.CACHE_DIR_ENV, "")
    assert made == _made(tmp_path / "b.duckdb")


def test_an_existing_file_is_never_overwritten_by_the_template(tmp_path, monkeypatch):
    monkeypatch.setenv(db.CACHE_DIR_ENV, str(tmp_path / "cache"))
    target = tmp_path / "taken.duckdb"
    target.write_bytes(b"someone else's")
    assert db._copy_template(str(target)) is False
    assert target.read_bytes() == b"someone else's"


def test_under_fault_injection_databases_are_created_in_place(tmp_path, monkeypatch):
    # Creating has checkpoints the fault-injection tests count; a copy would skip them.
    cache = tmp_path / "cache"
    monkeypatch.setenv(db.CACHE_DIR_ENV, str(cache))
    monkeypatch.setenv(TRACE_ENV, str(tmp_path / "trace"))
    _made(tmp_path / "a.duckdb")
    assert not cache.exists()
    assert "transaction.committed" in (tmp_path / "trace").read_text(encoding="utf-8")


def test_templates_of_other_builds_made_long_ago_are_removed(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv(db.CACHE_DIR_ENV, str(cache))
    old, recent = cache / "empty-0000000000000000aaaa.duckdb", cache / "empty-1111.duckdb"
    unrelated = cache / "notes.txt"
    for path in (old, recent, unrelated):
        path.write_bytes(b"x")
    long_ago = time.time() - (db.TEMPLATE_DAYS + 1) * 86_400
    os.utime(old, (long_ago, long_ago))
    os.utime(unrelated, (long_ago, long_ago))
    _made(tmp_path / "a.duckdb")  # makes this build's template
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [db.template_name(), recent.name, unrelated.name]
    )
