-- EXCESS-GLOBAL-ADMINS: customer C's effective Global Administrators exceed $threshold. Counted
-- once per principal: C's listed members; the members of a known partner's (or a foreign
-- tenant's) group in C's listing, or one principal per group when its members were not exported;
-- and the partner users implicit through DAP where the AdminAgents members are known (an
-- unexpanded AdminAgents group is left out: the contract counts only known partner users).
-- Nested groups of an expanded partner group are not counted themselves: their users are.
-- Service principals (apps, managed identities) are not administrators' accounts and are not
-- counted: the contract counts user members, and so do CIS and CISA SCuBA.
-- One row per C; subject is C's tenant id. Parameters: $snapshot, $threshold.
WITH ga AS (
    SELECT role_template_id, display_name AS role_name
    FROM ref_directory_roles WHERE role_key = 'global_administrator'
),
counted AS (
    SELECT e.*, sf.path AS file_path
    FROM effective_directory_access e
    JOIN ga USING (role_template_id)
    LEFT JOIN source_refs sf ON sf.snapshot = e.snapshot AND sf.source_file_id = e.source_file_id
    WHERE e.snapshot = $snapshot
      AND e.principal_id IS NOT NULL
      AND e.principal_type IS DISTINCT FROM 'servicePrincipal'
      AND (e.path IN ('listed_own', 'listed_partner', 'listed_foreign')
           OR (e.path = 'implicit_dap' AND e.members_known))
      AND NOT (coalesce(e.members_known, false) AND e.principal_type = 'group'
               AND e.principal_id <> e.via_group_id)
),
over AS (
    -- Count first, build evidence only for the customers over the threshold: at 100,000
    -- customers, making JSON for every principal of every customer was most of this rule's time.
    SELECT customer_tenant_id
    FROM (SELECT DISTINCT customer_tenant_id, principal_id FROM counted)
    GROUP BY customer_tenant_id
    HAVING count(*) > CAST($threshold AS INTEGER)
),
per_principal AS (
    SELECT customer_tenant_id, principal_id,
           min(principal_type) AS principal_type,
           min(principal_display_name) AS display_name,
           min(principal_upn) AS upn,
           list(json_object('path', path, 'partner_tenant_id', partner_tenant_id,
                            'via_group_id', via_group_id, 'via_group_name', via_group_name,
                            'members_known', members_known, 'file', file_path,
                            'record', source_record)
                ORDER BY path, file_path, source_record) AS paths,
           bool_or(path = 'listed_own') AS own,
           bool_or(path = 'implicit_dap') AS via_dap,
           bool_or(path IN ('listed_partner', 'listed_foreign')) AS via_listed_partner
    FROM counted
    WHERE customer_tenant_id IN (SELECT customer_tenant_id FROM over)
    GROUP BY ALL
),
per_customer AS (
    SELECT customer_tenant_id,
           count(*) AS total,
           count(*) FILTER (WHERE own) AS own,
           count(*) FILTER (WHERE NOT own AND via_dap) AS dap,
           count(*) FILTER (WHERE NOT own AND NOT via_dap AND via_listed_partner) AS partner_listed,
           list(json_object('principal_id', principal_id, 'type', principal_type,
                            'display_name', display_name, 'upn', upn, 'paths', paths)
                ORDER BY NOT own, upn, display_name, principal_id) AS principals
    FROM per_principal
    GROUP BY customer_tenant_id
)
SELECT pc.customer_tenant_id,
       NULL AS partner_tenant_id,
       pc.customer_tenant_id AS subject,
       NULL AS discriminator,
       format('{} has {} effective {}s ({} listed in the tenant, {} partner users through DAP, {} '
              'through partner or foreign groups in the role listing), more than {}.',
              coalesce(c.display_name, c.default_domain, pc.customer_tenant_id),
              pc.total, (SELECT role_name FROM ga), pc.own, pc.dap, pc.partner_listed,
              $threshold) AS title,
       json_object('threshold', $threshold, 'count', pc.total, 'listed_own', pc.own,
                   'implicit_dap', pc.dap, 'listed_partner_or_foreign', pc.partner_listed,
                   'principals', pc.principals) AS evidence,
       NULL AS severity
FROM per_customer pc
LEFT JOIN tenant_directory c ON c.snapshot = $snapshot AND c.tenant_id = pc.customer_tenant_id
WHERE pc.total > CAST($threshold AS INTEGER)
