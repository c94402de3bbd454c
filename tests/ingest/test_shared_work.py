"""Preparing files on several cores gives what preparing them one by one gives.

shared_work.run_shared splits tasks between this process and helpers; ingest uses it
to hash, sniff and detect many files. Results come back in task order, the error raised is
the first in task order, and a helper that dies leaves its work to the caller.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dapaudit.ingest as ingest_module
from conftest import AS_OF, table_dump
from dapaudit import db
from dapaudit.errors import DapauditError
from dapaudit.generate import generate
from dapaudit.ingest import IngestReport, _discover, _prepare, _prepare_files, ingest
from dapaudit.ingest.shared_work import run_shared


def _exit_in_helper(value: str) -> int:
    """int(value), but a helper process dies on it (as one killed by the OOM killer would)."""
    if multiprocessing.parent_process() is not None:
        os._exit(3)
    return int(value)


@pytest.mark.parametrize("caller_works", [True, False])
def test_results_in_task_order(caller_works):
    tasks = [(str(n),) for n in range(40)]
    assert run_shared(int, tasks, workers=2, caller_works=caller_works) == list(range(40))


@pytest.mark.parametrize("caller_works", [True, False])
def test_first_error_in_task_order_is_raised(caller_works):
    tasks = [("1",), ("2",), ("not a number",), ("3",), ("neither",)]
    with pytest.raises(ValueError, match="'not a number'"):
        run_shared(int, tasks, workers=1, caller_works=caller_works)


def test_a_dead_helper_leaves_its_work_to_the_caller():
    seen: list[int] = []
    tasks = [(str(n),) for n in range(6)]
    assert run_shared(_exit_in_helper, tasks, workers=1, done=seen.append) == list(range(6))
    assert sorted(seen) == list(range(6))


def test_a_located_error_keeps_its_location_across_processes():
    err = DapauditError("not a GUID", file="a.csv", record=7, field="id", record_label="record")
    with pytest.raises(DapauditError) as caught:
        run_shared(_raise, [(err,)], workers=1, caller_works=False)
    assert str(caught.value) == str(err) == "a.csv, record 7, field 'id': not a GUID"


def _raise(exc: Exception) -> None:
    raise exc


@pytest.fixture(scope="module")
def estate(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("estate")
    generate(root, 12, seed=4, fmt="real")
    return root / "exports"


def test_prepared_files_are_the_same_from_helpers(estate, tmp_path):
    """Every file prepared by a helper (caller_works=False) and sent back is the file
    prepared here, down to its UTF-8 copy's name and its warnings."""
    (tmp_path / "one").mkdir()
    (tmp_path / "helpers").mkdir()
    paths = _discover([estate])
    assert len(paths) > 20
    report = IngestReport("2026-11")
    roots = [estate.resolve()]
    alone = _prepare(paths, roots, tmp_path / "one", None, None, report, None, workers=0)
    args = (roots, tmp_path / "helpers", None, None)
    tasks = [(start, paths[start : start + 3], *args) for start in range(0, len(paths), 3)]
    shared = [
        one
        for chunk in run_shared(_prepare_files, tasks, workers=2, caller_works=False)
        for one in chunk
    ]

    def strip(f):  # everything but the folder of the UTF-8 copies
        return (
            f.path,
            f.display_path,
            f.sha256,
            f.text,
            f.kind,
            f.read_path.name,
            f.small,
            f.delimiter,
            f.header,
            f.context_hint,
            f.folders,
        )

    assert [strip(f) for f, _ in shared] == [strip(f) for f in alone]
    assert [w for _, warnings in shared for w in warnings] == report.warnings


def test_helpers_and_caller_give_the_first_bad_file(estate, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for n, path in enumerate(sorted(estate.rglob("*.csv"))[:9]):
        (folder / f"{n:02d}-{path.name}").write_bytes(path.read_bytes())
    (folder / "03-empty.csv").write_bytes(b"")
    (folder / "07-binary.csv").write_bytes(b"\x00\x01\x02" * 50)
    paths = _discover([folder])
    args = ([folder.resolve()], tmp_path, None, None)
    tasks = [(start, paths[start : start + 2], *args) for start in range(0, len(paths), 2)]
    with pytest.raises(DapauditError) as alone:
        _prepare(paths, *args, IngestReport("s"), None, workers=0)
    with pytest.raises(DapauditError) as helpers:
        run_shared(_prepare_files, tasks, workers=1, caller_works=False)
    assert "03-empty.csv" in str(alone.value)
    assert str(helpers.value) == str(alone.value)


def test_ingest_with_helpers_loads_the_same_tables(estate, tmp_path, monkeypatch):
    def load(name: str):
        with db.opened(tmp_path / f"{name}.duckdb") as con:
            ingest(con, [estate], snapshot="2026-11", as_of=AS_OF)
            # The time of each ingest differs; nothing else may.
            con.execute("UPDATE snapshots SET created_at = TIMESTAMP '2026-11-30'")
            con.execute("UPDATE source_files SET ingested_at = TIMESTAMP '2026-11-30'")
            return table_dump(con)

    alone = load("alone")
    monkeypatch.setattr(ingest_module, "SHARED_PREPARE_FILES", 1)
    monkeypatch.setattr(ingest_module, "PREPARE_TASK_FILES", 4)
    monkeypatch.setattr(ingest_module, "usable_cpus", lambda: 2)
    assert load("shared") == alone


# Set at run time by the script below: a forked helper inherits the value, a spawned one
# imports this module afresh and sees the default.
MARK = "imported"


def _mark(n: int) -> tuple[int, str]:
    return n, MARK


FORK_SCRIPT = """
import sys
sys.path[:0] = [{tests!r}, {here!r}]
import test_shared_work as t
from dapaudit.ingest.shared_work import fork_is_safe, run_shared
t.MARK = "set by the caller"
if sys.argv[1] == "with-duckdb":
    import duckdb
    con = duckdb.connect()  # DuckDB's threads now run: forking is no longer safe
events = []
out = run_shared(t._mark, [(n,) for n in range(6)], workers=1, caller_works=False, fork=True,
                 started=lambda: events.append("started"), done=lambda i: events.append("done"))
print(fork_is_safe(), sorted({{m for _, m in out}}), [n for n, _ in out], events[0],
      events.count("started"))
"""


@pytest.mark.parametrize(
    "mode, safe, mark",
    [("alone", "True", "set by the caller"), ("with-duckdb", "False", "imported")],
)
def test_helpers_are_forked_only_while_it_is_safe(tmp_path, mode, safe, mark):
    # In a child interpreter: pytest's own process may be running other threads.
    here = Path(__file__).resolve().parent
    script = FORK_SCRIPT.format(tests=str(here.parent), here=str(here))
    proc = subprocess.run(
        [sys.executable, "-c", script, mode],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{safe} ['{mark}'] [0, 1, 2, 3, 4, 5] started 1"


STOPPED_HELPER = r"""
import multiprocessing, os, sys, time
from dapaudit import interrupt
from dapaudit.ingest.shared_work import run_shared

def slow(i):
    if multiprocessing.parent_process() is not None:
        time.sleep(30)  # a helper still at work when the caller stops it
    return i

def fail(i):
    raise RuntimeError("the caller stops")

interrupt.install()  # as the command line does: handlers and the wake-up pipe
try:
    run_shared(slow, [(i,) for i in range(4)], workers=1, fork=sys.argv[1] == "fork", done=fail)
except RuntimeError:
    pass
time.sleep(0.5)  # the stopped helper's last words, if any
os.set_blocking(interrupt._read_fd, False)
try:
    print("pipe", list(os.read(interrupt._read_fd, 64)))
except BlockingIOError:
    print("pipe []")
"""


@pytest.mark.parametrize("mode", ["fork", "spawn"])
def test_a_helper_stopped_by_its_caller_ends_quietly(mode):
    """A forked helper ran the command line's own SIGTERM handling: stopped by its caller, it
    printed a KeyboardInterrupt traceback, and wrote SIGTERM to the caller's wake-up pipe,
    whose watcher would interrupt the caller's statements as if the command were stopped."""
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_HELPER, mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
    assert done.stdout.strip() == "pipe []"


def test_helpers_run_where_there_are_no_signal_masks(monkeypatch):
    """Windows has no signal.pthread_sigmask: starting helpers raised AttributeError there."""
    import signal

    monkeypatch.delattr(signal, "pthread_sigmask")
    assert run_shared(abs, [(-1,), (-2,)], workers=1) == [1, 2]
