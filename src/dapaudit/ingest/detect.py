"""Decide the kind of a file from its content: CSV header columns or JSON keys, never its name."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from ..errors import DapauditError
from .base import REGISTRY, Kind, Sniff, SourceFile
from .text import HEAD_BYTES, TextInfo, csv_header, json_keys, normalise_header, sniff_delimiter


def sniff(info: TextInfo) -> Sniff:
    head = info.head
    stripped = head.lstrip()
    if stripped[:1] in ("{", "["):
        record, doc_keys, context = first_record(stripped)
        return Sniff(
            "json",
            frozenset(),
            head,
            record=record,
            doc_keys=frozenset(doc_keys),
            odata_context=context,
        )
    delimiter = sniff_delimiter(head)
    columns = csv_header(head, delimiter)
    if len(columns) < 2:
        return Sniff("unknown", frozenset(), head)
    return Sniff("csv", frozenset(normalise_header(c) for c in columns), head)


_DECODER = json.JSONDecoder()
_VALUE = re.compile(r'"value"\s*:\s*\[\s*')


def first_record(text: str) -> tuple[dict | None, set[str], str]:
    """The first record of a JSON export, its document's top-level keys and @odata.context.

    Reads only what the head holds: a Graph page (`{"@odata.context":..., "value":[{...}`), a
    bare array (`az ... -o json`), NDJSON or a single object. Keys of the document that come
    before `value` are seen even when the record is cut off by the end of the head.
    """
    try:
        if text.startswith("["):
            start = len(text) - len(text[1:].lstrip())
            if text[start : start + 1] != "{":
                return None, set(), ""
            record, _ = _DECODER.raw_decode(text, start)
            return (record if isinstance(record, dict) else None), set(), ""
        match = _VALUE.search(text)
        if match is None:
            doc, _ = _DECODER.raw_decode(text)
            return (doc if isinstance(doc, dict) else None), set(), ""
        doc_keys = set(json_keys(text[: match.start()] + '"value":'))
        context = ""
        ctx = re.search(r'"@odata\.context"\s*:\s*"([^"]*)"', text[: match.start()])
        if ctx:
            context = ctx.group(1)
        if text[match.end() : match.end() + 1] != "{":
            # No record (an empty page): when the head holds the whole document, its keys
            # after `value` count too (`@odata.context` may come last).
            try:
                doc = json.loads(text)
            except (ValueError, RecursionError):
                return None, doc_keys, context
            if isinstance(doc, dict):
                found = doc.get("@odata.context")
                return None, set(doc), found if isinstance(found, str) else context
            return None, doc_keys, context
        record, _ = _DECODER.raw_decode(text, match.end())
        return (record if isinstance(record, dict) else None), doc_keys, context
    except (ValueError, RecursionError):  # deeply nested input: no record to sniff
        return None, set(), ""


def check_whole_json(s: Sniff, path: Path, shown: str) -> None:
    """A JSON file whose first record cannot be read, and which the head holds entirely, is
    malformed (typically cut short): say where, rather than that its kind is unknown."""
    if s.format != "json" or s.record is not None or path.stat().st_size > HEAD_BYTES:
        return
    try:
        json.loads(s.head)
    except RecursionError:  # nested deeper than Python parses; DuckDB's reader decides
        return
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        what = getattr(exc, "msg", str(exc))
        raise DapauditError(
            f"malformed JSON: {what}" + (" (the file ends early)" if "Expecting" in what else ""),
            file=shown,
            record=line,
            record_label="line",
        ) from None


def detect_kind(s: Sniff, shown: str) -> Kind:
    found = REGISTRY.detect(s)
    if len(found) == 1:
        return found[0]
    considered = ", ".join(sorted(REGISTRY.kinds))
    if not found:
        what = {"csv": "CSV header", "json": "JSON keys", "unknown": "content"}[s.format]
        nearest = _nearest(s)
        if nearest is not None:
            raise DapauditError(
                f"cannot tell the kind of this file from its {what}; it comes closest to "
                f"{nearest[0]}: {nearest[1]}",
                file=shown,
            )
        raise DapauditError(
            f"cannot tell the kind of this file from its {what}; considered: {considered}. "
            "Use --kind to force one",
            file=shown,
        )
    raise DapauditError(
        "the content fits several kinds: "
        + ", ".join(k.name for k in found)
        + "; use --kind to choose",
        file=shown,
    )


def _nearest(s: Sniff) -> tuple[str, str] | None:
    """The kind a CSV file no kind detects comes closest to, and what to do (Kind.near_miss),
    when one comes closer than any other."""
    if s.format != "csv":
        return None
    header = csv_header(s.head, sniff_delimiter(s.head))
    scored = []
    for kind in REGISTRY.kinds.values():
        if kind.near_miss is not None and kind.format == "csv":
            near = kind.near_miss(header)
            if near is not None:
                scored.append((near[0], kind.name, near[1]))
    scored.sort(reverse=True)
    if not scored or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None
    return scored[0][1], scored[0][2]


def unserialised_warnings(f: SourceFile, s: Sniff) -> list[str]:
    """Export-Csv writes a nested object as its type name (`System.Object[]`): say which column."""
    if s.format != "csv" or f.delimiter is None:
        return []
    try:
        rows = list(csv.reader(io.StringIO(s.head, newline=""), delimiter=f.delimiter))
    except csv.Error:  # a head DuckDB will refuse with a located message anyway
        return []
    if len(rows) < 2:
        return []
    header = rows[0]
    flagged: list[str] = []
    # The last row of the head may be cut short, unless the head ends at a line end.
    complete = rows[1:] if s.head.endswith(("\n", "\r")) else rows[1:-1]
    for row in complete:
        for name, value in zip(header, row, strict=False):
            if value.startswith("System.") and name not in flagged:
                flagged.append(name)
    return [
        f"{f.display_path}: column {name!r} holds an unserialised PowerShell object "
        f"({_first_value(rows, header.index(name))!r}); its data is not in the export"
        for name in flagged
    ]


def _first_value(rows: list[list[str]], index: int) -> str:
    for row in rows[1:]:
        if index < len(row) and row[index].startswith("System."):
            return row[index]
    return ""
