"""Kinds loaded alongside: a small ingest's export kinds on a connection per core.

A kind's statements (staging, checks, inserts) run one after another, and in a small ingest
each runs on one core (ingest.ONE_THREAD_BYTES), so loading kind after kind left the second
core idle. Here each of `workers` threads has a DuckDB connection of its own (DuckDB releases
the GIL while it plans and runs) and loads the next kind whose predecessors are done, as
analyze runs its rules (dapaudit.jobs).

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

from collections.abc import Sequence

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
