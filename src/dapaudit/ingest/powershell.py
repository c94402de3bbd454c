"""PowerShell `Export-Csv` exports of directory roles and partner contracts: MSOnline
Get-MsolRoleMember and Get-MsolPartnerContract, and CrowdStrike CRT's
Office365AdminGroupMembers.csv (AzureAD module). Roles named by name map to template GUIDs
through reference/directory_roles.csv and reference/directory_role_aliases.csv."""

from __future__ import annotations

from .base import REGISTRY, Batch, Kind, Sniff, principal_type
from .graph import CONTRACT_TYPE
from .shared import (
    check_directory_role_rows,
    directory_role_projection,
    folder_role,
    role_by_name,
    role_names,
    stage_export_csv,
)


def _is_msol_role_member(s: Sniff) -> bool:
    return s.has_columns("ObjectId", "RoleMemberType")


def load_msol_role_member(batch: Batch) -> None:
    """`Get-MsolRoleMember -RoleObjectId ... | Export-Csv`: no role column, so the role comes
    from a RoleName/Role column a script added, else the nearest folder named by the role."""
    stage = stage_export_csv(batch, "stg_msol_role_member", {"ObjectId": ("ObjectId",)})
    folder_role(batch)
    _with_folder_role(batch, stage)
    named = stage.col("RoleName", "Role")
    exprs = {
        "tenant_id": "f.context_tenant_id",
        "role_template_id": f"coalesce({role_by_name(named)}, s.folder_role_template_id)",
        "principal_id": stage.col("ObjectId"),
        "principal_type": principal_type(stage.col("RoleMemberType")),
        "principal_display_name": stage.col("DisplayName"),
        "principal_upn": stage.col("EmailAddress"),
        "directory_scope_id": "NULL",
    }
    fields = {
        "tenant_id": "tenant",
        "role_template_id": "RoleName" if stage.has("RoleName", "Role") else "role (folder)",
        "principal_id": "ObjectId",
    }
    stage.require(exprs["principal_id"], "ObjectId")
    check_directory_role_rows(stage, exprs, fields)
    stage.insert(
        "directory_role_members",
        f"SELECT s.source_file_id, s.line AS source_record, {directory_role_projection(exprs)} "
        f"FROM {stage.name} s JOIN {batch.file_table} f USING (source_file_id)",
    )


def _with_folder_role(batch: Batch, stage) -> None:
    """Make `fr.role_template_id` usable in the stage's checks (which join only `f`)."""
    batch.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {stage.name} AS
        SELECT s.*, fr.role_template_id AS folder_role_template_id
        FROM {stage.name} s LEFT JOIN ingest_folder_role fr USING (source_file_id)"""
    )


def _is_crt(s: Sniff) -> bool:
    return s.has_columns("Role", "Display Name", "Object Type", "User Principal Name")


def load_crt(batch: Batch) -> None:
    """CrowdStrike CRT Office365AdminGroupMembers.csv (ANSI). The export has no object id: the
    user principal name (lower case) stands in for it, else the display name."""
    stage = stage_export_csv(batch, "stg_crt_admins", {"Role": ("Role",)})
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
        "powershell.msol_role_member",
        "MSOnline role members (no role column: role from the "
        "folder name, e.g. 'Company Administrator')",
        "csv",
        ("directory_role_members",),
        _is_msol_role_member,
        load_msol_role_member,
        "MSOnline: Get-MsolRoleMember -RoleObjectId <id> -All | Export-Csv",
        load_order=60,
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
    ),
):
    REGISTRY.add(_kind)
