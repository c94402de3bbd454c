-- DAP-INACTIVE: partner P holds DAP in customer C and, by P's DAP monitoring record for C, no
-- partner agent signed in to C for more than $days days before the snapshot's reference date
-- ($as_of): a record with no sign-in at all counts as inactive; without a monitoring record the
-- rule cannot tell and says nothing. One row per (C, P); subject is C's tenant id.
-- Parameters: $snapshot, $as_of, $days.
WITH mon AS (
    SELECT m.customer_tenant_id, m.partner_tenant_id,
           max(m.last_sign_in_at) AS last_sign_in_at,
           list(json_object('dataset', 'dap_monitoring', 'file', sf.path,
                            'record', m.source_record, 'dap_enabled', m.dap_enabled,
                            'last_sign_in_at', utc_iso(m.last_sign_in_at),
                            'partner_sign_in_count', m.partner_sign_in_count)
                ORDER BY sf.path, m.source_record) AS refs
    FROM dap_monitoring m
    JOIN source_refs sf ON sf.snapshot = m.snapshot AND sf.source_file_id = m.source_file_id
    WHERE m.snapshot = $snapshot
    GROUP BY ALL
)
SELECT pa.customer_tenant_id,
       pa.partner_tenant_id,
       pa.customer_tenant_id AS subject,
       NULL AS discriminator,
       format('{} holds DAP in {} but no partner agent has signed in there {}.',
              coalesce(pa.partner_name, p.display_name, pa.partner_tenant_id),
              coalesce(c.display_name, c.default_domain, pa.customer_tenant_id),
              CASE WHEN m.last_sign_in_at IS NULL THEN 'at all, by the DAP monitoring record'
                   ELSE format('since {} ({} days before {})',
                               strftime(timezone('UTC', m.last_sign_in_at), '%Y-%m-%d'),
                               date_diff('day', timezone('UTC', m.last_sign_in_at)::DATE, $as_of::DATE),
                               strftime($as_of::DATE, '%Y-%m-%d')) END) AS title,
       json_object('last_sign_in_at', utc_iso(m.last_sign_in_at),
                   'days_inactive', CASE WHEN m.last_sign_in_at IS NOT NULL THEN
                       date_diff('day', timezone('UTC', m.last_sign_in_at)::DATE, $as_of::DATE) END,
                   'threshold_days', $days, 'as_of', $as_of::DATE,
                   'monitoring', m.refs) AS evidence,
       NULL AS severity
FROM partner_access pa
JOIN mon m USING (customer_tenant_id, partner_tenant_id)
LEFT JOIN tenant_directory c ON c.snapshot = pa.snapshot AND c.tenant_id = pa.customer_tenant_id
LEFT JOIN tenant_directory p ON p.snapshot = pa.snapshot AND p.tenant_id = pa.partner_tenant_id
WHERE pa.snapshot = $snapshot
  AND pa.dap_enabled
  AND (m.last_sign_in_at IS NULL
       OR date_diff('day', timezone('UTC', m.last_sign_in_at)::DATE, $as_of::DATE)
          > CAST($days AS INTEGER))
