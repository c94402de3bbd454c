-- Views over the canonical tables: the effective access model the rules and reports read.
-- Re-created (CREATE OR REPLACE) whenever the database is created or migrated.

-- A timestamp as ISO-8601 UTC text, whatever the session time zone: evidence and titles must
-- read the same on every machine.
CREATE OR REPLACE MACRO utc_iso(ts) AS strftime(timezone('UTC', ts), '%Y-%m-%dT%H:%M:%SZ');

-- An Azure scope as finding titles name it: the subscription by name where known, and a
-- resource group or resource as itself within it (a title said "on subscription Litware
-- Production (/subscriptions/.../resourcegroups/rg-app)").
CREATE OR REPLACE MACRO azure_scope_text(scope, subscription_id, subscription_name) AS
    CASE WHEN subscription_name IS NULL THEN 'scope ' || scope
         WHEN rtrim(lower(scope), '/') = '/subscriptions/' || lower(subscription_id)
              THEN 'subscription ' || subscription_name || ' (' || scope || ')'
         ELSE 'scope ' || scope || ' in subscription ' || subscription_name END;

-- A role assignment's resource id, as `az role assignment delete --ids` takes it: exports give
-- it whole (ARM `id`) or by its name (a GUID) alone, which the scope completes.
CREATE OR REPLACE MACRO role_assignment_id(scope, assignment_id) AS
    CASE WHEN starts_with(assignment_id, '/') THEN assignment_id
         WHEN assignment_id IS NOT NULL
         THEN rtrim(scope, '/') || '/providers/Microsoft.Authorization/roleAssignments/'
              || assignment_id END;

-- Whether a GDAP relationship's autoExtendDuration extends it: a duration with a part that is
-- not zero. None, empty, PT0S as Graph writes it, and P0D, PT0H, P0Y0M0D or PT0.0S (the same
-- zero, all accepted at ingest) do not. One definition for the rule and the saved query.
CREATE OR REPLACE MACRO gdap_auto_extends(duration) AS
    coalesce(trim(duration), '') <> ''
    AND NOT regexp_full_match(upper(trim(duration)),
                              '-?P(0+Y)?(0+M)?(0+W)?(0+D)?(T(0+H)?(0+M)?(0+([.,]0+)?S)?)?');

-- GDAP relationships with their state at the snapshot's reference date (midnight UTC).
CREATE OR REPLACE VIEW gdap_relationship_state AS
SELECT g.*,
       lower(g.status) IN ('active', 'expiring', 'terminationrequested', 'terminating')
           AND (g.end_at IS NULL OR g.end_at > timezone('UTC', s.as_of::TIMESTAMP)) AS is_active,
       starts_with(upper(coalesce(g.display_name, '')), 'MLT_') AS is_mlt
FROM gdap_relationships g
JOIN snapshots s USING (snapshot)
-- The same relationship exported twice (Graph JSON and a GDAP CSV, say) is one relationship:
-- keep its first record so counts and findings do not double.
QUALIFY row_number() OVER (PARTITION BY g.snapshot, g.relationship_id
                           ORDER BY g.source_file_id, g.source_record) = 1;
COMMENT ON VIEW gdap_relationship_state IS 'GDAP relationships, one row per relationship (its first record when exported twice), with is_active (status active and not past its end at the snapshot reference date, midnight UTC) and is_mlt (Microsoft-led transition).';

-- Every partner known to a customer, from any partner-side or customer-side export,
-- with whether it holds DAP and an active GDAP relationship there.
CREATE OR REPLACE VIEW partner_access AS
WITH links AS (
    SELECT snapshot, customer_tenant_id, partner_tenant_id, partner_name, dap_enabled,
           dap_removed_on, relationship_ended_on, 'partner_relationships' AS source
    FROM partner_relationships
    UNION ALL
    SELECT snapshot, customer_tenant_id, partner_tenant_id, NULL, dap_enabled,
           NULL, NULL, 'dap_monitoring'
    FROM dap_monitoring
    UNION ALL
    SELECT snapshot, customer_tenant_id, partner_tenant_id, NULL, NULL, NULL, NULL, 'gdap_relationships'
    FROM gdap_relationships
),
gdap AS (
    SELECT g.snapshot, g.customer_tenant_id, g.partner_tenant_id,
           count(*) FILTER (WHERE g.is_active) AS active_gdap_relationships
    FROM gdap_relationship_state g
    GROUP BY ALL
)
SELECT l.snapshot, l.customer_tenant_id, l.partner_tenant_id,
       coalesce(min(l.partner_name), min(t.display_name)) AS partner_name,
       -- Partner Center's DAP monitoring says whether DAP is held, where it has a record for
       -- the pair: DAP removed there outweighs a contract listing or partner list that implies
       -- DAP (a customer can remove DAP and keep the reseller relationship). Elsewhere any
       -- export saying DAP is held is enough.
       CASE WHEN bool_or(l.source = 'dap_monitoring' AND l.dap_enabled IS NOT NULL)
            THEN bool_or(l.dap_enabled) FILTER (WHERE l.source = 'dap_monitoring')
            ELSE coalesce(bool_or(l.dap_enabled), false) END AS dap_enabled,
       -- dap_enabled stays TRUE/FALSE for the rules and saved queries (`NOT dap_enabled` must
       -- keep its rows); this says whether any export told it. Graph contracts and GDAP
       -- relationships name a partner without telling DAP: FALSE there means "not known".
       -- A DAP removal date or the end of the whole relationship tells that DAP is gone.
       bool_or(l.dap_enabled IS NOT NULL) OR max(l.dap_removed_on) IS NOT NULL
           OR max(l.relationship_ended_on) IS NOT NULL AS dap_known,
       max(l.dap_removed_on) AS dap_removed_on,
       max(l.relationship_ended_on) AS relationship_ended_on,
       coalesce(max(gdap.active_gdap_relationships), 0) AS active_gdap_relationships,
       -- Sorted after aggregating: an ordered DISTINCT aggregate is several times slower here.
       list_sort(list_distinct(list(l.source))) AS sources
FROM links l
LEFT JOIN tenants t
       ON t.snapshot = l.snapshot AND t.tenant_id = l.partner_tenant_id
LEFT JOIN gdap
       ON gdap.snapshot = l.snapshot AND gdap.customer_tenant_id = l.customer_tenant_id
      AND gdap.partner_tenant_id = l.partner_tenant_id
GROUP BY ALL;
COMMENT ON VIEW partner_access IS 'One row per (snapshot, customer, partner) known from any export: DAP held (and whether any export tells it), active GDAP relationships.';

-- The partner agent groups (AdminAgents, HelpdeskAgents) with the directory role DAP gives each.
CREATE OR REPLACE VIEW dap_implicit_roles AS
SELECT g.agent_role, g.agent_group, r.role_template_id, r.display_name AS role_name
FROM (VALUES ('admin_agents', 'AdminAgents', 'global_administrator'),
             ('helpdesk_agents', 'HelpdeskAgents', 'helpdesk_administrator')) g(agent_role, agent_group, role_key)
JOIN ref_directory_roles r USING (role_key);
COMMENT ON VIEW dap_implicit_roles IS 'What DAP implicitly grants: AdminAgents is Global Administrator, HelpdeskAgents is Helpdesk Administrator.';

-- Azure role assignments, each tied to the partner it belongs to where that can be told:
-- by the partner's agent group object id, or by the partner named in a foreign principal.
CREATE OR REPLACE VIEW azure_assignment_partners AS
WITH by_group AS (
    SELECT a.snapshot, a.source_file_id, a.source_record,
           g.partner_tenant_id, g.agent_role, 'agent_group_object_id' AS matched_by
    FROM azure_role_assignments a
    -- A group exported twice is one group: each assignment matched once.
    JOIN (SELECT DISTINCT snapshot, partner_tenant_id, group_id, agent_role
          FROM partner_agent_groups) g
      ON g.snapshot = a.snapshot AND g.group_id = a.principal_id
     -- In the partner's own tenant its agent group is its own, not a partner's foreign one.
     AND g.partner_tenant_id <> a.tenant_id
),
-- Every name a partner goes by in the exports: a customer's partner list may say "Northwind
-- Partners" where the partner's own files and the foreign principal say "Northwind Partners
-- Ltd"; partner_access keeps one of them.
partner_names AS (
    SELECT snapshot, partner_tenant_id, lower(trim(partner_name)) AS name
    FROM partner_relationships WHERE partner_name IS NOT NULL
    UNION
    SELECT snapshot, tenant_id, lower(trim(display_name)) FROM tenants
    WHERE display_name IS NOT NULL
),
by_name AS (
    SELECT DISTINCT a.snapshot, a.source_file_id, a.source_record,
           p.partner_tenant_id, NULL AS agent_role, 'foreign_principal_name' AS matched_by
    FROM azure_role_assignments a
    JOIN partner_access p
      ON p.snapshot = a.snapshot AND p.customer_tenant_id = a.tenant_id
    JOIN partner_names n
      ON n.snapshot = p.snapshot AND n.partner_tenant_id = p.partner_tenant_id
     AND n.name = lower(trim(a.foreign_partner_name))
    WHERE a.foreign_partner_name IS NOT NULL
),
matches AS (
    SELECT * FROM by_group
    UNION ALL
    SELECT * FROM by_name
    WHERE NOT EXISTS (
        SELECT 1 FROM by_group b
        WHERE b.snapshot = by_name.snapshot AND b.source_file_id = by_name.source_file_id
          AND b.source_record = by_name.source_record)
)
SELECT a.*,
       m.partner_tenant_id,
       m.agent_role,
       m.matched_by,
       (a.principal_type = 'foreignGroup' OR a.foreign_partner_name IS NOT NULL
        OR m.partner_tenant_id IS NOT NULL) AS is_foreign,
       coalesce(r.privileged, false) AS is_privileged_role,
       coalesce(r.display_name, a.role_definition_name) AS role_name
FROM azure_role_assignments a
LEFT JOIN matches m
       ON m.snapshot = a.snapshot AND m.source_file_id = a.source_file_id
      AND m.source_record = a.source_record
LEFT JOIN ref_azure_roles r ON r.role_definition_id = a.role_definition_id;
COMMENT ON VIEW azure_assignment_partners IS 'Azure role assignments with the partner each belongs to (by agent group object id or foreign principal name), is_foreign and is_privileged_role.';

-- One name per tenant and snapshot, from whichever export named it.
CREATE OR REPLACE VIEW tenant_directory AS
SELECT snapshot, tenant_id,
       min(display_name) AS display_name,
       min(default_domain) AS default_domain,
       min(tenant_type) AS tenant_type
FROM (
    SELECT snapshot, tenant_id, display_name, default_domain, tenant_type FROM tenants
    UNION ALL
    SELECT snapshot, partner_tenant_id, partner_name, NULL, 'partner' FROM partner_relationships
)
GROUP BY ALL;
COMMENT ON VIEW tenant_directory IS 'Every tenant named in a snapshot with its display name and default domain.';

-- Where a fact row came from, for evidence: the file path and record.
CREATE OR REPLACE VIEW source_refs AS
SELECT snapshot, source_file_id, path, kind FROM source_files;
COMMENT ON VIEW source_refs IS 'source_file_id to file path and kind, for building evidence.';

-- The datasets a partner's findings are judged from that lapsed between two snapshots, as a
-- mask of dataset bits (finding_changes): all that tell DAP and GDAP (`dap_gdap`) when no
-- table of partner links names the partner any more, and the exports of its own (agent
-- groups, members, access assignments) that covered it and do not now. None for a tenant no
-- table named as a partner then.
CREATE OR REPLACE MACRO partner_lapsed(named_then, mask_then, named_now, mask_now, dap_gdap) AS
    CASE WHEN coalesce(named_then, false)
         THEN (CASE WHEN coalesce(named_now, false) THEN 0::UBIGINT ELSE dap_gdap END)
              | (coalesce(mask_then, 0::UBIGINT) & ~coalesce(mask_now, 0::UBIGINT))
         ELSE 0::UBIGINT END;

-- Each finding of each snapshot compared with what stood open before it: the findings of the
-- previous snapshot (by as_of, then label), and those of earlier snapshots that the snapshots
-- since could not assess. new: none of them; still_open: one of them. resolved rows stand for
-- findings that stood open and that this snapshot judged gone; not_assessed rows for those it
-- could not judge: their rule did not run (turned off in the configuration), or an export
-- they are judged from, present in the snapshot they were last found in, is missing this time.
-- Missing: the customer's role listing, Azure role assignments, or both partner relationships
-- and DAP monitoring; a partner that partner relationships, DAP monitoring or GDAP
-- relationships named then and none of them names now; or an export of the partner's own (its
-- agent groups and their members, its GDAP access assignments, ...) that covered it then and
-- does not now; for a finding about the customer alone, those of the partners it was linked
-- to. A not_assessed finding stands open, snapshot after snapshot, until a snapshot judges it
-- or finds it again: a month without a customer's export no longer makes its findings "new"
-- the month after, nor hides a remediation made meanwhile. No export tells an offboarded
-- customer from a collection that failed or a snapshot of a few re-collected files (a
-- customer's own partner list, or another customer's, names its partners whatever became of
-- the others), so only the configuration says one left: a finding it could not judge, of a
-- customer the snapshot's analysis took as offboarded (analysis_offboarded), is offboarded
-- there, and carried no further. Otherwise such findings stay listed, with the snapshot each
-- was last found in.
--
-- Not recursive: a finding leaving (left_behind) is judged at the snapshot it leaves, and,
-- only when something it may be judged from lapsed there, at each snapshot after until it is
-- found again (carry); the first snapshot that judges it ends it.
CREATE OR REPLACE VIEW finding_changes AS
WITH ordered AS (
    SELECT snapshot, as_of,
           row_number() OVER (ORDER BY as_of, snapshot) AS n,
           lag(snapshot) OVER (ORDER BY as_of, snapshot) AS previous_snapshot
    FROM snapshots
    WHERE analyzed_at IS NOT NULL
),
rules_recorded AS (SELECT DISTINCT snapshot FROM analysis_rules),
partner_links AS (
    SELECT DISTINCT snapshot, partner_tenant_id, customer_tenant_id FROM partner_relationships
    UNION SELECT DISTINCT snapshot, partner_tenant_id, customer_tenant_id FROM dap_monitoring
    UNION SELECT DISTINCT snapshot, partner_tenant_id, customer_tenant_id FROM gdap_relationships
),
-- Findings of each snapshot's previous one that it no longer has (origin: the snapshot they
-- were last found in), with the next snapshot holding them again, if any.
left_behind AS (
    SELECT o.n, p.fingerprint, p.snapshot AS origin, p.rule_id, p.customer_tenant_id,
           p.partner_tenant_id
    FROM ordered o
    JOIN findings p ON p.snapshot = o.previous_snapshot
    WHERE NOT EXISTS (SELECT 1 FROM findings f
                      WHERE f.snapshot = o.snapshot AND f.fingerprint = p.fingerprint)
),
found_again AS (
    SELECT b.fingerprint, b.origin, min(o.n) AS n
    FROM left_behind b
    JOIN findings f ON f.fingerprint = b.fingerprint
    JOIN ordered o ON o.snapshot = f.snapshot AND o.n > b.n
    GROUP BY ALL
),
-- The tenants of the findings leaving, and for a finding about the customer alone the
-- partners it was linked to.
leaving_tenants AS (
    SELECT customer_tenant_id AS tenant_id FROM left_behind
    UNION SELECT partner_tenant_id FROM left_behind
    UNION SELECT l.partner_tenant_id
          FROM left_behind b
          JOIN partner_links l
            ON l.snapshot = b.origin AND l.customer_tenant_id = b.customer_tenant_id
          WHERE b.partner_tenant_id IS NULL
),
-- Datasets as bits of a mask (at most 64: the canonical tables are 13), so that what covers
-- a tenant, and what a rule judges from, compare by integer operations.
dataset_bits AS (
    SELECT dataset,
           CASE WHEN row_number() OVER (ORDER BY dataset) <= 64
                THEN 1::UBIGINT << (row_number() OVER (ORDER BY dataset) - 1)::INTEGER
                ELSE error('finding_changes: more than 64 datasets for its bit masks') END
               AS bit
    FROM (SELECT DISTINCT dataset FROM export_coverage
          UNION SELECT DISTINCT unnest(datasets) FROM analysis_rules
          UNION SELECT unnest(['directory_role_members', 'azure_role_assignments',
                               'partner_relationships', 'dap_monitoring',
                               'gdap_relationships']))
),
-- The groups of exports that judge a customer's findings: its role listing, its Azure role
-- assignments, and what tells its partners' DAP (partner relationships or DAP monitoring,
-- either: DAP removed is told by the one left); and what tells a partner's DAP and GDAP.
masks AS (
    SELECT bit_or(bit) FILTER (WHERE dataset = 'directory_role_members') AS role_listing,
           bit_or(bit) FILTER (WHERE dataset = 'azure_role_assignments') AS azure,
           bit_or(bit) FILTER (WHERE dataset IN ('partner_relationships', 'dap_monitoring'))
               AS dap,
           bit_or(bit) FILTER (WHERE dataset IN ('partner_relationships', 'dap_monitoring',
                                                 'gdap_relationships')) AS dap_gdap
    FROM dataset_bits
),
rule_masks AS (
    SELECT a.snapshot, a.rule_id, bit_or(b.bit) AS mask
    FROM (SELECT snapshot, rule_id, unnest(datasets) AS dataset FROM analysis_rules) a
    JOIN dataset_bits b USING (dataset)
    GROUP BY ALL
),
-- Per snapshot and leaving tenant: the datasets covering it, and whether a partner link names
-- it as a partner. A subscription list exported for a tenant and holding none counts as its
-- Azure role assignments too (nothing to assign roles on), as COVERAGE-GAP has it.
tenant_state AS (
    SELECT snapshot, tenant_id, bit_or(bit) AS covered, bool_or(as_partner) AS listed
    FROM (SELECT c.snapshot, c.tenant_id, b.bit, false AS as_partner
          FROM export_coverage c JOIN dataset_bits b USING (dataset)
          WHERE c.tenant_id IN (SELECT tenant_id FROM leaving_tenants)
          UNION ALL
          SELECT c.snapshot, c.tenant_id, b.bit, false
          FROM export_coverage c
          JOIN dataset_bits b ON b.dataset = 'azure_role_assignments'
          WHERE c.dataset = 'azure_subscriptions'
            AND c.tenant_id IN (SELECT tenant_id FROM leaving_tenants)
            AND NOT EXISTS (SELECT 1 FROM azure_subscriptions s
                            WHERE s.snapshot = c.snapshot AND s.tenant_id = c.tenant_id)
          UNION ALL
          SELECT snapshot, partner_tenant_id, 0::UBIGINT, true FROM partner_links
          WHERE partner_tenant_id IN (SELECT tenant_id FROM leaving_tenants))
    GROUP BY ALL
),
-- Leaving tenants with an export, or a partner link, that covered them in the snapshot
-- before and does not now: only a finding of such a tenant (or of a rule that did not run)
-- may be left not assessed where it leaves. Every other one is resolved there.
shrunk AS (
    SELECT o.n, p.tenant_id
    FROM ordered o
    JOIN tenant_state p ON p.snapshot = o.previous_snapshot
    LEFT JOIN tenant_state c ON c.snapshot = o.snapshot AND c.tenant_id = p.tenant_id
    WHERE p.covered & ~coalesce(c.covered, 0::UBIGINT) <> 0
       OR (p.listed AND NOT coalesce(c.listed, false))
),
may_carry AS (
    SELECT b.*
    FROM left_behind b
    JOIN ordered o ON o.n = b.n
    LEFT JOIN rules_recorded r ON r.snapshot = o.snapshot
    LEFT JOIN analysis_rules a ON a.snapshot = o.snapshot AND a.rule_id = b.rule_id
    WHERE (r.snapshot IS NOT NULL AND NOT coalesce(a.ran, false))
       OR EXISTS (SELECT 1 FROM shrunk s WHERE s.n = b.n AND s.tenant_id = b.customer_tenant_id)
       OR EXISTS (SELECT 1 FROM shrunk s WHERE s.n = b.n AND s.tenant_id = b.partner_tenant_id)
       OR (b.partner_tenant_id IS NULL AND EXISTS (
           SELECT 1 FROM partner_links l JOIN shrunk s ON s.tenant_id = l.partner_tenant_id
           WHERE l.snapshot = b.origin AND l.customer_tenant_id = b.customer_tenant_id
             AND s.n = b.n))
),
-- Each finding that may be carried, at the snapshot it leaves and each one after until it is
-- found again.
carry AS (
    SELECT m.n, m.snapshot, b.fingerprint, b.origin, b.rule_id, b.customer_tenant_id,
           b.partner_tenant_id
    FROM may_carry b
    JOIN ordered m ON m.n >= b.n
    LEFT JOIN found_again g ON g.fingerprint = b.fingerprint AND g.origin = b.origin
    WHERE g.n IS NULL OR m.n < g.n
),
-- Each carried row judged against the snapshot it was last found in (then, `t`) and this one
-- (now, `w`): its customer (c), its partner (p), and for a finding about the customer alone
-- each partner it was linked to then (l).
judged AS (
    SELECT j.n, j.snapshot, j.fingerprint, j.origin, NOT (own_lapse OR linked_lapse) AS assessed,
           ob.tenant_id IS NOT NULL AS offboarded
    FROM (
        SELECT x.n, x.snapshot, x.fingerprint, x.origin, x.customer_tenant_id,
               (r.snapshot IS NOT NULL AND NOT coalesce(a.ran, false))
               OR (coalesce(rm.mask, rmo.mask, 0::UBIGINT) & (
                   (CASE WHEN ct.covered & k.role_listing <> 0
                              AND coalesce(cw.covered, 0::UBIGINT) & k.role_listing = 0
                         THEN k.role_listing ELSE 0::UBIGINT END)
                   | (CASE WHEN ct.covered & k.azure <> 0
                                AND coalesce(cw.covered, 0::UBIGINT) & k.azure = 0
                           THEN k.azure ELSE 0::UBIGINT END)
                   | (CASE WHEN ct.covered & k.dap <> 0
                                AND coalesce(cw.covered, 0::UBIGINT) & k.dap = 0
                           THEN k.dap ELSE 0::UBIGINT END)
                   | partner_lapsed(pt.listed, pt.covered, pw.listed, pw.covered, k.dap_gdap)
               )) <> 0 AS own_lapse,
               -- A finding about the customer alone: the partners it was linked to.
               coalesce(bool_or((coalesce(rm.mask, rmo.mask, 0::UBIGINT)
                   & partner_lapsed(lt.listed, lt.covered, lw.listed, lw.covered, k.dap_gdap))
                   <> 0), false) AS linked_lapse
        FROM carry x
        CROSS JOIN masks k
        LEFT JOIN rules_recorded r ON r.snapshot = x.snapshot
        LEFT JOIN analysis_rules a ON a.snapshot = x.snapshot AND a.rule_id = x.rule_id
        LEFT JOIN rule_masks rm ON rm.snapshot = x.snapshot AND rm.rule_id = x.rule_id
        -- What the rule judges from, as the origin's analysis recorded it, for a snapshot
        -- analysed before analysis_rules was kept.
        LEFT JOIN rule_masks rmo ON rmo.snapshot = x.origin AND rmo.rule_id = x.rule_id
        LEFT JOIN tenant_state ct
               ON ct.snapshot = x.origin AND ct.tenant_id = x.customer_tenant_id
        LEFT JOIN tenant_state cw
               ON cw.snapshot = x.snapshot AND cw.tenant_id = x.customer_tenant_id
        LEFT JOIN tenant_state pt
               ON pt.snapshot = x.origin AND pt.tenant_id = x.partner_tenant_id
        LEFT JOIN tenant_state pw
               ON pw.snapshot = x.snapshot AND pw.tenant_id = x.partner_tenant_id
        LEFT JOIN partner_links l
               ON x.partner_tenant_id IS NULL AND l.snapshot = x.origin
              AND l.customer_tenant_id = x.customer_tenant_id
        LEFT JOIN tenant_state lt
               ON lt.snapshot = x.origin AND lt.tenant_id = l.partner_tenant_id
        LEFT JOIN tenant_state lw
               ON lw.snapshot = x.snapshot AND lw.tenant_id = l.partner_tenant_id
        GROUP BY ALL
    ) j
    -- The customer taken as offboarded by the analysis of this snapshot (the configuration's
    -- [[offboarded_customers]]): what could not be judged ends here, as offboarded.
    LEFT JOIN (SELECT DISTINCT snapshot, tenant_id FROM analysis_offboarded) ob
           ON ob.snapshot = j.snapshot AND ob.tenant_id = j.customer_tenant_id
),
-- The carried rows up to the first snapshot that judges the finding, or takes its customer
-- as offboarded (its row included).
departed AS (
    SELECT n, snapshot, fingerprint, origin, assessed, offboarded AND NOT assessed AS offboarded
    FROM (SELECT *,
                 count(*) FILTER (WHERE assessed OR offboarded) OVER (
                     PARTITION BY fingerprint, origin ORDER BY n
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS judged_before
          FROM judged)
    WHERE judged_before = 0
    UNION ALL
    SELECT b.n, o.snapshot, b.fingerprint, b.origin, true, false
    FROM left_behind b
    JOIN ordered o ON o.n = b.n
    WHERE NOT EXISTS (SELECT 1 FROM may_carry c
                      WHERE c.fingerprint = b.fingerprint AND c.origin = b.origin)
),
-- What stood open after each snapshot beyond its own findings: those it could not assess.
carried AS (SELECT snapshot, fingerprint FROM departed WHERE NOT assessed AND NOT offboarded)
SELECT o.snapshot, o.previous_snapshot, f.fingerprint, f.rule_id, f.severity,
       f.customer_tenant_id, f.partner_tenant_id, f.subject, f.title,
       CASE WHEN p.fingerprint IS NULL AND c.fingerprint IS NULL THEN 'new'
            ELSE 'still_open' END AS change,
       f.status,
       o.snapshot AS last_found_snapshot
FROM ordered o
JOIN findings f ON f.snapshot = o.snapshot
LEFT JOIN findings p ON p.snapshot = o.previous_snapshot AND p.fingerprint = f.fingerprint
LEFT JOIN carried c ON c.snapshot = o.previous_snapshot AND c.fingerprint = f.fingerprint
UNION ALL
SELECT o.snapshot, o.previous_snapshot, p.fingerprint, p.rule_id, p.severity,
       p.customer_tenant_id, p.partner_tenant_id, p.subject, p.title,
       CASE WHEN d.assessed THEN 'resolved' WHEN d.offboarded THEN 'offboarded'
            ELSE 'not_assessed' END,
       p.status,
       d.origin
FROM departed d
JOIN ordered o ON o.snapshot = d.snapshot
JOIN findings p ON p.snapshot = d.origin AND p.fingerprint = d.fingerprint;
COMMENT ON VIEW finding_changes IS 'Per snapshot, each finding marked new, still_open, resolved, not_assessed or offboarded against what stood open before it (the previous analysed snapshot''s findings, and earlier ones not assessed since), with its status (open or suppressed).';

-- new and still_open count open findings, so that they add up to the snapshot's open ones
-- (a report said "20 open, 3 suppressed ... 6 new, 17 still open"); suppressed ones apart.
CREATE OR REPLACE VIEW snapshot_deltas AS
SELECT snapshot, any_value(previous_snapshot) AS previous_snapshot,
       count(*) FILTER (WHERE change = 'new' AND status = 'open') AS new,
       count(*) FILTER (WHERE change = 'still_open' AND status = 'open') AS still_open,
       count(*) FILTER (WHERE change = 'resolved') AS resolved,
       count(*) FILTER (WHERE change IN ('new', 'still_open') AND status <> 'open') AS suppressed,
       count(*) FILTER (WHERE change = 'not_assessed') AS not_assessed,
       count(*) FILTER (WHERE change = 'offboarded') AS offboarded
FROM finding_changes
GROUP BY snapshot;
COMMENT ON VIEW snapshot_deltas IS 'Per analysed snapshot against what stood open before it (finding_changes): open findings new and still open (together the snapshot''s open findings), findings resolved, findings suppressed, findings not assessed this time, and findings that end as their customer was offboarded.';

-- ------------------------------------------------------------------ effective access model
-- "Who can administer customer C, and how": one row per (holder, role, path). The rules and
-- the reports read these views; they never re-derive DAP or GDAP semantics themselves.

-- Every customer tenant in scope: named as a customer by a relationship (even when it is a
-- partner elsewhere: a partner can buy from another partner), or named by an export of its
-- own and not a partner tenant of the estate.
CREATE OR REPLACE VIEW customer_tenants AS
WITH named_customer AS (
    SELECT snapshot, tenant_id FROM tenants WHERE tenant_type = 'customer'
    UNION SELECT snapshot, customer_tenant_id FROM partner_relationships
          WHERE customer_tenant_id <> partner_tenant_id
    UNION SELECT snapshot, customer_tenant_id FROM gdap_relationships
          WHERE customer_tenant_id <> partner_tenant_id
    UNION SELECT snapshot, customer_tenant_id FROM dap_monitoring
          WHERE customer_tenant_id <> partner_tenant_id
),
exported AS (
    SELECT snapshot, tenant_id FROM directory_role_members
    UNION SELECT snapshot, tenant_id FROM azure_subscriptions
    UNION SELECT snapshot, tenant_id FROM azure_role_assignments
    UNION SELECT snapshot, tenant_id FROM autopilot_devices
),
partners AS (
    SELECT snapshot, tenant_id FROM tenants WHERE tenant_type = 'partner'
    UNION SELECT snapshot, partner_tenant_id FROM partner_relationships
    UNION SELECT snapshot, partner_tenant_id FROM gdap_relationships
    UNION SELECT snapshot, partner_tenant_id FROM dap_monitoring
    UNION SELECT snapshot, partner_tenant_id FROM partner_agent_groups
)
SELECT snapshot, tenant_id AS customer_tenant_id FROM named_customer
UNION
SELECT e.snapshot, e.tenant_id
FROM exported e
WHERE NOT EXISTS (SELECT 1 FROM partners p
                  WHERE p.snapshot = e.snapshot AND p.tenant_id = e.tenant_id);
COMMENT ON VIEW customer_tenants IS 'Every customer tenant in scope of a snapshot: named as a customer by a relationship (a partner buying from another partner included), or named by an export of its own and not a partner tenant.';

-- Directory role listing rows with the tenant each holder belongs to.
CREATE OR REPLACE VIEW directory_role_holders AS
WITH partner_groups AS (
    -- Groups of the customer's known partners: GDAP access assignments' security groups and
    -- the partners' agent groups. A listing may give one of them without an organizationId
    -- (formats.md: a principal may come back as null, with its id alone known).
    SELECT snapshot, customer_tenant_id, group_id, min(partner_tenant_id) AS partner_tenant_id
    FROM (SELECT g.snapshot, g.customer_tenant_id, g.partner_tenant_id,
                 a.security_group_id AS group_id
          FROM gdap_access_assignments a
          JOIN gdap_relationships g USING (snapshot, relationship_id)
          UNION ALL
          SELECT pa.snapshot, pa.customer_tenant_id, pa.partner_tenant_id, ag.group_id
          FROM partner_access pa
          JOIN partner_agent_groups ag
            ON ag.snapshot = pa.snapshot AND ag.partner_tenant_id = pa.partner_tenant_id)
    WHERE group_id IS NOT NULL
    GROUP BY ALL
),
holders AS (
    SELECT m.*,
           r.display_name AS role_name,
           coalesce(r.privileged, false) AS is_privileged_role,
           r.role_key = 'global_administrator' AS is_global_admin,
           -- A principal without an organizationId that is a known partner's group is that
           -- partner's (its id is the partner tenant's object); any other principal the
           -- listing tenant cannot resolve (type unknown, no organizationId) is foreign too:
           -- its tenant is simply not known.
           CASE WHEN m.principal_organization_id IS NOT NULL THEN m.principal_organization_id
                WHEN pg.partner_tenant_id IS NOT NULL THEN pg.partner_tenant_id
                WHEN m.principal_type = 'unknown' THEN NULL
                ELSE m.tenant_id END AS holder_tenant_id,
           (m.principal_organization_id IS NOT NULL AND m.principal_organization_id <> m.tenant_id)
               OR (m.principal_organization_id IS NULL
                   AND (m.principal_type = 'unknown' OR pg.partner_tenant_id IS NOT NULL))
               AS is_foreign,
           m.principal_organization_id IS NULL AND pg.partner_tenant_id IS NOT NULL
               AS is_partner_group
    FROM directory_role_members m
    LEFT JOIN ref_directory_roles r USING (role_template_id)
    LEFT JOIN partner_groups pg
           ON pg.snapshot = m.snapshot AND pg.customer_tenant_id = m.tenant_id
          AND pg.group_id = m.principal_id
)
SELECT h.*, pa.partner_tenant_id IS NOT NULL AS is_known_partner
FROM holders h
LEFT JOIN partner_access pa
       ON pa.snapshot = h.snapshot AND pa.customer_tenant_id = h.tenant_id
      AND pa.partner_tenant_id = h.holder_tenant_id
      AND h.holder_tenant_id <> h.tenant_id;
COMMENT ON VIEW directory_role_holders IS 'Directory role listing rows with holder_tenant_id (NULL when unresolvable), is_foreign (another tenant or unresolvable), is_partner_group (listed without an organizationId, yet a GDAP or agent group of a known partner), is_known_partner (a partner of the customer by contract, DAP, GDAP or partner list), role name and privilege.';

-- Partner group members, those of the groups nested in it at any depth included (Graph's
-- /members is not transitive, and a GDAP group is often nested in AdminAgents: formats.md), or
-- one row standing for the group when its members were not exported.
CREATE OR REPLACE VIEW partner_group_expansion AS
WITH RECURSIVE groups AS (
    SELECT snapshot, partner_tenant_id, group_id FROM partner_agent_groups
    UNION SELECT snapshot, partner_tenant_id, group_id FROM partner_group_members
),
-- The groups whose members are a group's: itself and every group nested in it. UNION keeps
-- each pair once, so a cycle of groups ends.
reach AS (
    SELECT snapshot, partner_tenant_id, group_id, group_id AS inner_id FROM groups
    UNION
    SELECT r.snapshot, r.partner_tenant_id, r.group_id, m.member_id
    FROM reach r
    JOIN partner_group_members m
      ON m.snapshot = r.snapshot AND m.partner_tenant_id = r.partner_tenant_id
     AND m.group_id = r.inner_id
    WHERE m.member_type = 'group'
),
members AS (
    SELECT r.snapshot, r.partner_tenant_id, r.group_id, m.member_id, m.member_type,
           m.member_display_name, m.member_upn, m.source_file_id, m.source_record
    FROM reach r
    JOIN partner_group_members m
      ON m.snapshot = r.snapshot AND m.partner_tenant_id = r.partner_tenant_id
     AND m.group_id = r.inner_id
    WHERE m.member_id <> r.group_id  -- a group nested in itself through a cycle
    -- A member listed directly and through a nested group, or twice, is one member: the row
    -- of its direct listing, else its first.
    QUALIFY row_number() OVER (
        PARTITION BY r.snapshot, r.partner_tenant_id, r.group_id, m.member_id
        ORDER BY m.group_id <> r.group_id, m.source_file_id, m.source_record) = 1
),
exported AS (
    SELECT DISTINCT snapshot, partner_tenant_id, group_id FROM partner_group_members
)
SELECT g.snapshot, g.partner_tenant_id, g.group_id, m.member_id, m.member_type,
       m.member_display_name, m.member_upn, m.source_file_id AS member_source_file_id,
       m.source_record AS member_source_record,
       e.group_id IS NOT NULL AS members_known
FROM groups g
LEFT JOIN exported e USING (snapshot, partner_tenant_id, group_id)
LEFT JOIN members m USING (snapshot, partner_tenant_id, group_id);
COMMENT ON VIEW partner_group_expansion IS 'Each known partner group with its exported members, those of the groups nested in it at any depth included (once each), or one row with NULL member when its members were not exported (members_known).';

CREATE OR REPLACE VIEW effective_directory_access AS
WITH gdap_groups AS (
    -- Partner groups given roles in C through an access assignment of a GDAP relationship.
    SELECT DISTINCT g.snapshot, g.customer_tenant_id, g.partner_tenant_id, g.relationship_id,
           g.is_active, a.security_group_id, a.role_template_id, a.status AS assignment_status
    FROM gdap_relationship_state g
    JOIN gdap_access_assignments a USING (snapshot, relationship_id)
),
listed AS (
    SELECT h.snapshot, h.tenant_id AS customer_tenant_id, h.role_template_id,
           CASE WHEN NOT h.is_foreign THEN 'listed_own'
                WHEN h.is_known_partner THEN 'listed_partner'
                ELSE 'listed_foreign' END AS path,
           'listed' AS access,
           CASE WHEN h.is_foreign THEN h.holder_tenant_id END AS partner_tenant_id,
           (SELECT min(gg.relationship_id) FROM gdap_groups gg
            WHERE gg.snapshot = h.snapshot AND gg.customer_tenant_id = h.tenant_id
              AND gg.partner_tenant_id = h.holder_tenant_id
              AND gg.security_group_id = h.principal_id) AS relationship_id,
           CASE WHEN (h.principal_type = 'group' OR h.is_partner_group) AND h.is_foreign
                THEN h.principal_id END AS via_group_id,
           CASE WHEN (h.principal_type = 'group' OR h.is_partner_group) AND h.is_foreign
                THEN h.principal_display_name END AS via_group_name,
           h.principal_id AS listed_principal_id, h.principal_type AS listed_principal_type,
           h.principal_display_name AS listed_display_name, h.principal_upn AS listed_upn,
           h.source_file_id, h.source_record
    FROM directory_role_holders h
),
paths AS (
    -- 1. Listed: the customer's own principals, foreign ones expanded to the partner group's
    --    members where the partner side was exported.
    SELECT l.snapshot, l.customer_tenant_id, l.role_template_id, l.path, l.access,
           l.partner_tenant_id, l.relationship_id, l.via_group_id, l.via_group_name,
           coalesce(x.member_id, l.listed_principal_id) AS principal_id,
           coalesce(x.member_type, l.listed_principal_type) AS principal_type,
           CASE WHEN x.member_id IS NULL THEN l.listed_display_name ELSE x.member_display_name END
               AS principal_display_name,
           CASE WHEN x.member_id IS NULL THEN l.listed_upn ELSE x.member_upn END AS principal_upn,
           CASE WHEN l.via_group_id IS NULL THEN NULL ELSE coalesce(x.members_known, false) END
               AS members_known,
           l.source_file_id, l.source_record
    FROM listed l
    LEFT JOIN partner_group_expansion x
           ON x.snapshot = l.snapshot AND x.partner_tenant_id = l.partner_tenant_id
          AND x.group_id = l.via_group_id AND x.members_known
    UNION ALL
    -- 2. Implicit through DAP: AdminAgents and HelpdeskAgents of each partner holding DAP in C.
    SELECT pa.snapshot, pa.customer_tenant_id, i.role_template_id, 'implicit_dap', 'implicit',
           pa.partner_tenant_id, NULL, ag.group_id, ag.display_name,
           coalesce(x.member_id, ag.group_id), coalesce(x.member_type, CASE WHEN ag.group_id IS NOT NULL THEN 'group' END),
           coalesce(x.member_display_name, ag.display_name), x.member_upn,
           coalesce(x.members_known, false),
           coalesce(x.member_source_file_id, ag.source_file_id), coalesce(x.member_source_record, ag.source_record)
    FROM partner_access pa
    CROSS JOIN dap_implicit_roles i
    LEFT JOIN partner_agent_groups ag
           ON ag.snapshot = pa.snapshot AND ag.partner_tenant_id = pa.partner_tenant_id
          AND ag.agent_role = i.agent_role
    LEFT JOIN partner_group_expansion x
           ON x.snapshot = ag.snapshot AND x.partner_tenant_id = ag.partner_tenant_id
          AND x.group_id = ag.group_id AND x.members_known
    WHERE pa.dap_enabled
    UNION ALL
    -- 3. GDAP: roles of active access assignments of active relationships, through their groups.
    SELECT g.snapshot, g.customer_tenant_id, g.role_template_id, 'gdap_assignment', 'assigned',
           g.partner_tenant_id, g.relationship_id, g.security_group_id, ag.display_name,
           coalesce(x.member_id, g.security_group_id), coalesce(x.member_type, 'group'),
           coalesce(x.member_display_name, ag.display_name), x.member_upn,
           coalesce(x.members_known, false),
           x.member_source_file_id, x.member_source_record
    FROM gdap_groups g
    LEFT JOIN partner_agent_groups ag
           ON ag.snapshot = g.snapshot AND ag.partner_tenant_id = g.partner_tenant_id
          AND ag.group_id = g.security_group_id
    LEFT JOIN partner_group_expansion x
           ON x.snapshot = g.snapshot AND x.partner_tenant_id = g.partner_tenant_id
          AND x.group_id = g.security_group_id AND x.members_known
    WHERE g.is_active AND lower(g.assignment_status) = 'active'
)
SELECT p.snapshot, p.customer_tenant_id, p.role_template_id, r.display_name AS role_name,
       coalesce(r.privileged, false) AS is_privileged_role,
       p.* EXCLUDE (snapshot, customer_tenant_id, role_template_id)
FROM paths p
LEFT JOIN ref_directory_roles r USING (role_template_id);
COMMENT ON VIEW effective_directory_access IS 'Who holds which directory role in customer C, and how. path: listed_own (C''s own principal in its role listing), listed_partner (a known partner''s group or user in the listing, matched to its GDAP access assignment when the partner side was exported; expanded to the group''s members when known), listed_foreign (a principal of an unknown or unresolvable tenant), implicit_dap (AdminAgents -> Global Administrator, HelpdeskAgents -> Helpdesk Administrator of a partner holding DAP, never listed; expanded to members when known, else one row for the group), gdap_assignment (partner-side: an active access assignment of an active GDAP relationship). access: listed, implicit or assigned. via_group_*: the group the access flows through; members_known: FALSE when the row stands for a group whose members were not exported. source_*: the listing, group-member or agent-group row behind it.';

-- Azure role assignments on C's subscriptions with who holds them and through which partner.
CREATE OR REPLACE VIEW effective_azure_access AS
SELECT a.snapshot, a.tenant_id AS customer_tenant_id, a.subscription_id,
       s.display_name AS subscription_name, a.scope, a.role_definition_id, a.role_name,
       a.is_privileged_role, a.principal_id, a.principal_type, a.principal_display_name,
       CASE WHEN a.partner_tenant_id IS NOT NULL AND a.agent_role IS NOT NULL THEN 'partner_agent_group'
            WHEN a.partner_tenant_id IS NOT NULL THEN 'partner_foreign_principal'
            WHEN a.is_foreign THEN 'unknown_foreign'
            ELSE 'own' END AS path,
       a.partner_tenant_id, a.agent_role, a.matched_by,
       coalesce(pa.dap_enabled, false) AS partner_holds_dap,
       coalesce(pa.active_gdap_relationships, 0) AS partner_active_gdap_relationships,
       pa.partner_tenant_id IS NOT NULL AS is_known_partner,
       a.source_file_id, a.source_record
FROM azure_assignment_partners a
-- The subscription's name as its own tenant lists it: a subscription moved between tenants is
-- listed by both, and one customer's name for it must not appear in another's findings.
LEFT JOIN (SELECT snapshot, tenant_id, subscription_id, min(display_name) AS display_name
           FROM azure_subscriptions GROUP BY ALL) s
       ON s.snapshot = a.snapshot AND s.subscription_id = a.subscription_id
      AND s.tenant_id = a.tenant_id
LEFT JOIN partner_access pa
       ON pa.snapshot = a.snapshot AND pa.customer_tenant_id = a.tenant_id
      AND pa.partner_tenant_id = a.partner_tenant_id;
COMMENT ON VIEW effective_azure_access IS 'Azure role assignments on customer subscriptions with path: own, partner_agent_group (a partner''s AdminAgents/HelpdeskAgents by object id), partner_foreign_principal (a foreign principal naming a known partner), unknown_foreign (a foreign principal tied to no partner); with whether that partner still holds DAP or an active GDAP relationship in C.';

-- The implicit DAP grant findings of one agent role (admin_agents: Global Administrator,
-- helpdesk_agents: Helpdesk Administrator) in one snapshot: partner P holds DAP in customer C,
-- so P's agent group holds the role in C, and C's own role listing does not show it. One row
-- per (C, P) in the rule output shape. The two DAP-IMPLICIT rules are this macro, once each.
CREATE OR REPLACE MACRO dap_implicit_grant_findings(p_snapshot, p_agent_role) AS TABLE
    WITH role AS (
        SELECT i.agent_role, i.agent_group, i.role_template_id, i.role_name
        FROM dap_implicit_roles i WHERE i.agent_role = p_agent_role
    ),
    dap AS (
        SELECT pa.customer_tenant_id, pa.partner_tenant_id, pa.partner_name
        FROM partner_access pa
        WHERE pa.snapshot = p_snapshot AND pa.dap_enabled
    ),
    dap_sources AS (
        SELECT r.customer_tenant_id, r.partner_tenant_id,
               list(json_object('dataset', 'partner_relationships', 'file', sf.path,
                                'record', r.source_record) ORDER BY sf.path, r.source_record) AS refs
        FROM partner_relationships r
        JOIN source_refs sf ON sf.snapshot = r.snapshot AND sf.source_file_id = r.source_file_id
        WHERE r.snapshot = p_snapshot AND r.dap_enabled
        GROUP BY ALL
        UNION ALL
        SELECT m.customer_tenant_id, m.partner_tenant_id,
               list(json_object('dataset', 'dap_monitoring', 'file', sf.path,
                                'record', m.source_record) ORDER BY sf.path, m.source_record)
        FROM dap_monitoring m
        JOIN source_refs sf ON sf.snapshot = m.snapshot AND sf.source_file_id = m.source_file_id
        WHERE m.snapshot = p_snapshot AND m.dap_enabled
        GROUP BY ALL
    ),
    dap_refs AS (
        SELECT customer_tenant_id, partner_tenant_id, flatten(list(refs ORDER BY refs)) AS refs
        FROM dap_sources GROUP BY ALL
    ),
    agent_groups AS (
        -- One row per group, exported twice or not: its members and evidence once.
        SELECT g.partner_tenant_id, g.group_id, min(g.display_name) AS display_name
        FROM partner_agent_groups g, role
        WHERE g.snapshot = p_snapshot AND g.agent_role = role.agent_role
        GROUP BY ALL
    ),
    members AS (
        SELECT g.partner_tenant_id,
               list(json_object('member_id', m.member_id, 'display_name', m.member_display_name,
                                'upn', m.member_upn, 'type', m.member_type,
                                'file', sf.path, 'record', m.member_source_record)
                    ORDER BY m.member_upn, m.member_id) AS members,
               count(DISTINCT m.member_id) FILTER (WHERE m.member_type = 'user') AS users,
               count(DISTINCT m.member_id) FILTER (WHERE m.member_type <> 'user') AS others
        FROM agent_groups g
        JOIN partner_group_expansion m  -- members of its nested groups too
          ON m.snapshot = p_snapshot AND m.partner_tenant_id = g.partner_tenant_id
         AND m.group_id = g.group_id AND m.member_id IS NOT NULL
        JOIN source_refs sf
          ON sf.snapshot = m.snapshot AND sf.source_file_id = m.member_source_file_id
        GROUP BY ALL
    ),
    listed AS (
        -- The rare case where C's listing does show P's agent group in the role: not implicit.
        SELECT DISTINCT d.customer_tenant_id, d.partner_tenant_id
        FROM dap d
        JOIN agent_groups g ON g.partner_tenant_id = d.partner_tenant_id
        JOIN directory_role_members l
          ON l.snapshot = p_snapshot AND l.tenant_id = d.customer_tenant_id
         AND l.principal_id = g.group_id
        JOIN role ON l.role_template_id = role.role_template_id
    )
    SELECT d.customer_tenant_id,
           d.partner_tenant_id,
           role.role_template_id AS subject,
           NULL AS discriminator,
           format('{} holds DAP in {}: its {} group is implicitly {} there, and the '
                  'tenant''s role listing does not show it{}.',
                  coalesce(d.partner_name, p.display_name, d.partner_tenant_id),
                  coalesce(c.display_name, c.default_domain, d.customer_tenant_id),
                  role.agent_group,
                  role.role_name,
                  CASE WHEN m.members IS NULL THEN ''
                       ELSE format(' ({} partner user{}{})', m.users,
                                   CASE WHEN m.users = 1 THEN '' ELSE 's' END,
                                   CASE WHEN m.others = 0 THEN ''
                                        WHEN m.others = 1 THEN ' and a nested group'
                                        ELSE format(' and {} nested groups', m.others) END) END) AS title,
           json_object(
               'dap_sources', coalesce(r.refs, []),
               'role_template_id', role.role_template_id,
               'role_name', role.role_name,
               'agent_groups', coalesce((SELECT list(json_object('group_id', g.group_id,
                                                                 'display_name', g.display_name)
                                                     ORDER BY g.group_id)
                                         FROM agent_groups g
                                         WHERE g.partner_tenant_id = d.partner_tenant_id), []),
               'agent_group_members_known', m.members IS NOT NULL,
               'agent_group_members', coalesce(m.members, [])
           ) AS evidence,
           NULL AS severity
    FROM dap d
    CROSS JOIN role
    LEFT JOIN dap_refs r USING (customer_tenant_id, partner_tenant_id)
    LEFT JOIN members m ON m.partner_tenant_id = d.partner_tenant_id
    LEFT JOIN tenant_directory c ON c.snapshot = p_snapshot AND c.tenant_id = d.customer_tenant_id
    LEFT JOIN tenant_directory p ON p.snapshot = p_snapshot AND p.tenant_id = d.partner_tenant_id
    WHERE NOT EXISTS (
        SELECT 1 FROM listed x
        WHERE x.customer_tenant_id = d.customer_tenant_id AND x.partner_tenant_id = d.partner_tenant_id
    );
