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
