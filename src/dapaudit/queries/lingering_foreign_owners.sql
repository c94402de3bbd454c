-- title: Subscriptions with a partner's Owner N months after its DAP was removed
-- description: Azure subscriptions where a partner's principal (its agent group, or a foreign
-- principal naming it) still holds Owner although the partner's DAP was removed, or the whole
-- relationship ended, at least N months before the snapshot's reference date, and the partner
-- holds no active GDAP relationship there. Where no export dates the end of DAP (Partner
-- Center and Graph exports do not), the row is listed too, last, with dap_ended_on and
-- months_since empty: the Owner lingers, since when no file says.
-- param: months INTEGER = 6 -- only partners whose DAP ended at least this many months ago, or at an unknown date
SELECT coalesce(c.display_name, a.tenant_id) AS customer,
       coalesce(s.display_name, a.subscription_id) AS subscription,
       a.scope,
       p.partner_name,
       a.principal_display_name AS principal,
       coalesce(p.dap_removed_on, p.relationship_ended_on) AS dap_ended_on,
       date_diff('month', coalesce(p.dap_removed_on, p.relationship_ended_on), snap.as_of)
           AS months_since
FROM azure_assignment_partners a
JOIN snapshots snap ON snap.snapshot = a.snapshot
JOIN ref_azure_roles r ON r.role_definition_id = a.role_definition_id AND r.role_key = 'owner'
JOIN partner_access p
  ON p.snapshot = a.snapshot AND p.customer_tenant_id = a.tenant_id
 AND p.partner_tenant_id = a.partner_tenant_id
LEFT JOIN tenant_directory c ON c.snapshot = a.snapshot AND c.tenant_id = a.tenant_id
LEFT JOIN azure_subscriptions s  -- as the assignment's tenant lists it
       ON s.snapshot = a.snapshot AND s.subscription_id = a.subscription_id
      AND s.tenant_id = a.tenant_id
WHERE a.snapshot = $snapshot
  AND NOT p.dap_enabled
  AND p.active_gdap_relationships = 0  -- as AZURE-LINGERING-PARTNER-ROLE: no current access
  AND coalesce(coalesce(p.dap_removed_on, p.relationship_ended_on)
                   <= snap.as_of - to_months($months), true)
ORDER BY dap_ended_on NULLS LAST, customer, a.scope, principal
