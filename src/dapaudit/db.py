"""Open and create the audit database: schema, schema version, transactions, read-only mode.

The database is one DuckDB file. A new file gets schema.sql, the reference tables and the
views; an older file is migrated forward; a newer one is refused rather than misread.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from . import faults
from .errors import DapauditError
from .faults import checkpoint
from .interrupt import track
from .paths import PACKAGE_DIR, REFERENCE_DIR

SCHEMA_VERSION = 4
DEFAULT_DB = "dapaudit.duckdb"
# How long a command waits for another dapaudit process to release the database file;
# $DAPAUDIT_LOCK_WAIT (seconds, 0 = do not wait) overrides it.
LOCK_WAIT_SECONDS = 30.0
LOCK_WAIT_ENV = "DAPAUDIT_LOCK_WAIT"
# DuckDB allows one writing process, or many read-only ones, per file. Another process's lock
# shows as this IOException (duckdb 1.x and 2.0: 'Could not set lock on file "...":
# Conflicting lock is held in ... (PID n)').
_LOCK_MARKERS = ("could not set lock", "conflicting lock")
# New files are written in a storage format that DuckDB 1.2 and later read, so the database
# opens in the DuckDB command line and other tools people already have, not only in the
# DuckDB version of our Python package.
STORAGE_COMPATIBILITY = "v1.2.0"


def default_db_path() -> str:
    return os.environ.get("DAPAUDIT_DB") or DEFAULT_DB


def lock_wait_seconds() -> float:
    raw = os.environ.get(LOCK_WAIT_ENV)
    if raw is None or raw.strip() == "":
        return LOCK_WAIT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses NaN
        raise DapauditError(f"${LOCK_WAIT_ENV} must be a number of seconds, not {raw!r}")
    return value


def _notice_wait(message: str) -> None:
    """Tell the user why nothing happens; stderr, so piped output stays clean."""
    print(message, file=sys.stderr, flush=True)


# Replaced by tests or embedding code that wants the notice elsewhere.
wait_notice = _notice_wait


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _LOCK_MARKERS)


# DuckDB's own memory ceiling (e.g. "1GB"); above it, work spills to <db>.tmp on disk.
MEMORY_LIMIT_ENV = "DAPAUDIT_MEMORY_LIMIT"


# Default ceiling: a multi-GB export then loads in bounded memory (DuckDB spills past it)
# instead of DuckDB's own default of 80% of RAM. 1GB keeps the whole process (DuckDB plus
# Python's own objects) under 1.5 GB on the 100,000-customer real-format estate: with 2GB its
# ingest peaked at 2.47 GB, with 1GB at 1.49 GB in about the same time.
DEFAULT_MEMORY_LIMIT = "1GB"


def memory_limit() -> str:
    """DuckDB's memory limit for this process: $DAPAUDIT_MEMORY_LIMIT, else the default."""
    return os.environ.get(MEMORY_LIMIT_ENV, "").strip() or DEFAULT_MEMORY_LIMIT


def _config() -> dict[str, str]:
    return {"memory_limit": memory_limit()}


def open_duckdb(path: str = ":memory:", **options) -> duckdb.DuckDBPyConnection:
    """A new DuckDB connection, tracked for Ctrl-C, with every connection of the database
    (cursors too) in UTC. DuckDB takes a timestamp without an offset, and turns one into a
    date or text, in the machine's time zone: the same export gave a GDAP relationship ending
    on 31 December at 23:30 in UTC and on 1 January in Los Angeles. (Set after connecting: the time
    zone extension is not loaded yet when the connect options are applied.)"""
    con = track(duckdb.connect(path, **options))
    try:
        con.execute("SET GLOBAL TimeZone = 'UTC'")
    except BaseException:
        con.close()
        raise
    return con


def _connect(path: str, read_only: bool, extra: dict | None = None) -> duckdb.DuckDBPyConnection:
    wait = lock_wait_seconds()
    config = {**_config(), **(extra or {})}
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            return open_duckdb(path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if not is_lock_error(exc):
                raise DapauditError(f"cannot open the database: {exc}", file=path) from None
            if time.monotonic() >= deadline:
                raise DapauditError(
                    f"the database is in use by another process (waited {wait:g} s); "
                    f"try again when it has finished, or set ${LOCK_WAIT_ENV} to wait longer",
                    file=path,
                ) from None
            if not told:
                wait_notice(
                    f"Waiting for the database {path}: another process is using it "
                    f"(up to {wait:g} s)..."
                )
                told = True
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        except duckdb.InterruptException:  # Ctrl-C while it opened: not a database at fault
            raise
        except duckdb.Error as exc:
            if os.environ.get(MEMORY_LIMIT_ENV, "").strip() and "Memory" in str(exc):
                # "Parser Error: Memory must have a number", of a setting the user never saw.
                raise DapauditError(
                    f"${MEMORY_LIMIT_ENV} is {memory_limit()!r}, which DuckDB does not read as a "
                    f"memory size ({exc}); give one such as 2GB or 512MB"
                ) from None
            raise DapauditError(f"cannot open the database: {exc}", file=path) from None


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def connect(
    path: str | os.PathLike[str], *, read_only: bool = False, files: bool | None = None
) -> duckdb.DuckDBPyConnection:
    """Open (creating or migrating if needed) the database at `path`.

    `files`: whether its SQL may read or write files and URLs (DuckDB's external access);
    by default only a writing connection may (ingest reads the exports with it). A read-only
    one reads the database alone: its views are the file's own, and a database handed over
    could hold one that reads a local file (or a URL) into a report."""
    con = _connect_checked(str(path), read_only)
    if not ((not read_only) if files is None else files):
        try:
            con.execute("SET enable_external_access = false")
        except BaseException:
            con.close()
            raise
    return con


def _connect_checked(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    exists = Path(path).exists()
    if read_only and not exists:
        raise DapauditError(
            "no such database; run `dapaudit ingest` or `dapaudit run` first", file=path
        )
    if not exists and not read_only and _copy_template(path):
        con = _open_copy(path)
        if con is not None:
            return con
        exists = Path(path).exists()
    con = _connect(
        path,
        read_only,
        None if exists else {"storage_compatibility_version": STORAGE_COMPATIBILITY},
    )
    try:
        version = schema_version(con)
    except DapauditError:
        con.close()
        raise
    if version is None:
        if read_only or _has_tables(con):
            con.close()
            raise DapauditError(
                "not a dapaudit database (no schema version); name a new file or a dapaudit "
                "database with --db",
                file=path,
            )
        _create(con)
    elif version > SCHEMA_VERSION:
        con.close()
        raise DapauditError(
            f"the database has schema version {version}, newer than this dapaudit "
            f"(version {SCHEMA_VERSION}); upgrade dapaudit to read it",
            file=path,
        )
    elif version < SCHEMA_VERSION:
        missing = [step for step in range(version, SCHEMA_VERSION) if step not in MIGRATIONS]
        if read_only and not missing:
            con.close()
            raise DapauditError(
                f"the database has schema version {version}; run any writing command "
                "(e.g. `dapaudit analyze`) once to migrate it",
                file=path,
            )
        if missing:  # said the same by every command: no command can migrate it
            con.close()
            raise DapauditError(
                f"the database has schema version {version}, which this dapaudit cannot migrate "
                f"(no step from version {missing[0]}); re-ingest the exports into a new database",
                file=path,
            )
        _migrate(con, version)
    return con


# A new database is a copy of an empty one that this build made once and keeps in a cache
# folder: creating one (schema, reference tables, views: DuckDB binds every view) costs about
# 0.3 s, a copy about 0.04 s. The template is named by everything creating it reads (this
# module, schema.sql, the view files, the reference tables, the DuckDB version), so a change to
# any of them makes a new one. $DAPAUDIT_CACHE_DIR names the folder; empty, no template is used.
CACHE_DIR_ENV = "DAPAUDIT_CACHE_DIR"
# Templates of other builds older than this many days are removed when one is made.
TEMPLATE_DAYS = 30


def cache_dir() -> Path | None:
    raw = os.environ.get(CACHE_DIR_ENV)
    if raw is not None:
        return Path(raw) if raw.strip() else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dapaudit"


@functools.cache
def template_name() -> str:
    digest = hashlib.sha256()
    sources = [PACKAGE_DIR / "db.py", PACKAGE_DIR / "schema.sql"]
    sources += [PACKAGE_DIR / name for name in VIEW_FILES]
    sources += sorted(REFERENCE_DIR.glob("*.csv"))
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    digest.update(f"{SCHEMA_VERSION}|{STORAGE_COMPATIBILITY}|{duckdb.__version__}".encode())
    return f"empty-{digest.hexdigest()[:20]}.duckdb"


def _copy_template(path: str) -> bool:
    """Write the empty database of this build to `path`, which must not exist yet (made
    first if the cache has none); False when there is no template to use, and nothing at
    `path` then. Not under fault injection: creating has checkpoints that tests count."""
    folder = cache_dir()
    if folder is None or faults.active() or path.startswith(":memory:"):
        return False
    template = folder / template_name()
    written = False
    try:
        if not template.exists():
            _make_template(template)
        with open(template, "rb") as source, open(path, "xb") as target:
            written = True
            shutil.copyfileobj(source, target)
        return True
    except (OSError, duckdb.Error, DapauditError):
        # No cache to write or read (read-only home, disk full, a race): create in place.
        if written:
            Path(path).unlink(missing_ok=True)
        return False


def _make_template(template: Path) -> None:
    template.parent.mkdir(parents=True, exist_ok=True)
    scratch = template.with_name(f"{template.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        con = open_duckdb(
            str(scratch), config={"storage_compatibility_version": STORAGE_COMPATIBILITY}
        )
        try:
            _create(con)
        finally:
            con.close()  # checkpoints: the whole database is in the one file
        os.replace(scratch, template)  # whole or not at all, also with two processes at once
    finally:
        scratch.unlink(missing_ok=True)
        Path(f"{scratch}.wal").unlink(missing_ok=True)
    # Every upgrade (of dapaudit or DuckDB) makes a template: those of other builds made long
    # ago go, so the folder does not grow without end. One still in use is made again.
    stale = time.time() - TEMPLATE_DAYS * 86_400
    for other in template.parent.glob("empty-*.duckdb"):
        with contextlib.suppress(OSError):
            if other != template and other.stat().st_mtime < stale:
                other.unlink()


def _open_copy(path: str) -> duckdb.DuckDBPyConnection | None:
    """The copy of the template at `path`, opened; None (and the copy and the template gone)
    when it does not open as this build's empty database: the caller then creates one."""
    con = None
    try:
        con = open_duckdb(path, config=_config())
        if schema_version(con) == SCHEMA_VERSION and views_current(con):
            return con
    except duckdb.Error as exc:
        if is_lock_error(exc):  # another process opened it meanwhile: it is theirs now
            return None
    except DapauditError:
        pass
    if con is not None:
        con.close()
    for broken in (Path(path), Path(f"{path}.wal"), cache_dir() / template_name()):
        broken.unlink(missing_ok=True)
    return None


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    try:
        # duckdb_tables(), not information_schema.tables: the view cost each command ~20 ms.
        found = con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE table_name = 'dapaudit_meta' AND database_name = current_database()"
        ).fetchone()[0]
        if not found:
            return None
        row = con.execute("SELECT value FROM dapaudit_meta WHERE key = 'schema_version'").fetchone()
    except duckdb.InterruptException:
        raise
    except duckdb.Error as exc:  # a damaged block: said, not a traceback from every command
        first = str(exc).strip().splitlines()[0]
        raise DapauditError(
            f"the database cannot be read ({first}); the file may be damaged: restore it from "
            "a backup, or ingest the exports into a new database"
        ) from None
    if row is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise DapauditError(
            f"the database's schema version is unreadable ({row[0]!r}); not a dapaudit database?"
        ) from None


def _has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT (SELECT count(*) FROM duckdb_tables() WHERE NOT temporary) "
            "+ (SELECT count(*) FROM duckdb_views() WHERE NOT internal AND NOT temporary)"
        ).fetchone()[0]
    )


def _create(con: duckdb.DuckDBPyConnection) -> None:
    with transaction(con):
        con.execute((PACKAGE_DIR / "schema.sql").read_text(encoding="utf-8"))
        refresh_views(con)
        con.execute("INSERT INTO dapaudit_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])


# Schema migrations: MIGRATIONS[n] is the SQL that takes a database from version n to n + 1.
# Add a step whenever SCHEMA_VERSION goes up; connect() runs the missing steps in order, in
# one transaction with the views and reference tables, so a crash leaves the old version.
def _schema_block(version: int) -> str:
    """The part of schema.sql that schema version `version` added: its migration step is the
    same SQL a new database runs, never a second copy of it."""
    text = (PACKAGE_DIR / "schema.sql").read_text(encoding="utf-8")
    start = text.index(f"-- schema version {version} (")
    return text[start : text.index(f"-- end of schema version {version}", start)]


_ANALYSIS_RULES = _schema_block(2)  # read once: every command imports this module
MIGRATIONS: dict[int, str] = {
    1: _ANALYSIS_RULES,  # analysis_rules: which rules each analysis ran, and from what
    # Version 2 as first released lacked analysis_rules.ran: made again in the shape of now.
    # What it recorded goes (those snapshots read as analysed before it until analysed again).
    2: "DROP TABLE analysis_rules;\n" + _ANALYSIS_RULES,
    3: _schema_block(4),  # analysis_offboarded: the customers each analysis took as offboarded
}


def _migrate(con: duckdb.DuckDBPyConnection, version: int) -> None:
    with transaction(con):
        for step in range(version, SCHEMA_VERSION):
            con.execute(MIGRATIONS[step])
            checkpoint(f"migrate.step{step}")
        refresh_views(con)
        con.execute(
            "UPDATE dapaudit_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
        )


def refresh_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the reference tables and the views and macros of views.sql: derived objects,
    safe to replace any time (a build that knows more built-in roles brings them to databases
    made before it).

    surface.sql follows: it documents every view's columns, and CREATE OR REPLACE VIEW drops a
    view's column comments.
    """
    _load_reference(con)
    for name in VIEW_FILES:
        con.execute((PACKAGE_DIR / name).read_text(encoding="utf-8"))
    con.execute("INSERT OR REPLACE INTO dapaudit_meta VALUES ('views_digest', ?)", [views_digest()])


VIEW_FILES = ("views.sql", "surface.sql")


@functools.cache
def views_digest() -> str:
    """SHA-256 of the view definitions and reference tables this build creates."""
    digest = hashlib.sha256()
    for path in [PACKAGE_DIR / name for name in VIEW_FILES] + sorted(REFERENCE_DIR.glob("*.csv")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


REFERENCE_TABLES = ("ref_directory_roles", "ref_azure_roles", "ref_severities")
SEVERITY_RANKS = (("critical", 5), ("high", 4), ("medium", 3), ("low", 2), ("info", 1))


def views_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database holds this build's views and reference tables (a database made by
    an earlier build with the same schema version may hold older ones; a view dropped or a
    reference table emptied by hand goes unseen by the digest, and the rules then fail or
    silently find less)."""
    if not _views_of_this_build(con):
        return False
    present = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND view_name IN (SELECT unnest(?::VARCHAR[]))",
        [list(_view_names())],
    ).fetchone()[0]
    if present != len(_view_names()):
        return False
    # Asked of the catalog, not tried: a failed statement would abort analyze's transaction.
    tables = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name IN (SELECT unnest(?::VARCHAR[]))",
        [list(REFERENCE_TABLES)],
    ).fetchone()[0]
    if tables != len(REFERENCE_TABLES):  # one dropped: loaded again
        return False
    counts = con.execute(
        " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in REFERENCE_TABLES)
    ).fetchall()
    return dict(counts) == _reference_rows()


@functools.cache
def _view_names() -> frozenset[str]:
    text = "".join((PACKAGE_DIR / name).read_text(encoding="utf-8") for name in VIEW_FILES)
    # At the start of a line: a comment may name the statement ("-- CREATE OR REPLACE VIEW
    # drops a view's column comments" in surface.sql).
    return frozenset(re.findall(r"^CREATE OR REPLACE VIEW (\w+)", text, flags=re.M))


@functools.cache
def _reference_rows() -> dict[str, int]:
    rows = {}
    for name in ("directory_roles", "azure_roles"):
        with open(REFERENCE_DIR / f"{name}.csv", encoding="utf-8") as fh:
            rows[f"ref_{name}"] = sum(1 for _ in fh) - 1  # the header
    return rows | {"ref_severities": len(SEVERITY_RANKS)}


def _views_of_this_build(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this build made the database's views and reference tables (by their digest)."""
    row = con.execute("SELECT value FROM dapaudit_meta WHERE key = 'views_digest'").fetchone()
    return row is not None and row[0] == views_digest()


def require_current_views(con: duckdb.DuckDBPyConnection) -> None:
    """For a read-only command that reads the views (the reports, `snapshots`): refuse a
    database holding another build's views, which this build's reports and queries would
    misread or fail on (a catalog error naming a macro) until `analyze` renews them. (A view
    of this build dropped by hand is not that: the command's catalog error names `dapaudit
    check`.)"""
    if not _views_of_this_build(con):
        path = con.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchone()[0]
        raise DapauditError(
            "the database's views and reference tables are those of another dapaudit build: "
            "run `dapaudit analyze` (it renews them, and analyses the latest snapshot again "
            "with this build's rules), then this command",
            file=path,
        )


def ensure_current_views(con: duckdb.DuckDBPyConnection) -> None:
    """refresh_views() unless the database already holds this build's views: re-creating them
    every time cost each analyze about 0.15 s."""
    if not views_current(con):
        refresh_views(con)


def _load_reference(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the reference tables: role GUIDs live in one place, reference/*.csv."""
    for name in ("directory_roles", "azure_roles"):
        path = str(REFERENCE_DIR / f"{name}.csv")
        con.execute(
            f"CREATE OR REPLACE TABLE ref_{name} AS "
            "SELECT * FROM read_csv(?, header = true, all_varchar = true)",
            [path],
        )
        con.execute(
            f"CREATE OR REPLACE TABLE ref_{name} AS "
            f"SELECT * REPLACE (privileged::BOOLEAN AS privileged) FROM ref_{name}"
        )
    values = ", ".join(f"('{severity}', {rank})" for severity, rank in SEVERITY_RANKS)
    con.execute(
        "CREATE OR REPLACE TABLE ref_severities AS SELECT * FROM (VALUES "
        f"{values}) t(severity, rank)"
    )
    con.execute(
        "COMMENT ON TABLE ref_directory_roles IS 'Built-in Entra directory roles by template id.'"
    )
    con.execute("COMMENT ON TABLE ref_azure_roles IS 'Built-in Azure RBAC roles by definition id.'")
    con.execute("COMMENT ON TABLE ref_severities IS 'Severities and their rank (5 = critical).'")


def _setting(con, name: str) -> str:
    return str(con.execute(f"SELECT current_setting('{name}')").fetchone()[0])


def current_threads(con) -> int:
    """DuckDB's `threads` setting (one for the whole database instance)."""
    return int(_setting(con, "threads"))


@contextmanager
def setting_kept(con, name: str) -> Iterator[str]:
    """A block that may change DuckDB setting `name`; yields its value, which the connection has
    again afterwards, after an error too. Inside a transaction that failed even SET is refused:
    a block around transaction() sets it back once it has rolled back."""
    before = _setting(con, name)
    try:
        yield before
    finally:
        with contextlib.suppress(duckdb.Error):  # never in the way of an error on its way out
            if _setting(con, name) != before:
                con.execute(f"SET {name} = '{before}'")


@contextmanager
def threads_kept(con) -> Iterator[int]:
    """setting_kept() for `threads`, yielded as a number."""
    with setting_kept(con, "threads") as threads:
        yield int(threads)


# What waits in the WAL up to this size is checkpointed without FSST (checkpoint_small).
SMALL_CHECKPOINT_BYTES = 8 * 1024 * 1024


def checkpoint_small(con: duckdb.DuckDBPyConnection) -> None:
    """After a commit: when the data waiting in the database's WAL is small (at most
    SMALL_CHECKPOINT_BYTES), write it into the database file now, without FSST string
    compression; else leave it to DuckDB (which checkpoints a WAL past 16 MiB at commit, and
    the rest at close), with every compression.

    A checkpoint tries every compression on every string column it writes. For a 1,000-customer
    ingest (a 3.2 MB WAL) trying FSST was 80-90 ms of a 120-160 ms checkpoint, and saved
    0.9 MB of an 8 MB file; on large writes it halves the file (169 against 327 MB at 100,000
    customers). The connection keeps its own setting. A checkpoint DuckDB refuses (another
    transaction is open) leaves the data in the WAL, as before."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    try:
        waiting = os.path.getsize(f"{row[0]}.wal") if row and row[0] else 0
    except OSError:  # no WAL: nothing waits
        return
    if not 0 < waiting <= SMALL_CHECKPOINT_BYTES:
        return
    with setting_kept(con, "disabled_compression_methods") as before:
        methods = {m.strip().lower() for m in before.split(",") if m.strip()} | {"fsst"}
        con.execute(f"SET disabled_compression_methods = '{','.join(sorted(methods))}'")
        try:
            con.execute("CHECKPOINT")
        except duckdb.InterruptException:
            raise
        except duckdb.Error:  # another transaction is open: checkpointed later, as before
            pass


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One atomic unit: everything inside commits together or not at all."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        checkpoint("transaction.before-commit")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")
        checkpoint("transaction.committed")


@contextmanager
def opened(path: str | os.PathLike[str], *, read_only: bool = False, files: bool | None = None):
    """connect(), closed again when the block ends, so the file lock is released. A database
    this created is removed again if the block fails with it still empty."""
    new = not read_only and not Path(path).exists()
    con = connect(path, read_only=read_only, files=files)
    try:
        yield con
    except BaseException:
        _close_removing_if_new_and_empty(con, str(path), new)
        con = None
        raise
    finally:
        if con is not None:
            con.close()


def _close_removing_if_new_and_empty(con: duckdb.DuckDBPyConnection, path: str, new: bool) -> None:
    """Close `con`; when the command that made its database failed before any snapshot went
    in, remove the file too: the failed command leaves no empty database behind, and the
    next one does not take it for the user's."""
    empty = False
    if new:
        with contextlib.suppress(duckdb.Error):
            empty = con.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0
    con.close()
    if empty:
        for leftover in (path, path + ".wal"):
            with contextlib.suppress(OSError):
                os.unlink(leftover)


class OpeningConnection:
    """connect() run in a thread from start() on, while the caller does other work; get()
    waits for it (starting it first if nobody did).

    Opening a new database (a copy of the template, 0.03-0.06 s; created in place, schema,
    views and reference tables, about 0.3 s) or an existing one overlaps with ingest reading
    and sniffing the input files. It starts the thread itself, once any helper processes are
    forked: a process with DuckDB's threads running must not fork. Under fault injection it
    connects at once instead, so that checkpoints are always reached in the same order.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.new = not Path(self.path).exists()
        self.started = False
        self._con: duckdb.DuckDBPyConnection | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        if faults.active():
            self._connect()
        else:
            self._thread = threading.Thread(
                target=self._connect, name="dapaudit-connect", daemon=True
            )
            self._thread.start()

    def _connect(self) -> None:
        try:
            self._con = connect(self.path)
        except BaseException as exc:  # noqa: BLE001  (handed to the caller by get())
            self._error = exc

    def get(self) -> duckdb.DuckDBPyConnection:
        """The open connection, or the error connect() raised."""
        self.start()
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._con is not None
        return self._con

    def close(self, failed: bool = False) -> None:
        """Close the connection; `failed`: the block failed, so a database this created is
        removed again while still empty."""
        if self._thread is not None:
            self._thread.join()
        if self._con is not None:
            _close_removing_if_new_and_empty(self._con, self.path, failed and self.new)
            self._con = None


@contextmanager
def opening(path: str | os.PathLike[str]) -> Iterator[OpeningConnection]:
    """opened(), with the database opened (or created) in a thread while the block does other
    work: the block calls .start() when it may, .get() when it needs the connection. Closed
    when the block ends."""
    pending = OpeningConnection(path)
    try:
        yield pending
    except BaseException:
        pending.close(failed=True)
        raise
    pending.close()
