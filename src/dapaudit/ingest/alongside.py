"""Kinds loaded alongside: a small ingest's export kinds on a connection per core.

A kind's statements (staging, checks, inserts) run one after another, and in a small ingest
each runs on one core (ingest.ONE_THREAD_BYTES), so loading kind after kind left the second
core idle. Here each of `workers` threads has a DuckDB connection of its own (DuckDB releases
the GIL while it plans and runs) and loads the next kind whose predecessors are done, as
analyze runs its rules.

The result is the serial one. A kind waits for every earlier kind (in load order) it
conflicts with: one fills what the other reads, or both fill the same table (rows then keep
the serial order). Every kind reads its files' tenant contexts, which come from the tenants
loaded before it, so a kind that fills tenants waits for every earlier kind and every later
kind waits for it. A reader states what it reads in Kind.reads; None means anything.

The connections write to an in-memory work database, never to the database itself: ingest
copies the rows over in its one transaction afterwards, so a failure or a crash leaves the
database as it was. When kinds fail, the error raised is the one of the earliest kind in load
order that failed, which is the one loading kind after kind raises.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence

import duckdb

from ..db import track
from .base import Kind

# The in-memory database attached for the command: every connection of this process sees it
# (a TEMP table is its own connection's).
WORK_DB = "dapaudit_ingest_work"
TENANTS = "tenants"  # every kind reads its tenant contexts, resolved from this dataset


def _reads(kind: Kind) -> frozenset[str] | None:
    return None if kind.reads is None else frozenset(kind.reads) | {TENANTS}


def _writes(kind: Kind) -> frozenset[str]:
    return frozenset(kind.datasets) | frozenset(kind.shares)


def _meets(reads: frozenset[str] | None, writes: frozenset[str]) -> bool:
    return bool(writes) if reads is None else bool(reads & writes)


def dependencies(kinds: Sequence[Kind]) -> list[frozenset[int]]:
    """For each kind (in load order), the earlier kinds it must wait for."""
    out = []
    for b, later in enumerate(kinds):
        out.append(
            frozenset(
                a
                for a, earlier in enumerate(kinds[:b])
                if _meets(_reads(later), _writes(earlier))
                or _meets(_reads(earlier), _writes(later))
                or _writes(earlier) & _writes(later)
            )
        )
    return out


def run(
    con: duckdb.DuckDBPyConnection,
    deps: Sequence[frozenset[int]],
    load: Callable[[duckdb.DuckDBPyConnection, int], None],
    *,
    workers: int,
    setup: Callable[[duckdb.DuckDBPyConnection], None],
    before: Callable[[int, frozenset[int]], None],
    done: Callable[[int], None],
) -> None:
    """Run load(connection, i) for every job i on `workers` connections of `con`'s database,
    each job once all of deps[i] are done. `setup` prepares each connection first; before(i,
    finished) runs in this thread just before job i is handed out; done(n) after each job.

    On failure no further job is started except earlier ones (in index order), the jobs under
    way finish, and the failure of the lowest job is raised."""
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    results: queue.SimpleQueue = queue.SimpleQueue()
    cancelled = threading.Event()
    cursors = [track(con.cursor()) for _ in range(workers)]
    threads = [
        threading.Thread(
            target=_work,
            args=(cur, setup, load, jobs, results, cancelled),
            name="dapaudit-kinds",
            daemon=True,
        )
        for cur in cursors
    ]
    started = [False] * len(deps)
    finished: set[int] = set()
    failures: dict[int, BaseException] = {}
    stop = len(deps)  # no job from here on starts
    running = 0
    try:
        for thread in threads:
            thread.start()
        while True:
            for i in range(stop):
                if not started[i] and deps[i] <= finished:
                    before(i, frozenset(finished))
                    started[i] = True
                    running += 1
                    jobs.put(i)
            if not running:
                break
            i, exc = results.get()
            if i is None:  # a connection could not be prepared
                raise exc
            running -= 1
            if exc is None:
                finished.add(i)
                done(len(finished))
            else:
                failures[i] = exc
                stop = min(stop, i)
        if failures:
            raise failures[min(failures)]
    except BaseException:
        cancelled.set()
        for cur in cursors:
            with contextlib.suppress(duckdb.Error):
                cur.interrupt()
        raise
    finally:
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join()
        for cur in cursors:
            cur.close()


def _work(
    cur: duckdb.DuckDBPyConnection,
    setup: Callable[[duckdb.DuckDBPyConnection], None],
    load: Callable[[duckdb.DuckDBPyConnection, int], None],
    jobs: queue.SimpleQueue,
    results: queue.SimpleQueue,
    cancelled: threading.Event,
) -> None:
    try:
        setup(cur)
    except BaseException as exc:  # handed to the caller, which raises it
        results.put((None, exc))
        return
    while (i := jobs.get()) is not None:
        if cancelled.is_set():
            continue
        try:
            load(cur, i)
        except BaseException as exc:  # handed to the caller, which raises it
            results.put((i, exc))
        else:
            results.put((i, None))
