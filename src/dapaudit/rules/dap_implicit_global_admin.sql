-- DAP-IMPLICIT-GLOBAL-ADMIN: partner P holds DAP in customer C, so P's AdminAgents group is
-- Global Administrator of C, and C's own role listing does not show it.
-- Output: one row per (C, P). Parameters: $snapshot.
WITH role AS (
    SELECT i.agent_role, i.role_template_id, i.role_name
    FROM dap_implicit_roles i WHERE i.agent_role = 'admin_agents'
),
dap AS (
    SELECT pa.customer_tenant_id, pa.partner_tenant_id, pa.partner_name
    FROM partner_access pa
    WHERE pa.snapshot = $snapshot AND pa.dap_enabled
),
dap_sources AS (
    SELECT r.customer_tenant_id, r.partner_tenant_id,
           list(json_object('dataset', 'partner_relationships', 'file', sf.path,
                            'record', r.source_record) ORDER BY sf.path, r.source_record) AS refs
    FROM partner_relationships r
    JOIN source_refs sf ON sf.snapshot = r.snapshot AND sf.source_file_id = r.source_file_id
    WHERE r.snapshot = $snapshot AND r.dap_enabled
    GROUP BY ALL
    UNION ALL
    SELECT m.customer_tenant_id, m.partner_tenant_id,
           list(json_object('dataset', 'dap_monitoring', 'file', sf.path,
                            'record', m.source_record) ORDER BY sf.path, m.source_record)
    FROM dap_monitoring m
    JOIN source_refs sf ON sf.snapshot = m.snapshot AND sf.source_file_id = m.source_file_id
    WHERE m.snapshot = $snapshot AND m.dap_enabled
    GROUP BY ALL
),
dap_refs AS (
    SELECT customer_tenant_id, partner_tenant_id, flatten(list(refs ORDER BY refs)) AS refs
    FROM dap_sources GROUP BY ALL
),
agent_groups AS (
    SELECT g.partner_tenant_id, g.group_id, g.display_name
    FROM partner_agent_groups g, role
    WHERE g.snapshot = $snapshot AND g.agent_role = role.agent_role
),
members AS (
    SELECT g.partner_tenant_id,
           list(json_object('member_id', m.member_id, 'display_name', m.member_display_name,
                            'upn', m.member_upn, 'type', m.member_type,
                            'file', sf.path, 'record', m.source_record)
                ORDER BY m.member_upn, m.member_id) AS members,
           count(DISTINCT m.member_id) FILTER (WHERE m.member_type = 'user') AS users,
           count(DISTINCT m.member_id) FILTER (WHERE m.member_type <> 'user') AS others
    FROM agent_groups g
    JOIN partner_group_members m
      ON m.snapshot = $snapshot AND m.partner_tenant_id = g.partner_tenant_id
     AND m.group_id = g.group_id
    JOIN source_refs sf ON sf.snapshot = m.snapshot AND sf.source_file_id = m.source_file_id
    GROUP BY ALL
),
listed AS (
    -- The rare case where C's listing does show P's AdminAgents in the role: not implicit.
    SELECT DISTINCT d.customer_tenant_id, d.partner_tenant_id
    FROM dap d
    JOIN agent_groups g ON g.partner_tenant_id = d.partner_tenant_id
    JOIN directory_role_members l
      ON l.snapshot = $snapshot AND l.tenant_id = d.customer_tenant_id
     AND l.principal_id = g.group_id
    JOIN role ON l.role_template_id = role.role_template_id
)
SELECT d.customer_tenant_id,
       d.partner_tenant_id,
       role.role_template_id AS subject,
       NULL AS discriminator,
       format('{} holds DAP in {}: its AdminAgents group is implicitly {} there, and the '
              'tenant''s role listing does not show it{}.',
              coalesce(d.partner_name, p.display_name, d.partner_tenant_id),
              coalesce(c.display_name, c.default_domain, d.customer_tenant_id),
              role.role_name,
              CASE WHEN m.members IS NULL THEN ''
                   ELSE format(' ({} partner user{}{})', m.users,
                               CASE WHEN m.users = 1 THEN '' ELSE 's' END,
                               CASE WHEN m.others = 0 THEN ''
                                    WHEN m.others = 1 THEN ' and a nested group'
                                    ELSE format(' and {} nested groups', m.others) END) END) AS title,
       json_object(
           'dap_sources', coalesce(r.refs, []),
           'role_template_id', role.role_template_id,
           'role_name', role.role_name,
           'agent_groups', coalesce((SELECT list(json_object('group_id', g.group_id,
                                                             'display_name', g.display_name)
                                                 ORDER BY g.group_id)
                                     FROM agent_groups g
                                     WHERE g.partner_tenant_id = d.partner_tenant_id), []),
           'agent_group_members_known', m.members IS NOT NULL,
           'agent_group_members', coalesce(m.members, [])
       ) AS evidence,
       NULL AS severity
FROM dap d
CROSS JOIN role
LEFT JOIN dap_refs r USING (customer_tenant_id, partner_tenant_id)
LEFT JOIN members m ON m.partner_tenant_id = d.partner_tenant_id
LEFT JOIN tenant_directory c ON c.snapshot = $snapshot AND c.tenant_id = d.customer_tenant_id
LEFT JOIN tenant_directory p ON p.snapshot = $snapshot AND p.tenant_id = d.partner_tenant_id
WHERE NOT EXISTS (
    SELECT 1 FROM listed x
    WHERE x.customer_tenant_id = d.customer_tenant_id AND x.partner_tenant_id = d.partner_tenant_id
)
