-- GDAP-DAP-COEXIST: partner P holds both DAP and an active GDAP relationship in customer C, so
-- the GDAP least-privilege roles protect nothing. One row per (C, P); subject is C's tenant id.
-- Parameters: $snapshot.
WITH both_held AS (
    SELECT pa.* FROM partner_access pa
    WHERE pa.snapshot = $snapshot AND pa.dap_enabled AND pa.active_gdap_relationships > 0
),
dap_refs AS (
    SELECT r.customer_tenant_id, r.partner_tenant_id, 'partner_relationships' AS dataset,
           sf.path, r.source_record
    FROM partner_relationships r
    JOIN source_refs sf ON sf.snapshot = r.snapshot AND sf.source_file_id = r.source_file_id
    WHERE r.snapshot = $snapshot AND r.dap_enabled
    UNION ALL
    SELECT m.customer_tenant_id, m.partner_tenant_id, 'dap_monitoring', sf.path, m.source_record
    FROM dap_monitoring m
    JOIN source_refs sf ON sf.snapshot = m.snapshot AND sf.source_file_id = m.source_file_id
    WHERE m.snapshot = $snapshot AND m.dap_enabled
),
gdap_refs AS (
    SELECT g.customer_tenant_id, g.partner_tenant_id,
           list(json_object('relationship_id', g.relationship_id, 'display_name', g.display_name,
                            'status', g.status, 'end_at', utc_iso(g.end_at),
                            'file', sf.path, 'record', g.source_record)
                ORDER BY g.relationship_id) AS refs,
           list(g.display_name ORDER BY g.display_name) AS names
    FROM gdap_relationship_state g
    JOIN source_refs sf ON sf.snapshot = g.snapshot AND sf.source_file_id = g.source_file_id
    WHERE g.snapshot = $snapshot AND g.is_active
    GROUP BY ALL
)
SELECT b.customer_tenant_id,
       b.partner_tenant_id,
       b.customer_tenant_id AS subject,
       NULL AS discriminator,
       format('{} still holds DAP in {} next to {} active GDAP relationship{}, so its AdminAgents '
              'remain implicit Global Administrators.',
              coalesce(b.partner_name, p.display_name, b.partner_tenant_id),
              coalesce(c.display_name, c.default_domain, b.customer_tenant_id),
              b.active_gdap_relationships,
              CASE WHEN b.active_gdap_relationships = 1 THEN '' ELSE 's' END) AS title,
       json_object(
           'dap_sources', coalesce((SELECT list(json_object('dataset', d.dataset, 'file', d.path,
                                                            'record', d.source_record)
                                                ORDER BY d.path, d.source_record)
                                    FROM dap_refs d
                                    WHERE d.customer_tenant_id = b.customer_tenant_id
                                      AND d.partner_tenant_id = b.partner_tenant_id), []),
           'active_gdap_relationships', coalesce(g.refs, [])
       ) AS evidence,
       NULL AS severity
FROM both_held b
LEFT JOIN gdap_refs g USING (customer_tenant_id, partner_tenant_id)
LEFT JOIN tenant_directory c ON c.snapshot = b.snapshot AND c.tenant_id = b.customer_tenant_id
LEFT JOIN tenant_directory p ON p.snapshot = b.snapshot AND p.tenant_id = b.partner_tenant_id
