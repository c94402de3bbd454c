"""dapaudit.jobs: jobs on a connection per core, each after the jobs it depends on; the
lowest failure raised. Used by analyze (rules) and ingest (kinds)."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from dapaudit import jobs


def _run(job_list: dict, deps, workers=2):
    con = duckdb.connect()
    try:
        jobs.run(
            con,
            deps,
            lambda cur, i: job_list[i](cur),
            workers=workers,
            setup=lambda cur: None,
            before=lambda i, finished: None,
            done=lambda n: None,
        )
    finally:
        con.close()


def test_independent_jobs_run_at_the_same_time_on_connections_of_their_own():
    meet = threading.Barrier(2, timeout=10)
    used = []

    def job(cur):
        used.append(id(cur))
        meet.wait()  # both jobs must be under way at once
        cur.execute("SELECT 1").fetchall()

    _run({0: job, 1: job}, [frozenset(), frozenset()])
    assert len(set(used)) == 2


def test_a_job_starts_only_after_the_jobs_it_waits_for():
    events = []

    def job(n):
        def run(cur):
            events.append(("start", n))
            time.sleep(0.05)
            events.append(("end", n))

        return run

    _run({0: job(0), 1: job(1), 2: job(2)}, [frozenset(), frozenset(), {0, 1}])
    assert events.index(("start", 2)) > max(events.index(("end", 0)), events.index(("end", 1)))


def test_the_lowest_failing_job_is_raised_and_later_jobs_do_not_start():
    started = []

    def fails(n, delay):
        def run(cur):
            started.append(n)
            time.sleep(delay)
            raise ValueError(n)

        return run

    job_list = {0: fails(0, 0.3), 1: fails(1, 0.0), 2: lambda cur: started.append(2)}
    with pytest.raises(ValueError) as err:
        _run(job_list, [frozenset(), frozenset(), {1}])
    assert err.value.args == (0,)
    assert sorted(started) == [0, 1]


def test_a_connection_that_cannot_be_prepared_is_said():
    con = duckdb.connect()
    try:
        with pytest.raises(duckdb.CatalogException):
            jobs.run(
                con,
                [frozenset()],
                lambda cur, i: None,
                workers=2,
                setup=lambda cur: cur.execute("SELECT * FROM no_such_table"),
                before=lambda i, finished: None,
                done=lambda n: None,
            )
    finally:
        con.close()


def test_jobs_queued_after_a_failed_one_are_not_started():
    started = []

    def fails(cur):
        started.append(0)
        raise ValueError(0)

    job_list = {0: fails, 1: lambda cur: started.append(1), 2: lambda cur: started.append(2)}
    with pytest.raises(ValueError):
        _run(job_list, [frozenset()] * 3, workers=1)
    assert started == [0]


def test_every_job_runs_once_and_each_is_counted_done():
    ran, counted = [], []
    con = duckdb.connect()
    try:
        jobs.run(
            con,
            [frozenset()] * 5,
            lambda cur, i: ran.append(i),
            workers=2,
            setup=lambda cur: None,
            before=lambda i, finished: None,
            done=counted.append,
        )
    finally:
        con.close()
    assert sorted(ran) == [0, 1, 2, 3, 4]
    assert counted == [1, 2, 3, 4, 5]


def test_a_second_ctrl_c_during_the_joins_still_closes_every_cursor(monkeypatch):
    """Ctrl-C while the threads are joined (the jobs were ending) left cursors open and busy:
    the connection then closed under them and the process aborted (SIGABRT)."""
    opened = []
    monkeypatch.setattr(jobs, "track", lambda cur: opened.append(cur) or cur)

    class JoinOnceInterrupted(threading.Thread):
        interrupted = False

        def join(self, timeout=None):
            if not JoinOnceInterrupted.interrupted:
                JoinOnceInterrupted.interrupted = True
                raise KeyboardInterrupt
            return super().join(timeout)

    monkeypatch.setattr(jobs.threading, "Thread", JoinOnceInterrupted)

    def before(i, finished):
        if i == 1:
            raise KeyboardInterrupt  # the first Ctrl-C, as job 1 is handed out

    con = duckdb.connect()
    try:
        with pytest.raises(KeyboardInterrupt):
            jobs.run(
                con,
                [frozenset(), frozenset()],
                lambda cur, i: time.sleep(0.2),
                workers=2,
                setup=lambda cur: None,
                before=before,
                done=lambda n: None,
            )
        assert JoinOnceInterrupted.interrupted and len(opened) == 2
        for cur in opened:
            with pytest.raises(duckdb.ConnectionException):
                cur.execute("SELECT 1")
    finally:
        con.close()
