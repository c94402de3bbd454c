"""Read stored findings back, filtered, in their stable order, and write them as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, TextIO

import duckdb
import orjson

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
    allowed = (
        list(SEVERITIES[: SEVERITIES.index(min_severity) + 1]) if min_severity else list(SEVERITIES)
    )
    rows = con.execute(
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
    ).fetchall()
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
    target.write_bytes(_json_bytes(findings))


def _json_bytes(findings: list[dict[str, Any]]) -> bytes:
    try:
        return orjson.dumps(findings, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text = json.dumps(findings, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
        return text.encode("utf-8")


CSV_FIELDS = tuple(f for f in FIELDS if f != "evidence") + ("evidence",)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A cell a spreadsheet would run as a formula is prefixed with ' so it stays text."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def to_csv(findings: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    _write_csv(findings, buf)
    return buf.getvalue()


def write_csv(findings: list[dict[str, Any]], target: Path) -> None:
    """to_csv() into a file, row by row rather than as one string."""
    with open(target, "w", encoding="utf-8") as fh:
        _write_csv(findings, fh)


def _write_csv(findings: list[dict[str, Any]], fh: TextIO) -> None:
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for f in findings:
        row = []
        for name in CSV_FIELDS:
            value = f[name]
            if name == "controls":
                value = " ".join(value)
            elif name in ("evidence", "suppression"):
                value = (
                    "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
                )
            row.append(neutralise("" if value is None else str(value)))
        writer.writerow(row)
