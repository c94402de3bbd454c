"""The monthly report's model: plain dataclasses built from the database; templates only display."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import duckdb

from .. import __version__
from ..findings import load_findings
from ..rules import SEVERITIES, Rule, rules_by_id


@dataclass
class ManifestEntry:
    """One input file: path, detected kind, rows it gave, SHA-256."""

    path: str
    kind: str
    rows: int
    sha256: str


@dataclass
class RuleSection:
    """One rule's findings with its rationale and remediation."""

    rule: Rule
    findings: list[dict[str, Any]]


@dataclass
class MonthlyReport:
    """Everything the monthly template shows."""

    title: str
    organisation: str
    snapshot: str
    as_of: date
    generated_at: str
    tool_version: str
    customers_assessed: int
    partners_seen: int
    severity_counts: list[tuple[str, int]]  # open findings, every severity in order
    rule_counts: list[tuple[str, int]]  # open findings by rule, rules with findings
    sections: list[RuleSection]
    suppressed: list[dict[str, Any]]
    manifest: list[ManifestEntry]
    total_open: int
    extra: dict[str, Any] = field(default_factory=dict)


def build_monthly(
    con: duckdb.DuckDBPyConnection, snapshot: str, *, title: str, organisation: str
) -> MonthlyReport:
    as_of = con.execute("SELECT as_of FROM snapshots WHERE snapshot = ?", [snapshot]).fetchone()[0]
    findings = load_findings(con, snapshot)
    open_ = [f for f in findings if f["status"] == "open"]
    rules = rules_by_id()
    sections = []
    for rule_id in sorted({f["rule_id"] for f in open_}):
        sections.append(
            RuleSection(rules[rule_id], [f for f in open_ if f["rule_id"] == rule_id])
        )
    sections.sort(key=lambda s: (SEVERITIES.index(s.rule.severity), s.rule.id))
    customers, partners = con.execute(
        """SELECT count(DISTINCT tenant_id) FILTER (WHERE tenant_type = 'customer'),
                  count(DISTINCT tenant_id) FILTER (WHERE tenant_type = 'partner')
           FROM tenant_directory WHERE snapshot = ?""",
        [snapshot],
    ).fetchone()
    manifest = [
        ManifestEntry(*row)
        for row in con.execute(
            "SELECT path, kind, row_count, sha256 FROM source_files WHERE snapshot = ? "
            "ORDER BY path, source_file_id",
            [snapshot],
        ).fetchall()
    ]
    return MonthlyReport(
        title=title,
        organisation=organisation,
        snapshot=snapshot,
        as_of=as_of,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        tool_version=__version__,
        customers_assessed=customers,
        partners_seen=partners,
        severity_counts=[(s, sum(1 for f in open_ if f["severity"] == s)) for s in SEVERITIES],
        rule_counts=[(s.rule.id, len(s.findings)) for s in sections],
        sections=sections,
        suppressed=[f for f in findings if f["status"] == "suppressed"],
        manifest=manifest,
        total_open=len(open_),
    )
