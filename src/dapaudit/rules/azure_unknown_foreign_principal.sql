-- AZURE-UNKNOWN-FOREIGN-PRINCIPAL: a foreign principal holds an Azure role on a subscription of
-- customer C and cannot be tied to any partner of C (by agent group object id or by the partner
-- its display name names). One row per (C, scope, principal, role), however many exports repeat
-- the assignment; subject is the scope. Parameters: $snapshot.
SELECT a.customer_tenant_id,
       NULL AS partner_tenant_id,
       a.scope AS subject,
       a.principal_id || '|' || a.role_definition_id AS discriminator,
       format('A foreign principal of no known partner ({}) holds {} on {} of {}.',
              coalesce(nullif(min(a.principal_display_name), ''), 'object id ' || a.principal_id),
              coalesce(min(a.role_name), a.role_definition_id),
              azure_scope_text(a.scope, min(a.subscription_id), min(a.subscription_name)),
              coalesce(min(c.display_name), min(c.default_domain), a.customer_tenant_id)) AS title,
       json_object(
           'scope', a.scope,
           'role_definition_id', a.role_definition_id,
           'role_name', min(a.role_name),
           'principal_id', a.principal_id,
           'principal_type', min(a.principal_type),
           'principal_display_name', min(a.principal_display_name),
           'known_partners', coalesce((SELECT list(pa.partner_tenant_id ORDER BY pa.partner_tenant_id)
                                       FROM partner_access pa
                                       WHERE pa.snapshot = $snapshot
                                         AND pa.customer_tenant_id = a.customer_tenant_id), []),
           'assignments', list(json_object('file', sf.path, 'record', a.source_record)
                               ORDER BY sf.path, a.source_record)
       ) AS evidence,
       NULL AS severity
FROM effective_azure_access a
JOIN source_refs sf ON sf.snapshot = a.snapshot AND sf.source_file_id = a.source_file_id
LEFT JOIN tenant_directory c ON c.snapshot = a.snapshot AND c.tenant_id = a.customer_tenant_id
WHERE a.snapshot = $snapshot AND a.path = 'unknown_foreign'
GROUP BY a.customer_tenant_id, a.scope, a.principal_id, a.role_definition_id
