-- AZURE-LINGERING-PARTNER-ROLE: a principal of partner P (its agent group, or a foreign
-- principal naming P) holds an Azure role on a subscription of customer C while P holds
-- neither DAP nor an active GDAP relationship in C. Removing DAP never removes Azure roles.
-- Output: one row per (C, P, scope, role). Parameters: $snapshot.
WITH partner_held AS (
    SELECT a.*, sf.path
    FROM azure_assignment_partners a
    JOIN source_refs sf ON sf.snapshot = a.snapshot AND sf.source_file_id = a.source_file_id
    WHERE a.snapshot = $snapshot AND a.partner_tenant_id IS NOT NULL
),
lingering AS (
    SELECT h.*, pa.dap_enabled, pa.dap_removed_on, pa.relationship_ended_on,
           pa.partner_name AS known_partner_name,
           pa.partner_tenant_id IS NOT NULL AS relationship_known
    FROM partner_held h
    LEFT JOIN partner_access pa
      ON pa.snapshot = h.snapshot AND pa.customer_tenant_id = h.tenant_id
     AND pa.partner_tenant_id = h.partner_tenant_id
    WHERE NOT coalesce(pa.dap_enabled, false)
      AND coalesce(pa.active_gdap_relationships, 0) = 0
)
SELECT l.tenant_id AS customer_tenant_id,
       l.partner_tenant_id,
       l.scope AS subject,
       l.role_definition_id AS discriminator,
       format('{} still holds {} on {} of {} although it holds neither DAP nor an active GDAP '
              'relationship there{}.',
              coalesce(min(l.known_partner_name), min(p.display_name), min(l.foreign_partner_name),
                       l.partner_tenant_id),
              coalesce(min(l.role_name), l.role_definition_id),
              azure_scope_text(l.scope, min(l.subscription_id), min(s.display_name)),
              coalesce(min(c.display_name), min(c.default_domain), l.tenant_id),
              CASE WHEN max(l.dap_removed_on) IS NOT NULL
                        THEN ' (DAP removed ' || strftime(max(l.dap_removed_on), '%Y-%m-%d') || ')'
                   WHEN max(l.relationship_ended_on) IS NOT NULL
                        THEN ' (relationship ended ' || strftime(max(l.relationship_ended_on), '%Y-%m-%d') || ')'
                   WHEN NOT bool_or(l.relationship_known) THEN ' (no relationship on record)'
                   ELSE '' END) AS title,
       json_object(
           'scope', l.scope,
           'role_definition_id', l.role_definition_id,
           'role_name', min(l.role_name),
           'dap_enabled', coalesce(bool_or(l.dap_enabled), false),
           'dap_removed_on', max(l.dap_removed_on),
           'relationship_known', bool_or(l.relationship_known),
           'assignments', list(json_object(
               'principal_id', l.principal_id,
               'principal_type', l.principal_type,
               'principal_display_name', l.principal_display_name,
               -- as `az role assignment delete --ids` takes it (remediation step 3)
               'role_assignment_id', role_assignment_id(l.scope, l.assignment_id),
               'matched_by', l.matched_by,
               'file', l.path,
               'record', l.source_record) ORDER BY l.path, l.source_record)
       ) AS evidence,
       CASE WHEN bool_or(l.is_privileged_role) THEN 'high' ELSE 'medium' END AS severity
FROM lingering l
LEFT JOIN azure_subscriptions s  -- as the assignment's tenant lists it
       ON s.snapshot = l.snapshot AND s.subscription_id = l.subscription_id
      AND s.tenant_id = l.tenant_id
LEFT JOIN tenant_directory c ON c.snapshot = l.snapshot AND c.tenant_id = l.tenant_id
LEFT JOIN tenant_directory p ON p.snapshot = l.snapshot AND p.tenant_id = l.partner_tenant_id
GROUP BY l.tenant_id, l.partner_tenant_id, l.scope, l.role_definition_id
