-- The documented query surface: a view for analysts that views.sql lacks, and the column
-- comments of every view (views.sql has each view's own comment), so DuckDB's own catalog (duckdb_columns(), the DuckDB CLI) and
-- `dapaudit schema` explain each column. db.py runs this right after views.sql, because
-- CREATE OR REPLACE VIEW drops a view's column comments. tests/test_schema_docs.py fails when a
-- table or view column has no comment.

-- Findings with the names of the tenants involved, for reading without joins.
CREATE OR REPLACE VIEW finding_details AS
SELECT f.snapshot, f.position, f.rule_id, f.severity, f.status,
       f.customer_tenant_id, c.display_name AS customer_name,
       f.partner_tenant_id, p.display_name AS partner_name,
       f.subject, f.title, f.evidence, f.first_seen, f.fingerprint, f.controls, f.suppression
FROM findings f
LEFT JOIN tenant_directory c ON c.snapshot = f.snapshot AND c.tenant_id = f.customer_tenant_id
LEFT JOIN tenant_directory p ON p.snapshot = f.snapshot AND p.tenant_id = f.partner_tenant_id;
COMMENT ON VIEW finding_details IS 'Findings with the customer and partner names beside their ids; order by snapshot, position for the report order.';
COMMENT ON COLUMN finding_details.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN finding_details.position IS 'Order of the finding in the snapshot''s output (severity, rule, tenant, partner, subject).';
COMMENT ON COLUMN finding_details.rule_id IS 'Rule that produced the finding; `dapaudit rules RULE_ID` explains it.';
COMMENT ON COLUMN finding_details.severity IS 'critical, high, medium, low or info.';
COMMENT ON COLUMN finding_details.status IS 'open or suppressed.';
COMMENT ON COLUMN finding_details.customer_tenant_id IS 'Customer tenant the finding is about.';
COMMENT ON COLUMN finding_details.customer_name IS 'Display name of the customer tenant, when an export named it.';
COMMENT ON COLUMN finding_details.partner_tenant_id IS 'Partner tenant involved, or NULL.';
COMMENT ON COLUMN finding_details.partner_name IS 'Display name of the partner tenant, when known.';
COMMENT ON COLUMN finding_details.subject IS 'What the finding is about: role template id, subscription scope, relationship id or tenant id.';
COMMENT ON COLUMN finding_details.title IS 'One sentence naming partner, tenant and role or scope.';
COMMENT ON COLUMN finding_details.evidence IS 'JSON object: the source rows (file, record) that prove the finding; read fields with evidence->>''$.name''.';
COMMENT ON COLUMN finding_details.first_seen IS 'Label of the first snapshot in which this finding appeared.';
COMMENT ON COLUMN finding_details.fingerprint IS 'Stable id of the condition across snapshots.';
COMMENT ON COLUMN finding_details.controls IS 'Compliance controls the rule supports, as framework:control-id.';
COMMENT ON COLUMN finding_details.suppression IS 'JSON: reason, owner, expires of the matching suppression, or NULL.';

-- ------------------------------------------------------------------ reference tables
COMMENT ON COLUMN ref_directory_roles.role_template_id IS 'Role template id (GUID), the same in every tenant.';
COMMENT ON COLUMN ref_directory_roles.display_name IS 'Role name as Microsoft documents it.';
COMMENT ON COLUMN ref_directory_roles.role_key IS 'Stable key for SQL, e.g. global_administrator; join on it instead of retyping GUIDs.';
COMMENT ON COLUMN ref_directory_roles.privileged IS 'TRUE for roles Microsoft marks privileged.';
COMMENT ON COLUMN ref_azure_roles.role_definition_id IS 'Built-in role definition id (GUID), the same in every subscription.';
COMMENT ON COLUMN ref_azure_roles.display_name IS 'Role name, e.g. Owner.';
COMMENT ON COLUMN ref_azure_roles.role_key IS 'Stable key for SQL, e.g. owner; join on it instead of retyping GUIDs.';
COMMENT ON COLUMN ref_azure_roles.privileged IS 'TRUE for roles that can change access or resources broadly (Owner, Contributor, User Access Administrator, ...).';
COMMENT ON COLUMN ref_severities.severity IS 'critical, high, medium, low or info.';
COMMENT ON COLUMN ref_severities.rank IS '5 for critical down to 1 for info: ORDER BY rank DESC puts the worst first.';

-- ------------------------------------------------------------------ views of views.sql
COMMENT ON COLUMN gdap_relationship_state.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN gdap_relationship_state.relationship_id IS 'Relationship id (two GUIDs joined by a hyphen), lower-case.';
COMMENT ON COLUMN gdap_relationship_state.partner_tenant_id IS 'Partner tenant id.';
COMMENT ON COLUMN gdap_relationship_state.customer_tenant_id IS 'Customer tenant id.';
COMMENT ON COLUMN gdap_relationship_state.display_name IS 'Relationship name; MLT_ prefix marks a Microsoft-led transition relationship.';
COMMENT ON COLUMN gdap_relationship_state.status IS 'active, approvalPending, expired, terminated, ... (Graph delegatedAdminRelationshipStatus).';
COMMENT ON COLUMN gdap_relationship_state.duration IS 'ISO-8601 duration, e.g. P730D.';
COMMENT ON COLUMN gdap_relationship_state.auto_extend_duration IS 'ISO-8601 auto-extension, PT0S or P0D for none.';
COMMENT ON COLUMN gdap_relationship_state.created_at IS 'When the relationship was created.';
COMMENT ON COLUMN gdap_relationship_state.activated_at IS 'When the customer approved it.';
COMMENT ON COLUMN gdap_relationship_state.end_at IS 'When it ends (activation plus duration).';
COMMENT ON COLUMN gdap_relationship_state.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN gdap_relationship_state.source_record IS 'Record within that file.';
COMMENT ON COLUMN gdap_relationship_state.is_active IS 'TRUE when the status is active (or expiring/terminating) and end_at is after the snapshot''s reference date.';
COMMENT ON COLUMN gdap_relationship_state.is_mlt IS 'TRUE for a Microsoft-led transition relationship (display name starting MLT_).';

COMMENT ON COLUMN partner_access.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN partner_access.customer_tenant_id IS 'Customer tenant id.';
COMMENT ON COLUMN partner_access.partner_tenant_id IS 'Partner tenant id.';
COMMENT ON COLUMN partner_access.partner_name IS 'Partner name from the relationship export, else from tenants.';
COMMENT ON COLUMN partner_access.dap_enabled IS 'TRUE when any export says the partner holds DAP in the customer (implicit Global Administrator); FALSE otherwise, also when no export tells (see dap_known).';
COMMENT ON COLUMN partner_access.dap_known IS 'TRUE when an export tells whether the partner holds DAP (a DAP flag, a DAP removal date or the end of the relationship); FALSE when none does (Graph contracts, GDAP relationships, an empty flag): dap_enabled is then FALSE for the rules, but DAP may be held.';
COMMENT ON COLUMN partner_access.dap_removed_on IS 'Date DAP was removed, when an export says.';
COMMENT ON COLUMN partner_access.relationship_ended_on IS 'Date the whole relationship ended, when an export says.';
COMMENT ON COLUMN partner_access.active_gdap_relationships IS 'Number of GDAP relationships of the partner in the customer that are active at the reference date.';
COMMENT ON COLUMN partner_access.sources IS 'Which tables name this pair: partner_relationships, dap_monitoring, gdap_relationships.';

COMMENT ON COLUMN dap_implicit_roles.agent_role IS 'admin_agents or helpdesk_agents (partner_agent_groups.agent_role).';
COMMENT ON COLUMN dap_implicit_roles.agent_group IS 'Name of the partner group: AdminAgents or HelpdeskAgents.';
COMMENT ON COLUMN dap_implicit_roles.role_template_id IS 'Directory role the group implicitly holds in every customer where the partner has DAP.';
COMMENT ON COLUMN dap_implicit_roles.role_name IS 'Name of that role.';

COMMENT ON COLUMN azure_assignment_partners.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN azure_assignment_partners.tenant_id IS 'Customer tenant that owns the scope.';
COMMENT ON COLUMN azure_assignment_partners.subscription_id IS 'Subscription of the scope (lower-case GUID), NULL for management-group or root scopes.';
COMMENT ON COLUMN azure_assignment_partners.scope IS 'Scope of the assignment, lower-case ARM path, e.g. /subscriptions/{id}.';
COMMENT ON COLUMN azure_assignment_partners.role_definition_id IS 'Role definition GUID (the trailing GUID of the ARM path); Owner is 8e3af657-a8ff-443c-a75c-2fe8c4bcb635.';
COMMENT ON COLUMN azure_assignment_partners.role_definition_name IS 'Role name as exported (for display only).';
COMMENT ON COLUMN azure_assignment_partners.principal_id IS 'Object id of the assignee.';
COMMENT ON COLUMN azure_assignment_partners.principal_type IS 'user, group, servicePrincipal, foreignGroup or unknown.';
COMMENT ON COLUMN azure_assignment_partners.principal_display_name IS 'Display name of the assignee, when exported.';
COMMENT ON COLUMN azure_assignment_partners.foreign_partner_name IS 'Partner name parsed from a "Foreign Principal for ''X'' in role ''TenantAdmins'' (Y)" display name, else NULL.';
COMMENT ON COLUMN azure_assignment_partners.assignment_id IS 'Role assignment id (ARM path or GUID), when exported.';
COMMENT ON COLUMN azure_assignment_partners.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN azure_assignment_partners.source_record IS 'Record within that file.';
COMMENT ON COLUMN azure_assignment_partners.partner_tenant_id IS 'Partner the assignee belongs to, when it can be told; else NULL.';
COMMENT ON COLUMN azure_assignment_partners.agent_role IS 'admin_agents or helpdesk_agents when the assignee is that partner agent group, else NULL.';
COMMENT ON COLUMN azure_assignment_partners.matched_by IS 'How the partner was found: agent_group_object_id or foreign_principal_name; NULL when not.';
COMMENT ON COLUMN azure_assignment_partners.is_foreign IS 'TRUE when the assignee is from another tenant (a foreign group, a foreign principal, or a partner group).';
COMMENT ON COLUMN azure_assignment_partners.is_privileged_role IS 'TRUE for a privileged built-in role (ref_azure_roles.privileged).';
COMMENT ON COLUMN azure_assignment_partners.role_name IS 'Role name from the reference table, else as exported.';

COMMENT ON COLUMN tenant_directory.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN tenant_directory.tenant_id IS 'Tenant id (lower-case GUID).';
COMMENT ON COLUMN tenant_directory.display_name IS 'Organisation name from any export that names it.';
COMMENT ON COLUMN tenant_directory.default_domain IS 'Default domain, when the tenants export gives it.';
COMMENT ON COLUMN tenant_directory.tenant_type IS 'customer or partner.';

COMMENT ON COLUMN source_refs.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN source_refs.source_file_id IS 'Number of the file; fact rows and evidence point to it.';
COMMENT ON COLUMN source_refs.path IS 'Path of the file as ingested.';
COMMENT ON COLUMN source_refs.kind IS 'Export kind of the file.';

COMMENT ON COLUMN finding_changes.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN finding_changes.previous_snapshot IS 'The analysed snapshot before it (by reference date, then label), or NULL for the first.';
COMMENT ON COLUMN finding_changes.fingerprint IS 'Stable id of the finding''s condition across snapshots.';
COMMENT ON COLUMN finding_changes.rule_id IS 'Rule of the finding.';
COMMENT ON COLUMN finding_changes.severity IS 'Severity (of the snapshot it was last found in, for resolved, not_assessed and offboarded rows).';
COMMENT ON COLUMN finding_changes.customer_tenant_id IS 'Customer tenant.';
COMMENT ON COLUMN finding_changes.partner_tenant_id IS 'Partner tenant, or NULL.';
COMMENT ON COLUMN finding_changes.subject IS 'Subject of the finding.';
COMMENT ON COLUMN finding_changes.title IS 'Title of the finding.';
COMMENT ON COLUMN finding_changes.change IS 'new (not standing open before: neither in the previous snapshot nor carried as not assessed), still_open (standing open before and in this snapshot), resolved (standing open before, and this snapshot judged it gone), not_assessed (standing open before, and this snapshot could not judge it: its rule did not run, or an export it is judged from, present when it was last found, is missing this time) or offboarded (standing open before, not judged by this snapshot, and of a customer its analysis took as offboarded: [[offboarded_customers]] in the configuration). A not_assessed finding stands open until a snapshot judges it, finds it again, or takes its customer as offboarded.';
COMMENT ON COLUMN finding_changes.status IS 'open or suppressed: of this snapshot''s finding, or of the snapshot it was last found in for resolved, not_assessed and offboarded rows.';
COMMENT ON COLUMN finding_changes.last_found_snapshot IS 'The snapshot the finding was last found in: this one for new and still_open rows; for resolved, not_assessed and offboarded ones the previous snapshot, or an earlier one when the snapshots since could not assess it.';

COMMENT ON COLUMN snapshot_deltas.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN snapshot_deltas.previous_snapshot IS 'The analysed snapshot it is compared with, or NULL for the first.';
COMMENT ON COLUMN snapshot_deltas.new IS 'Open findings not standing open before (not in the previous snapshot, nor carried as not assessed).';
COMMENT ON COLUMN snapshot_deltas.still_open IS 'Open findings standing open before as well (in the previous snapshot, or carried as not assessed).';
COMMENT ON COLUMN snapshot_deltas.resolved IS 'Findings standing open before that this one judged gone.';
COMMENT ON COLUMN snapshot_deltas.suppressed IS 'Findings of this snapshot that are suppressed, new or not.';
COMMENT ON COLUMN snapshot_deltas.not_assessed IS 'Findings standing open before that this one could not judge (rule not run, or an export it is judged from missing this time): neither resolved nor open, and carried to the next snapshot.';
COMMENT ON COLUMN snapshot_deltas.offboarded IS 'Findings standing open before that this one could not judge, of customers its analysis took as offboarded ([[offboarded_customers]]): carried no further.';

-- ------------------------------------------------------------------ the effective access model
COMMENT ON COLUMN customer_tenants.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN customer_tenants.customer_tenant_id IS 'A customer tenant in scope: named as a customer by any relationship or export, and not a partner tenant.';

COMMENT ON COLUMN directory_role_holders.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN directory_role_holders.tenant_id IS 'Tenant whose role listing this is (lower-case GUID).';
COMMENT ON COLUMN directory_role_holders.role_template_id IS 'Role template id (GUID).';
COMMENT ON COLUMN directory_role_holders.principal_id IS 'Object id of the member.';
COMMENT ON COLUMN directory_role_holders.principal_type IS 'user, group, servicePrincipal or unknown.';
COMMENT ON COLUMN directory_role_holders.principal_display_name IS 'Display name of the member, when exported.';
COMMENT ON COLUMN directory_role_holders.principal_upn IS 'User principal name, for users.';
COMMENT ON COLUMN directory_role_holders.principal_organization_id IS 'Tenant the principal belongs to, when the export says.';
COMMENT ON COLUMN directory_role_holders.directory_scope_id IS 'Scope of the assignment: / for the tenant, /administrativeUnits/{id} otherwise.';
COMMENT ON COLUMN directory_role_holders.source_file_id IS 'File the row came from.';
COMMENT ON COLUMN directory_role_holders.source_record IS 'Record within that file.';
COMMENT ON COLUMN directory_role_holders.role_name IS 'Role name from the reference table (NULL for a role it does not know).';
COMMENT ON COLUMN directory_role_holders.is_privileged_role IS 'TRUE for a privileged directory role (ref_directory_roles.privileged).';
COMMENT ON COLUMN directory_role_holders.is_global_admin IS 'TRUE when the role is Global Administrator.';
COMMENT ON COLUMN directory_role_holders.holder_tenant_id IS 'Tenant the holder belongs to: its organization id, the partner whose GDAP or agent group it is (when listed without one), the listing tenant for its own principals, NULL when unresolvable.';
COMMENT ON COLUMN directory_role_holders.is_foreign IS 'TRUE when the holder is from another tenant, or cannot be resolved in the listing tenant.';
COMMENT ON COLUMN directory_role_holders.is_partner_group IS 'TRUE when the holder, listed without an organization id, is a GDAP access assignment group or agent group of a known partner of the customer.';
COMMENT ON COLUMN directory_role_holders.is_known_partner IS 'TRUE when the holder''s tenant is a known partner of the customer (contract, DAP, GDAP or partner list).';

COMMENT ON COLUMN partner_group_expansion.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN partner_group_expansion.partner_tenant_id IS 'Partner tenant id.';
COMMENT ON COLUMN partner_group_expansion.group_id IS 'Partner group (agent or GDAP group) object id.';
COMMENT ON COLUMN partner_group_expansion.member_id IS 'Object id of a member, or NULL when the group''s members were not exported.';
COMMENT ON COLUMN partner_group_expansion.member_type IS 'user, group, servicePrincipal or unknown; NULL with member_id.';
COMMENT ON COLUMN partner_group_expansion.member_display_name IS 'Member display name.';
COMMENT ON COLUMN partner_group_expansion.member_upn IS 'Member user principal name, for users.';
COMMENT ON COLUMN partner_group_expansion.member_source_file_id IS 'File of the group-member row, or NULL.';
COMMENT ON COLUMN partner_group_expansion.member_source_record IS 'Record of the group-member row within that file, or NULL.';
COMMENT ON COLUMN partner_group_expansion.members_known IS 'TRUE when the group''s members were exported; FALSE means the row stands for the whole group.';

COMMENT ON COLUMN effective_directory_access.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN effective_directory_access.customer_tenant_id IS 'Customer tenant in which the role is held.';
COMMENT ON COLUMN effective_directory_access.role_template_id IS 'Directory role held (template id); join ref_directory_roles for its name.';
COMMENT ON COLUMN effective_directory_access.role_name IS 'Name of the role (ref_directory_roles), NULL for a role the reference does not know.';
COMMENT ON COLUMN effective_directory_access.is_privileged_role IS 'TRUE for a privileged directory role (ref_directory_roles.privileged).';
COMMENT ON COLUMN effective_directory_access.path IS 'How: listed_own, listed_partner, listed_foreign, implicit_dap (never in any listing) or gdap_assignment.';
COMMENT ON COLUMN effective_directory_access.access IS 'listed (in the customer''s role listing), implicit (through DAP) or assigned (a GDAP access assignment).';
COMMENT ON COLUMN effective_directory_access.partner_tenant_id IS 'Partner the access comes from, NULL for the customer''s own principals.';
COMMENT ON COLUMN effective_directory_access.relationship_id IS 'GDAP relationship behind the access, when known.';
COMMENT ON COLUMN effective_directory_access.via_group_id IS 'Partner group the access flows through (AdminAgents, HelpdeskAgents, a GDAP group), or NULL.';
COMMENT ON COLUMN effective_directory_access.via_group_name IS 'Display name of that group.';
COMMENT ON COLUMN effective_directory_access.principal_id IS 'Who holds the role: a user, or the group itself when its members are unknown.';
COMMENT ON COLUMN effective_directory_access.principal_type IS 'user, group, servicePrincipal or unknown.';
COMMENT ON COLUMN effective_directory_access.principal_display_name IS 'Display name of the holder.';
COMMENT ON COLUMN effective_directory_access.principal_upn IS 'User principal name of the holder, for users.';
COMMENT ON COLUMN effective_directory_access.members_known IS 'For access through a group: TRUE when its members were exported; FALSE when the row stands for the group. NULL when not through a group.';
COMMENT ON COLUMN effective_directory_access.source_file_id IS 'File of the listing, group-member or agent-group row behind it.';
COMMENT ON COLUMN effective_directory_access.source_record IS 'Record within that file.';

COMMENT ON COLUMN effective_azure_access.snapshot IS 'Snapshot label.';
COMMENT ON COLUMN effective_azure_access.customer_tenant_id IS 'Customer tenant owning the subscription.';
COMMENT ON COLUMN effective_azure_access.subscription_id IS 'Subscription of the scope, NULL for management-group or root scopes.';
COMMENT ON COLUMN effective_azure_access.subscription_name IS 'Subscription display name, when exported.';
COMMENT ON COLUMN effective_azure_access.scope IS 'Scope of the assignment, lower-case ARM path.';
COMMENT ON COLUMN effective_azure_access.role_definition_id IS 'Azure role definition GUID.';
COMMENT ON COLUMN effective_azure_access.role_name IS 'Role name from the reference table, else as exported.';
COMMENT ON COLUMN effective_azure_access.is_privileged_role IS 'TRUE for a privileged built-in role (Owner, Contributor, User Access Administrator, ...).';
COMMENT ON COLUMN effective_azure_access.principal_id IS 'Object id of the assignee.';
COMMENT ON COLUMN effective_azure_access.principal_type IS 'user, group, servicePrincipal, foreignGroup or unknown.';
COMMENT ON COLUMN effective_azure_access.principal_display_name IS 'Display name of the assignee, when exported.';
COMMENT ON COLUMN effective_azure_access.path IS 'own, partner_agent_group (a partner''s agent group by object id), partner_foreign_principal (a foreign principal naming a known partner) or unknown_foreign.';
COMMENT ON COLUMN effective_azure_access.partner_tenant_id IS 'Partner the assignee belongs to, when it can be told.';
COMMENT ON COLUMN effective_azure_access.agent_role IS 'admin_agents or helpdesk_agents when the assignee is that partner group, else NULL.';
COMMENT ON COLUMN effective_azure_access.matched_by IS 'How the partner was found: agent_group_object_id or foreign_principal_name.';
COMMENT ON COLUMN effective_azure_access.partner_holds_dap IS 'TRUE when that partner still holds DAP in the customer.';
COMMENT ON COLUMN effective_azure_access.partner_active_gdap_relationships IS 'Active GDAP relationships of that partner in the customer at the reference date.';
COMMENT ON COLUMN effective_azure_access.is_known_partner IS 'TRUE when the partner is known to the customer from any relationship export.';
COMMENT ON COLUMN effective_azure_access.source_file_id IS 'File of the role-assignment row.';
COMMENT ON COLUMN effective_azure_access.source_record IS 'Record within that file.';
