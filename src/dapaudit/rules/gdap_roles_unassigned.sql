-- GDAP-ROLES-UNASSIGNED: an active GDAP relationship grants roles that no active access
-- assignment of it uses. Judged only for relationships whose access assignments were exported
-- (at least one assignment row of any status names the relationship); for the others dapaudit
-- cannot tell. One row per relationship; subject is the relationship id. Parameters: $snapshot.
WITH rel AS (
    SELECT g.* FROM gdap_relationship_state g
    WHERE g.snapshot = $snapshot AND g.is_active
      AND EXISTS (SELECT 1 FROM gdap_access_assignments a
                  WHERE a.snapshot = g.snapshot AND a.relationship_id = g.relationship_id)
),
unused AS (
    SELECT r.relationship_id, r.role_template_id,
           coalesce(d.display_name, r.role_template_id) AS role_name,
           sf.path, r.source_record
    FROM gdap_relationship_roles r
    JOIN rel USING (relationship_id)
    JOIN source_refs sf ON sf.snapshot = r.snapshot AND sf.source_file_id = r.source_file_id
    LEFT JOIN ref_directory_roles d USING (role_template_id)
    WHERE r.snapshot = $snapshot
      AND NOT EXISTS (SELECT 1 FROM gdap_access_assignments a
                      WHERE a.snapshot = r.snapshot AND a.relationship_id = r.relationship_id
                        AND a.role_template_id = r.role_template_id
                        AND lower(a.status) = 'active')
)
SELECT rel.customer_tenant_id,
       rel.partner_tenant_id,
       rel.relationship_id AS subject,
       NULL AS discriminator,
       format('{}''s GDAP relationship "{}" with {} grants {} that no active access assignment '
              'uses: {}.',
              coalesce(min(p.display_name), rel.partner_tenant_id),
              coalesce(rel.display_name, rel.relationship_id),
              coalesce(min(c.display_name), min(c.default_domain), rel.customer_tenant_id),
              CASE WHEN count(DISTINCT u.role_template_id) = 1 THEN 'a role'
                   ELSE count(DISTINCT u.role_template_id) || ' roles' END,
              string_agg(DISTINCT u.role_name, ', ' ORDER BY u.role_name)) AS title,
       json_object(
           'unused_role_ids', list(DISTINCT u.role_template_id ORDER BY u.role_template_id),
           'unused_roles', list(json_object('role_template_id', u.role_template_id,
                                            'role_name', u.role_name, 'file', u.path,
                                            'record', u.source_record)
                                ORDER BY u.role_template_id, u.path, u.source_record),
           'relationship', json_object('relationship_id', rel.relationship_id,
                                       'display_name', rel.display_name,
                                       'file', min(sf.path), 'record', rel.source_record)
       ) AS evidence,
       NULL AS severity
FROM rel
JOIN unused u USING (relationship_id)
JOIN source_refs sf ON sf.snapshot = rel.snapshot AND sf.source_file_id = rel.source_file_id
LEFT JOIN tenant_directory c ON c.snapshot = rel.snapshot AND c.tenant_id = rel.customer_tenant_id
LEFT JOIN tenant_directory p ON p.snapshot = rel.snapshot AND p.tenant_id = rel.partner_tenant_id
GROUP BY rel.customer_tenant_id, rel.partner_tenant_id, rel.relationship_id, rel.display_name,
         rel.source_record
