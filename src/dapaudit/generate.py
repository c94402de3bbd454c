"""Generate a synthetic CSP estate of any size, with every rule's condition planted at a known
share, and the list of findings those conditions must produce.

The estate is built set-based in an in-memory DuckDB: one row per customer with its scenario
drawn from an md5 of (seed, customer), then each export is one SELECT over that table written
with COPY ... TO. No Python loop touches a record: per-customer files are assembled in DuckDB,
one row per file, and Python only writes them out. The same seed gives the same bytes.
Most exports are estate-wide files that carry the tenant in each record (how partner-side
exports and scripted collections look); a sample of customers gets its own folder, named by
tenant id or domain, holding a role listing without a tenant column in assorted encodings and
delimiters, as an auditor's per-customer collection does.

`expected_findings.json` beside the exports lists the findings planted, so a test (or a
benchmark at 100,000 customers) checks the rules' output, not only their speed.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from .db import open_duckdb
from .ingest.canonical import CANONICAL
from .rules import all_rules

# Share of customers in each access scenario (the rest are reseller-only customers).
SCENARIOS = (
    ("dap_only", 0.20),  # DAP, no GDAP
    ("dap_gdap", 0.08),  # DAP next to an active GDAP relationship
    ("gdap", 0.35),  # GDAP only: the target state
    ("mlt", 0.05),  # only a Microsoft-led transition (MLT_) relationship
    ("dap_removed", 0.15),  # DAP removed, partner may still hold Azure roles
)

# Shares of the conditions laid over the scenarios (fraction of the customers eligible).
SHARES = {
    "coverage_gap": 0.01,  # of all customers: no role listing, or no Azure export
    "excess_admins": 0.04,  # of all customers: 5-7 listed Global Administrators
    "foreign_holder": 0.02,  # of all customers: an unknown tenant's group holds a role
    "unknown_foreign": 0.02,  # of all customers: an unknown foreign principal on Azure
    "advisor": 0.10,  # of all customers: a second partner, advisor only (near miss)
    "dap_listed": 0.05,  # of DAP customers: the listing shows AdminAgents (near miss)
    "dap_monitored": 0.70,  # of DAP customers: a DAP monitoring record exists
    "dap_inactive": 0.30,  # of monitored DAP customers: no sign-in for over 60 days
    "partner_owner": 0.60,  # of DAP/GDAP customers: AdminAgents Owner on the subscription
    "lingering": 0.70,  # of dap_removed customers: the partner still holds an Azure role
    "lingering_reader": 0.20,  # of lingering: the role is Reader (medium), not Owner
    "gdap_ga": 0.08,  # of GDAP customers: the relationship grants Global Administrator
    "gdap_expiring": 0.10,  # of GDAP customers: it ends within 30 days
    "gdap_unassigned": 0.10,  # of GDAP customers: a granted role no assignment uses
    "gdap_expired_extra": 0.15,  # of GDAP customers: an old expired relationship (near miss)
    "mlt_extra": 0.10,  # of GDAP customers: an MLT_ relationship besides (near miss)
    "second_subscription": 0.20,  # of customers with Azure: a second subscription
}

DEFAULT_AS_OF = date(2026, 11, 30)
FORMATS = ("canonical", "real")
CUSTOMERS_PER_PARTNER = 2000
MAX_CUSTOMER_FOLDERS = 500
# What Graph puts before the collection in a response's @odata.context.
GRAPH_METADATA = "https://graph.microsoft.com/v1.0/$metadata#"

GA = "62e90394-69f5-4237-9190-012177145e10"
HELPDESK = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
SECURITY_ADMIN = "194ae4cb-b126-40b2-bd5b-6091b380977d"
EXCHANGE_ADMIN = "29232cdf-9323-42fd-ade2-1d097af3e4de"
DIRECTORY_READERS = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
SERVICE_SUPPORT = "f023fd81-a637-4b56-95fd-791ac0226033"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
REPORTS_READER = "4a5d8f65-41da-4de4-8968-e035b65339cf"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"

# Variants of the per-customer role listing: (encoding, BOM, delimiter, #TYPE line), as
# Export-Csv in PowerShell 7, Excel, Out-File in Windows PowerShell 5.1, and -Encoding Default.
FOLDER_VARIANTS = (
    ("utf-8", False, ",", False),
    ("utf-8", True, ";", False),
    ("utf-16-le", True, "\t", False),
    ("cp1252", False, ",", True),
)
TYPE_LINE = "#TYPE System.Management.Automation.PSCustomObject"


@dataclass
class GenerateReport:
    out: Path
    customers: int
    partners: int
    seed: int
    as_of: date
    files: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)


def _macros(con: duckdb.DuckDBPyConnection, seed: int, as_of: date) -> None:
    con.execute(f"CREATE MACRO seed() AS {int(seed)}")
    con.execute(f"CREATE MACRO as_of() AS DATE '{as_of.isoformat()}'")
    # A stable uniform number in [0, 1) and a GUID per (purpose, key): md5, not random().
    con.execute(
        "CREATE MACRO u(tag, k) AS "
        "(md5_number(seed()::VARCHAR || ':' || tag || ':' || k::VARCHAR) % 1000000)::DOUBLE / 1e6"
    )
    con.execute(
        "CREATE MACRO n(tag, k, m) AS "
        "(md5_number(seed()::VARCHAR || ':' || tag || ':' || k::VARCHAR) % m)::BIGINT"
    )
    con.execute(
        "CREATE MACRO gid(tag, k) AS format('{}-{}-4{}-a{}-{}', "
        "md5(seed()::VARCHAR || ':' || tag || ':' || k::VARCHAR)[1:8], "
        "md5(seed()::VARCHAR || ':' || tag || ':' || k::VARCHAR)[9:12], "
        "md5(seed()::VARCHAR || ':' || tag || ':' || k::VARCHAR)[13:15], "
        "md5(seed()::VARCHAR || ':' || tag || ':' || k::VARCHAR)[16:18], "
        "md5(seed()::VARCHAR || ':' || tag || ':' || k::VARCHAR)[19:30])"
    )
    con.execute("CREATE MACRO ts(t) AS strftime(t, '%Y-%m-%dT%H:%M:%SZ')")


def _pick(tag: str, share: float, eligible: str) -> str:
    """SQL: TRUE for round(share * eligible) customers (at least one) of those `eligible`,
    chosen by a seeded draw. Ranking instead of a coin per customer makes every count exact
    and plants each condition even in a 50-customer estate."""
    window = f"PARTITION BY ({eligible})"
    return (
        f"(({eligible}) AND row_number() OVER ({window} ORDER BY u('{tag}', i), i) "
        f"<= greatest(1, round({share} * count(*) OVER ({window}))))"
    )


def _model(
    con: duckdb.DuckDBPyConnection, customers: int, partners: int, monitored_share: float
) -> None:
    """The estate as facts per customer: scenario, conditions, partner, names."""
    s = SHARES
    bounds, acc = [], 0.0
    for name, share in SCENARIOS:
        acc += share
        bounds.append(f"WHEN pos < {acc:.6f} THEN '{name}'")
    con.execute(
        f"""CREATE TABLE partners AS
        SELECT j,
               gid('partner', j) AS tenant_id,
               ['Northwind', 'Proseware', 'Litware', 'Adatum', 'Wingtip', 'Lamna',
                'Trey Research', 'Humongous', 'Relecloud', 'Woodgrove'][1 + j % 10]
                   || ' Partners ' || (j + 1)::VARCHAR AS name,
               'partner' || (j + 1)::VARCHAR || '.onmicrosoft.com' AS domain,
               gid('admin-agents', j) AS admin_agents,
               gid('helpdesk-agents', j) AS helpdesk_agents,
               gid('sales-agents', j) AS sales_agents,
               gid('gdap-group', j) AS gdap_group
        FROM range({partners}) t(j)"""
    )
    gaps = max(2, round(s["coverage_gap"] * customers))
    con.execute(
        f"""CREATE TABLE cust AS
        WITH gap AS (
            SELECT i, n('partner', i, {partners}) AS p,
                   row_number() OVER (ORDER BY u('coverage', i), i) AS gap_rank
            FROM range({customers}) t(i)
        ),
        scen AS (
            -- Scenarios by position in a seeded order: exact shares, every one present.
            SELECT *, gap_rank <= {gaps} AS gap,
                   (row_number() OVER (PARTITION BY gap_rank <= {gaps} ORDER BY u('scenario', i), i)
                    - 0.5) / count(*) OVER (PARTITION BY gap_rank <= {gaps}) AS pos
            FROM gap
        ),
        l1 AS (
            SELECT i, p,
                   CASE WHEN gap THEN 'plain' {" ".join(bounds)} ELSE 'plain' END AS scenario,
                   gap AND gap_rank % 2 = 1 AS gap_role_listing,
                   gap AND gap_rank % 2 = 0 AS gap_azure
            FROM scen
        ),
        l2 AS (
            SELECT *, scenario IN ('dap_only', 'dap_gdap') AS dap,
                   scenario IN ('dap_gdap', 'gdap') AS gdap
            FROM l1
        ),
        l3 AS (
            SELECT *,
                {_pick("excess", s["excess_admins"], "NOT (gap_role_listing OR gap_azure)")}
                    AS excess,
                {_pick("holder", s["foreign_holder"], "NOT (gap_role_listing OR gap_azure)")}
                    AS foreign_holder,
                {_pick("unknown", s["unknown_foreign"], "NOT (gap_role_listing OR gap_azure)")}
                    AS unknown_foreign,
                {_pick("advisor", s["advisor"], "NOT gap_role_listing")} AS has_advisor,
                {_pick("listed", s["dap_listed"], "dap")} AS dap_listed,
                {_pick("monitored", monitored_share, "dap")} AS monitored,
                {
            _pick(
                "owner", s["partner_owner"], "(dap OR gdap OR scenario = 'mlt') AND NOT gap_azure"
            )
        } AS partner_owner,
                {_pick("lingering", s["lingering"], "scenario = 'dap_removed'")} AS lingering,
                {_pick("gdapga", s["gdap_ga"], "gdap")} AS gdap_ga,
                {_pick("expiring", s["gdap_expiring"], "gdap")} AS gdap_expiring,
                {_pick("unassigned", s["gdap_unassigned"], "gdap")} AS gdap_unassigned,
                {_pick("expired", s["gdap_expired_extra"], "gdap")} AS gdap_expired_extra,
                {_pick("mltextra", s["mlt_extra"], "gdap")} AS mlt_extra,
                {_pick("sub2", s["second_subscription"], "NOT gap_azure")} AS second_subscription
            FROM l2
        )
        SELECT *,
               {_pick("inactive", s["dap_inactive"], "monitored")} AS dap_inactive,
               {_pick("lreader", s["lingering_reader"], "lingering")} AS lingering_reader
        FROM l3"""
    )
    con.execute(
        """CREATE TABLE c AS
        SELECT x.*,
               gid('customer', x.i) AS tenant_id,
               ['Contoso', 'Fabrikam', 'Tailspin', 'Müller Bäckerei', 'Société Générale des Eaux',
                'Alpine Ski House', 'Coho Winery', 'Señor Café', 'Blue Yonder', 'Margie''s Travel',
                'Datum', 'Fourth Coffee', 'Graphic Design Institute', 'Kaiser Öl'][1 + x.i % 14]
                   || ' ' || (x.i + 1)::VARCHAR AS name,
               'c' || lpad((x.i + 1)::VARCHAR, 6, '0') || '.onmicrosoft.com' AS domain,
               pt.tenant_id AS partner_id, pt.name AS partner_name,
               pt.admin_agents, pt.helpdesk_agents, pt.gdap_group,
               -- Listed user Global Administrators: 1-2 normally, 5-7 in excess tenants.
               CASE WHEN x.gap_role_listing THEN 0
                    WHEN x.excess THEN 5 + n('gacount', x.i, 3)
                    ELSE 1 + n('gacount', x.i, 2) END AS listed_global_admins,
               pa.tenant_id AS advisor_id, pa.name AS advisor_name
        FROM cust x
        JOIN partners pt ON pt.j = x.p
        JOIN partners pa ON pa.j = (x.p + 1) % (SELECT count(*) FROM partners)
        ORDER BY x.i"""
    )


def _tables(con: duckdb.DuckDBPyConnection) -> None:
    """One relation per canonical table, in canonical column names."""
    con.execute(
        """CREATE TABLE t_tenants AS
        SELECT tenant_id, name AS display_name, domain AS default_domain,
               'partner' AS tenant_type FROM partners
        UNION ALL
        SELECT tenant_id, name, domain, 'customer' FROM c"""
    )
    con.execute(
        """CREATE TABLE t_partner_relationships AS
        SELECT tenant_id AS customer_tenant_id, partner_id AS partner_tenant_id, partner_name,
               'reseller' AS relationship_type,
               CASE WHEN dap THEN 'true' ELSE 'false' END AS dap_enabled,
               CASE WHEN dap OR scenario = 'dap_removed'
                    THEN (as_of() - INTERVAL (400 + n('granted', i, 2000)) DAY)::DATE::VARCHAR
               END AS dap_granted_on,
               CASE WHEN scenario = 'dap_removed'
                    THEN (as_of() - INTERVAL (20 + n('removed', i, 380)) DAY)::DATE::VARCHAR
               END AS dap_removed_on,
               NULL::VARCHAR AS relationship_ended_on
        FROM c
        UNION ALL
        SELECT tenant_id, advisor_id, advisor_name, 'advisor', 'false', NULL, NULL, NULL
        FROM c WHERE has_advisor"""
    )
    con.execute(
        """CREATE TABLE t_partner_agent_groups AS
        SELECT tenant_id AS partner_tenant_id, g.group_id, g.display_name, g.agent_role
        FROM partners, LATERAL (VALUES
            (admin_agents, 'AdminAgents', 'admin_agents'),
            (helpdesk_agents, 'HelpdeskAgents', 'helpdesk_agents'),
            (sales_agents, 'SalesAgents', 'sales_agents'),
            (gdap_group, 'GDAP Helpdesk Operators', NULL)) g(group_id, display_name, agent_role)"""
    )
    con.execute(
        """CREATE TABLE t_partner_group_members AS
        SELECT tenant_id AS partner_tenant_id, g.group_id,
               gid('agent', j * 10 + g.k) AS member_id, 'user' AS member_type,
               g.who || ' ' || (j * 10 + g.k)::VARCHAR AS member_display_name,
               replace(lower(g.who), ' ', '.') || (j * 10 + g.k)::VARCHAR || '@' || domain
                   AS member_upn
        FROM partners, LATERAL (VALUES
            (admin_agents, 0, 'Admin Agent'), (admin_agents, 1, 'Admin Agent'),
            (helpdesk_agents, 2, 'Helpdesk Agent'), (helpdesk_agents, 3, 'Helpdesk Agent'),
            (helpdesk_agents, 4, 'Helpdesk Agent'),
            (gdap_group, 5, 'Operator'), (gdap_group, 6, 'Operator')) g(group_id, k, who)"""
    )
    # Role listings: the tenant's own admins, a GDAP group of its partner (listed, known),
    # an unknown tenant's group (GDAP-FOREIGN-ROLE-HOLDER), AdminAgents in rare listings.
    con.execute(
        f"""CREATE TABLE t_directory_role_members AS
        SELECT c.tenant_id, '{GA}' AS role_template_id, gid('user', c.i * 16 + k) AS principal_id,
               'user' AS principal_type,
               ['Jürgen Weiß', 'Ana Novak', 'Ben Okafor', 'Chloé Durand', 'Dev Patel',
                'Eva Lindqvist', 'Farid Haddad'][1 + k] AS principal_display_name,
               'admin' || (k + 1)::VARCHAR || '@' || c.domain AS principal_upn,
               NULL AS principal_organization_id, '/' AS directory_scope_id, c.i
        FROM c, range(7) r(k) WHERE k < c.listed_global_admins
        UNION ALL
        SELECT tenant_id, '{EXCHANGE_ADMIN}', gid('user', i * 16 + 8), 'user', 'Mail Admin',
               'mail@' || domain, NULL, '/', i
        FROM c WHERE NOT gap_role_listing
        UNION ALL
        SELECT tenant_id, '{DIRECTORY_READERS}', gdap_group, 'group', 'GDAP Helpdesk Operators',
               NULL, partner_id, '/', i
        FROM c WHERE gdap AND NOT gap_role_listing
        UNION ALL
        SELECT tenant_id, '{SECURITY_ADMIN}', gid('holder', i), 'group', 'Contractor Admins',
               NULL, gid('stranger', i), '/', i
        FROM c WHERE foreign_holder AND NOT gap_role_listing
        UNION ALL
        SELECT tenant_id, '{GA}', admin_agents, 'group', 'AdminAgents', NULL, partner_id, '/', i
        FROM c WHERE dap_listed"""
    )
    con.execute(
        """CREATE TABLE t_azure_subscriptions AS
        SELECT gid('subscription', i * 2 + k) AS subscription_id, tenant_id,
               split_part(name, ' ', 1) || CASE WHEN k = 0 THEN ' Production' ELSE ' Dev/Test' END
                   AS display_name,
               'Enabled' AS state, i, k
        FROM c, range(2) r(k)
        WHERE NOT gap_azure AND (k = 0 OR second_subscription)"""
    )
    fp = "'Foreign Principal for ''' || {} || ''' in role ''TenantAdmins'' (' || name || ')'"
    con.execute(
        f"""CREATE TABLE t_azure_role_assignments AS
        WITH a AS (
            SELECT c.*, s.subscription_id, s.k, '/subscriptions/' || s.subscription_id AS scope
            FROM c JOIN t_azure_subscriptions s USING (i)
        )
        SELECT tenant_id, scope, '{OWNER}' AS role_definition_id, 'Owner' AS role_definition_name,
               gid('user', i * 16) AS principal_id, 'user' AS principal_type,
               'Ana Novak' AS principal_display_name, gid('ra-own', i * 2 + k) AS assignment_id
        FROM a
        UNION ALL
        SELECT tenant_id, scope, '{CONTRIBUTOR}', 'Contributor', gid('devs', i), 'group',
               'Developers', gid('ra-dev', i * 2 + k)
        FROM a
        UNION ALL
        -- The partner's AOBO group: by its object id on even customers, by name on odd ones.
        SELECT tenant_id, scope,
               CASE WHEN lingering AND lingering_reader THEN '{READER}' ELSE '{OWNER}' END,
               CASE WHEN lingering AND lingering_reader THEN 'Reader' ELSE 'Owner' END,
               CASE WHEN i % 2 = 0 THEN admin_agents ELSE gid('aobo', i) END, 'foreignGroup',
               {fp.format("partner_name")}, gid('ra-aobo', i)
        FROM a WHERE k = 0 AND (partner_owner OR lingering)
        UNION ALL
        SELECT tenant_id, scope, '{CONTRIBUTOR}', 'Contributor', gid('unknown-fp', i),
               'foreignGroup', {fp.format("'Shadow IT Consulting ' || i::VARCHAR")},
               gid('ra-unknown', i)
        FROM a WHERE k = 0 AND unknown_foreign"""
    )
    rel = "gid('rel-a', {k}) || '-' || gid('rel-b', {k})"
    con.execute(
        f"""CREATE TABLE rel AS
        SELECT c.*, {rel.format(k="i")} AS relationship_id, 'main' AS what,
               partner_name || ' GDAP ' || (i + 1)::VARCHAR AS display_name, 'active' AS status,
               CASE WHEN gdap_expiring
                    THEN as_of() + INTERVAL (1 + n('end', i, 28)) DAY + INTERVAL 9 HOUR
                    ELSE as_of() + INTERVAL (60 + n('end', i, 600)) DAY + INTERVAL 9 HOUR
               END AS end_at
        FROM c WHERE gdap
        UNION ALL
        SELECT c.*, {rel.format(k="i + 1000000000")}, 'mlt',
               'MLT_' || replace(gid('mltname', i), '-', '')[1:24], 'active',
               as_of() + INTERVAL (100 + n('mltend', i, 200)) DAY + INTERVAL 9 HOUR
        FROM c WHERE scenario = 'mlt' OR mlt_extra
        UNION ALL
        SELECT c.*, {rel.format(k="i + 2000000000")}, 'expired',
               partner_name || ' old admin ' || (i + 1)::VARCHAR, 'expired',
               as_of() - INTERVAL (30 + n('oldend', i, 300)) DAY
        FROM c WHERE gdap_expired_extra"""
    )
    con.execute(
        """CREATE TABLE t_gdap_relationships AS
        SELECT relationship_id, partner_id AS partner_tenant_id, tenant_id AS customer_tenant_id,
               display_name, status, 'P730D' AS duration, 'PT0S' AS auto_extend_duration,
               ts(end_at - INTERVAL 730 DAY - INTERVAL 1 HOUR) AS created_at,
               ts(end_at - INTERVAL 730 DAY) AS activated_at, ts(end_at) AS end_at, i
        FROM rel"""
    )
    con.execute(
        f"""CREATE TABLE rel_roles AS
        SELECT relationship_id, i, what, gdap_unassigned, gdap_group,
               unnest(CASE
                   WHEN what = 'mlt' THEN ['{DIRECTORY_READERS}', '{GLOBAL_READER}',
                                           '{SERVICE_SUPPORT}', '{REPORTS_READER}']
                   WHEN what = 'expired' THEN ['{GA}', '{DIRECTORY_READERS}']
                   WHEN gdap_ga THEN ['{DIRECTORY_READERS}', '{HELPDESK}', '{GA}',
                                      '{SERVICE_SUPPORT}']
                   ELSE ['{DIRECTORY_READERS}', '{HELPDESK}', '{SERVICE_SUPPORT}']
               END) AS role_template_id
        FROM rel"""
    )
    con.execute(
        """CREATE TABLE t_gdap_relationship_roles AS
        SELECT relationship_id, role_template_id, i FROM rel_roles"""
    )
    # Only the main relationship's access assignments are exported (MLT_ ones have none);
    # an "unassigned" relationship leaves Service Support Administrator unused.
    con.execute(
        f"""CREATE TABLE t_gdap_access_assignments AS
        SELECT relationship_id, gid('access', i) AS assignment_id, gdap_group AS security_group_id,
               'active' AS status, role_template_id, i
        FROM rel_roles
        WHERE what = 'main' AND NOT (gdap_unassigned AND role_template_id = '{SERVICE_SUPPORT}')"""
    )
    con.execute(
        """CREATE TABLE t_dap_monitoring AS
        SELECT partner_id AS partner_tenant_id, tenant_id AS customer_tenant_id,
               'true' AS dap_enabled,
               CASE WHEN dap_inactive AND n('never', i, 5) = 0 THEN 0 ELSE 1 + n('agents', i, 4)
               END AS partner_agent_count,
               CASE WHEN dap_inactive AND n('never', i, 5) = 0 THEN 0 ELSE 1 + n('signins', i, 80)
               END AS partner_sign_in_count,
               n('gasignins', i, 5) AS global_admin_sign_in_count,
               ts(as_of() - INTERVAL (400 + n('granted', i, 2000)) DAY) AS start_at,
               NULL::VARCHAR AS end_at,
               CASE WHEN dap_inactive AND n('never', i, 5) = 0 THEN NULL
                    WHEN dap_inactive
                        THEN ts(as_of() - INTERVAL (62 + n('last', i, 400)) DAY)
                    ELSE ts(as_of() - INTERVAL (n('last', i, 58)) DAY)
               END AS last_sign_in_at, i
        FROM c WHERE monitored"""
    )


def _expected(con: duckdb.DuckDBPyConnection) -> None:
    """The findings the planted conditions must produce: (rule, customer, partner, subject)."""
    con.execute(
        f"""CREATE TABLE expected AS
        SELECT 'DAP-IMPLICIT-GLOBAL-ADMIN' AS rule_id, tenant_id AS customer_tenant_id,
               partner_id AS partner_tenant_id, '{GA}' AS subject
        FROM c WHERE dap AND NOT dap_listed
        UNION ALL
        SELECT 'DAP-IMPLICIT-HELPDESK-ADMIN', tenant_id, partner_id, '{HELPDESK}' FROM c WHERE dap
        UNION ALL
        SELECT 'AZURE-LINGERING-PARTNER-ROLE', tenant_id, partner_id,
               '/subscriptions/' || gid('subscription', i * 2) FROM c WHERE lingering
        UNION ALL
        SELECT 'AZURE-UNKNOWN-FOREIGN-PRINCIPAL', tenant_id, NULL,
               '/subscriptions/' || gid('subscription', i * 2)
        FROM c WHERE unknown_foreign AND NOT gap_azure
        UNION ALL
        SELECT 'GDAP-GLOBAL-ADMIN', tenant_id, partner_id, relationship_id
        FROM rel WHERE what = 'main' AND gdap_ga
        UNION ALL
        SELECT 'GDAP-DAP-COEXIST', tenant_id, partner_id, tenant_id FROM c WHERE dap AND gdap
        UNION ALL
        SELECT 'GDAP-EXPIRING', tenant_id, partner_id, relationship_id
        FROM rel WHERE what = 'main' AND gdap_expiring
        UNION ALL
        SELECT 'EXCESS-GLOBAL-ADMINS', tenant_id, NULL, tenant_id FROM c WHERE excess
        UNION ALL
        SELECT 'COVERAGE-GAP', tenant_id, NULL, tenant_id FROM c WHERE gap_role_listing OR gap_azure
        UNION ALL
        SELECT 'GDAP-FOREIGN-ROLE-HOLDER', tenant_id, gid('stranger', i), gid('holder', i)
        FROM c WHERE foreign_holder AND NOT gap_role_listing
        UNION ALL
        SELECT 'DAP-INACTIVE', tenant_id, partner_id, tenant_id FROM c WHERE dap_inactive
        UNION ALL
        SELECT 'GDAP-MLT-ONLY', tenant_id, partner_id, tenant_id FROM c WHERE scenario = 'mlt'
        UNION ALL
        SELECT 'GDAP-ROLES-UNASSIGNED', tenant_id, partner_id, relationship_id
        FROM rel WHERE what = 'main' AND gdap_unassigned"""
    )


# Canonical tables written estate-wide (tenant in each record) and the column that orders them.
ESTATE_TABLES = (
    "tenants",
    "partner_relationships",
    "partner_agent_groups",
    "partner_group_members",
    "directory_role_members",
    "azure_subscriptions",
    "azure_role_assignments",
    "gdap_relationships",
    "gdap_relationship_roles",
    "gdap_access_assignments",
    "dap_monitoring",
)
# Text columns that hold GUIDs (or paths made of them): their case is free in real exports.
GUID_TEXT_COLUMNS = {"relationship_id", "scope", "assignment_id"}


def _layout(table: str):
    return next(layout for layout in CANONICAL if layout.table == table)


def _select(table: str, upper_guids: bool, exclude_tenant: bool = False) -> str:
    parts = []
    for column in _layout(table).columns:
        name = column.name
        expr = name
        if exclude_tenant and column.from_context:
            expr = "NULL::VARCHAR"
        elif upper_guids and (column.type == "guid" or name in GUID_TEXT_COLUMNS):
            expr = f"upper({name})"
        parts.append(f"{expr} AS {name}")
    return ", ".join(parts)


def _order(table: str, shuffle: bool) -> str:
    """A total, deterministic row order: by the columns (threads may reorder a UNION), or
    by an md5 of them when shuffling."""
    columns = [c.name for c in _layout(table).columns]
    if shuffle:
        return "md5(seed()::VARCHAR || concat_ws('|', " + ", ".join(columns) + "))"
    return ", ".join(columns)


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path, delimiter: str = ",") -> None:
    con.execute(
        f"COPY ({sql}) TO '{_sql_path(path)}' (FORMAT csv, HEADER true, DELIMITER '{delimiter}')"
    )


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


@contextlib.contextmanager
def _emptied_on_failure(out: Path) -> Iterator[None]:
    """`out` (empty or new before) emptied again if the estate cannot be written whole (a
    full disk, Ctrl-C, a size DuckDB refuses): a retry into it is not refused as not empty."""
    try:
        yield
    except BaseException:
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        raise


def generate(
    out: str | os.PathLike[str],
    customers: int,
    *,
    seed: int = 1,
    as_of: date = DEFAULT_AS_OF,
    files_per_table: int = 1,
    customer_folders: int | None = None,
    shuffle: bool = False,
    upper_guids: bool = False,
    threads: int | None = None,
    fmt: str = "canonical",
) -> GenerateReport:
    """Write an estate of `customers` customer tenants into `out` (created; must be empty).

    Layout: `out/exports/` holds what `dapaudit ingest` reads; `out/expected_findings.json`
    the findings planted; `out/manifest.json` the shares, row counts and seed.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    exports = out / "exports"
    exports.mkdir(parents=True)
    with _emptied_on_failure(out):
        partners = max(2, -(-customers // CUSTOMERS_PER_PARTNER))
        if customer_folders is None:
            customer_folders = min(MAX_CUSTOMER_FOLDERS, customers, max(8, customers // 20))
        report = GenerateReport(exports, customers, partners, seed, as_of)

        con = open_duckdb()
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("SET preserve_insertion_order = true")
        _macros(con, seed, as_of)
        # Partner Center's DAP monitoring lists every DAP customer, so the real-format estate has
        # a monitoring record for all of them; canonical files may leave some out.
        _model(con, customers, partners, SHARES["dap_monitored"] if fmt == "canonical" else 1.0)
        _tables(con)
        _expected(con)

        # Which customers' role listings come as per-customer folders, and in which variant.
        con.execute(
            f"""CREATE TABLE folders AS
            SELECT i, tenant_id, domain, row_number() OVER (ORDER BY u('folder', i), i) - 1 AS slot
            FROM c WHERE NOT gap_role_listing
            QUALIFY slot < {int(customer_folders)}"""
        )
        if fmt == "real":
            report.files += _write_real(con, exports, upper_guids, shuffle)
            for table in ESTATE_TABLES:
                report.rows[table] = con.execute(f"SELECT count(*) FROM t_{table}").fetchone()[0]
        else:
            for table in ESTATE_TABLES:
                order = _order(table, shuffle)
                source = f"t_{table}"
                where = ""
                if table == "directory_role_members":
                    where = "WHERE i NOT IN (SELECT i FROM folders)"
                rows = con.execute(f"SELECT count(*) FROM {source} {where}").fetchone()[0]
                report.rows[table] = rows
                parts = max(1, min(files_per_table, rows))
                for part in range(parts):
                    # Contiguous runs of the (possibly shuffled) order, like pages of one export.
                    sql = (
                        f"SELECT {_select(table, upper_guids)} FROM ("
                        f"SELECT *, row_number() OVER (ORDER BY {order}) - 1 AS rn "
                        f"FROM {source} {where}) "
                        f"WHERE rn * {parts} // greatest({rows}, 1) = {part} ORDER BY rn"
                    )
                    name = f"{table}.csv" if parts == 1 else f"{table}-{part + 1:03d}.csv"
                    (exports / "partner").mkdir(exist_ok=True)
                    _copy(con, sql, exports / "partner" / name)
                    report.files += 1
            report.files += _write_folders(con, exports / "customers", upper_guids)
            report.rows["directory_role_members"] += con.execute(
                "SELECT count(*) FROM t_directory_role_members WHERE i IN (SELECT i FROM folders)"
            ).fetchone()[0]

        expected_path = out / "expected_findings.json"
        con.execute(
            f"""COPY (SELECT * FROM expected
                      ORDER BY rule_id, customer_tenant_id, partner_tenant_id, subject)
            TO '{_sql_path(expected_path)}' (FORMAT json, ARRAY true)"""
        )
        report.expected = dict(
            con.execute("SELECT rule_id, count(*) FROM expected GROUP BY 1 ORDER BY 1").fetchall()
        )
        scenarios = dict(
            con.execute("SELECT scenario, count(*) FROM c GROUP BY 1 ORDER BY 1").fetchall()
        )
        con.close()
        manifest = {
            "generator": "dapaudit generate",
            "format": fmt,
            **{k: v for k, v in asdict(report).items() if k not in ("out", "as_of")},
            "as_of": as_of.isoformat(),
            "exports": "exports",
            "expected_findings": expected_path.name,
            "scenario_shares": dict(SCENARIOS),
            "condition_shares": SHARES,
            "scenarios": scenarios,
            "rules": sorted(r.id for r in all_rules()),
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return report


def _write_folders(con: duckdb.DuckDBPyConnection, root: Path, upper_guids: bool) -> int:
    """Per-customer role listings without a tenant column: one PARTITION_BY write per variant,
    then the hive folders are renamed to the tenant id (or, every third one, its domain) and
    the files re-encoded as PowerShell and Excel would have written them."""
    written = 0
    root.mkdir(parents=True, exist_ok=True)
    select = _select("directory_role_members", upper_guids, exclude_tenant=True)
    for v, (encoding, bom, delimiter, type_line) in enumerate(FOLDER_VARIANTS):
        stage = root / f".variant{v}"
        count = con.execute(
            f"SELECT count(*) FROM folders WHERE slot % {len(FOLDER_VARIANTS)} = {v}"
        ).fetchone()[0]
        if not count:
            continue
        con.execute(
            f"""COPY (
                SELECT {select},
                       CASE WHEN f.slot % 3 = 2 THEN f.domain ELSE f.tenant_id END AS folder
                FROM t_directory_role_members m JOIN folders f USING (i)
                WHERE f.slot % {len(FOLDER_VARIANTS)} = {v}
                ORDER BY f.slot, {_order("directory_role_members", False)}
            ) TO '{_sql_path(stage)}' (FORMAT csv, HEADER true, DELIMITER '{delimiter}',
                                       PARTITION_BY (folder))"""
        )
        for hive in sorted(stage.iterdir()):
            folder = root / hive.name.split("=", 1)[1]
            folder.mkdir(parents=True)
            for n, data in enumerate(sorted(hive.iterdir())):
                target = folder / f"role-members{'' if n == 0 else n}.csv"
                if encoding == "utf-8" and not bom and not type_line:
                    data.rename(target)
                else:
                    _reencode(data, target, encoding, bom, type_line)
                written += 1
        shutil.rmtree(stage)
    return written


def _reencode(source: Path, target: Path, encoding: str, bom: bool, type_line: bool) -> None:
    text = source.read_text(encoding="utf-8")
    if type_line:
        text = TYPE_LINE + "\n" + text
    if encoding != "utf-8":  # Windows tools write CRLF
        text = text.replace("\n", "\r\n")
    data = text.encode(encoding)
    if bom:
        data = (codecs.BOM_UTF16_LE if encoding == "utf-16-le" else codecs.BOM_UTF8) + data
    target.write_bytes(data)
    source.unlink()


@dataclass
class FindingCheck:
    """Planted versus produced findings, for the rules this dapaudit has."""

    rules_checked: list[str]
    rules_not_present: list[str]
    matched: dict[str, int]
    missing: list[tuple]  # planted, not found: (rule, customer, partner, subject)
    unexpected: list[tuple]  # found, not planted

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected


def check_findings(
    con: duckdb.DuckDBPyConnection, snapshot: str, expected_file: str | os.PathLike[str]
) -> FindingCheck:
    """Compare a snapshot's findings with a generated estate's expected_findings.json.

    Identity is (rule, customer, partner, subject), tenant ids compared case-insensitively
    and a partner the generator leaves NULL matching only a finding without one; a finding
    that comes twice matches one planted row, and the second is unexpected. Rules not present
    are listed, not failed.
    """
    present = sorted(r.id for r in all_rules() if r.sql.strip())
    con.execute(
        "CREATE OR REPLACE TEMP TABLE expected_findings AS SELECT * FROM read_json(?, columns = {"
        "rule_id: 'VARCHAR', customer_tenant_id: 'VARCHAR', partner_tenant_id: 'VARCHAR', "
        "subject: 'VARCHAR'})",
        [str(expected_file)],
    )
    planted = {
        r[0] for r in con.execute("SELECT DISTINCT rule_id FROM expected_findings").fetchall()
    }
    keys = (
        "rule_id, lower(customer_tenant_id) AS c, lower(partner_tenant_id) AS p, "
        "lower(subject) AS s"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE finding_check AS
        WITH e AS (SELECT *, row_number() OVER (PARTITION BY rule_id, c, p, s) AS n
                   FROM (SELECT {keys} FROM expected_findings
                         WHERE rule_id IN (SELECT unnest($rules::VARCHAR[])))),
             f AS (SELECT *, row_number() OVER (PARTITION BY rule_id, c, p, s) AS n
                   FROM (SELECT {keys} FROM findings WHERE snapshot = $snapshot))
        SELECT coalesce(e.rule_id, f.rule_id) AS rule_id, coalesce(e.c, f.c) AS c,
               coalesce(e.p, f.p) AS p, coalesce(e.s, f.s) AS s,
               e.rule_id IS NOT NULL AS planted, f.rule_id IS NOT NULL AS found
        FROM e FULL OUTER JOIN f
          ON e.rule_id = f.rule_id AND e.c = f.c AND e.s = f.s
         AND e.p IS NOT DISTINCT FROM f.p AND e.n = f.n""",
        {"rules": present, "snapshot": snapshot},
    )
    rows = con.execute(
        "SELECT rule_id, c, p, s, planted, found FROM finding_check ORDER BY ALL"
    ).fetchall()
    matched: dict[str, int] = {}
    for rule_id, _c, _p, _s, was_planted, found in rows:
        if was_planted and found:
            matched[rule_id] = matched.get(rule_id, 0) + 1
    return FindingCheck(
        rules_checked=[r for r in present if r in planted],
        rules_not_present=sorted(planted - set(present)),
        matched=matched,
        missing=[r[:4] for r in rows if r[4] and not r[5]],
        unexpected=[r[:4] for r in rows if r[5] and not r[4]],
    )


# ---------------------------------------------------------------- real export formats

PARTNER_TENANT_TYPE = "resellerPartnerDelegatedAdmin"


def _hive_to_folders(
    stage: Path, root: Path, file_name: str, graph_context: str | None = None
) -> int:
    """COPY ... PARTITION_BY writes `stage/folder=NAME/data_0.ext`; move each to
    `root/NAME/file_name` (a rename, no copy). With `graph_context`, each JSON array is put in
    the collection Graph returns instead: {"@odata.context": ..., "value": [...]}."""
    moved = 0
    head = f'{{"@odata.context":{json.dumps(graph_context)},"value":' if graph_context else ""
    for hive in sorted(stage.iterdir()):
        folder = root / hive.name.split("=", 1)[1]
        folder.mkdir(parents=True, exist_ok=True)
        for n, data in enumerate(sorted(hive.iterdir())):
            stem, dot, ext = file_name.partition(".")
            target = folder / (file_name if n == 0 else f"{stem}{n}{dot}{ext}")
            if graph_context:
                target.write_text(head + data.read_text(encoding="utf-8") + "}\n", "utf-8")
                data.unlink()
            else:
                data.rename(target)
            moved += 1
        hive.rmdir()
    stage.rmdir()
    return moved


def _copy_json(con: duckdb.DuckDBPyConnection, sql: str, target: Path, partition: bool) -> None:
    options = "FORMAT json, ARRAY true" + (", PARTITION_BY (folder)" if partition else "")
    con.execute(f"COPY ({sql}) TO '{_sql_path(target)}' ({options})")


def _write_listings(
    con: duckdb.DuckDBPyConnection, sql: str, root: Path, file_name: str, graph: str
) -> int:
    """One Graph listing per customer folder, the collection Graph returns ({"@odata.context":
    GRAPH_METADATA + graph, "value": [...]}), saved whole as a script saves the response.
    DuckDB assembles each file's text (one row per folder); Python only writes the files.
    COPY ... PARTITION_BY keeps a bounded number of files open, so with one partition per
    customer it reopened files over and over: 100,000 customers did not finish in 30 minutes.
    Windows PowerShell's Out-File writes UTF-16LE with a BOM: every fourth listing, in path
    order, is written that way."""
    cursor = con.execute(
        f"""SELECT folder,
                   '{{"@odata.context":' || to_json(?::VARCHAR) || ',"value":['
                       || chr(10) || chr(9)
                       || string_agg(line, ',' || chr(10) || chr(9)
                                     ORDER BY role_template_id, principal_id)
                       || chr(10) || ']}}' || chr(10) AS text,
                   (row_number() OVER (ORDER BY folder || '/' || ?) - 1) % 4 = 0 AS utf16
            FROM ({sql}) GROUP BY folder ORDER BY folder || '/' || ?""",
        [GRAPH_METADATA + graph, file_name, file_name],
    )
    written = 0
    while rows := cursor.fetchmany(5000):
        for folder, text, utf16 in rows:
            target = root / folder
            target.mkdir(parents=True, exist_ok=True)
            data = codecs.BOM_UTF16_LE + text.encode("utf-16-le") if utf16 else text.encode()
            (target / file_name).write_bytes(data)
            written += 1
    return written


def _write_real(
    con: duckdb.DuckDBPyConnection, exports: Path, upper_guids: bool, shuffle: bool
) -> int:
    """The estate as the exports an auditor collects: per partner tenant (folder named by its
    id) Graph organization, groups with members, GDAP relationships and access assignments,
    Partner Center Customers.csv and DAP monitoring; estate-wide `az account list` and
    `az role assignment list`; per customer (folder named by id or domain) the Graph role
    assignments with $expand=principal, some as Windows PowerShell's UTF-16 Out-File."""
    g = "upper({})" if upper_guids else "{}"
    order = "md5(seed()::VARCHAR || 'shuffle' || k)" if shuffle else "k"
    files = 0
    partners = exports / "partners"
    stage = exports / ".stage"

    def partitioned(
        sql: str, name: str, root: Path, fmt: str = "json", graph: str | None = None
    ) -> int:
        """`graph`: the @odata.context of the Graph collection the file is a response of."""
        if fmt == "json":
            _copy_json(con, sql, stage, partition=True)
        else:
            con.execute(
                f"COPY ({sql}) TO '{_sql_path(stage)}' "
                "(FORMAT csv, HEADER true, PARTITION_BY (folder))"
            )
        return _hive_to_folders(stage, root, name, graph and GRAPH_METADATA + graph)

    # Graph GET /organization, run in each partner tenant.
    files += partitioned(
        f"""SELECT tenant_id AS folder, {g.format("tenant_id")} AS id, name AS "displayName",
                   [{{'name': domain, 'isDefault': true, 'isInitial': true}}] AS "verifiedDomains",
                   '{PARTNER_TENANT_TYPE}' AS "partnerTenantType"
            FROM partners ORDER BY j""",
        "organization.json",
        partners,
        graph="organization",
    )
    # Partner Center > Customers > Export customers (UTF-8 with BOM, as the portal writes it).
    files += partitioned(
        f"""SELECT folder, "Microsoft ID", "Company name", "Primary domain name", "Relationship"
            FROM (SELECT partner_tenant_id AS folder,
                         {g.format("customer_tenant_id")} AS "Microsoft ID",
                         t.display_name AS "Company name",
                         t.default_domain AS "Primary domain name",
                         CASE relationship_type WHEN 'advisor' THEN 'Advisor'
                              ELSE 'Cloud Reseller' END AS "Relationship",
                         customer_tenant_id AS k
                  FROM t_partner_relationships r
                  JOIN t_tenants t ON t.tenant_id = r.customer_tenant_id)
            ORDER BY folder, {order}""",
        "Customers.csv",
        partners,
        fmt="csv",
    )
    for path in partners.rglob("Customers*.csv"):
        path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
    # Partner Center DAP monitoring (delegatedAdminCustomers).
    files += partitioned(
        f"""SELECT partner_id AS folder, {g.format("tenant_id")} AS id,
                   {g.format("tenant_id")} AS "customerTenantId",
                   name AS "organizationDisplayName",
                   m.partner_agent_count AS "partnerAgentCount",
                   m.partner_sign_in_count AS "partnerSignInCount",
                   m.global_admin_sign_in_count AS "globalAdminSignInCount",
                   c.dap AS "dapEnabled", m.start_at AS "startDateTime",
                   CASE WHEN NOT c.dap
                        THEN ts(as_of() - INTERVAL (20 + n('removed', c.i, 380)) DAY)
                   END AS "endDateTime",
                   m.last_sign_in_at AS "lastSignInDateTime"
            FROM c JOIN t_dap_monitoring m USING (i)
            ORDER BY folder, c.i""",
        "delegatedAdminCustomers.json",
        partners,
    )
    # Graph groups with $expand=members, run in each partner tenant.
    files += partitioned(
        f"""SELECT g.partner_tenant_id AS folder, {g.format("g.group_id")} AS id,
                   g.display_name AS "displayName", [] :: VARCHAR[] AS "groupTypes",
                   false AS "mailEnabled", true AS "securityEnabled",
                   list({{'@odata.type': '#microsoft.graph.user', 'id': {g.format("m.member_id")},
                          'displayName': m.member_display_name,
                          'userPrincipalName': m.member_upn}} ORDER BY m.member_id)
                       FILTER (WHERE m.member_id IS NOT NULL) AS members
            FROM t_partner_agent_groups g
            LEFT JOIN t_partner_group_members m USING (partner_tenant_id, group_id)
            GROUP BY ALL ORDER BY folder, id""",
        "groups.json",
        partners,
        graph="groups(members())",
    )
    # Graph delegatedAdminRelationships and their accessAssignments (relationshipId added by
    # the exporting script, as the relationship is otherwise only in the request URL). A
    # partner has thousands of relationships and Graph pages hold a few hundred: the script
    # follows @odata.nextLink and writes the records it collected as one array.
    files += partitioned(
        f"""SELECT r.partner_tenant_id AS folder,
                   '#microsoft.graph.delegatedAdminRelationship' AS "@odata.type",
                   {g.format("r.relationship_id")} AS id, r.display_name AS "displayName",
                   r.duration, {{'tenantId': {g.format("r.customer_tenant_id")},
                                 'displayName': c.name}} AS customer,
                   {{'unifiedRoles': list({{'roleDefinitionId': x.role_template_id}}
                                          ORDER BY x.role_template_id)}} AS "accessDetails",
                   r.status, r.auto_extend_duration AS "autoExtendDuration",
                   r.created_at AS "createdDateTime", r.activated_at AS "lastModifiedDateTime",
                   r.activated_at AS "activatedDateTime", r.end_at AS "endDateTime"
            FROM t_gdap_relationships r JOIN c USING (i)
            JOIN t_gdap_relationship_roles x USING (relationship_id)
            GROUP BY ALL ORDER BY folder, id""",
        "delegatedAdminRelationships.json",
        partners,
    )
    files += partitioned(
        f"""SELECT r.partner_tenant_id AS folder,
                   '#microsoft.graph.delegatedAdminAccessAssignment' AS "@odata.type",
                   {g.format("a.assignment_id")} AS id,
                   {g.format("a.relationship_id")} AS "relationshipId", a.status,
                   r.created_at AS "createdDateTime", r.activated_at AS "lastModifiedDateTime",
                   {{'accessContainerId': {g.format("a.security_group_id")},
                     'accessContainerType': 'securityGroup'}} AS "accessContainer",
                   {{'unifiedRoles': list({{'roleDefinitionId': a.role_template_id}}
                                          ORDER BY a.role_template_id)}} AS "accessDetails"
            FROM t_gdap_access_assignments a JOIN t_gdap_relationships r USING (relationship_id)
            GROUP BY ALL ORDER BY folder, id""",
        "accessAssignments.json",
        partners,
    )
    # Azure CLI, run across every subscription the auditor can read: one list each.
    azure = exports / "azure"
    azure.mkdir()
    _copy_json(
        con,
        f"""SELECT 'AzureCloud' AS "cloudName", {g.format("s.tenant_id")} AS "homeTenantId",
                   {g.format("s.subscription_id")} AS id, false AS "isDefault",
                   [{{'tenantId': {g.format("c.partner_id")}}}] AS "managedByTenants",
                   s.display_name AS name, s.state, c.domain AS "tenantDefaultDomain",
                   c.name AS "tenantDisplayName", {g.format("s.tenant_id")} AS "tenantId",
                   {{'name': 'auditor@' || c.domain, 'type': 'user'}} AS "user"
            FROM t_azure_subscriptions s JOIN c USING (i)
            ORDER BY {order.replace("k", "s.subscription_id")}""",
        azure / "az-account-list.json",
        partition=False,
    )
    files += 1
    _copy_json(
        con,
        f"""SELECT NULL AS condition, NULL AS "conditionVersion", NULL AS "createdBy",
                   '2024-03-14T10:02:11.487311+00:00' AS "createdOn",
                   NULL AS "delegatedManagedIdentityResourceId", NULL AS description,
                   {g.format("a.scope")} || '/providers/Microsoft.Authorization/roleAssignments/'
                       || a.assignment_id AS id,
                   a.assignment_id AS name, {g.format("a.principal_id")} AS "principalId",
                   CASE WHEN a.principal_type = 'foreignGroup' AND a.principal_id = c.admin_agents
                        THEN '' ELSE coalesce(a.principal_display_name, '') END AS "principalName",
                   CASE a.principal_type WHEN 'foreignGroup' THEN 'ForeignGroup'
                        WHEN 'group' THEN 'Group' WHEN 'user' THEN 'User'
                        ELSE 'ServicePrincipal' END AS "principalType",
                   {g.format("a.scope")} || '/providers/Microsoft.Authorization/roleDefinitions/'
                       || a.role_definition_id AS "roleDefinitionId",
                   a.role_definition_name AS "roleDefinitionName", {g.format("a.scope")} AS scope,
                   'Microsoft.Authorization/roleAssignments' AS type,
                   NULL AS "updatedBy", '2024-03-14T10:02:11.487311+00:00' AS "updatedOn"
            FROM t_azure_role_assignments a JOIN c ON c.tenant_id = a.tenant_id
            ORDER BY {order.replace("k", "a.assignment_id")}""",
        azure / "az-role-assignment-list.json",
        partition=False,
    )
    files += 1
    # Graph roleAssignments?$expand=principal, run in each customer tenant (folder: its id,
    # or for every third one its domain).
    principal = (
        f"{{'@odata.type': '#microsoft.graph.' || m.principal_type, "
        f"'id': {g.format('m.principal_id')}, 'displayName': m.principal_display_name, "
        f"'userPrincipalName': m.principal_upn, "
        f"'organizationId': {g.format('m.principal_organization_id')}}}"
    )
    files += _write_listings(
        con,
        f"""SELECT CASE WHEN c.i % 3 = 2 THEN c.domain ELSE c.tenant_id END AS folder,
                   to_json({{'id': md5(m.principal_id || m.role_template_id),
                             'principalId': {g.format("m.principal_id")}, 'resourceScope': '/',
                             'directoryScopeId': m.directory_scope_id,
                             'roleDefinitionId': m.role_template_id,
                             'principal': {principal}}})::VARCHAR AS line,
                   m.role_template_id, m.principal_id
            FROM t_directory_role_members m JOIN c USING (i)""",
        exports / "customers",
        "roleAssignments.json",
        "roleManagement/directory/roleAssignments(principal())",
    )
    return files
