-- title: GDAP relationships ending within N days
-- description: Active GDAP relationships whose end date falls within N days after the
-- snapshot's reference date, soonest first, with whether they extend themselves.
-- param: days INTEGER = 30 -- window after the reference date, in days
SELECT coalesce(c.display_name, g.customer_tenant_id) AS customer,
       coalesce(p.display_name, g.partner_tenant_id) AS partner,
       g.display_name AS relationship,
       g.relationship_id,
       CAST(g.end_at AT TIME ZONE 'UTC' AS DATE) AS ends_on,
       date_diff('day', s.as_of, CAST(g.end_at AT TIME ZONE 'UTC' AS DATE)) AS days_left,
       gdap_auto_extends(g.auto_extend_duration) AS auto_extends
FROM gdap_relationship_state g
JOIN snapshots s ON s.snapshot = g.snapshot
LEFT JOIN tenant_directory c ON c.snapshot = g.snapshot AND c.tenant_id = g.customer_tenant_id
LEFT JOIN tenant_directory p ON p.snapshot = g.snapshot AND p.tenant_id = g.partner_tenant_id
WHERE g.snapshot = $snapshot
  AND g.is_active
  AND g.end_at IS NOT NULL
  AND CAST(g.end_at AT TIME ZONE 'UTC' AS DATE) <= s.as_of + to_days($days)
ORDER BY g.end_at, customer, g.relationship_id
