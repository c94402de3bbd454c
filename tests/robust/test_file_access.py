"""Files and folders a command cannot read or write: a bad --out, a folder in the way of a
report file, an input file nobody may read. Each is `Error: <path>: ...` with exit code 2,
never a traceback, and `run` leaves the database as it was."""

from __future__ import annotations

import shutil

import pytest

from conftest import SAMPLE, db_dump
from dapaudit.cli import cli

AS_OF = ["--as-of", "2026-11-30"]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A database holding the sample estate, analysed: built once, copied by each test."""
    from click.testing import CliRunner

    path = tmp_path_factory.mktemp("analysed") / "x.duckdb"
    result = CliRunner().invoke(cli, ["ingest", str(SAMPLE), "--db", str(path), *AS_OF])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(cli, ["analyze", "--db", str(path)]).exit_code == 0
    return path


@pytest.fixture
def dbfile(tmp_path, analysed):
    path = tmp_path / "x.duckdb"
    shutil.copyfile(analysed, path)
    return path


def _a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("not a folder\n", encoding="utf-8")
    return path


def test_run_with_an_out_below_a_file_changes_nothing(runner, tmp_path, dbfile):
    before = db_dump(dbfile)
    out = _a_file(tmp_path) / "sub"
    args = ["run", str(SAMPLE), "--snapshot", "2026-12", "--db", str(dbfile), "--out", str(out)]
    result = runner.invoke(cli, args + AS_OF)
    assert result.exit_code == 2, result.output
    assert f"Error: {out}: cannot create the output folder" in result.output
    assert db_dump(dbfile) == before  # no snapshot 2026-12 ingested or analysed


def test_run_with_a_folder_where_a_findings_file_goes_changes_nothing(runner, tmp_path, dbfile):
    before = db_dump(dbfile)
    out = tmp_path / "out"
    (out / "findings.csv").mkdir(parents=True)
    args = ["run", str(SAMPLE), "--snapshot", "2026-12", "--db", str(dbfile), "--out", str(out)]
    result = runner.invoke(cli, args + AS_OF)
    assert result.exit_code == 2, result.output
    assert f"{out / 'findings.csv'}: a folder is in the way" in result.output
    assert db_dump(dbfile) == before


@pytest.mark.parametrize(
    "command",
    [
        ["report", "monthly", "--out", "{out}", "--db", "{db}"],
        ["report", "tenant", "--all-tenants", "--out", "{out}", "--db", "{db}"],
        ["report", "tenant", "contoso.onmicrosoft.com", "--out", "{out}", "--db", "{db}"],
        ["export", "--parquet", "{out}", "--db", "{db}"],
        ["generate", "--customers", "2", "--out", "{out}"],
        ["demo", "--out", "{out}"],
    ],
    ids=lambda c: " ".join(c[:3]),
)
def test_an_output_below_a_file_is_a_clean_error(runner, tmp_path, dbfile, command):
    out = _a_file(tmp_path) / "sub"
    result = runner.invoke(cli, [a.format(out=out, db=dbfile) for a in command])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {out}"), result.output


def test_an_input_file_nobody_may_read_is_a_clean_error(runner, tmp_path, dbfile, monkeypatch):
    """As `chmod 000` gives it to anyone but root (who reads any file, so the tests, which may
    run as root, make the read itself fail)."""
    from dapaudit import ingest
    from dapaudit.ingest import text

    read = text.read_head_and_hash

    def refused(path):
        if path.name == "tenants.csv":
            raise PermissionError(13, "Permission denied", str(path))
        return read(path)

    monkeypatch.setattr(ingest, "read_head_and_hash", refused)
    before = db_dump(dbfile)
    result = runner.invoke(cli, ["ingest", str(SAMPLE), "--db", str(dbfile), *AS_OF])
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: {SAMPLE / 'tenants.csv'}: Permission denied\n"
    assert db_dump(dbfile) == before
