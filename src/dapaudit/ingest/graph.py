"""Microsoft Graph JSON exports: directory role listings, partner groups and their members,
contracts, GDAP relationships and access assignments, Autopilot devices, the organization.

Every reader takes a Graph collection page (`{"value": [...]}`, one page per file or pages
concatenated), a bare array or NDJSON (stage_json), and states its checks as SQL.
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
    require_duration,
    spelled_as,
    stage_json,
    timestamp,
    trailing_guid,
)
from .shared import (
    GUID_PATTERN,
    RELATIONSHIP_ID_PATTERN,
    UNKNOWN_OWNER,
    agent_role,
    check_directory_role_rows,
    directory_role_projection,
    file_folders,
    folder_group,
    folder_role,
)

MEMBER_TYPES = ("user", "group", "serviceprincipal", "device", "orgcontact")


# SQL: the JSON type of a record's field ('' when the record lacks it; 'NULL' for null).
_JSON_TYPE = "coalesce(json_type(s.rec, '$.{0}'), '')"


def _url_part(pattern: str, url: str = "s.doc_context") -> str:
    """SQL: what `pattern` captures in the page's URL `url` (s.doc_context or
    s.doc_next_link), in lower case; NULL when nothing."""
    return f"nullif(lower(regexp_extract({url}, '{pattern}', 1)), '')"


def _url_guid(pattern: str) -> str:
    """SQL: the GUID captured by `pattern` in the page's @odata.context or nextLink."""
    return f"coalesce({_url_part(pattern)}, {_url_part(pattern, 's.doc_next_link')})"


# ---------------------------------------------------------------- role assignments


def _empty_page(s: Sniff, context_part: str) -> bool:
    """An empty Graph page has no record to look at: its @odata.context tells the collection
    (an empty export is still evidence that the tenant was exported)."""
    return s.record is None and context_part in s.odata_context


def _is_role_assignments(s: Sniff) -> bool:
    if _empty_page(s, "roleManagement/directory/roleAssignments"):
        return True
    return s.record_has("roleDefinitionId", "principalId") and (
        s.record_has("directoryScopeId") or "roleManagement/directory" in s.odata_context
    )


def load_role_assignments(batch: Batch) -> None:
    stage = stage_json(batch, "stg_graph_role_assignments")
    exprs = {
        "tenant_id": "f.context_tenant_id",
        "role_template_id": trailing_guid(js("roleDefinitionId")),
        "principal_id": js("principalId"),
        # Without $expand=principal the type is not exported.
        "principal_type": principal_type(js('principal."@odata.type"')),
        "principal_display_name": js("principal.displayName"),
        "principal_upn": js("principal.userPrincipalName"),
        "principal_organization_id": js("principal.organizationId"),
        "directory_scope_id": js("directoryScopeId"),
    }
    fields = {
        "tenant_id": "tenant",
        "role_template_id": "roleDefinitionId",
        "principal_id": "principalId",
        "principal_organization_id": "principal.organizationId",
    }
    stage.require(js("roleDefinitionId"), "roleDefinitionId")
    stage.require(exprs["principal_id"], "principalId")
    stage, exprs = stage.project(exprs)
    check_directory_role_rows(stage, exprs, fields)
    stage.insert(
        "directory_role_members",
        f"SELECT s.source_file_id, s.source_record, {directory_role_projection(exprs)} "
        f"FROM {stage.name} s",
    )


def _join_files(stage: StagedTable) -> StagedTable:
    """The stage with its file's tenant context as s.context_tenant_id."""
    name = stage.name + "_f"
    stage.batch.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {name} AS
        SELECT s.*, f.context_tenant_id
        FROM {stage.name} s JOIN {stage.batch.file_table} f USING (source_file_id)"""
    )
    return StagedTable(stage.batch, name, stage.record_label, stage.record_column)


# ---------------------------------------------------------------- directory roles listing


def _is_directory_roles(s: Sniff) -> bool:
    if _empty_page(s, "#directoryRoles"):
        return True
    return s.record_has("roleTemplateId", "displayName") and not s.record_has("principalId")


def load_directory_roles(batch: Batch) -> None:
    """The tenant's activated roles: object id -> template id, for member listings whose page
    URL names the role by object id (`directoryRoles/{id}/members`)."""
    stage = stage_json(batch, "stg_graph_directory_roles")
    stage.require_guid(js("id"), "id")
    stage.require_guid(js("roleTemplateId"), "roleTemplateId")
    roles = batch.shared_table("ingest_directory_roles")
    batch.con.execute(
        f"""INSERT INTO {roles}
        SELECT s.source_file_id, lower({js("id")}), lower({js("roleTemplateId")})
        FROM {stage.name} s ORDER BY 1"""
    )


# ---------------------------------------------------------------- member listings


def _is_members(s: Sniff) -> bool:
    if _empty_page(s, "#directoryObjects"):
        return True
    return (
        s.record_type() in MEMBER_TYPES
        and s.record_has("id")
        and not s.record_has("principalId")
        and not s.record_has("members")
        and "#groups" not in s.odata_context
    )


def load_members(batch: Batch) -> None:
    """`directoryRoles/{id}/members` (customer side) or `groups/{id}/members` /
    `transitiveMembers` (partner side). The two look alike; whose members they are comes
    from the record (roleDefinitionId), the page URL, or the nearest folder named by a role
    (template id, name, legacy alias) or by one of the partner's groups."""
    con = batch.con
    folder_role(batch)
    file_folders(batch)
    directory_roles = batch.shared_table("ingest_directory_roles")
    folder_group(batch)
    role_object = _url_guid(f"directoryRoles(?:/|\\(''?)({GUID_PATTERN})")
    record_role = trailing_guid(f"coalesce({js('roleDefinitionId')}, {js('roleTemplateId')})")
    url_template = _url_guid(f"roleTemplateId=''({GUID_PATTERN})''")
    url_group = _url_guid(f"groups(?:/|\\(''?)({GUID_PATTERN})")
    listed_role = (
        f"(SELECT r.role_template_id FROM {directory_roles} r "
        f"WHERE r.role_object_id = {role_object} "
        "AND r.source_file_id IN (SELECT source_file_id FROM ingest_files) LIMIT 1)"
    )
    # A page's listing is the role or group its records are filed under, as told by the page
    # itself (its URLs) or its folder: every role and every group is a listing of its own.
    page_role = (
        f"coalesce({url_template}, {listed_role}, (SELECT fr.role_template_id "
        "FROM ingest_folder_role fr WHERE fr.source_file_id = s.source_file_id))"
    )
    page_group = (
        f"coalesce({url_group}, (SELECT fg.group_id FROM ingest_folder_group fg "
        "WHERE fg.source_file_id = s.source_file_id))"
    )
    stage = stage_json(
        batch,
        "stg_graph_members",
        listing=f"coalesce('role ' || {page_role}, 'group ' || {page_group})",
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE stg_graph_members_owned AS
        SELECT s.*, f.context_tenant_id,
               coalesce(
                   {record_role},
                   {url_template},
                   {listed_role},
                   fr.role_template_id) AS role_template_id,
               coalesce({url_group}, fg.group_id) AS group_id
        FROM {stage.name} s
        JOIN {batch.file_table} f USING (source_file_id)
        LEFT JOIN ingest_folder_role fr USING (source_file_id)
        LEFT JOIN ingest_folder_group fg USING (source_file_id)"""
    )
    owned = StagedTable(batch, "stg_graph_members_owned", "record", "source_record")
    owned.fail_first(
        "s.role_template_id IS NULL AND s.group_id IS NULL",
        UNKNOWN_OWNER.format(
            how="no roleDefinitionId in the record, no role or group in the page's "
            "@odata.context or nextLink"
        ),
        "@odata.context",
    )
    owned.require_guid(js("id"), "id")
    roles = "stg_graph_members_roles"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {roles} AS SELECT * FROM {owned.name} "
        "WHERE role_template_id IS NOT NULL"
    )
    groups = "stg_graph_members_groups"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {groups} AS SELECT * FROM {owned.name} "
        "WHERE role_template_id IS NULL"
    )

    role_stage = StagedTable(batch, roles, "record", "source_record")
    exprs = {
        "tenant_id": "s.context_tenant_id",
        "role_template_id": "s.role_template_id",
        "principal_id": js("id"),
        "principal_type": principal_type(js('"@odata.type"')),
        "principal_display_name": js("displayName"),
        "principal_upn": js("userPrincipalName"),
        "principal_organization_id": js("organizationId"),
        "directory_scope_id": "NULL",
    }
    fields = {
        "tenant_id": "tenant",
        "role_template_id": "role",
        "principal_id": "id",
        "principal_organization_id": "organizationId",
    }
    check_directory_role_rows(role_stage, exprs, fields)
    role_stage.insert(
        "directory_role_members",
        f"SELECT s.source_file_id, s.source_record, {directory_role_projection(exprs)} "
        f"FROM {roles} s",
    )

    group_stage = StagedTable(batch, groups, "record", "source_record")
    _insert_group_members(group_stage, "s.context_tenant_id", "s.group_id", "s.rec")


def _insert_group_members(
    stage: StagedTable, partner_expr: str, group_expr: str, member: str
) -> None:
    exprs = {
        "member_id": js("id", member),
        "member_type": principal_type(js('"@odata.type"', member)),
    }
    stage.require_tenant(partner_expr, "tenant")
    stage.require_guid(exprs["member_id"], "id")
    stage.reject_duplicates([partner_expr, group_expr, f"lower({exprs['member_id']})"])
    stage.insert(
        "partner_group_members",
        f"""SELECT s.source_file_id, s.source_record,
               lower({partner_expr}) AS partner_tenant_id, lower({group_expr}) AS group_id,
               lower({exprs["member_id"]}) AS member_id,
               CASE WHEN {exprs["member_type"]} = 'foreignGroup' THEN 'group'
                    ELSE {exprs["member_type"]} END AS member_type,
               {js("displayName", member)} AS member_display_name,
               {js("userPrincipalName", member)} AS member_upn
        FROM {stage.name} s""",
    )


# ---------------------------------------------------------------- groups


def _is_groups(s: Sniff) -> bool:
    if "#groups" in s.odata_context:
        return True
    return (
        s.record is not None
        and "@odata.type" not in s.record
        and s.record_has("displayName")
        and any(k in s.record for k in ("securityEnabled", "groupTypes", "members"))
    )


def load_groups(batch: Batch) -> None:
    """`groups?$filter=endswith(displayName,'Agents')&$expand=members` in the partner tenant."""
    con = batch.con
    stage = stage_json(batch, "stg_graph_groups")
    stage = _join_files(stage)
    stage.require_tenant("s.context_tenant_id", "tenant")
    stage.require_guid(js("id"), "id")
    for name in ("members", "transitiveMembers"):
        # 'System.Object[]' from ConvertTo-Json cut short, say: read as no members before.
        stage.fail_first(
            f"{_JSON_TYPE.format(name)} NOT IN ('ARRAY', 'NULL', '')",
            "not a list of members (a value cut short by the exporting script?)",
            name,
        )
    stage.reject_duplicates([f"lower({js('id')})"])
    stage.insert(
        "partner_agent_groups",
        f"""SELECT s.source_file_id, s.source_record,
               lower(s.context_tenant_id) AS partner_tenant_id,
               lower({js("id")}) AS group_id, {js("displayName")} AS display_name,
               {agent_role(js("displayName"))} AS agent_role
        FROM {stage.name} s""",
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE stg_graph_group_members AS
        SELECT source_file_id, source_record, context_tenant_id,
               lower({js("id")}) AS group_id, unnest(coalesce(
                   json_extract(s.rec, '$.members[*]'),
                   json_extract(s.rec, '$.transitiveMembers[*]'))) AS member
        FROM {stage.name} s"""
    )
    members = StagedTable(batch, "stg_graph_group_members", "record", "source_record")
    _insert_group_members(members, "s.context_tenant_id", "s.group_id", "s.member")


# ---------------------------------------------------------------- contracts


CONTRACT_TYPE = (
    "CASE lower({0}) WHEN 'resellerpartner' THEN 'reseller' "
    "WHEN 'resellerpartnercontract' THEN 'reseller' "
    "WHEN 'breadthpartner' THEN 'indirect_reseller' ELSE 'other' END"
)


def _is_contracts(s: Sniff) -> bool:
    if _empty_page(s, "#contracts"):
        return True
    return s.record_has("contractType", "customerId")


def load_contracts(batch: Batch) -> None:
    """Graph `contracts` (partner tenant): the customers it holds a contract with. DAP is not
    told by a contract, so dap_enabled stays unknown."""
    stage = stage_json(batch, "stg_graph_contracts")
    stage = _join_files(stage)
    customer = js("customerId")
    stage.require_tenant("s.context_tenant_id", "tenant")
    stage.require(customer, "customerId")
    stage.require_guid(customer, "customerId")
    stage.reject_duplicates([f"lower({customer})"])
    stage.insert(
        "partner_relationships",
        f"""SELECT s.source_file_id, s.source_record, lower({customer}) AS customer_tenant_id,
               lower(s.context_tenant_id) AS partner_tenant_id, NULL AS partner_name,
               {CONTRACT_TYPE.format(js("contractType"))} AS relationship_type,
               NULL::BOOLEAN AS dap_enabled
        FROM {stage.name} s""",
    )
    stage.insert(
        "tenants",
        f"""SELECT s.source_file_id, s.source_record, lower({customer}) AS tenant_id,
               {js("displayName")} AS display_name,
               lower({js("defaultDomainName")}) AS default_domain,
               'customer' AS tenant_type
        FROM {stage.name} s""",
    )


# ---------------------------------------------------------------- GDAP


GDAP_STATUSES = (
    "activating",
    "active",
    "approvalPending",
    "approved",
    "created",
    "expired",
    "expiring",
    "terminated",
    "terminating",
    "terminationRequested",
    "unknownFutureValue",
)
ASSIGNMENT_STATUSES = ("pending", "active", "deleting", "deleted", "error", "unknownFutureValue")
# Every reader of these statuses checks them against the lists above, in any case, and stores
# them as Graph spells them: a typo (`activ`) read as "not active" switched rules off unseen.


def _is_gdap_relationships(s: Sniff) -> bool:
    # The page's context tells even a record that lacks a field (the reader then says which).
    if s.odata_context.endswith("/delegatedAdminRelationships"):
        return True
    return s.record_has("customer", "accessDetails") and not s.record_has("accessContainer")


def load_gdap_relationships(batch: Batch) -> None:
    """`tenantRelationships/delegatedAdminRelationships` (partner tenant)."""
    con = batch.con
    stage = stage_json(batch, "stg_graph_gdap")
    stage = _join_files(stage)
    rel = f"lower({js('id')})"
    customer = js("customer.tenantId")
    stage.require_tenant("s.context_tenant_id", "tenant")
    stage.require(js("id"), "id")
    stage.fail_first(
        f"NOT regexp_full_match({rel}, '{RELATIONSHIP_ID_PATTERN.lower()}')"
        f" AND NOT regexp_full_match({rel}, '{GUID_PATTERN}')",
        "not a GDAP relationship id (two GUIDs joined by a hyphen)",
        "id",
    )
    stage.require_guid(customer, "customer.tenantId")
    stage.require(js("status"), "status")
    stage.require_in(js("status"), GDAP_STATUSES, "status", any_case=True)
    require_duration(stage, js("duration"), "duration")
    require_duration(stage, js("autoExtendDuration"), "autoExtendDuration")
    for name in ("createdDateTime", "activatedDateTime", "endDateTime"):
        stage.require_cast(js(name), "TIMESTAMPTZ", name, "ISO-8601 date-time")
    # Left out, the roles were not exported ($select); any other value than a list lost them
    # without a word, and GDAP-GLOBAL-ADMIN with them.
    stage.fail_first(
        f"{_JSON_TYPE.format('accessDetails.unifiedRoles')} NOT IN ('ARRAY', 'NULL', '')",
        "not a list of roles ([{roleDefinitionId}])",
        "accessDetails.unifiedRoles",
    )
    stage.reject_duplicates([rel])
    stage.insert(
        "gdap_relationships",
        f"""SELECT s.source_file_id, s.source_record, {rel} AS relationship_id,
               lower(s.context_tenant_id) AS partner_tenant_id,
               lower({customer}) AS customer_tenant_id,
               {js("displayName")} AS display_name,
               {spelled_as(js("status"), GDAP_STATUSES)} AS status,
               {js("duration")} AS duration, {js("autoExtendDuration")} AS auto_extend_duration,
               {timestamp(js("createdDateTime"))} AS created_at,
               {timestamp(js("activatedDateTime"))} AS activated_at,
               {timestamp(js("endDateTime"))} AS end_at
        FROM {stage.name} s""",
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE stg_graph_gdap_roles AS
        SELECT source_file_id, source_record, {rel} AS relationship_id,
               unnest(json_extract(s.rec, '$.accessDetails.unifiedRoles[*]')) AS role
        FROM {stage.name} s"""
    )
    roles = StagedTable(batch, "stg_graph_gdap_roles", "record", "source_record")
    role_id = trailing_guid(js("roleDefinitionId", "s.role"))
    roles.require_guid(
        js("roleDefinitionId", "s.role"), "accessDetails.unifiedRoles.roleDefinitionId"
    )
    roles.require_known_directory_role(role_id, "accessDetails.unifiedRoles.roleDefinitionId")
    roles.reject_duplicates(["s.relationship_id", role_id])
    roles.insert(
        "gdap_relationship_roles",
        f"SELECT s.source_file_id, s.source_record, s.relationship_id, "
        f"{role_id} AS role_template_id "
        "FROM stg_graph_gdap_roles s",
    )


def _is_access_assignments(s: Sniff) -> bool:
    # The page's context, or the container (no other export has one), tells a record that
    # lacks its roles: the reader then says so, where it was dropped unread before.
    if s.odata_context.endswith("/accessAssignments"):
        return True
    return s.record_has("accessContainer")


def load_access_assignments(batch: Batch) -> None:
    """`delegatedAdminRelationships/{id}/accessAssignments`: the relationship comes from the
    record (relationshipId, if the exporter added it), the page's @odata.context, or the
    nearest folder named by the relationship id."""
    con = batch.con
    file_folders(batch)
    in_url = f"delegatedAdminRelationships(?:/|\\(''?)({RELATIONSHIP_ID_PATTERN})"
    url_rel = _url_part(in_url)
    folder_rel = (
        "(SELECT lower(arg_min(d.name, d.depth)) FROM ingest_file_folders d "
        "WHERE d.source_file_id = s.source_file_id "
        f"AND regexp_full_match(lower(d.name), '{RELATIONSHIP_ID_PATTERN.lower()}'))"
    )
    # Each relationship's assignments are a listing of their own (a page's nextLink names it
    # as well as its @odata.context).
    next_rel = _url_part(in_url, "s.doc_next_link")
    stage = stage_json(
        batch,
        "stg_graph_access",
        listing=f"'relationship ' || coalesce({url_rel}, {next_rel}, {folder_rel})",
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE stg_graph_access_owned AS
        SELECT s.*, coalesce(lower({js("relationshipId")}), {url_rel}, {folder_rel})
            AS relationship_id
        FROM {stage.name} s"""
    )
    owned = StagedTable(batch, "stg_graph_access_owned", "record", "source_record")
    owned.fail_first(
        "s.relationship_id IS NULL",
        "cannot tell the GDAP relationship: no relationshipId in the record, none in the "
        "page's @odata.context, and no parent folder named by the relationship id",
        "@odata.context",
    )
    owned.require_guid(js("id"), "id")
    owned.require_guid(js("accessContainer.accessContainerId"), "accessContainer.accessContainerId")
    owned.require(js("status"), "status")
    owned.require_in(js("status"), ASSIGNMENT_STATUSES, "status", any_case=True)
    # An assignment is its roles: one without a list of them was dropped without a word (the
    # rows come from the list), a Global Administrator assignment with it.
    owned.fail_first(
        f"{_JSON_TYPE.format('accessDetails.unifiedRoles')} <> 'ARRAY' "
        "OR json_array_length(s.rec, '$.accessDetails.unifiedRoles') = 0",
        "missing, or not a list of roles ([{roleDefinitionId}])",
        "accessDetails.unifiedRoles",
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE stg_graph_access_roles AS
        SELECT source_file_id, source_record, relationship_id, rec,
               unnest(json_extract(s.rec, '$.accessDetails.unifiedRoles[*]')) AS role
        FROM stg_graph_access_owned s"""
    )
    roles = StagedTable(batch, "stg_graph_access_roles", "record", "source_record")
    role_id = trailing_guid(js("roleDefinitionId", "s.role"))
    field = "accessDetails.unifiedRoles.roleDefinitionId"
    roles.require_guid(js("roleDefinitionId", "s.role"), field)
    roles.require_known_directory_role(role_id, field)
    roles.reject_duplicates([f"lower({js('id')})", role_id])
    roles.insert(
        "gdap_access_assignments",
        f"""SELECT s.source_file_id, s.source_record, s.relationship_id,
               lower({js("id")}) AS assignment_id,
               lower({js("accessContainer.accessContainerId")}) AS security_group_id,
               {spelled_as(js("status"), ASSIGNMENT_STATUSES)} AS status,
               {role_id} AS role_template_id
        FROM stg_graph_access_roles s""",
    )


# ---------------------------------------------------------------- Autopilot


def _is_autopilot(s: Sniff) -> bool:
    if _empty_page(s, "windowsAutopilotDeviceIdentities"):
        return True
    return s.record_has("serialNumber") and any(
        k in (s.record or {}) for k in ("enrollmentState", "groupTag", "purchaseOrderIdentifier")
    )


def load_autopilot(batch: Batch) -> None:
    stage = stage_json(batch, "stg_graph_autopilot")
    stage = _join_files(stage)
    stage.require_tenant("s.context_tenant_id", "tenant")
    stage.require(js("serialNumber"), "serialNumber")
    stage.reject_duplicates([js("serialNumber")])
    stage.insert(
        "autopilot_devices",
        f"""SELECT s.source_file_id, s.source_record, lower(s.context_tenant_id) AS tenant_id,
               {js("id")} AS device_id, {js("serialNumber")} AS serial_number,
               {js("manufacturer")} AS manufacturer, {js("model")} AS model,
               {js("groupTag")} AS group_tag,
               {js("purchaseOrderIdentifier")} AS purchase_order_identifier,
               {js("enrollmentState")} AS enrollment_state, NULL AS added_by
        FROM {stage.name} s""",
    )


# ---------------------------------------------------------------- organization


def _is_organization(s: Sniff) -> bool:
    if _empty_page(s, "#organization"):
        return True
    return s.record_has("verifiedDomains", "id")


def load_organization(batch: Batch) -> None:
    """`GET /organization`: a tenant describing itself. A tenant with a partnerTenantType is a
    partner; its default verified domain names its folder."""
    stage = stage_json(batch, "stg_graph_organization")
    stage.require_guid(js("id"), "id")
    stage.reject_duplicates([f"lower({js('id')})"])
    default_domain = (
        "(SELECT lower(d->>'$.name') "
        "FROM (SELECT unnest(json_extract(s.rec, '$.verifiedDomains[*]')) AS d) "
        "WHERE (d->>'$.isDefault') = 'true' LIMIT 1)"
    )
    stage.insert(
        "tenants",
        f"""SELECT s.source_file_id, s.source_record, lower({js("id")}) AS tenant_id,
               {js("displayName")} AS display_name, {default_domain} AS default_domain,
               CASE WHEN {js("partnerTenantType")} IS NOT NULL THEN 'partner' ELSE 'customer' END
                   AS tenant_type
        FROM {stage.name} s""",
    )


# ---------------------------------------------------------------- registry

GRAPH = "Microsoft Graph"
for _kind in (
    Kind(
        "graph.organization",
        "Graph organization: the tenant itself (id, name, default domain; a "
        "partnerTenantType makes it a partner)",
        "json",
        ("tenants",),
        _is_organization,
        load_organization,
        f"{GRAPH}: GET /v1.0/organization (Get-MgOrganization)",
        defines_tenants=True,
        load_order=0,
        reads=(),
    ),
    Kind(
        "graph.directory_roles",
        "Graph directoryRoles: role object id to template id, for member "
        "listings named by role object id",
        "json",
        (),
        _is_directory_roles,
        load_directory_roles,
        f"{GRAPH}: GET /v1.0/directoryRoles",
        load_order=20,
        reads=(),
        shares=("ingest_directory_roles",),
    ),
    Kind(
        "graph.role_assignments",
        "Graph unified role assignments, with or without "
        "$expand=principal (principal type, name, UPN and organizationId)",
        "json",
        ("directory_role_members",),
        _is_role_assignments,
        load_role_assignments,
        f"{GRAPH}: GET /v1.0/roleManagement/directory/roleAssignments?$expand=principal",
        reads=(),
    ),
    Kind(
        "graph.members",
        "Graph member listing of a directory role (customer) or a partner "
        "group; whose members from the record, the page URL or the folder name",
        "json",
        ("directory_role_members", "partner_group_members"),
        _is_members,
        load_members,
        f"{GRAPH}: GET /v1.0/directoryRoles/{{id}}/members, /groups/{{id}}/members or "
        "/transitiveMembers",
        load_order=60,
        one_dataset_per_file=True,
        reads=("partner_agent_groups", "ingest_directory_roles"),
    ),
    Kind(
        "graph.groups",
        "Graph groups of the partner tenant (AdminAgents, HelpdeskAgents, "
        "SalesAgents by name; others as GDAP groups), with $expand=members",
        "json",
        ("partner_agent_groups", "partner_group_members"),
        _is_groups,
        load_groups,
        f"{GRAPH}: GET /v1.0/groups?$filter=endswith(displayName,'Agents')&$expand=members",
        load_order=30,
        reads=(),
    ),
    Kind(
        "graph.contracts",
        "Graph contracts of the partner tenant: its customers (DAP unknown)",
        "json",
        ("partner_relationships", "tenants"),
        _is_contracts,
        load_contracts,
        f"{GRAPH}: GET /v1.0/contracts (Get-MgContract)",
        defines_tenants=True,
        load_order=10,
        reads=(),
    ),
    Kind(
        "graph.gdap_relationships",
        "Graph GDAP delegatedAdminRelationships with their roles",
        "json",
        ("gdap_relationships", "gdap_relationship_roles"),
        _is_gdap_relationships,
        load_gdap_relationships,
        f"{GRAPH}: GET /v1.0/tenantRelationships/delegatedAdminRelationships",
        reads=(),
    ),
    Kind(
        "graph.gdap_access_assignments",
        "Graph GDAP accessAssignments of a relationship (security group and roles)",
        "json",
        ("gdap_access_assignments",),
        _is_access_assignments,
        load_access_assignments,
        f"{GRAPH}: GET /v1.0/tenantRelationships/delegatedAdminRelationships/{{id}}"
        "/accessAssignments",
        reads=(),
    ),
    Kind(
        "graph.autopilot_devices",
        "Graph Windows Autopilot device identities",
        "json",
        ("autopilot_devices",),
        _is_autopilot,
        load_autopilot,
        f"{GRAPH}: GET /v1.0/deviceManagement/windowsAutopilotDeviceIdentities",
        reads=(),
    ),
):
    REGISTRY.add(_kind)
