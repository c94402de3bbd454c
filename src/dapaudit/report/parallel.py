"""Customer security reviews for every customer tenant, rendered by several processes.

The parent reads every review's rows set-based (reviews.py: a handful of queries per range of
customers, grouped per customer) and hands each worker batches of (tenant, rows); workers never
open the database. A review is one small document and its PDF layout (WeasyPrint) is CPU-bound
Python, so `--all-tenants` spreads the rendering over `jobs` processes, one per core by default.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..config import Config
from ..db import opened
from ..machine import usable_cpus
from .model import _as_of, _now, customer_tenants
from .review_pdf import ReviewWriter
from .reviews import ReviewRows, assemble_review, iter_review_rows
from .service import PAPERS, branding, pdf_limit, review_file_stem

BATCH = 25  # tenants per task: small enough to balance, large enough to amortise the hand-off


@dataclass
class ReviewRun:
    written: list[Path] = field(default_factory=list)
    reviews: int = 0
    seconds: float = 0.0
    jobs: int = 1

    @property
    def per_minute(self) -> float:
        return self.reviews / self.seconds * 60 if self.seconds else 0.0

    @property
    def seconds_per_review(self) -> float:
        """Wall time per review: what one more customer costs the whole run."""
        return self.seconds / self.reviews if self.reviews else 0.0


_state: dict = {}


def _init(
    snapshot: str,
    as_of: date,
    generated_at: str,
    out: str,
    formats: list[str],
    config: Config,
    paper: str,
    limit: int,
) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the pool (terminate), and a
    # worker left to its default printed a KeyboardInterrupt traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    brand, allowed = branding(config, "Customer security review", "review_title")
    _state.update(
        snapshot=snapshot,
        as_of=as_of,
        generated_at=generated_at,
        out=Path(out),
        brand=brand,
        writer=ReviewWriter(Path(out), formats, PAPERS[paper], limit, allowed),
    )


def _render(batch: list[tuple[str, ReviewRows]]) -> tuple[int, list[Path]]:
    s = _state
    root = s["out"].resolve()
    written: list[Path] = []
    for tenant_id, rows in batch:
        review = assemble_review(
            tenant_id,
            rows,
            snapshot=s["snapshot"],
            as_of=s["as_of"],
            branding=s["brand"],
            generated_at=s["generated_at"],
        )
        stem = review_file_stem(review.name, tenant_id)
        if (root / stem).resolve().parent != root:
            raise RuntimeError(f"review file name {stem!r} escapes the output folder")
        written += s["writer"].write(review, stem)
    return len(batch), written


def _batches(
    db_path: str | os.PathLike[str], snapshot: str, ids: list[str], size: int
) -> Iterator[list[tuple[str, ReviewRows]]]:
    """Batches of `size` reviews' rows, read set-based a range of customers at a time."""
    with opened(db_path, read_only=True) as con:
        batch: list[tuple[str, ReviewRows]] = []
        for item in iter_review_rows(con, snapshot, ids):
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


def write_all_reviews(
    db_path: str | os.PathLike[str],
    snapshot: str,
    out: Path,
    formats: list[str],
    config: Config,
    *,
    paper: str = "a4",
    max_pdf_findings: int | None = None,
    jobs: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ReviewRun:
    """One review per customer tenant of `snapshot`, spread over `jobs` processes."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    limit = pdf_limit(config, max_pdf_findings)
    with opened(db_path, read_only=True) as con:
        ids = [t for t, _, _ in customer_tenants(con, snapshot)]
        as_of = _as_of(con, snapshot)
    jobs = max(1, min(jobs or usable_cpus(), len(ids)))
    # Batches of at most BATCH, and at least four per process so the work stays balanced.
    size = max(1, min(BATCH, -(-len(ids) // (jobs * 4))))
    batches = _batches(db_path, snapshot, ids, size)
    run = ReviewRun(jobs=jobs)
    # One generation time for the run: every review of it was generated together.
    args = (snapshot, as_of, _now(), str(out), formats, config, paper, limit)

    def collect(results: Iterator[tuple[int, list[Path]]]) -> None:
        done = 0
        for count, paths in results:
            run.written += paths
            done += count
            if progress:
                progress("reviews", done, len(ids))

    if jobs == 1:
        _init(*args)
        collect(map(_render, batches))
    else:
        # spawn, not fork: the parent holds a DuckDB connection, unsafe in a forked child.
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(jobs, initializer=_init, initargs=args) as pool:
            collect(pool.imap(_render, batches))
    run.seconds = time.perf_counter() - started
    run.reviews = len(ids)
    return run
