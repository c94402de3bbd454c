-- Effective directory-role access in the customer tenants whose ids lie in [$first, $last],
-- one row per (customer, role, holder, path), read from the effective_directory_access view
-- (views.sql) and folded back from one row per partner user to one row per group with its
-- members. Every join and group keeps customer_tenant_id, so no row of one customer can reach
-- another customer's review; reviews.py groups the rows per customer. A single review asks
-- for the range [tenant, tenant].
-- Paths: listed_own, listed_partner, listed_foreign, implicit_dap, and gdap_unlisted (an
-- active GDAP access assignment the exported role listing does not show).
-- Parameters: $snapshot, $first, $last.
WITH access AS (
    SELECT e.*,
           -- a row that stands for a partner group's member carries the group in via_group_*
           e.via_group_id IS NOT NULL AND e.path <> 'listed_own' AS through_group
    FROM effective_directory_access e
    WHERE e.snapshot = $snapshot AND e.customer_tenant_id BETWEEN $first AND $last
),
listed_groups AS (
    SELECT DISTINCT customer_tenant_id, role_template_id, via_group_id
    FROM access WHERE path = 'listed_partner' AND through_group
),
folded AS (
    SELECT a.customer_tenant_id,
           a.role_template_id,
           CASE WHEN a.path = 'gdap_assignment' THEN 'gdap_unlisted' ELSE a.path END AS path,
           CASE WHEN a.through_group THEN a.via_group_id ELSE a.principal_id END AS holder_id,
           CASE WHEN a.through_group THEN 'group' ELSE a.principal_type END AS holder_type,
           -- One row per group however many names its exports give it (the least of them),
           -- as the DAP rule names it: an agent group exported twice under two names was
           -- listed twice, each time with the same members.
           min(CASE WHEN a.through_group OR a.path = 'implicit_dap'
                    THEN coalesce(a.via_group_name,
                                  CASE i.agent_role WHEN 'admin_agents' THEN 'AdminAgents'
                                                    WHEN 'helpdesk_agents' THEN 'HelpdeskAgents'
                                  END)
                    ELSE a.principal_display_name END) AS holder_name,
           CASE WHEN a.through_group THEN NULL ELSE a.principal_upn END AS holder_upn,
           a.partner_tenant_id, a.relationship_id,
           bool_or(coalesce(a.members_known, false)) AS members_known,
           list(DISTINCT {'display_name': a.principal_display_name, 'upn': a.principal_upn,
                          'member_id': a.principal_id, 'member_type': a.principal_type}
                ORDER BY {'display_name': a.principal_display_name, 'upn': a.principal_upn,
                          'member_id': a.principal_id, 'member_type': a.principal_type})
               FILTER (WHERE a.through_group AND a.members_known) AS members
    FROM access a
    LEFT JOIN dap_implicit_roles i
           ON a.path = 'implicit_dap' AND i.role_template_id = a.role_template_id
    WHERE NOT (a.path = 'gdap_assignment' AND EXISTS (
                   SELECT 1 FROM listed_groups l
                   WHERE l.customer_tenant_id = a.customer_tenant_id
                     AND l.role_template_id = a.role_template_id
                     AND l.via_group_id = a.via_group_id))
    GROUP BY ALL
)
SELECT f.customer_tenant_id,
       f.role_template_id,
       coalesce(r.display_name, f.role_template_id) AS role_name,
       coalesce(r.role_key = 'global_administrator', false) AS is_global_admin,
       coalesce(r.privileged, false) AS is_privileged,
       f.path, f.holder_id, f.holder_type, f.holder_name, f.holder_upn, f.partner_tenant_id,
       f.relationship_id, g.display_name AS relationship_name,
       f.members_known,
       coalesce(f.members, []) AS members
FROM folded f
LEFT JOIN ref_directory_roles r ON r.role_template_id = f.role_template_id
LEFT JOIN (SELECT customer_tenant_id, relationship_id, min(display_name) AS display_name
           FROM gdap_relationships
           WHERE snapshot = $snapshot AND customer_tenant_id BETWEEN $first AND $last
           GROUP BY customer_tenant_id, relationship_id) g
       ON g.customer_tenant_id = f.customer_tenant_id AND g.relationship_id = f.relationship_id
ORDER BY f.customer_tenant_id, f.partner_tenant_id NULLS FIRST, is_global_admin DESC, role_name,
         f.path, f.holder_name, f.holder_id
