-- Effective directory-role access in ONE customer tenant ($tenant): every holder of every role
-- with its path. Every source row is filtered on $tenant (or on a partner of $tenant) so the
-- customer security review can hold nothing about another customer by construction.
-- Paths: listed_own (the tenant's own principal in its role listing), listed_partner (a group
-- or user of a known partner in the listing, e.g. a GDAP group), listed_foreign (a principal of
-- a tenant with no known partner relationship), implicit_dap (DAP: invisible in the listing),
-- gdap_unlisted (an active GDAP access assignment the exported listing does not show).
-- Parameters: $snapshot, $tenant. One row per (role, holder, path).
WITH partners AS (
    SELECT partner_tenant_id, dap_enabled
    FROM partner_access
    WHERE snapshot = $snapshot AND customer_tenant_id = $tenant
),
groups AS (
    SELECT partner_tenant_id, group_id, any_value(display_name) AS display_name,
           any_value(agent_role) AS agent_role
    FROM partner_agent_groups
    WHERE snapshot = $snapshot
      AND partner_tenant_id IN (SELECT partner_tenant_id FROM partners)
    GROUP BY ALL
),
gdap AS (
    SELECT a.role_template_id, a.security_group_id, r.partner_tenant_id,
           min(r.relationship_id) AS relationship_id,
           min(r.display_name) AS relationship_name
    FROM gdap_relationship_state r
    JOIN gdap_access_assignments a
      ON a.snapshot = r.snapshot AND a.relationship_id = r.relationship_id
    WHERE r.snapshot = $snapshot AND r.customer_tenant_id = $tenant AND r.is_active
      AND lower(a.status) = 'active'
    GROUP BY ALL
),
listed AS (
    SELECT DISTINCT l.role_template_id, l.principal_id AS holder_id,
           l.principal_type AS holder_type,
           coalesce(l.principal_display_name, g.display_name) AS holder_name,
           l.principal_upn AS holder_upn,
           coalesce(g.partner_tenant_id, nullif(l.principal_organization_id, $tenant))
               AS holder_tenant_id
    FROM directory_role_members l
    LEFT JOIN groups g ON g.group_id = l.principal_id
    WHERE l.snapshot = $snapshot AND l.tenant_id = $tenant
),
grants AS (
    SELECT l.role_template_id, l.holder_id, l.holder_type, l.holder_name, l.holder_upn,
           l.holder_tenant_id AS partner_tenant_id,
           CASE WHEN l.holder_tenant_id IS NULL THEN 'listed_own'
                WHEN l.holder_tenant_id IN (SELECT partner_tenant_id FROM partners)
                    THEN 'listed_partner'
                ELSE 'listed_foreign' END AS path
    FROM listed l
    UNION ALL
    SELECT i.role_template_id, g.group_id, 'group',
           coalesce(g.display_name,
                    CASE i.agent_role WHEN 'admin_agents' THEN 'AdminAgents'
                                      ELSE 'HelpdeskAgents' END),
           NULL, p.partner_tenant_id, 'implicit_dap'
    FROM partners p
    CROSS JOIN dap_implicit_roles i
    LEFT JOIN groups g ON g.partner_tenant_id = p.partner_tenant_id AND g.agent_role = i.agent_role
    WHERE p.dap_enabled
      AND NOT EXISTS (SELECT 1 FROM listed l
                      WHERE l.holder_id = g.group_id AND l.role_template_id = i.role_template_id)
    UNION ALL
    SELECT x.role_template_id, x.security_group_id, 'group', g.display_name, NULL,
           x.partner_tenant_id, 'gdap_unlisted'
    FROM gdap x
    LEFT JOIN groups g
           ON g.partner_tenant_id = x.partner_tenant_id AND g.group_id = x.security_group_id
    WHERE NOT EXISTS (SELECT 1 FROM listed l
                      WHERE l.holder_id = x.security_group_id
                        AND l.role_template_id = x.role_template_id)
),
members AS (
    SELECT m.partner_tenant_id, m.group_id,
           list(DISTINCT {'display_name': m.member_display_name, 'upn': m.member_upn,
                          'member_id': m.member_id, 'member_type': m.member_type}
                ORDER BY {'display_name': m.member_display_name, 'upn': m.member_upn,
                          'member_id': m.member_id, 'member_type': m.member_type}) AS members
    FROM partner_group_members m
    WHERE m.snapshot = $snapshot
      AND m.partner_tenant_id IN (SELECT partner_tenant_id FROM partners)
    GROUP BY ALL
)
SELECT g.role_template_id,
       coalesce(r.display_name, g.role_template_id) AS role_name,
       coalesce(r.role_key = 'global_administrator', false) AS is_global_admin,
       coalesce(r.privileged, false) AS is_privileged,
       g.path, g.holder_id, g.holder_type, g.holder_name, g.holder_upn, g.partner_tenant_id,
       x.relationship_id, x.relationship_name,
       m.members IS NOT NULL AS members_known,
       coalesce(m.members, []) AS members
FROM grants g
LEFT JOIN ref_directory_roles r ON r.role_template_id = g.role_template_id
LEFT JOIN gdap x
       ON x.partner_tenant_id = g.partner_tenant_id AND x.security_group_id = g.holder_id
      AND x.role_template_id = g.role_template_id
-- Members only for groups of a partner of this customer: its own groups have none exported.
LEFT JOIN members m
       ON g.path IN ('listed_partner', 'implicit_dap', 'gdap_unlisted')
      AND m.partner_tenant_id = g.partner_tenant_id AND m.group_id = g.holder_id
ORDER BY g.partner_tenant_id NULLS FIRST, is_global_admin DESC, role_name, g.path,
         g.holder_name, g.holder_id
