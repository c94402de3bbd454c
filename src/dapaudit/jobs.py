"""Jobs on a DuckDB connection per core, in threads: analyze's rules, ingest's kinds.

DuckDB releases the GIL while it plans and runs a statement, so threads that each hold a
connection of their own (a cursor of the same database) work on all cores. A job starts once
the jobs it depends on are done. When jobs fail, the failure raised is the one of the lowest
job, whatever finished first: the error is the same from run to run, and the one running
the jobs in index order one by one raises.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence

import duckdb

from .interrupt import track

_SKIPPED = object()  # a job after a failed one, not started


class _Stop:
    """The lowest failed job so far: no job after it starts (-1: none starts any more).
    Shared by the threads; a thread whose job fails lowers it before it says so."""

    def __init__(self, jobs: int) -> None:
        self.at = jobs
        self._lock = threading.Lock()

    def lower(self, job: int) -> None:
        with self._lock:
            self.at = min(self.at, job)


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

    On failure no job after the failed one starts, the jobs under way finish, and the failure
    of the lowest job is raised."""
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    results: queue.SimpleQueue = queue.SimpleQueue()
    stop = _Stop(len(deps))
    cursors = [track(con.cursor()) for _ in range(workers)]
    threads = [
        threading.Thread(
            target=_work,
            args=(cur, setup, load, jobs, results, stop),
            name="dapaudit-jobs",
            daemon=True,
        )
        for cur in cursors
    ]
    started = [False] * len(deps)
    finished: set[int] = set()
    failures: dict[int, BaseException] = {}
    running = 0
    try:
        for thread in threads:
            thread.start()
        while True:
            for i in range(stop.at):
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
            elif exc is not _SKIPPED:  # the thread has lowered the stop mark already
                failures[i] = exc
        if failures:
            raise failures[min(failures)]
    except BaseException:
        _stop_all(stop, cursors)
        raise
    finally:
        for _ in threads:
            jobs.put(None)
        # Every thread joined and every cursor closed before the connection they share can
        # close: a Ctrl-C that lands during the joins (the jobs had just finished) left a
        # cursor busy, and closing the connection under it aborted the process (SIGABRT).
        interrupted: BaseException | None = None
        for thread in threads:
            while True:
                try:
                    thread.join()
                    break
                except KeyboardInterrupt as exc:
                    interrupted = exc
                    _stop_all(stop, cursors)
        for cur in cursors:
            cur.close()
        if interrupted is not None:
            raise interrupted


def _stop_all(stop: _Stop, cursors: list[duckdb.DuckDBPyConnection]) -> None:
    """No job starts any more, and the statements under way are interrupted."""
    stop.lower(-1)
    for cur in cursors:
        with contextlib.suppress(duckdb.Error):
            cur.interrupt()


def _work(
    cur: duckdb.DuckDBPyConnection,
    setup: Callable[[duckdb.DuckDBPyConnection], None],
    load: Callable[[duckdb.DuckDBPyConnection, int], None],
    jobs: queue.SimpleQueue,
    results: queue.SimpleQueue,
    stop: _Stop,
) -> None:
    try:
        setup(cur)
    except BaseException as exc:  # handed to the caller, which raises it
        results.put((None, exc))
        return
    while (i := jobs.get()) is not None:
        if i > stop.at:
            results.put((i, _SKIPPED))
            continue
        try:
            load(cur, i)
        except BaseException as exc:  # handed to the caller, which raises it
            stop.lower(i)
            results.put((i, exc))
        else:
            results.put((i, None))
