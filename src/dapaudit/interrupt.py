"""Ctrl-C stops a DuckDB statement whichever thread runs it.

The DuckDB client looks for Ctrl-C only when the calling thread comes back from running a
piece of the statement itself. While one of DuckDB's own threads runs the statement's only
task (one long scan, a table function), the calling thread sleeps until that task ends, and a
Ctrl-C waits with it: for hours, in `SELECT max(hash(i)) FROM range(10^12)`. Python runs signal
handlers only in the main thread, between bytecodes, so a handler cannot help either. So the
command line has Python also write each signal's number to a pipe (signal.set_wakeup_fd), and a
watcher thread reading it interrupts every connection this process opened; the statement then
fails as interrupted and the command ends as Ctrl-C anywhere else does (`Aborted!`).

SIGTERM (a service manager stopping the command, `timeout`, `kill`) is handled as Ctrl-C is,
so the command's transaction is rolled back and its temporary files removed on the way out
(by default it would die on the spot). Once that cleanup has run, the command line ends by
the signal it got (shell exit status 130 or 143), as the convention is: exit code 1 means
findings at or above --fail-on, and a script must be able to tell an interrupted audit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import weakref

import duckdb

_lock = threading.Lock()
_connections: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()
_read_fd: int | None = None
_watching = False
_STOPPING = (signal.SIGINT, signal.SIGTERM)
stopped_by: int | None = None  # the signal that stopped the command, once one has


def _stop(signum: int, frame: object) -> None:
    global stopped_by
    stopped_by = signum
    raise KeyboardInterrupt


def install() -> None:
    """Have Ctrl-C reach DuckDB: called by the command line in its main thread (embedding code
    keeps its own signal handling). Starts no thread: the watcher starts with the first
    connection, after ingest has forked any helpers (forking is safe only with one thread)."""
    global _read_fd
    if _read_fd is not None:
        return
    read_fd, write_fd = os.pipe()
    try:
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except (OSError, ValueError):  # not the main thread, or a platform that wants a socket
        os.close(read_fd)
        os.close(write_fd)
        return
    _read_fd = read_fd
    # Only where the signal has its default meaning: a background job's ignored SIGINT stays
    # ignored, and code embedding dapaudit keeps handlers of its own.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _stop)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _stop)


def stop_by_broken_pipe() -> None:
    """The reader of standard output went away (`| head`): end as `cat` or `grep` do then, by
    SIGPIPE (shell exit status 141), once the command has cleaned up. Not exit status 1: that
    says findings at or above --fail-on. What is still buffered for the pipe goes nowhere."""
    global stopped_by
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    stopped_by = signal.SIGPIPE
    raise SystemExit(128 + signal.SIGPIPE)


def exit_by_signal() -> None:
    """End the process by the signal that stopped the command, if one did, with its default
    action: the parent sees what happened (a shell's $? is 128 + the signal's number)."""
    if stopped_by is None:
        return
    # What a normal exit runs first, since the signal ends the process without it: among
    # them multiprocessing's, which releases the review pool's semaphores (else its resource
    # tracker warns of 'leaked semaphore objects' after `Aborted!`). They run once: the call
    # empties the list.
    atexit._run_exitfuncs()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    signal.signal(stopped_by, signal.SIG_DFL)
    os.kill(os.getpid(), stopped_by)


def track(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """`con`, to be interrupted by Ctrl-C while it is open."""
    global _watching
    with _lock:
        _connections.add(con)
        if _read_fd is not None and not _watching:
            _watching = True
            threading.Thread(
                target=_watch, args=(_read_fd,), name="dapaudit-interrupt", daemon=True
            ).start()
    return con


def interrupt_all() -> None:
    """Interrupt whatever statement each open connection is running."""
    with _lock:
        connections = list(_connections)
    for con in connections:
        with contextlib.suppress(duckdb.Error):  # closed meanwhile
            con.interrupt()


def _watch(read_fd: int) -> None:
    while True:
        try:
            received = os.read(read_fd, 64)
        except OSError:
            return
        if not received:
            return
        if any(signum in received for signum in _STOPPING):
            interrupt_all()
