-- AZURE-UNKNOWN-FOREIGN-PRINCIPAL: a foreign principal holds an Azure role on a subscription of
-- customer C and cannot be tied to any partner of C (by agent group object id or by the partner
-- its display name names). One row per (C, scope, principal, role); subject is the scope.
-- Parameters: $snapshot.
SELECT a.customer_tenant_id,
       NULL AS partner_tenant_id,
       a.scope AS subject,
       a.principal_id || '|' || a.role_definition_id AS discriminator,
       format('A foreign principal of no known partner ({}) holds {} on {} of {}.',
              coalesce(nullif(a.principal_display_name, ''), 'object id ' || a.principal_id),
              coalesce(a.role_name, a.role_definition_id),
              CASE WHEN a.subscription_name IS NULL THEN 'scope ' || a.scope
                   ELSE 'subscription ' || a.subscription_name || ' (' || a.scope || ')' END,
              coalesce(c.display_name, c.default_domain, a.customer_tenant_id)) AS title,
       json_object(
           'scope', a.scope,
           'role_definition_id', a.role_definition_id,
           'role_name', a.role_name,
           'principal_id', a.principal_id,
           'principal_type', a.principal_type,
           'principal_display_name', a.principal_display_name,
           'known_partners', coalesce((SELECT list(pa.partner_tenant_id ORDER BY pa.partner_tenant_id)
                                       FROM partner_access pa
                                       WHERE pa.snapshot = a.snapshot
                                         AND pa.customer_tenant_id = a.customer_tenant_id), []),
           'assignment', json_object('file', sf.path, 'record', a.source_record)
       ) AS evidence,
       NULL AS severity
FROM effective_azure_access a
JOIN source_refs sf ON sf.snapshot = a.snapshot AND sf.source_file_id = a.source_file_id
LEFT JOIN tenant_directory c ON c.snapshot = a.snapshot AND c.tenant_id = a.customer_tenant_id
WHERE a.snapshot = $snapshot AND a.path = 'unknown_foreign'
