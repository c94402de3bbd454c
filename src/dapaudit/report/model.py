"""The report models: typed dataclasses built from the database; templates only display them.

`build_monthly` gives the estate-wide compliance report, `build_tenant_review` the security
review of one customer. The review reads only rows WHERE customer/tenant = that customer (and
the partner-side rows of that customer's own partners), so it cannot show another customer.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from .. import __version__
from ..errors import DapauditError
from ..findings import query_findings
from ..rules import SEVERITIES, Rule, frameworks, rules_by_id

# The exports without which a customer cannot be fully assessed (COVERAGE-GAP reads the same).
REQUIRED_CUSTOMER_DATASETS = ("directory_role_members", "azure_role_assignments")


def read_not_covered(tenants: str) -> str:
    """SQL over $snapshot: (tenant_id, dataset, source_file_id) of each required export read
    for a customer that does not cover it: rows of the dataset for the tenant, and no
    export_coverage row. Ingest leaves a Graph listing without its last page so (its rows are
    evidence, but it is not the whole listing): the reports say it is incomplete, not
    missing, as COVERAGE-GAP does. `tenants`: SQL condition on x.tenant_id, the customers
    asked about (its rows are read for them only)."""
    return " UNION ALL ".join(
        f"""SELECT DISTINCT x.tenant_id, '{dataset}' AS dataset, x.source_file_id
        FROM {dataset} x
        WHERE x.snapshot = $snapshot AND ({tenants}) AND NOT EXISTS (
            SELECT 1 FROM export_coverage c
            WHERE c.snapshot = $snapshot AND c.tenant_id = x.tenant_id
              AND c.dataset = '{dataset}')"""
        for dataset in REQUIRED_CUSTOMER_DATASETS
    )


DATASET_LABELS = {
    "directory_role_members": "directory role listing",
    "azure_role_assignments": "Azure role assignments",
    "azure_subscriptions": "Azure subscriptions",
    "partner_relationships": "partner relationships",
    "gdap_relationships": "GDAP relationships",
    "dap_monitoring": "DAP monitoring",
    "tenants": "tenant list",
    "partner_agent_groups": "partner agent groups",
    "partner_group_members": "partner group members",
    "gdap_relationship_roles": "GDAP relationship roles",
    "gdap_access_assignments": "GDAP access assignments",
    "autopilot_devices": "Autopilot devices",
}
INCOMPLETE_NOTE = " (incomplete: a Graph listing without its last page)"
PATH_LABELS = {
    "listed_own": "listed: the tenant's own principal",
    "listed_partner": "listed: partner group or user (GDAP)",
    "listed_foreign": "listed: principal of a tenant with no known partner relationship",
    "implicit_dap": "implicit through DAP (not in the role listing)",
    "gdap_unlisted": "GDAP access assignment (not in the exported role listing)",
}


# ------------------------------------------------------------------ shared pieces


@dataclass
class Branding:
    """Who the report is from: shown in the header of every report."""

    title: str  # report title (the tenant review adds the customer's name)
    organisation: str  # organisation issuing the report; may be empty
    logo_data_uri: str | None = None  # the configured logo as a data: URI, embedded in HTML


@dataclass
class ReportView:
    """How one rendering shows the model: the same template serves screen and paper."""

    medium: str = "html"  # "html" (full lists) or "pdf" (lists cut at `limit`)
    paper: str = "A4"  # CSS page size for print: "A4" or "letter"
    limit: int | None = None  # most rows per long list in the PDF; None shows everything

    @property
    def full(self) -> bool:
        return self.limit is None


@dataclass
class Bar:
    """One bar of a horizontal bar chart; `fraction` is value / largest value (0..1)."""

    label: str
    value: int
    fraction: float
    css: str = ""  # severity or change name, for the fill colour
    href: str | None = None  # anchor the label links to


@dataclass
class BarChart:
    """A horizontal bar chart drawn as inline SVG by the template."""

    title: str
    bars: list[Bar]

    @property
    def height(self) -> int:
        return 24 * len(self.bars) + 8


def bar_chart(title: str, items: list[tuple[str, int, str, str | None]]) -> BarChart:
    top = max((v for _, v, _, _ in items), default=0) or 1
    return BarChart(title, [Bar(label, v, v / top, css, href) for label, v, css, href in items])


@dataclass
class ControlRef:
    """A compliance control a rule supports."""

    framework_id: str
    framework_name: str
    control_id: str
    title: str

    @property
    def key(self) -> str:
        return f"{self.framework_id}:{self.control_id}"


def control_refs(keys: tuple[str, ...] | list[str]) -> list[ControlRef]:
    fw = frameworks()
    out = []
    for key in keys:
        fid, _, cid = key.partition(":")
        f = fw.get(fid)
        out.append(ControlRef(fid, f.name if f else fid, cid, f.controls.get(cid, "") if f else ""))
    return out


@dataclass
class EvidenceRef:
    """A source row that proves a finding."""

    file: str
    record: int | str


def evidence_refs(evidence: Any) -> list[EvidenceRef]:
    """Every (file, record) pair anywhere in a finding's evidence object, in order, once."""
    found: list[EvidenceRef] = []
    seen: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node and "record" in node:
                key = (str(node["file"]), str(node["record"]))
                if key not in seen:
                    seen.add(key)
                    found.append(EvidenceRef(str(node["file"]), node["record"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(evidence)
    return found


@dataclass
class FindingRow:
    """One finding as the reports show it."""

    rule_id: str
    severity: str
    status: str  # open or suppressed
    customer_tenant_id: str | None
    customer_name: str  # display name, else domain, else id
    partner_tenant_id: str | None
    partner_name: str  # display name, else id; "" when the finding names no partner
    subject: str
    title: str
    first_seen: str
    fingerprint: str
    controls: list[str]
    suppression_reason: str = ""
    suppression_owner: str = ""
    suppression_expires: str = ""
    evidence: list[EvidenceRef] = field(default_factory=list)
    # Of a finding this snapshot no longer has (resolved, not assessed): the snapshot it was
    # last found in, which is earlier than the previous one when the snapshots since could not
    # assess it. "" otherwise.
    last_found: str = ""


def _finding_rows(items: list[dict[str, Any]], names: dict[str, str]) -> list[FindingRow]:
    rows = []
    for f in items:
        sup = f["suppression"] or {}
        cust = f["customer_tenant_id"]
        part = f["partner_tenant_id"]
        rows.append(
            FindingRow(
                rule_id=f["rule_id"],
                severity=f["severity"],
                status=f["status"],
                customer_tenant_id=cust,
                customer_name=names.get(cust or "", cust or ""),
                partner_tenant_id=part,
                partner_name=names.get(part or "", part or ""),
                subject=f["subject"],
                title=f["title"],
                first_seen=f["first_seen"],
                fingerprint=f["fingerprint"],
                controls=f["controls"],
                suppression_reason=sup.get("reason") or "",
                suppression_owner=sup.get("owner") or "",
                suppression_expires=str(sup.get("expires") or ""),
                evidence=evidence_refs(f["evidence"]) if f["evidence"] is not None else [],
            )
        )
    return rows


def _monthly_finding_rows(
    con: duckdb.DuckDBPyConnection, snapshot: str, framework: str | None, names: dict[str, str]
) -> list[FindingRow]:
    """The snapshot's findings as _finding_rows(load_findings(..., evidence=False)) gives them,
    built straight from the query's tuples: the dict per finding in between was a third of the
    model's cost at 100,000 findings."""
    rows = query_findings(con, snapshot, framework=framework, evidence=False).fetchall()
    prefix = None if framework is None else framework + ":"
    get = names.get
    out = []
    for (
        _snapshot,
        rule_id,
        severity,
        cust,
        part,
        subject,
        title,
        status,
        first_seen,
        fingerprint,
        controls,
        suppression,
        _evidence,
    ) in rows:
        sup = (json.loads(suppression) if suppression else None) or {}
        out.append(
            FindingRow(
                rule_id=rule_id,
                severity=severity,
                status=status,
                customer_tenant_id=cust,
                customer_name=get(cust or "", cust or ""),
                partner_tenant_id=part,
                partner_name=get(part or "", part or ""),
                subject=subject,
                title=title,
                first_seen=first_seen,
                fingerprint=fingerprint,
                controls=(
                    list(controls)
                    if prefix is None
                    else [c for c in controls if c.startswith(prefix)]
                ),
                suppression_reason=sup.get("reason") or "" if sup else "",
                suppression_owner=sup.get("owner") or "" if sup else "",
                suppression_expires=str(sup.get("expires") or "") if sup else "",
                evidence=[],
            )
        )
    return out


@dataclass
class RuleSection:
    """One rule: why it matters, numbered remediation steps, controls, its findings."""

    rule: Rule
    controls: list[ControlRef]
    findings: list[FindingRow]  # open findings, sorted by customer name, partner, subject
    # (severity, open findings) for each severity its open findings carry, worst first. A
    # finding's severity is the rule's default only until a rule grades it (AZURE-LINGERING-
    # PARTNER-ROLE: medium below Owner) or the configuration overrides it; the reports show
    # these, never rule.severity, so the rules' rows add up to the summary's counts.
    severity_counts: list[tuple[str, int]] = field(init=False)

    def __post_init__(self) -> None:
        counts = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            counts[f.severity] += 1
        self.severity_counts = [(s, n) for s, n in counts.items() if n]

    @property
    def severity(self) -> str:
        """The worst severity of its open findings (the rule's default when it has none)."""
        return self.severity_counts[0][0] if self.severity_counts else self.rule.severity

    @property
    def anchor(self) -> str:
        return f"rule-{self.rule.id}"


def _rule_sections(open_rows: list[FindingRow]) -> list[RuleSection]:
    rules = rules_by_id()
    by_rule: dict[str, list[FindingRow]] = {}
    for row in open_rows:
        by_rule.setdefault(row.rule_id, []).append(row)
    sections = []
    for rule_id, rows in by_rule.items():
        rule = rules[rule_id]
        rows.sort(
            key=lambda r: (
                r.customer_name.lower(),
                r.customer_tenant_id or "",
                r.partner_name.lower(),
                r.subject,
            )
        )
        sections.append(RuleSection(rule, control_refs(rule.controls), rows))
    # Worst first by what the findings carry: a rule overridden to critical leads.
    sections.sort(key=lambda s: (SEVERITIES.index(s.severity), s.rule.id))
    return sections


def _as_of(con: duckdb.DuckDBPyConnection, snapshot: str) -> date:
    return con.execute("SELECT as_of FROM snapshots WHERE snapshot = ?", [snapshot]).fetchone()[0]


def _now() -> str:
    """When a report says it was generated: now, or $SOURCE_DATE_EPOCH when set (the
    reproducible-builds convention), so that the same database gives the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch.isdigit() else datetime.now(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


# ------------------------------------------------------------------ monthly report


@dataclass
class ManifestEntry:
    """One input file: path, detected kind, rows it gave, SHA-256."""

    path: str
    kind: str
    rows: int
    sha256: str


@dataclass
class CoverageGap:
    """A customer tenant with a required export missing."""

    tenant_id: str
    name: str
    domain: str
    missing: list[str]  # human labels of the missing exports


@dataclass
class CustomerRow:
    """One customer in the per-customer table: open findings by severity."""

    tenant_id: str
    name: str
    domain: str
    counts: list[int]  # open findings per severity, in SEVERITIES order
    total: int
    suppressed: int
    missing: list[str]  # missing export labels

    @property
    def anchor(self) -> str:
        return f"customer-{self.tenant_id}"


@dataclass
class CustomerFindings:
    """One customer's open findings, for the findings-by-customer section (HTML)."""

    customer: CustomerRow
    findings: list[FindingRow]


@dataclass
class Changes:
    """The change since the previous analysed snapshot (views finding_changes/snapshot_deltas)."""

    previous_snapshot: str | None  # None: this is the first analysed snapshot
    new: int
    still_open: int
    # Findings standing open before (found in the previous snapshot, or earlier and not
    # assessed since) that this one judged gone.
    resolved_findings: list[FindingRow]
    # Findings standing open before that this one could not judge (their rule was off, or an
    # export they are judged from is missing this time): not resolved, not open.
    not_assessed_findings: list[FindingRow]
    chart: BarChart
    # Findings standing open before that this one could not judge, of customers its analysis
    # took as offboarded ([[offboarded_customers]]): carried no further. And those customers.
    offboarded_findings: list[FindingRow] = field(default_factory=list)
    offboarded_customers: list[OffboardedCustomer] = field(default_factory=list)

    @property
    def resolved(self) -> int:
        return len(self.resolved_findings)

    @property
    def not_assessed(self) -> int:
        return len(self.not_assessed_findings)

    @property
    def resolved_found_before(self) -> bool:
        return _found_before(self.resolved_findings, self.previous_snapshot)

    @property
    def not_assessed_found_before(self) -> bool:
        return _found_before(self.not_assessed_findings, self.previous_snapshot)

    @property
    def offboarded(self) -> int:
        return len(self.offboarded_findings)

    @property
    def offboarded_found_before(self) -> bool:
        return _found_before(self.offboarded_findings, self.previous_snapshot)


@dataclass
class OffboardedCustomer:
    """A customer whose carried findings this snapshot ended as offboarded: the configuration
    entry that said so, and how many."""

    name: str
    since: str
    reason: str
    owner: str
    findings: int


def _found_before(rows: list[FindingRow], previous: str | None) -> bool:
    """Whether a finding of `rows` (ordered as _changes gives them: last found earliest
    first) was last found before the previous snapshot, the snapshots since not assessing it:
    the list then says when each was last found. Looks at the first row only."""
    return bool(rows) and rows[0].last_found != previous


@dataclass
class ControlRow:
    """One control of a framework, the rules that support it and its open findings."""

    control_id: str
    title: str
    rules: list[str]  # rule ids mapped to this control
    open_findings: int
    findings: list[FindingRow]  # the open findings of those rules


@dataclass
class FrameworkSection:
    """A compliance framework: every control with its rules and open findings."""

    id: str
    name: str
    url: str
    controls: list[ControlRow]

    @property
    def anchor(self) -> str:
        return f"framework-{self.id}"


class _Branded:
    """Title and organisation of a report, from its `branding` field."""

    branding: Branding

    @property
    def title(self) -> str:
        return self.branding.title

    @property
    def organisation(self) -> str:
        return self.branding.organisation


@dataclass
class MonthlyReport(_Branded):
    """Everything the monthly template shows."""

    branding: Branding
    snapshot: str
    as_of: date
    generated_at: str
    tool_version: str
    framework: str | None  # the framework the report is narrowed to, or None
    customers_assessed: int
    customers_fully_covered: int
    partners_seen: int
    coverage_gaps: list[CoverageGap]
    total_open: int
    severity_counts: list[tuple[str, int]]  # open findings, every severity in order
    rule_counts: list[tuple[str, int]]  # open findings by rule, rules with findings
    severity_chart: BarChart
    rule_chart: BarChart
    changes: Changes
    sections: list[RuleSection]
    customers: list[CustomerRow]  # sorted by open findings (worst first), then name
    by_customer: list[CustomerFindings]  # customers with open findings, sorted by name
    frameworks: list[FrameworkSection]
    suppressed: list[FindingRow]
    manifest: list[ManifestEntry]


def _tenant_names(con: duckdb.DuckDBPyConnection, snapshot: str) -> dict[str, str]:
    return dict(
        con.execute(
            """SELECT tenant_id, coalesce(display_name, default_domain, tenant_id)
               FROM tenant_directory WHERE snapshot = ? ORDER BY tenant_id""",
            [snapshot],
        ).fetchall()
    )


def export_label(dataset: str, incomplete: bool = False) -> str:
    """How reports name an export (a dataset), saying so when it was read but is incomplete."""
    return DATASET_LABELS.get(dataset, dataset) + (INCOMPLETE_NOTE if incomplete else "")


def _customers(con: duckdb.DuckDBPyConnection, snapshot: str) -> list[tuple]:
    """Customer tenants in scope with their missing exports and, of those, the ones read but
    incomplete, sorted by name."""
    read_for_gaps = read_not_covered(
        "x.tenant_id IN (SELECT tenant_id FROM gaps WHERE len(missing) > 0)"
    )
    return con.execute(
        f"""WITH customers AS (
               -- the same scope COVERAGE-GAP and the rules use (views.sql)
               SELECT customer_tenant_id AS tenant_id FROM customer_tenants
               WHERE snapshot = $snapshot
               UNION
               SELECT customer_tenant_id FROM findings
               WHERE snapshot = $snapshot AND customer_tenant_id IS NOT NULL
           ),
           covered AS (
               SELECT DISTINCT tenant_id, dataset FROM export_coverage WHERE snapshot = $snapshot
               UNION
               -- as COVERAGE-GAP: an exported subscription list without a subscription leaves
               -- no role assignment to export
               SELECT DISTINCT e.tenant_id, 'azure_role_assignments'
               FROM export_coverage e
               WHERE e.snapshot = $snapshot AND e.dataset = 'azure_subscriptions'
                 AND NOT EXISTS (SELECT 1 FROM azure_subscriptions s
                                 WHERE s.snapshot = $snapshot AND s.tenant_id = e.tenant_id)
           ),
           required AS (SELECT unnest($required::VARCHAR[]) AS dataset),
           gaps AS (
               SELECT c.tenant_id,
                      coalesce(list(r.dataset ORDER BY r.dataset)
                               FILTER (WHERE v.tenant_id IS NULL), []) AS missing
               FROM customers c
               CROSS JOIN required r
               LEFT JOIN covered v ON v.tenant_id = c.tenant_id AND v.dataset = r.dataset
               GROUP BY c.tenant_id
           ),
           incomplete AS (
               SELECT DISTINCT tenant_id, dataset FROM ({read_for_gaps})
           )
           SELECT g.tenant_id,
                  coalesce(d.display_name, d.default_domain, g.tenant_id) AS name,
                  coalesce(d.default_domain, '') AS domain,
                  g.missing,
                  coalesce((SELECT list(i.dataset ORDER BY i.dataset) FROM incomplete i
                            WHERE i.tenant_id = g.tenant_id), []) AS incomplete
           FROM gaps g
           LEFT JOIN tenant_directory d ON d.snapshot = $snapshot AND d.tenant_id = g.tenant_id
           ORDER BY lower(name), g.tenant_id""",
        {"snapshot": snapshot, "required": list(REQUIRED_CUSTOMER_DATASETS)},
    ).fetchall()


def _changes(
    con: duckdb.DuckDBPyConnection, snapshot: str, names: dict[str, str], rule_ids: set[str] | None
) -> Changes:
    # Counted in SQL; only the findings of the previous snapshot that are gone are listed, so
    # only they come to Python.
    params = {"snapshot": snapshot, "rules": None if rule_ids is None else sorted(rule_ids)}
    rule_filter = "AND ($rules IS NULL OR list_contains($rules::VARCHAR[], rule_id))"
    previous, new, still_open = con.execute(
        f"""SELECT any_value(previous_snapshot),
                   count(*) FILTER (WHERE change = 'new' AND status = 'open' {rule_filter}),
                   count(*) FILTER (WHERE change = 'still_open' AND status = 'open' {rule_filter})
            FROM finding_changes WHERE snapshot = $snapshot""",
        params,
    ).fetchone()
    gone: dict[str, list[FindingRow]] = {"resolved": [], "not_assessed": [], "offboarded": []}
    for r in con.execute(
        f"""SELECT c.change, c.rule_id, c.severity, c.customer_tenant_id, c.partner_tenant_id,
                   c.subject, c.title, c.fingerprint, c.last_found_snapshot,
                   -- Named as when last found: an offboarded customer is named no more.
                   coalesce(dc.display_name, dc.default_domain), dp.display_name
            FROM finding_changes c
            JOIN snapshots o ON o.snapshot = c.last_found_snapshot
            LEFT JOIN tenant_directory dc
                   ON dc.snapshot = c.last_found_snapshot AND dc.tenant_id = c.customer_tenant_id
            LEFT JOIN tenant_directory dp
                   ON dp.snapshot = c.last_found_snapshot AND dp.tenant_id = c.partner_tenant_id
            WHERE c.snapshot = $snapshot AND c.change IN ('resolved', 'not_assessed', 'offboarded')
              {rule_filter}
            ORDER BY c.change, o.as_of, c.last_found_snapshot, c.rule_id, c.customer_tenant_id,
                     c.partner_tenant_id, c.subject, c.fingerprint""",
        params,
    ).fetchall():
        gone[r[0]].append(
            FindingRow(
                rule_id=r[1],
                severity=r[2],
                status=r[0],
                customer_tenant_id=r[3],
                customer_name=names.get(r[3] or "") or r[9] or r[3] or "",
                partner_tenant_id=r[4],
                partner_name=names.get(r[4] or "") or r[10] or r[4] or "",
                subject=r[5],
                title=r[6],
                first_seen="",
                fingerprint=r[7],
                controls=[],
                last_found=r[8],
            )
        )
    resolved, not_assessed = gone["resolved"], gone["not_assessed"]
    offboarded = gone["offboarded"]
    customers = []
    if offboarded:
        counts: dict[str, int] = {}
        for f in offboarded:
            counts[f.customer_tenant_id or ""] = counts.get(f.customer_tenant_id or "", 0) + 1
        names_then = {f.customer_tenant_id: f.customer_name for f in offboarded}
        customers = [
            OffboardedCustomer(names_then[tenant], str(since), reason, owner, counts[tenant])
            for tenant, since, reason, owner in con.execute(
                """SELECT tenant_id, min(since), min_by(reason, entry), min_by(owner, entry)
                FROM analysis_offboarded
                WHERE snapshot = $snapshot AND list_contains($tenants::VARCHAR[], tenant_id)
                GROUP BY tenant_id ORDER BY min(entry)""",
                {"snapshot": snapshot, "tenants": sorted(counts)},
            ).fetchall()
        ]
    bars = [
        ("new", new, "new", None),
        ("still open", still_open, "still", None),
        ("resolved", len(resolved), "resolved", "#resolved" if resolved else None),
    ]
    if not_assessed:
        bars.append(("not assessed", len(not_assessed), "still", "#not-assessed"))
    if offboarded:
        bars.append(("offboarded", len(offboarded), "still", "#offboarded"))
    chart = bar_chart("Change since " + (previous or "the previous snapshot"), bars)
    return Changes(previous, new, still_open, resolved, not_assessed, chart, offboarded, customers)


def _framework_sections(sections: list[RuleSection], only: str | None) -> list[FrameworkSection]:
    rules = {r.id: r for r in rules_by_id().values()}
    open_by_rule = {s.rule.id: s.findings for s in sections}
    out = []
    for fid, fw in frameworks().items():
        if only is not None and fid != only:
            continue
        controls = []
        for cid, title in fw.controls.items():
            mapped = sorted(r.id for r in rules.values() if f"{fid}:{cid}" in r.controls)
            found = [f for rid in mapped for f in open_by_rule.get(rid, [])]
            controls.append(ControlRow(cid, title, mapped, len(found), found))
        out.append(FrameworkSection(fid, fw.name, fw.url, controls))
    return out


def build_monthly(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    *,
    branding: Branding | None = None,
    framework: str | None = None,
    title: str | None = None,
    organisation: str | None = None,
) -> MonthlyReport:
    """The monthly report of `snapshot`; `framework` narrows it to rules mapped to one framework."""
    if branding is None:
        branding = Branding(title or "Partner access compliance report", organisation or "")
    if framework is not None and framework not in frameworks():
        raise DapauditError(f"unknown framework {framework!r}; known: {', '.join(frameworks())}")
    names = _tenant_names(con, snapshot)
    # The monthly report shows no evidence (findings.json beside it holds it): skip parsing it.
    rows = _monthly_finding_rows(con, snapshot, framework, names)
    open_rows = [f for f in rows if f.status == "open"]
    sections = _rule_sections(open_rows)
    rule_ids = None
    if framework is not None:
        rule_ids = {
            r.id
            for r in rules_by_id().values()
            if any(c.startswith(framework + ":") for c in r.controls)
        }

    # One pass over the findings for every customer's counts: counting per customer and
    # severity with a scan of its findings each was two seconds at 100,000 customers.
    sev_index = {s: i for i, s in enumerate(SEVERITIES)}
    customer_rows = []
    per_customer: dict[str, list[FindingRow]] = {}
    counts_of: dict[str, list[int]] = {}
    for f in open_rows:
        key = f.customer_tenant_id or ""
        mine = per_customer.get(key)
        if mine is None:
            mine = per_customer[key] = []
            counts_of[key] = [0] * len(SEVERITIES)
        mine.append(f)
        counts_of[key][sev_index[f.severity]] += 1
    suppressed_by: dict[str, int] = {}
    for f in rows:
        if f.status == "suppressed":
            key = f.customer_tenant_id or ""
            suppressed_by[key] = suppressed_by.get(key, 0) + 1
    gaps = []
    no_counts = [0] * len(SEVERITIES)
    for tenant_id, name, domain, missing, incomplete in _customers(con, snapshot):
        labels = [export_label(m, m in incomplete) for m in missing]
        mine = per_customer.get(tenant_id)
        customer_rows.append(
            CustomerRow(
                tenant_id,
                name,
                domain,
                counts_of[tenant_id] if mine else list(no_counts),
                len(mine) if mine else 0,
                suppressed_by.get(tenant_id, 0),
                labels,
            )
        )
        if labels:
            gaps.append(CoverageGap(tenant_id, name, domain, labels))
    by_name = list(customer_rows)
    customer_rows.sort(key=lambda c: ([-n for n in c.counts], c.name.lower(), c.tenant_id))
    by_customer = []
    for c in by_name:
        mine = per_customer.get(c.tenant_id)
        if mine:
            mine.sort(key=lambda f: (sev_index[f.severity], f.rule_id, f.partner_name, f.subject))
            by_customer.append(CustomerFindings(c, mine))

    severity_counts = [(s, sum(c[i] for c in counts_of.values())) for i, s in enumerate(SEVERITIES)]
    rule_counts = [(s.rule.id, len(s.findings)) for s in sections]
    partners = con.execute(
        """SELECT count(DISTINCT tenant_id) FROM (
               SELECT tenant_id FROM tenant_directory
               WHERE snapshot = $s AND tenant_type = 'partner'
               UNION SELECT partner_tenant_id FROM partner_access WHERE snapshot = $s)""",
        {"s": snapshot},
    ).fetchone()[0]
    manifest = [
        ManifestEntry(*row)
        for row in con.execute(
            "SELECT path, kind, row_count, sha256 FROM source_files WHERE snapshot = ? "
            "ORDER BY path, source_file_id",
            [snapshot],
        ).fetchall()
    ]
    return MonthlyReport(
        branding=branding,
        snapshot=snapshot,
        as_of=_as_of(con, snapshot),
        generated_at=_now(),
        tool_version=__version__,
        framework=framework,
        customers_assessed=len(customer_rows),
        customers_fully_covered=len(customer_rows) - len(gaps),
        partners_seen=partners,
        coverage_gaps=gaps,
        total_open=len(open_rows),
        severity_counts=severity_counts,
        rule_counts=rule_counts,
        severity_chart=bar_chart(
            "Open findings by severity", [(s, n, s, None) for s, n in severity_counts]
        ),
        rule_chart=bar_chart(
            "Open findings by rule",
            [(s.rule.id, len(s.findings), s.severity, "#" + s.anchor) for s in sections],
        ),
        changes=_changes(con, snapshot, names, rule_ids),
        sections=sections,
        customers=customer_rows,
        by_customer=by_customer,
        frameworks=_framework_sections(sections, framework),
        suppressed=[f for f in rows if f.status == "suppressed"],
        manifest=manifest,
    )


# ------------------------------------------------------------------ customer security review


@dataclass
class PartnerUser:
    """A member of a partner group: a partner user who acts in the customer tenant."""

    member_id: str
    display_name: str
    upn: str
    member_type: str


@dataclass
class AccessGrant:
    """One holder of one directory role in the customer tenant, and how it holds it."""

    role_template_id: str
    role_name: str
    is_global_admin: bool
    is_privileged: bool
    path: str  # listed_own, listed_partner, listed_foreign, implicit_dap, gdap_unlisted
    path_label: str
    holder_id: str | None  # None when the partner's agent group was not exported
    holder_type: str
    holder_name: str
    holder_upn: str
    partner_tenant_id: str | None
    relationship_id: str | None  # the GDAP relationship whose access assignment grants it
    relationship_name: str
    members_known: bool  # the partner side (group members) was exported
    members: list[PartnerUser]
    partner_name: str = ""  # the partner's name, or the foreign tenant id
    partner_anchor: str | None = None  # the partner's section in the review, if it has one

    @property
    def implicit(self) -> bool:
        return self.path == "implicit_dap"

    @property
    def members_unknown(self) -> bool:
        """A partner group's access whose members the partner side did not export."""
        return not self.members and self.path in ("listed_partner", "implicit_dap", "gdap_unlisted")


@dataclass
class GdapRelationship:
    """A GDAP relationship between a partner and this customer."""

    relationship_id: str
    display_name: str
    status: str
    is_active: bool
    is_mlt: bool
    end_at: str
    roles: list[str]  # role names it grants
    # Whether its access assignments were exported (a row of any status names it), as
    # GDAP-ROLES-UNASSIGNED judges: else which partner groups hold its roles is not known.
    assignments_exported: bool = True


@dataclass
class AzureRole:
    """A partner-held (or foreign) Azure role assignment on a scope of the customer."""

    scope: str
    role_name: str
    privileged: bool
    principal_id: str
    principal_type: str
    principal_name: str
    partner_tenant_id: str | None  # None: cannot be tied to a known partner
    partner_name: str
    matched_by: str
    # The assignment's resource id, as `az role assignment delete --ids` takes it ("" unknown).
    assignment_id: str = ""
    # A partner group holding it: its users (nested groups' included), where exported.
    members_known: bool = False
    members: list[PartnerUser] = field(default_factory=list)
    # Its partner holds neither DAP nor an active GDAP relationship here (as
    # AZURE-LINGERING-PARTNER-ROLE judges): the role outlived the relationship.
    lingering: bool = False

    @property
    def members_unknown(self) -> bool:
        """Held by a partner's group whose members the partner side did not export."""
        return (
            self.partner_tenant_id is not None
            and self.principal_type in ("group", "foreignGroup")
            and not self.members_known
        )


@dataclass
class Subscription:
    """An Azure subscription of the customer with the roles partners hold on it."""

    subscription_id: str
    display_name: str
    state: str
    partner_roles: list[AzureRole]


@dataclass
class PartnerSection:
    """One partner with access: relationship, DAP, GDAP and what it can effectively do."""

    partner_tenant_id: str
    name: str
    domain: str
    relationship_types: list[str]
    dap_enabled: bool  # an export says it holds DAP
    dap_known: bool  # an export tells whether it holds DAP (Graph contracts do not)
    dap_granted_on: str
    dap_removed_on: str
    relationship_ended_on: str
    active_gdap_relationships: int
    gdap: list[GdapRelationship]
    grants: list[AccessGrant]  # effective directory access, Global Administrator first
    azure_roles: list[AzureRole]
    partner_users: int  # distinct partner users behind its grants (where exported)
    # False: no export names it as this customer's partner; it holds Azure roles here.
    recorded: bool = True

    @property
    def assignments_unknown(self) -> bool:
        """An active GDAP relationship of it grants roles whose access assignments were not
        exported: which of its groups hold them is not known."""
        return any(g.is_active and g.roles and not g.assignments_exported for g in self.gdap)

    @property
    def dap_status(self) -> str:
        """held, removed, not_held or unknown: what the review may say about its DAP. Unknown
        is not "not held": DAP would make its AdminAgents Global Administrator unlisted."""
        if self.dap_enabled:
            return "held"
        if self.dap_removed_on:
            return "removed"
        return "not_held" if self.dap_known else "unknown"

    @property
    def anchor(self) -> str:
        return f"partner-{self.partner_tenant_id}"


@dataclass
class CoverageItem:
    """One export for this customer: present, missing, or read but incomplete."""

    dataset: str
    label: str
    present: bool
    required: bool
    files: list[str]  # the files that give it (when incomplete: that were read for it)
    # Not present, yet read for the customer: a Graph listing without its last page, whose
    # rows count but which is not the whole listing.
    incomplete: bool = False


@dataclass
class TenantReview(_Branded):
    """Everything the customer security review shows: about ONE customer tenant only."""

    branding: Branding
    snapshot: str
    as_of: date
    generated_at: str
    tool_version: str
    tenant_id: str
    name: str
    domain: str
    partners: list[PartnerSection]
    global_admins: list[AccessGrant]  # every path to Global Administrator
    effective_global_admins: int  # distinct people/principals behind global_admins
    own_grants: list[AccessGrant]  # the tenant's own listed principals, all roles
    foreign_grants: list[AccessGrant]  # principals of tenants that are not known partners
    subscriptions: list[Subscription]
    unattributed_azure_roles: list[AzureRole]  # foreign principals tied to no known partner
    findings: list[FindingRow]  # open, worst first
    suppressed: list[FindingRow]
    rules: dict[str, RuleSection]  # rule id -> rationale and remediation for its findings
    coverage: list[CoverageItem]
    frameworks: list[FrameworkSection]  # every control, its rules and THIS tenant's open findings

    @property
    def dap_partners(self) -> int:
        """Partners holding DAP here: each makes its AdminAgents implicit Global Administrator."""
        return sum(1 for p in self.partners if p.dap_enabled)

    @property
    def dap_unknown_partners(self) -> list[PartnerSection]:
        """Partners whose DAP no export tells: each may hold implicit Global Administrator."""
        return [p for p in self.partners if p.dap_status == "unknown"]

    @property
    def recorded_partners(self) -> int:
        """Partners some export names as this customer's (not those seen in Azure alone)."""
        return sum(1 for p in self.partners if p.recorded)

    @property
    def unrecorded_partners(self) -> list[PartnerSection]:
        """Partners holding Azure roles here that no export names as this customer's."""
        return [p for p in self.partners if not p.recorded]

    def exported(self, dataset: str) -> bool:
        """Whether the export of `dataset` covers this customer (complete)."""
        return any(c.dataset == dataset and c.present for c in self.coverage)

    @property
    def role_listing_exported(self) -> bool:
        return self.exported("directory_role_members")

    @property
    def azure_exported(self) -> bool:
        return self.exported("azure_role_assignments")

    @property
    def missing_exports(self) -> list[str]:
        """Labels of the required exports missing for this customer (incomplete ones too)."""
        return [
            c.label + (INCOMPLETE_NOTE if c.incomplete else "")
            for c in self.coverage
            if c.required and not c.present
        ]


def customer_tenants(con: duckdb.DuckDBPyConnection, snapshot: str) -> list[tuple[str, str, str]]:
    """(tenant id, name, domain) of every customer tenant in scope, sorted by name."""
    return [(t, n, d) for t, n, d, _, _ in _customers(con, snapshot)]


def resolve_customer(con: duckdb.DuckDBPyConnection, snapshot: str, text: str) -> str:
    """The customer tenant id named by `text`: its id or its domain, case-insensitively."""
    wanted = text.strip().lower()
    for tenant_id, _, domain in customer_tenants(con, snapshot):
        if wanted in (tenant_id.lower(), domain.lower()):
            return tenant_id
    # A partner named instead: say so, rather than that no such tenant exists.
    partners, name = con.execute(
        "SELECT count(*), min(display_name) FROM tenant_directory WHERE snapshot = ? "
        "AND (tenant_id = ? OR lower(default_domain) = ?) AND tenant_type = 'partner'",
        [snapshot, wanted, wanted],
    ).fetchone()
    if partners:
        raise DapauditError(
            f"{text!r} is a partner tenant ({name or text}) in snapshot {snapshot}, not a "
            "customer: reviews are of customer tenants (`dapaudit report monthly` covers the "
            "partners)"
        )
    raise DapauditError(
        f"no customer tenant {text!r} in snapshot {snapshot} (give its tenant id or domain)"
    )


def build_tenant_review(
    con: duckdb.DuckDBPyConnection, snapshot: str, tenant_id: str, *, branding: Branding
) -> TenantReview:
    """The security review of one customer: the set-based review queries (reviews.py) over the
    range [tenant_id, tenant_id], so it is the same document `--all-tenants` writes for it."""
    from .reviews import ReviewRows, assemble_review, load_review_rows  # (imports this module)

    rows = load_review_rows(con, snapshot, tenant_id, tenant_id).get(tenant_id)
    return assemble_review(
        tenant_id,
        rows or ReviewRows(),
        snapshot=snapshot,
        as_of=_as_of(con, snapshot),
        branding=branding,
        generated_at=_now(),
    )
