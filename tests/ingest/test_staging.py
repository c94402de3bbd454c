"""Staging checks are batched into one scan per table; none is ever skipped."""

from __future__ import annotations

import pytest

from conftest import AS_OF, table_dump
from dapaudit import db
from dapaudit.errors import DapauditError
from dapaudit.ingest import base, ingest


def _refused(tmp_path, kind: str, text: str) -> DapauditError:
    """Ingest `text` as x.csv of `kind`: the error it ends in, the database left as it was."""
    bad = tmp_path / "x.csv"
    bad.write_text(text, encoding="utf-8")
    con = db.connect(tmp_path / "p.duckdb")
    before = table_dump(con)
    with pytest.raises(DapauditError) as err:
        ingest(con, [bad], snapshot="2026-11", as_of=AS_OF, kind=kind)
    assert table_dump(con) == before
    con.close()
    return err.value


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
    err = _refused(
        tmp_path,
        pending_kind,
        "tenant_id,name\n3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,a\nnot-a-guid,b\n",
    )
    assert "not a GUID" in str(err)
    assert err.record == 3 and err.field == "tenant_id"


def test_the_first_check_in_order_wins_as_when_checked_one_by_one(tmp_path, pending_kind):
    # Line 2 fails the GUID check, line 3 fails the earlier "required" check: the error is
    # the required name at line 3, as sequential checking would report.
    err = _refused(
        tmp_path,
        pending_kind,
        "tenant_id,name\nnot-a-guid,a\n3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,\n",
    )
    assert "required value is missing" in str(err)
    assert err.record == 3 and err.field == "name"


def test_a_reader_insert_never_sees_rows_its_checks_refuse(tmp_path, pending_kind):
    # Without the checks running first, the reader's own INSERT would hit the NOT NULL
    # constraint of tenants.tenant_id: a bug's traceback instead of the user's error.
    err = _refused(tmp_path, pending_kind, "tenant_id,name\n,a\n")
    assert "required value is missing" in str(err)
    assert err.record == 2 and err.field == "tenant_id"


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
    err = _refused(tmp_path, duplicates_kind, "tenant_id,name\n" + "\n".join(lines) + "\n")
    assert message in str(err)
    assert err.record == record


def test_rows_without_duplicates_or_faults_load(tmp_path, duplicates_kind):
    good = tmp_path / "x.csv"
    good.write_text(f"tenant_id,name\n{T1},a\n{T1.replace('3f', '4f')},b\n", encoding="utf-8")
    con = db.connect(tmp_path / "p.duckdb")
    ingest(con, [good], snapshot="2026-11", as_of=AS_OF, kind=duplicates_kind)
    assert con.execute("SELECT count(*) FROM tenants").fetchone()[0] == 2
    con.close()


@pytest.fixture
def projected_kind():
    """A reader that checks the raw stage, projects its fields, then checks and inserts those."""

    def load(batch):
        stage = base.stage_csv(batch, "stg_projected")
        # Refused here, before the projection: its CAST would otherwise fail on this row.
        stage.require_cast(stage.col("size"), "INTEGER", "size", "whole number")
        e = {
            "tenant_id": f"coalesce({stage.col('tenant_id')}, f.context_tenant_id)",
            "name": stage.col("name"),
            "size": f"CAST({stage.col('size')} AS INTEGER)",
        }
        stage, e = stage.project(e)
        stage.require(e["name"], "name")
        stage.require_guid(e["tenant_id"], "tenant_id")
        stage.insert(
            "tenants",
            f"""SELECT s.source_file_id, s.line AS source_record, lower({e["tenant_id"]})
                   AS tenant_id, {e["name"]} || '/' || {e["size"]} AS display_name,
                   'customer' AS tenant_type
            FROM {stage.name} s""",
        )

    base.REGISTRY.add(base.Kind("test.projected", "test", "csv", (), lambda s: False, load))
    yield "test.projected"
    del base.REGISTRY.kinds["test.projected"]


@pytest.mark.parametrize(
    ("lines", "message", "record", "field"),
    [
        # The raw stage's pending check runs before the projection meets the row.
        ([f"{T1},a,1", f"{T1},b,many"], "not a valid whole number", 3, "size"),
        # DuckDB's cast takes these and means something else: 2.5 rounded to 3, 1e3 is 1000.
        ([f"{T1},a,2.5"], "not a valid whole number", 2, "size"),
        ([f"{T1},a,1", f"{T1},b,1e3"], "not a valid whole number", 3, "size"),
        # Checks on the projected columns name the original file, line and field.
        ([f"{T1},a,1", f"{T1},,2"], "required value is missing", 3, "name"),
        (["not-a-guid,a,1"], "not a GUID", 2, "tenant_id"),
    ],
)
def test_projected_fields_are_checked_as_the_records_they_came_from(
    tmp_path, projected_kind, lines, message, record, field
):
    err = _refused(tmp_path, projected_kind, "tenant_id,name,size\n" + "\n".join(lines) + "\n")
    assert message in str(err)
    assert err.file.endswith("x.csv")
    assert (err.record, err.field) == (record, field)


def test_projected_fields_load_with_the_file_context(tmp_path, projected_kind):
    # The second row has no tenant id: the projection takes the file's (--tenant) context.
    # The sizes are whole numbers in other spellings, which load as such.
    good = tmp_path / "x.csv"
    good.write_text(f"tenant_id,name,size\n{T1.upper()},a, +1 \n,b,2.0\n", encoding="utf-8")
    con = db.connect(tmp_path / "p.duckdb")
    other = T1.replace("3f", "4f")
    ingest(con, [good], snapshot="2026-11", as_of=AS_OF, kind=projected_kind, tenant=other)
    rows = con.execute(
        "SELECT tenant_id, display_name, source_record FROM tenants ORDER BY source_record"
    ).fetchall()
    assert rows == [(T1, "a/1", 2), (other, "b/2", 3)]
    con.close()


def test_a_projection_may_not_shadow_the_stage_columns(tmp_path):
    con = db.connect(tmp_path / "p.duckdb")
    batch = base.Batch(con=con, snapshot="2026-11", files=[])
    stage = base.StagedTable(batch, "stg_none", "line", "line")
    with pytest.raises(ValueError, match="context_tenant_id"):
        stage.project({"context_tenant_id": "NULL"})
    con.close()
