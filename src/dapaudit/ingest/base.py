"""What every reader shares: the kind registry, the batch of files a reader loads, and the
set-based staging and validation helpers.

A reader loads *all* files of its kind in one DuckDB statement (never a Python loop over
rows), into a TEMP staging table; it then inserts canonical rows with one INSERT ... SELECT
and states its checks as SQL that finds the first offending record.
"""

from __future__ import annotations

import csv
import difflib
import functools
import json
import mmap
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from ..db import quote_ident, threads_kept
from ..errors import DapauditError
from ..interrupt import track
from .text import TextInfo, json_keys, normalise_header, sniff_text, transcode, whole_text

# Resource limits for untrusted input (see SECURITY.md). A CSV line longer than this is
# refused: no export has a multi-megabyte cell, and DuckDB buffers a whole line.
MAX_LINE_BYTES_ENV = "DAPAUDIT_MAX_LINE_BYTES"
MAX_LINE_BYTES = 8 * 1024 * 1024
# A single JSON document (a Graph page, an `az` array) is parsed whole, in memory, at about
# twelve times its size; larger ones are refused with a message. NDJSON is not affected
# (each line is its own object and must only stay below this size).
MAX_JSON_BYTES_ENV = "DAPAUDIT_MAX_JSON_BYTES"
MAX_JSON_BYTES = 256 * 1024 * 1024


def _limit(env: str, default: int) -> int:
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1024:
        raise DapauditError(f"${env} must be a number of bytes (at least 1024), not {raw!r}")
    return int(raw)


GUID_RE = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


@dataclass
class SourceFile:
    """One input file on its way into the database."""

    path: Path  # as found on disk
    display_path: str  # as recorded and shown in messages
    sha256: str
    text: TextInfo
    kind: str
    read_path: Path  # what DuckDB reads: the file itself, or its UTF-8 copy
    # JSON only: the file fitted in the detection head and decodes (stage_json reads it again
    # and hands its text to DuckDB; a UTF-8 copy at read_path is written only if it must be read).
    small: bool = False
    delimiter: str | None = None
    header: tuple[str, ...] = ()  # CSV column names as written in the file
    context_hint: str | None = None  # --tenant, or the nearest GUID/domain-named folder
    context_tenant_id: str | None = None  # the hint resolved to a tenant id
    source_file_id: int = 0
    folders: tuple[str, ...] = ()  # parent folder names below the input, nearest first
    size: int = 0  # bytes on disk


@dataclass(frozen=True)
class Sniff:
    """What detection sees of a file: its CSV header or JSON keys."""

    format: Literal["csv", "json", "unknown"]
    columns: frozenset[str]  # normalise_header() of CSV columns
    head: str
    # JSON only: the top-level keys of the first record, and of the document around it
    # (a Graph page's @odata.context), when the head holds a whole first record.
    record: dict | None = field(default=None, compare=False)
    doc_keys: frozenset[str] = frozenset()
    odata_context: str = ""

    def record_has(self, *names: str) -> bool:
        return self.record is not None and all(n in self.record for n in names)

    def record_type(self) -> str:
        """The first record's @odata.type without the namespace, lower-case ('' when none)."""
        if self.record is None:
            return ""
        value = str(self.record.get("@odata.type") or "")
        return value.rsplit(".", 1)[-1].lower()

    def has_columns(self, *names: str) -> bool:
        return all(normalise_header(n) in self.columns for n in names)

    @functools.cached_property
    def json_keys(self) -> frozenset[str]:
        """Keys seen anywhere in the head of a JSON file. Computed on first use: a regular
        expression over the whole head of every file cost a second at 10,000 files, and the
        built-in kinds decide from the first record instead."""
        return frozenset(json_keys(self.head)) if self.format == "json" else frozenset()

    def has_keys(self, *names: str) -> bool:
        return all(n in self.json_keys for n in names)


@dataclass
class Batch:
    """All files of one kind in one ingest, and where their rows go."""

    con: duckdb.DuckDBPyConnection
    snapshot: str
    files: list[SourceFile]
    file_table: str = (
        "ingest_files"  # TEMP table: source_file_id, read_path, display_path, context_tenant_id
    )
    stages: list[StagedTable] = field(default_factory=list)  # to run their pending checks
    # Where the rows go: "" for the database's own tables, or "<database>." for the work
    # database of kinds loaded alongside (ingest.alongside), which also holds SHARED_TABLES.
    target: str = ""

    def __post_init__(self) -> None:
        # Readers get a connection that runs pending checks before any statement of theirs,
        # so a reader's own INSERT never sees a row its checks would have refused.
        if not isinstance(self.con, ChecksFirst):
            self.con = ChecksFirst(self.con, self)

    @property
    def raw(self) -> duckdb.DuckDBPyConnection:
        """The connection itself, for the staging helpers (no check flush)."""
        return self.con.raw if isinstance(self.con, ChecksFirst) else self.con

    def check(self) -> None:
        """Run every staged table's pending checks (the pipeline calls this after load)."""
        for stage in self.stages:
            stage.check()

    def hoist(self, sql: str) -> str:
        """`sql` with the JSON fields it reads from each staged table parsed once per row."""
        for stage in self.stages:
            sql = hoist_json(sql, stage.name)
        return sql

    def shared_table(self, name: str) -> str:
        """The table `name` of SHARED_TABLES, which one kind fills for a later one: a TEMP
        table of the connection (created when missing), or the work database's table when
        kinds load alongside on connections of their own."""
        if self.target:
            return f"{self.target}{name}"
        self.raw.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({SHARED_TABLES[name]})")
        return name


# Tables one kind fills and a later kind of the same ingest reads (see Kind.shares/reads), or
# ingest itself once every kind is loaded: name -> columns.
SHARED_TABLES = {
    "ingest_directory_roles": (
        "source_file_id INTEGER, role_object_id VARCHAR, role_template_id VARCHAR"
    ),
    # Graph listings no page of which ends the @odata.nextLink chain (stage_json): each file
    # holding a page of one, with the listing's name within its kind and tenant. Ingest warns
    # of them and counts no export of their kind and tenant as coverage.
    "ingest_incomplete_listings": "source_file_id INTEGER, listing VARCHAR",
}


class ChecksFirst:
    """A DuckDB connection that runs a batch's pending checks before each statement."""

    def __init__(self, con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
        self.raw = con
        self._batch = batch

    def execute(self, sql, *args, **kwargs):
        self._batch.check()
        return self.raw.execute(self._batch.hoist(sql), *args, **kwargs)

    def executemany(self, *args, **kwargs):
        self._batch.check()
        return self.raw.executemany(*args, **kwargs)

    def sql(self, query, *args, **kwargs):
        self._batch.check()
        return self.raw.sql(self._batch.hoist(query), *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.raw, name)

    def by_read_path(self) -> dict[str, SourceFile]:
        return {str(f.read_path): f for f in self.files}


@dataclass(frozen=True)
class Kind:
    """An export kind dapaudit reads."""

    name: str
    description: str
    format: Literal["csv", "json"]
    datasets: tuple[str, ...]  # canonical tables it fills
    detect: Callable[[Sniff], bool]
    load: Callable[[Batch], None]
    produces: str = ""  # the command that produces this export (README)
    defines_tenants: bool = False  # loaded first: folder names may be its domains
    priority: int = 0  # when two kinds match, the higher wins
    # Kinds load in this order (then tenant-defining first, then by name): a kind that reads
    # what another loads in the same ingest (subscription -> tenant, group names) comes later.
    load_order: int = 50
    # What else of this ingest the reader reads, besides its files and their tenant contexts:
    # datasets and SHARED_TABLES filled by kinds loaded before it; None for anything loaded
    # before it. Kinds loaded alongside (ingest.alongside) wait only for what they read.
    reads: tuple[str, ...] | None = None
    shares: tuple[str, ...] = ()  # SHARED_TABLES it fills for later kinds
    # For a file no kind detects: how close it comes to this kind, as (columns in common,
    # what to do about the rest), or None when not close. Gets the CSV header as written. A
    # layout of dapaudit's own says it, so that a misspelt column is named.
    near_miss: Callable[[list[str]], tuple[int, str] | None] | None = None
    # Each file fills one of `datasets`, which only its rows tell (a member listing is of a
    # role or of a group): its tenant context covers the datasets it wrote rows to, and all
    # of them only when it wrote none.
    one_dataset_per_file: bool = False


@dataclass
class Registry:
    kinds: dict[str, Kind] = field(default_factory=dict)

    def add(self, kind: Kind) -> Kind:
        if kind.name in self.kinds:
            raise ValueError(f"kind {kind.name} registered twice")
        self.kinds[kind.name] = kind
        return kind

    def detect(self, sniff: Sniff) -> list[Kind]:
        found = [k for k in self.kinds.values() if k.format == sniff.format and k.detect(sniff)]
        if not found:
            return []
        top = max(k.priority for k in found)
        return sorted((k for k in found if k.priority == top), key=lambda k: k.name)


REGISTRY = Registry()


# ---------------------------------------------------------------- staging


def stage_csv(batch: Batch, name: str) -> StagedTable:
    """Read every CSV file of the batch into TEMP table `name`, all columns VARCHAR.

    Files are read with the columns of their own header (no type sniffing, strict quoting),
    grouped by delimiter and header so a folder of like files is one read. Adds
    source_file_id, source_record (1-based data row) and line (physical line in the original
    file, counting the header and any #TYPE line).
    """
    con = batch.con
    groups: dict[tuple[str, tuple[str, ...]], list[SourceFile]] = {}
    for f in batch.files:
        groups.setdefault((f.delimiter or ",", csv_columns(f)), []).append(f)
    union: dict[str, str] = {}
    for _, header in groups:
        for column in header:
            union.setdefault(column.lower(), column)
    con.execute(f"DROP TABLE IF EXISTS {name}_raw")
    con.execute(
        f"CREATE TEMP TABLE {name}_raw ("
        + ", ".join(f"{quote_ident(c)} VARCHAR" for c in union.values())
        + ", filename VARCHAR)"
    )
    max_line = _limit(MAX_LINE_BYTES_ENV, MAX_LINE_BYTES)
    for (delim, header), files in sorted(groups.items()):
        columns = "{" + ", ".join(f"{sql_string(c)}: 'VARCHAR'" for c in header) + "}"
        try:
            con.execute(
                f"""INSERT INTO {name}_raw BY NAME
                SELECT * FROM read_csv(?, delim = ?, header = true, auto_detect = false,
                    columns = {columns}, quote = '"', escape = '"', strict_mode = true,
                    null_padding = false, filename = true, max_line_size = {max_line:d})""",
                [[str(f.read_path) for f in files], delim],
            )
        except duckdb.Error as exc:
            raise _csv_error(exc, files) from None
    con.execute(f"DROP TABLE IF EXISTS {name}")
    # Rows keep file order and line order (insertion order is preserved), so a record's
    # number is its rowid minus its file's first rowid: no window sort over every row.
    con.execute(
        f"""CREATE TEMP TABLE {name} AS
        WITH first AS (SELECT filename, min(rowid) AS first_rowid FROM {name}_raw GROUP BY ALL)
        SELECT f.source_file_id,
               r.rowid - first.first_rowid + 1 AS source_record,
               r.rowid - first.first_rowid + 2 + f.type_line_offset AS line,
               r.* EXCLUDE (filename)
        FROM {name}_raw r JOIN first USING (filename)
        JOIN {batch.file_table} f ON f.read_path = r.filename"""
    )
    con.execute(f"DROP TABLE {name}_raw")
    return StagedTable(batch, name, record_label="line", record_column="line")


def csv_line_of(f: SourceFile, line: int) -> int:
    """The line of `f` on which the CSV record numbered `line` starts. Staged records are
    numbered by position (header line + n), but DuckDB skips blank lines, and a quoted field
    may span lines: from the file itself, on the way to an error message only."""
    offset = 1 if f.text.type_line else 0  # read_path has the #TYPE line dropped
    wanted = line - 1 - offset
    if wanted < 1:
        return line
    try:
        with open(f.read_path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=f.delimiter or ",")
            next(reader, None)  # the header
            n = 0
            while True:
                before = reader.line_num
                row = next(reader, None)
                if row is None:
                    return line
                if row:
                    n += 1
                    if n == wanted:
                        return before + 1 + offset
    except (OSError, UnicodeDecodeError, csv.Error):
        return line


def csv_columns(f: SourceFile) -> tuple[str, ...]:
    """The file's header as DuckDB column names: blanks named, repeats refused."""
    header_line = 1 + (1 if f.text.type_line else 0)
    if not any(c.strip() for c in f.header):
        raise DapauditError("no CSV header line", file=f.display_path, record=header_line)
    seen: set[str] = set()
    out = []
    for n, raw in enumerate(f.header, 1):
        column = raw.strip() or f"column{n}"
        if column.lower() in seen:
            raise DapauditError(
                "column appears twice in the header",
                file=f.display_path,
                record=1 + (1 if f.text.type_line else 0),
                field=column,
            )
        seen.add(column.lower())
        out.append(column)
    return tuple(out)


def header_line(f: SourceFile) -> int:
    """The line of `f` its CSV header is on (after a #TYPE line, when there is one)."""
    return 1 + (1 if f.text.type_line else 0)


def require_header_columns(batch: Batch, required: dict[str, tuple[str, ...]]) -> None:
    """Refuse a file whose header lacks a required column (`required`: the column as named
    in messages -> its accepted spellings). Said of the column, at the header line: read
    on, every record would report a missing value, of a column the file never had."""
    for f in batch.files:
        have = {normalise_header(c) for c in f.header}
        for column, aliases in required.items():
            if not any(normalise_header(a) in have for a in aliases):
                raise DapauditError(
                    "required column is missing from the header",
                    file=f.display_path,
                    record=header_line(f),
                    field=column,
                )


def misspelt_columns(header: Sequence[str], known: Sequence[str]) -> list[tuple[str, str]]:
    """(column as written, the column of `known` it misspells) for each header column that
    `known` lacks and that is a near miss of a column of `known` the header lacks, in header
    order; each column of `known` is guessed once."""
    by_key = {normalise_header(k): k for k in known}
    present = {normalise_header(c) for c in header}
    missing = [k for k in by_key if k not in present]
    found = []
    for column in header:
        key = normalise_header(column)
        if not key or key in by_key:
            continue
        guess = difflib.get_close_matches(key, missing, n=1)
        if guess:
            missing.remove(guess[0])
            found.append((column.strip(), by_key[guess[0]]))
    return found


def refuse_unknown_columns(batch: Batch, known: Sequence[str], kind: str) -> None:
    """Refuse a header column that `kind` does not know and that is a near miss of a column
    of it the header lacks, naming that column.

    For a layout of dapaudit's own (the canonical CSV): a misspelt `dap_enabeld` was read as
    if the column were absent, its values dropped and the rules that need them silent, with
    exit code 0. Other columns are left unread as before (a `customer_name` or `notes` column
    kept beside the layout's, or the nameless column a trailing delimiter gives in Excel)."""
    for f in batch.files:
        for name, guess in misspelt_columns(f.header, known)[:1]:
            raise DapauditError(
                f"not a column of {kind} (did you mean {guess!r}?)",
                file=f.display_path,
                record=header_line(f),
                field=name if len(name) <= 80 else name[:77] + "...",
            )


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _csv_error(exc: duckdb.Error, files: Sequence[SourceFile]) -> DapauditError:
    text = str(exc)
    culprit = next((f for f in files if f"file = {f.read_path}" in text), None)
    if culprit is None:
        culprit = next((f for f in files if str(f.read_path) in text), None)
    if culprit is None and len(files) == 1:
        culprit = files[0]
    line = re.search(r"CSV Error on Line: (\d+)", text)
    problem = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    explained = re.search(r"^([A-Z][a-z][^\n]* found)\.?\s*$", text, re.MULTILINE)
    too_long = re.search(r"Maximum line size of (\d+) bytes exceeded\. Actual Size:\s*(\d+)", text)
    if problem:
        what = f"expected {problem.group(1)} fields as in the header, found {problem.group(2)}"
    elif too_long:
        what = (
            f"the line is {int(too_long.group(2)):,} bytes long, over the limit of "
            f"{int(too_long.group(1)):,} bytes (${MAX_LINE_BYTES_ENV})"
        )
    elif explained:
        # e.g. "Value with unterminated quote found": a row written with another delimiter.
        what = explained.group(1).strip().rstrip(".").lower() + " (is the delimiter the header's?)"
    else:
        # DuckDB's reason follows the 'CSV Error on Line' line; never echo the raw line.
        reasons = [
            ln.strip()
            for ln in text.splitlines()
            if ln.strip() and not ln.startswith(("Original Line", "Invalid Input Error"))
        ]
        what = reasons[0][:200] if reasons else "unreadable CSV"
    for f in [culprit] if culprit else files:
        mixed = _mixed_line_endings(f.read_path)
        if mixed is not None:  # DuckDB's state-machine message says nothing of the cause
            at, first, this = mixed
            return DapauditError(
                f"mixed line endings: this line ends in {this}, the lines before it in "
                f"{first}; save the file with one kind of line ending",
                file=f.display_path,
                record=at + (1 if f.text.type_line else 0),
            )
    shown = culprit.display_path if culprit else ", ".join(f.display_path for f in files)
    record = None
    if line:
        record = int(line.group(1)) + (1 if culprit and culprit.text.type_line else 0)
    return DapauditError(f"malformed CSV: {what}", file=shown, record=record)


_LINE_ENDING_OR_QUOTE = re.compile(rb'"|\r\n|\n')
_ENDING_NAME = {b"\r\n": "CRLF (Windows)", b"\n": "LF (Unix)"}


def _mixed_line_endings(path: Path) -> tuple[int, str, str] | None:
    """The first line of a CSV file that ends unlike the first line, outside quoted values
    (where either is data), as (line, the first line's ending, its ending); None when every
    line ends alike. DuckDB takes the first ending as the file's. Run only on a CSV error."""
    first = None
    line = 1
    quoted = False
    if path.stat().st_size == 0:  # mmap refuses an empty file
        return None
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for m in _LINE_ENDING_OR_QUOTE.finditer(data):
            token = m.group()
            if token == b'"':  # an escaped quote ("") toggles twice
                quoted = not quoted
                continue
            if not quoted:
                if first is None:
                    first = token
                elif token != first:
                    return line, _ENDING_NAME[first], _ENDING_NAME[token]
            line += 1
    return None


def stage_json(batch: Batch, name: str, listing: str = "''") -> StagedTable:
    """Read every JSON file of the batch into TEMP table `name`
    (source_file_id, source_record, rec).

    Accepts a Graph collection (`{"value": [...]}`, one page per file or pages concatenated),
    a bare array (`az ... -o json`), NDJSON, or a single object. source_record is the 1-based
    position of the record in its file.

    Graph pages whose listing lacks its last page are noted on the way (see
    _note_incomplete_listings). `listing`: SQL naming the listing a page belongs to within
    its kind and tenant, over the page `s` (source_file_id, doc_context, doc_next_link);
    NULL when the page cannot tell. The default: one listing per kind and tenant.
    """
    con = batch.con
    limit = _limit(MAX_JSON_BYTES_ENV, MAX_JSON_BYTES)
    con.execute(f"DROP TABLE IF EXISTS {name}_docs")
    con.execute(f"CREATE TEMP TABLE {name}_docs (source_file_id INTEGER, doc_no BIGINT, json JSON)")
    # A file that fitted in the detection head (most exports: a page per tenant) is read again
    # here and handed over as text: DuckDB opening 10,000 small files again, and writing a
    # UTF-8 copy of each UTF-16 one, cost more than parsing them. The text goes over in chunks
    # of at most TEXT_CHUNK characters, so Python never holds more than one chunk of the
    # estate. Text that is one valid JSON document is that document; anything else (NDJSON,
    # pages concatenated, malformed) is read from its file as before, so it splits and fails
    # exactly as before. 4 bytes per character bounds the UTF-8 size the limit is about.
    from_disk: list[SourceFile] = [f for f in batch.files if not f.small]
    chunk: list[tuple[SourceFile, str]] = []
    held = 0
    small = [f for f in batch.files if f.small]
    for n, f in enumerate(small, 1):
        text = whole_text(f.path.read_bytes(), f.text)
        if text is None or len(text) * 4 > limit:
            from_disk.append(f)
        else:
            chunk.append((f, text))
            held += len(text)
        if chunk and (held >= TEXT_CHUNK or n == len(small)):
            from_disk.extend(_insert_texts(con, name, chunk))
            chunk, held = [], 0
    from_disk.sort(key=lambda f: f.source_file_id)
    for f in from_disk:
        if f.small and not f.text.head:  # dropped after detection; needed to read from disk
            f.text = sniff_text(f.path)
        if f.small and not f.read_path.exists():  # a UTF-8 copy not written while detecting
            transcode(f.path, f.text, f.read_path)
        _check_json_size(f, limit)
    if from_disk:
        _read_json_files(batch, name, from_disk, limit)
    _note_incomplete_listings(batch, f"{name}_docs", listing)
    con.execute(f"DROP TABLE IF EXISTS {name}")
    con.execute(
        f"""CREATE TEMP TABLE {name} AS
        WITH docs AS (
            SELECT f.source_file_id, d.doc_no,
                   json_extract_string(d.json, '$."@odata.context"') AS doc_context,
                   json_extract_string(d.json, '$."@odata.nextLink"') AS doc_next_link,
                   CASE WHEN json_type(d.json) = 'ARRAY' THEN json_extract(d.json, '$[*]')
                        WHEN json_type(d.json, '$.value') = 'ARRAY'
                             THEN json_extract(d.json, '$.value[*]')
                        ELSE [d.json] END AS recs
            FROM {name}_docs d JOIN {batch.file_table} f USING (source_file_id)
        ),
        flat AS (
            SELECT source_file_id, doc_no, doc_context, doc_next_link, unnest(recs) AS rec,
                   generate_subscripts(recs, 1) AS idx
            FROM docs
        )
        SELECT source_file_id,
               row_number() OVER (PARTITION BY source_file_id ORDER BY doc_no, idx)
                   AS source_record,
               rec, doc_context, doc_next_link
        FROM flat"""
    )
    con.execute(f"DROP TABLE {name}_docs")
    bad = con.execute(
        f"""SELECT f.display_path, s.source_record, json_type(s.rec)
        FROM {name} s JOIN {batch.file_table} f USING (source_file_id)
        WHERE json_type(s.rec) <> 'OBJECT' ORDER BY f.source_file_id, s.source_record LIMIT 1"""
    ).fetchone()
    if bad:
        raise DapauditError(
            f"expected a JSON object, found {bad[2].lower()}",
            file=bad[0],
            record=bad[1],
            record_label="record",
        )
    return StagedTable(batch, name, record_label="record", record_column="source_record")


def _note_incomplete_listings(batch: Batch, docs: str, listing: str) -> None:
    """Add the files of each Graph listing that lacks its last page to the shared table
    `ingest_incomplete_listings`.

    Graph returns a collection in pages, each but the last carrying @odata.nextLink. A script
    that saves the first page only, or stops early, leaves pages that all carry one: read as
    the whole listing, what was on the missing pages (a Global Administrator) reads as
    removed. The pages of one listing are the Graph pages (documents with a `value` array;
    bare arrays and NDJSON are no pages) of the kind's files with the same tenant context
    and `listing`, whether one per file or concatenated. A last page whose listing cannot be
    told may end any listing of its tenant, so it counts as ending each of them. Set-based:
    the batch's pages are grouped in one statement, never looped over."""
    # Most exports carry no @odata.nextLink at all, which a search of their text tells without
    # parsing them (an array, `az`'s listing, is passed over at its first character): pages
    # grouped for nothing cost 5 to 25 ms a kind at 1,000 customers.
    found = batch.con.execute(
        f"""SELECT 1 FROM {docs}
        WHERE regexp_matches(left(json::VARCHAR, 1024), '^\\s*\\{{')
          AND contains(json::VARCHAR, '"@odata.nextLink"')
        LIMIT 1"""
    ).fetchone()
    if found is None:
        return
    incomplete = batch.shared_table("ingest_incomplete_listings")
    batch.con.execute(
        f"""INSERT INTO {incomplete}
        WITH pages AS (
            SELECT s.source_file_id, coalesce(f.context_tenant_id, f.context_hint) AS tenant,
                   ({listing}) AS listing, s.doc_next_link IS NULL AS last_page
            FROM (SELECT source_file_id,
                         json_extract_string(json, '$."@odata.context"') AS doc_context,
                         json_extract_string(json, '$."@odata.nextLink"') AS doc_next_link
                  FROM {docs} WHERE json_type(json, '$.value') = 'ARRAY') s
            JOIN {batch.file_table} f USING (source_file_id)
        ),
        ends AS (
            SELECT source_file_id, listing,
                   bool_or(last_page) OVER (PARTITION BY tenant, listing) AS ended,
                   bool_or(last_page AND listing IS NULL) OVER (PARTITION BY tenant)
                       AS ended_unknown
            FROM pages
        )
        SELECT DISTINCT source_file_id, listing FROM ends
        WHERE NOT ended AND NOT ended_unknown
        ORDER BY ALL"""
    )


_JS_REF = re.compile(r"(?<![\w.])s\.rec->>'(\$\.[^']*)'")
_STAR = re.compile(r"SELECT\s+(?:DISTINCT\s+)?\*|(?<![\w.])s\.\*", re.IGNORECASE)


def hoist_json(sql: str, table: str) -> str:
    """Rewrite `sql` so the JSON fields it reads from `table` (as `s`) are parsed once per row.

    Every `s.rec->>'$.path'` (what js() writes) parses the whole record again: a reader's
    check, duplicate and insert statements read a dozen fields, several times each, and that
    was most of the time spent on a large `az role assignment list`. One
    json_extract_string(rec, [paths]) in a subquery parses the record once and gives the same
    values (`->>` is json_extract_string). Left as is when `table` is not read exactly once as
    `s`, when fewer than two fields are read, or when `s.*`/`SELECT *` would expose the list.
    """
    if "s.rec->>" not in sql or _STAR.search(sql):
        return sql
    source = re.compile(rf"(?<![\w.]){re.escape(table)} s\b")
    if len(source.findall(sql)) != 1:
        return sql
    paths = list(dict.fromkeys(_JS_REF.findall(sql)))
    if len(paths) < 2:
        return sql
    index = {p: n for n, p in enumerate(paths, 1)}
    body = _JS_REF.sub(lambda m: f"s.__js[{index[m.group(1)]}]", sql)
    listing = ", ".join(sql_string(p) for p in paths)
    hoisted = f"(SELECT *, json_extract_string(rec, [{listing}]) AS __js FROM {table}) s"
    return source.sub(lambda _: hoisted, body)


# Characters of small JSON files handed to DuckDB in one statement (see stage_json).
TEXT_CHUNK = 16 * 1024 * 1024


def _insert_texts(
    con: duckdb.DuckDBPyConnection, name: str, chunk: list[tuple[SourceFile, str]]
) -> list[SourceFile]:
    """Add the chunk's texts that are one valid JSON document to `{name}_docs`; return the
    files whose text is not (they are read from disk, as DuckDB splits or rejects them)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {name}_text AS
        SELECT unnest($ids::INTEGER[]) AS source_file_id, unnest($texts::VARCHAR[]) AS text""",
        {"ids": [f.source_file_id for f, _ in chunk], "texts": [t for _, t in chunk]},
    )
    invalid = {
        r[0]
        for r in con.execute(
            f"SELECT source_file_id FROM {name}_text WHERE NOT json_valid(text)"
        ).fetchall()
    }
    con.execute(
        f"""INSERT INTO {name}_docs
        SELECT source_file_id, 0, text::JSON FROM {name}_text WHERE json_valid(text)"""
    )
    con.execute(f"DROP TABLE {name}_text")
    return [f for f, _ in chunk if f.source_file_id in invalid]


# A JSON file at least this large whose text is one array (`az ... -o json`) is read element
# by element (DuckDB's format = 'array') instead of as one document: parsed whole, the
# 245 MB `az role assignment list` of a 100,000-customer estate ran DuckDB out of memory.
STREAM_ARRAY_BYTES = 8 * 1024 * 1024


def _streams_as_array(f: SourceFile) -> bool:
    return (
        f.text.head.lstrip().startswith("[")
        and not _is_ndjson(f.text.head)
        and os.path.getsize(f.read_path) >= STREAM_ARRAY_BYTES
    )


def _read_json_files(batch: Batch, name: str, files: list[SourceFile], limit: int) -> None:
    """Add the documents of `files`, read by DuckDB from disk, to TEMP table `{name}_docs`.

    A large top-level array is added one element per row, each wrapped in a one-element array
    so stage_json takes it as exactly one record (an element that is itself an array or holds
    a `value` array must not be split), in file order (doc_no)."""
    arrays: list[SourceFile] = []
    documents: list[SourceFile] = []
    for f in files:
        (arrays if _streams_as_array(f) else documents).append(f)
    if arrays:
        _read_json(batch, name, arrays, limit, "array", "'[' || d.json || ']'")
    if documents:
        _read_json(batch, name, documents, limit, "unstructured", "d.json")


_READING_JSON = threading.Lock()


def _read_json(
    batch: Batch, name: str, files: list[SourceFile], limit: int, fmt: str, doc_sql: str
) -> None:
    con = batch.con
    # One thread: a document is parsed by one thread anyway, and with thousands of small
    # files the second thread only added hand-over cost (7,500 files: 0.9 s of CPU on one
    # thread, 1.8 s on two, and slower by the clock as well).
    failure: duckdb.Error | None = None
    # One such read at a time in the process: DuckDB sets a buffer of twice the largest
    # document allowed (512 MiB by default) aside for each, and kinds loaded alongside
    # (ingest.alongside) reading two at once ran out of the 1 GB memory limit.
    with _READING_JSON, threads_kept(con) as threads:
        if threads != 1:  # a small kind is loaded on one thread already (ingest.ONE_THREAD_BYTES)
            con.execute("SET threads = 1")
        try:
            # A file's documents keep their order (insertion order is preserved): rowid
            # orders them.
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {name}_read AS
                SELECT filename, json FROM read_json_objects(?, format = '{fmt}',
                    filename = true, maximum_object_size = {limit:d})""",
                [[str(f.read_path) for f in files]],
            )
        except duckdb.Error as exc:
            failure = exc
    if isinstance(failure, duckdb.OutOfMemoryException):
        raise failure  # not the file's fault: the command line says how to raise the ceiling
    if failure is not None:
        with _READING_JSON:  # it reads the files again, one by one
            error = _json_error(con, failure, files, limit, fmt)
        raise error from None
    con.execute(
        f"""INSERT INTO {name}_docs
        SELECT f.source_file_id, d.rowid, ({doc_sql})::JSON
        FROM {name}_read d JOIN {batch.file_table} f ON f.read_path = d.filename"""
    )
    con.execute(f"DROP TABLE {name}_read")


def _is_ndjson(head: str) -> bool:
    """One JSON value per line: the first line is a whole value and more text follows."""
    first, newline, _ = head.lstrip().partition("\n")
    if not newline:
        return False
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return False
    return True


def _check_json_size(f: SourceFile, limit: int) -> None:
    size = os.path.getsize(f.read_path)
    if size > limit and not _is_ndjson(f.text.head) and not _streams_as_array(f):
        raise DapauditError(
            f"a single JSON document of {_size(size)} is larger than the limit of "
            f"{_size(limit)} (a document is parsed whole, in memory); export it in "
            f"pages or as NDJSON, or raise ${MAX_JSON_BYTES_ENV}",
            file=f.display_path,
        )


def _size(n: int) -> str:
    mib = 1024 * 1024
    return f"{n / mib:,.0f} MiB" if n >= mib else f"{n:,} bytes"


def _json_error(
    con, exc: duckdb.Error, files: Sequence[SourceFile], limit: int, fmt: str = "unstructured"
) -> DapauditError:
    # Find the culprit file by reading each one alone: only on the error path. On a cursor of
    # its own: the failed read aborted `con`'s transaction (ingest's, when kinds load one after
    # another), where every statement now fails with "Current transaction is aborted".
    diagnose = track(con.cursor())
    try:
        for f in files:
            try:
                diagnose.execute(
                    f"SELECT count(*) FROM read_json_objects(?, format = '{fmt}', "
                    f"maximum_object_size = {limit:d})",
                    [str(f.read_path)],
                ).fetchall()
            except duckdb.Error as one:
                msg = str(one).strip().splitlines()[0].replace(str(f.read_path), f.display_path)
                return DapauditError(f"malformed JSON: {msg}", file=f.display_path)
    finally:
        diagnose.close()
    return DapauditError(f"malformed JSON: {exc}", file=", ".join(f.display_path for f in files))


@dataclass(frozen=True)
class _Duplicates:
    """A pending check that no two records of one file share `keys` (SQL over `s`)."""

    keys: tuple[str, ...]


@dataclass
class StagedTable:
    """A staging table plus the helpers to project and check its columns."""

    batch: Batch
    name: str
    record_label: str
    record_column: str
    # Checks not run yet, in the order given: (where, message, field) or a _Duplicates.
    _pending: list[tuple[str, str, str] | _Duplicates] = field(default_factory=list, repr=False)
    _columns: dict[str, str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.batch.stages.append(self)

    def columns(self) -> dict[str, str]:
        """normalised column name -> actual column name (asked once: a reader asks per field)."""
        if self._columns is None:
            rows = self.batch.raw.execute(f"DESCRIBE {self.name}").fetchall()
            self._columns = {normalise_header(r[0]): r[0] for r in rows}
        return self._columns

    def col(self, *aliases: str) -> str:
        """SQL for a field that exports name by any of `aliases` (trimmed, '' as NULL): the first
        alias with a value in the row, else NULL. A batch may join files of different headers
        (Get-MsolRoleMember's EmailAddress beside Get-AzureADDirectoryRoleMember's
        UserPrincipalName): its staging table has every file's columns, and a file's row holds
        NULL in the others, so taking the first alias the batch has lost the other files'
        values."""
        cols = self.columns()
        present = []
        for alias in aliases:
            actual = cols.get(normalise_header(alias))
            if actual is not None and actual not in present:
                present.append(actual)
        if not present:
            return "NULL::VARCHAR"
        values = [f"nullif(trim({quote_ident(c)}), '')" for c in present]
        return values[0] if len(values) == 1 else f"coalesce({', '.join(values)})"

    def has(self, *aliases: str) -> bool:
        cols = self.columns()
        return any(normalise_header(a) in cols for a in aliases)

    def project(self, exprs: dict[str, str]) -> tuple[StagedTable, dict[str, str]]:
        """Compute a reader's field expressions once per row, into a staging table of their own.

        A reader's checks, duplicate key and insert each evaluate the same expressions (JSON
        fields, coalesces, regular expressions): done inline, every statement parses and
        evaluates them again. Returns the new stage, `TEMP {name}_fields` (source_file_id,
        the record column, the file's context_tenant_id and one column per key of `exprs`),
        and `exprs` as those columns (`s."key"`). The expressions may read `s` (this stage)
        and `f` (its file); pending checks run first, so an expression never meets a row a
        check given before refuses. A hard cast belongs here only behind such a check: a bad
        value must reach its check, not fail the projection."""
        taken = {"source_file_id", self.record_column, "context_tenant_id"} & set(exprs)
        if taken:
            raise ValueError(f"project(): {sorted(taken)} would shadow the stage's columns")
        name = f"{self.name}_fields"
        columns = "".join(f", {expr} AS {quote_ident(key)}" for key, expr in exprs.items())
        self.batch.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {name} AS
            SELECT s.source_file_id, s.{self.record_column}, f.context_tenant_id{columns}
            FROM {self.name} s JOIN {self.batch.file_table} f USING (source_file_id)"""
        )
        projected = StagedTable(self.batch, name, self.record_label, self.record_column)
        return projected, {key: f"s.{quote_ident(key)}" for key in exprs}

    def fail_first(
        self, where_sql: str, message: str, field: str, table: str | None = None
    ) -> None:
        """Raise for the first row of the staging table (or `table`) matching `where_sql`.

        Checks on the staging table (reject_duplicates' too) are collected and run together
        in one scan when the rows are used (insert, a reader's own statement) or on check():
        one pass instead of one per check. The error is the same as checking one by one: the
        first check, in the order given, that any row fails, at its first row.
        """
        if table is None or table == self.name:
            self._pending.append((where_sql, message, field))
            return
        self.check()
        row = self.batch.raw.execute(
            f"""SELECT f.display_path, s.{self.record_column}
            FROM {table} s JOIN {self.batch.file_table} f USING (source_file_id)
            WHERE {where_sql}
            ORDER BY f.source_file_id, s.{self.record_column} LIMIT 1"""
        ).fetchone()
        if row:
            raise DapauditError(
                message,
                file=row[0],
                record=self._located(row[0], row[1]),
                field=field,
                record_label=self.record_label,
            )

    def check(self) -> None:
        """Run the pending checks in one scan; raise for the first that fails.

        With a duplicate check pending, the scan groups the rows by its key (one hash
        aggregate, which that check needs anyway) and the other checks ride along per group:
        still one statement, and the staged table is still read once."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        # (file, record) packed in one BIGINT so min() finds the first offending row.
        position = f"s.source_file_id::BIGINT * 4294967296 + s.{self.record_column}"
        source = f"FROM {self.name} s JOIN {self.batch.file_table} f USING (source_file_id)"
        checks = [p for p in pending if not isinstance(p, _Duplicates)]
        firsts = [f"min({position}) FILTER (WHERE {where})" for where, _, _ in checks]
        duplicates = next((p for p in pending if isinstance(p, _Duplicates)), None)
        if duplicates is None:
            sql = f"SELECT {', '.join(firsts)} {source}"
        else:
            inner = [f"{first} AS c{n}" for n, first in enumerate(firsts)]
            outer = [f"min(c{n})" for n in range(len(firsts))]
            sql = (
                f"SELECT {', '.join([*outer, 'bool_or(repeated)'])} FROM ("
                f"SELECT {', '.join([*inner, 'count(*) > 1 AS repeated'])} {source} "
                f"GROUP BY source_file_id, {', '.join(duplicates.keys)})"
            )
        row = self.batch.raw.execute(self.batch.hoist(sql)).fetchone()
        found = iter(row[: len(checks)])
        for check in pending:
            if isinstance(check, _Duplicates):
                if row[-1]:
                    self._name_duplicate(check.keys)
                continue
            first = next(found)
            if first is not None:
                _, message, column = check
                file_id, record = divmod(first, 4294967296)
                shown = self.batch.raw.execute(
                    f"SELECT display_path FROM {self.batch.file_table} WHERE source_file_id = ?",
                    [file_id],
                ).fetchone()[0]
                raise DapauditError(
                    message,
                    file=shown,
                    record=self._located(shown, record),
                    field=column,
                    record_label=self.record_label,
                )

    def _located(self, shown: str, record: int) -> int:
        """`record` of the file shown as `shown`, as the line a reader finds it on (CSV)."""
        if self.record_label != "line":
            return record
        f = next((f for f in self.batch.files if f.display_path == shown), None)
        return record if f is None else csv_line_of(f, record)

    def fail_file(self, where_sql: str, message: str) -> None:
        """Raise for the first file of the batch (`f`) matching `where_sql`."""
        self.check()  # checks given earlier come first, as if run one by one
        row = self.batch.con.execute(
            f"SELECT f.display_path FROM {self.batch.file_table} f WHERE {where_sql} "
            "ORDER BY f.source_file_id LIMIT 1"
        ).fetchone()
        if row:
            raise DapauditError(message, file=row[0])

    def require(self, expr: str, field: str) -> None:
        self.fail_first(f"({expr}) IS NULL", "required value is missing", field)

    def require_guid(self, expr: str, field: str, *, optional: bool = False) -> None:
        cond = f"NOT regexp_full_match(({expr}), '{GUID_RE[1:-1]}')"
        if not optional:
            self.require(expr, field)
        self.fail_first(f"({expr}) IS NOT NULL AND {cond}", "not a GUID", field)

    def require_in(
        self, expr: str, allowed: Iterable[str], field: str, *, any_case: bool = False
    ) -> None:
        """Refuse a value outside the closed list `allowed` (compared in any case with
        `any_case`: store such a value through spelled_as()), naming the values accepted."""
        values = sorted(set(allowed))
        listing = ", ".join(values) + ("; in any case" if any_case else "")
        compared = f"lower({expr})" if any_case else f"({expr})"
        in_list = ", ".join(sql_string(v.lower() if any_case else v) for v in values)
        self.fail_first(
            f"({expr}) IS NOT NULL AND {compared} NOT IN ({in_list})",
            f"unexpected value (expected one of: {listing})",
            field,
        )

    def require_cast(self, expr: str, sql_type: str, field: str, what: str) -> None:
        """Refuse a value that `sql_type` does not hold, and what DuckDB's cast takes but means
        something else: a whole number written `2.5` (rounded), `1e3` or `0x10`, and a time
        whose UTC offset is out of range (`+25:00` was taken as 25 hours)."""
        bad = f"TRY_CAST(({expr}) AS {sql_type}) IS NULL"
        if sql_type == "INTEGER":
            bad += f" OR NOT regexp_full_match(trim({expr}), '[+-]?[0-9]+(\\.0*)?')"
        self.fail_first(f"({expr}) IS NOT NULL AND ({bad})", f"not a valid {what}", field)
        if sql_type == "TIMESTAMPTZ":
            self.fail_first(
                f"({expr}) IS NOT NULL AND {utc_offset_out_of_range(expr)}",
                "UTC offset out of range (hours 00 to 23, minutes 00 to 59)",
                field,
            )

    def require_known_directory_role(self, expr: str, field: str) -> None:
        self.fail_first(
            f"({expr}) IS NOT NULL AND lower({expr}) NOT IN "
            "(SELECT role_template_id FROM ref_directory_roles)",
            "unknown directory role template id (not a built-in Entra role)",
            field,
        )

    def reject_duplicates(self, key_exprs: Sequence[str]) -> None:
        """A record repeated within one file is an export error, not a second grant.

        Checked in check()'s scan with the other pending checks, in the order given (a
        statement of its own cost about 7 ms, mostly planning, per kind)."""
        if any(isinstance(p, _Duplicates) for p in self._pending):
            self.check()  # one grouping per scan
        self._pending.append(_Duplicates(tuple(key_exprs)))

    def _name_duplicate(self, keys: tuple[str, ...]) -> None:
        """Raise for the first repeated record. Runs only when there is one: the window that
        names it sorts every staged row (seconds at 100,000 tenants)."""
        partition = ", ".join(keys)
        row = self.batch.raw.execute(
            f"""WITH d AS (
                SELECT source_file_id, {self.record_column} AS rec,
                       min({self.record_column}) OVER (PARTITION BY source_file_id, {partition})
                           AS first_rec
                FROM {self.name} s JOIN {self.batch.file_table} f USING (source_file_id))
            SELECT f.display_path, d.rec, d.first_rec FROM d
            JOIN {self.batch.file_table} f USING (source_file_id)
            WHERE d.rec <> d.first_rec ORDER BY f.source_file_id, d.rec LIMIT 1"""
        ).fetchone()
        if row:
            raise DapauditError(
                f"duplicate record (same as {self.record_label} {self._located(row[0], row[2])})",
                file=row[0],
                record=self._located(row[0], row[1]),
                record_label=self.record_label,
            )
        # Else one record gives the key twice (a role listed twice in its unifiedRoles): the
        # window above sees one record, and both rows went in.
        row = self.batch.raw.execute(
            f"""SELECT f.display_path, s.{self.record_column}
            FROM {self.name} s JOIN {self.batch.file_table} f USING (source_file_id)
            GROUP BY f.source_file_id, f.display_path, s.{self.record_column}, {partition}
            HAVING count(*) > 1
            ORDER BY f.source_file_id, s.{self.record_column} LIMIT 1"""
        ).fetchone()
        if row:
            raise DapauditError(
                "the record lists the same thing twice",
                file=row[0],
                record=self._located(row[0], row[1]),
                record_label=self.record_label,
            )

    def insert(self, table: str, select_sql: str) -> None:
        """INSERT the projection `select_sql` (which reads `s`, this stage) into `table`."""
        self.check()
        self.batch.raw.execute(
            self.batch.hoist(
                f"INSERT INTO {self.batch.target}{table} BY NAME "
                f"SELECT ?::VARCHAR AS snapshot, * FROM ({select_sql})"
            ),
            [self.batch.snapshot],
        )

    def require_tenant(self, expr: str, field: str) -> None:
        """Fail when neither the record nor the file context gives a tenant.

        `expr` may use f.context_tenant_id (the file's --tenant or folder tenant)."""
        # A context that is a domain gives a tenant only once a tenant of the snapshot has it
        # (_resolve_contexts): the user gave one, and is told why it did not serve.
        self.fail_first(
            f"({expr}) IS NULL AND f.context_hint IS NOT NULL AND f.context_tenant_id IS NULL",
            "no tenant id: the record has none, and the file's tenant context (--tenant, or its "
            "folder's name) is a domain no tenant of the snapshot has; ingest an export that "
            "names that tenant with its domain (its organization.json, or the partner's "
            "customer list) in the same command or before, or give the tenant id",
            field,
        )
        self.fail_first(
            f"({expr}) IS NULL",
            "no tenant id: the record has none, and neither --tenant nor a parent folder "
            "gives one (a tenant id, or the domain of a tenant the snapshot holds)",
            field,
        )


def guid(expr: str) -> str:
    """SQL: a GUID normalised to lower case (NULL stays NULL)."""
    return f"lower({expr})"


def arm_scope(expr: str) -> str:
    """SQL: an Azure scope as stored: lower case, no trailing '/', but the root scope '/'
    (which `az role assignment list --include-inherited` gives) kept as '/' (NULL stays NULL)."""
    trimmed = f"nullif(rtrim(lower({expr}), '/'), '')"
    return f"CASE WHEN {expr} IS NOT NULL THEN coalesce({trimmed}, '/') END"


def require_arm_scope(stage: StagedTable, expr: str, field_name: str) -> None:
    """An Azure scope: `/`, a management group's `/providers/...`, or `/subscriptions/<GUID>`
    and what is below it. Anything else (a list, a path without its leading `/`, a
    subscription that is no GUID) was stored as it was, with no subscription."""
    stage.fail_first(
        f"({expr}) IS NOT NULL AND NOT (trim({expr}) = '/' "
        f"OR starts_with(lower(trim({expr})), '/providers/') "
        f"OR regexp_matches(lower(trim({expr})), '^/subscriptions/{GUID_RE[1:-1].lower()}(/|$)'))",
        "not an Azure scope (/, /providers/..., or /subscriptions/<GUID>...)",
        field_name,
    )


def trailing_guid(expr: str) -> str:
    """SQL: the trailing GUID of an ARM path (or the value itself when it is a bare GUID)."""
    return (
        f"nullif(lower(regexp_extract({expr}, '([0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-"
        f"[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}})\\s*$', 1)), '')"
    )


def principal_type(expr: str) -> str:
    """SQL: an exported principal type (`#microsoft.graph.user`, `User`, `ForeignGroup`,
    `ServicePrincipal`, `MSI`...) as user, group, servicePrincipal, foreignGroup or unknown."""
    bare = f"lower(regexp_replace(trim({expr}), '^#?microsoft\\.graph\\.', ''))"
    return (
        f"CASE {bare} WHEN 'user' THEN 'user' WHEN 'group' THEN 'group' "
        "WHEN 'serviceprincipal' THEN 'servicePrincipal' WHEN 'msi' THEN 'servicePrincipal' "
        "WHEN 'application' THEN 'servicePrincipal' WHEN 'foreigngroup' THEN 'foreignGroup' "
        "ELSE 'unknown' END"
    )


def js(path: str, rec: str = "s.rec") -> str:
    """SQL: a JSON string field of a staged record as trimmed text, '' as NULL.

    `path` is a JSON path below the record, e.g. `principal.organizationId` or
    `"@odata.type"`."""
    return f"nullif(trim({rec}->>'$.{path}'), '')"


# A numeric UTC offset past RFC 3339's range at the end of a time: hours 24 to 99 (with or
# without minutes), or minutes 60 to 99 (`+25:00`, `-2400`, `+05:60`).
_BAD_UTC_OFFSET = "[T ][0-9:.]+[+-]((2[4-9]|[3-9][0-9])(:?[0-9]{2})?|[0-9]{2}:?[6-9][0-9])$"


def utc_offset_out_of_range(expr: str) -> str:
    """SQL: whether a time's numeric UTC offset is past 23 hours or 59 minutes, which DuckDB's
    cast takes as written (RFC 3339 allows neither). A time ending in Z, as Graph writes them,
    is not matched against the pattern at all."""
    return (
        f"(CASE WHEN upper(right({expr}, 1)) = 'Z' THEN false "
        f"ELSE coalesce(regexp_matches({expr}, '{_BAD_UTC_OFFSET}'), false) END)"
    )


def timestamp(expr: str) -> str:
    """SQL: an ISO-8601 time with Z or an offset (without one: UTC, see db.open_duckdb) and up
    to 7 fractional digits."""
    return f"TRY_CAST({expr} AS TIMESTAMPTZ)"


DURATION_RE = "^-?P(\\d+Y)?(\\d+M)?(\\d+W)?(\\d+D)?(T(\\d+H)?(\\d+M)?(\\d+(\\.\\d+)?S)?)?$"


def require_duration(stage: StagedTable, expr: str, field_name: str) -> None:
    stage.fail_first(
        f"({expr}) IS NOT NULL AND (NOT regexp_full_match(({expr}), '{DURATION_RE[1:-1]}') "
        f"OR ({expr}) IN ('P', 'PT'))",
        "not an ISO-8601 duration (e.g. P730D)",
        field_name,
    )


def spelled_as(expr: str, allowed: Iterable[str]) -> str:
    """SQL: `expr` spelled as the value of `allowed` it equals in any case (`Active` and
    `APPROVALPENDING` as Graph writes them: `active`, `approvalPending`), else as given (a
    value require_in(..., any_case=True) refuses). NULL stays NULL."""
    options = " ".join(f"WHEN {sql_string(v.lower())} THEN {sql_string(v)}" for v in allowed)
    return f"CASE lower({expr}) {options} ELSE {expr} END"


def truthy(expr: str) -> str:
    """SQL: PowerShell/CSV booleans (True/False, yes/no, 1/0) as BOOLEAN, else NULL."""
    return (
        f"CASE lower(trim({expr})) WHEN 'true' THEN true WHEN 'yes' THEN true WHEN '1' THEN true "
        "WHEN 'false' THEN false WHEN 'no' THEN false WHEN '0' THEN false END"
    )
