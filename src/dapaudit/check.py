"""Verify an audit database: readable, at this schema version, and internally consistent.

`dapaudit check` runs this after a crash, a copy or a restore. Every table is read in full
(DuckDB verifies each block's checksum as it reads it); every snapshot's rows are counted
against the manifest that ingest recorded in the same transaction; findings are checked
against their snapshot. A database that passes holds whole snapshots only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from .db import (
    REFERENCE_TABLES,
    SCHEMA_VERSION,
    open_duckdb,
    quote_ident,
    refresh_views,
    schema_version,
)
from .ingest.base import REGISTRY
from .paths import PACKAGE_DIR

# Tables that describe other rows rather than hold facts from an export.
_BOOKKEEPING = {
    "source_files",
    "export_coverage",
    "findings",
    "snapshots",
    "dapaudit_meta",
    "analysis_rules",
    "analysis_offboarded",
}


@dataclass
class CheckReport:
    schema_version: int | None
    snapshots: int = 0
    files: int = 0
    rows: int = 0
    findings: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_database(con: duckdb.DuckDBPyConnection) -> CheckReport:
    """Every problem found, in a stable order; an empty list means the database is sound."""
    report = CheckReport(schema_version(con))
    if report.schema_version != SCHEMA_VERSION:
        report.problems.append(
            f"schema version is {report.schema_version}, expected {SCHEMA_VERSION}"
        )
        return report
    tables = _base_tables(con)
    if not _check_objects(con, tables, report):
        return report  # the checks below read the missing tables: each problem is listed
    readable = len(report.problems)
    _read_everything(con, tables, report)
    if len(report.problems) > readable:
        return report  # the checks below would read the damaged blocks again, and fail
    fact_tables = [
        t
        for t, cols in tables.items()
        if t not in _BOOKKEEPING and {"snapshot", "source_file_id"} <= cols
    ]
    _check_manifest(con, fact_tables, report)
    _check_coverage(con, report)
    _check_findings(con, report)
    report.snapshots = con.execute("SELECT count(*) FROM snapshots").fetchone()[0]
    report.files = con.execute("SELECT count(*) FROM source_files").fetchone()[0]
    report.findings = con.execute("SELECT count(*) FROM findings").fetchone()[0]
    return report


def _check_objects(
    con: duckdb.DuckDBPyConnection, tables: dict[str, set[str]], report: CheckReport
) -> bool:
    """The tables (with their columns), views and reference rows this build creates, against
    a new empty database of this build: False when a table or column is missing."""
    expected = open_duckdb()
    try:
        expected.execute((PACKAGE_DIR / "schema.sql").read_text(encoding="utf-8"))
        refresh_views(expected)
        want_tables = _base_tables(expected)
        want_views = _views(expected)
        want_rows = {t: _count(expected, t) for t in REFERENCE_TABLES}
    finally:
        expected.close()
    complete = True
    for name, columns in want_tables.items():
        if name not in tables:
            report.problems.append(f"table {name} is missing")
            complete = False
        elif columns - tables[name]:
            missing = ", ".join(sorted(columns - tables[name]))
            report.problems.append(f"table {name} lacks column(s) {missing}")
            complete = False
    have_views = _views(con)
    missing_views = sorted(want_views.keys() - have_views.keys())
    if missing_views:
        report.problems.append(
            f"view(s) missing: {', '.join(missing_views)} (`dapaudit analyze` creates them again)"
        )
    # A database last analysed by an earlier dapaudit holds that build's views until the next
    # analyze; the reports of this one, reading read-only, fail on the columns it added.
    for name, columns in want_views.items():
        if name in have_views and columns - have_views[name]:
            missing = ", ".join(sorted(columns - have_views[name]))
            report.problems.append(
                f"view {name} lacks column(s) {missing}: an earlier dapaudit's view "
                "(`dapaudit analyze` creates this one's)"
            )
    for name, n in want_rows.items():
        held = _count(con, name) if name in tables else n  # a missing one is said above
        if held != n:
            report.problems.append(
                f"reference table {name} holds {held} row(s), this dapaudit ships {n} "
                "(`dapaudit analyze` loads them again)"
            )
    return complete


def _views(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """dapaudit's views (not DuckDB's own) with their columns."""
    rows = con.execute(
        """SELECT v.view_name, list(c.column_name)
        FROM duckdb_views() v
        LEFT JOIN duckdb_columns() c
               ON c.database_name = v.database_name AND c.schema_name = v.schema_name
              AND c.table_name = v.view_name
        WHERE v.database_name = current_database() AND v.schema_name = 'main'
          AND NOT v.internal
        GROUP BY v.view_name ORDER BY v.view_name"""
    ).fetchall()
    return {name: {c for c in columns if c is not None} for name, columns in rows}


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]


def _base_tables(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute(
        """SELECT t.table_name, list(c.column_name ORDER BY c.ordinal_position)
        FROM information_schema.tables t
        JOIN information_schema.columns c USING (table_catalog, table_schema, table_name)
        WHERE t.table_type = 'BASE TABLE' AND t.table_schema = 'main'
          AND t.table_catalog = current_database()
        GROUP BY t.table_name ORDER BY t.table_name"""
    ).fetchall()
    return {name: set(cols) for name, cols in rows}


def _read_everything(con, tables: dict[str, set[str]], report: CheckReport) -> None:
    # hash(t) touches every column of every row, so every data block is read and checksummed.
    for name in tables:
        try:
            con.execute(f"SELECT count(*), sum(hash(t)) FROM {quote_ident(name)} t").fetchone()
        except duckdb.Error as exc:
            report.problems.append(f"table {name} cannot be read: {exc}")


def _check_manifest(con, fact_tables: list[str], report: CheckReport) -> None:
    for (snapshot,) in con.execute(
        "SELECT DISTINCT snapshot FROM source_files WHERE snapshot NOT IN "
        "(SELECT snapshot FROM snapshots) ORDER BY 1"
    ).fetchall():
        report.problems.append(f"source files recorded for unknown snapshot {snapshot!r}")
    if not fact_tables:
        return
    counted = " UNION ALL ".join(
        f"SELECT snapshot, source_file_id, '{t}' AS dataset, count(*) AS n FROM {t} GROUP BY ALL"
        for t in fact_tables
    )
    actual = {
        (snap, fid, dataset): n
        for snap, fid, dataset, n in con.execute(
            f"SELECT * FROM ({counted}) ORDER BY ALL"
        ).fetchall()
    }
    report.rows = sum(actual.values())
    manifest = con.execute(
        "SELECT snapshot, source_file_id, path, kind, row_count FROM source_files ORDER BY ALL"
    ).fetchall()
    recorded = {(snap, fid) for snap, fid, *_ in manifest}
    for snap, fid, dataset in sorted(k for k in actual if (k[0], k[1]) not in recorded):
        report.problems.append(
            f"snapshot {snap!r}: {actual[(snap, fid, dataset)]} row(s) in {dataset} come from "
            f"source file {fid}, which is not in the manifest (a half-written ingest)"
        )
    for snap, fid, path, kind, row_count in manifest:
        if kind not in REGISTRY.kinds:
            report.problems.append(
                f"snapshot {snap!r}: {path} has kind {kind!r}, unknown to this dapaudit"
            )
            continue
        found = sum(actual.get((snap, fid, d), 0) for d in REGISTRY.kinds[kind].datasets)
        stray = sorted(
            d
            for (s, f, d) in actual
            if (s, f) == (snap, fid) and d not in REGISTRY.kinds[kind].datasets
        )
        if found != row_count:
            report.problems.append(
                f"snapshot {snap!r}: {path} recorded {row_count} row(s), the database holds {found}"
            )
        for dataset in stray:
            report.problems.append(
                f"snapshot {snap!r}: {path} ({kind}) has rows in {dataset}, which its kind "
                "does not fill"
            )


def _check_coverage(con, report: CheckReport) -> None:
    for snap, fid, dataset in con.execute(
        """SELECT DISTINCT c.snapshot, c.source_file_id, c.dataset FROM export_coverage c
        ANTI JOIN source_files f USING (snapshot, source_file_id) ORDER BY ALL"""
    ).fetchall():
        report.problems.append(
            f"snapshot {snap!r}: export coverage of {dataset} names source file {fid}, "
            "which is not in the manifest"
        )


def _check_findings(con, report: CheckReport) -> None:
    for snap, n in con.execute(
        """SELECT snapshot, count(*) FROM findings
        WHERE snapshot NOT IN (SELECT snapshot FROM snapshots) GROUP BY ALL ORDER BY ALL"""
    ).fetchall():
        report.problems.append(f"{n} finding(s) belong to unknown snapshot {snap!r}")
    for snap, n in con.execute(
        """SELECT f.snapshot, count(*) FROM findings f JOIN snapshots s USING (snapshot)
        WHERE s.analyzed_at IS NULL GROUP BY ALL ORDER BY ALL"""
    ).fetchall():
        report.problems.append(f"snapshot {snap!r} holds {n} finding(s) but was never analysed")
    for snap, fingerprint, n in con.execute(
        """SELECT snapshot, fingerprint, count(*) FROM findings
        GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL"""
    ).fetchall():
        report.problems.append(
            f"snapshot {snap!r}: fingerprint {fingerprint[:12]}... appears {n} times"
        )
    for snap, n, lo, hi, distinct in con.execute(
        """SELECT snapshot, count(*), min(position), max(position), count(DISTINCT position)
        FROM findings GROUP BY ALL ORDER BY ALL"""
    ).fetchall():
        if not (lo == 1 and hi == n and distinct == n):
            report.problems.append(
                f"snapshot {snap!r}: finding positions are not 1..{n} "
                f"(from {lo} to {hi}, {distinct} distinct)"
            )
