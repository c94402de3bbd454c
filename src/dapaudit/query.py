"""Ad-hoc SQL over the audit database, safely: read-only, optionally narrowed to one snapshot,
rendered as an aligned table, CSV, JSON or Markdown; plus the library of saved questions.

The audit file is ATTACHed READ_ONLY to an in-memory DuckDB session, so DuckDB itself refuses
every statement that would change it (we never guess "writes" from keywords), and file-system
access is then switched off and locked so a query can neither write files nor attach others.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb

from . import db as dbmod
from .errors import DapauditError
from .findings import csv_cell
from .paths import PACKAGE_DIR
from .textout import MAX_CELL, QUERY_FORMATS, cut, display_width, printable, table

FORMATS = QUERY_FORMATS
AUDIT_CATALOG = "audit"
SNAPSHOT_CATALOG = "audit_snapshot"
QUERIES_DIR = PACKAGE_DIR / "queries"


# ------------------------------------------------------------------ the read-only session


class QuerySession:
    """A read-only view of one audit database; with `snapshot`, every table and view that has a
    snapshot column shows only that snapshot's rows.

    Views are narrowed by wrapping each object in a view of the same name in a separate,
    read-only catalog that comes first in name resolution. (TEMP views would shadow the base
    tables inside the database's own views too, so `finding_changes` could no longer see the
    previous snapshot it compares with.)
    """

    def __init__(self, path: str | Path, snapshot: str | None = None) -> None:
        self.path = str(path)
        self.snapshot: str | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if not Path(self.path).exists():
            raise DapauditError(
                "no such database; run `dapaudit ingest` or `dapaudit run` first", file=self.path
            )
        # The memory limit of every command ($DAPAUDIT_MEMORY_LIMIT), and spills into a folder
        # of the session's own: DuckDB lets a query write and read its temp_directory even with
        # external access off, and an in-memory database's is ./.tmp, where COPY TO and ATTACH
        # then wrote files that outlived the session.
        self._tmp = tempfile.TemporaryDirectory(prefix="dapaudit-query-")
        self.con = dbmod.open_duckdb(":memory:", config=dbmod._config())
        try:
            self.con.execute("SET temp_directory = ?", [str(Path(self._tmp.name) / "spill")])
            _attach_read_only(self.con, self.path)
            self.con.execute(f"USE {AUDIT_CATALOG}")
            _check_version(self.con, self.path)
            if snapshot is not None:
                self.snapshot = _known_snapshot(self.con, snapshot)
                self._narrow_to_snapshot()
            # From here on the session reads the attached database and nothing else.
            self.con.execute("SET enable_external_access = false")
            self.con.execute("SET lock_configuration = true")
        except BaseException:
            self.close()
            raise

    def _narrow_to_snapshot(self) -> None:
        assert self._tmp is not None
        views_db = str(Path(self._tmp.name) / "snapshot_views.duckdb")
        objects = self.con.execute(
            f"""SELECT o.name, bool_or(c.column_name = 'snapshot') AS has_snapshot
            FROM (SELECT table_name AS name FROM duckdb_tables()
                  WHERE database_name = '{AUDIT_CATALOG}' AND schema_name = 'main'
                  UNION ALL
                  SELECT view_name FROM duckdb_views()
                  WHERE database_name = '{AUDIT_CATALOG}' AND schema_name = 'main'
                    AND NOT internal) o
            JOIN duckdb_columns() c
              ON c.database_name = '{AUDIT_CATALOG}' AND c.schema_name = 'main'
             AND c.table_name = o.name
            GROUP BY o.name
            ORDER BY o.name"""
        ).fetchall()
        self.con.execute("ATTACH ? AS " + SNAPSHOT_CATALOG, [views_db])
        # One transaction: a commit per statement would sync the file hundreds of times.
        self.con.execute("BEGIN TRANSACTION")
        for name, has_snapshot in objects:
            where = " WHERE snapshot = getvariable('dapaudit_snapshot')" if has_snapshot else ""
            # Names from the database, quoted: a file handed over may hold any name, and a
            # name closing the quote ran statements of its own here, with file access still on.
            self.con.execute(
                f"CREATE VIEW {SNAPSHOT_CATALOG}.main.{dbmod.quote_ident(name)} AS "
                f"SELECT * FROM {AUDIT_CATALOG}.main.{dbmod.quote_ident(name)}{where}"
            )
        self._copy_comments()
        self.con.execute("COMMIT")
        self.con.execute(f"DETACH {SNAPSHOT_CATALOG}")
        self.con.execute(f"ATTACH ? AS {SNAPSHOT_CATALOG} (READ_ONLY)", [views_db])
        self.con.execute("SET VARIABLE dapaudit_snapshot = ?", [self.snapshot])
        self.con.execute(f"USE {SNAPSHOT_CATALOG}")

    def _copy_comments(self) -> None:
        """The wrapper views carry the originals' comments, so duckdb_columns() still explains
        every column under --snapshot. (COMMENT ON takes no bound parameter: the text, from
        our own database, is quoted as a literal.)"""

        def literal(text: str) -> str:
            return "'" + text.replace("'", "''") + "'"

        statements = [
            f"COMMENT ON VIEW {SNAPSHOT_CATALOG}.main.{dbmod.quote_ident(name)} "
            f"IS {literal(comment)};"
            for name, comment in self.con.execute(
                f"""SELECT table_name, comment FROM duckdb_tables()
                WHERE database_name = '{AUDIT_CATALOG}' AND schema_name = 'main' AND comment <> ''
                UNION ALL
                SELECT view_name, comment FROM duckdb_views()
                WHERE database_name = '{AUDIT_CATALOG}' AND schema_name = 'main' AND NOT internal
                  AND comment <> ''
                ORDER BY 1"""
            ).fetchall()
        ]
        statements += [
            f"COMMENT ON COLUMN {SNAPSHOT_CATALOG}.main.{dbmod.quote_ident(table)}."
            f"{dbmod.quote_ident(column)} IS {literal(comment)};"
            for table, column, comment in self.con.execute(
                f"""SELECT table_name, column_name, comment FROM duckdb_columns()
                WHERE database_name = '{AUDIT_CATALOG}' AND schema_name = 'main'
                  AND comment <> ''
                ORDER BY table_name, column_index"""
            ).fetchall()
        ]
        if statements:
            self.con.execute("\n".join(statements))

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Run SQL; DuckDB's own error (syntax, unknown table, a refused write) as DapauditError."""
        if not sql.strip():
            raise DapauditError("no SQL given")
        try:
            result = self.con.execute(sql, dict(params) if params else None)
        except duckdb.Error as exc:
            raise DapauditError(_explain(exc)) from None
        if result is None or result.description is None:  # only ; or comments: nothing ran
            raise DapauditError("no SQL statement given (only comments or ';')")
        return result

    def close(self) -> None:
        if getattr(self, "con", None) is not None:
            self.con.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> QuerySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attach_read_only(con: duckdb.DuckDBPyConnection, path: str) -> None:
    # db.connect waits for another process's write lock exactly as every other command does
    # (bounded, then a clear error) and checks the schema version; the ATTACH follows at once.
    # Should a writer slip in between, wait again.
    while True:
        dbmod.connect(path, read_only=True).close()
        try:
            con.execute(f"ATTACH ? AS {AUDIT_CATALOG} (READ_ONLY)", [path])
            return
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise DapauditError(f"cannot open the database: {exc}", file=path) from None
        except duckdb.Error as exc:
            raise DapauditError(f"cannot open the database: {exc}", file=path) from None


def _check_version(con: duckdb.DuckDBPyConnection, path: str) -> None:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = ? AND table_name = 'dapaudit_meta'",
        [AUDIT_CATALOG],
    ).fetchone()[0]
    version = dbmod.schema_version(con) if found else None
    if version is None:
        raise DapauditError("not a dapaudit database (no schema version)", file=path)
    if version != dbmod.SCHEMA_VERSION:
        raise DapauditError(
            f"the database has schema version {version}, this dapaudit reads version "
            f"{dbmod.SCHEMA_VERSION}; run a writing command (e.g. `dapaudit analyze`) with a "
            "matching dapaudit first",
            file=path,
        )


def _known_snapshot(con: duckdb.DuckDBPyConnection, snapshot: str) -> str:
    if con.execute("SELECT 1 FROM snapshots WHERE snapshot = ?", [snapshot]).fetchone():
        return snapshot
    known = [r[0] for r in con.execute("SELECT snapshot FROM snapshots ORDER BY 1").fetchall()]
    raise DapauditError(
        f"no snapshot {snapshot!r} in the database (known: {', '.join(known) or 'none'})"
    )


def _explain(exc: duckdb.Error) -> str:
    text = str(exc).strip()
    if "read-only mode" in text or "read-only" in text.lower() and "attached" in text:
        return f"query is read-only; the database was not changed. DuckDB said: {text}"
    if isinstance(exc, duckdb.PermissionException):
        return (
            "query reads only the audit database (no files, no other databases). "
            f"DuckDB said: {text}"
        )
    return text


def latest_snapshot(session: QuerySession) -> str | None:
    row = session.con.execute(
        f"SELECT snapshot FROM {AUDIT_CATALOG}.main.snapshots ORDER BY as_of DESC, snapshot DESC "
        "LIMIT 1"
    ).fetchone()
    return row[0] if row else None


# ------------------------------------------------------------------ results


BATCH_ROWS = 10_000


@dataclass
class Result:
    """A query's columns and rows. `rows` may be a one-pass iterator that streams from DuckDB
    in batches (so a large CSV or JSON export never sits in memory whole): read it once, while
    the session is open."""

    columns: list[str]
    types: list[str]
    rows: Iterable[tuple]


def run(session: QuerySession, sql: str, params: Mapping[str, Any] | None = None) -> Result:
    """Run SQL; the result of the last statement when several are given, streamed.

    An INTERVAL comes out as DuckDB spells it ("1 month 3 days"), a list or struct holding one
    as JSON of those spellings: Python's timedelta has no months (DuckDB hands a month over as
    30 days) and spells a negative one "-1 day, 23:59:59". A list or struct holding JSON comes
    out as JSON too: the client hands the JSON inside over as text, which printed as a string."""
    cur = session.execute(sql, params)
    if cur.description is None:
        return Result([], [], [])
    columns = [d[0] for d in cur.description]
    types = [str(d[1]) for d in cur.description]
    if any(_spelt_by_duckdb(t) for t in types):
        spelt = _intervals_as_text(session.con, sql, params, columns, types)
        if spelt is not None:
            wrapped, types = spelt
            cur = session.execute(wrapped, params)
    return Result(columns, types, _stream(cur))


def _spelt_by_duckdb(type_name: str) -> bool:
    """An interval, or a list or struct holding an interval or JSON: the client's Python
    values would print wrong (see run())."""
    return "INTERVAL" in type_name or ("JSON" in type_name and type_name != "JSON")


def _intervals_as_text(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any] | None,
    columns: list[str],
    types: list[str],
) -> tuple[str, list[str]] | None:
    """SQL's last statement again, each INTERVAL cast to text and each list or struct holding
    one (or JSON) to JSON, with the types that gives; None when that statement cannot be a
    subquery (CALL, PRAGMA): it then prints as the client hands it over."""
    last = con.extract_statements(sql)[-1].query
    # Its closing ';' (DuckDB keeps it, and comments after it, in the statement's text).
    # tokenize() counts in UTF-8 bytes: 'Café' before the ';' put it a character further on.
    raw = last.encode("utf-8")
    for start, kind in reversed(duckdb.tokenize(last)):
        if kind != duckdb.token_type.comment:
            if raw[start : start + 1] == b";":
                last = raw[:start].decode("utf-8")
            break
    exprs, spelt = [], []
    for n, (name, type_name) in enumerate(zip(columns, types, strict=True), 1):
        alias = dbmod.quote_ident(name)
        if type_name == "INTERVAL":
            exprs.append(f"CAST(#{n} AS VARCHAR) AS {alias}")
            spelt.append("VARCHAR")
        elif _spelt_by_duckdb(type_name):
            exprs.append(f"to_json(#{n}) AS {alias}")
            spelt.append("JSON")
        else:
            exprs.append(f"#{n} AS {alias}")
            spelt.append(type_name)
    wrapped = f"SELECT {', '.join(exprs)} FROM (\n{last}\n) AS dapaudit_result"
    try:
        con.sql(wrapped, params=dict(params) if params else None)  # binds it, runs nothing
    except duckdb.Error:
        return None
    return wrapped, spelt


def _stream(cur: duckdb.DuckDBPyConnection) -> Iterator[tuple]:
    while True:
        try:
            batch = cur.fetchmany(BATCH_ROWS)
        except duckdb.Error as exc:  # errors that surface while the result streams
            raise DapauditError(_explain(exc)) from None
        if not batch:
            return
        yield from batch


def render(result: Result, fmt: str, width: int | None = None) -> str:
    """The result as text in one of FORMATS; `width` is the terminal width for `table`."""
    return "".join(render_chunks(result, fmt, width))


def render_chunks(result: Result, fmt: str, width: int | None = None) -> Iterator[str]:
    """The same text in pieces, for writing as the rows arrive (`table` needs them all first:
    its column widths depend on every row)."""
    if fmt == "csv":
        return to_csv(result)
    if fmt == "json":
        return to_json(result)
    if fmt == "markdown":
        return to_markdown(result)
    if fmt == "table":
        return iter([to_table(result, width)])
    raise DapauditError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def _plain(value: Any, type_name: str = "") -> Any:
    """A JSON-ready value with one spelling per type, so the same data prints the same way."""
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and type_name == "JSON":
            return json.loads(value)
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    if isinstance(value, Decimal):
        return format(value, "f")  # exact (a float would round), and 0.00, never 0E-2
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, timedelta | UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(v) for v in value]
    return str(value)


def _text(value: Any, type_name: str = "") -> str:
    """One cell as text: scalars as themselves, lists, structs and JSON as compact JSON."""
    plain = _plain(value, type_name)
    if plain is None:
        return ""
    if isinstance(plain, bool):
        return "true" if plain else "false"
    if isinstance(plain, str):
        return plain
    if isinstance(plain, int | float):
        return str(plain)
    return json.dumps(plain, ensure_ascii=False, separators=(", ", ": "))


def to_json(result: Result) -> Iterator[str]:
    """One JSON array of objects, spelled exactly as json.dumps(list, indent=2) would. Columns
    of one name get a suffix (a, a_1, as the notebook API's DataFrames name them): an object
    holds a name once, and the later column silently replaced the earlier one."""
    first = True
    columns = unique_names(result.columns)
    for row in result.rows:
        item = {c: _plain(v, t) for c, t, v in zip(columns, result.types, row, strict=True)}
        # Indented by hand: textwrap.indent also breaks lines at U+2028, U+2029 and U+0085,
        # which json.dumps leaves in strings as they are. Its own line breaks are the only
        # "\n" it writes (one inside a string is escaped).
        text = "  " + json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        yield ("[\n" if first else ",\n") + text
        first = False
    yield "[]\n" if first else "\n]\n"


def unique_names(columns: Sequence[str]) -> list[str]:
    """`columns` with each repeat of a name given the first free suffix _1, _2, ..."""
    taken: set[str] = set()
    out = []
    for name in columns:
        candidate, n = name, 0
        while candidate in taken:
            n += 1
            candidate = f"{name}_{n}"
        taken.add(candidate)
        out.append(candidate)
    return out


def to_csv(result: Result) -> Iterator[str]:
    """A header row and a row per result row, each cell as findings.csv writes it (numbers are
    never prefixed with ')."""

    def line(cells: list[str]) -> str:
        # One empty cell alone is written "" (as csv.writer does): an empty line is no row.
        return ('""' if cells == [""] else ",".join(cells)) + "\n"

    batch = [line([csv_cell(c) for c in result.columns])]
    for n, row in enumerate(result.rows, 1):
        batch.append(
            line(
                [
                    csv_cell(_text(v, t), number=_is_number(v))
                    for v, t in zip(row, result.types, strict=True)
                ]
            )
        )
        if n % BATCH_ROWS == 0:
            yield "".join(batch)
            batch = []
    yield "".join(batch)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def to_markdown(result: Result) -> Iterator[str]:
    def cell(text: str) -> str:
        return printable(text.replace("\n", " ")).replace("\\", "\\\\").replace("|", "\\|")

    yield "| " + " | ".join(cell(c) for c in result.columns) + " |\n"
    yield "| " + " | ".join("---" for _ in result.columns) + " |\n"
    for row in result.rows:
        cells = (cell(_text(v, t)) for v, t in zip(row, result.types, strict=True))
        yield "| " + " | ".join(cells) + " |\n"


def to_table(result: Result, width: int | None = None) -> str:
    """Aligned columns; when the row is wider than the terminal, the widest columns are cut
    first (never below 16 characters), with … marking a cut cell."""
    if not result.columns:
        return ""
    width = width or shutil.get_terminal_size((120, 24)).columns
    headers = [printable(c) for c in result.columns]
    rows = [
        [printable(_text(v, t)) for v, t in zip(row, result.types, strict=True)]
        for row in result.rows
    ]
    widths = [
        min(MAX_CELL, max([display_width(h)] + [display_width(r[i]) for r in rows]))
        for i, h in enumerate(headers)
    ]
    budget = width - 2 * (len(widths) - 1)
    while sum(widths) > budget and max(widths) > 16:
        widths[widths.index(max(widths))] -= 1
    cells = [[cut(v, w) for v, w in zip(r, widths, strict=True)] for r in rows]
    text = table(
        [cut(h, w) for h, w in zip(headers, widths, strict=True)], cells, max_cell=MAX_CELL
    )
    return text + f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n"


# ------------------------------------------------------------------ saved queries

_HEADER = re.compile(r"^--\s?(?P<key>title|description|param):\s*(?P<value>.*)$")
_PARAM_DECL = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>INTEGER|VARCHAR|DATE)\s*=\s*(?P<default>\S+)"
    r"\s*(?:--\s*(?P<help>.*))?$"
)
_PARAM_USE = re.compile(r"\$([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str
    help: str

    def convert(self, raw: str) -> Any:
        try:
            if self.type == "INTEGER":
                value = int(raw)
                if not -(2**31) <= value < 2**31:  # DuckDB's INTEGER
                    raise DapauditError(
                        f"--param {self.name}: {raw} is out of range for an integer "
                        f"({-(2**31)} to {2**31 - 1})"
                    )
                return value
            if self.type == "DATE":
                return date.fromisoformat(raw)
        except ValueError:
            raise DapauditError(
                f"--param {self.name}: expected {self.type.lower()}, got {raw!r}"
            ) from None
        return raw


@dataclass(frozen=True)
class SavedQuery:
    """A named question shipped in queries/NAME.sql, described by its header comment block:

    -- title: one line
    -- description: what it answers (may span several lines)
    -- param: NAME TYPE = DEFAULT -- meaning
    $snapshot is always bound to the snapshot being queried (default: the latest).
    """

    name: str
    title: str
    description: str
    params: tuple[Param, ...]
    sql: str
    file: Path = field(compare=False)

    def bind(self, given: Mapping[str, str], snapshot: str | None) -> dict[str, Any]:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            choices = ", ".join(sorted(known)) or "none"
            raise DapauditError(
                f"saved query {self.name!r} has no parameter {unknown[0]!r} (parameters: {choices})"
            )
        values: dict[str, Any] = {
            name: p.convert(given.get(name, p.default)) for name, p in known.items()
        }
        used = set(_PARAM_USE.findall(self.sql))
        if "snapshot" in used:
            if snapshot is None:
                raise DapauditError(
                    "the database holds no snapshot yet; run `dapaudit ingest` first"
                )
            values["snapshot"] = snapshot
        return {k: v for k, v in values.items() if k in used}


def _parse(path: Path) -> SavedQuery:
    title, params, description = "", [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _HEADER.match(line)
        if not m:
            if line.startswith("--") and description and not params:
                description.append(line[2:].strip())  # a continued description line
                continue
            break
        key, value = m["key"], m["value"].strip()
        if key == "title":
            title = value
        elif key == "description":
            description.append(value)
        else:
            decl = _PARAM_DECL.match(value)
            if decl is None:
                raise RuntimeError(f"{path.name}: bad parameter declaration {value!r}")
            params.append(Param(decl["name"], decl["type"], decl["default"], decl["help"] or ""))
    if not title:
        raise RuntimeError(f"{path.name}: saved query without a '-- title:' line")
    sql = path.read_text(encoding="utf-8")
    return SavedQuery(path.stem, title, " ".join(description), tuple(params), sql, path)


def saved_queries() -> list[SavedQuery]:
    return [_parse(p) for p in sorted(QUERIES_DIR.glob("*.sql"))]


def saved_query(name: str) -> SavedQuery:
    by_name = {q.name: q for q in saved_queries()}
    if name not in by_name:
        raise DapauditError(
            f"no saved query {name!r}; see `dapaudit query --list` ({', '.join(sorted(by_name))})"
        )
    return by_name[name]


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise DapauditError(f"--param {pair!r}: expected key=value")
        out[key.strip()] = value
    return out


def run_saved(session: QuerySession, name: str, given: Mapping[str, str] | None = None) -> Result:
    query = saved_query(name)
    snapshot = session.snapshot or latest_snapshot(session)
    return run(session, query.sql, query.bind(given or {}, snapshot))


def list_saved() -> Result:
    rows = [
        (
            q.name,
            q.title,
            ", ".join(f"{p.name}={p.default}" for p in q.params),
        )
        for q in saved_queries()
    ]
    return Result(["name", "title", "parameters"], ["VARCHAR"] * 3, rows)


def describe_saved(name: str) -> str:
    q = saved_query(name)
    lines = [f"{q.name}: {q.title}", "", q.description, ""]
    if q.params:
        lines.append("Parameters:")
        lines += [f"  {p.name} ({p.type.lower()}, default {p.default}): {p.help}" for p in q.params]
        lines.append("")
    lines += [
        f"Run it: dapaudit query --saved {q.name}"
        + "".join(f" --param {p.name}={p.default}" for p in q.params),
        "",
        f"SQL ({q.file.name}):",
        q.sql,
    ]
    return "\n".join(lines).rstrip() + "\n"
