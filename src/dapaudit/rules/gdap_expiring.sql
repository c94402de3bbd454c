-- GDAP-EXPIRING: an active GDAP relationship ends within $days days after the snapshot's
-- reference date ($as_of, never the clock). A relationship that auto-extends does not end then,
-- so it is left out. One row per relationship; subject is the relationship id.
-- Parameters: $snapshot, $as_of, $days.
SELECT g.customer_tenant_id,
       g.partner_tenant_id,
       g.relationship_id AS subject,
       NULL AS discriminator,
       format('{}''s GDAP relationship "{}" with {} ends on {} ({} day{} after {}) and does not '
              'auto-extend.',
              coalesce(p.display_name, g.partner_tenant_id),
              coalesce(g.display_name, g.relationship_id),
              coalesce(c.display_name, c.default_domain, g.customer_tenant_id),
              strftime(timezone('UTC', g.end_at), '%Y-%m-%d'),
              date_diff('day', $as_of::DATE, timezone('UTC', g.end_at)::DATE),
              CASE WHEN date_diff('day', $as_of::DATE, timezone('UTC', g.end_at)::DATE) = 1
                   THEN '' ELSE 's' END,
              strftime($as_of::DATE, '%Y-%m-%d')) AS title,
       json_object(
           'relationship_id', g.relationship_id,
           'display_name', g.display_name,
           'status', g.status,
           'end_at', utc_iso(g.end_at),
           'auto_extend_duration', g.auto_extend_duration,
           'as_of', $as_of::DATE,
           'window_days', $days,
           'relationship', json_object('file', sf.path, 'record', g.source_record)
       ) AS evidence,
       NULL AS severity
FROM gdap_relationship_state g
JOIN source_refs sf ON sf.snapshot = g.snapshot AND sf.source_file_id = g.source_file_id
LEFT JOIN tenant_directory c ON c.snapshot = g.snapshot AND c.tenant_id = g.customer_tenant_id
LEFT JOIN tenant_directory p ON p.snapshot = g.snapshot AND p.tenant_id = g.partner_tenant_id
WHERE g.snapshot = $snapshot
  AND g.is_active
  AND g.end_at IS NOT NULL
  AND date_diff('day', $as_of::DATE, timezone('UTC', g.end_at)::DATE) <= CAST($days AS INTEGER)
  -- No auto-extension: no duration, or one whose every part is zero (views.sql).
  AND NOT gdap_auto_extends(g.auto_extend_duration)
