"""PowerShell `Export-Csv` exports of role and group members and partner contracts (MSOnline,
AzureAD, Graph PowerShell) and CrowdStrike CRT's Office365AdminGroupMembers.csv. Roles given
by name map to template GUIDs through reference/directory_roles.csv and
reference/directory_role_aliases.csv."""

from __future__ import annotations

from .base import REGISTRY, Batch, Kind, Sniff, StagedTable, principal_type
from .graph import CONTRACT_TYPE
from .shared import (
    UNKNOWN_OWNER,
    check_directory_role_rows,
    directory_role_projection,
    folder_group,
    folder_role,
    role_by_name,
    role_names,
    stage_export_csv,
)

MEMBER_ID = ("ObjectId", "Id")
MEMBER_TYPE = ("RoleMemberType", "ObjectType", "Type", "@odata.type")
# Columns that make a file something else (role assignments, partner lists, contracts...).
NOT_MEMBERS = (
    "Scope",
    "RoleDefinitionName",
    "RoleDefinitionId",
    "GroupName",
    "Identity",
    "Microsoft ID",
    "ContractType",
    "PrincipalId",
)
# The tenant a partner's loop over its customers (formats.md 2.3) writes beside each member;
# without it, the file's context (--tenant, a folder) tells.
MEMBER_TENANT = ("TenantId", "CustomerTenantId")


def _is_ps_members(s: Sniff) -> bool:
    return (
        any(s.has_columns(c) for c in MEMBER_ID)
        # A raw Get-Mg*Member | Export-Csv has no type column, only Id, DeletedDateTime and
        # the unserialised AdditionalProperties (formats.md 2.1): still a member listing.
        and any(s.has_columns(c) for c in (*MEMBER_TYPE, "AdditionalProperties"))
        and not any(s.has_columns(c) for c in NOT_MEMBERS)
    )


def load_ps_members(batch: Batch) -> None:
    """A member listing exported from PowerShell: `Get-MsolRoleMember`,
    `Get-AzureADDirectoryRoleMember`, a projected `Get-MgDirectoryRoleMember`, or the same for
    a partner group (`Get-AzureADGroupMember`). None carries whose members they are: a
    RoleName/Role column a script added, else the nearest folder named by a role (template id,
    name, legacy name such as 'Company Administrator') or by one of the partner's groups."""
    con = batch.con
    stage = stage_export_csv(batch, "stg_ps_members", {"ObjectId": MEMBER_ID})
    folder_role(batch)
    folder_group(batch)
    named = stage.col("RoleName", "Role")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE stg_ps_members_owned AS
        SELECT s.*, f.context_tenant_id,
               coalesce({role_by_name(named)}, fr.role_template_id) AS owner_role,
               fg.group_id AS owner_group
        FROM stg_ps_members s JOIN {batch.file_table} f USING (source_file_id)
        LEFT JOIN ingest_folder_role fr USING (source_file_id)
        LEFT JOIN ingest_folder_group fg USING (source_file_id)"""
    )
    owned = StagedTable(batch, "stg_ps_members_owned", "line", "line")
    if stage.has("RoleName", "Role"):
        owned.fail_first(
            f"{named} IS NOT NULL AND {role_by_name(named)} IS NULL",
            "unknown directory role name (not a built-in Entra role or a known legacy name)",
            "RoleName",
        )
    owned.fail_first(
        "s.owner_role IS NULL AND s.owner_group IS NULL",
        UNKNOWN_OWNER.format(how="no RoleName column"),
        "role",
    )
    member_id = owned.col(*MEMBER_ID)
    owned.require(member_id, "ObjectId")
    listed_tenant = owned.col(*MEMBER_TENANT)
    owned.require_guid(listed_tenant, "TenantId", optional=True)
    tenant = f"coalesce({listed_tenant}, s.context_tenant_id)"  # the record's first
    kind_of = principal_type(owned.col(*MEMBER_TYPE))
    display = owned.col("DisplayName", "Display Name", "Member")
    upn = owned.col("UserPrincipalName", "EmailAddress", "UPN")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE stg_ps_role_members AS "
        "SELECT * FROM stg_ps_members_owned WHERE owner_role IS NOT NULL"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE stg_ps_group_members AS "
        "SELECT * FROM stg_ps_members_owned WHERE owner_role IS NULL"
    )

    roles = StagedTable(batch, "stg_ps_role_members", "line", "line")
    exprs = {
        "tenant_id": tenant,
        "role_template_id": "s.owner_role",
        "principal_id": member_id,
        "principal_type": kind_of,
        "principal_display_name": display,
        "principal_upn": upn,
        "directory_scope_id": "NULL",
    }
    fields = {"tenant_id": "tenant", "role_template_id": "role", "principal_id": "ObjectId"}
    check_directory_role_rows(roles, exprs, fields)
    roles.insert(
        "directory_role_members",
        f"SELECT s.source_file_id, s.line AS source_record, {directory_role_projection(exprs)} "
        "FROM stg_ps_role_members s",
    )

    groups = StagedTable(batch, "stg_ps_group_members", "line", "line")
    groups.require_tenant(tenant, "tenant")
    groups.require_guid(member_id, "ObjectId")
    groups.reject_duplicates([f"lower({tenant})", "s.owner_group", f"lower({member_id})"])
    groups.insert(
        "partner_group_members",
        f"""SELECT s.source_file_id, s.line AS source_record,
               lower({tenant}) AS partner_tenant_id, s.owner_group AS group_id,
               lower({member_id}) AS member_id,
               CASE WHEN {kind_of} = 'foreignGroup' THEN 'group' ELSE {kind_of} END
                   AS member_type,
               {display} AS member_display_name, {upn} AS member_upn
        FROM stg_ps_group_members s""",
    )


def _is_crt(s: Sniff) -> bool:
    return s.has_columns("Role", "Display Name", "Object Type", "User Principal Name")


def load_crt(batch: Batch) -> None:
    """CrowdStrike CRT Office365AdminGroupMembers.csv (ANSI). The export has no object id: the
    user principal name (lower case) stands in for it, else the display name."""
    stage = stage_export_csv(
        batch,
        "stg_crt_admins",
        {"Role": ("Role",), "User Principal Name": ("User Principal Name", "Display Name")},
    )
    role_names(batch.con)
    upn = stage.col("User Principal Name")
    exprs = {
        "tenant_id": "f.context_tenant_id",
        "role_template_id": role_by_name(stage.col("Role")),
        "principal_id": f"coalesce(lower({upn}), {stage.col('Display Name')})",
        "principal_type": principal_type(stage.col("Object Type")),
        "principal_display_name": stage.col("Display Name"),
        "principal_upn": upn,
        "directory_scope_id": "NULL",
    }
    stage.require(stage.col("Role"), "Role")
    stage.fail_first(
        f"{exprs['role_template_id']} IS NULL",
        "unknown directory role name (not a built-in Entra role or a known legacy name)",
        "Role",
    )
    stage.require(exprs["principal_id"], "User Principal Name")
    stage.require_tenant(exprs["tenant_id"], "tenant")
    stage.reject_duplicates([exprs["tenant_id"], exprs["role_template_id"], exprs["principal_id"]])
    stage.insert(
        "directory_role_members",
        f"SELECT s.source_file_id, s.line AS source_record, {directory_role_projection(exprs)} "
        f"FROM {stage.name} s JOIN {batch.file_table} f USING (source_file_id)",
    )


def _is_msol_partner_contract(s: Sniff) -> bool:
    return s.has_columns("ContractType") and (
        s.has_columns("TenantId", "DefaultDomainName")
        or s.has_columns("CustomerTenantId", "CustomerDefaultDomain")
    )


def load_msol_partner_contract(batch: Batch) -> None:
    """`Get-MsolPartnerContract -All | Export-Csv` (partner tenant), or AADInternals'
    Get-AADIntMSPartnerContracts. formats.md 9.5 reads an MSOnline contract as DAP."""
    stage = stage_export_csv(
        batch, "stg_msol_contracts", {"TenantId": ("TenantId", "CustomerTenantId")}
    )
    customer = stage.col("TenantId", "CustomerTenantId")
    field = "TenantId" if stage.has("TenantId") else "CustomerTenantId"
    stage.require_tenant("f.context_tenant_id", "tenant")
    stage.require(customer, field)
    stage.require_guid(customer, field)
    stage.reject_duplicates([f"lower({customer})"])
    rows = f"FROM {stage.name} s JOIN {batch.file_table} f USING (source_file_id)"
    stage.insert(
        "partner_relationships",
        f"""SELECT s.source_file_id, s.line AS source_record,
               lower({customer}) AS customer_tenant_id,
               lower(f.context_tenant_id) AS partner_tenant_id, NULL AS partner_name,
               {CONTRACT_TYPE.format(stage.col("ContractType"))} AS relationship_type,
               true AS dap_enabled {rows}""",
    )
    stage.insert(
        "tenants",
        f"""SELECT s.source_file_id, s.line AS source_record, lower({customer}) AS tenant_id,
               {stage.col("Name", "CustomerName")} AS display_name,
               lower({stage.col("DefaultDomainName", "CustomerDefaultDomain")}) AS default_domain,
               'customer' AS tenant_type {rows}""",
    )


for _kind in (
    Kind(
        "powershell.members",
        "PowerShell member listing of a directory role (customer) or a partner group: ObjectId "
        "or Id, member type, name, UPN; whose members from a RoleName column or the folder name "
        "(e.g. 'Company Administrator', 'AdminAgents')",
        "csv",
        ("directory_role_members", "partner_group_members"),
        _is_ps_members,
        load_ps_members,
        "MSOnline: Get-MsolRoleMember -All | Export-Csv; AzureAD: Get-AzureADDirectoryRoleMember"
        " / Get-AzureADGroupMember | Export-Csv; Graph PowerShell: Get-MgDirectoryRoleMember "
        "projected with Select-Object",
        load_order=60,
        one_dataset_per_file=True,
        reads=("partner_agent_groups",),
    ),
    Kind(
        "crt.admin_group_members",
        "CrowdStrike CRT Office365AdminGroupMembers.csv: role by "
        "name, member type, UPN (no object id)",
        "csv",
        ("directory_role_members",),
        _is_crt,
        load_crt,
        "CrowdStrike CRT: Get-CRTReport (O365AdminGroups)",
        reads=(),
    ),
    Kind(
        "powershell.msol_partner_contract",
        "MSOnline partner contracts: the partner's customers (read as DAP)",
        "csv",
        ("partner_relationships", "tenants"),
        _is_msol_partner_contract,
        load_msol_partner_contract,
        "MSOnline: Get-MsolPartnerContract -All | Export-Csv (partner tenant)",
        defines_tenants=True,
        load_order=10,
        reads=(),
    ),
):
    REGISTRY.add(_kind)
