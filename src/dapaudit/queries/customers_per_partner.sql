-- title: Customers per partner, with DAP and with active GDAP
-- description: For each partner, how many customers it is known to, in how many it still holds
-- DAP (standing, implicit Global Administrator), and in how many it has an active GDAP
-- relationship.
SELECT p.partner_tenant_id,
       coalesce(min(t.display_name), min(p.partner_name)) AS partner_name,
       count(DISTINCT p.customer_tenant_id) AS customers,
       count(DISTINCT p.customer_tenant_id) FILTER (WHERE p.dap_enabled) AS with_dap,
       count(DISTINCT p.customer_tenant_id) FILTER (WHERE p.active_gdap_relationships > 0)
           AS with_active_gdap
FROM partner_access p
LEFT JOIN tenant_directory t ON t.snapshot = p.snapshot AND t.tenant_id = p.partner_tenant_id
WHERE p.snapshot = $snapshot
GROUP BY p.partner_tenant_id
ORDER BY with_dap DESC, customers DESC, partner_name, p.partner_tenant_id
