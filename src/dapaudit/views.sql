-- Views over the canonical tables: the effective access model the rules and reports read.
-- Re-created (CREATE OR REPLACE) whenever the database is created or migrated.

-- GDAP relationships with their state at the snapshot's reference date.
CREATE OR REPLACE VIEW gdap_relationship_state AS
SELECT g.*,
       lower(g.status) IN ('active', 'expiring', 'terminationrequested', 'terminating')
           AND (g.end_at IS NULL OR g.end_at > s.as_of::TIMESTAMPTZ) AS is_active,
       starts_with(upper(coalesce(g.display_name, '')), 'MLT_') AS is_mlt
FROM gdap_relationships g
JOIN snapshots s USING (snapshot);
COMMENT ON VIEW gdap_relationship_state IS 'GDAP relationships with is_active (status active and not past its end at the snapshot reference date) and is_mlt (Microsoft-led transition).';

-- Every partner known to a customer, from any partner-side or customer-side export,
-- with whether it holds DAP and an active GDAP relationship there.
CREATE OR REPLACE VIEW partner_access AS
WITH links AS (
    SELECT snapshot, customer_tenant_id, partner_tenant_id, partner_name, dap_enabled,
           dap_removed_on, relationship_ended_on, 'partner_relationships' AS source
    FROM partner_relationships
    UNION ALL
    SELECT snapshot, customer_tenant_id, partner_tenant_id, NULL, dap_enabled,
           NULL, NULL, 'dap_monitoring'
    FROM dap_monitoring
    UNION ALL
    SELECT snapshot, customer_tenant_id, partner_tenant_id, NULL, NULL, NULL, NULL, 'gdap_relationships'
    FROM gdap_relationships
),
gdap AS (
    SELECT g.snapshot, g.customer_tenant_id, g.partner_tenant_id,
           count(*) FILTER (WHERE g.is_active) AS active_gdap_relationships
    FROM gdap_relationship_state g
    GROUP BY ALL
)
SELECT l.snapshot, l.customer_tenant_id, l.partner_tenant_id,
       coalesce(min(l.partner_name), min(t.display_name)) AS partner_name,
       coalesce(bool_or(l.dap_enabled), false) AS dap_enabled,
       max(l.dap_removed_on) AS dap_removed_on,
       max(l.relationship_ended_on) AS relationship_ended_on,
       coalesce(max(gdap.active_gdap_relationships), 0) AS active_gdap_relationships,
       list(DISTINCT l.source ORDER BY l.source) AS sources
FROM links l
LEFT JOIN tenants t
       ON t.snapshot = l.snapshot AND t.tenant_id = l.partner_tenant_id
LEFT JOIN gdap
       ON gdap.snapshot = l.snapshot AND gdap.customer_tenant_id = l.customer_tenant_id
      AND gdap.partner_tenant_id = l.partner_tenant_id
GROUP BY ALL;
COMMENT ON VIEW partner_access IS 'One row per (snapshot, customer, partner) known from any export: DAP held, active GDAP relationships.';

-- The partner agent groups (AdminAgents, HelpdeskAgents) with the directory role DAP gives each.
CREATE OR REPLACE VIEW dap_implicit_roles AS
SELECT g.agent_role, r.role_template_id, r.display_name AS role_name
FROM (VALUES ('admin_agents', 'global_administrator'),
             ('helpdesk_agents', 'helpdesk_administrator')) g(agent_role, role_key)
JOIN ref_directory_roles r USING (role_key);
COMMENT ON VIEW dap_implicit_roles IS 'What DAP implicitly grants: AdminAgents is Global Administrator, HelpdeskAgents is Helpdesk Administrator.';

-- Azure role assignments, each tied to the partner it belongs to where that can be told:
-- by the partner's agent group object id, or by the partner named in a foreign principal.
CREATE OR REPLACE VIEW azure_assignment_partners AS
WITH by_group AS (
    SELECT a.snapshot, a.source_file_id, a.source_record,
           g.partner_tenant_id, g.agent_role, 'agent_group_object_id' AS matched_by
    FROM azure_role_assignments a
    JOIN partner_agent_groups g
      ON g.snapshot = a.snapshot AND g.group_id = a.principal_id
),
by_name AS (
    SELECT a.snapshot, a.source_file_id, a.source_record,
           p.partner_tenant_id, NULL AS agent_role, 'foreign_principal_name' AS matched_by
    FROM azure_role_assignments a
    JOIN partner_access p
      ON p.snapshot = a.snapshot AND p.customer_tenant_id = a.tenant_id
     AND lower(trim(p.partner_name)) = lower(trim(a.foreign_partner_name))
),
matches AS (
    SELECT * FROM by_group
    UNION ALL
    SELECT * FROM by_name
    WHERE NOT EXISTS (
        SELECT 1 FROM by_group b
        WHERE b.snapshot = by_name.snapshot AND b.source_file_id = by_name.source_file_id
          AND b.source_record = by_name.source_record)
)
SELECT a.*,
       m.partner_tenant_id,
       m.agent_role,
       m.matched_by,
       (a.principal_type = 'foreignGroup' OR a.foreign_partner_name IS NOT NULL
        OR m.partner_tenant_id IS NOT NULL) AS is_foreign,
       coalesce(r.privileged, false) AS is_privileged_role,
       coalesce(r.display_name, a.role_definition_name) AS role_name
FROM azure_role_assignments a
LEFT JOIN matches m
       ON m.snapshot = a.snapshot AND m.source_file_id = a.source_file_id
      AND m.source_record = a.source_record
LEFT JOIN ref_azure_roles r ON r.role_definition_id = a.role_definition_id;
COMMENT ON VIEW azure_assignment_partners IS 'Azure role assignments with the partner each belongs to (by agent group object id or foreign principal name), is_foreign and is_privileged_role.';

-- One name per tenant and snapshot, from whichever export named it.
CREATE OR REPLACE VIEW tenant_directory AS
SELECT snapshot, tenant_id,
       min(display_name) AS display_name,
       min(default_domain) AS default_domain,
       min(tenant_type) AS tenant_type
FROM (
    SELECT snapshot, tenant_id, display_name, default_domain, tenant_type FROM tenants
    UNION ALL
    SELECT snapshot, partner_tenant_id, partner_name, NULL, 'partner' FROM partner_relationships
)
GROUP BY ALL;
COMMENT ON VIEW tenant_directory IS 'Every tenant named in a snapshot with its display name and default domain.';

-- Where a fact row came from, for evidence: the file path and record.
CREATE OR REPLACE VIEW source_refs AS
SELECT snapshot, source_file_id, path, kind FROM source_files;
COMMENT ON VIEW source_refs IS 'source_file_id to file path and kind, for building evidence.';

-- Each finding of each snapshot compared with the previous snapshot (by as_of, then label):
-- new (not in the previous one), still_open (in both); resolved rows stand for findings of the
-- previous snapshot that this one no longer has.
CREATE OR REPLACE VIEW finding_changes AS
WITH ordered AS (
    SELECT snapshot, as_of,
           lag(snapshot) OVER (ORDER BY as_of, snapshot) AS previous_snapshot
    FROM snapshots
    WHERE analyzed_at IS NOT NULL
)
SELECT o.snapshot, o.previous_snapshot, f.fingerprint, f.rule_id, f.severity,
       f.customer_tenant_id, f.partner_tenant_id, f.subject, f.title,
       CASE WHEN p.fingerprint IS NULL THEN 'new' ELSE 'still_open' END AS change
FROM ordered o
JOIN findings f ON f.snapshot = o.snapshot
LEFT JOIN findings p ON p.snapshot = o.previous_snapshot AND p.fingerprint = f.fingerprint
UNION ALL
SELECT o.snapshot, o.previous_snapshot, p.fingerprint, p.rule_id, p.severity,
       p.customer_tenant_id, p.partner_tenant_id, p.subject, p.title, 'resolved'
FROM ordered o
JOIN findings p ON p.snapshot = o.previous_snapshot
WHERE NOT EXISTS (SELECT 1 FROM findings f
                  WHERE f.snapshot = o.snapshot AND f.fingerprint = p.fingerprint);
COMMENT ON VIEW finding_changes IS 'Per snapshot, each finding marked new, still_open or resolved against the previous analysed snapshot.';

CREATE OR REPLACE VIEW snapshot_deltas AS
SELECT snapshot, any_value(previous_snapshot) AS previous_snapshot,
       count(*) FILTER (WHERE change = 'new') AS new,
       count(*) FILTER (WHERE change = 'still_open') AS still_open,
       count(*) FILTER (WHERE change = 'resolved') AS resolved
FROM finding_changes
GROUP BY snapshot;
COMMENT ON VIEW snapshot_deltas IS 'Per analysed snapshot: counts of new, still open and resolved findings against the previous one.';
