"""Helpers for reader tests: load fixtures into a fresh database and read canonical rows."""

from __future__ import annotations

from pathlib import Path

from conftest import AS_OF, FIXTURES
from dapaudit import db
from dapaudit.ingest import IngestReport, ingest

C = "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01"  # the customer tenant of the fixtures
P = "9d2e7b10-4a5c-4f7e-8b1a-0c3d5e7f9a11"  # the partner tenant
GA = "62e90394-69f5-4237-9190-012177145e10"
HD = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
DR = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
REL1 = "5d027261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836"
REL2 = "6e138372-e32a-4bb0-a8ec-8ab2a67ac274-9888c351-d7a1-457a-8f09-b4316542c947"
S1 = "8f2c0000-0000-4000-8000-000000000001"


def load(tmp_path: Path, *names: str, tenant: str | None = None, kind: str | None = None):
    """Ingest fixtures (paths below tests/fixtures) into a new database; (con, report)."""
    con = db.connect(tmp_path / "t.duckdb")
    report: IngestReport = ingest(
        con, [FIXTURES / n for n in names], snapshot="s", as_of=AS_OF, tenant=tenant, kind=kind
    )
    return con, report


def rows(con, table: str, columns: str) -> list[tuple]:
    return con.execute(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()
