"""Beyond one machine: the rule SQL runs unchanged on views over Parquet files partitioned by
snapshot, the way a Trino or Spark SQL deployment would run it, and finds the same findings.

The Parquet is written by `dapaudit export --parquet`'s code (<table>/snapshot=<label>/*.parquet,
tables without a snapshot column as one file); a fresh DuckDB then sees only those files and
the columns the export's manifest declares, as a distributed engine would.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.config import Config
from dapaudit.export import export_parquet
from dapaudit.generate import generate
from dapaudit.ingest import ingest
from dapaudit.paths import PACKAGE_DIR
from dapaudit.rules import all_rules

AS_OF = date(2026, 11, 30)
SNAPSHOT = "2026-11"


def _export(con: duckdb.DuckDBPyConnection, out: Path) -> list[tuple[str, bool, str]]:
    """`dapaudit export --parquet`'s own code; each table's name, partitioning and columns as
    its manifest gives them (what a user declares on the distributed engine)."""
    manifest = export_parquet(con, out)
    return [
        (
            name,
            table["partitioned_by"] == "snapshot",
            ", ".join(f'"{c["name"]}" {c["type"]}' for c in table["columns"]),
        )
        for name, table in sorted(manifest["tables"].items())
    ]


def _engine_over_parquet(
    out: Path, tables: list[tuple[str, bool, str]]
) -> duckdb.DuckDBPyConnection:
    """What the README asks of a distributed engine: a view per canonical table over its
    Parquet path (an empty table, which has no files, declared from its columns), then
    views.sql, then each rule with $snapshot and $as_of bound."""
    engine = duckdb.connect()
    for name, partitioned, columns in tables:
        if not any((out / name).rglob("*.parquet")):
            engine.execute(f'CREATE TABLE "{name}" ({columns})')
            continue
        if partitioned:
            source = (
                f"read_parquet('{out / name}/*/*.parquet', hive_partitioning = true, "
                "hive_types = {'snapshot': VARCHAR})"
            )
        else:
            source = f"read_parquet('{out / name / 'data.parquet'}')"
        engine.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {source}')
    engine.execute((PACKAGE_DIR / "views.sql").read_text(encoding="utf-8"))
    return engine


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    root = tmp_path_factory.mktemp("parquet")
    generate(root / "estate", 40, seed=11)
    con = db.connect(root / "audit.duckdb")
    ingest(con, [root / "estate" / "exports"], snapshot=SNAPSHOT, as_of=AS_OF)
    analyze(con, SNAPSHOT, Config())
    tables = _export(con, root / "parquet")
    yield con, _engine_over_parquet(root / "parquet", tables)
    con.close()


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_rule_sql_over_parquet_gives_the_same_findings(analysed, rule):
    con, engine = analysed
    params = {"snapshot": SNAPSHOT, "as_of": AS_OF, **dict(rule.params)}
    params = {k: v for k, v in params.items() if k in rule.parameters()}
    over_parquet = engine.execute(
        f"SELECT customer_tenant_id, partner_tenant_id, subject, title FROM ({rule.sql}) "
        "ORDER BY ALL",
        params,
    ).fetchall()
    stored = con.execute(
        "SELECT customer_tenant_id, partner_tenant_id, subject, title FROM findings "
        "WHERE snapshot = ? AND rule_id = ? ORDER BY ALL",
        [SNAPSHOT, rule.id],
    ).fetchall()
    assert stored, f"the generated estate plants {rule.id}"
    assert over_parquet == stored
