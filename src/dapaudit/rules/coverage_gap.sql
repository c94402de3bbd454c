-- COVERAGE-GAP: a customer tenant in scope lacks its directory role listing or its Azure role
-- assignment export, so the other rules could not fully assess it. Azure counts as covered when
-- an azure_role_assignments export names the tenant, or when its subscription list was exported
-- for it and holds no subscription (nothing to assign roles on). A role listing read for the
-- tenant that does not cover it (rows, no coverage: a Graph listing without its last page, see
-- ingest) is said to be incomplete rather than absent. One row per tenant; subject is the
-- tenant id. Parameters: $snapshot.
WITH cov AS (
    -- One row per tenant with a flag per dataset exported for it: joins, not three EXISTS
    -- probes per customer tenant.
    SELECT tenant_id,
           bool_or(dataset = 'directory_role_members') AS roles_exported,
           bool_or(dataset = 'azure_role_assignments') AS azure_exported,
           bool_or(dataset = 'azure_subscriptions') AS subscriptions_exported
    FROM export_coverage WHERE snapshot = $snapshot
    GROUP BY tenant_id
),
with_subscriptions AS (
    SELECT DISTINCT tenant_id FROM azure_subscriptions WHERE snapshot = $snapshot
),
with_role_rows AS (
    SELECT DISTINCT tenant_id FROM directory_role_members WHERE snapshot = $snapshot
),
state AS (
    SELECT ct.customer_tenant_id,
           coalesce(cov.roles_exported, false) AS has_roles,
           wr.tenant_id IS NOT NULL AS roles_read,
           coalesce(cov.azure_exported, false)
           OR (coalesce(cov.subscriptions_exported, false) AND ws.tenant_id IS NULL) AS has_azure
    FROM customer_tenants ct
    LEFT JOIN cov ON cov.tenant_id = ct.customer_tenant_id
    LEFT JOIN with_subscriptions ws ON ws.tenant_id = ct.customer_tenant_id
    LEFT JOIN with_role_rows wr ON wr.tenant_id = ct.customer_tenant_id
    WHERE ct.snapshot = $snapshot
),
missing AS (
    SELECT s.customer_tenant_id,
           list_filter([CASE WHEN NOT s.has_roles THEN json_object(
                            'dataset', 'directory_role_members',
                            'export', CASE WHEN s.roles_read
                                           THEN 'a complete directory role listing (the one exported is missing its last page)'
                                           ELSE 'a directory role listing' END,
                            'collect', 'Get-MgRoleManagementDirectoryRoleAssignment -All -ExpandProperty principal, in the customer tenant with Global Reader or higher',
                            'account', 'a customer account with Global Reader (or any role that can read role assignments)') END,
                        CASE WHEN NOT s.has_azure THEN json_object(
                            'dataset', 'azure_role_assignments',
                            'export', 'an Azure role assignment export',
                            'collect', 'az account list --all -o json and az role assignment list --all --include-inherited -o json (or Get-AzRoleAssignment | Export-Csv), per subscription of the customer tenant; export an empty result too when there is no subscription',
                            'account', 'a customer account with Reader on every subscription (Entra directory roles give no read access to subscriptions)') END],
                       lambda x: x IS NOT NULL) AS missing
    FROM state s
    WHERE NOT s.has_roles OR NOT s.has_azure
),
named_by AS (
    -- Which exports name each tenant with a gap (evidence), for those tenants only.
    SELECT x.tenant_id, list_sort(list_distinct(list(x.dataset))) AS datasets
    FROM (SELECT tenant_id, dataset FROM export_coverage WHERE snapshot = $snapshot
          UNION ALL SELECT tenant_id, 'tenants' FROM tenants WHERE snapshot = $snapshot
          UNION ALL SELECT customer_tenant_id, 'partner_relationships' FROM partner_relationships
                    WHERE snapshot = $snapshot
          UNION ALL SELECT customer_tenant_id, 'gdap_relationships' FROM gdap_relationships
                    WHERE snapshot = $snapshot
          UNION ALL SELECT customer_tenant_id, 'dap_monitoring' FROM dap_monitoring
                    WHERE snapshot = $snapshot) x
    WHERE x.tenant_id IN (SELECT customer_tenant_id FROM missing)
    GROUP BY x.tenant_id
)
SELECT m.customer_tenant_id,
       NULL AS partner_tenant_id,
       m.customer_tenant_id AS subject,
       NULL AS discriminator,
       format('{} lacks {}, so partner access to it could not be fully assessed.',
              coalesce(c.display_name, c.default_domain, m.customer_tenant_id),
              array_to_string([x->>'export' FOR x IN m.missing], ' and ')) AS title,
       json_object('missing', m.missing,
                   'named_by', coalesce(n.datasets, []),
                   'hint', 'Put each export in a folder named with the tenant id or its domain, or pass --tenant.'
       ) AS evidence,
       NULL AS severity
FROM missing m
LEFT JOIN named_by n ON n.tenant_id = m.customer_tenant_id
LEFT JOIN tenant_directory c ON c.snapshot = $snapshot AND c.tenant_id = m.customer_tenant_id
