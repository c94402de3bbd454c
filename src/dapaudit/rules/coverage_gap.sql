-- COVERAGE-GAP: a customer tenant in scope lacks its directory role listing or its Azure role
-- assignment export, so the other rules could not fully assess it. Azure counts as covered when
-- an azure_role_assignments export names the tenant, or when its subscription list was exported
-- for it and holds no subscription (nothing to assign roles on). One row per tenant; subject is
-- the tenant id. Parameters: $snapshot.
WITH cov AS (
    SELECT tenant_id, dataset FROM export_coverage WHERE snapshot = $snapshot GROUP BY ALL
),
state AS (
    SELECT ct.customer_tenant_id,
           EXISTS (SELECT 1 FROM cov WHERE cov.tenant_id = ct.customer_tenant_id
                   AND cov.dataset = 'directory_role_members') AS has_roles,
           EXISTS (SELECT 1 FROM cov WHERE cov.tenant_id = ct.customer_tenant_id
                   AND cov.dataset = 'azure_role_assignments')
           OR (EXISTS (SELECT 1 FROM cov WHERE cov.tenant_id = ct.customer_tenant_id
                       AND cov.dataset = 'azure_subscriptions')
               AND NOT EXISTS (SELECT 1 FROM azure_subscriptions s
                               WHERE s.snapshot = $snapshot
                                 AND s.tenant_id = ct.customer_tenant_id)) AS has_azure
    FROM customer_tenants ct
    WHERE ct.snapshot = $snapshot
),
named_by AS (
    SELECT x.tenant_id,
           list(DISTINCT x.dataset ORDER BY x.dataset) AS datasets
    FROM (SELECT tenant_id, dataset FROM cov
          UNION ALL SELECT tenant_id, 'tenants' FROM tenants WHERE snapshot = $snapshot
          UNION ALL SELECT customer_tenant_id, 'partner_relationships' FROM partner_relationships
                    WHERE snapshot = $snapshot
          UNION ALL SELECT customer_tenant_id, 'gdap_relationships' FROM gdap_relationships
                    WHERE snapshot = $snapshot
          UNION ALL SELECT customer_tenant_id, 'dap_monitoring' FROM dap_monitoring
                    WHERE snapshot = $snapshot) x
    GROUP BY x.tenant_id
),
missing AS (
    SELECT s.customer_tenant_id,
           list_filter([CASE WHEN NOT s.has_roles THEN json_object(
                            'dataset', 'directory_role_members',
                            'export', 'a directory role listing',
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
