"""Crash safety: kill `ingest` and `analyze` at every checkpoint (and mid-statement) and prove
the database still opens, passes `dapaudit check`, holds every earlier snapshot exactly, and
that re-running the command completes it.

The checkpoints are dapaudit.faults: DAPAUDIT_FAULT_AFTER=N ends the child process with
os._exit at the Nth one, which skips every rollback and flush, as SIGKILL does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from robust_support import (
    checked_state,
    child_env,
    dapaudit_argv,
    run_cli,
    snapshot_rows,
    stable_dump,
)

from conftest import SAMPLE, db_dump
from dapaudit import db
from dapaudit.check import check_database
from dapaudit.cli import cli
from dapaudit.faults import FAULT_EXIT_CODE

EARLIER, LATER = "2026-10", "2026-11"
FAULT_FILES = (
    "tenants.csv",
    "partner_relationships.csv",
    "directory_role_members.csv",
    "azure_role_assignments.csv",
)

# Kill points tried, by sweep: the closing report of the test run prints them.
KILLS: dict[str, int] = {}


@pytest.fixture(autouse=True, scope="module")
def _killed_staging_stays_here(tmp_path_factory):
    """A killed ingest cannot remove its staging folder (transcoded copies of the exports), as
    a real SIGKILL cannot: the children stage under this test's folder, not the machine's
    temporary folder, where every run of this module left a dozen."""
    staging = tmp_path_factory.mktemp("staging")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", str(staging))
        yield


def _ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def _trace(tmp: Path, db_file: Path, *args: str) -> list[str]:
    """Run a command once with tracing on a copy of `db_file`: the checkpoints it passes."""
    work = tmp / "trace.duckdb"
    if db_file.exists():
        shutil.copy(db_file, work)
    trace = tmp / "trace.txt"
    trace.unlink(missing_ok=True)
    _ok(run_cli(*args, "--db", str(work), cwd=tmp, DAPAUDIT_FAULT_TRACE=str(trace)))
    work.unlink()
    return trace.read_text().splitlines()


def _check_passes(db_file: Path) -> None:
    # In-process (the CLI's `check` is the same call; tests/robust/test_check.py drives it).
    with db.opened(db_file, read_only=True) as con:
        problems = check_database(con).problems
    assert problems == []


def _rerun(db_file: Path, command: tuple[str, ...], cwd: Path, monkeypatch) -> None:
    """Re-run the interrupted command in-process (same CLI, no interpreter start-up)."""
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(cli, [*command, "--db", str(db_file)])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def estate(tmp_path_factory) -> dict[str, Path]:
    """A database with an analysed earlier snapshot, and reference databases for LATER.

    The exports are four of the sample files: several files and kinds, few enough that every
    checkpoint can be tried within the suite's time budget."""
    tmp = tmp_path_factory.mktemp("faults")
    (tmp / "exports").mkdir()
    for name in FAULT_FILES:
        shutil.copy(SAMPLE / name, tmp / "exports" / name)
    base = tmp / "base.duckdb"
    _ok(
        run_cli(
            "ingest",
            "exports",
            "--db",
            str(base),
            "--snapshot",
            EARLIER,
            "--as-of",
            "2026-10-31",
            cwd=tmp,
        )
    )
    _ok(run_cli("analyze", "--db", str(base), "--snapshot", EARLIER, cwd=tmp))
    ingested = tmp / "ingested.duckdb"
    shutil.copy(base, ingested)
    _ok(
        run_cli(
            "ingest",
            "exports",
            "--db",
            str(ingested),
            "--snapshot",
            LATER,
            "--as-of",
            "2026-11-30",
            cwd=tmp,
        )
    )
    analysed = tmp / "analysed.duckdb"
    shutil.copy(ingested, analysed)
    _ok(run_cli("analyze", "--db", str(analysed), "--snapshot", LATER, cwd=tmp))
    return {"tmp": tmp, "base": base, "ingested": ingested, "analysed": analysed}


INGEST = ("ingest", "exports", "--snapshot", LATER, "--as-of", "2026-11-30")
ANALYZE = ("analyze", "--snapshot", LATER)


def _sweep(
    estate, start: str, done: str, command: tuple[str, ...], sweep: str, monkeypatch
) -> None:
    """Kill `command` at each of its checkpoints in turn, starting from database `start`."""
    tmp = estate["tmp"]
    points = _trace(tmp, estate[start], *command)
    assert len(points) >= 5, points
    before_exact = db_dump(estate[start])
    before, after = stable_dump(estate[start]), stable_dump(estate[done])
    assert before != after
    earlier = snapshot_rows(before, EARLIER)
    for n in range(1, len(points) + 1):
        work = tmp / f"{sweep}-{n}.duckdb"
        shutil.copy(estate[start], work)
        killed = run_cli(*command, "--db", str(work), cwd=tmp, DAPAUDIT_FAULT_AFTER=str(n))
        assert killed.returncode == FAULT_EXIT_CODE, (points[n - 1], killed.stderr)
        # The database opens and is sound; the earlier snapshot is untouched; the command in
        # flight is either wholly there (killed after COMMIT) or wholly absent.
        problems, state, exact = checked_state(work)
        assert problems == [], points[n - 1]
        assert snapshot_rows(state, EARLIER) == earlier, points[n - 1]
        assert state in (before, after), points[n - 1]
        if state == before:
            assert exact == before_exact, points[n - 1]
        _rerun(work, command, tmp, monkeypatch)
        problems, state, _ = checked_state(work)
        assert problems == [] and state == after, points[n - 1]
        work.unlink()
        KILLS[sweep] = n


def test_ingest_killed_at_every_checkpoint_loses_nothing(estate, monkeypatch):
    _sweep(estate, "base", "ingested", INGEST, "ingest", monkeypatch)


def test_analyze_killed_at_every_checkpoint_loses_nothing(estate, monkeypatch):
    _sweep(estate, "ingested", "analysed", ANALYZE, "analyze", monkeypatch)


def test_first_ingest_killed_while_creating_the_database(tmp_path, monkeypatch):
    """The very first command creates the schema in its own transaction: a kill there leaves
    a file that the next command completes."""
    (tmp_path / "exports").mkdir()
    shutil.copy(SAMPLE / "tenants.csv", tmp_path / "exports")
    args = ("ingest", "exports", "--as-of", "2026-11-30")
    points = _trace(tmp_path, tmp_path / "none.duckdb", *args)
    creation = points[: points.index(next(p for p in points if "prepared-file" in p))]
    assert creation, points  # the schema transaction comes before the first file
    for n in range(1, len(creation) + 1):
        work = tmp_path / f"new-{n}.duckdb"
        killed = run_cli(*args, "--db", str(work), cwd=tmp_path, DAPAUDIT_FAULT_AFTER=str(n))
        assert killed.returncode == FAULT_EXIT_CODE
        _rerun(work, args, tmp_path, monkeypatch)
        _check_passes(work)
        KILLS["create"] = n


def _big_estate(folder: Path, rows: int) -> None:
    """The sample estate plus a large role listing, so a kill lands inside DuckDB's read."""
    shutil.copytree(SAMPLE, folder)
    tenant = "0e6249f8-cf40-5b6e-9138-82b4a7337e4f"
    role = "62e90394-69f5-4237-9190-012177145e10"
    with open(folder / "zz_big_role_listing.csv", "w", encoding="utf-8") as fh:
        fh.write("tenant_id,role_template_id,principal_id,principal_type,principal_display_name\n")
        for i in range(rows):
            fh.write(f"{tenant},{role},00000000-0000-4000-8000-{i:012d},user,User {i}\n")


def test_ingest_killed_mid_statement_by_sigkill(tmp_path, monkeypatch):
    """SIGKILL at staggered moments after the transaction began: inside DuckDB's own work."""
    _big_estate(tmp_path / "exports", 10_000)
    base = tmp_path / "base.duckdb"
    _ok(
        run_cli(
            "ingest",
            "exports",
            "--db",
            str(base),
            "--snapshot",
            EARLIER,
            "--as-of",
            "2026-10-31",
            cwd=tmp_path,
        )
    )
    ref = tmp_path / "ref.duckdb"
    shutil.copy(base, ref)
    _ok(run_cli(*INGEST, "--db", str(ref), cwd=tmp_path))
    before, after = stable_dump(base), stable_dump(ref)
    outcomes = []
    for n, delay in enumerate((0.0, 0.2)):
        work = tmp_path / f"kill-{n}.duckdb"
        shutil.copy(base, work)
        trace = tmp_path / f"trace-{n}.txt"
        proc = subprocess.Popen(
            dapaudit_argv(*INGEST, "--db", str(work)),
            cwd=tmp_path,
            env=child_env(DAPAUDIT_FAULT_TRACE=str(trace)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Wait (without a time limit that could fail the test) until the transaction began.
        while proc.poll() is None and "snapshot-row" not in (
            trace.read_text() if trace.exists() else ""
        ):
            time.sleep(0.005)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        outcomes.append(proc.returncode)
        problems, state, _ = checked_state(work)
        assert problems == [] and state in (before, after)
        _rerun(work, INGEST, tmp_path, monkeypatch)
        problems, state, _ = checked_state(work)
        assert problems == [] and state == after
        work.unlink()
    KILLS["sigkill"] = sum(1 for rc in outcomes if rc == -signal.SIGKILL)
    print(f"\nfault injection: kill points per sweep {KILLS}")
