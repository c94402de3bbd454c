"""Customer security reviews built set-based: a handful of queries for a range of customers.

A review used to run ten queries filtered on its one customer. Each of them scans tables and
views whose size grows with the estate, so reviews for every customer cost O(customers²):
over an hour for 10,000 customers. Here every query reads the customers whose ids lie in one
range [first, last] (the whole estate is a few ranges), returns rows ordered by customer, and
Python groups them per customer (`ReviewRows`). `assemble_review` turns one customer's rows
into the `TenantReview` the template shows; it touches no database, so worker processes can
render reviews from rows handed to them.

A single review (`build_tenant_review`) runs the same queries over the range [tenant, tenant],
so a review is the same document whichever way it was built. Every query keeps the customer
id in its joins and groups, so a row of one customer cannot reach another customer's review.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

import duckdb

from .. import __version__
from ..findings import FIELDS, _parse
from ..paths import PACKAGE_DIR
from ..rules import SEVERITIES, rules_by_id
from .model import (
    DATASET_LABELS,
    PATH_LABELS,
    REQUIRED_CUSTOMER_DATASETS,
    AccessGrant,
    AzureRole,
    Branding,
    CoverageItem,
    GdapRelationship,
    PartnerSection,
    PartnerUser,
    RuleSection,
    Subscription,
    TenantReview,
    _finding_rows,
    _framework_sections,
    control_refs,
    read_not_covered,
)

# Customers per range query: bounds the rows held at once (about 25 rows per customer).
LOAD_BATCH = 2000


@cache
def _access_sql() -> str:
    return (PACKAGE_DIR / "report" / "sql" / "review_access.sql").read_text(encoding="utf-8")


# Each query returns the customer id first and is ordered by it, then by what the review shows.
_QUERIES: dict[str, str] = {
    "me": """
        SELECT tenant_id, coalesce(display_name, default_domain, tenant_id),
               coalesce(default_domain, '')
        FROM tenant_directory
        WHERE snapshot = $snapshot AND tenant_id BETWEEN $first AND $last
        ORDER BY tenant_id""",
    "partners": """
        SELECT p.customer_tenant_id, p.partner_tenant_id,
               coalesce(p.partner_name, d.display_name, p.partner_tenant_id),
               coalesce(d.default_domain, ''),
               p.dap_enabled, p.dap_known, p.dap_removed_on, p.relationship_ended_on,
               p.active_gdap_relationships, r.types, r.granted
        FROM partner_access p
        LEFT JOIN tenant_directory d
               ON d.snapshot = p.snapshot AND d.tenant_id = p.partner_tenant_id
        LEFT JOIN (SELECT customer_tenant_id, partner_tenant_id,
                          list(DISTINCT relationship_type ORDER BY relationship_type) AS types,
                          max(dap_granted_on) AS granted
                   FROM partner_relationships
                   WHERE snapshot = $snapshot AND customer_tenant_id BETWEEN $first AND $last
                   GROUP BY customer_tenant_id, partner_tenant_id) r
               ON r.customer_tenant_id = p.customer_tenant_id
              AND r.partner_tenant_id = p.partner_tenant_id
        WHERE p.snapshot = $snapshot AND p.customer_tenant_id BETWEEN $first AND $last
        ORDER BY p.customer_tenant_id,
                 lower(coalesce(p.partner_name, d.display_name, p.partner_tenant_id)),
                 p.partner_tenant_id""",
    "gdap": """
        SELECT g.customer_tenant_id, g.partner_tenant_id, g.relationship_id,
               coalesce(g.display_name, ''), g.status, g.is_active, g.is_mlt,
               coalesce(strftime(g.end_at, '%Y-%m-%d'), ''),
               -- DISTINCT: a relationship exported twice (Graph and canonical) is one.
               coalesce((SELECT list(DISTINCT coalesce(d.display_name, x.role_template_id)
                                     ORDER BY coalesce(d.display_name, x.role_template_id))
                         FROM gdap_relationship_roles x
                         LEFT JOIN ref_directory_roles d USING (role_template_id)
                         WHERE x.snapshot = g.snapshot
                           AND x.relationship_id = g.relationship_id), []),
               EXISTS (SELECT 1 FROM gdap_access_assignments a
                       WHERE a.snapshot = g.snapshot AND a.relationship_id = g.relationship_id)
        FROM gdap_relationship_state g
        WHERE g.snapshot = $snapshot AND g.customer_tenant_id BETWEEN $first AND $last
        ORDER BY g.customer_tenant_id, g.partner_tenant_id, g.is_active DESC, g.relationship_id""",
    # One row per scope, role and principal: an assignment exported twice (az and canonical)
    # is one. With the partner's name, for a partner no relationship of the customer names.
    "azure": """
        SELECT a.tenant_id, min(a.subscription_id), a.scope, a.role_name,
               bool_or(a.is_privileged_role), a.principal_id, min(a.principal_type),
               min(a.principal_display_name), a.partner_tenant_id, min(a.matched_by),
               max(role_assignment_id(a.scope, a.assignment_id)),
               coalesce(min(d.display_name), a.partner_tenant_id), min(d.default_domain),
               -- the partner users behind a partner group holding the role, where exported
               coalesce(bool_or(x.members_known), false), coalesce(min(x.members), [])
        FROM azure_assignment_partners a
        LEFT JOIN tenant_directory d
               ON d.snapshot = a.snapshot AND d.tenant_id = a.partner_tenant_id
        LEFT JOIN (
            SELECT partner_tenant_id, group_id, bool_or(members_known) AS members_known,
                   list(DISTINCT {'display_name': member_display_name, 'upn': member_upn,
                                  'member_id': member_id, 'member_type': member_type}
                        ORDER BY {'display_name': member_display_name, 'upn': member_upn,
                                  'member_id': member_id, 'member_type': member_type})
                       FILTER (WHERE member_id IS NOT NULL AND member_type <> 'group')
                       AS members
            FROM partner_group_expansion
            WHERE snapshot = $snapshot
            GROUP BY partner_tenant_id, group_id
        ) x ON x.partner_tenant_id = a.partner_tenant_id AND x.group_id = a.principal_id
        WHERE a.snapshot = $snapshot AND a.tenant_id BETWEEN $first AND $last AND a.is_foreign
        GROUP BY a.tenant_id, a.scope, a.role_name, a.principal_id, a.partner_tenant_id
        ORDER BY a.tenant_id, a.scope, a.role_name, a.principal_id""",
    "scopes": """
        SELECT tenant_id, subscription_id, scope FROM azure_role_assignments
        WHERE snapshot = $snapshot AND tenant_id BETWEEN $first AND $last
        ORDER BY tenant_id, scope""",
    "subscriptions": """
        SELECT DISTINCT tenant_id, subscription_id, display_name, state
        FROM azure_subscriptions
        WHERE snapshot = $snapshot AND tenant_id BETWEEN $first AND $last
        ORDER BY tenant_id, lower(display_name), subscription_id""",
    # The exports that cover the customer, then required ones read but incomplete (false).
    "coverage": f"""
        SELECT c.tenant_id, c.dataset, list(DISTINCT s.path ORDER BY s.path), true AS complete
        FROM export_coverage c
        JOIN source_files s ON s.snapshot = c.snapshot AND s.source_file_id = c.source_file_id
        WHERE c.snapshot = $snapshot AND c.tenant_id BETWEEN $first AND $last
        GROUP BY c.tenant_id, c.dataset
        UNION ALL
        SELECT r.tenant_id, r.dataset, list(DISTINCT s.path ORDER BY s.path), false
        FROM ({read_not_covered("x.tenant_id BETWEEN $first AND $last")}) r
        JOIN source_files s ON s.snapshot = $snapshot AND s.source_file_id = r.source_file_id
        GROUP BY r.tenant_id, r.dataset
        ORDER BY 1, 2""",
    # The same fields and order (position) as findings.load_findings, for a range of customers.
    "findings": f"""
        SELECT customer_tenant_id, {", ".join(FIELDS)}
        FROM findings
        WHERE snapshot = $snapshot AND customer_tenant_id BETWEEN $first AND $last
        ORDER BY customer_tenant_id, position""",
}


@dataclass
class ReviewRows:
    """One customer's rows of every review query, in the order the review shows them."""

    me: tuple | None = None  # (name, domain); None when the tenant is not in the directory
    access: list[tuple] = field(default_factory=list)
    partners: list[tuple] = field(default_factory=list)
    gdap: list[tuple] = field(default_factory=list)
    azure: list[tuple] = field(default_factory=list)
    scopes: list[tuple] = field(default_factory=list)
    subscriptions: list[tuple] = field(default_factory=list)
    coverage: list[tuple] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)


def _finding(row: tuple) -> dict[str, Any]:
    """A finding as findings.load_findings gives it (evidence and suppression parsed)."""
    item = dict(zip(FIELDS, row, strict=True))
    item["evidence"] = _parse(item["evidence"])
    item["suppression"] = json.loads(item["suppression"]) if item["suppression"] else None
    item["controls"] = list(item["controls"])
    return item


def load_review_rows(
    con: duckdb.DuckDBPyConnection, snapshot: str, first: str, last: str
) -> dict[str, ReviewRows]:
    """Every review row of the customers whose ids lie in [first, last], grouped per customer."""
    params = {"snapshot": snapshot, "first": first, "last": last}
    out: dict[str, ReviewRows] = {}

    def rows(name: str) -> Iterator[tuple[ReviewRows, tuple]]:
        sql = _access_sql() if name == "access" else _QUERIES[name]
        for row in con.execute(sql, params).fetchall():
            tenant = row[0]
            group = out.get(tenant)
            if group is None:
                group = out[tenant] = ReviewRows()
            yield group, row[1:]

    for group, row in rows("me"):
        if group.me is None:  # the first row, as the single-tenant fetchone() took
            group.me = row
    for name in ("access", "partners", "gdap", "azure", "scopes", "subscriptions", "coverage"):
        for group, row in rows(name):
            getattr(group, name).append(row)
    for group, row in rows("findings"):
        group.findings.append(_finding(row))
    return out


def iter_review_rows(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    tenant_ids: list[str],
    batch: int | None = None,
) -> Iterator[tuple[str, ReviewRows]]:
    """(tenant id, its rows) for every id, in id order, reading `batch` customers per query."""
    ids = sorted(set(tenant_ids))
    batch = batch or LOAD_BATCH
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        grouped = load_review_rows(con, snapshot, chunk[0], chunk[-1])
        for tenant_id in chunk:
            yield tenant_id, grouped.get(tenant_id) or ReviewRows()


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _users(members: list[dict[str, Any]]) -> list[PartnerUser]:
    return [
        PartnerUser(m["member_id"], _str(m["display_name"]), _str(m["upn"]), _str(m["member_type"]))
        for m in members
    ]


def assemble_review(
    tenant_id: str,
    rows: ReviewRows,
    *,
    snapshot: str,
    as_of: date,
    branding: Branding,
    generated_at: str,
) -> TenantReview:
    """The security review of one customer from its rows alone (no database)."""
    me = rows.me or (tenant_id, "")

    grants = [
        AccessGrant(
            role_template_id=r[0],
            role_name=r[1],
            is_global_admin=r[2],
            is_privileged=r[3],
            path=r[4],
            path_label=PATH_LABELS[r[4]],
            holder_id=r[5],
            holder_type=_str(r[6]),
            holder_name=_str(r[7]),
            holder_upn=_str(r[8]),
            partner_tenant_id=r[9],
            relationship_id=r[10],
            relationship_name=_str(r[11]),
            members_known=r[12],
            members=_users(r[13]),
        )
        for r in rows.access
    ]

    partner_names = {r[0]: r[1] for r in rows.partners}
    for g in grants:
        if g.partner_tenant_id in partner_names:
            g.partner_name = partner_names[g.partner_tenant_id]
            g.partner_anchor = f"partner-{g.partner_tenant_id}"
        else:
            g.partner_name = g.partner_tenant_id or ""

    gdap: dict[str, list[GdapRelationship]] = {}
    for r in rows.gdap:
        gdap.setdefault(r[0], []).append(
            GdapRelationship(*r[1:7], roles=list(r[7]), assignments_exported=r[8])
        )

    azure = [
        AzureRole(
            scope=r[1],
            role_name=_str(r[2]),
            privileged=r[3],
            principal_id=r[4],
            principal_type=r[5],
            principal_name=_str(r[6]),
            partner_tenant_id=r[7],
            partner_name=partner_names.get(r[7] or "", _str(r[10])),
            matched_by=_str(r[8]),
            assignment_id=_str(r[9]),
            members_known=r[12],
            members=_users(r[13]),
        )
        for r in rows.azure
    ]
    scope_sub = {scope: sub for sub, scope in rows.scopes}
    subscriptions = [
        Subscription(
            r[0],
            _str(r[1]) or r[0],
            _str(r[2]),
            [a for a in azure if scope_sub.get(a.scope) == r[0]],
        )
        for r in rows.subscriptions
    ]

    # Partners some export names as the customer's, then those seen only holding Azure roles
    # here (a lingering role of a partner whose relationship left every export), by name.
    listed = [(*r, True) for r in rows.partners]
    unrecorded = {
        r[7]: (r[7], r[10], _str(r[11]), False, False, None, None, 0, [], None, False)
        for r in rows.azure
        if r[7] is not None and r[7] not in partner_names
    }
    listed += sorted(unrecorded.values(), key=lambda p: (p[1].lower(), p[0]))
    partners = []
    for pid, name, domain, dap, known, removed, ended, active, types, granted, rec in listed:
        mine = [g for g in grants if g.partner_tenant_id == pid]
        held = [a for a in azure if a.partner_tenant_id == pid]
        users = {m.member_id for g in mine + held for m in g.members if m.member_type == "user"}
        partners.append(
            PartnerSection(
                partner_tenant_id=pid,
                name=name,
                domain=domain,
                relationship_types=list(types or []),
                dap_enabled=dap,
                dap_known=known,
                dap_granted_on=_str(granted),
                dap_removed_on=_str(removed),
                relationship_ended_on=_str(ended),
                active_gdap_relationships=active,
                gdap=gdap.get(pid, []),
                grants=mine,
                azure_roles=held,
                partner_users=len(users),
                recorded=rec,
            )
        )
    for p in partners:  # as the rule judges it: no DAP, no active GDAP relationship
        for a in p.azure_roles:
            a.lingering = not p.dap_enabled and not p.active_gdap_relationships
    for g in grants:  # a listed group of a partner seen only in Azure links to its section
        if g.partner_tenant_id in unrecorded:
            g.partner_anchor = f"partner-{g.partner_tenant_id}"
            g.partner_name = unrecorded[g.partner_tenant_id][1]

    global_admins = [g for g in grants if g.is_global_admin]
    # People, or groups whose members are unknown; apps (service principals) are not counted,
    # as EXCESS-GLOBAL-ADMINS does not count them.
    people: set[str] = set()
    for g in global_admins:
        if g.members_known and g.path != "listed_own":
            people |= {
                f"m:{m.member_id}"
                for m in g.members
                if m.member_type not in ("group", "servicePrincipal")
            }
        elif g.holder_type != "servicePrincipal":
            people.add(f"h:{g.holder_id or g.partner_tenant_id}:{g.path}")

    names = {tenant_id: me[0], **partner_names}
    found = _finding_rows(rows.findings, names)
    open_rows = [f for f in found if f.status == "open"]
    open_rows.sort(
        key=lambda f: (SEVERITIES.index(f.severity), f.rule_id, f.partner_name, f.subject)
    )
    rules = rules_by_id()
    rule_sections = {
        rid: RuleSection(
            rules[rid],
            control_refs(rules[rid].controls),
            [f for f in open_rows if f.rule_id == rid],
        )
        for rid in sorted({f.rule_id for f in found})
    }

    present = {dataset: paths for dataset, paths, complete in rows.coverage if complete}
    incomplete = {dataset: paths for dataset, paths, complete in rows.coverage if not complete}
    if (
        "azure_role_assignments" not in present
        and "azure_subscriptions" in present
        and not rows.subscriptions
    ):
        # As COVERAGE-GAP: a subscription list without a subscription leaves nothing to assign.
        present["azure_role_assignments"] = ["(no subscription: nothing to assign)"]
    datasets = list(REQUIRED_CUSTOMER_DATASETS) + sorted(
        d for d in present if d not in REQUIRED_CUSTOMER_DATASETS
    )
    coverage = [
        CoverageItem(
            d,
            DATASET_LABELS.get(d, d),
            d in present,
            d in REQUIRED_CUSTOMER_DATASETS,
            list(present.get(d, incomplete.get(d, []))),
            incomplete=d not in present and d in incomplete,
        )
        for d in datasets
    ]

    return TenantReview(
        branding=branding,
        snapshot=snapshot,
        as_of=as_of,
        generated_at=generated_at,
        tool_version=__version__,
        tenant_id=tenant_id,
        name=me[0],
        domain=me[1],
        partners=partners,
        global_admins=global_admins,
        effective_global_admins=len(people),
        own_grants=[g for g in grants if g.path == "listed_own"],
        foreign_grants=[g for g in grants if g.path == "listed_foreign"],
        subscriptions=subscriptions,
        unattributed_azure_roles=[a for a in azure if a.partner_tenant_id is None],
        findings=open_rows,
        suppressed=[f for f in found if f.status == "suppressed"],
        rules=rule_sections,
        coverage=coverage,
        frameworks=_framework_sections(list(rule_sections.values()), None),
    )
