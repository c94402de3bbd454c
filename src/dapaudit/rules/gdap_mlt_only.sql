-- GDAP-MLT-ONLY: partner P's only active GDAP relationships with customer C are Microsoft-led
-- transition ones (displayName starting MLT_). One row per (C, P); subject is C's tenant id.
-- Parameters: $snapshot.
SELECT g.customer_tenant_id,
       g.partner_tenant_id,
       g.customer_tenant_id AS subject,
       NULL AS discriminator,
       format('{}''s only active GDAP relationship{} with {} {} Microsoft-led transition '
              'relationship{} ({}), with roles chosen by Microsoft rather than agreed.',
              coalesce(min(p.display_name), g.partner_tenant_id),
              CASE WHEN count(*) = 1 THEN '' ELSE 's' END,
              coalesce(min(c.display_name), min(c.default_domain), g.customer_tenant_id),
              CASE WHEN count(*) = 1 THEN 'is a' ELSE 'are' END,
              CASE WHEN count(*) = 1 THEN '' ELSE 's' END,
              string_agg(g.display_name, ', ' ORDER BY g.display_name)) AS title,
       json_object('relationships', list(json_object(
                       'relationship_id', g.relationship_id, 'display_name', g.display_name,
                       'status', g.status, 'end_at', utc_iso(g.end_at),
                       'file', sf.path, 'record', g.source_record) ORDER BY g.relationship_id)
       ) AS evidence,
       NULL AS severity
FROM gdap_relationship_state g
JOIN source_refs sf ON sf.snapshot = g.snapshot AND sf.source_file_id = g.source_file_id
LEFT JOIN tenant_directory c ON c.snapshot = g.snapshot AND c.tenant_id = g.customer_tenant_id
LEFT JOIN tenant_directory p ON p.snapshot = g.snapshot AND p.tenant_id = g.partner_tenant_id
WHERE g.snapshot = $snapshot AND g.is_active
GROUP BY g.customer_tenant_id, g.partner_tenant_id
HAVING bool_and(g.is_mlt)
