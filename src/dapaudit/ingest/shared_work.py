"""Per-file work shared between this process and helper processes, results kept in order.

Preparing a file (hash, sniff, detect, context) is Python, about 150 µs a file: at 100,000
files it kept one core busy for a quarter of the ingest while the other idled. Here the
calling process works through the tasks from the back while `workers` spawned processes take
them from the front, each claiming one task at a time under a shared lock, until the two ends
meet. The caller never waits for a helper to start (spawning one re-imports dapaudit, about
0.3 s): if it finishes first, the helpers are stopped unused. A helper that dies leaves its
task to the caller, which does what is missing itself.

Helpers are spawned (a fresh interpreter), unless the caller asks for fork and it is safe: on
Linux, with this process running a single thread. A forked helper starts at once and inherits
the tasks instead of receiving them pickled; a spawned one re-imports dapaudit first (0.3 s
to 0.6 s seen, during which the caller works alone). Never fork with a DuckDB connection open: its
threads' locks would be copied mid-use. ingest forks before it opens the database, and
`started` lets it open the database only once the helpers exist. Tasks are top-level
functions and their arguments, as multiprocessing pickles them for a spawned helper.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

# Results the helpers could not send back are rare (a bug); this keeps their message.
_UNSENDABLE = "a helper process raised an error that could not be sent back: "


# The signals that stop a command (dapaudit.interrupt): a helper handles them its own way.
_STOPPING = {signal.SIGINT, signal.SIGTERM}


def run_shared(
    func: Callable[..., Any],
    tasks: Sequence[tuple],
    *,
    workers: int,
    done: Callable[[int], None] | None = None,
    caller_works: bool = True,
    fork: bool = False,
    started: Callable[[], None] | None = None,
) -> list[Any]:
    """[func(*task) for task in tasks], computed by this process and `workers` helpers.

    Raises the exception of the first task, in task order, that raised one, as running them
    one by one would (every task runs, so which one is first does not depend on timing).
    `done(i)` is called in this process for each task as its result arrives. `caller_works`
    False leaves every task to the helpers (tests use it to exercise them). `fork` asks for
    forked helpers where fork_is_safe(); `started()` is called once they exist, before any
    task runs.
    """
    n = len(tasks)
    outcomes: list[tuple[bool, Any] | None] = [None] * n
    if n == 0:
        if started:
            started()
        return []
    forked = fork and workers > 0 and fork_is_safe()
    ctx = multiprocessing.get_context("fork" if forked else "spawn")
    ends = ctx.Array("i", [0, n - 1])  # [next from the front, next from the back]
    results = ctx.Queue()
    # The tasks go by queue, written by a feeder thread: as arguments of the Process they would
    # be written by start() itself, which blocks for good on a helper that dies starting up
    # (an unguarded main script re-run by spawn, say) once they exceed a pipe's buffer.
    work = ctx.Queue()
    work.cancel_join_thread()  # nor wait at exit to hand them to a helper that is gone
    # A forked helper has func and tasks already (arguments are not pickled by fork).
    job = (func, tasks) if forked else None
    helpers = [
        ctx.Process(target=_helper, args=(work, ends, results, job), daemon=True)
        for _ in range(max(0, workers))
    ]
    # A helper starts with Ctrl-C and SIGTERM blocked, until it has its own handling of them
    # (_helper): a forked one would otherwise run this process's (dapaudit.interrupt), raising
    # KeyboardInterrupt with a traceback when stopped, and writing the signal to this
    # process's wake-up pipe, whose watcher then interrupts this process's statements.
    # (POSIX only: Windows has no signal masks, nor forked helpers.)
    blocked = _mask("SIG_BLOCK", _STOPPING)
    try:
        for helper in helpers:
            helper.start()
            if not forked:
                work.put((func, tasks))
    finally:
        if blocked is not None:
            _mask("SIG_SETMASK", blocked)
    if started:
        started()

    def receive(block: bool) -> bool:
        try:
            payload = results.get(timeout=0.2) if block else results.get_nowait()
        except queue.Empty:
            return False
        i, ok, value = pickle.loads(payload)
        if outcomes[i] is None:
            outcomes[i] = (ok, value)
            if done:
                done(i)
        return True

    try:
        while caller_works:
            with ends.get_lock():
                i = ends[1]
                if i < ends[0]:
                    break
                ends[1] = i - 1
            outcomes[i] = _outcome(func, tasks[i])
            if done:
                done(i)
            while receive(block=False):
                pass
        while any(o is None for o in outcomes):
            if receive(block=True):
                continue
            if all(h.exitcode is not None for h in helpers):
                while receive(block=True):  # what they sent before ending
                    pass
                for i, outcome in enumerate(outcomes):
                    if outcome is None:  # claimed by a helper that died, or never claimed
                        outcomes[i] = _outcome(func, tasks[i])
                        if done:
                            done(i)
    finally:
        for helper in helpers:
            if helper.is_alive():
                helper.terminate()
            helper.join()
        results.close()
        results.join_thread()
        work.close()
    values = []
    for ok, value in outcomes:  # type: ignore[misc]
        if not ok:
            raise value
        values.append(value)
    return values


def _mask(how: str, signals: set[int]) -> set[int] | None:
    """signal.pthread_sigmask(signal.<how>, signals): the mask before, or None where there
    are no signal masks (Windows, which has no forked helpers either)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(getattr(signal, how), signals)


def _outcome(func: Callable[..., Any], task: tuple) -> tuple[bool, Any]:
    try:
        return True, func(*task)
    except Exception as exc:  # re-raised in task order by run_shared
        return False, exc


def fork_is_safe() -> bool:
    """Linux, and this process runs one thread (DuckDB's threads included, which the
    threading module does not see)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            return any(line.split() == ["Threads:", "1"] for line in fh)
    except OSError:
        return False


def _helper(work: Any, ends: Any, results: Any, job: tuple | None = None) -> None:
    # Ctrl-C reaches the whole process group: the caller stops its helpers itself, and a
    # helper's own KeyboardInterrupt would only print a traceback. SIGTERM (the caller's
    # terminate()) ends it at once. No wake-up pipe: a forked helper shares its caller's.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _mask("SIG_UNBLOCK", _STOPPING)
    func, tasks = job if job is not None else work.get()
    while True:
        with ends.get_lock():
            i = ends[0]
            if i > ends[1]:
                break
            ends[0] = i + 1
        ok, value = _outcome(func, tasks[i])
        # Pickled here, not by the queue's feeder thread, which would only print a failure.
        try:
            payload = pickle.dumps((i, ok, value))
        except Exception as exc:  # noqa: BLE001  (an unpicklable result or error)
            payload = pickle.dumps((i, False, RuntimeError(_UNSENDABLE + repr(exc))))
        results.put(payload)
    results.close()
    results.join_thread()
