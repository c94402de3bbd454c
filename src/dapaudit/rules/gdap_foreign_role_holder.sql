-- GDAP-FOREIGN-ROLE-HOLDER: customer C's role listing shows a principal of another tenant (its
-- organizationId is not C, or it is unresolvable: type unknown with no organizationId) holding a
-- role, and that tenant is no known partner of C (no contract, DAP, GDAP or partner-list record).
-- One row per (C, principal, role), whatever the directory scopes and exports that show it;
-- subject is the principal id. The title names the holder tenant only if it is a partner tenant
-- (another customer is given by its id alone). Parameters: $snapshot.
SELECT h.tenant_id AS customer_tenant_id,
       h.holder_tenant_id AS partner_tenant_id,
       h.principal_id AS subject,
       h.role_template_id AS discriminator,
       format('{} {} of {} holds {} in {}, and that tenant is no known partner of the customer.',
              CASE min(h.principal_type) WHEN 'group' THEN 'Group' WHEN 'user' THEN 'User'
                   WHEN 'servicePrincipal' THEN 'Service principal' ELSE 'Principal' END,
              coalesce('"' || nullif(min(h.principal_display_name), '') || '"', h.principal_id),
              CASE WHEN h.holder_tenant_id IS NULL THEN 'an unresolvable tenant'
                   ELSE 'tenant ' || coalesce(min(t.display_name) || ' (' || h.holder_tenant_id || ')',
                                              h.holder_tenant_id) END,
              coalesce(min(h.role_name), h.role_template_id),
              coalesce(min(c.display_name), min(c.default_domain), h.tenant_id)) AS title,
       json_object(
           'principal_id', h.principal_id,
           'principal_type', min(h.principal_type),
           'principal_display_name', min(h.principal_display_name),
           'principal_upn', min(h.principal_upn),
           'principal_organization_id', min(h.principal_organization_id),
           'role_template_id', h.role_template_id,
           'role_name', min(h.role_name),
           'known_partners', coalesce((SELECT list(pa.partner_tenant_id ORDER BY pa.partner_tenant_id)
                                       FROM partner_access pa
                                       WHERE pa.snapshot = $snapshot
                                         AND pa.customer_tenant_id = h.tenant_id), []),
           'role_assignments', list(json_object('directory_scope_id', h.directory_scope_id,
                                                'file', sf.path, 'record', h.source_record)
                                    ORDER BY sf.path, h.source_record)
       ) AS evidence,
       CASE WHEN bool_or(h.is_global_admin OR h.is_privileged_role) THEN 'high' ELSE 'medium' END
           AS severity
FROM directory_role_holders h
JOIN source_refs sf ON sf.snapshot = h.snapshot AND sf.source_file_id = h.source_file_id
LEFT JOIN tenant_directory c ON c.snapshot = h.snapshot AND c.tenant_id = h.tenant_id
-- The holder tenant is named only when the estate knows it as a partner: it may be another
-- customer, whose name must not appear in this customer's findings and review.
LEFT JOIN tenant_directory t ON t.snapshot = h.snapshot AND t.tenant_id = h.holder_tenant_id
     AND t.tenant_type = 'partner'
WHERE h.snapshot = $snapshot AND h.is_foreign AND NOT h.is_known_partner
GROUP BY h.tenant_id, h.holder_tenant_id, h.principal_id, h.role_template_id
