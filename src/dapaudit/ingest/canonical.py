"""The dapaudit canonical CSV: one documented CSV layout per canonical table.

A canonical file is recognised by its header: it must hold every required column of exactly
one layout (optional columns may be left out, column order is free). The README's column
reference is generated from CANONICAL below.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import (
    REGISTRY,
    Batch,
    Kind,
    Sniff,
    arm_scope,
    guid,
    misspelt_columns,
    refuse_unknown_columns,
    require_arm_scope,
    require_duration,
    require_header_columns,
    spelled_as,
    stage_csv,
)
from .graph import ASSIGNMENT_STATUSES, GDAP_STATUSES
from .text import normalise_header

# Value types a canonical column may have, with how they are checked and cast.
TYPES = {
    "guid": "lower-case or upper-case GUID",
    "text": "free text",
    "bool": "true or false",
    "date": "YYYY-MM-DD",
    "timestamp": "ISO-8601 date-time, with Z or an offset up to ±23:59 (without one: UTC)",
    "int": "whole number",
    "duration": "ISO-8601 duration, e.g. P730D",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    description: str
    allowed: tuple[str, ...] = ()
    directory_role: bool = False  # must be a known Entra role template id
    from_context: bool = False  # when empty, the file's tenant (--tenant or folder) is used


@dataclass(frozen=True)
class Layout:
    table: str
    description: str
    columns: tuple[Column, ...]
    example: str
    key: tuple[str, ...]  # a row repeated on these columns within one file is an error

    @property
    def kind(self) -> str:
        return f"canonical.{self.table}"

    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def C(name, type_, required, description, allowed=(), directory_role=False):  # noqa: N802
    return Column(name, type_, required, description, tuple(allowed), directory_role)


def T(description: str) -> Column:  # noqa: N802
    """The tenant a tenant-scoped export speaks for: from the record, else its context."""
    return Column(
        "tenant_id",
        "guid",
        True,
        description + " May be left empty: then --tenant or the file's folder gives it.",
        from_context=True,
    )


PRINCIPAL_TYPES = ("user", "group", "servicePrincipal", "foreignGroup", "unknown")

CANONICAL: tuple[Layout, ...] = (
    Layout(
        "tenants",
        "Customer and partner tenants.",
        (
            C("tenant_id", "guid", True, "Entra tenant id."),
            C("display_name", "text", False, "Organisation name."),
            C("default_domain", "text", False, "Default domain, e.g. contoso.onmicrosoft.com."),
            C("tenant_type", "text", True, "customer or partner.", ("customer", "partner")),
        ),
        "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,Contoso Ltd,contoso.onmicrosoft.com,customer",
        ("tenant_id",),
    ),
    Layout(
        "partner_relationships",
        "A partner's relationship with a customer and whether it holds DAP (customer-side "
        "Partner relationships page, or partner-side customer list).",
        (
            C("customer_tenant_id", "guid", True, "Customer tenant id."),
            C("partner_tenant_id", "guid", True, "Partner tenant id."),
            C("partner_name", "text", False, "Partner organisation name."),
            C(
                "relationship_type",
                "text",
                True,
                "reseller, indirect_reseller, advisor, delegated_admin, partner or other.",
                ("reseller", "indirect_reseller", "advisor", "delegated_admin", "partner", "other"),
            ),
            C("dap_enabled", "bool", False, "true when the partner holds DAP; empty when unknown."),
            C("dap_granted_on", "date", False, "When DAP was granted."),
            C("dap_removed_on", "date", False, "When DAP was removed."),
            C("relationship_ended_on", "date", False, "When the relationship ended."),
        ),
        "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,9d2e7b10-4a5c-4f7e-8b1a-0c3d5e7f9a11,"
        "Northwind Partners,reseller,true,2019-03-01,,",
        ("customer_tenant_id", "partner_tenant_id", "relationship_type"),
    ),
    Layout(
        "directory_role_members",
        "Directory role members as the customer tenant lists them.",
        (
            T("Tenant whose role listing this is."),
            C(
                "role_template_id",
                "guid",
                True,
                "Role template id (built-in Entra role).",
                directory_role=True,
            ),
            C("principal_id", "guid", True, "Object id of the member."),
            C(
                "principal_type",
                "text",
                True,
                "user, group, servicePrincipal or unknown.",
                ("user", "group", "servicePrincipal", "unknown"),
            ),
            C("principal_display_name", "text", False, "Display name."),
            C("principal_upn", "text", False, "User principal name."),
            C(
                "principal_organization_id",
                "guid",
                False,
                "Tenant the principal belongs to, when not the listing tenant (GDAP groups).",
            ),
            C("directory_scope_id", "text", False, "/ (tenant-wide) or /administrativeUnits/{id}."),
        ),
        "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,62e90394-69f5-4237-9190-012177145e10,"
        "a0000001-0000-4000-8000-000000000001,user,Alice Admin,alice@contoso.com,,/",
        ("tenant_id", "role_template_id", "principal_id", "directory_scope_id"),
    ),
    Layout(
        "partner_agent_groups",
        "A partner tenant's agent groups (AdminAgents, HelpdeskAgents, SalesAgents) and GDAP "
        "security groups.",
        (
            C("partner_tenant_id", "guid", True, "Partner tenant id."),
            C("group_id", "guid", True, "Object id of the group in the partner tenant."),
            C("display_name", "text", False, "Group name."),
            C(
                "agent_role",
                "text",
                False,
                "admin_agents, helpdesk_agents, sales_agents; empty for another group.",
                ("admin_agents", "helpdesk_agents", "sales_agents"),
            ),
        ),
        "9d2e7b10-4a5c-4f7e-8b1a-0c3d5e7f9a11,b0000001-0000-4000-8000-000000000001,AdminAgents,"
        "admin_agents",
        ("partner_tenant_id", "group_id"),
    ),
    Layout(
        "partner_group_members",
        "Members of a partner's agent groups.",
        (
            C("partner_tenant_id", "guid", True, "Partner tenant id."),
            C("group_id", "guid", True, "The group."),
            C("member_id", "guid", True, "Object id of the member."),
            C(
                "member_type",
                "text",
                True,
                "user, group, servicePrincipal or unknown.",
                ("user", "group", "servicePrincipal", "unknown"),
            ),
            C("member_display_name", "text", False, "Display name."),
            C("member_upn", "text", False, "User principal name."),
        ),
        "9d2e7b10-4a5c-4f7e-8b1a-0c3d5e7f9a11,b0000001-0000-4000-8000-000000000001,"
        "c0000001-0000-4000-8000-000000000001,user,Tech One,tech1@northwind.example",
        ("partner_tenant_id", "group_id", "member_id"),
    ),
    Layout(
        "azure_subscriptions",
        "Azure subscriptions and the tenant that owns each.",
        (
            C("subscription_id", "guid", True, "Subscription id."),
            T("Owning tenant id."),
            C("display_name", "text", False, "Subscription name."),
            C("state", "text", False, "Enabled, Disabled, Warned, ..."),
        ),
        "d0000001-0000-4000-8000-000000000001,3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,Contoso Prod,"
        "Enabled",
        ("subscription_id",),
    ),
    Layout(
        "azure_role_assignments",
        "Azure RBAC role assignments on a customer's subscriptions.",
        (
            T("Customer tenant that owns the scope."),
            C("scope", "text", True, "ARM scope, e.g. /subscriptions/{id}."),
            C("role_definition_id", "guid", True, "Role definition GUID (Owner: 8e3af657-...)."),
            C("role_definition_name", "text", False, "Role name (display only)."),
            C("principal_id", "guid", True, "Object id of the assignee."),
            C(
                "principal_type",
                "text",
                True,
                "user, group, servicePrincipal, foreignGroup or unknown.",
                PRINCIPAL_TYPES,
            ),
            C(
                "principal_display_name",
                "text",
                False,
                "Display name; a foreign principal reads Foreign Principal for '<partner>' in "
                "role 'TenantAdmins' (<customer>).",
            ),
            C("assignment_id", "text", False, "Role assignment id."),
        ),
        "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,/subscriptions/d0000001-0000-4000-8000-000000000001,"
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635,Owner,b0000001-0000-4000-8000-000000000001,"
        "foreignGroup,"
        "Foreign Principal for 'Northwind Partners' in role 'TenantAdmins' (Contoso Ltd),",
        ("tenant_id", "scope", "role_definition_id", "principal_id"),
    ),
    Layout(
        "gdap_relationships",
        "GDAP relationships (one row per relationship).",
        (
            C("relationship_id", "text", True, "Relationship id."),
            C("partner_tenant_id", "guid", True, "Partner tenant id."),
            C("customer_tenant_id", "guid", True, "Customer tenant id."),
            C("display_name", "text", False, "Relationship name (MLT_ for Microsoft-led)."),
            C(
                "status",
                "text",
                True,
                "Graph's delegatedAdminRelationshipStatus, in any case.",
                GDAP_STATUSES,
            ),
            C("duration", "duration", False, "ISO-8601 duration."),
            C("auto_extend_duration", "duration", False, "PT0S, P0D or P180D."),
            C("created_at", "timestamp", False, "Creation time."),
            C("activated_at", "timestamp", False, "Activation time."),
            C("end_at", "timestamp", False, "End time."),
        ),
        "5d027261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836,"
        "9d2e7b10-4a5c-4f7e-8b1a-0c3d5e7f9a11,3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,"
        "Contoso helpdesk,active,P730D,PT0S,2025-02-10T11:24:42Z,2025-02-10T11:26:44Z,"
        "2027-02-10T11:24:42Z",
        ("relationship_id",),
    ),
    Layout(
        "gdap_relationship_roles",
        "Roles a GDAP relationship grants (one row per relationship and role).",
        (
            C("relationship_id", "text", True, "Relationship id."),
            C("role_template_id", "guid", True, "Role template id.", directory_role=True),
        ),
        "5d027261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836,"
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        ("relationship_id", "role_template_id"),
    ),
    Layout(
        "gdap_access_assignments",
        "GDAP access assignments (one row per assignment and role).",
        (
            C("relationship_id", "text", True, "Relationship id."),
            C("assignment_id", "guid", True, "Access assignment id."),
            C("security_group_id", "guid", True, "Partner security group (accessContainerId)."),
            C(
                "status",
                "text",
                True,
                "Graph's delegatedAdminAccessAssignmentStatus, in any case.",
                ASSIGNMENT_STATUSES,
            ),
            C("role_template_id", "guid", True, "Role template id.", directory_role=True),
        ),
        "5d027261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836,"
        "84c586df-0943-416e-b95f-7289cb8d3bd5,227a2f44-2682-4831-a021-f8d69a34bcba,active,"
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        ("assignment_id", "role_template_id"),
    ),
    Layout(
        "dap_monitoring",
        "Partner Center DAP monitoring (delegatedAdminCustomers): DAP state and sign-ins.",
        (
            C("partner_tenant_id", "guid", True, "Partner tenant id."),
            C("customer_tenant_id", "guid", True, "Customer tenant id."),
            C("dap_enabled", "bool", False, "dapEnabled."),
            C("partner_agent_count", "int", False, "Partner agents who signed in."),
            C("partner_sign_in_count", "int", False, "Partner sign-ins."),
            C("global_admin_sign_in_count", "int", False, "Sign-ins as Global Administrator."),
            C("start_at", "timestamp", False, "When DAP was established."),
            C("end_at", "timestamp", False, "When DAP ended."),
            C("last_sign_in_at", "timestamp", False, "Last partner sign-in; empty when none."),
        ),
        "9d2e7b10-4a5c-4f7e-8b1a-0c3d5e7f9a11,3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,true,2,14,3,"
        "2019-03-01T00:00:00Z,,2026-10-30T08:15:00Z",
        ("partner_tenant_id", "customer_tenant_id"),
    ),
    Layout(
        "autopilot_devices",
        "Windows Autopilot devices of a customer tenant.",
        (
            T("Customer tenant id."),
            C("device_id", "text", False, "Autopilot device identity id."),
            C("serial_number", "text", True, "Serial number."),
            C("manufacturer", "text", False, "Manufacturer."),
            C("model", "text", False, "Model."),
            C("group_tag", "text", False, "Group tag."),
            C("purchase_order_identifier", "text", False, "Purchase order id."),
            C("enrollment_state", "text", False, "enrolled, notContacted, ..."),
            C("added_by", "text", False, "Who added the device, when known."),
        ),
        "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01,,2R9-ZNP67,Dell Inc.,Precision 7560,SALES,PO-1,"
        "enrolled,Northwind Partners",
        ("tenant_id", "serial_number"),
    ),
)

_SQL_TYPE = {
    "guid": "VARCHAR",
    "text": "VARCHAR",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "int": "INTEGER",
    "duration": "VARCHAR",
}


def _matches(layout: Layout):
    required = {normalise_header(c) for c in layout.required()}
    allowed = {normalise_header(c.name) for c in layout.columns}

    def detect(s: Sniff) -> bool:
        # A nameless column (Excel's, after a trailing delimiter) is no column of another kind.
        return required <= s.columns and s.columns - {""} <= allowed

    return detect


def _near_miss(layout: Layout):
    """How close a CSV header no kind detects comes to `layout` (Kind.near_miss): at least
    half its columns in common, and every required column it lacks either given by the
    file's folder or --tenant, or misspelt (a near miss of a header column)."""
    names = {normalise_header(c.name): c for c in layout.columns}

    def near(header: list[str]) -> tuple[int, str] | None:
        given = {normalise_header(h): h.strip() for h in header if normalise_header(h)}
        shared = len(given.keys() & names.keys())
        if shared < 2 or 2 * shared < len(names):
            return None
        misspelt = misspelt_columns(header, [c.name for c in layout.columns])
        guessed = {normalise_header(name) for _, name in misspelt}
        absent = [c for k, c in names.items() if k not in given and k not in guessed]
        if any(c.required and not c.from_context for c in absent):
            return None
        if misspelt:
            said = "; ".join(
                f"{shown!r} is not a column of it (did you mean {name!r}?)"
                for shown, name in misspelt
            )
            return shared, f"{said}. Correct the header"
        unknown = [shown for key, shown in given.items() if key not in names]
        lacking = [c.name for c in absent if c.required]
        parts = []
        if unknown:
            parts.append("it has columns the layout does not know (" + ", ".join(unknown) + ")")
        if lacking:
            parts.append(
                "it lacks " + ", ".join(lacking) + ", which its folder or --tenant may give"
            )
        return shared, (
            "; ".join(parts) + f". Ingest it on its own with --kind {layout.kind} (columns "
            "the layout does not know are left unread)"
        )

    return near


def _loader(layout: Layout):
    def load(batch: Batch) -> None:
        # Detection takes only a header of the layout's columns; --kind takes any header, and
        # a misspelt or missing column was read as a column of empty values, without a word.
        refuse_unknown_columns(batch, [c.name for c in layout.columns], layout.kind)
        # A column the file's folder or --tenant fills may be left out as well as empty.
        require_header_columns(
            batch, {c.name: (c.name,) for c in layout.columns if c.required and not c.from_context}
        )
        stage = stage_csv(batch, f"stg_{layout.table}")
        # Each trimmed value once per row: the checks and the typed insert read it several times.
        raws: dict[str, str] = {}
        for column in layout.columns:
            raw = stage.col(column.name)
            raws[column.name] = (
                f"coalesce({raw}, f.context_tenant_id)" if column.from_context else raw
            )
        stage, raws = stage.project(raws)
        exprs: dict[str, str] = {}
        for column in layout.columns:
            raw = raws[column.name]
            if column.type == "guid":
                value = guid(raw)
            elif column.name == "scope":
                value = arm_scope(raw)
            elif column.name == "relationship_id":
                # Two GUIDs joined by a hyphen: compared, stored and reported in lower case.
                value = f"lower({raw})"
            elif column.type == "text" and column.allowed:
                # Enumerations compare case-insensitively but are stored as documented.
                value = spelled_as(raw, column.allowed)
            else:
                value = raw
            exprs[column.name] = value
            if column.from_context:
                stage.require_tenant(raw, column.name)
            elif column.required:
                stage.require(raw, column.name)
            if column.type == "guid":
                stage.require_guid(raw, column.name, optional=True)
            elif column.allowed:
                stage.require_in(raw, column.allowed, column.name, any_case=True)
            elif column.type in ("bool", "date", "timestamp", "int"):
                stage.require_cast(raw, _SQL_TYPE[column.type], column.name, TYPES[column.type])
            elif column.type == "duration":  # as the Graph reader checks it
                require_duration(stage, raw, column.name)
            if column.directory_role:
                stage.require_known_directory_role(raw, column.name)
            if column.name == "scope":
                require_arm_scope(stage, raw, column.name)
        stage.reject_duplicates([exprs[k] for k in layout.key])
        projection = [
            f"CAST({exprs[c.name]} AS {_SQL_TYPE[c.type]}) AS {c.name}" for c in layout.columns
        ]
        projection += [f"{sql} AS {name}" for name, sql in _derived(layout.table, exprs).items()]
        stage.insert(
            layout.table,
            "SELECT s.source_file_id, s.line AS source_record, "
            + ", ".join(projection)
            + f" FROM {stage.name} s",
        )

    return load


FOREIGN_PRINCIPAL_NAME = "(?i)^Foreign Principal for '(.+)' in role '.+' \\(.+\\)$"


def foreign_partner_name(display_expr: str) -> str:
    """SQL: the partner named by a CSP foreign principal's display name, else NULL."""
    pattern = FOREIGN_PRINCIPAL_NAME.replace("'", "''")
    # The ILIKE prefilter spares the regular expression on the many ordinary names.
    return (
        f"CASE WHEN {display_expr} ILIKE 'foreign principal for %' "
        f"THEN nullif(regexp_extract({display_expr}, '{pattern}', 1), '') END"
    )


def subscription_of(scope_expr: str) -> str:
    """SQL: the subscription GUID at the start of an ARM scope, else NULL."""
    return (
        f"nullif(regexp_extract(lower({scope_expr}), '^/subscriptions/([0-9a-f-]{{36}})', 1), '')"
    )


def _derived(table: str, exprs: dict[str, str]) -> dict[str, str]:
    """Columns computed from others; the later CAST-ed column of the same name is replaced."""
    if table != "azure_role_assignments":
        return {}
    return {
        "subscription_id": subscription_of(exprs["scope"]),
        "foreign_partner_name": foreign_partner_name(exprs["principal_display_name"]),
    }


for _layout in CANONICAL:
    REGISTRY.add(
        Kind(
            name=_layout.kind,
            description=f"dapaudit canonical CSV: {_layout.description}",
            format="csv",
            datasets=(_layout.table,),
            detect=_matches(_layout),
            load=_loader(_layout),
            near_miss=_near_miss(_layout),
            produces="written by hand or by your own scripts, in the layout documented below",
            defines_tenants=_layout.table == "tenants",
            priority=10,
            reads=(),
        )
    )
