-- DAP-IMPLICIT-GLOBAL-ADMIN: partner P holds DAP in customer C, so P's AdminAgents group is
-- Global Administrator of C, and C's own role listing does not show it.
-- Output: one row per (C, P). Parameters: $snapshot. The logic, shared with the other
-- DAP-IMPLICIT rule, is the dap_implicit_grant_findings macro in views.sql.
SELECT * FROM dap_implicit_grant_findings($snapshot, 'admin_agents')
