-- title: Partner users implicitly Global Administrator in more than N customers
-- description: Members of a partner's AdminAgents group (directly, or through nested groups)
-- are Global Administrator of every customer where the partner holds DAP, although no role
-- listing shows it. One row per partner user, with the customers they can administer.
-- param: more_than INTEGER = 0 -- list users implicitly Global Administrator in more than this many customers
WITH admin_agents AS (
    SELECT g.snapshot, g.partner_tenant_id, g.group_id
    FROM partner_agent_groups g
    JOIN dap_implicit_roles i ON i.agent_role = g.agent_role
    JOIN ref_directory_roles r ON r.role_template_id = i.role_template_id
    WHERE r.role_key = 'global_administrator'
),
users AS (
    -- members, those of groups nested in AdminAgents at any depth included
    SELECT DISTINCT a.snapshot, a.partner_tenant_id, x.member_id, x.member_display_name,
           x.member_upn
    FROM admin_agents a
    JOIN partner_group_expansion x USING (snapshot, partner_tenant_id, group_id)
    WHERE x.member_type = 'user'
)
SELECT p.partner_name, u.member_upn AS partner_user_upn, u.member_display_name AS partner_user,
       count(DISTINCT p.customer_tenant_id) AS customers,
       list(DISTINCT coalesce(c.display_name, p.customer_tenant_id)
            ORDER BY coalesce(c.display_name, p.customer_tenant_id)) AS customer_names
FROM users u
JOIN partner_access p
  ON p.snapshot = u.snapshot AND p.partner_tenant_id = u.partner_tenant_id AND p.dap_enabled
LEFT JOIN tenant_directory c
       ON c.snapshot = p.snapshot AND c.tenant_id = p.customer_tenant_id
WHERE u.snapshot = $snapshot
GROUP BY p.partner_name, u.member_upn, u.member_display_name, u.member_id
HAVING count(DISTINCT p.customer_tenant_id) > $more_than
ORDER BY customers DESC, p.partner_name, partner_user_upn, u.member_id
