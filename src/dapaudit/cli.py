"""The dapaudit command line: parse options, call the library, print. No SQL, no logic here."""

from __future__ import annotations

import codecs
import contextlib
import inspect
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
import duckdb

from . import db as dbmod
from . import interrupt
from .analyze import analyze as run_analyze
from .analyze import resolve_analysed, resolve_snapshot
from .config import load_config
from .errors import DapauditError
from .paths import SAMPLE_DATA_DIR, checkout_folder, output_folder
from .progress import ProgressFn, Ticking, progress_printer
from .rules import SEVERITIES, all_rules, frameworks, rules_by_id
from .textout import QUERY_FORMATS, printable, table

SAMPLE_AS_OF = date(2026, 11, 30)
# Ten times the largest estate the benchmark runs: above it, generate refuses at once.
MAX_GENERATED_CUSTOMERS = 1_000_000


class InputError(click.ClickException):
    """Bad usage or bad input: `Error: ...` and exit code 2."""

    exit_code = 2


class Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DapauditError as exc:
            # Messages quote file names and values from exports: show their control and
            # bidi characters as escapes, never let them drive the terminal.
            raise InputError("\n".join(map(printable, str(exc).split("\n")))) from None
        except (RuntimeError, duckdb.InterruptException) as exc:
            # Ctrl-C while DuckDB runs a statement: the client stops the statement and raises
            # this rather than KeyboardInterrupt. Any transaction was rolled back on the way.
            if _damaged(exc):
                raise _damaged_error(exc) from None
            if not _is_interrupt(exc):
                raise
            raise click.Abort() from None
        except duckdb.CatalogException as exc:
            # A table or view of dapaudit's dropped from the database by hand: the user's to
            # mend (a bug of ours would fail the tests long before).
            raise _said(
                f"{_first_line(exc)}: the database lacks a table or view dapaudit made; "
                "`dapaudit check` lists what is missing"
            ) from None
        except BrokenPipeError:
            interrupt.stop_by_broken_pipe()
        except OSError as exc:
            # A file or folder the command cannot read or write (permissions, a file where a
            # folder should be, a full disk): the user's to mend, not a bug. Writes that fail
            # this way come after the database's transaction, or leave it unchanged.
            if exc.errno is None:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            raise InputError(printable(f"{where}{exc.strerror or exc}")) from None
        except duckdb.OutOfMemoryException as exc:
            # The transaction was rolled back: the database is as it was before the command.
            first = _first_line(exc)
            raise InputError(
                f"DuckDB ran out of memory ({first}); nothing was changed. Raise the limit with "
                f"${dbmod.MEMORY_LIMIT_ENV} (now {dbmod.memory_limit()}), or split the "
                "largest export into smaller files"
            ) from None
        except duckdb.BinderException as exc:
            # A column of dapaudit's dropped from a table by hand, as for a table above.
            first = _first_line(exc)
            if not (
                "does not have a column" in first or "column" in first and "not found" in first
            ):
                raise
            raise _said(
                f"{first}: the database lacks a column dapaudit made; `dapaudit check` "
                "lists what is missing"
            ) from None
        except duckdb.PermissionException as exc:
            # A command that only reads runs with files and URLs off (db.connect): a view of
            # the database that reads one is not dapaudit's.
            raise _said(
                f"the database's SQL reads a file or URL ({_first_line(exc)}): a view "
                "in it is not dapaudit's own; do not trust this database, ingest the "
                "exports into a new one"
            ) from None
        except duckdb.Error as exc:
            if not _damaged(exc):
                raise
            raise _damaged_error(exc) from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0]


def _said(message: str) -> InputError:
    """Exit 2 with `message`, its control and bidi characters shown as escapes: it quotes
    names from the database."""
    return InputError(printable(message))


def _damaged(exc: BaseException) -> bool:
    """A block of the database file failed its checksum (a disk error, a bad copy)."""
    return "Corrupt database file" in str(exc)


def _damaged_error(exc: BaseException) -> InputError:
    line = next((ln for ln in str(exc).splitlines() if "Corrupt database file" in ln), str(exc))
    reason = line[line.index("Corrupt database file") :]
    return InputError(
        printable(
            f"{reason}: the database file is damaged; `dapaudit check` "
            "lists what can still be read; restore the file from a backup, or ingest the "
            "exports into a new database"
        )
    )


def _is_interrupt(exc: BaseException) -> bool:
    """A statement stopped by Ctrl-C: duckdb 1.x and 2.0 raise RuntimeError('Query
    interrupted'); an interrupt() from elsewhere raises InterruptException."""
    return isinstance(exc, duckdb.InterruptException) or str(exc).startswith("Query interrupted")


# ------------------------------------------------------------------ shared options


def _db_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # --db '' (an unset variable in a script) reached DuckDB as its in-memory database:
    # "Cannot launch in-memory database in read-only mode", or an audit written nowhere.
    if value is not None and not value.strip():
        raise click.BadParameter("no file name: name the audit database file")
    return value


def db_option(f: Callable) -> Callable:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        callback=_db_file,
        default=dbmod.default_db_path,
        show_default="./dapaudit.duckdb or $DAPAUDIT_DB",
        help="The audit database file.",
    )(f)


def unused_db_option(f: Callable) -> Callable:
    """--db on a command that reads no database: every command takes it (scripts pass it to
    each), and this one says so rather than refusing it."""
    return click.option(
        "--db",
        "_db_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="Accepted as by every command; this one reads no database.",
    )(f)


def snapshot_option(f: Callable) -> Callable:
    return click.option(
        "--snapshot",
        default=None,
        metavar="LABEL",
        help="Snapshot to read (default: the latest).",
    )(f)


class IsoDate(click.ParamType):
    """YYYY-MM-DD, as a datetime at midnight (what click.DateTime gives). click.DateTime said
    of 2026-11-31 only that it "does not match the format '%Y-%m-%d'"."""

    name = "date"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value)
        try:
            if len(text) != 10:
                raise ValueError("expected YYYY-MM-DD")
            return datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError as exc:
            self.fail(f"{text!r} is not a date (YYYY-MM-DD): {exc}", param, ctx)


def _new_label(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # ' 2026-11' made a second snapshot beside 2026-11, and '' one with no name.
    if value is not None and (not value.strip() or value != value.strip()):
        raise click.BadParameter(
            f"{value!r}: a snapshot label may not be empty nor start or end with a space"
        )
    return value


def new_snapshot_options(f: Callable) -> Callable:
    f = click.option(
        "--as-of",
        "as_of",
        type=IsoDate(),
        metavar="YYYY-MM-DD",
        default=None,
        help="Reference date of the snapshot for time-based rules (default: today; files "
        "added to an existing snapshot keep its date).",
    )(f)
    return click.option(
        "--snapshot",
        default=None,
        metavar="LABEL",
        callback=_new_label,
        help="Snapshot label (default: the month of --as-of, YYYY-MM).",
    )(f)


def config_option(f: Callable) -> Callable:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="Configuration file (default: ./dapaudit.toml when present).",
    )(f)


def fail_on_option(f: Callable) -> Callable:
    return click.option(
        "--fail-on",
        type=click.Choice(SEVERITIES),
        default=None,
        help="Exit with code 1 when an open finding at or above this severity exists.",
    )(f)


def _out_option(
    f: Callable | None = None, *, help: str = "Folder for the report and the findings files."
) -> Callable:
    def wrap(f: Callable) -> Callable:
        return click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False),
            default="dapaudit-report",
            show_default=True,
            help=help,
        )(f)

    return wrap(f) if f is not None else wrap


def report_format_option(f: Callable) -> Callable:
    return click.option(
        "--format",
        "formats",
        default="html,pdf",
        show_default=True,
        callback=_split_formats({"html", "pdf"}),
        help="Comma-separated report formats: html, pdf.",
    )(f)


def _split_formats(allowed: set[str]):
    def callback(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
        items = [v.strip().lower() for v in value.split(",") if v.strip()]
        bad = [v for v in items if v not in allowed]
        if bad or not items:
            raise click.BadParameter(f"choose from {', '.join(sorted(allowed))}")
        return items

    return callback


def _monthly_files(formats: list[str]) -> list[str]:
    """The files the monthly report writes into --out."""
    return [f"report.{f}" for f in formats] + ["findings.json", "findings.csv"]


def _snapshot_label(snapshot: str | None, as_of: date | None) -> str:
    return snapshot or (as_of or date.today()).strftime("%Y-%m")


def _as_date(value: Any) -> date | None:
    """--as-of as a date; None when not given (ingest: today for a new snapshot, an existing
    snapshot keeps its own)."""
    return value.date() if value is not None else None


def _echo_warnings(warnings: list[str]) -> None:
    for w in warnings:
        click.echo(f"Warning: {printable(w)}", err=True)


def _echo_wrote(written: list[Path], earlier: list[str]) -> None:
    """The files a report command wrote, then those of an earlier run it left beside them."""
    from .report.service import earlier_files_warning

    for path in written:
        click.echo(f"Wrote {path}")
    warning = earlier_files_warning(earlier)
    if warning is not None:
        _echo_warnings([warning])


def _exit_for(report, fail_on: str | None) -> None:
    if fail_on is None:
        return
    worst = report.worst_open()
    if worst is not None and SEVERITIES.index(worst) <= SEVERITIES.index(fail_on):
        click.echo(f"Open findings at or above {fail_on}: exit code 1", err=True)
        sys.exit(1)


def with_example(example: str) -> Callable:
    """Every command's --help ends with an example invocation."""

    def wrap(f: Callable) -> Callable:
        # cleandoc first: the appended lines are not indented, so click could no longer dedent
        # a docstring whose text runs over several lines.
        f.__doc__ = inspect.cleandoc(f.__doc__ or "") + f"\n\n\b\nExample:\n  {example}\n"
        return f

    return wrap


# ------------------------------------------------------------------ commands


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """--version, with the version looked up only when asked for (see dapaudit.__getattr__)."""
    if value and not ctx.resilient_parsing:
        from . import __version__

        click.echo(f"dapaudit, version {__version__}")
        ctx.exit()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """Audit how Microsoft CSP partners hold administrative access to customer tenants.

    dapaudit reads exports (role listings, partner relationships, GDAP, Azure RBAC) into a
    DuckDB file, runs audit rules, and writes HTML and PDF reports.
    """


def _ingest_files(con, inputs, snapshot, as_of, kind, tenant, skip=()) -> None:
    from .ingest import ingest as run_ingest

    report = run_ingest(
        con,
        inputs,
        snapshot=snapshot,
        as_of=as_of,
        kind=kind,
        tenant=tenant,
        progress=progress_printer("Reading exports"),
        skip=skip,
    )
    _echo_warnings(report.warnings)
    # One write for all files: an echo per file was a flush per line at 100,000 files.
    lines = [
        f"{printable(f.path)}: {f.kind}, "
        + ("already in snapshot, skipped" if f.skipped else f"{f.rows} rows")
        for f in report.files
    ]
    if lines:
        click.echo("\n".join(lines), err=True)
    click.echo(
        f"Snapshot {snapshot}: {sum(not f.skipped for f in report.files)} file(s) ingested, "
        f"{report.rows} rows",
        err=True,
    )


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@db_option
@new_snapshot_options
@click.option("--kind", default=None, help="Force the export kind of every input (see README).")
@click.option("--tenant", default=None, help="Tenant id or domain for exports that carry none.")
@with_example("dapaudit ingest exports/ --snapshot 2026-11 --as-of 2026-11-30")
def ingest(inputs, db_path, snapshot, as_of, kind, tenant) -> None:
    """Load export files or folders (recursively) into one snapshot, atomically."""
    as_of_date = _as_date(as_of)
    with dbmod.opening(db_path) as pending:
        _ingest_files(
            pending, inputs, _snapshot_label(snapshot, as_of_date), as_of_date, kind, tenant
        )


def _analyze(con, snapshot: str, config) -> Any:
    report = run_analyze(con, snapshot, config, progress=progress_printer("Running rules"))
    for line in report.stale_suppressions + report.reopened + report.offboarded_notes:
        click.echo(f"Warning: {printable(line)}", err=True)
    counts = (
        ", ".join(f"{report.counts[s]} {s}" for s in SEVERITIES if report.counts.get(s)) or "none"
    )
    click.echo(
        f"Snapshot {snapshot}: {report.total} finding(s); open: {counts}; "
        f"suppressed: {report.suppressed}",
        err=True,
    )
    return report


@cli.command()
@db_option
@snapshot_option
@config_option
@fail_on_option
@with_example("dapaudit analyze --snapshot 2026-11 --fail-on high")
def analyze(db_path, snapshot, config_path, fail_on) -> None:
    """Run every rule on a snapshot and store the findings (replacing earlier ones)."""
    config = load_config(config_path)
    with dbmod.opened(db_path) as con:
        report = _analyze(con, resolve_snapshot(con, snapshot), config)
    _exit_for(report, fail_on)


@cli.command()
@db_option
@snapshot_option
@click.option(
    "--severity",
    type=click.Choice(SEVERITIES),
    default=None,
    help="Only findings at or above this severity.",
)
@click.option("--rule", default=None, help="Only this rule id.")
@click.option("--tenant", default=None, help="Only this customer tenant (id or domain).")
@click.option("--framework", default=None, help="Only findings mapped to this framework id.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@with_example("dapaudit findings --severity high --format json")
def findings(db_path, snapshot, severity, rule, tenant, framework, fmt) -> None:
    """List the findings of a snapshot."""
    with dbmod.opened(db_path, read_only=True) as con:
        items = _findings(con, snapshot, severity, rule, tenant, framework)
    _print_findings(items, fmt)


def _findings(con, snapshot, severity, rule, tenant, framework) -> list[dict]:
    from .findings import load_findings

    snap = resolve_analysed(con, snapshot)
    if rule is not None:
        known = rules_by_id()
        if rule not in known:
            raise InputError(f"unknown rule id {rule!r}; see `dapaudit rules`")
        rule = known[rule].id
    if framework is not None and framework not in frameworks():
        raise InputError(f"unknown framework {framework!r}; known: {', '.join(frameworks())}")
    if tenant is not None:
        tenant = _customer(con, snap, tenant)
    return load_findings(
        con, snap, min_severity=severity, rule=rule, tenant=tenant, framework=framework
    )


def _customer(con, snapshot: str, text: str) -> str:
    """The customer tenant id that `text` (an id or a domain) names in the snapshot: a typo
    must not pass for a customer without findings."""
    from .report.model import resolve_customer

    try:
        return resolve_customer(con, snapshot, text)
    except DapauditError:
        wanted = text.strip().lower()  # a tenant that only a finding names is a customer too
        if con.execute(
            "SELECT 1 FROM findings WHERE snapshot = ? AND customer_tenant_id = ? LIMIT 1",
            [snapshot, wanted],
        ).fetchone():
            return wanted
        raise


def _print_findings(items: list[dict], fmt: str) -> None:
    from .findings import to_csv, to_json

    if fmt == "json":
        click.echo(to_json(items), nl=False)
    elif fmt == "csv":
        click.echo(to_csv(items), nl=False)
    else:
        click.echo(
            table(
                ["severity", "rule", "customer", "status", "title"],
                [
                    [f["severity"], f["rule_id"], f["customer_tenant_id"], f["status"], f["title"]]
                    for f in items
                ],
                max_cell=100,
            ),
            nl=False,
        )


@cli.group()
def report() -> None:
    """Write reports: the monthly compliance report, a customer security review."""


def report_paper_options(
    f: Callable | None = None, *, holding_all: str = "the HTML and findings.csv hold all"
) -> Callable:
    def wrap(f: Callable) -> Callable:
        f = click.option(
            "--pdf-limit",
            "pdf_limit",
            type=click.IntRange(min=1),
            default=None,
            help=f"Most findings per rule (and rows per long list) in the PDF; {holding_all} "
            "(default: [report] pdf_max_findings, 25).",
        )(f)
        return click.option(
            "--paper",
            type=click.Choice(["a4", "letter"], case_sensitive=False),
            default="a4",
            show_default=True,
            help="PDF paper size.",
        )(f)

    return wrap(f) if f is not None else wrap


@report.command("monthly")
@db_option
@snapshot_option
@config_option
@_out_option
@report_format_option
@report_paper_options
@click.option(
    "--framework", default=None, help="Narrow the report to the rules mapped to this framework id."
)
@with_example("dapaudit report monthly --snapshot 2026-11 --format html,pdf --out reports/")
def report_monthly(
    db_path, snapshot, config_path, out_dir, formats, paper, pdf_limit, framework
) -> None:
    """The estate-wide monthly compliance report: report.html, report.pdf, and beside them
    findings.json and findings.csv (the PDF lists at most --pdf-limit findings per rule)."""
    if framework is not None and framework not in frameworks():
        raise InputError(f"unknown framework {framework!r}; known: {', '.join(frameworks())}")
    config = load_config(config_path)
    from .report.service import earlier_monthly_files, write_monthly

    with (
        output_folder(out_dir, _monthly_files(formats)),
        dbmod.opened(db_path, read_only=True) as con,
        _report_progress() as progress,
    ):
        dbmod.require_current_views(con)
        written = write_monthly(
            con,
            resolve_analysed(con, snapshot),
            Path(out_dir),
            formats,
            config,
            paper=paper.lower(),
            framework=framework,
            max_pdf_findings=pdf_limit,
            findings_files=True,
            progress=progress,
        )
    _echo_wrote(written, earlier_monthly_files(Path(out_dir), written))


@contextlib.contextmanager
def _report_progress() -> Iterator[ProgressFn | None]:
    """The monthly report's progress: a bar on a terminal, ticking through steps that count
    nothing themselves (a PDF's layout); None otherwise."""
    bar = progress_printer("Writing report", eta=False)
    if bar is None:
        yield None
        return
    with Ticking(bar) as ticking:
        yield ticking


@report.command("tenant")
@click.argument("tenant", required=False)
@db_option
@snapshot_option
@config_option
@_out_option(help="Folder for the reviews: review-NAME-ID.html and .pdf.")
@report_format_option
@report_paper_options(holding_all="the HTML review holds all")
@click.option("--all-tenants", is_flag=True, help="Write one review per customer tenant.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes rendering --all-tenants reviews (default: one per core).",
)
@with_example("dapaudit report tenant contoso.onmicrosoft.com --format html,pdf --out reviews/")
def report_tenant(
    tenant, db_path, snapshot, config_path, out_dir, formats, paper, pdf_limit, all_tenants, jobs
) -> None:
    """A customer security review for one customer tenant (id or domain), or for each one;
    it holds nothing about any other customer."""
    if (tenant is None) == (not all_tenants):
        raise InputError("give one TENANT (id or domain) or --all-tenants")
    config = load_config(config_path)
    with output_folder(out_dir):
        _report_tenant(
            tenant, db_path, snapshot, config, out_dir, formats, paper, pdf_limit, all_tenants, jobs
        )


def _report_tenant(
    tenant, db_path, snapshot, config, out_dir, formats, paper, pdf_limit, all_tenants, jobs
) -> None:
    from .report.service import earlier_review_files, write_tenant_reviews

    if all_tenants:
        from .report.parallel import write_all_reviews

        with dbmod.opened(db_path, read_only=True) as con:
            dbmod.require_current_views(con)
            label = resolve_analysed(con, snapshot)
        run = write_all_reviews(
            db_path,
            label,
            Path(out_dir),
            formats,
            config,
            paper=paper.lower(),
            max_pdf_findings=pdf_limit,
            jobs=jobs,
            progress=progress_printer("Writing reviews"),
        )
        click.echo(
            f"Wrote {run.reviews} reviews ({', '.join(formats)}) to {out_dir} in "
            f"{run.seconds:.1f} s with {run.jobs} process(es): {run.per_minute:.0f} reviews "
            f"per minute, {run.seconds_per_review:.3f} s per review"
        )
        _echo_wrote([], earlier_review_files(Path(out_dir), run.written, every_customer=True))
        return
    with dbmod.opened(db_path, read_only=True) as con:
        dbmod.require_current_views(con)
        written = write_tenant_reviews(
            con,
            resolve_analysed(con, snapshot),
            None if all_tenants else [tenant],
            Path(out_dir),
            formats,
            config,
            paper=paper.lower(),
            max_pdf_findings=pdf_limit,
        )
    _echo_wrote(written, earlier_review_files(Path(out_dir), written, every_customer=False))


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@db_option
@new_snapshot_options
@click.option("--kind", default=None, help="Force the export kind of every input.")
@click.option("--tenant", default=None, help="Tenant id or domain for exports that carry none.")
@config_option
@fail_on_option
@_out_option
@report_format_option
@with_example("dapaudit run sample_data/canonical --as-of 2026-11-30 --out dapaudit-report")
def run(
    inputs, db_path, snapshot, as_of, kind, tenant, config_path, fail_on, out_dir, formats
) -> None:
    """The main job: ingest, analyse, write the monthly report and findings files."""
    _run(inputs, db_path, snapshot, as_of, kind, tenant, config_path, fail_on, out_dir, formats)


def _run(
    inputs, db_path, snapshot, as_of, kind, tenant, config_path, fail_on, out_dir, formats
) -> None:
    config = load_config(config_path)
    as_of_date = as_of.date() if isinstance(as_of, datetime) else as_of
    from .report.service import earlier_monthly_files, write_monthly

    label = _snapshot_label(snapshot, as_of_date)
    # Before the database changes: a report that cannot be written must not leave behind a
    # snapshot ingested and analysed.
    with output_folder(out_dir, _monthly_files(formats)), dbmod.opening(db_path) as pending:
        # Not its own report folder, if that is below an input (`run .` run twice).
        _ingest_files(pending, inputs, label, as_of_date, kind, tenant, skip=[out_dir])
        con = pending.get()
        result = _analyze(con, label, config)
        with _report_progress() as progress:
            written = write_monthly(
                con, label, Path(out_dir), formats, config, findings_files=True, progress=progress
            )
    _echo_wrote(written, earlier_monthly_files(Path(out_dir), written))
    _exit_for(result, fail_on)


@cli.command()
@_out_option
@report_format_option
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help=(
        "Keep the demo's database in this file, which must not exist yet (default: a "
        "temporary one)."
    ),
)
@with_example("dapaudit demo --out /tmp/dapaudit-demo")
def demo(out_dir, formats, db_path) -> None:
    """Run on the bundled sample estate into a temporary database and show the report."""
    if db_path is not None and Path(db_path).exists():
        # It would add the fictional sample estate to the snapshot of that database's month,
        # an audit's database included, and re-analyse it.
        raise InputError(
            f"{printable(db_path)}: the file exists; the demo keeps its database only in a new "
            "file (it would add the sample estate to this one)"
        )
    with tempfile.TemporaryDirectory(prefix="dapaudit-demo-") as tmp:
        _run(
            [str(checkout_folder(SAMPLE_DATA_DIR) / "canonical")],
            db_path or str(Path(tmp) / "demo.duckdb"),
            "2026-11",
            SAMPLE_AS_OF,
            None,
            None,
            None,
            None,
            out_dir,
            formats,
        )
    click.echo(f"The demo report is in {Path(out_dir).resolve()}")


@cli.command()
@click.argument("rule_id", required=False)
@click.option(
    "--framework",
    default=None,
    help="List each rule's controls in this compliance framework (e.g. mitre-attack).",
)
@unused_db_option
@with_example("dapaudit rules AZURE-LINGERING-PARTNER-ROLE")
def rules(rule_id, framework, _db_path) -> None:
    """List the rules, or show one with its rationale, remediation and controls."""
    if framework is not None:
        if framework not in frameworks():
            raise InputError(f"unknown framework {framework!r}; known: {', '.join(frameworks())}")
        prefix = framework + ":"
        click.echo(
            table(
                ["rule", "severity", f"{framework} controls"],
                [
                    [
                        r.id,
                        r.severity,
                        ", ".join(
                            c.removeprefix(prefix) for c in r.controls if c.startswith(prefix)
                        ),
                    ]
                    for r in all_rules()
                ],
                max_cell=100,
            ),
            nl=False,
        )
        return
    if rule_id is None:
        click.echo(
            table(
                ["rule", "severity", "name", "frameworks", "controls"],
                [
                    [
                        r.id,
                        r.severity,
                        r.name,
                        ",".join(sorted({c.partition(":")[0] for c in r.controls})),
                        len(r.controls),
                    ]
                    for r in all_rules()
                ],
                max_cell=80,
            ),
            nl=False,
        )
        return
    known = rules_by_id()
    if rule_id not in known:
        raise InputError(f"unknown rule id {rule_id!r}; see `dapaudit rules`")
    r = known[rule_id]
    fw = frameworks()
    click.echo(f"{r.id}  ({r.severity})\n{r.name}\n")
    click.echo("Why it matters:\n  " + r.rationale.replace("\n", "\n  ") + "\n")
    click.echo("Remediation:")
    for n, step in enumerate(r.remediation, 1):
        click.echo(f"  {n}. {step}")
    click.echo("\nControls:")
    for c in r.controls:
        fid, _, cid = c.partition(":")
        click.echo(f"  {c}  {fw[fid].controls.get(cid, '') if fid in fw else ''}")
    if r.params:
        click.echo(f"\nSettings ([rules.{r.id}] in dapaudit.toml):")
        for key, value in sorted(r.params.items()):
            click.echo(f"  {key} = {value}")
    if r.collect:
        click.echo("\nWhat to collect:\n  " + r.collect.replace("\n", "\n  "))


@cli.command()
@db_option
@click.option(
    "--summary", is_flag=True, help="Only the table of snapshots, without their source files."
)
@with_example("dapaudit snapshots --summary")
def snapshots(db_path, summary) -> None:
    """List snapshots with their reference date, findings and source files."""
    from .snapshots import list_snapshots, source_files

    with dbmod.opened(db_path, read_only=True) as con:
        dbmod.require_current_views(con)
        rows = list_snapshots(con)
        click.echo(
            table(
                [
                    "snapshot",
                    "as_of",
                    "files",
                    "rows",
                    "findings",
                    "new",
                    "resolved",
                    "not_assessed",
                    "offboarded",
                    "analyzed",
                ],
                rows,
            ),
            nl=False,
        )
        if summary:
            return
        for snapshot, *_ in rows:
            files = source_files(con, snapshot)
            click.echo(f"\nSource files of {printable(snapshot)} ({len(files)}):")
            click.echo(
                table(["file", "kind", "tenant", "rows", "encoding", "sha256"], files), nl=False
            )


# ------------------------------------------------------------------ check (robustness)


@cli.command()
@db_option
@with_example("dapaudit check --db audit.duckdb")
def check(db_path) -> None:
    """Verify a database: schema version, every table readable, each snapshot's rows against
    its recorded source files, export coverage and findings consistent.

    Exit code 0 when the database is sound, 1 when problems were found (each is listed),
    2 when it cannot be checked at all (missing, locked, not a dapaudit database).
    """
    from .check import check_database

    with dbmod.opened(db_path, read_only=True) as con:
        result = check_database(con)
    for problem in result.problems:
        click.echo(f"Problem: {printable(problem)}")
    if not result.ok:
        click.echo(f"{len(result.problems)} problem(s) in {printable(db_path)}", err=True)
        sys.exit(1)
    click.echo(
        f"OK: schema version {result.schema_version}; {result.snapshots} snapshot(s), "
        f"{result.files} source file(s), {result.rows} row(s), {result.findings} finding(s)"
    )


# ------------------------------------------------------------------ scale: synthetic estates


@cli.command()
@click.option(
    "--customers",
    type=click.IntRange(min=1, max=MAX_GENERATED_CUSTOMERS),
    required=True,
    help="Number of customer tenants.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Empty (or new) folder: exports/ and expected_findings.json go here.",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="The same seed gives the same estate, byte for byte.",
)
@click.option(
    "--as-of",
    "as_of",
    type=IsoDate(),
    metavar="YYYY-MM-DD",
    default="2026-11-30",
    show_default=True,
    help="Reference date the planted time-based conditions use.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["canonical", "real"]),
    default="real",
    show_default=True,
    help="canonical: dapaudit CSV; real: Graph, az CLI and Partner Center exports.",
)
@click.option(
    "--files-per-table",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Split each estate-wide export into this many files (like paged exports); "
    "--format canonical only.",
)
@click.option(
    "--customer-folders",
    type=click.IntRange(min=0),
    default=None,
    help="How many customers get a per-tenant folder (default: 5%, 8 to 500); --format "
    "canonical only (a real-format estate has a folder per customer).",
)
@click.option("--shuffle", is_flag=True, help="Write rows in a seeded random order.")
@click.option("--upper-guids", is_flag=True, help="Write GUIDs in upper case.")
@unused_db_option
@with_example("dapaudit generate --customers 10000 --out /tmp/estate-10k --seed 7")
def generate(
    customers,
    out_dir,
    seed,
    as_of,
    fmt,
    files_per_table,
    customer_folders,
    shuffle,
    upper_guids,
    _db_path,
) -> None:
    """Write a synthetic estate with known findings, for benchmarks and tests."""
    from .generate import generate as run_generate

    if fmt == "real" and (files_per_table != 1 or customer_folders is not None):
        raise InputError(
            "--files-per-table and --customer-folders shape a canonical estate only: add "
            "--format canonical (a real-format estate has a folder per customer and one export "
            "per tool and tenant)"
        )

    try:
        result = run_generate(
            out_dir,
            customers,
            seed=seed,
            as_of=as_of.date(),
            files_per_table=files_per_table,
            customer_folders=customer_folders,
            shuffle=shuffle,
            upper_guids=upper_guids,
            fmt=fmt,
        )
    except FileExistsError as exc:
        raise InputError(f"{exc}; choose a new folder") from None
    click.echo(
        f"Wrote {result.customers} customers, {result.partners} partners, "
        f"{sum(result.rows.values())} rows in {result.files} files to {result.out}"
    )
    click.echo(
        f"Planted {sum(result.expected.values())} findings: see "
        f"{Path(out_dir) / 'expected_findings.json'}"
    )


# ------------------------------------------------------------------ query surface (issue 6)


class _SqlArgument(click.Command):
    """`query` whose SQL may start with a comment: '-- title ...' read as an option name
    ('No such option'), as a saved query's text pasted in does. An argument that starts with
    '--' and a space or line break is no option: it goes last, after '--'."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" not in args:
            comments = [a for a in args if a[:2] == "--" and a[2:3] in (" ", "\t", "\r", "\n")]
            if len(comments) == 1:
                args = [a for a in args if a is not comments[0]] + ["--", comments[0]]
        return super().parse_args(ctx, args)


@cli.command(cls=_SqlArgument)
@click.argument("sql", required=False)
@db_option
@click.option(
    "--snapshot",
    default=None,
    metavar="LABEL",
    help="Make every table and view show only this snapshot's rows.",
)
@click.option(
    "--file",
    "sql_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Read the SQL from this file (UTF-8, or UTF-16 with a byte order mark).",
)
@click.option(
    "--saved", "saved_name", default=None, metavar="NAME", help="Run a saved query (see --list)."
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter of the saved query; repeat for several.",
)
@click.option("--list", "list_only", is_flag=True, help="List the saved queries and exit.")
@click.option(
    "--show",
    "show_name",
    default=None,
    metavar="NAME",
    help="Show a saved query's description, parameters and SQL, and exit.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(QUERY_FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@with_example(
    'dapaudit query "SELECT partner_name, count(*) FROM partner_access '
    'WHERE dap_enabled GROUP BY ALL ORDER BY 1" --format csv'
)
def query(sql, db_path, snapshot, sql_file, saved_name, params, list_only, show_name, fmt) -> None:
    """Ask your own question in SQL, on a read-only connection.

    SQL is the argument, or --file, or standard input (SQL `-`, or none with input piped).
    Statements that would change the database are refused by DuckDB: the database is never
    changed. The tables and views are listed by `dapaudit schema` and in docs/schema.md.
    """
    from . import query as query_mod

    if list_only:
        click.echo(query_mod.render(query_mod.list_saved(), fmt), nl=False)
        return
    if show_name is not None:
        click.echo(query_mod.describe_saved(show_name), nl=False)
        return
    sources = [
        s
        for s in (sql not in (None, "-") and "SQL", sql_file and "--file", saved_name and "--saved")
        if s
    ]
    if len(sources) > 1:
        raise InputError(f"give the SQL one way only, not {' and '.join(sources)}")
    if params and not saved_name:
        raise InputError("--param goes with --saved NAME")
    if saved_name is None:
        if sql_file is not None:
            sql = _sql_text(sql_file)
        elif sql == "-" or (sql is None and not sys.stdin.isatty()):
            sql = sys.stdin.read()
        elif sql is None:
            raise InputError(
                "give SQL as an argument, with --file, on standard input, or "
                "use --saved NAME (see --list)"
            )
    given = query_mod.parse_params(params)
    with query_mod.QuerySession(db_path, snapshot=snapshot) as session:
        if saved_name is not None:
            result = query_mod.run_saved(session, saved_name, given)
        else:
            result = query_mod.run(session, sql)
        for chunk in query_mod.render_chunks(result, fmt):  # rows stream while the session is open
            click.echo(chunk, nl=False)


@cli.command()
@db_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True
)
@with_example("dapaudit schema --format markdown")
def schema(db_path, fmt) -> None:
    """Every table and view of the database with its columns, types and what each means.

    Reads the --db database when it exists, else describes a new one.
    """
    from . import catalog
    from . import query as query_mod

    if Path(db_path).exists():
        with query_mod.QuerySession(db_path) as session:
            objects = catalog.describe(session.con, query_mod.AUDIT_CATALOG)
    else:
        objects = catalog.new_database_objects()
    click.echo(
        catalog.as_markdown(objects) if fmt == "markdown" else catalog.as_text(objects), nl=False
    )


@cli.command()
@db_option
@click.option(
    "--parquet",
    "parquet_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder to write (new or empty): <table>/snapshot=<label>/*.parquet.",
)
@click.option(
    "--snapshot",
    default=None,
    metavar="LABEL",
    help="Export only this snapshot (default: every snapshot).",
)
@with_example("dapaudit export --parquet audit-parquet/ --snapshot 2026-11")
def export(db_path, parquet_dir, snapshot) -> None:
    """Write every table and the findings as Parquet, with row counts and checksums."""
    from .export import MANIFEST, export_parquet

    with dbmod.opened(db_path, read_only=True, files=True) as con:  # COPY TO --parquet
        if snapshot is not None:
            resolve_snapshot(con, snapshot)
        manifest = export_parquet(con, parquet_dir, snapshot)
    total = sum(t["rows"] for t in manifest["tables"].values())
    click.echo(
        f"Wrote {len(manifest['tables'])} tables, {total} rows, to {parquet_dir} "
        f"(see {Path(parquet_dir) / MANIFEST})"
    )


def _sql_text(path: str) -> str:
    """A SQL file's text: UTF-8 with or without a byte order mark, or UTF-16 with one (as
    Notepad and PowerShell save it)."""
    raw = Path(path).read_bytes()
    codec = "utf-8"
    if raw.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise DapauditError(
            f"not {codec.upper().removesuffix('-SIG')} text",
            file=path,
            record=exc.start + 1,
            record_label="byte",
        ) from None


def main() -> None:
    interrupt.install()
    try:
        cli(prog_name="dapaudit")
    finally:  # click ends with SystemExit: after it has said `Aborted!` and cleaned up
        interrupt.exit_by_signal()


if __name__ == "__main__":
    main()
