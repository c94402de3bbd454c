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


def test_collection_points_with_their_own_labels_sit_side_by_side(tmp_path):
    """Two collection points (own databases, own snapshot labels, as the README asks: each
    numbers its source files from 1, and the rules join a snapshot's rows on those numbers)
    exported and copied into one folder: no file lands on another's but the reference tables,
    which are the same bytes, and the rules over the merged folder give each its own findings."""
    merged = tmp_path / "merged"
    points = {}
    for label, seed in (("2026-11-emea", 3), ("2026-11-apac", 4)):
        generate(tmp_path / label, 12, seed=seed)
        con = db.connect(tmp_path / f"{label}.duckdb")
        ingest(con, [tmp_path / label / "exports"], snapshot=label, as_of=AS_OF)
        analyze(con, label, Config())
        out = tmp_path / f"{label}-parquet"
        tables = _export(con, out)
        for file in sorted(out.rglob("*.parquet")):
            target = merged / file.relative_to(out)
            if target.exists():
                assert "snapshot=" not in str(target) and target.read_bytes() == file.read_bytes()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.read_bytes())
        points[label] = con
    engine = _engine_over_parquet(merged, tables)
    for label, con in points.items():
        for rule in all_rules():
            params = {"snapshot": label, "as_of": AS_OF, **dict(rule.params)}
            params = {k: v for k, v in params.items() if k in rule.parameters()}
            assert (
                engine.execute(
                    f"SELECT customer_tenant_id, subject, title FROM ({rule.sql}) ORDER BY ALL",
                    params,
                ).fetchall()
                == con.execute(
                    "SELECT customer_tenant_id, subject, title FROM findings "
                    "WHERE snapshot = ? AND rule_id = ? ORDER BY ALL",
                    [label, rule.id],
                ).fetchall()
            ), (label, rule.id)
        con.close()
