"""Customer security reviews for every customer tenant, rendered by several processes.

A review is one small document per customer, and PDF layout (WeasyPrint) is CPU-bound Python:
one process renders about one review at a time, so `--all-tenants` spreads the tenants over
`jobs` worker processes. Each worker opens the database read-only (DuckDB allows many readers),
computes the views every review reads once for the snapshot (TEMP tables that shadow them, so
a review's queries filter a small table instead of re-deriving the view for the whole
database), and renders its share in batches.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..config import Config
from ..db import connect, opened
from .model import build_tenant_review, customer_tenants
from .service import PAPERS, _write, branding, pdf_limit, review_file_stem

# Views the review queries read, in dependency order.
REVIEW_VIEWS = (
    "gdap_relationship_state",
    "partner_access",
    "tenant_directory",
    "azure_assignment_partners",
    "customer_tenants",
    "directory_role_holders",
    "effective_directory_access",
    "effective_azure_access",
)
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


def materialise_review_views(con: duckdb.DuckDBPyConnection, snapshot: str) -> None:
    present = {
        r[0]
        for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'main'"
        ).fetchall()
    }
    for name in REVIEW_VIEWS:
        if name not in present:
            continue
        columns = {r[0] for r in con.execute(f"DESCRIBE main.{name}").fetchall()}
        key = next((k for k in ("customer_tenant_id", "tenant_id") if k in columns), None)
        order = f" ORDER BY {key}" if key else ""
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS "
            f"SELECT * FROM main.{name} WHERE snapshot = ?{order}",
            [snapshot],
        )


_state: dict = {}


def _init(
    db_path: str,
    snapshot: str,
    out: str,
    formats: list[str],
    config: Config,
    paper: str,
    limit: int,
) -> None:
    con = connect(db_path, read_only=True)
    materialise_review_views(con, snapshot)
    brand, allowed = branding(config, "Customer security review", "review_title")
    _state.update(
        con=con,
        snapshot=snapshot,
        out=Path(out),
        formats=formats,
        paper=paper,
        limit=limit,
        brand=brand,
        allowed=allowed,
    )


def _render(tenant_ids: list[str]) -> list[Path]:
    s = _state
    root = s["out"].resolve()
    written: list[Path] = []
    for tenant_id in tenant_ids:
        review = build_tenant_review(s["con"], s["snapshot"], tenant_id, branding=s["brand"])
        stem = review_file_stem(review.name, tenant_id)
        if (root / stem).resolve().parent != root:
            raise RuntimeError(f"review file name {stem!r} escapes the output folder")
        written += _write(
            "tenant.html",
            review,
            stem,
            s["out"],
            s["formats"],
            PAPERS[s["paper"]],
            s["limit"],
            s["allowed"],
        )
    return written


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
    out.mkdir(parents=True, exist_ok=True)
    limit = pdf_limit(config, max_pdf_findings)
    with opened(db_path, read_only=True) as con:
        ids = [t for t, _, _ in customer_tenants(con, snapshot)]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(ids)))
    # Batches of at most BATCH, and at least four per process so the work stays balanced.
    size = max(1, min(BATCH, -(-len(ids) // (jobs * 4))))
    batches = [ids[i : i + size] for i in range(0, len(ids), size)]
    run = ReviewRun(jobs=jobs)
    started = time.perf_counter()
    args = (str(db_path), snapshot, str(out), formats, config, paper, limit)
    done = 0
    if jobs == 1:
        _init(*args)
        try:
            for batch in batches:
                run.written += _render(batch)
                done += len(batch)
                if progress:
                    progress("reviews", done, len(ids))
        finally:
            _state.pop("con").close()
    else:
        # spawn, not fork: a forked DuckDB connection is not safe to use in the child.
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(jobs, initializer=_init, initargs=args) as pool:
            for paths, batch in zip(pool.imap(_render, batches), batches, strict=True):
                run.written += paths
                done += len(batch)
                if progress:
                    progress("reviews", done, len(ids))
    run.seconds = time.perf_counter() - started
    run.reviews = len(ids)
    return run
