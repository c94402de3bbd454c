"""Staging checks are batched into one scan per table; none is ever skipped."""

from __future__ import annotations

import pytest

from conftest import AS_OF, table_dump
from dapaudit import db
from dapaudit.errors import DapauditError
from dapaudit.ingest import base, ingest


@pytest.fixture
def pending_kind():
    """A reader that checks, then inserts with its own SQL instead of stage.insert()."""

    def load(batch):
        stage = base.stage_csv(batch, "stg_pending")
        stage.require(stage.col("name"), "name")
        stage.require_guid(stage.col("tenant_id"), "tenant_id")
        batch.con.execute(
            "INSERT INTO tenants SELECT ?, lower(tenant_id), name, NULL, 'customer', "
            "source_file_id, source_record FROM stg_pending",
            [batch.snapshot],
        )

    base.REGISTRY.add(base.Kind("test.pending", "test", "csv", (), lambda s: False, load))
    yield "test.pending"
    del base.REGISTRY.kinds["test.pending"]


def test_checks_left_pending_by_a_reader_still_fail_the_ingest(tmp_path, pending_kind):
    bad = tmp_path / "x.csv"
    bad.write_text(
        "tenant_id,name\n3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,a\nnot-a-guid,b\n", encoding="utf-8"
    )
    con = db.connect(tmp_path / "p.duckdb")
    before = table_dump(con)
    with pytest.raises(DapauditError) as err:
        ingest(con, [bad], snapshot="2026-11", as_of=AS_OF, kind=pending_kind)
    assert "not a GUID" in str(err.value)
    assert err.value.record == 3 and err.value.field == "tenant_id"
    assert table_dump(con) == before
    con.close()


def test_the_first_check_in_order_wins_as_when_checked_one_by_one(tmp_path, pending_kind):
    # Line 2 fails the GUID check, line 3 fails the earlier "required" check: the error is
    # the required name at line 3, as sequential checking would report.
    bad = tmp_path / "x.csv"
    bad.write_text(
        "tenant_id,name\nnot-a-guid,a\n3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,\n", encoding="utf-8"
    )
    con = db.connect(tmp_path / "p.duckdb")
    with pytest.raises(DapauditError) as err:
        ingest(con, [bad], snapshot="2026-11", as_of=AS_OF, kind=pending_kind)
    assert "required value is missing" in str(err.value)
    assert err.value.record == 3 and err.value.field == "name"
    con.close()


def test_a_reader_insert_never_sees_rows_its_checks_refuse(tmp_path, pending_kind):
    # Without the checks running first, the reader's own INSERT would hit the NOT NULL
    # constraint of tenants.tenant_id: a bug's traceback instead of the user's error.
    bad = tmp_path / "x.csv"
    bad.write_text("tenant_id,name\n,a\n", encoding="utf-8")
    con = db.connect(tmp_path / "p.duckdb")
    with pytest.raises(DapauditError) as err:
        ingest(con, [bad], snapshot="2026-11", as_of=AS_OF, kind=pending_kind)
    assert "required value is missing" in str(err.value)
    assert err.value.record == 2 and err.value.field == "tenant_id"
    con.close()


@pytest.fixture
def duplicates_kind():
    """A reader whose duplicate check sits between two other checks."""

    def load(batch):
        stage = base.stage_csv(batch, "stg_dupes")
        stage.require(stage.col("name"), "name")
        stage.reject_duplicates([f"lower({stage.col('tenant_id')})"])
        stage.require_guid(stage.col("tenant_id"), "tenant_id")
        stage.insert(
            "tenants",
            f"""SELECT s.source_file_id, s.source_record, lower({stage.col("tenant_id")})
                   AS tenant_id, {stage.col("name")} AS display_name, 'customer' AS tenant_type
            FROM stg_dupes s""",
        )

    base.REGISTRY.add(base.Kind("test.dupes", "test", "csv", (), lambda s: False, load))
    yield "test.dupes"
    del base.REGISTRY.kinds["test.dupes"]


T1 = "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01"


@pytest.mark.parametrize(
    ("lines", "message", "record"),
    [
        # The duplicate (line 3 repeats line 2, in any case) is found in the one scan.
        ([f"{T1},a", f"{T1.upper()},b"], "duplicate record (same as line 2)", 3),
        # A check given before the duplicate check wins, even on a later line...
        ([f"{T1},a", f"{T1},b", "not-a-guid,"], "required value is missing", 4),
        # ...and the duplicate wins over a check given after it, even on an earlier line.
        (["not-a-guid,a", f"{T1},b", f"{T1},c"], "duplicate record (same as line 3)", 4),
        (["not-a-guid,a", f"{T1},b"], "not a GUID", 2),
    ],
)
def test_duplicates_are_checked_in_order_in_the_same_scan(
    tmp_path, duplicates_kind, lines, message, record
):
    bad = tmp_path / "x.csv"
    bad.write_text("tenant_id,name\n" + "\n".join(lines) + "\n", encoding="utf-8")
    con = db.connect(tmp_path / "p.duckdb")
    before = table_dump(con)
    with pytest.raises(DapauditError) as err:
        ingest(con, [bad], snapshot="2026-11", as_of=AS_OF, kind=duplicates_kind)
    assert message in str(err.value)
    assert err.value.record == record
    assert table_dump(con) == before
    con.close()


def test_rows_without_duplicates_or_faults_load(tmp_path, duplicates_kind):
    good = tmp_path / "x.csv"
    good.write_text(f"tenant_id,name\n{T1},a\n{T1.replace('3f', '4f')},b\n", encoding="utf-8")
    con = db.connect(tmp_path / "p.duckdb")
    ingest(con, [good], snapshot="2026-11", as_of=AS_OF, kind=duplicates_kind)
    assert con.execute("SELECT count(*) FROM tenants").fetchone()[0] == 2
    con.close()
