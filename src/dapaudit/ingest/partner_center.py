"""Partner relationship exports: Partner Center (DAP monitoring, Customers.csv), the
customer-side partner list (AADInternals Get-AADIntMSPartners) and the community GDAP
export CSV (one row per relationship x role x group)."""

from __future__ import annotations

from .base import (
    REGISTRY,
    Batch,
    Kind,
    Sniff,
    StagedTable,
    js,
    spelled_as,
    stage_json,
    timestamp,
    trailing_guid,
    truthy,
)
from .graph import ASSIGNMENT_STATUSES, GDAP_STATUSES, _join_files
from .shared import GUID_PATTERN, RELATIONSHIP_ID_PATTERN, stage_export_csv


def relationship_type(expr: str) -> str:
    """SQL: a relationship description ("Cloud Reseller", "Indirect Reseller and Admin",
    "Delegated administrator", "Advisor") as a canonical relationship_type."""
    text = f"lower(coalesce({expr}, ''))"
    return (
        f"CASE WHEN {text} LIKE '%indirect%' THEN 'indirect_reseller' "
        f"WHEN {text} LIKE '%reseller%' THEN 'reseller' "
        f"WHEN {text} LIKE '%advisor%' THEN 'advisor' "
        f"WHEN {text} LIKE '%delegated%' OR {text} LIKE '%admin%' THEN 'delegated_admin' "
        f"WHEN {text} LIKE '%partner%' THEN 'partner' ELSE 'other' END"
    )


# ---------------------------------------------------------------- DAP monitoring


def _is_dap_monitoring(s: Sniff) -> bool:
    # A page with no record (no DAP customer left) is told by its @odata.context.
    if s.record is None and "#delegatedadmincustomers" in s.odata_context.lower():
        return True
    return s.record_has("dapEnabled", "customerTenantId")


def load_dap_monitoring(batch: Batch) -> None:
    """Partner Center `delegatedAdminCustomers` (DAP monitoring), run as the partner."""
    stage = _join_files(stage_json(batch, "stg_pc_dap"))
    customer = js("customerTenantId")
    stage.require_tenant("s.context_tenant_id", "tenant")
    stage.require(customer, "customerTenantId")
    stage.require_guid(customer, "customerTenantId")
    stage.require_in(f"lower({js('dapEnabled')})", ("true", "false"), "dapEnabled")
    for name in ("partnerAgentCount", "partnerSignInCount", "globalAdminSignInCount"):
        stage.require_cast(js(name), "INTEGER", name, "whole number")
    for name in ("startDateTime", "endDateTime", "lastSignInDateTime"):
        stage.require_cast(js(name), "TIMESTAMPTZ", name, "ISO-8601 date-time")
    stage.reject_duplicates([f"lower({customer})"])
    stage.insert(
        "dap_monitoring",
        f"""SELECT s.source_file_id, s.source_record,
               lower(s.context_tenant_id) AS partner_tenant_id,
               lower({customer}) AS customer_tenant_id,
               {js("dapEnabled")}::BOOLEAN AS dap_enabled,
               {js("partnerAgentCount")}::INTEGER AS partner_agent_count,
               {js("partnerSignInCount")}::INTEGER AS partner_sign_in_count,
               {js("globalAdminSignInCount")}::INTEGER AS global_admin_sign_in_count,
               {timestamp(js("startDateTime"))} AS start_at,
               {timestamp(js("endDateTime"))} AS end_at,
               {timestamp(js("lastSignInDateTime"))} AS last_sign_in_at
        FROM {stage.name} s""",
    )


# ---------------------------------------------------------------- Customers.csv


def _is_customers_csv(s: Sniff) -> bool:
    return s.has_columns("Microsoft ID", "Company name")


def load_customers_csv(batch: Batch) -> None:
    """Partner Center > Customers > Export customers (partner side)."""
    stage = stage_export_csv(batch, "stg_pc_customers", {"Microsoft ID": ("Microsoft ID",)})
    customer = stage.col("Microsoft ID")
    stage.require_tenant("f.context_tenant_id", "tenant")
    stage.require(customer, "Microsoft ID")
    stage.require_guid(customer, "Microsoft ID")
    stage.reject_duplicates([f"lower({customer})"])
    rows = f"FROM {stage.name} s JOIN {batch.file_table} f USING (source_file_id)"
    stage.insert(
        "partner_relationships",
        f"""SELECT s.source_file_id, s.line AS source_record,
               lower({customer}) AS customer_tenant_id,
               lower(f.context_tenant_id) AS partner_tenant_id, NULL AS partner_name,
               {relationship_type(stage.col("Relationship"))} AS relationship_type,
               NULL::BOOLEAN AS dap_enabled {rows}""",
    )
    stage.insert(
        "tenants",
        f"""SELECT s.source_file_id, s.line AS source_record, lower({customer}) AS tenant_id,
               {stage.col("Company name")} AS display_name,
               lower({stage.col("Primary domain name")}) AS default_domain,
               'customer' AS tenant_type {rows}""",
    )


# ---------------------------------------------------------------- customer-side partner list


def _is_ms_partners(s: Sniff) -> bool:
    return s.has_columns("Identity", "DisplayName", "CanRemoveDap")


def load_ms_partners(batch: Batch) -> None:
    """`Get-AADIntMSPartners | Export-Csv` in the customer tenant (Settings > Partner
    relationships): each partner, its relationship and whether it holds DAP (CanRemoveDap)."""
    stage = stage_export_csv(batch, "stg_aadint_partners", {"Identity": ("Identity",)})
    partner = stage.col("Identity")
    stage.require_tenant("f.context_tenant_id", "tenant")
    stage.require(partner, "Identity")
    stage.require_guid(partner, "Identity")
    can_remove = stage.col("CanRemoveDap")
    stage.fail_first(
        f"{can_remove} IS NOT NULL AND {truthy(can_remove)} IS NULL",
        "not True or False",
        "CanRemoveDap",
    )
    stage.reject_duplicates([f"lower({partner})"])
    stage.insert(
        "partner_relationships",
        f"""SELECT s.source_file_id, s.line AS source_record,
               lower(f.context_tenant_id) AS customer_tenant_id,
               lower({partner}) AS partner_tenant_id,
               {stage.col("DisplayName")} AS partner_name,
               {relationship_type(stage.col("Relationship"))} AS relationship_type,
               {truthy(can_remove)} AS dap_enabled
        FROM {stage.name} s JOIN {batch.file_table} f USING (source_file_id)""",
    )


# ---------------------------------------------------------------- community GDAP export CSV


def _is_gdap_csv(s: Sniff) -> bool:
    return s.has_columns("CustomerTenantId", "RelationshipId", "RoleId", "SecurityGroupId")


# The one `Status` column holds what the script wrote: the relationship's status or the access
# assignment's (formats.md 10), so a value of either of Graph's lists is taken, in any case.
GDAP_CSV_STATUSES = tuple(dict.fromkeys(GDAP_STATUSES + ASSIGNMENT_STATUSES))


def load_gdap_csv(batch: Batch) -> None:
    """One row per relationship x role x group, as community GDAP scripts write it. `Status`
    is read as the access assignment's status and, for want of another column, the
    relationship's."""
    con = batch.con
    stage = stage_export_csv(
        batch,
        "stg_gdap_csv",
        {c: (c,) for c in ("CustomerTenantId", "RelationshipId", "RoleId", "Status")},
    )
    rel, customer = stage.col("RelationshipId"), stage.col("CustomerTenantId")
    role, group = stage.col("RoleId"), stage.col("SecurityGroupId")
    assignment, status = stage.col("AssignmentId"), stage.col("Status")
    stage.require_tenant("f.context_tenant_id", "tenant")
    stage.require(rel, "RelationshipId")
    stage.fail_first(
        f"NOT regexp_full_match(lower({rel}), '{RELATIONSHIP_ID_PATTERN.lower()}') "
        f"AND NOT regexp_full_match(lower({rel}), '{GUID_PATTERN}')",
        "not a GDAP relationship id (two GUIDs joined by a hyphen)",
        "RelationshipId",
    )
    stage.require_guid(customer, "CustomerTenantId")
    stage.require_guid(role, "RoleId")
    stage.require_known_directory_role(trailing_guid(role), "RoleId")
    stage.require_guid(group, "SecurityGroupId", optional=True)
    stage.require_guid(assignment, "AssignmentId", optional=True)
    stage.require(status, "Status")
    stage.require_in(status, GDAP_CSV_STATUSES, "Status", any_case=True)
    stage.fail_first(
        f"{group} IS NOT NULL AND {assignment} IS NULL",
        "required value is missing",
        "AssignmentId",
    )
    stage.reject_duplicates([f"lower({rel})", trailing_guid(role), f"lower(coalesce({group}, ''))"])
    stage.require_cast(
        stage.col("CreatedDateTime"), "TIMESTAMPTZ", "CreatedDateTime", "ISO-8601 date-time"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE stg_gdap_csv_rows AS
        SELECT s.source_file_id, s.line, lower({rel}) AS relationship_id,
               lower({customer}) AS customer_tenant_id,
               lower(f.context_tenant_id) AS partner_tenant_id,
               {stage.col("RelationshipName")} AS display_name,
               {spelled_as(status, GDAP_CSV_STATUSES)} AS status,
               {trailing_guid(role)} AS role_template_id, lower({group}) AS security_group_id,
               lower({assignment}) AS assignment_id,
               {timestamp(stage.col("CreatedDateTime"))} AS created_at
        FROM {stage.name} s JOIN {batch.file_table} f USING (source_file_id)"""
    )
    rows = StagedTable(batch, "stg_gdap_csv_rows", "line", "line")
    rows.fail_first(
        "s.relationship_id IN (SELECT relationship_id FROM stg_gdap_csv_rows "
        "GROUP BY relationship_id HAVING count(DISTINCT customer_tenant_id) > 1)",
        "the same relationship names two customers",
        "CustomerTenantId",
    )
    rows.insert(
        "gdap_relationships",
        """SELECT min(source_file_id) AS source_file_id, min(line) AS source_record,
               relationship_id,
               any_value(partner_tenant_id) AS partner_tenant_id,
               any_value(customer_tenant_id) AS customer_tenant_id,
               min(display_name) AS display_name, min(status) AS status,
               min(created_at) AS created_at
        FROM stg_gdap_csv_rows GROUP BY relationship_id""",
    )
    rows.insert(
        "gdap_relationship_roles",
        """SELECT min(source_file_id) AS source_file_id, min(line) AS source_record,
               relationship_id, role_template_id
        FROM stg_gdap_csv_rows GROUP BY relationship_id, role_template_id""",
    )
    rows.insert(
        "gdap_access_assignments",
        """SELECT source_file_id, line AS source_record, relationship_id, assignment_id,
               security_group_id, status, role_template_id
        FROM stg_gdap_csv_rows WHERE security_group_id IS NOT NULL""",
    )


PC = "Partner Center"
for _kind in (
    Kind(
        "partner_center.dap_monitoring",
        "Partner Center DAP monitoring (delegatedAdminCustomers):"
        " dapEnabled and partner sign-ins per customer",
        "json",
        ("dap_monitoring",),
        _is_dap_monitoring,
        load_dap_monitoring,
        f"{PC} API: GET .../CustomerServiceAdminApi/Web/v1/delegatedAdminCustomers",
        reads=(),
    ),
    Kind(
        "partner_center.customers",
        "Partner Center customer list: customer tenant id, name, domain, relationship",
        "csv",
        ("partner_relationships", "tenants"),
        _is_customers_csv,
        load_customers_csv,
        f"{PC}: Customers > Export customers (Customers.csv)",
        defines_tenants=True,
        load_order=10,
        reads=(),
    ),
    Kind(
        "aadinternals.ms_partners",
        "Customer-side partner list: partner tenant, relationship, DAP (CanRemoveDap)",
        "csv",
        ("partner_relationships",),
        _is_ms_partners,
        load_ms_partners,
        "AADInternals: Get-AADIntMSPartners | Export-Csv (customer Global Admin)",
        reads=(),
    ),
    Kind(
        "community.gdap_export",
        "GDAP export CSV of community scripts: relationship x role x security group",
        "csv",
        ("gdap_relationships", "gdap_relationship_roles", "gdap_access_assignments"),
        _is_gdap_csv,
        load_gdap_csv,
        "Community GDAP scripts (Graph delegatedAdminRelationships + accessAssignments, flattened)",
        reads=(),
    ),
):
    REGISTRY.add(_kind)
