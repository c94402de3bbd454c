"""On a small snapshot analyze runs the rules on a connection per core, before its transaction:
the findings are exactly those of the rules run one after the other, a rule that fails is still
named and changes nothing, and whatever must run inside the transaction still does."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import AS_OF, SAMPLE, table_dump
from dapaudit import analyze as analyze_module
from dapaudit import db
from dapaudit.analyze import RULES_WORK_DB, analyze, rule_workers
from dapaudit.config import Config
from dapaudit.faults import TRACE_ENV
from dapaudit.ingest import ingest
from dapaudit.rules import all_rules


def _ingested(path):
    con = db.connect(path)
    ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
    return con


def test_rules_alongside_give_the_findings_of_rules_in_turn(tmp_path):
    in_turn, alongside = _ingested(tmp_path / "a.duckdb"), _ingested(tmp_path / "b.duckdb")
    try:
        first = analyze(in_turn, "2026-11", Config(), workers=1)
        second = analyze(alongside, "2026-11", Config(), workers=2)
        findings = table_dump(in_turn)["findings"]
        assert len(findings) == first.total > 0
        assert table_dump(alongside)["findings"] == findings
        assert second.counts == first.counts
        # The work database is gone again: the next command (and its dumps) never sees it.
        databases = alongside.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        assert (RULES_WORK_DB,) not in databases
    finally:
        in_turn.close()
        alongside.close()


def test_rules_run_alongside_only_when_that_is_safe_and_useful(tmp_path, monkeypatch):
    con = _ingested(tmp_path / "a.duckdb")
    try:
        monkeypatch.setattr(analyze_module, "usable_cpus", lambda: 2)
        assert rule_workers(con, "2026-11", 13) == 2
        assert rule_workers(con, "2026-11", 1) == 1  # nothing to share
        monkeypatch.setattr(analyze_module, "usable_cpus", lambda: 1)
        assert rule_workers(con, "2026-11", 13) == 1  # no core to spare
        monkeypatch.setattr(analyze_module, "usable_cpus", lambda: 2)
        # A snapshot whose tables span row groups: DuckDB uses every core within each rule.
        monkeypatch.setattr(analyze_module, "ROW_GROUP_ROWS", 10)
        assert rule_workers(con, "2026-11", 13) == 1
        monkeypatch.undo()
        monkeypatch.setattr(analyze_module, "usable_cpus", lambda: 2)
        # Fault injection counts checkpoints in one order: the rules run in the transaction.
        monkeypatch.setenv(TRACE_ENV, str(tmp_path / "trace"))
        assert rule_workers(con, "2026-11", 13) == 1
        monkeypatch.delenv(TRACE_ENV)
        # Views of an earlier build are replaced inside the transaction, which rules run
        # alongside (on what is committed) would not see.
        con.execute("UPDATE dapaudit_meta SET value = 'older' WHERE key = 'views_digest'")
        assert rule_workers(con, "2026-11", 13) == 1
    finally:
        con.close()


def test_a_rule_failing_alongside_is_named_and_changes_nothing(tmp_path, monkeypatch):
    con = _ingested(tmp_path / "a.duckdb")
    try:
        analyze(con, "2026-11", Config(), workers=1)
        before = table_dump(con)
        broken = dataclasses.replace(
            all_rules()[0], id="ZZ-BROKEN", file="zz_broken", sql="SELECT no_such_column"
        )
        monkeypatch.setattr(analyze_module, "all_rules", lambda: (*all_rules(), broken))
        with pytest.raises(RuntimeError, match=r"rule ZZ-BROKEN \(zz_broken\.sql\) failed"):
            analyze(con, "2026-11", Config(), workers=2)
        assert table_dump(con) == before
        monkeypatch.undo()
        # A work database left attached (an analyze that could not detach it) is no obstacle.
        con.execute(f"ATTACH ':memory:' AS {RULES_WORK_DB}")
        assert analyze(con, "2026-11", Config(), workers=2).total == len(before["findings"])
    finally:
        con.close()


def test_rules_alongside_run_on_one_duckdb_thread_and_the_threads_come_back(tmp_path, monkeypatch):
    """Each rule connection is a core of its own: DuckDB runs the rules on one thread (they
    fit in one row group), and the connection has its threads again afterwards, after a
    failing rule too. Rules in turn, in the transaction, keep every thread."""
    con = _ingested(tmp_path / "a.duckdb")
    seen: list[int] = []
    real = analyze_module._run_rule

    def spy(cur, table, rule, params):
        seen.append(db.current_threads(cur))
        return real(cur, table, rule, params)

    monkeypatch.setattr(analyze_module, "_run_rule", spy)
    try:
        con.execute("SET threads = 2")
        analyze(con, "2026-11", Config(), workers=2)
        assert len(seen) == len(all_rules()) and set(seen) == {1}
        assert db.current_threads(con) == 2
        seen.clear()
        analyze(con, "2026-11", Config(), workers=1)
        assert set(seen) == {2}
        broken = dataclasses.replace(
            all_rules()[0], id="ZZ-BROKEN", file="zz_broken", sql="SELECT no_such_column"
        )
        monkeypatch.setattr(analyze_module, "all_rules", lambda: (*all_rules(), broken))
        with pytest.raises(RuntimeError, match="ZZ-BROKEN"):
            analyze(con, "2026-11", Config(), workers=2)
        assert db.current_threads(con) == 2
    finally:
        con.close()
