-- title: Findings new in this snapshot
-- description: Findings of the snapshot that did not stand open before it: not in the previous
-- analysed snapshot, nor carried as not assessed since an earlier one (all of them, for the
-- first snapshot), most severe first. Suppressed ones too, with their status (snapshot_deltas
-- and the monthly report count open ones).
SELECT f.severity, f.rule_id, coalesce(c.display_name, f.customer_tenant_id) AS customer,
       f.title, f.status, f.fingerprint
FROM finding_changes f
JOIN ref_severities r ON r.severity = f.severity
LEFT JOIN tenant_directory c ON c.snapshot = f.snapshot AND c.tenant_id = f.customer_tenant_id
WHERE f.snapshot = $snapshot AND f.change = 'new'
ORDER BY r.rank DESC, f.rule_id, customer, f.title, f.fingerprint
