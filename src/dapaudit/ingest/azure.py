"""Azure exports: role assignments (`az role assignment list`, ARM REST, Get-AzRoleAssignment
CSV) and subscriptions (`az account list`, which ties each subscription to its tenant).

Role assignments carry no tenant: it comes from the subscription of the scope (an `az account
list` loaded now or earlier into the snapshot), else the file's context (--tenant, folder).
"""

from __future__ import annotations

from .base import (
    REGISTRY,
    Batch,
    Kind,
    Sniff,
    StagedTable,
    js,
    principal_type,
    stage_json,
    trailing_guid,
)
from .canonical import foreign_partner_name, subscription_of
from .shared import stage_export_csv


def _prop(name: str) -> str:
    """SQL: a field of an az CLI record, flat or nested under `properties` (older CLI, ARM)."""
    return f"coalesce({js(name)}, {js('properties.' + name)})"


def _is_az_role_assignments(s: Sniff) -> bool:
    if s.record is None:
        return False
    props = s.record.get("properties")
    nested = isinstance(props, dict) and "roleDefinitionId" in props and "principalId" in props
    flat = s.record_has("roleDefinitionId", "principalId", "scope")
    return (nested or flat) and not s.record_has("directoryScopeId")


def _insert_assignments(
    stage: StagedTable, e: dict[str, str], fields: dict[str, str], rows_sql: str
) -> None:
    """Checks and insert shared by the JSON and CSV role-assignment readers. `rows_sql` is the
    FROM clause giving `s` (the stage) and `f` (its file)."""
    con = stage.batch.con
    # The tenant: the subscription's owner when az account list told it, else the context.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ingest_subscription_tenants AS "
        "SELECT subscription_id, min(tenant_id) AS tenant_id FROM azure_subscriptions "
        "WHERE snapshot = ? GROUP BY subscription_id",
        [stage.batch.snapshot],
    )
    tenant = (
        "coalesce((SELECT t.tenant_id FROM ingest_subscription_tenants t "
        f"WHERE t.subscription_id = {subscription_of(e['scope'])}), f.context_tenant_id)"
    )
    stage.require(e["scope"], fields["scope"])
    stage.require(e["principal_id"], fields["principal_id"])
    stage.require_guid(e["principal_id"], fields["principal_id"])
    stage.require(e["role_definition_id"], fields["role_definition_id"])
    stage.require_guid(e["role_definition_id"], fields["role_definition_id"])
    stage.require_tenant(tenant, "tenant")
    stage.reject_duplicates(
        [f"lower({e['scope']})", e["role_definition_id"], f"lower({e['principal_id']})"]
    )
    scope = f"rtrim(lower({e['scope']}), '/')"
    con.execute(
        f"INSERT INTO azure_role_assignments BY NAME SELECT ?::VARCHAR AS snapshot, * FROM ("
        f"""SELECT s.source_file_id, s.{stage.record_column} AS source_record,
               lower({tenant}) AS tenant_id, {subscription_of(scope)} AS subscription_id,
               {scope} AS scope, {e["role_definition_id"]} AS role_definition_id,
               {e["role_definition_name"]} AS role_definition_name,
               lower({e["principal_id"]}) AS principal_id,
               CASE WHEN {foreign_partner_name(e["principal_display_name"])} IS NOT NULL
                         AND {e["principal_type"]} IN ('group', 'unknown') THEN 'foreignGroup'
                    ELSE {e["principal_type"]} END AS principal_type,
               {e["principal_display_name"]} AS principal_display_name,
               {foreign_partner_name(e["principal_display_name"])} AS foreign_partner_name,
               {e["assignment_id"]} AS assignment_id
        {rows_sql})""",
        [stage.batch.snapshot],
    )


def load_az_role_assignments(batch: Batch) -> None:
    stage = stage_json(batch, "stg_az_role_assignments")
    role_def = _prop("roleDefinitionId")
    e = {
        "scope": _prop("scope"),
        "principal_id": _prop("principalId"),
        "role_definition_id": (
            f"coalesce({trailing_guid(role_def)}, "
            f"CASE WHEN {role_def} IS NOT NULL THEN {role_def} END)"
        ),
        "role_definition_name": _prop("roleDefinitionName"),
        "principal_type": principal_type(_prop("principalType")),
        # The CLI writes '' for a name Graph could not resolve (js() makes that NULL).
        "principal_display_name": _prop("principalName"),
        "assignment_id": f"coalesce({js('name')}, {js('id')})",
    }
    fields = {
        "scope": "scope",
        "principal_id": "principalId",
        "role_definition_id": "roleDefinitionId",
    }
    _insert_assignments(
        stage, e, fields, f"FROM {stage.name} s JOIN {batch.file_table} f USING (source_file_id)"
    )


def _is_ps_role_assignments(s: Sniff) -> bool:
    return (
        s.has_columns("Scope", "ObjectId")
        and (s.has_columns("RoleDefinitionId") or s.has_columns("RoleDefinitionName"))
        and not s.has_columns("ObjectID", "GroupName")  # not the AOBO checker
    )


def load_ps_role_assignments(batch: Batch) -> None:
    """`Get-AzRoleAssignment | Export-Csv`: RoleDefinitionId is the bare GUID; an export that
    kept only RoleDefinitionName is matched to the built-in role of that name."""
    stage = stage_export_csv(
        batch, "stg_ps_role_assignments", {"Scope": ("Scope",), "ObjectId": ("ObjectId",)}
    )
    name = stage.col("RoleDefinitionName")
    by_name = (
        f"(SELECT r.role_definition_id FROM ref_azure_roles r "
        f"WHERE lower(r.display_name) = lower({name}) LIMIT 1)"
    )
    raw_id = stage.col("RoleDefinitionId")
    e = {
        "scope": stage.col("Scope"),
        "principal_id": stage.col("ObjectId"),
        "role_definition_id": f"coalesce({trailing_guid(raw_id)}, {raw_id}, {by_name})",
        "role_definition_name": name,
        "principal_type": principal_type(stage.col("ObjectType")),
        "principal_display_name": stage.col("DisplayName"),
        "assignment_id": stage.col("RoleAssignmentName", "RoleAssignmentId"),
    }
    fields = {
        "scope": "Scope",
        "principal_id": "ObjectId",
        "role_definition_id": "RoleDefinitionId"
        if stage.has("RoleDefinitionId")
        else "RoleDefinitionName",
    }
    _insert_assignments(
        stage, e, fields, f"FROM {stage.name} s JOIN {batch.file_table} f USING (source_file_id)"
    )


def _is_az_accounts(s: Sniff) -> bool:
    return s.record_has("id", "tenantId", "state", "name") and (
        s.record_has("isDefault") or s.record_has("cloudName") or s.record_has("homeTenantId")
    )


def load_az_accounts(batch: Batch) -> None:
    """`az account list --all -o json`: every subscription with the tenant that owns it."""
    stage = stage_json(batch, "stg_az_accounts")
    sub, tenant = js("id"), js("tenantId")
    stage.require(sub, "id")
    stage.require_guid(sub, "id")
    stage.require(tenant, "tenantId")
    stage.require_guid(tenant, "tenantId")
    stage.reject_duplicates([f"lower({sub})"])
    stage.insert(
        "azure_subscriptions",
        f"""SELECT s.source_file_id, s.source_record, lower({sub}) AS subscription_id,
               lower({tenant}) AS tenant_id, {js("name")} AS display_name, {js("state")} AS state
        FROM {stage.name} s""",
    )


for _kind in (
    Kind(
        "azure.accounts",
        "Azure CLI subscription list: subscription to tenant",
        "json",
        ("azure_subscriptions",),
        _is_az_accounts,
        load_az_accounts,
        "Azure CLI: az account list --all -o json",
        load_order=40,
    ),
    Kind(
        "azure.role_assignments",
        "Azure role assignments (az CLI flat or properties-nested, ARM "
        "REST): scope, role GUID, principal, ForeignGroup / Foreign Principal name",
        "json",
        ("azure_role_assignments",),
        _is_az_role_assignments,
        load_az_role_assignments,
        "Azure CLI: az role assignment list --all --include-inherited -o json; or ARM REST "
        "GET .../providers/Microsoft.Authorization/roleAssignments",
        load_order=70,
    ),
    Kind(
        "azure.ps_role_assignments",
        "Azure PowerShell role assignments CSV: Scope, "
        "RoleDefinitionId or RoleDefinitionName, ObjectId, ObjectType, DisplayName",
        "csv",
        ("azure_role_assignments",),
        _is_ps_role_assignments,
        load_ps_role_assignments,
        "Az PowerShell: Get-AzRoleAssignment | Export-Csv",
        load_order=70,
    ),
):
    REGISTRY.add(_kind)
