"""Snapshots over time: what each holds and how its findings changed since the previous one."""

from __future__ import annotations

import duckdb


def list_snapshots(con: duckdb.DuckDBPyConnection) -> list[list]:
    return [
        list(r)
        for r in con.execute(
            """SELECT s.snapshot, s.as_of,
                      (SELECT count(*) FROM source_files f WHERE f.snapshot = s.snapshot),
                      (SELECT coalesce(sum(row_count), 0) FROM source_files f
                       WHERE f.snapshot = s.snapshot),
                      (SELECT count(*) FROM findings x WHERE x.snapshot = s.snapshot),
                      d.new, d.resolved, d.not_assessed, d.offboarded,
                      coalesce(strftime(s.analyzed_at, '%Y-%m-%d %H:%M'),
                               CASE WHEN EXISTS (SELECT 1 FROM findings x
                                                 WHERE x.snapshot = s.snapshot)
                                    THEN 'out of date' ELSE 'never' END)
               FROM snapshots s
               LEFT JOIN snapshot_deltas d ON d.snapshot = s.snapshot
               ORDER BY s.as_of, s.snapshot"""
        ).fetchall()
    ]


def source_files(con: duckdb.DuckDBPyConnection, snapshot: str) -> list[list]:
    """The files ingested into `snapshot`, by path: kind, the tenant a file speaks for when
    its records name none (from its folder or --tenant), rows, encoding, a short sha256."""
    return [
        list(r)
        for r in con.execute(
            """SELECT path, kind, coalesce(context_tenant_id, ''), row_count,
                      coalesce(encoding, ''), left(sha256, 12)
               FROM source_files WHERE snapshot = ? ORDER BY path, source_file_id""",
            [snapshot],
        ).fetchall()
    ]
