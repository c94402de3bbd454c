"""Ingest's staging folder: transcoded copies of the exports, in the machine's temporary
folder. An ingest removes its own when it ends; one killed outright cannot, and the next ingest
removes what it left once that process is gone (SECURITY.md section 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from robust_support import run_cli

from conftest import AS_OF, SAMPLE
from dapaudit import db
from dapaudit.faults import FAULT_EXIT_CODE
from dapaudit.ingest import STAGING_PREFIX, STALE_STAGING_SECONDS, ingest

HOUR_AGO_AND_MORE = STALE_STAGING_SECONDS + 60


@pytest.fixture
def staging_root(tmp_path, monkeypatch):
    """The temporary folder, for this process and the commands it starts."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr("tempfile.tempdir", str(root))
    return root


@pytest.fixture
def exports(tmp_path):
    """The sample tenants file in Windows ANSI: a file ingest stages a UTF-8 copy of."""
    folder = tmp_path / "exports"
    folder.mkdir()
    text = (SAMPLE / "tenants.csv").read_text(encoding="utf-8")
    (folder / "tenants.csv").write_bytes(text.encode("utf-16"))
    return folder


def _left(root: Path, name: str, age: float = HOUR_AGO_AND_MORE) -> Path:
    """A folder `name` holding a file, last changed `age` seconds ago."""
    folder = root / name
    folder.mkdir()
    (folder / "0000001.csv").write_text("tenant_id\n", encoding="utf-8")
    return _aged(folder, age)


def _aged(folder: Path, age: float = HOUR_AGO_AND_MORE) -> Path:
    then = time.time() - age
    os.utime(folder, (then, then))
    return folder


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _ingest(tmp_path, exports) -> None:
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [exports], snapshot="2026-11", as_of=AS_OF)
    con.close()


def test_a_killed_ingest_leaves_a_folder_that_the_next_ingest_removes(
    tmp_path, staging_root, exports
):
    work = tmp_path / "k.duckdb"
    db.connect(work).close()  # so that the first checkpoint is the prepared file's
    killed = run_cli(
        "ingest", str(exports), "--db", str(work), cwd=tmp_path, DAPAUDIT_FAULT_AFTER="1"
    )
    assert killed.returncode == FAULT_EXIT_CODE, killed.stderr
    (left,) = staging_root.glob(f"{STAGING_PREFIX}*")
    assert any(left.iterdir())  # the transcoded copy of the export
    _aged(left)
    _ingest(tmp_path, exports)
    assert list(staging_root.iterdir()) == []


def test_an_ingest_that_ends_leaves_no_folder(tmp_path, staging_root, exports):
    _ingest(tmp_path, exports)
    assert list(staging_root.iterdir()) == []


def test_folders_that_may_still_be_in_use_or_are_not_staging_stay(tmp_path, staging_root, exports):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kept = [
            # a running process's, however old
            _left(staging_root, f"{STAGING_PREFIX}{live.pid}-abc"),
            # a dead process's changed within the hour: maybe another container's process
            _left(staging_root, f"{STAGING_PREFIX}{_dead_pid()}-abc", age=60),
            # not a staging folder's name
            _left(staging_root, f"dapaudit-{_dead_pid()}-abc"),
            _left(staging_root, f"{STAGING_PREFIX}x{_dead_pid()}-abc"),
        ]
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "keep.txt").write_text("keep", encoding="utf-8")
        link = staging_root / f"{STAGING_PREFIX}{_dead_pid()}-link"
        link.symlink_to(outside, target_is_directory=True)
        then = time.time() - HOUR_AGO_AND_MORE
        os.utime(link, (then, then), follow_symlinks=False)
        _ingest(tmp_path, exports)
        assert sorted(staging_root.iterdir()) == sorted([*kept, link])
        assert (outside / "keep.txt").exists()
    finally:
        live.kill()
        live.wait()
