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
    arm_scope,
    js,
    principal_type,
    require_arm_scope,
    stage_json,
    trailing_guid,
)
from .canonical import foreign_partner_name, subscription_of
from .shared import GUID_PATTERN, agent_role, stage_export_csv


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


def _insert_assignments(stage: StagedTable, e: dict[str, str], fields: dict[str, str]) -> None:
    """Checks and insert shared by the JSON and CSV role-assignment readers. `e`: the
    expressions of each field over `s`, the stage."""
    con = stage.batch.con
    # The tenant: the subscription's owner when az account list told it, else the context. A
    # subscription two account lists give to two tenants (moved between them, or an edited
    # file) is the file's context tenant when that is one of them; taking the least of them
    # put one customer's Owners in another's findings and review, by the order of ingest.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ingest_subscription_tenants AS "
        "SELECT subscription_id, list(DISTINCT tenant_id ORDER BY tenant_id) AS tenants "
        "FROM azure_subscriptions WHERE snapshot = ? GROUP BY subscription_id",
        [stage.batch.snapshot],
    )

    e = e | {
        # The tenants account lists give the subscription (NULL: none lists it).
        "listed_tenants": (
            "(SELECT t.tenants FROM ingest_subscription_tenants t "
            f"WHERE t.subscription_id = {subscription_of(e['scope'])})"
        ),
        "foreign_partner_name": foreign_partner_name(e["principal_display_name"]),
    }
    # Each field once per row, not once in the checks and again in the insert.
    stage, e = stage.project(e)
    listed, context = e["listed_tenants"], "lower(s.context_tenant_id)"
    e["tenant"] = (
        f"CASE WHEN {listed} IS NULL THEN s.context_tenant_id "
        f"WHEN len({listed}) = 1 THEN {listed}[1] "
        f"WHEN list_contains({listed}, {context}) THEN {context} END"
    )
    stage.fail_first(
        f"len({listed}) > 1 AND NOT coalesce(list_contains({listed}, {context}), false)",
        "az account list gives this subscription to several tenants, and neither --tenant nor "
        "a parent folder names one of them: put the file in its tenant's folder or give --tenant",
        fields["scope"],
    )
    stage.require(e["scope"], fields["scope"])
    require_arm_scope(stage, e["scope"], fields["scope"])
    stage.require(e["principal_id"], fields["principal_id"])
    stage.require_guid(e["principal_id"], fields["principal_id"])
    stage.require(e["role_definition_id"], fields["role_definition_id"])
    stage.require_guid(e["role_definition_id"], fields["role_definition_id"])
    stage.require_tenant(e["tenant"], "tenant")
    scope = arm_scope(e["scope"])
    # One assignment written with and without a trailing '/' is the same assignment.
    stage.reject_duplicates([scope, e["role_definition_id"], f"lower({e['principal_id']})"])
    stage.insert(
        "azure_role_assignments",
        f"""SELECT s.source_file_id, s.{stage.record_column} AS source_record,
               lower({e["tenant"]}) AS tenant_id, {subscription_of(scope)} AS subscription_id,
               {scope} AS scope, {e["role_definition_id"]} AS role_definition_id,
               {e["role_definition_name"]} AS role_definition_name,
               lower({e["principal_id"]}) AS principal_id,
               CASE WHEN {e["foreign_partner_name"]} IS NOT NULL
                         AND {e["principal_type"]} IN ('group', 'unknown') THEN 'foreignGroup'
                    ELSE {e["principal_type"]} END AS principal_type,
               {e["principal_display_name"]} AS principal_display_name,
               {e["foreign_partner_name"]} AS foreign_partner_name,
               {e["assignment_id"]} AS assignment_id
        FROM {stage.name} s""",
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
    _insert_assignments(stage, e, fields)


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
        batch,
        "stg_ps_role_assignments",
        {
            "Scope": ("Scope",),
            "ObjectId": ("ObjectId",),
            "RoleDefinitionId": ("RoleDefinitionId", "RoleDefinitionName"),
        },
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
    # Get-AzRoleAssignment -IncludeClassicAdministrators adds the subscription's classic
    # administrators: no object id, no role definition; not RBAC role assignments at all.
    stage.fail_first(
        f"{stage.col('ObjectId')} IS NULL AND {raw_id} IS NULL AND regexp_matches("
        f"coalesce({name}, ''), '(?i)(service|account|co)administrator')",
        "a classic administrator (no object id, no role definition): dapaudit reads RBAC role "
        "assignments; export again without -IncludeClassicAdministrators",
        "RoleDefinitionName",
    )
    # A name alone is matched to the roles dapaudit knows by name; any other would be
    # 'required value is missing', beside a value that is plainly there.
    known = stage.batch.con.execute(
        "SELECT string_agg(display_name, ', ' ORDER BY display_name) FROM ref_azure_roles"
    ).fetchone()[0]
    stage.fail_first(
        f"{raw_id} IS NULL AND {name} IS NOT NULL AND {by_name} IS NULL",
        f"unknown Azure role name (known by name: {known}); export RoleDefinitionId as well",
        "RoleDefinitionName",
    )
    _insert_assignments(stage, e, fields)


def _is_az_accounts(s: Sniff) -> bool:
    return s.record_has("id", "tenantId", "state", "name") and (
        s.record_has("isDefault") or s.record_has("cloudName") or s.record_has("homeTenantId")
    )


def load_az_accounts(batch: Batch) -> None:
    """`az account list --all -o json`: every subscription with the tenant that owns it.

    That is `homeTenantId` where the CLI writes it (2.x): `tenantId` is the tenant the user
    signed in to, which for a customer subscription a partner manages through Azure
    Lighthouse is the partner's (Azure/azure-cli#11886). Read by tenantId, a partner's own
    account list moved its customers' Azure findings onto the partner."""
    stage = stage_json(batch, "stg_az_accounts")
    home = js("homeTenantId")
    sub, tenant = js("id"), f"coalesce({home}, {js('tenantId')})"
    stage.require(sub, "id")
    stage.require_guid(sub, "id")
    stage.require(tenant, "tenantId")
    stage.require_guid(js("tenantId"), "tenantId", optional=True)
    stage.require_guid(home, "homeTenantId", optional=True)
    stage.reject_duplicates([f"lower({sub})"])
    stage.insert(
        "azure_subscriptions",
        f"""SELECT s.source_file_id, s.source_record, lower({sub}) AS subscription_id,
               lower({tenant}) AS tenant_id, {js("name")} AS display_name, {js("state")} AS state
        FROM {stage.name} s""",
    )


def _is_aobo_checker(s: Sniff) -> bool:
    return s.has_columns("GroupName", "ObjectID", "PartnerTenantName", "PartnerTenantID")


def load_aobo_checker(batch: Batch) -> None:
    """Microsoft's AOBO checker script (partner-earned-credit-troubleshoot): a TAB file whose
    header names the partner's agent groups (GroupName, ObjectID, PartnerTenantName,
    PartnerTenantID), followed by header-less rows of six fields: customer domain, customer
    tenant id, subscription id, foreign principal name, its object id, role name. Rows of two
    widths defeat a CSV reader, so each line is read whole and split in SQL."""
    con = batch.con
    con.execute("DROP TABLE IF EXISTS stg_aobo_lines")
    con.execute(
        """CREATE TEMP TABLE stg_aobo_lines AS
        SELECT filename, line_text FROM read_csv(?, header = false, auto_detect = false,
            columns = {'line_text': 'VARCHAR'}, delim = '\x01', quote = '', escape = '',
            filename = true, strict_mode = false)""",
        [[str(f.read_path) for f in batch.files]],
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE stg_aobo AS
        SELECT f.source_file_id, f.context_tenant_id,
               row_number() OVER (PARTITION BY f.source_file_id ORDER BY l.rowid) AS line,
               string_split(rtrim(l.line_text, chr(13)), chr(9)) AS cells
        FROM stg_aobo_lines l JOIN {batch.file_table} f ON f.read_path = l.filename"""
    )
    con.execute("DELETE FROM stg_aobo WHERE line = 1 OR trim(array_to_string(cells, '')) = ''")
    stage = StagedTable(batch, "stg_aobo", "line", "line")
    stage.fail_first(
        "len(s.cells) NOT IN (4, 6)",
        "expected 4 fields (an agent group) or 6 (a foreign principal's role)",
        "line",
    )

    def cell(n: int) -> str:
        return f"nullif(trim(s.cells[{n}]), '')"

    groups, roles = "len(s.cells) = 4", "len(s.cells) = 6"
    checks = (
        (groups, 2, "ObjectID"),
        (groups, 4, "PartnerTenantID"),
        (roles, 2, "CustomerTenantId"),
        (roles, 3, "SubscriptionId"),
        (roles, 5, "ObjectID"),
    )
    for rows, n, field in checks:
        stage.fail_first(
            f"{rows} AND NOT regexp_full_match(coalesce({cell(n)}, ''), '{GUID_PATTERN}')",
            "not a GUID",
            field,
        )
    by_name = (
        "(SELECT r.role_definition_id FROM ref_azure_roles r "
        f"WHERE lower(r.display_name) = lower({cell(6)}) LIMIT 1)"
    )
    stage.fail_first(
        f"{roles} AND {by_name} IS NULL",
        "an Azure role dapaudit does not know by name (this export names roles, not their "
        "ids; reference/azure_roles.csv lists the roles known by name): export the "
        "assignments with `az role assignment list` instead, which gives the ids",
        "RoleDefinitionName",
    )
    stage.insert(
        "partner_agent_groups",
        f"""SELECT s.source_file_id, s.line AS source_record,
               lower({cell(4)}) AS partner_tenant_id, lower({cell(2)}) AS group_id,
               {cell(1)} AS display_name, {agent_role(cell(1))} AS agent_role
        FROM stg_aobo s WHERE {groups}""",
    )
    partner = foreign_partner_name(cell(4))
    stage.insert(
        "azure_role_assignments",
        f"""SELECT s.source_file_id, s.line AS source_record, lower({cell(2)}) AS tenant_id,
               lower({cell(3)}) AS subscription_id,
               '/subscriptions/' || lower({cell(3)}) AS scope,
               {by_name} AS role_definition_id, {cell(6)} AS role_definition_name,
               lower({cell(5)}) AS principal_id,
               CASE WHEN {partner} IS NOT NULL THEN 'foreignGroup' ELSE 'unknown' END
                   AS principal_type,
               {cell(4)} AS principal_display_name, {partner} AS foreign_partner_name,
               NULL AS assignment_id
        FROM stg_aobo s WHERE {roles}""",
    )


for _kind in (
    Kind(
        "azure.aobo_checker",
        "Microsoft's AOBO checker output (TAB): the partner's agent groups, then each foreign "
        "principal's role on each customer subscription",
        "csv",
        ("partner_agent_groups", "azure_role_assignments"),
        _is_aobo_checker,
        load_aobo_checker,
        "Partner Center docs' AOBO checker script (Get-AzureADGroup ... Agents, "
        "Get-AzRoleAssignment per customer subscription, written with >>)",
        load_order=70,
        reads=(),
    ),
    Kind(
        "azure.accounts",
        "Azure CLI subscription list: subscription to tenant",
        "json",
        ("azure_subscriptions",),
        _is_az_accounts,
        load_az_accounts,
        "Azure CLI: az account list --all -o json",
        load_order=40,
        reads=(),
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
        reads=("azure_subscriptions",),
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
        reads=("azure_subscriptions",),
    ),
):
    REGISTRY.add(_kind)
