"""Read stored findings back, filtered, in their stable order, and write them as JSON or CSV."""

from __future__ import annotations

import gc
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import duckdb
import orjson

from . import db
from .paths import atomic_target
from .rules import SEVERITIES

FIELDS = (
    "snapshot",
    "rule_id",
    "severity",
    "customer_tenant_id",
    "partner_tenant_id",
    "subject",
    "title",
    "status",
    "first_seen",
    "fingerprint",
    "controls",
    "suppression",
    "evidence",
)


def query_findings(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    *,
    min_severity: str | None = None,
    rule: str | None = None,
    tenant: str | None = None,
    framework: str | None = None,
    evidence: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Run the findings query on `con`; the caller fetches the rows (all, or a batch at a time)."""
    allowed = (
        list(SEVERITIES[: SEVERITIES.index(min_severity) + 1]) if min_severity else list(SEVERITIES)
    )
    return con.execute(
        f"""SELECT {", ".join(f if evidence or f != "evidence" else "NULL" for f in FIELDS)}
        FROM findings
        WHERE snapshot = $snapshot
          AND severity IN (SELECT unnest($severities::VARCHAR[]))
          AND ($rule IS NULL OR rule_id = $rule)
          AND ($tenant IS NULL OR customer_tenant_id = lower($tenant))
          AND ($framework IS NULL OR EXISTS (
                SELECT 1 FROM unnest(controls) AS t(c) WHERE starts_with(t.c, $framework || ':')))
        ORDER BY position""",
        {
            "snapshot": snapshot,
            "severities": allowed,
            "rule": rule,
            "tenant": tenant,
            "framework": framework,
        },
    )


def _items(rows: list[tuple], evidence: bool, framework: str | None) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        item = dict(zip(FIELDS, row, strict=True))
        if evidence:
            item["evidence"] = _parse(item["evidence"])
        item["suppression"] = json.loads(item["suppression"]) if item["suppression"] else None
        item["controls"] = list(item["controls"])
        if framework:
            item["controls"] = [c for c in item["controls"] if c.startswith(framework + ":")]
        out.append(item)
    return out


def load_findings(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    *,
    min_severity: str | None = None,
    rule: str | None = None,
    tenant: str | None = None,
    framework: str | None = None,
    evidence: bool = True,
) -> list[dict[str, Any]]:
    """Findings of a snapshot as plain dicts (a snapshot's findings are few: rows, not exports).

    `evidence=False` leaves each finding's evidence None: parsing it is most of the cost at
    100,000 findings, and the monthly report does not show it."""
    rows = query_findings(
        con,
        snapshot,
        min_severity=min_severity,
        rule=rule,
        tenant=tenant,
        framework=framework,
        evidence=evidence,
    ).fetchall()
    return _items(rows, evidence, framework)


# Findings per batch when writing the findings files: big enough that per-batch costs vanish,
# small enough that a batch's dicts (with parsed evidence) stay a few megabytes.
BATCH = 5000


def write_findings_files(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    json_target: Path,
    csv_target: Path,
    *,
    framework: str | None = None,
) -> None:
    """findings.json and findings.csv, byte for byte as write_json(load_findings(...)) and
    write_csv(...) write them, in one pass a batch at a time: holding 100,000 findings with
    parsed evidence as dicts took over 500 MB, and the cyclic garbage collector rescanning
    them while more were made cost as much as the work itself."""
    cursor = query_findings(
        con,
        snapshot,
        min_severity=None,
        rule=None,
        tenant=None,
        framework=framework,
        evidence=True,
    )
    with (
        gc_paused(),
        atomic_target(json_target) as json_scratch,
        atomic_target(csv_target) as csv_scratch,
        open(json_scratch, "wb") as jf,
        open(csv_scratch, "w", encoding="utf-8") as cf,
    ):
        cf.write(CSV_HEADER)
        first = True
        while rows := cursor.fetchmany(BATCH):
            items = _items(rows, True, framework)
            # An indented list of the batch without its brackets: "[\n" + items + "\n]".
            text = _json_bytes(items)[2:-3]
            jf.write((b"[\n" if first else b",\n") + text)
            first = False
            cf.write(_csv_lines(items))
        jf.write(b"[]\n" if first else b"\n]\n")


def write_findings_files_of(
    db_path: str, snapshot: str, json_target: Path, csv_target: Path, framework: str | None
) -> None:
    """write_findings_files() on its own read-only connection to `db_path`: the monthly report
    runs it in a second process beside the HTML (`python -m dapaudit.findings`)."""
    con = db.connect(db_path, read_only=True)
    try:
        con.execute("SET enable_progress_bar = false")
        write_findings_files(con, snapshot, json_target, csv_target, framework=framework)
    finally:
        con.close()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building many small containers triggers collections
    that rescan every live object again and again; these objects form no cycles, and reference
    counting frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse(text: str) -> Any:
    """json.loads, three times faster: orjson gives the same objects; what it refuses (integers
    beyond 64 bits) goes through json."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def to_json(findings: list[dict[str, Any]]) -> str:
    """The findings as indented JSON, as `json.dumps(indent=2, ensure_ascii=False)` writes it.

    The standard library encodes indented JSON in pure Python: 35 s for 100,000 findings.
    orjson writes the same text (same separators, indentation and escaping, UTF-8 kept)
    in well under a second. What orjson refuses (integers beyond 64 bits, lone surrogates,
    non-string keys) goes the slow way; floats, which no rule's evidence holds today, would
    be spelt the shortest way (1e-5, not 1e-05): the same number to every JSON reader.
    """
    return _json_bytes(findings).decode("utf-8")


def write_json(findings: list[dict[str, Any]], target: Path) -> None:
    """to_json() into a file, without a second copy of the text in memory."""
    with atomic_target(target) as scratch:
        scratch.write_bytes(_json_bytes(findings))


def _json_bytes(findings: list[dict[str, Any]]) -> bytes:
    try:
        return orjson.dumps(findings, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text = json.dumps(findings, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
        return text.encode("utf-8")


CSV_FIELDS = tuple(f for f in FIELDS if f != "evidence") + ("evidence",)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _formula(value: str) -> bool:
    """Whether a spreadsheet could run `value` as a formula: it starts with one of
    _FORMULA_START, or does after leading spaces (an import that trims cells runs ' =1+1')."""
    return value.startswith(_FORMULA_START) or (
        value[:1].isspace() and value.lstrip().startswith(_FORMULA_START)
    )


def neutralise(value: str) -> str:
    """A cell a spreadsheet would run as a formula is prefixed with ' so it stays text."""
    return "'" + value if _formula(value) else value


def to_csv(findings: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    _write_csv(findings, buf)
    return buf.getvalue()


def write_csv(findings: list[dict[str, Any]], target: Path) -> None:
    """to_csv() into a file, row by row rather than as one string."""
    with atomic_target(target) as scratch, open(scratch, "w", encoding="utf-8") as fh:
        _write_csv(findings, fh)


def _write_csv(findings: list[dict[str, Any]], fh: TextIO) -> None:
    fh.write(CSV_HEADER)
    fh.write(_csv_lines(findings))


CSV_HEADER = ",".join(CSV_FIELDS) + "\n"

# json.dumps(value, ensure_ascii=False, sort_keys=True) without rebuilding the encoder per call.
_sorted_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def csv_cell(value: str, *, number: bool = False) -> str:
    """A cell of a CSV row, prefixed with ' when a spreadsheet would run it as a formula (not a
    `number`: -1 stays a number), and quoted as csv.writer (QUOTE_MINIMAL) quotes, and also
    when it holds a carriage return: csv.writer with lineterminator "\n" leaves one bare, and
    a reader (Excel, Python's csv) then starts a new row there, whose first cell is not
    neutralised. Hand-written: the csv module copies every character through its
    per-character loop, which took seconds on the quote-heavy evidence of 100,000 findings."""
    if not number and _formula(value):
        value = "'" + value
    if '"' in value:
        return '"' + value.replace('"', '""') + '"'
    if "," in value or "\n" in value or "\r" in value:
        return '"' + value + '"'
    return value


def _csv_lines(findings: list[dict[str, Any]]) -> str:
    """The CSV rows of `findings`, each ending in a newline, as one string: the CSV_FIELDS in
    order, spelt out (a loop over the field names per finding cost a third of the time)."""
    cell = csv_cell
    dump = _sorted_json
    lines = [
        ",".join(
            (
                cell(f["snapshot"]),
                cell(f["rule_id"]),
                cell(f["severity"]),
                cell(_text(f["customer_tenant_id"])),
                cell(_text(f["partner_tenant_id"])),
                cell(_text(f["subject"])),
                cell(_text(f["title"])),
                cell(_text(f["status"])),
                cell(_text(f["first_seen"])),
                cell(_text(f["fingerprint"])),
                cell(" ".join(f["controls"])),
                "" if f["suppression"] is None else cell(dump(f["suppression"])),
                "" if f["evidence"] is None else cell(dump(f["evidence"])),
            )
        )
        for f in findings
    ]
    lines.append("")
    return "\n".join(lines) if findings else ""


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


if __name__ == "__main__":  # the second process of report/service.py: DB SNAPSHOT JSON CSV [FW]
    import sys

    _db, _snapshot, _json, _csv, *_fw = sys.argv[1:]
    write_findings_files_of(_db, _snapshot, Path(_json), Path(_csv), _fw[0] if _fw else None)
