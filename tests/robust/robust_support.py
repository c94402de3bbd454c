"""Helpers for the robustness tests: run the real CLI in a child process, compare databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dapaudit import db

SRC = Path(__file__).resolve().parents[2] / "src"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child dapaudit: this checkout's code, no inherited fault hooks."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DAPAUDIT_") or k == db.CACHE_DIR_ENV
    }
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def dapaudit_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "dapaudit.cli", *args]


def run_cli(*args: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        dapaudit_argv(*args),
        cwd=cwd,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stable_dump(path: Path) -> dict[str, list[str]]:
    """Every base table's rows, sorted, without the wall-clock columns (TIMESTAMP), so two
    runs on the same inputs compare equal."""
    con = db.connect(path, read_only=True)
    try:
        return stable_dump_of(con)
    finally:
        con.close()


def stable_dump_of(con) -> dict[str, list[str]]:
    tables = con.execute(
        """SELECT table_name, list(column_name ORDER BY ordinal_position)
               FILTER (WHERE NOT data_type LIKE 'TIMESTAMP%')
        FROM information_schema.columns WHERE table_schema = 'main'
          AND table_name IN (SELECT table_name FROM information_schema.tables
                             WHERE table_type = 'BASE TABLE' AND table_schema = 'main')
        GROUP BY table_name ORDER BY table_name"""
    ).fetchall()
    return {
        name: sorted(
            map(
                repr,
                con.execute(
                    "SELECT " + ", ".join(f'"{c}"' for c in cols) + f' FROM "{name}"'
                ).fetchall(),
            )
        )
        for name, cols in tables
    }


def checked_state(path: Path) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """Open read-only once: (check problems, stable_dump, conftest.table_dump)."""
    from conftest import table_dump
    from dapaudit.check import check_database

    con = db.connect(path, read_only=True)
    try:
        return check_database(con).problems, stable_dump_of(con), table_dump(con)
    finally:
        con.close()


def snapshot_rows(dump: dict[str, list[str]], snapshot: str) -> dict[str, list[str]]:
    """The part of a stable_dump that belongs to one snapshot (rows start with its label)."""
    prefix = f"({snapshot!r},"
    return {t: [r for r in rows if r.startswith(prefix)] for t, rows in dump.items()}


def raw_dump(path: Path) -> dict[str, list[str]]:
    """conftest.table_dump through plain DuckDB: for files dapaudit itself refuses to open."""
    import duckdb

    from conftest import table_dump

    con = duckdb.connect(str(path), read_only=True)
    try:
        return table_dump(con)
    finally:
        con.close()
