"""Deterministic crash points for the fault-injection tests.

`checkpoint(name)` does nothing unless DAPAUDIT_FAULT_AFTER=N is set: then the Nth checkpoint
reached ends the process at once with os._exit (no cleanup, no rollback, no flush), which is
what SIGKILL or a power cut does to a command in flight. DAPAUDIT_FAULT_TRACE=FILE appends
the name of every checkpoint reached to FILE, so a test can tell how many there are.
The checkpoints sit in ingest and analyze, before, inside and after their one transaction.
"""

from __future__ import annotations

import os

FAULT_ENV = "DAPAUDIT_FAULT_AFTER"
TRACE_ENV = "DAPAUDIT_FAULT_TRACE"
# The exit status of a process ended by a checkpoint, so a test can tell it from a failure.
FAULT_EXIT_CODE = 86

_reached = 0


def active() -> bool:
    """Whether checkpoints are being counted: work that runs alongside in a thread then runs
    in turn, so that the Nth checkpoint is the same one every time."""
    return bool(os.environ.get(FAULT_ENV) or os.environ.get(TRACE_ENV))


def checkpoint(name: str) -> None:
    """A point where a crash must leave the database consistent."""
    global _reached
    limit = os.environ.get(FAULT_ENV)
    trace = os.environ.get(TRACE_ENV)
    if not limit and not trace:
        return
    _reached += 1
    if trace:
        with open(trace, "a", encoding="utf-8") as fh:
            fh.write(f"{_reached} {name}\n")
    if limit and _reached == int(limit):
        os._exit(FAULT_EXIT_CODE)
