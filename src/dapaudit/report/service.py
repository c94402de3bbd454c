"""Write reports and findings files into an output folder: branding, file names, formats."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import duckdb

from ..config import Config
from ..errors import DapauditError
from ..findings import gc_paused, write_findings_files
from ..paths import PACKAGE_DIR, REVIEW_FILE_NAME
from ..progress import ProgressFn
from .model import (
    Branding,
    ReportView,
    _as_of,
    _now,
    build_monthly,
    customer_tenants,
    resolve_customer,
)
from .render import render_html, write_html, write_pdf
from .review_pdf import ReviewWriter
from .reviews import assemble_review, iter_review_rows

PAPERS = {"a4": "A4", "letter": "letter"}
DEFAULT_PDF_LIMIT = 25
_LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
_LOGO_MAX_BYTES = 2_000_000


def branding(
    config: Config, default_title: str, title_key: str = "title"
) -> tuple[Branding, list[Path]]:
    """The [report] table of dapaudit.toml: title (or review_title), organisation, logo
    (relative to the configuration file).

    Returns the branding and the files the PDF renderer may read (the logo, if any).
    """
    settings = config.report
    logo = settings.get("logo")
    logo_uri = None
    allowed: list[Path] = []
    if logo:
        base = Path(config.path).parent if config.path else Path.cwd()
        path = (base / str(logo)).resolve()
        mime = _LOGO_TYPES.get(path.suffix.lower())
        if mime is None:
            raise DapauditError(
                f"logo must be one of {', '.join(sorted(_LOGO_TYPES))}",
                file=config.path,
                field="report.logo",
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DapauditError(
                f"cannot read logo {str(path)!r}: {exc.strerror}",
                file=config.path,
                field="report.logo",
            ) from None
        if len(data) > _LOGO_MAX_BYTES:
            raise DapauditError("logo is larger than 2 MB", file=config.path, field="report.logo")
        logo_uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        allowed.append(path)
    return (
        Branding(
            str(settings.get(title_key) or default_title),
            str(settings.get("organisation") or ""),
            logo_uri,
        ),
        allowed,
    )


def pdf_limit(config: Config, override: int | None) -> int:
    """Most findings per rule (and rows per long list) the PDF shows; the HTML shows all."""
    value = (
        override
        if override is not None
        else config.report.get("pdf_max_findings", DEFAULT_PDF_LIMIT)
    )
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DapauditError(
            "pdf_max_findings must be a whole number of at least 1",
            file=config.path,
            field="report.pdf_max_findings",
        )
    return value


def _write(
    template: str,
    model,
    stem: str,
    out: Path,
    formats: list[str],
    paper: str,
    limit: int,
    allowed: list[Path],
) -> list[Path]:
    written = []
    if "html" in formats:
        target = out / f"{stem}.html"
        write_html(target, template, r=model, view=ReportView("html", paper, None))
        written.append(target)
    if "pdf" in formats:
        target = out / f"{stem}.pdf"
        write_pdf(
            render_html(template, r=model, view=ReportView("pdf", paper, limit)), target, allowed
        )
        written.append(target)
    return written


# Below this many findings the findings files are written in this process: starting a second
# Python costs more than it saves.
PARALLEL_FINDINGS_FILES = 20_000


def _findings_files_beside(
    con: duckdb.DuckDBPyConnection, snapshot: str, out: Path, framework: str | None
) -> subprocess.Popen | None:
    """Start writing findings.json/.csv in a second process, when that can and should be done:
    a database file opened read-only here (a second process can then open it read-only too)
    and enough findings to be worth it. The files are as much work as the HTML and need
    nothing from it, so with two cores they cost no wall time. (A plain subprocess, not
    multiprocessing: spawn re-imports the caller's main module, fork would copy DuckDB's
    threads' locks.)"""
    path, read_only = con.execute(
        "SELECT path, readonly FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if not path or not read_only:
        return None
    (count,) = con.execute(
        "SELECT count(*) FROM findings WHERE snapshot = ?", [snapshot]
    ).fetchone()
    if count < PARALLEL_FINDINGS_FILES:
        return None
    args = [str(path), snapshot, str(out / "findings.json"), str(out / "findings.csv")]
    # The same dapaudit as this one, wherever it was imported from.
    search = [str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH", "")]
    return subprocess.Popen(
        [sys.executable, "-m", "dapaudit.findings", *args, *([framework] if framework else [])],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in search if p)},
    )


def _finish(beside: subprocess.Popen) -> None:
    _, err = beside.communicate()
    if beside.returncode != 0:
        detail = err.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(
            "writing findings.json/findings.csv failed: " + (detail[-1] if detail else "")
        )


def write_monthly(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    out: Path,
    formats: list[str],
    config: Config,
    *,
    findings_files: bool = False,
    paper: str = "a4",
    framework: str | None = None,
    max_pdf_findings: int | None = None,
    progress: ProgressFn | None = None,
) -> list[Path]:
    """report.html / report.pdf (and findings.json / findings.csv when asked) into `out`.
    `progress(stage, done, total)` is told as each step starts, and once all are done."""
    out.mkdir(parents=True, exist_ok=True)
    brand, allowed = branding(config, "Partner access compliance report")
    limit = pdf_limit(config, max_pdf_findings)  # a bad setting fails before any work
    beside = _findings_files_beside(con, snapshot, out, framework) if findings_files else None
    # The steps in the order they run: findings files written beside finish before the PDF.
    steps = ["model", *(["html"] if "html" in formats else [])]
    files_step = ["findings files"] if findings_files else []
    pdf_step = ["pdf"] if "pdf" in formats else []
    steps += files_step + pdf_step if beside is not None else pdf_step + files_step

    def step(name: str) -> None:
        if progress:
            progress(name, steps.index(name), len(steps))

    written = []
    try:
        # The model is a few hundred thousand small objects that live until written: the
        # cyclic collector rescanned them over and over while they were built and rendered to
        # HTML. (Not paused for the PDF: WeasyPrint's layout makes cyclic garbage.)
        with gc_paused():
            step("model")
            model = build_monthly(con, snapshot, branding=brand, framework=framework)
            if "html" in formats:
                step("html")
                target = out / "report.html"
                view = ReportView("html", PAPERS[paper], None)
                write_html(target, "monthly.html", r=model, view=view)
                written.append(target)
        if beside is not None:
            step("findings files")
            _finish(beside)  # before the PDF: both at once would pass 1.5 GB at 100k
        if "pdf" in formats:
            step("pdf")
            target = out / "report.pdf"
            view = ReportView("pdf", PAPERS[paper], limit)
            write_pdf(render_html("monthly.html", r=model, view=view), target, allowed)
            written.append(target)
    finally:
        if beside is not None and beside.poll() is None:  # this process failed: stop it
            beside.kill()
            beside.wait()
    del model  # free it before the findings files load every finding again, with evidence
    if findings_files:
        if beside is None:
            step("findings files")
            write_findings_files(
                con, snapshot, out / "findings.json", out / "findings.csv", framework=framework
            )
        written += [out / "findings.json", out / "findings.csv"]
    if progress:
        progress("done", len(steps), len(steps))
    return written


def review_file_stem(name: str, tenant_id: str) -> str:
    """A safe file name for a customer's review: ASCII letters, digits and hyphens only.

    Tenant names come from exports, so they may hold path separators, `..` or control
    characters; the whole tenant id (sanitised the same way) keeps names unique. Its first
    8 digits did not: every name without Latin letters is the slug `tenant`, and two such
    customers whose ids began alike wrote one file, the second review over the first.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-") or "tenant"
    tenant = re.sub(r"[^a-z0-9]", "", tenant_id.lower())[:32] or "unknown"
    return f"review-{slug}-{tenant}"


# ------------------------------------------------------------------ files of an earlier run
# A report folder is reused month after month: `--format html` after a run that wrote the PDF
# too, or reviews of customers no longer in scope, leave files that look current beside the new
# ones. They are named, not removed: --out may be a folder the user keeps other things in, and
# last month's PDF may be the copy that was signed off.

MONTHLY_FILES = ("report.html", "report.pdf", "findings.json", "findings.csv")
_REVIEW_FILE = re.compile(REVIEW_FILE_NAME)


def earlier_monthly_files(out: Path, written: list[Path]) -> list[str]:
    """The monthly report's files in `out` that this run did not write, by name."""
    mine = {p.name for p in written}
    return [n for n in MONTHLY_FILES if n not in mine and (out / n).is_file()]


def earlier_review_files(out: Path, written: list[Path], every_customer: bool) -> list[str]:
    """Review files in `out` this run did not write, sorted: of the customers it wrote (their
    other format, or a name the customer had before: the file name ends with its id), or of
    any customer with `every_customer` (--all-tenants wrote every customer in scope, so the
    rest are of customers no longer in it)."""
    mine = {p.name for p in written}
    # review-NAME-ID.html: the customers written, by the id their file names end with (the
    # whole id; its first 8 digits in the names of dapaudit versions before it)
    ids = {p.stem.rpartition("-")[2] for p in written}
    suffixes = (
        None
        if every_customer
        else tuple(sorted({f"-{i}" for i in ids} | {f"-{i[:8]}" for i in ids}))
    )
    found = []
    with os.scandir(out) as entries:
        for entry in entries:
            name = entry.name
            if name in mine or not _REVIEW_FILE.fullmatch(name) or not entry.is_file():
                continue
            if suffixes is None or name.rpartition(".")[0].endswith(suffixes):
                found.append(name)
    return sorted(found)


def earlier_files_warning(names: list[str], shown: int = 10) -> str | None:
    """The warning that names them (the first `shown` of many), or None when there are none."""
    if not names:
        return None
    listed = ", ".join(names[:shown])
    if len(names) > shown:
        listed += f" and {len(names) - shown} more"
    return f"not written by this run: {listed} (from an earlier run)"


def write_tenant_reviews(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    tenants: list[str] | None,
    out: Path,
    formats: list[str],
    config: Config,
    *,
    paper: str = "a4",
    max_pdf_findings: int | None = None,
) -> list[Path]:
    """One customer security review per tenant (id or domain); None means every customer."""
    out.mkdir(parents=True, exist_ok=True)
    brand, allowed = branding(config, "Customer security review", "review_title")
    limit = pdf_limit(config, max_pdf_findings)
    if tenants is None:
        ids = [t for t, _, _ in customer_tenants(con, snapshot)]
    else:
        ids = [resolve_customer(con, snapshot, t) for t in tenants]
    root = out.resolve()
    written: list[Path] = []
    as_of, generated_at = _as_of(con, snapshot), _now()
    writer = ReviewWriter(out, formats, PAPERS[paper], limit, allowed)
    # Set-based (reviews.py): a few queries per range of customers, never one per customer.
    for tenant_id, rows in iter_review_rows(con, snapshot, ids):
        review = assemble_review(
            tenant_id,
            rows,
            snapshot=snapshot,
            as_of=as_of,
            branding=brand,
            generated_at=generated_at,
        )
        stem = review_file_stem(review.name, tenant_id)
        if (root / stem).resolve().parent != root:  # cannot happen with the stem above: guard
            raise RuntimeError(f"review file name {stem!r} escapes the output folder")
        written += writer.write(review, stem)
    return written
