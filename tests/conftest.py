"""Shared test fixtures: the sample estate, a CLI runner, database snapshots for comparison."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.config import Config
from dapaudit.ingest import ingest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "canonical"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
AS_OF = date(2026, 11, 30)


@pytest.fixture(scope="session", autouse=True)
def template_cache(tmp_path_factory):
    """New databases are copied from a template kept in this session's own cache folder,
    never in the user's (child processes get the variable too: robust_support.child_env)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("cache")
        patch.setenv(db.CACHE_DIR_ENV, str(folder))
        yield folder


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of the canonical sample estate that a test may change."""
    target = tmp_path / "estate"
    shutil.copytree(SAMPLE, target)
    return target


@pytest.fixture
def sample_db(tmp_path: Path):
    """A database holding the sample estate as snapshot 2026-11, analysed."""
    con = db.connect(tmp_path / "sample.duckdb")
    ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
    analyze(con, "2026-11", Config())
    yield con
    con.close()


def table_dump(con) -> dict[str, list[tuple]]:
    """Every base table's rows, sorted: to prove a failed command changed nothing."""
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema = 'main' ORDER BY 1"
        ).fetchall()
    ]
    return {n: sorted(map(repr, con.execute(f'SELECT * FROM "{n}"').fetchall())) for n in names}


def db_dump(path: Path) -> dict[str, list[tuple]]:
    con = db.connect(path, read_only=True)
    try:
        return table_dump(con)
    finally:
        con.close()
