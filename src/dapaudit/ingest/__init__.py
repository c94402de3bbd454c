"""Load export files into one snapshot, atomically and idempotently.

The pipeline: find files (folders recursively, in sorted order), hash and sniff each one,
detect its kind from its content, work out its tenant context, then let each kind's reader
load all of its files at once. Everything happens in one transaction; any error leaves the
database exactly as it was. A small ingest of several kinds loads independent kinds at the same
time, on a connection per core, into an in-memory work database that the transaction then
copies from (see alongside).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from .. import faults, jobs
from ..db import OpeningConnection, checkpoint_small, threads_kept, transaction
from ..errors import DapauditError
from ..faults import checkpoint
from ..machine import usable_cpus
from ..paths import REFERENCE_DIR, REVIEW_FILE_NAME
from . import (  # noqa: F401  (importing a reader module registers its kinds)
    alongside,
    azure,
    canonical,
    detect,
    graph,
    partner_center,
    powershell,
)
from .base import REGISTRY, SHARED_TABLES, Batch, SourceFile, quote_ident, sql_string
from .shared_work import run_shared
from .text import (
    HEAD_BYTES,
    csv_header,
    needs_transcoding,
    read_head_and_hash,
    sniff_bytes,
    sniff_delimiter,
    transcode,
    whole_text,
)

# Where each dataset keeps the tenant it speaks for (for export_coverage).
DATASET_TENANT_COLUMN = {
    "tenants": "tenant_id",
    "partner_relationships": "customer_tenant_id",
    "directory_role_members": "tenant_id",
    "partner_agent_groups": "partner_tenant_id",
    "partner_group_members": "partner_tenant_id",
    "azure_subscriptions": "tenant_id",
    "azure_role_assignments": "tenant_id",
    "gdap_relationships": "customer_tenant_id",
    "gdap_relationship_roles": None,
    "gdap_access_assignments": None,
    "dap_monitoring": "customer_tenant_id",
    "autopilot_devices": "tenant_id",
}

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.I)

ProgressFn = Callable[[str, int, int], None]


@dataclass
class FileReport:
    path: str
    kind: str
    rows: int
    skipped: bool  # already in the snapshot


@dataclass
class IngestReport:
    snapshot: str
    files: list[FileReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def discover(inputs: Iterable[str | os.PathLike[str]], exclude: Iterable[Path] = ()) -> list[Path]:
    """Every file named or found below a named folder, in a stable order, each once.

    `exclude` names files never to read (the database being written, and its WAL)."""
    return [path for path, _ in _discover(inputs, exclude)]


def _discover(
    inputs: Iterable[str | os.PathLike[str]],
    exclude: Iterable[Path] = (),
    *,
    skip: Iterable[Path] = (),
    warnings: list[str] | None = None,
) -> list[tuple[Path, Path]]:
    """discover(), each file with its resolved path; nothing below the folders in `skip` (the
    report folder `run` writes), and a warning in `warnings` for each symlinked folder found
    below an input and not entered.

    A folder is walked with os.scandir and resolved once: below it, a file's resolved path is
    the resolved folder joined with its relative path (symlinked folders are not entered, as
    Path.rglob did not), so only a symlinked file costs a resolve. Resolving every file
    (a syscall per path component) took seconds at 10,000 files."""
    inputs = list(inputs)
    found: list[tuple[Path, Path]] = []
    seen: set[Path] = {Path(p).resolve() for p in exclude}
    # Compared as string prefixes: Path.is_relative_to per file would cost seconds at 100,000.
    skipped = tuple(os.path.join(Path(p).resolve(), "") for p in skip)
    for item in inputs:
        path = Path(item)
        if str(item) == "-" and not path.exists():
            raise DapauditError(
                "standard input is not read: save the export to a file and name that",
                file=str(item),
            )
        if not path.exists():
            raise DapauditError("no such file or folder", file=str(item))
        if not path.is_dir() and not path.is_file():
            # /dev/stdin, <(...): a file is read twice (hashed, then loaded), a pipe once.
            raise DapauditError(
                "not a regular file (a pipe or a device): save the export to a file and name that",
                file=str(item),
            )
        if skipped and os.path.join(path.resolve(), "").startswith(skipped):
            # `run exports --out exports`: everything below the report folder is left out,
            # and "no input files found" said nothing of why.
            raise DapauditError(
                "the input is inside the report folder (--out), whose files are never read as "
                "exports: name another --out",
                file=str(item),
            )
        if path.is_dir():
            root = path.resolve()
            files, links = _walk(path)
            candidates = [
                (path.joinpath(*rel), root.joinpath(*rel) if not link else None)
                for rel, link in sorted(files)
            ]
            if warnings is not None:
                warnings.extend(
                    f"{path.joinpath(*rel)}: a symlinked folder, not read (name it as an input "
                    "to read it)"
                    for rel in sorted(links)
                )
        else:
            candidates = [(path, None)]
        for p, key in candidates:
            if key is None:
                key = p.resolve()
            if key not in seen and not (skipped and str(key).startswith(skipped)):
                seen.add(key)
                found.append((p, key))
    if not found:
        raise DapauditError("no input files found", file=", ".join(str(i) for i in inputs))
    return found


def _walk(top: Path) -> tuple[list[tuple[tuple[str, ...], bool]], list[tuple[str, ...]]]:
    """(relative path parts, is a symlink) of every file below `top`, hidden ones (a name
    starting with '.') and the inside of symlinked folders left out; and the relative path
    parts of those symlinked folders. Sorting the parts gives the order of sorted Paths. A
    folder that cannot be read is an error: its exports would be missing from the audit."""
    out: list[tuple[tuple[str, ...], bool]] = []
    links: list[tuple[str, ...]] = []
    stack: list[tuple[str, tuple[str, ...]]] = [(os.fspath(top), ())]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except PermissionError:
            raise DapauditError("cannot read this folder: permission denied", file=folder) from None
        except (FileNotFoundError, NotADirectoryError):  # gone or replaced since it was listed
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_link = entry.is_symlink()
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, (*rel, entry.name)))
                elif entry.is_file():  # follows a symlink to a file, as Path.is_file()
                    out.append(((*rel, entry.name), is_link))
                elif is_link and entry.is_dir():
                    links.append((*rel, entry.name))
            except OSError:
                continue
    return out, links


def display_path(path: Path) -> str:
    return _display_resolved(path.resolve())


def _display_resolved(resolved: Path) -> str:
    # String prefix, not Path.relative_to: both paths are resolved and absolute, and the
    # pathlib call cost more than the rest of a small file's handling.
    text = resolved.as_posix()
    cwd = _resolved_cwd(os.getcwd()).as_posix()
    prefix = cwd if cwd.endswith("/") else cwd + "/"
    return text[len(prefix) :] if text.startswith(prefix) else text


@functools.lru_cache(maxsize=8)
def _resolved_cwd(cwd: str) -> Path:
    # Resolving is a syscall per path component; with 100,000 files it was 2 of the 4
    # resolves per file. Keyed by the cwd string, so a changed directory is seen.
    return Path(cwd).resolve()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def folder_hint(path: Path) -> str | None:
    """The nearest parent folder named with a tenant id (GUID) or a domain.

    A folder named by a directory role template id names the role of a member listing
    (`<tenant>/62e90394-.../members.json`), not a tenant, so it is passed over."""
    return _folder_hint_resolved(path.resolve())


def _folder_hint_resolved(resolved: Path) -> str | None:
    return _folder_hint_of_dir(os.path.dirname(resolved.as_posix()))


@functools.lru_cache(maxsize=4096)
def _folder_hint_of_dir(folder: str) -> str | None:
    # On strings, cached per folder: Path.parents built a Path per level for every file.
    for name in reversed(folder.split("/")):
        if name.lower() in _role_template_ids():
            continue
        if _GUID.match(name) or _DOMAIN.match(name):
            return name.lower()
    return None


# Files dapaudit itself reads or writes, by name: never an export.
_REVIEW_FILE = re.compile(REVIEW_FILE_NAME)
_OWN_FILES = {
    "dapaudit.toml": "dapaudit's configuration",
    "findings.json": "findings dapaudit wrote (a report folder)",
    "findings.csv": "findings dapaudit wrote (a report folder)",
    "report.html": "a report dapaudit wrote",
    "report.pdf": "a report dapaudit wrote",
    "expected_findings.json": (
        "the findings `dapaudit generate` planted, beside the estate's exports/ folder "
        "(ingest that folder)"
    ),
}


def _hint_within(resolved: Path, roots: list[Path]) -> str | None:
    """The tenant the nearest folder names, looking only from the file up to the input folder
    it was found under (that one included): a folder above the input (`audit.example.com`
    holding the whole estate) is not an input's tenant folder."""
    for root in roots:
        if resolved.is_relative_to(root):
            inside = [root.name, *resolved.relative_to(root).parent.parts]
            return _folder_hint_of_dir("/".join(inside))
    return None


@functools.cache
def _role_template_ids() -> frozenset[str]:
    with open(REFERENCE_DIR / "directory_roles.csv", encoding="utf-8") as fh:
        return frozenset(row["role_template_id"].lower() for row in csv.DictReader(fh))


def parent_folders(path: Path, roots: list[Path]) -> list[str]:
    """Names of the folders from the file up to the input folder it was found under (that one
    included), nearest first: readers match them against role and group names."""
    return _parent_folders_resolved(path.resolve(), roots)


def _parent_folders_resolved(resolved: Path, roots: list[Path]) -> list[str]:
    return list(
        _parent_folders_of_dir(
            os.path.dirname(resolved.as_posix()), frozenset(r.as_posix() for r in roots)
        )
    )


@functools.lru_cache(maxsize=4096)
def _parent_folders_of_dir(folder: str, roots: frozenset[str]) -> tuple[str, ...]:
    names: list[str] = []
    while True:
        names.append(os.path.basename(folder))
        parent = os.path.dirname(folder)
        if folder in roots or parent == folder:
            return tuple(names)
        folder = parent


def ingest(
    con: duckdb.DuckDBPyConnection | OpeningConnection,
    inputs: Iterable[str | os.PathLike[str]],
    *,
    snapshot: str,
    as_of: date | None,
    kind: str | None = None,
    tenant: str | None = None,
    progress: ProgressFn | None = None,
    skip: Iterable[str | os.PathLike[str]] = (),
) -> IngestReport:
    """Ingest files or folders into `snapshot`. One transaction: all or nothing. Nothing is
    read below the folders in `skip`.

    `as_of`: the snapshot's reference date; None keeps an existing snapshot's and gives a new
    one today's. `con` may be a connection still opening (db.opening()): the files are found
    and prepared meanwhile."""
    if kind is not None and kind not in REGISTRY.kinds:
        raise DapauditError(
            f"unknown kind {kind!r}; known kinds: {', '.join(sorted(REGISTRY.kinds))}"
        )
    if tenant is not None and not (_GUID.match(tenant) or _DOMAIN.match(tenant)):
        raise DapauditError(f"--tenant {tenant!r} is neither a tenant id (GUID) nor a domain")
    pending = con if isinstance(con, OpeningConnection) else None
    if pending is not None:
        db_file = Path(pending.path)
    else:
        db_file = Path(
            con.execute(
                "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
            ).fetchone()[0]
            or ""
        )
    inputs_list = list(inputs)
    report = IngestReport(snapshot)
    remove_stale_staging()
    with tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-") as tmp:
        try:
            paths = _discover(
                inputs_list,
                exclude=[db_file, Path(f"{db_file}.wal")],
                skip=[Path(d) for d in skip],
                warnings=report.warnings,
            )
            roots = [Path(i).resolve() for i in inputs_list if Path(i).is_dir()]
            # Resolved once: a resolve per transcoded file was a syscall per path component.
            files = _prepare(
                paths,
                roots,
                Path(tmp).resolve(),
                kind,
                tenant,
                report,
                progress,
                # Helpers are forked before the database opens (and its threads start).
                fork=pending is not None and not pending.started,
                started=pending.start if pending is not None else None,
            )
        except BaseException:
            if pending is not None:
                pending.get()  # a database that cannot be opened is said first, as before
            raise
        if pending is not None:
            con = pending.get()
        if as_of is None:  # adding files to a snapshot does not move its reference date
            row = con.execute("SELECT as_of FROM snapshots WHERE snapshot = ?", [snapshot])
            as_of = (row.fetchone() or (date.today(),))[0]
        with threads_kept(con) as threads:
            _load(con, files, snapshot, as_of, report, progress, threads, kind_workers(files))
        checkpoint_small(con)
    return report


# Ingest stages transcoded copies of exports (names, sign-in names, role holders) in a private
# folder of the machine's temporary folder, named after its process, and removes it when it
# ends, Ctrl-C and SIGTERM included. A process killed outright (SIGKILL, power loss) cannot:
# the next ingest removes such a folder once its process is gone and it has not changed for
# STALE_STAGING_SECONDS (a process of the same number in another container sharing the folder
# may still be running: an hour-old folder of a running ingest is written no more).
STAGING_PREFIX = "dapaudit-staging-"
STALE_STAGING_SECONDS = 3600


def remove_stale_staging() -> None:
    """Remove this user's staging folders left by ingests that were killed."""
    if os.name != "posix":
        return
    now = datetime.now(UTC).timestamp()
    for folder in Path(tempfile.gettempdir()).glob(f"{STAGING_PREFIX}*-*"):
        pid = folder.name[len(STAGING_PREFIX) :].split("-", 1)[0]
        try:
            info = folder.lstat()
            if (
                not pid.isdigit()
                or int(pid) == os.getpid()
                or not folder.is_dir()
                or folder.is_symlink()
                or info.st_uid != os.getuid()
                or now - info.st_mtime < STALE_STAGING_SECONDS
            ):
                continue
            os.kill(int(pid), 0)  # raises when no such process
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, OverflowError):  # gone meanwhile, another user's, or no process number
            continue


def kind_workers(files: list[SourceFile]) -> int:
    """How many connections load the kinds: one per core for a small ingest of several
    kinds (every kind within ONE_THREAD_BYTES, so each would run on one core anyway), else
    one. One as well while fault checkpoints are counted: they must come in the same order
    every time."""
    sizes: dict[str, int] = {}
    for f in files:
        sizes[f.kind] = sizes.get(f.kind, 0) + f.size
    if len(sizes) < 2 or faults.active() or max(sizes.values()) > ONE_THREAD_BYTES:
        return 1
    return max(1, min(usable_cpus(), len(sizes)))


# Files per helper process that prepares them with this one (up to a helper per other core),
# and files per task. With fewer files a spawned helper costs more to start (0.3 s to 0.6 s)
# than it takes off; a forked one starts at once, yet from 400 files it took nothing off at
# 1,000 customers, with the database created alongside (1.62 s against 1.63 s of ingest) and
# copied from the template (0.15-0.21 s of preparing either way).
SHARED_PREPARE_FILES = 2_000
PREPARE_TASK_FILES = 200


def _prepare(
    paths: list[tuple[Path, Path]],
    roots: list[Path],
    tmp: Path,
    forced_kind: str | None,
    tenant: str | None,
    report: IngestReport,
    progress: ProgressFn | None,
    *,
    workers: int | None = None,
    fork: bool = False,
    started: Callable[[], None] | None = None,
) -> list[SourceFile]:
    """Hash, sniff and detect every file, in input order: one file after another, or, for
    many files on several cores, shared with helper processes (shared_work): the result and
    the first error raised are the same either way. `fork` and `started` are run_shared's."""
    if workers is None:  # a helper per SHARED_PREPARE_FILES files, at most one per other core
        workers = min(usable_cpus() - 1, len(paths) // SHARED_PREPARE_FILES)
    args = (roots, tmp, forced_kind, tenant)
    if workers <= 0:
        if started:
            started()
        prepared = []
        for n, (path, resolved) in enumerate(paths, 1):
            prepared.append(_prepare_file(n, path, resolved, *args))
            checkpoint("ingest.prepared-file")
            if progress:
                progress("detect", n, len(paths))
    else:
        step = PREPARE_TASK_FILES
        tasks = [
            (start, paths[start : start + step], *args) for start in range(0, len(paths), step)
        ]
        finished = 0

        def task_done(i: int) -> None:
            nonlocal finished
            finished += len(tasks[i][1])
            if progress:
                progress("detect", finished, len(paths))

        prepared = [
            one
            for chunk in run_shared(
                _prepare_files, tasks, workers=workers, done=task_done, fork=fork, started=started
            )
            for one in chunk
        ]
        for _ in prepared:
            checkpoint("ingest.prepared-file")
    files = []
    said = set(report.warnings)
    for sf, warnings in prepared:
        for warning in warnings:  # one of each (a folder's note comes with each of its files)
            if warning not in said:
                said.add(warning)
                report.warnings.append(warning)
        if sf is not None:  # None: a file with nothing to read (see _prepare_file)
            files.append(sf)
    return files


def _prepare_files(
    start: int,
    paths: list[tuple[Path, Path]],
    roots: list[Path],
    tmp: Path,
    forced_kind: str | None,
    tenant: str | None,
) -> list[tuple[SourceFile | None, list[str]]]:
    """_prepare_file for a run of files, the first being file number start + 1."""
    return [
        _prepare_file(start + k, path, resolved, roots, tmp, forced_kind, tenant)
        for k, (path, resolved) in enumerate(paths, 1)
    ]


def _prepare_file(
    n: int,
    path: Path,
    resolved: Path,
    roots: list[Path],
    tmp: Path,
    forced_kind: str | None,
    tenant: str | None,
) -> tuple[SourceFile | None, list[str]]:
    """File number `n`: what loading it needs (None for an empty JSON array, which has no
    kind to load as) (resolved once by _discover: display path,
    folder hint and parent folders start from it), and the warnings it gives."""
    shown = _display_resolved(resolved)
    lowered = path.name.lower()
    own = _OWN_FILES.get(lowered) or (
        "a DuckDB database"
        if lowered.endswith((".duckdb", ".duckdb.wal"))
        else "a customer security review dapaudit wrote"
        if _REVIEW_FILE.fullmatch(lowered)
        else None
    )
    if own:
        # A folder that holds dapaudit's own files besides the exports ('run .' twice, a
        # generated estate's root) failed with "malformed JSON" or "cannot tell the kind".
        raise DapauditError(f"not an export: {own}; leave it out of the inputs", file=shown)
    folder_hint = _folder_hint_resolved(resolved)
    # --tenant over a whole estate laid out by tenant put every tenant's role listing under
    # the one tenant (Contoso with 32 Global Administrators), without a word. A folder named
    # by another tenant id contradicts it for certain: refused. A folder named like a domain
    # may be the same tenant's (its default or a custom domain) or no tenant at all, which
    # only its tenant's exports could tell: said, not refused.
    inner_hint = _hint_within(resolved, roots) if tenant else None
    folder_note = []
    if inner_hint and inner_hint != tenant.lower():
        if _GUID.match(inner_hint) and _GUID.match(tenant):
            raise DapauditError(
                f"--tenant {tenant}, but the file is in the folder of tenant {inner_hint}: "
                "--tenant is for exports outside a tenant's folder; leave it out (the folder "
                "names the tenant)",
                file=shown,
            )
        folder_note.append(
            f"--tenant {tenant} is taken for the files below the folder {inner_hint}, named "
            f"like a tenant: if it is another tenant's, ingest that folder without --tenant"
        )
    head, sha256, size, not_utf8 = read_head_and_hash(path)
    info = sniff_bytes(head)
    if not_utf8 and info.encoding == "utf-8":  # an ASCII head, Windows ANSI further on
        info = replace(info, encoding="cp1252")
    if info.is_binary:
        raise DapauditError(
            "binary file, not a text export (considered: "
            + ", ".join(sorted(REGISTRY.kinds))
            + ")",
            file=shown,
        )
    if not info.head.strip():
        raise DapauditError("empty file", file=shown)
    sniff = detect.sniff(info)
    detect.check_whole_json(sniff, path, shown)
    if forced_kind:
        kind = REGISTRY.kinds[forced_kind]
    elif sniff.format == "json" and _empty_array(info.head):
        # `az ... -o json` with nothing to list: no record tells the kind. Not an error (the
        # README asks for empty results to be exported too), and not read: said instead.
        return None, [
            f"{shown}: an empty JSON array, whose kind no record tells; not read (give it "
            "with --kind, alone, to record the export as empty)"
        ]
    else:
        kind = detect.detect_kind(sniff, shown)
    read_path = resolved
    whole = head if len(head) < HEAD_BYTES else None
    content = whole_text(whole, info) if whole is not None and kind.format == "json" else None
    if needs_transcoding(info):
        read_path = tmp / f"{n:07d}{path.suffix or '.txt'}"
        if content is None:  # else stage_json writes the copy only if it needs one
            transcode(path, info, read_path, whole=whole)
    delimiter = sniff_delimiter(info.head) if kind.format == "csv" else None
    sf = SourceFile(
        path=path,
        display_path=shown,
        sha256=sha256,
        # Only a JSON file read from disk needs its head again (array or NDJSON?): the others'
        # heads, up to 64 KiB each, held hundreds of MB at 100,000 files, and went by pipe
        # from the helpers.
        text=info if kind.format == "json" and content is None else replace(info, head=""),
        kind=kind.name,
        read_path=read_path,
        small=content is not None,
        delimiter=delimiter,
        header=tuple(csv_header(info.head, delimiter)) if delimiter else (),
        context_hint=(tenant.lower() if tenant else folder_hint),
        folders=tuple(_parent_folders_resolved(resolved, roots)),
        size=size,
    )
    return sf, folder_note + detect.unserialised_warnings(sf, sniff)


def _empty_array(head: str) -> bool:
    """A JSON document that is an empty array (`[]`, `[ ]`, on lines of their own or not)."""
    text = head.strip()
    return len(text) < 64 and text[:1] == "[" and text[1:].strip() == "]"


def _load(
    con: duckdb.DuckDBPyConnection,
    files: list[SourceFile],
    snapshot: str,
    as_of: date,
    report: IngestReport,
    progress: ProgressFn | None,
    threads: int,
    workers: int,
) -> None:
    """Load the prepared files in one transaction, kind after kind, or with `workers` > 1
    the kinds alongside first (_load_alongside). `threads`: the connection's, which a kind
    with few bytes to read runs below (ONE_THREAD_BYTES) and ingest() sets back."""
    now = datetime.now(UTC).replace(tzinfo=None)
    if workers > 1:
        todo = _todo(con, files, snapshot, report)  # what is committed; nothing written yet
        _load_alongside(con, todo, snapshot, as_of, now, report, progress, workers)
        return
    with transaction(con):
        _snapshot_row(con, snapshot, as_of, now, report)
        checkpoint("ingest.snapshot-row")
        todo = _todo(con, files, snapshot, report)
        if not todo:
            return
        _file_table(con, "TEMP", "ingest_files", todo)
        # Filled by the kinds' readers (stage_json); emptied of an earlier ingest's here.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE ingest_incomplete_listings "
            f"({SHARED_TABLES['ingest_incomplete_listings']})"
        )
        order, by_kind = _kind_order(todo)
        # Before each kind, the files whose folder is named by a domain that earlier kinds'
        # tenants now name get their tenant. Counted down in Python: once every domain hint is
        # resolved (or there was none) this is no longer a statement per kind.
        unresolved = _domain_hints(todo)
        current = threads
        for n, kind_name in enumerate(order, 1):
            if unresolved:
                unresolved -= _resolve_contexts(con, snapshot)
            kind_files = by_kind[kind_name]
            wanted = 1 if sum(f.size for f in kind_files) <= ONE_THREAD_BYTES else threads
            if wanted != current:  # only on a change: each SET starts or stops a thread
                con.execute(f"SET threads = {wanted:d}")
                current = wanted
            _load_kind(con, REGISTRY.kinds[kind_name], snapshot, kind_files)
            checkpoint("ingest.loaded-kind")
            if progress:
                progress("load", n, len(order))
        if unresolved:
            _resolve_contexts(con, snapshot)
        _record_files(con, snapshot, todo, now, report)
        checkpoint("ingest.recorded-files")


def _snapshot_row(con, snapshot: str, as_of: date, now: datetime, report: IngestReport) -> None:
    existing = con.execute(
        "SELECT as_of, analyzed_at FROM snapshots WHERE snapshot = ?", [snapshot]
    ).fetchone()
    if existing is None:
        con.execute("INSERT INTO snapshots VALUES (?, ?, ?, NULL)", [snapshot, as_of, now])
    elif existing[0] != as_of:
        con.execute("UPDATE snapshots SET as_of = ? WHERE snapshot = ?", [as_of, snapshot])
        _findings_out_of_date(
            con, snapshot, f"its reference date moves from {existing[0]} to {as_of}", report
        )


def _findings_out_of_date(con, snapshot: str, why: str, report: IngestReport) -> None:
    """An analysed snapshot whose files or date change: its findings speak for what it was, so
    it counts as not analysed (reports and `findings` refuse it) until analyze runs again."""
    if con.execute(
        "UPDATE snapshots SET analyzed_at = NULL WHERE snapshot = ? AND analyzed_at IS NOT NULL "
        "RETURNING snapshot",
        [snapshot],
    ).fetchall():
        report.warnings.append(
            f"snapshot {snapshot}: {why}; the findings analysed before are out of date: run "
            f"`dapaudit analyze --snapshot {snapshot}`"
        )


def _todo(con, files: list[SourceFile], snapshot: str, report: IngestReport) -> list[SourceFile]:
    """The files to load, each given its source_file_id; the others reported as skipped."""
    # Idempotency: a file already in this snapshot (same bytes, kind and tenant context) is skipped.
    held = con.execute(
        "SELECT sha256, kind, coalesce(context_hint, ''), path FROM source_files "
        "WHERE snapshot = ? ORDER BY source_file_id",
        [snapshot],
    ).fetchall()
    done = {(r[0], r[1], r[2]) for r in held}
    # (kind, context, file name) -> a file already holding them: a re-collected export keeps
    # its name (az-role-assignment-list.json); the pages of one listing do not share one.
    earlier: dict[tuple[str, str, str], str] = {}
    for _, kind, context, path in held:
        earlier.setdefault((kind, context, os.path.basename(path).lower()), path)
    next_id = con.execute("SELECT coalesce(max(source_file_id), 0) FROM source_files").fetchone()[0]
    todo: list[SourceFile] = []
    seen_now: set[tuple[str, str, str]] = set()
    beside: list[tuple[str, str]] = []  # (new file, the earlier one of its kind and tenant)
    for f in files:
        key = (f.sha256, f.kind, f.context_hint or "")
        if key in done or key in seen_now:
            report.files.append(FileReport(f.display_path, f.kind, 0, skipped=True))
            continue
        seen_now.add(key)
        same = (f.kind, f.context_hint or "", f.path.name.lower())
        if same in earlier:
            beside.append((f.display_path, earlier[same]))
        next_id += 1
        f.source_file_id = next_id
        todo.append(f)
    if beside:
        # A re-collected export added to the snapshot of the first collection joined it: a
        # remediated finding stayed, on the old file's rows, and nothing said why.
        report.warnings.append(
            f"snapshot {snapshot}: {len(beside)} file(s) added beside exports of the same kind, "
            f"tenant and name it already holds (first: {beside[0][0]}, beside {beside[0][1]}); the "
            "rows of both count, none replaces the other. To check re-collected exports "
            "after a remediation, ingest them as a snapshot of their own (--snapshot LABEL)"
        )
    return todo


def _file_table(con, how: str, name: str, todo: list[SourceFile]) -> None:
    """Table `name` (`how`: TEMP, or "" in the work database) of the files to load."""
    hints = [f.context_hint for f in todo]
    con.execute(
        f"""CREATE OR REPLACE {how} TABLE {name} (
            source_file_id INTEGER, read_path VARCHAR, display_path VARCHAR,
            context_hint VARCHAR, context_tenant_id VARCHAR, type_line_offset INTEGER,
            folders VARCHAR[], kind VARCHAR, sha256 VARCHAR, encoding VARCHAR)"""
    )
    # One statement over parallel lists, not executemany: DuckDB runs executemany row by row,
    # which took seconds at 10,000 files.
    con.execute(
        f"""INSERT INTO {name}
        SELECT unnest($ids::INTEGER[]), unnest($read_paths::VARCHAR[]),
               unnest($shown::VARCHAR[]), unnest($hints::VARCHAR[]),
               unnest($tenant_ids::VARCHAR[]),
               unnest($offsets::INTEGER[]), unnest($folders::VARCHAR[][]),
               unnest($kinds::VARCHAR[]), unnest($sha256::VARCHAR[]),
               unnest($encodings::VARCHAR[])""",
        {
            "ids": [f.source_file_id for f in todo],
            "read_paths": [str(f.read_path) for f in todo],
            "shown": [f.display_path for f in todo],
            "hints": hints,
            # A hint that is a tenant id is its own context; a domain waits for the tenants.
            "tenant_ids": [h if h and _GUID.match(h) else None for h in hints],
            "offsets": [1 if f.text.type_line else 0 for f in todo],
            "folders": [list(f.folders) for f in todo],
            "kinds": [f.kind for f in todo],
            "sha256": [f.sha256 for f in todo],
            "encodings": [f.text.encoding for f in todo],
        },
    )


def _kind_order(todo: list[SourceFile]) -> tuple[list[str], dict[str, list[SourceFile]]]:
    """The kinds to load, in load order, and each kind's files."""
    by_kind: dict[str, list[SourceFile]] = {}
    for f in todo:
        by_kind.setdefault(f.kind, []).append(f)
    # Kinds that define tenants go first: a folder may be named by one of their domains. Each
    # kind sees the contexts resolvable from everything loaded before it (a partner folder named
    # by a GUID serves the partner's customer list, which names the customer folders' domains).
    order = sorted(
        by_kind,
        key=lambda k: (REGISTRY.kinds[k].load_order, not REGISTRY.kinds[k].defines_tenants, k),
    )
    return order, by_kind


def _domain_hints(todo: list[SourceFile]) -> int:
    """Files whose context is a folder named by a domain, still to be resolved to a tenant."""
    return sum(1 for f in todo if f.context_hint and not _GUID.match(f.context_hint))


def _load_alongside(
    con: duckdb.DuckDBPyConnection,
    todo: list[SourceFile],
    snapshot: str,
    as_of: date,
    now: datetime,
    report: IngestReport,
    progress: ProgressFn | None,
    workers: int,
) -> None:
    """_load of the files `todo`, their kinds loaded on `workers` connections into the work
    database (see alongside), then copied into the database in one transaction."""
    work = alongside.WORK_DB
    if not todo:
        with transaction(con):
            _snapshot_row(con, snapshot, as_of, now, report)
        return
    order, by_kind = _kind_order(todo)
    kinds = [REGISTRY.kinds[k] for k in order]
    datasets = sorted({d for k in kinds for d in k.datasets})
    # One an earlier ingest on this connection could not detach is replaced, not an error.
    con.execute(f"DETACH DATABASE IF EXISTS {work}")
    con.execute(f"ATTACH ':memory:' AS {work}")
    try:
        database = quote_ident(con.execute("SELECT current_database()").fetchone()[0])
        for name in datasets:  # the database's own definition: same columns, same constraints
            ddl = con.execute(
                "SELECT sql FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND table_name = ?",
                [name],
            ).fetchone()[0]
            head = f"CREATE TABLE {name}("
            if ddl.startswith(head):
                con.execute(f"CREATE TABLE {work}.{name}({ddl[len(head) :]}")
            else:  # not written as expected: the same columns at least
                con.execute(f"CREATE TABLE {work}.{name} AS FROM {name} LIMIT 0")
        for name, columns in SHARED_TABLES.items():
            con.execute(f"CREATE TABLE {work}.{name} ({columns})")
        _file_table(con, "", f"{work}.ingest_files", todo)
        # What the kinds read of this ingest: the database's rows and the work database's.
        read = set(datasets) if any(k.reads is None for k in kinds) else set()
        read |= {d for k in kinds for d in (k.reads or ()) if d in datasets}
        views = [f"CREATE TEMP VIEW ingest_files AS SELECT * FROM {work}.ingest_files"] + [
            f"CREATE TEMP VIEW {name} AS SELECT * FROM {database}.main.{name} "
            f"UNION ALL SELECT * FROM {work}.{name}"
            for name in sorted(read)
        ]
        tenants = (
            f"(SELECT * FROM {database}.main.tenants UNION ALL SELECT * FROM {work}.tenants)"
            if "tenants" in datasets
            else f"{database}.main.tenants"
        )
        unresolved = _domain_hints(todo)
        resolved_after: frozenset[int] | None = None  # the kinds finished at the last resolving

        def setup(cur: duckdb.DuckDBPyConnection) -> None:
            for sql in views:
                cur.execute(sql)

        def before(i: int, finished: frozenset[int]) -> None:
            # As loading kind after kind does before each kind. Only tenants change contexts,
            # and a kind that fills tenants runs with no other (alongside.dependencies): once
            # one has finished, nothing runs while the contexts change.
            nonlocal unresolved, resolved_after
            if not unresolved:
                return
            if resolved_after is None or any(
                alongside.TENANTS in kinds[j].datasets for j in finished - resolved_after
            ):
                unresolved -= _resolve_contexts(
                    con, snapshot, files=f"{work}.ingest_files", tenants=tenants
                )
                resolved_after = finished

        def load(cur: duckdb.DuckDBPyConnection, i: int) -> None:
            _load_kind(cur, kinds[i], snapshot, by_kind[order[i]], target=f"{work}.")

        def done(n: int) -> None:
            if progress:
                progress("load", n, len(order))

        # Every kind here is within ONE_THREAD_BYTES: one DuckDB thread, a connection per core.
        con.execute("SET threads = 1")
        jobs.run(
            con,
            alongside.dependencies(kinds),
            load,
            workers=workers,
            setup=setup,
            before=before,
            done=done,
        )
        if unresolved:
            _resolve_contexts(con, snapshot, files=f"{work}.ingest_files", tenants=tenants)
        with transaction(con):
            _snapshot_row(con, snapshot, as_of, now, report)
            for name in datasets:
                con.execute(f"INSERT INTO {name} SELECT * FROM {work}.{name}")
            for name in ("ingest_files", "ingest_incomplete_listings"):
                con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {work}.{name}")
            _record_files(con, snapshot, todo, now, report)
    finally:
        with contextlib.suppress(duckdb.Error):  # never in the way of an error going out
            con.execute(f"DETACH {work}")


# A kind whose files hold at most this many bytes is loaded on one DuckDB thread. DuckDB splits
# a scan between its threads by row group (122,880 rows), so a kind that stages fewer rows runs
# its checks and inserts on one core anyway, and the second thread only handed work over.
# Measured: at 10,000 customers (the largest kind 24.5 MB) one thread was as fast or faster
# for every kind; at 100,000 the 245 MB Azure listing took 10.0 s on one thread, 7.0 s on two.
ONE_THREAD_BYTES = 32 * 1024 * 1024


def _load_kind(con, kind, snapshot: str, files: list[SourceFile], target: str = "") -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE kind_files AS SELECT * FROM ingest_files "
        "WHERE source_file_id IN (SELECT unnest(?::INTEGER[]))",
        [[f.source_file_id for f in files]],
    )
    batch = Batch(con=con, snapshot=snapshot, files=files, file_table="kind_files", target=target)
    kind.load(batch)
    # Checks a reader left pending (it inserted with its own SQL) still run: in the same
    # transaction, so a failure leaves the database unchanged.
    batch.check()


def _resolve_contexts(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    files: str = "ingest_files",
    tenants: str = "tenants",
) -> int:
    """Give each file whose context hint is a domain the tenant that names it, once the
    snapshot's tenants do; how many files got one. (A hint that is a tenant id is its own
    context from the start.)"""
    return con.execute(
        f"""UPDATE {files} AS i SET context_tenant_id = t.tenant_id
        FROM (SELECT lower(default_domain) AS domain, min(tenant_id) AS tenant_id
              FROM {tenants} WHERE snapshot = ? AND default_domain IS NOT NULL GROUP BY ALL) t
        WHERE i.context_tenant_id IS NULL AND i.context_hint = t.domain""",
        [snapshot],
    ).fetchone()[0]


# Incomplete Graph listings said one by one, at most; the others in one warning.
INCOMPLETE_LISTINGS_SAID = 10


def _incomplete_listings(con, report: IngestReport) -> str | None:
    """Warn of each Graph listing of this ingest that lacks its last page (the readers noted
    them in `ingest_incomplete_listings`), and return the TEMP table of the files that give
    no coverage because of them (None: there is none).

    Its rows still count (they are evidence), but such a listing does not cover its tenant:
    a finding of the previous snapshot judged from what was on the missing pages would read
    as resolved. Nor does any other export of its kind for that tenant: a tenant's
    role-member or access-assignment export is a listing per role, group or relationship,
    and one of them cut short leaves the whole export incomplete."""
    if con.execute("SELECT 1 FROM ingest_incomplete_listings LIMIT 1").fetchone() is None:
        return None
    con.execute(
        """CREATE OR REPLACE TEMP TABLE ingest_uncovering_files AS
        WITH listed AS (
            SELECT DISTINCT i.source_file_id, i.kind, i.context_tenant_id
            FROM ingest_incomplete_listings l JOIN ingest_files i USING (source_file_id))
        SELECT source_file_id FROM listed
        UNION
        SELECT i.source_file_id FROM ingest_files i
        JOIN listed l ON l.kind = i.kind AND l.context_tenant_id = i.context_tenant_id"""
    )
    listings = con.execute(
        """SELECT i.kind, coalesce(i.context_tenant_id, i.context_hint), l.listing,
                  arg_min(i.display_path, i.source_file_id), count(DISTINCT i.source_file_id)
        FROM ingest_incomplete_listings l JOIN ingest_files i USING (source_file_id)
        GROUP BY ALL ORDER BY min(i.source_file_id)"""
    ).fetchall()
    for kind, tenant, listing, first, files in listings[:INCOMPLETE_LISTINGS_SAID]:
        which = f"{kind}, tenant {tenant or '(none)'}" + (f", {listing}" if listing else "")
        spread = f" (in {files} files)" if files > 1 else ""
        report.warnings.append(
            f"{first}: the last page of this Graph listing ({which}) is missing: every page "
            f"of it{spread} carries @odata.nextLink, so the listing is incomplete. Its rows "
            f"are read, but no {kind} export counts as covering the tenant (a finding of an "
            "earlier snapshot that it no longer shows is not assessed, not resolved); export "
            "it again, following @odata.nextLink to the last page (-All in PowerShell)"
        )
    if len(listings) > INCOMPLETE_LISTINGS_SAID:
        report.warnings.append(
            f"{len(listings) - INCOMPLETE_LISTINGS_SAID} more Graph listing(s) whose last page "
            f"is missing (first: {listings[INCOMPLETE_LISTINGS_SAID][3]}): each is incomplete "
            "and does not count as its tenant's export; export them again, following "
            "@odata.nextLink to the last page"
        )
    return "ingest_uncovering_files"


def _record_files(con, snapshot: str, files: list[SourceFile], now: datetime, report) -> None:
    """Coverage (which tenants each dataset speaks for) and a source_files row per file, with
    the rows it gave. Counted and written in SQL from ingest_files: handing every file's
    fields to DuckDB a second time as Python lists cost a second at 100,000 files."""
    if files:
        _findings_out_of_date(con, snapshot, f"{len(files)} new file(s) ingested into it", report)
    kinds = {f.kind for f in files}
    datasets = sorted({d for k in kinds for d in REGISTRY.kinds[k].datasets})
    # A kind may fill no dataset (a directory role listing only names roles).
    rows = [f"SELECT source_file_id FROM {d} WHERE snapshot = $snapshot" for d in datasets]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ingest_file_rows AS "
        "SELECT source_file_id, count(*) AS rows FROM ("
        + (" UNION ALL ".join(rows) or "SELECT NULL::INTEGER AS source_file_id WHERE false")
        + ") WHERE source_file_id IN (SELECT source_file_id FROM ingest_files) GROUP BY ALL",
        {"snapshot": snapshot} if rows else {},
    )
    uncovering = _incomplete_listings(con, report)
    uncovered = (
        f" AND source_file_id NOT IN (SELECT source_file_id FROM {uncovering})"
        if uncovering
        else ""
    )
    # Coverage: the tenants each export speaks for, even when it holds no rows for them; one
    # statement for every dataset (a statement each cost more to plan than to run).
    coverage = []
    for dataset in datasets:
        column = DATASET_TENANT_COLUMN.get(dataset)
        name = sql_string(dataset)
        if column:
            coverage.append(
                f"SELECT {name} AS dataset, {column} AS tenant_id, source_file_id FROM {dataset} "
                "WHERE snapshot = $snapshot "
                "AND source_file_id IN (SELECT source_file_id FROM ingest_files)"
            )
        writers = [k for k in map(REGISTRY.kinds.get, sorted(kinds)) if dataset in k.datasets]
        whole = ", ".join(sql_string(k.name) for k in writers if not k.one_dataset_per_file)
        per_file = ", ".join(sql_string(k.name) for k in writers if k.one_dataset_per_file)
        # A member listing of a customer's role covered partner_group_members for the
        # customer too (and a partner group's listing the partner's role listing): of such a
        # kind, a file with rows covers the dataset of its rows (above), an empty one both.
        which = " OR ".join(
            ([f"kind IN ({whole})"] if whole else [])
            + (
                [
                    f"(kind IN ({per_file}) AND source_file_id NOT IN "
                    "(SELECT source_file_id FROM ingest_file_rows WHERE rows > 0))"
                ]
                if per_file
                else []
            )
        )
        coverage.append(
            f"SELECT {name} AS dataset, context_tenant_id AS tenant_id, source_file_id "
            f"FROM ingest_files WHERE context_tenant_id IS NOT NULL AND ({which})"
        )
    if datasets:
        con.execute(
            f"""INSERT INTO export_coverage
            SELECT DISTINCT $snapshot, tenant_id, dataset, source_file_id
            FROM ({" UNION ALL ".join(coverage)}) WHERE tenant_id IS NOT NULL{uncovered}""",
            {"snapshot": snapshot},
        )
    con.execute(
        """INSERT INTO source_files
        SELECT $snapshot, i.source_file_id, i.display_path, i.kind, i.context_hint,
               i.context_tenant_id, coalesce(r.rows, 0), i.sha256, i.encoding, $now::TIMESTAMP
        FROM ingest_files i LEFT JOIN ingest_file_rows r USING (source_file_id)
        ORDER BY i.source_file_id""",
        {"snapshot": snapshot, "now": now},
    )
    counts = dict(con.execute("SELECT source_file_id, rows FROM ingest_file_rows").fetchall())
    for f in files:
        report.files.append(
            FileReport(f.display_path, f.kind, counts.get(f.source_file_id, 0), False)
        )
