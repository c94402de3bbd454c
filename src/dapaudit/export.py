"""Export the database as Parquet for other engines (Spark, Trino, pandas): every table, one
folder per table, partitioned by snapshot (DIR/<table>/snapshot=<label>/*.parquet), and a
manifest.json with each table's row count and a checksum another reader can recompute.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import duckdb

from . import __version__
from . import db as dbmod
from .errors import DapauditError

MANIFEST = "manifest.json"
CHECKSUM_METHOD = (
    "md5 of the table's rows sorted and joined by newlines; a row is its columns, in manifest "
    "order, each CAST AS VARCHAR in DuckDB with TimeZone UTC (NULL as \\N), joined by U+001F"
)


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _sql_path(path: Path) -> str:
    # DuckDB's COPY takes its target as a literal, not a bound parameter: quote it.
    return "'" + str(path).replace("'", "''") + "'"


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ? "
        "ORDER BY column_index",
        [table],
    ).fetchall()


def checksum(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: list[str],
    params: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """(row count, checksum) of `relation` (a table, subquery or table function call)."""
    con.execute("SET TimeZone = 'UTC'")
    row = ", ".join(f"coalesce(CAST({dbmod.quote_ident(c)} AS VARCHAR), '\\N')" for c in columns)
    count, digest = con.execute(
        f"SELECT count(*), md5(coalesce(string_agg(r, chr(10) ORDER BY r), '')) "
        f"FROM (SELECT concat_ws(chr(31), {row}) AS r FROM {relation})",
        params,
    ).fetchall()[0]
    return int(count), digest


def exported_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary "
            "ORDER BY table_name"
        ).fetchall()
    ]


def export_parquet(
    con: duckdb.DuckDBPyConnection, out_dir: str | os.PathLike[str], snapshot: str | None = None
) -> dict[str, Any]:
    """Write every table of the database (one snapshot's rows, or all) and the manifest."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DapauditError("the export folder must be new or empty", file=str(out))
    names = exported_tables(con)
    for name in names:
        if not _PLAIN_NAME.fullmatch(name):
            # Each table becomes a folder of --parquet: a name like `../x` would write outside it.
            raise DapauditError(
                f"table {name!r} is not one dapaudit makes (its name is not a plain "
                "identifier); is this a dapaudit database? Nothing was exported"
            )
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, Any] = {}
    for name in names:
        columns = table_columns(con, name)
        names = [c for c, _ in columns]
        partitioned = "snapshot" in names
        source = f"(SELECT * FROM {dbmod.quote_ident(name)}" + (
            " WHERE $snapshot IS NULL OR snapshot = $snapshot)" if partitioned else ")"
        )
        params = {"snapshot": snapshot} if partitioned else None
        rows, digest = checksum(con, source, names, params)
        target = out / name
        if rows:
            options = "FORMAT parquet, PARTITION_BY (snapshot)" if partitioned else "FORMAT parquet"
            dest = target if partitioned else target / "data.parquet"
            target.mkdir(exist_ok=True)
            con.execute(
                f"COPY (SELECT * FROM {source} ORDER BY ALL) TO {_sql_path(dest)} ({options})",
                params,
            )
        tables[name] = {
            "rows": rows,
            "checksum": digest,
            "partitioned_by": "snapshot" if partitioned else None,
            "columns": [{"name": c, "type": t} for c, t in columns],
        }
    manifest = {
        "dapaudit_version": __version__,
        "schema_version": dbmod.SCHEMA_VERSION,
        "snapshot": snapshot,
        "layout": "<table>/snapshot=<label>/*.parquet (hive partitioning); tables without a "
        "snapshot column: <table>/data.parquet; a table with no rows has no files",
        "checksum_method": CHECKSUM_METHOD,
        "tables": tables,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_back_relation(out_dir: str | os.PathLike[str], table: str, partitioned: bool) -> str:
    """A DuckDB table-function call that reads one exported table back (for checks and users)."""
    base = Path(out_dir) / table
    if partitioned:
        return (
            f"read_parquet({_sql_path(base / '**' / '*.parquet')}, hive_partitioning = true, "
            "hive_types = {'snapshot': VARCHAR})"
        )
    return f"read_parquet({_sql_path(base / 'data.parquet')})"
