-- GDAP-GLOBAL-ADMIN: an active GDAP relationship, or an access assignment in it, grants Global
-- Administrator. One row per relationship; subject is the relationship id. Parameters: $snapshot.
WITH ga AS (
    SELECT role_template_id, display_name AS role_name
    FROM ref_directory_roles WHERE role_key = 'global_administrator'
),
rel AS (
    SELECT g.* FROM gdap_relationship_state g WHERE g.snapshot = $snapshot AND g.is_active
),
in_roles AS (
    SELECT r.relationship_id,
           list(json_object('file', sf.path, 'record', r.source_record)
                ORDER BY sf.path, r.source_record) AS refs
    FROM gdap_relationship_roles r
    JOIN ga USING (role_template_id)
    JOIN source_refs sf ON sf.snapshot = r.snapshot AND sf.source_file_id = r.source_file_id
    WHERE r.snapshot = $snapshot
    GROUP BY ALL
),
in_assignments AS (
    SELECT a.relationship_id,
           list(json_object('assignment_id', a.assignment_id,
                            'security_group_id', a.security_group_id,
                            'security_group_name', pg.display_name, 'status', a.status,
                            'file', sf.path, 'record', a.source_record)
                ORDER BY sf.path, a.source_record) AS refs
    FROM gdap_access_assignments a
    JOIN ga USING (role_template_id)
    JOIN source_refs sf ON sf.snapshot = a.snapshot AND sf.source_file_id = a.source_file_id
    LEFT JOIN (SELECT DISTINCT snapshot, group_id, display_name FROM partner_agent_groups) pg
           ON pg.snapshot = a.snapshot AND pg.group_id = a.security_group_id
    WHERE a.snapshot = $snapshot AND lower(a.status) NOT IN ('deleted', 'deleting')
    GROUP BY ALL
)
SELECT rel.customer_tenant_id,
       rel.partner_tenant_id,
       rel.relationship_id AS subject,
       NULL AS discriminator,
       format('{}''s GDAP relationship "{}" with {} grants {}{}.',
              coalesce(p.display_name, rel.partner_tenant_id),
              coalesce(rel.display_name, rel.relationship_id),
              coalesce(c.display_name, c.default_domain, rel.customer_tenant_id),
              ga.role_name,
              CASE WHEN ia.refs IS NOT NULL
                   THEN format(' to {} partner security group{}',
                               len(list_distinct([x->>'security_group_id' for x in ia.refs])),
                               CASE WHEN len(list_distinct([x->>'security_group_id' for x in ia.refs])) = 1
                                    THEN '' ELSE 's' END)
                   ELSE '' END) AS title,
       json_object(
           'relationship_id', rel.relationship_id,
           'display_name', rel.display_name,
           'status', rel.status,
           'end_at', utc_iso(rel.end_at),
           'relationship', json_object('file', sf.path, 'record', rel.source_record),
           'role_template_id', ga.role_template_id,
           'in_relationship_roles', coalesce(ir.refs, []),
           'in_access_assignments', coalesce(ia.refs, [])
       ) AS evidence,
       NULL AS severity
FROM rel
CROSS JOIN ga
JOIN source_refs sf ON sf.snapshot = rel.snapshot AND sf.source_file_id = rel.source_file_id
LEFT JOIN in_roles ir USING (relationship_id)
LEFT JOIN in_assignments ia USING (relationship_id)
LEFT JOIN tenant_directory c ON c.snapshot = rel.snapshot AND c.tenant_id = rel.customer_tenant_id
LEFT JOIN tenant_directory p ON p.snapshot = rel.snapshot AND p.tenant_id = rel.partner_tenant_id
WHERE ir.refs IS NOT NULL OR ia.refs IS NOT NULL
