"""The Python API for notebooks: a read-only handle on an audit database that answers in
pandas DataFrames. `dapaudit.open(path)` is the entry point; see the README.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .query import AUDIT_CATALOG, QuerySession, latest_snapshot

if TYPE_CHECKING:
    import pandas


class AuditDatabase:
    """Read-only: the same session as `dapaudit query`, so writes are refused by DuckDB."""

    def __init__(self, path: str | os.PathLike[str], snapshot: str | None = None) -> None:
        self._session = QuerySession(path, snapshot=snapshot)

    @property
    def snapshot(self) -> str | None:
        """The snapshot every table and view is narrowed to, or None for all of them."""
        return self._session.snapshot

    def sql(self, query: str, **params: Any) -> pandas.DataFrame:
        """Run SQL with named parameters ($name in the SQL) and return the result."""
        return self._session.execute(query, params).df()

    def findings(self, snapshot: str | None = None) -> pandas.DataFrame:
        """The findings of a snapshot (default: the latest) in report order."""
        snapshot = snapshot or self.snapshot or latest_snapshot(self._session)
        return self.sql(
            "SELECT * FROM finding_details WHERE snapshot = $snapshot ORDER BY position",
            snapshot=snapshot,
        )

    def tables(self) -> list[str]:
        """Names of the tables and views to query, with `dapaudit schema` describing each."""
        rows = self._session.con.execute(
            """SELECT table_name FROM duckdb_tables()
               WHERE database_name = $c AND schema_name = 'main'
               UNION
               SELECT view_name FROM duckdb_views()
               WHERE database_name = $c AND schema_name = 'main' AND NOT internal
               ORDER BY 1""",
            {"c": AUDIT_CATALOG},
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> AuditDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open(path: str | os.PathLike[str], snapshot: str | None = None) -> AuditDatabase:  # noqa: A001
    """Open an audit database read-only, optionally narrowed to one snapshot."""
    return AuditDatabase(path, snapshot=snapshot)
