-- The canonical dapaudit schema: one DDL source for every table the readers fill and the
-- rules read. Every fact row belongs to a snapshot, so one database holds many months.
-- Ids (tenant, object, subscription) are stored lower-case; role ids are bare GUIDs.
-- db.py runs this file once on a new database and records schema_version in dapaudit_meta.

CREATE TABLE dapaudit_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
COMMENT ON TABLE dapaudit_meta IS 'Facts about this database file itself: schema_version, created_by.';
COMMENT ON COLUMN dapaudit_meta.key IS 'Name of the fact, e.g. schema_version.';
COMMENT ON COLUMN dapaudit_meta.value IS 'Its value, as text.';

CREATE TABLE snapshots (
    snapshot VARCHAR PRIMARY KEY,
    as_of DATE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    analyzed_at TIMESTAMP
);
COMMENT ON TABLE snapshots IS 'One row per snapshot (an audit period, by default the month YYYY-MM).';
COMMENT ON COLUMN snapshots.snapshot IS 'Snapshot label, e.g. 2026-11.';
COMMENT ON COLUMN snapshots.as_of IS 'Reference date of the snapshot; time-based rules measure from it, never from the clock.';
COMMENT ON COLUMN snapshots.created_at IS 'When the snapshot was first written (UTC).';
COMMENT ON COLUMN snapshots.analyzed_at IS 'When analyze last stored findings for it (UTC), or NULL if never analysed.';

CREATE TABLE source_files (
    snapshot VARCHAR NOT NULL,
    source_file_id INTEGER NOT NULL,
    path VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    context_hint VARCHAR,
    context_tenant_id VARCHAR,
    row_count BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    encoding VARCHAR,
    ingested_at TIMESTAMP NOT NULL,
    PRIMARY KEY (snapshot, source_file_id)
);
COMMENT ON TABLE source_files IS 'The input manifest: every export file ingested into a snapshot.';
COMMENT ON COLUMN source_files.snapshot IS 'Snapshot the file was ingested into.';
COMMENT ON COLUMN source_files.source_file_id IS 'Number of the file within the database; fact rows point to it.';
COMMENT ON COLUMN source_files.path IS 'Path of the file as given on the command line (relative to the working directory when below it).';
COMMENT ON COLUMN source_files.kind IS 'Detected (or forced) export kind, e.g. canonical.tenants or graph.role_assignments.';
COMMENT ON COLUMN source_files.context_hint IS 'The --tenant value or the GUID/domain folder name the file was found under, as given.';
COMMENT ON COLUMN source_files.context_tenant_id IS 'Tenant the file speaks for when its records carry none (from --tenant or its folder), else NULL.';
COMMENT ON COLUMN source_files.row_count IS 'Rows the file contributed to the canonical tables.';
COMMENT ON COLUMN source_files.sha256 IS 'SHA-256 of the file bytes; the same file is ingested once per snapshot.';
COMMENT ON COLUMN source_files.encoding IS 'Text encoding the file was read with.';
COMMENT ON COLUMN source_files.ingested_at IS 'When the file was ingested (UTC).';

CREATE TABLE export_coverage (
    snapshot VARCHAR NOT NULL,
    tenant_id VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    source_file_id INTEGER NOT NULL
);
COMMENT ON TABLE export_coverage IS 'Which dataset was exported for which tenant, even when the export was empty. COVERAGE-GAP reads it.';
COMMENT ON COLUMN export_coverage.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN export_coverage.tenant_id IS 'Tenant the export covers (customer, or partner for partner-side data).';
COMMENT ON COLUMN export_coverage.dataset IS 'Canonical table the export fills, e.g. directory_role_members or azure_role_assignments.';
COMMENT ON COLUMN export_coverage.source_file_id IS 'The file that provides it.';

CREATE TABLE tenants (
    snapshot VARCHAR NOT NULL,
    tenant_id VARCHAR NOT NULL,
    display_name VARCHAR,
    default_domain VARCHAR,
    tenant_type VARCHAR NOT NULL,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE tenants IS 'Tenants known to the snapshot: customers and partners.';
COMMENT ON COLUMN tenants.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN tenants.tenant_id IS 'Entra tenant id (lower-case GUID).';
COMMENT ON COLUMN tenants.display_name IS 'Organisation name.';
COMMENT ON COLUMN tenants.default_domain IS 'Default (usually *.onmicrosoft.com) domain, lower-case.';
COMMENT ON COLUMN tenants.tenant_type IS 'customer or partner.';
COMMENT ON COLUMN tenants.source_file_id IS 'File the row came from (source_files.source_file_id).';
COMMENT ON COLUMN tenants.source_record IS 'Record within that file: data line for CSV, 1-based item for JSON.';

CREATE TABLE partner_relationships (
    snapshot VARCHAR NOT NULL,
    customer_tenant_id VARCHAR NOT NULL,
    partner_tenant_id VARCHAR NOT NULL,
    partner_name VARCHAR,
    relationship_type VARCHAR NOT NULL,
    dap_enabled BOOLEAN,
    dap_granted_on DATE,
    dap_removed_on DATE,
    relationship_ended_on DATE,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE partner_relationships IS 'Partner relationships (reseller, advisor, delegated admin) as seen by the customer or the partner, with the DAP flag.';
COMMENT ON COLUMN partner_relationships.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN partner_relationships.customer_tenant_id IS 'Customer tenant id (lower-case GUID).';
COMMENT ON COLUMN partner_relationships.partner_tenant_id IS 'Partner tenant id (lower-case GUID).';
COMMENT ON COLUMN partner_relationships.partner_name IS 'Partner organisation name.';
COMMENT ON COLUMN partner_relationships.relationship_type IS 'reseller, indirect_reseller, advisor, delegated_admin, partner or other.';
COMMENT ON COLUMN partner_relationships.dap_enabled IS 'TRUE when the partner holds delegated admin privileges (DAP) in the customer; NULL when the export cannot tell.';
COMMENT ON COLUMN partner_relationships.dap_granted_on IS 'Date DAP was granted, when known.';
COMMENT ON COLUMN partner_relationships.dap_removed_on IS 'Date DAP was removed, when known.';
COMMENT ON COLUMN partner_relationships.relationship_ended_on IS 'Date the whole relationship ended, when known.';
COMMENT ON COLUMN partner_relationships.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN partner_relationships.source_record IS 'Record within that file.';

CREATE TABLE directory_role_members (
    snapshot VARCHAR NOT NULL,
    tenant_id VARCHAR NOT NULL,
    role_template_id VARCHAR NOT NULL,
    principal_id VARCHAR NOT NULL,
    principal_type VARCHAR NOT NULL,
    principal_display_name VARCHAR,
    principal_upn VARCHAR,
    principal_organization_id VARCHAR,
    directory_scope_id VARCHAR,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE directory_role_members IS 'Directory role members exactly as the customer tenant lists them (portal, PowerShell, Graph). DAP grants never appear here.';
COMMENT ON COLUMN directory_role_members.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN directory_role_members.tenant_id IS 'Tenant whose role listing this is (lower-case GUID).';
COMMENT ON COLUMN directory_role_members.role_template_id IS 'Role template id (GUID); Global Administrator is 62e90394-69f5-4237-9190-012177145e10 whatever its display name.';
COMMENT ON COLUMN directory_role_members.principal_id IS 'Object id of the member (lower-case GUID).';
COMMENT ON COLUMN directory_role_members.principal_type IS 'user, group, servicePrincipal or unknown.';
COMMENT ON COLUMN directory_role_members.principal_display_name IS 'Display name of the member, when exported.';
COMMENT ON COLUMN directory_role_members.principal_upn IS 'User principal name, for users.';
COMMENT ON COLUMN directory_role_members.principal_organization_id IS 'Tenant the principal belongs to, when the export says (GDAP partner groups carry the partner tenant here).';
COMMENT ON COLUMN directory_role_members.directory_scope_id IS 'Scope of the assignment: / for the tenant, /administrativeUnits/{id} otherwise.';
COMMENT ON COLUMN directory_role_members.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN directory_role_members.source_record IS 'Record within that file.';

CREATE TABLE partner_agent_groups (
    snapshot VARCHAR NOT NULL,
    partner_tenant_id VARCHAR NOT NULL,
    group_id VARCHAR NOT NULL,
    display_name VARCHAR,
    agent_role VARCHAR,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE partner_agent_groups IS 'Security groups of a partner tenant used for delegated administration: AdminAgents, HelpdeskAgents, SalesAgents and GDAP access groups.';
COMMENT ON COLUMN partner_agent_groups.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN partner_agent_groups.partner_tenant_id IS 'Partner tenant id.';
COMMENT ON COLUMN partner_agent_groups.group_id IS 'Object id of the group in the partner tenant.';
COMMENT ON COLUMN partner_agent_groups.display_name IS 'Group display name.';
COMMENT ON COLUMN partner_agent_groups.agent_role IS 'admin_agents, helpdesk_agents, sales_agents, or NULL for another (e.g. GDAP) group.';
COMMENT ON COLUMN partner_agent_groups.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN partner_agent_groups.source_record IS 'Record within that file.';

CREATE TABLE partner_group_members (
    snapshot VARCHAR NOT NULL,
    partner_tenant_id VARCHAR NOT NULL,
    group_id VARCHAR NOT NULL,
    member_id VARCHAR NOT NULL,
    member_type VARCHAR NOT NULL,
    member_display_name VARCHAR,
    member_upn VARCHAR,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE partner_group_members IS 'Members of partner agent groups: the partner users who act in customer tenants.';
COMMENT ON COLUMN partner_group_members.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN partner_group_members.partner_tenant_id IS 'Partner tenant id.';
COMMENT ON COLUMN partner_group_members.group_id IS 'The group (partner_agent_groups.group_id).';
COMMENT ON COLUMN partner_group_members.member_id IS 'Object id of the member.';
COMMENT ON COLUMN partner_group_members.member_type IS 'user, group, servicePrincipal or unknown.';
COMMENT ON COLUMN partner_group_members.member_display_name IS 'Member display name.';
COMMENT ON COLUMN partner_group_members.member_upn IS 'User principal name, for users.';
COMMENT ON COLUMN partner_group_members.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN partner_group_members.source_record IS 'Record within that file.';

CREATE TABLE azure_subscriptions (
    snapshot VARCHAR NOT NULL,
    subscription_id VARCHAR NOT NULL,
    tenant_id VARCHAR NOT NULL,
    display_name VARCHAR,
    state VARCHAR,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE azure_subscriptions IS 'Azure subscriptions and the customer tenant that owns each.';
COMMENT ON COLUMN azure_subscriptions.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN azure_subscriptions.subscription_id IS 'Subscription id (lower-case GUID).';
COMMENT ON COLUMN azure_subscriptions.tenant_id IS 'Tenant the subscription belongs to.';
COMMENT ON COLUMN azure_subscriptions.display_name IS 'Subscription name.';
COMMENT ON COLUMN azure_subscriptions.state IS 'Enabled, Disabled, Warned, ...';
COMMENT ON COLUMN azure_subscriptions.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN azure_subscriptions.source_record IS 'Record within that file.';

CREATE TABLE azure_role_assignments (
    snapshot VARCHAR NOT NULL,
    tenant_id VARCHAR NOT NULL,
    subscription_id VARCHAR,
    scope VARCHAR NOT NULL,
    role_definition_id VARCHAR NOT NULL,
    role_definition_name VARCHAR,
    principal_id VARCHAR NOT NULL,
    principal_type VARCHAR NOT NULL,
    principal_display_name VARCHAR,
    foreign_partner_name VARCHAR,
    assignment_id VARCHAR,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE azure_role_assignments IS 'Azure RBAC role assignments on customer subscriptions (az role assignment list, Get-AzRoleAssignment, ARM REST).';
COMMENT ON COLUMN azure_role_assignments.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN azure_role_assignments.tenant_id IS 'Customer tenant that owns the scope.';
COMMENT ON COLUMN azure_role_assignments.subscription_id IS 'Subscription of the scope (lower-case GUID), NULL for management-group or root scopes.';
COMMENT ON COLUMN azure_role_assignments.scope IS 'Scope of the assignment, lower-case ARM path, e.g. /subscriptions/{id}.';
COMMENT ON COLUMN azure_role_assignments.role_definition_id IS 'Role definition GUID (the trailing GUID of the ARM path); Owner is 8e3af657-a8ff-443c-a75c-2fe8c4bcb635.';
COMMENT ON COLUMN azure_role_assignments.role_definition_name IS 'Role name as exported (for display only).';
COMMENT ON COLUMN azure_role_assignments.principal_id IS 'Object id of the assignee.';
COMMENT ON COLUMN azure_role_assignments.principal_type IS 'user, group, servicePrincipal, foreignGroup or unknown.';
COMMENT ON COLUMN azure_role_assignments.principal_display_name IS 'Display name of the assignee, when exported.';
COMMENT ON COLUMN azure_role_assignments.foreign_partner_name IS 'Partner name parsed from a "Foreign Principal for ''X'' in role ''TenantAdmins'' (Y)" display name, else NULL.';
COMMENT ON COLUMN azure_role_assignments.assignment_id IS 'Role assignment id (ARM path or GUID), when exported.';
COMMENT ON COLUMN azure_role_assignments.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN azure_role_assignments.source_record IS 'Record within that file.';

CREATE TABLE gdap_relationships (
    snapshot VARCHAR NOT NULL,
    relationship_id VARCHAR NOT NULL,
    partner_tenant_id VARCHAR NOT NULL,
    customer_tenant_id VARCHAR NOT NULL,
    display_name VARCHAR,
    status VARCHAR NOT NULL,
    duration VARCHAR,
    auto_extend_duration VARCHAR,
    created_at TIMESTAMPTZ,
    activated_at TIMESTAMPTZ,
    end_at TIMESTAMPTZ,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE gdap_relationships IS 'Granular delegated admin (GDAP) relationships between a partner and a customer.';
COMMENT ON COLUMN gdap_relationships.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN gdap_relationships.relationship_id IS 'Relationship id (two GUIDs joined by a hyphen), lower-case.';
COMMENT ON COLUMN gdap_relationships.partner_tenant_id IS 'Partner tenant id.';
COMMENT ON COLUMN gdap_relationships.customer_tenant_id IS 'Customer tenant id.';
COMMENT ON COLUMN gdap_relationships.display_name IS 'Relationship name; MLT_ prefix marks a Microsoft-led transition relationship.';
COMMENT ON COLUMN gdap_relationships.status IS 'active, approvalPending, expired, terminated, ... (Graph delegatedAdminRelationshipStatus).';
COMMENT ON COLUMN gdap_relationships.duration IS 'ISO-8601 duration, e.g. P730D.';
COMMENT ON COLUMN gdap_relationships.auto_extend_duration IS 'ISO-8601 auto-extension, PT0S or P0D for none.';
COMMENT ON COLUMN gdap_relationships.created_at IS 'When the relationship was created.';
COMMENT ON COLUMN gdap_relationships.activated_at IS 'When the customer approved it.';
COMMENT ON COLUMN gdap_relationships.end_at IS 'When it ends (activation plus duration).';
COMMENT ON COLUMN gdap_relationships.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN gdap_relationships.source_record IS 'Record within that file.';

CREATE TABLE gdap_relationship_roles (
    snapshot VARCHAR NOT NULL,
    relationship_id VARCHAR NOT NULL,
    role_template_id VARCHAR NOT NULL,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE gdap_relationship_roles IS 'Directory roles a GDAP relationship grants (accessDetails.unifiedRoles).';
COMMENT ON COLUMN gdap_relationship_roles.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN gdap_relationship_roles.relationship_id IS 'The relationship.';
COMMENT ON COLUMN gdap_relationship_roles.role_template_id IS 'Role template id granted.';
COMMENT ON COLUMN gdap_relationship_roles.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN gdap_relationship_roles.source_record IS 'Record within that file.';

CREATE TABLE gdap_access_assignments (
    snapshot VARCHAR NOT NULL,
    relationship_id VARCHAR NOT NULL,
    assignment_id VARCHAR NOT NULL,
    security_group_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    role_template_id VARCHAR NOT NULL,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE gdap_access_assignments IS 'GDAP access assignments: a partner security group given roles of a relationship. One row per assignment and role.';
COMMENT ON COLUMN gdap_access_assignments.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN gdap_access_assignments.relationship_id IS 'The relationship.';
COMMENT ON COLUMN gdap_access_assignments.assignment_id IS 'Access assignment id (GUID).';
COMMENT ON COLUMN gdap_access_assignments.security_group_id IS 'accessContainerId: the partner security group given the roles.';
COMMENT ON COLUMN gdap_access_assignments.status IS 'pending, active, deleting, deleted, error or unknownFutureValue (Graph delegatedAdminAccessAssignmentStatus).';
COMMENT ON COLUMN gdap_access_assignments.role_template_id IS 'Role template id assigned to the group.';
COMMENT ON COLUMN gdap_access_assignments.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN gdap_access_assignments.source_record IS 'Record within that file.';

CREATE TABLE dap_monitoring (
    snapshot VARCHAR NOT NULL,
    partner_tenant_id VARCHAR NOT NULL,
    customer_tenant_id VARCHAR NOT NULL,
    dap_enabled BOOLEAN,
    partner_agent_count INTEGER,
    partner_sign_in_count INTEGER,
    global_admin_sign_in_count INTEGER,
    start_at TIMESTAMPTZ,
    end_at TIMESTAMPTZ,
    last_sign_in_at TIMESTAMPTZ,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE dap_monitoring IS 'Partner Center DAP monitoring records (delegatedAdminCustomers): DAP state and partner sign-in activity per customer.';
COMMENT ON COLUMN dap_monitoring.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN dap_monitoring.partner_tenant_id IS 'Partner tenant id.';
COMMENT ON COLUMN dap_monitoring.customer_tenant_id IS 'Customer tenant id.';
COMMENT ON COLUMN dap_monitoring.dap_enabled IS 'dapEnabled flag.';
COMMENT ON COLUMN dap_monitoring.partner_agent_count IS 'Number of partner agents who signed in.';
COMMENT ON COLUMN dap_monitoring.partner_sign_in_count IS 'Number of partner sign-ins.';
COMMENT ON COLUMN dap_monitoring.global_admin_sign_in_count IS 'Number of sign-ins as Global Administrator.';
COMMENT ON COLUMN dap_monitoring.start_at IS 'When DAP was established.';
COMMENT ON COLUMN dap_monitoring.end_at IS 'When DAP ended, if it did.';
COMMENT ON COLUMN dap_monitoring.last_sign_in_at IS 'Last partner agent sign-in to the customer; NULL when none.';
COMMENT ON COLUMN dap_monitoring.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN dap_monitoring.source_record IS 'Record within that file.';

CREATE TABLE autopilot_devices (
    snapshot VARCHAR NOT NULL,
    tenant_id VARCHAR NOT NULL,
    device_id VARCHAR,
    serial_number VARCHAR NOT NULL,
    manufacturer VARCHAR,
    model VARCHAR,
    group_tag VARCHAR,
    purchase_order_identifier VARCHAR,
    enrollment_state VARCHAR,
    added_by VARCHAR,
    source_file_id INTEGER NOT NULL,
    source_record BIGINT NOT NULL
);
COMMENT ON TABLE autopilot_devices IS 'Windows Autopilot device identities of customer tenants.';
COMMENT ON COLUMN autopilot_devices.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN autopilot_devices.tenant_id IS 'Customer tenant.';
COMMENT ON COLUMN autopilot_devices.device_id IS 'Autopilot device identity id.';
COMMENT ON COLUMN autopilot_devices.serial_number IS 'Hardware serial number.';
COMMENT ON COLUMN autopilot_devices.manufacturer IS 'Manufacturer.';
COMMENT ON COLUMN autopilot_devices.model IS 'Model.';
COMMENT ON COLUMN autopilot_devices.group_tag IS 'Group tag.';
COMMENT ON COLUMN autopilot_devices.purchase_order_identifier IS 'Purchase order id (a provenance hint).';
COMMENT ON COLUMN autopilot_devices.enrollment_state IS 'enrolled, notContacted, ...';
COMMENT ON COLUMN autopilot_devices.added_by IS 'Who added the device (Partner Center DeviceBatch.createdBy), when known.';
COMMENT ON COLUMN autopilot_devices.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN autopilot_devices.source_record IS 'Record within that file.';

-- schema version 2 (db.MIGRATIONS[1] runs this block on a version 1 database, and
-- MIGRATIONS[2] again, as version 3, on a version 2 one, whose analysis_rules lacked `ran`)
CREATE TABLE analysis_rules (
    snapshot VARCHAR NOT NULL,
    rule_id VARCHAR NOT NULL,
    ran BOOLEAN NOT NULL,
    datasets VARCHAR[] NOT NULL
);
COMMENT ON TABLE analysis_rules IS 'Every rule at the latest analysis of each snapshot: whether it ran (a rule turned off in the configuration did not), with the canonical tables each judges from. A finding of the previous snapshot whose rule did not run, or whose tenant''s export of one of those tables is missing this time, is not_assessed in finding_changes, not resolved. No rows for a snapshot last analysed before schema version 3.';
COMMENT ON COLUMN analysis_rules.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN analysis_rules.rule_id IS 'A rule of this dapaudit.';
COMMENT ON COLUMN analysis_rules.ran IS 'Whether the analysis ran it (false: turned off in the configuration).';
COMMENT ON COLUMN analysis_rules.datasets IS 'Canonical tables whose export the rule needs to judge a tenant (its datasets in the rule metadata).';
-- end of schema version 2

-- schema version 4 (db.MIGRATIONS[3] runs this block on a version 3 database)
CREATE TABLE analysis_offboarded (
    snapshot VARCHAR NOT NULL,
    tenant_id VARCHAR NOT NULL,
    since DATE NOT NULL,
    reason VARCHAR NOT NULL,
    owner VARCHAR NOT NULL,
    entry INTEGER NOT NULL
);
COMMENT ON TABLE analysis_offboarded IS 'The customers offboarded at the latest analysis of each snapshot: the [[offboarded_customers]] entries of the configuration whose date is on or before the snapshot''s reference date, a domain resolved to the tenant it named. A finding of such a customer carried as not assessed ends there as offboarded in finding_changes, instead of being listed every month.';
COMMENT ON COLUMN analysis_offboarded.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN analysis_offboarded.tenant_id IS 'Customer tenant id.';
COMMENT ON COLUMN analysis_offboarded.since IS 'Date the customer was offboarded, as configured.';
COMMENT ON COLUMN analysis_offboarded.reason IS 'Why, as configured (for example: contract ended, partner access removed).';
COMMENT ON COLUMN analysis_offboarded.owner IS 'Who answers for it, as configured.';
COMMENT ON COLUMN analysis_offboarded.entry IS 'Position of the entry among [[offboarded_customers]] in the configuration file.';
-- end of schema version 4

CREATE TABLE findings (
    snapshot VARCHAR NOT NULL,
    rule_id VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    customer_tenant_id VARCHAR,
    partner_tenant_id VARCHAR,
    subject VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    evidence JSON NOT NULL,
    status VARCHAR NOT NULL,
    suppression JSON,
    first_seen VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    controls VARCHAR[] NOT NULL,
    position INTEGER NOT NULL
);
COMMENT ON TABLE findings IS 'Audit findings of every analysed snapshot. Re-running analyze replaces a snapshot''s findings.';
COMMENT ON COLUMN findings.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN findings.rule_id IS 'Rule that produced the finding, e.g. DAP-IMPLICIT-GLOBAL-ADMIN.';
COMMENT ON COLUMN findings.severity IS 'critical, high, medium, low or info.';
COMMENT ON COLUMN findings.customer_tenant_id IS 'Customer tenant the finding is about.';
COMMENT ON COLUMN findings.partner_tenant_id IS 'Partner tenant involved, or NULL.';
COMMENT ON COLUMN findings.subject IS 'What the finding is about: role template id, subscription scope, relationship id or tenant id.';
COMMENT ON COLUMN findings.title IS 'One sentence naming partner, tenant and role or scope.';
COMMENT ON COLUMN findings.evidence IS 'JSON object: the source rows (file, record) that prove the finding.';
COMMENT ON COLUMN findings.status IS 'open or suppressed.';
COMMENT ON COLUMN findings.suppression IS 'JSON: reason, owner, expires of the matching suppression; also set (status open) when a suppression has expired.';
COMMENT ON COLUMN findings.first_seen IS 'Label of the first snapshot in which this finding appeared.';
COMMENT ON COLUMN findings.fingerprint IS 'Stable id of the condition: the same condition in another snapshot has the same fingerprint.';
COMMENT ON COLUMN findings.controls IS 'Compliance controls the rule supports, as framework:control-id.';
COMMENT ON COLUMN findings.position IS 'Order of the finding in the snapshot''s output (severity, rule, tenant, partner, subject).';
