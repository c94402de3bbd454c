"""Benchmark: the monthly report of a synthetic 1,000- and 10,000-tenant estate.

Not a test (pytest does not collect this file): run it by hand.

    PYTHONPATH=src python3 tests/bench_reports.py            # 1,000 and 10,000 tenants
    PYTHONPATH=src python3 tests/bench_reports.py 1000       # one size

Each estate is written as canonical CSV by DuckDB (generate_series, no Python row loops), then
ingested and analysed, then the monthly report is rendered as HTML and as PDF. Every phase
runs in its own child process so that its peak resident memory (ru_maxrss: Python, Jinja2,
WeasyPrint and DuckDB together) is its own; DuckDB's share is read from duckdb_memory().
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

SNAPSHOT = "2026-11"
AS_OF = date(2026, 11, 30)
PARTNERS = 20

# One SQL statement per canonical file. $n is the number of customer tenants. Ids are GUIDs
# derived from md5 so that every run builds the same estate.
GUID = (
    "lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' "
    "|| substr(h, 17, 4) || '-' || substr(h, 21, 12))"
)
ESTATE = {
    "tenants.csv": f"""
        SELECT {GUID} AS tenant_id, name AS display_name, domain AS default_domain, tenant_type
        FROM (SELECT md5('c' || i) AS h, 'Customer ' || i AS name,
                     'customer' || i || '.onmicrosoft.com' AS domain, 'customer' AS tenant_type
              FROM generate_series(1, $n) t(i)
              UNION ALL
              SELECT md5('p' || i), 'Partner ' || i, 'partner' || i || '.onmicrosoft.com',
                     'partner'
              FROM generate_series(1, {PARTNERS}) t(i))
        ORDER BY tenant_type, tenant_id""",
    "partner_relationships.csv": f"""
        SELECT {GUID.replace("h", "c")} AS customer_tenant_id,
               {GUID.replace("h", "p")} AS partner_tenant_id,
               'Partner ' || (i % {PARTNERS} + 1) AS partner_name, 'reseller' AS relationship_type,
               i % 3 = 0 AS dap_enabled, DATE '2019-01-01' AS dap_granted_on,
               CASE WHEN i % 3 = 1 THEN DATE '2025-06-01' END AS dap_removed_on,
               NULL::DATE AS relationship_ended_on
        FROM (SELECT i, md5('c' || i) AS c, md5('p' || (i % {PARTNERS} + 1)) AS p
              FROM generate_series(1, $n) t(i))
        ORDER BY i""",
    "directory_role_members.csv": f"""
        SELECT {GUID.replace("h", "c")} AS tenant_id,
               CASE WHEN k <= 2 + i % 5 THEN '62e90394-69f5-4237-9190-012177145e10'
                    ELSE 'fe930be7-5e62-47db-91af-98c3a49a38b1' END AS role_template_id,
               {GUID.replace("h", "u")} AS principal_id, 'user' AS principal_type,
               'Admin ' || k AS principal_display_name,
               'admin' || k || '@customer' || i || '.example' AS principal_upn,
               NULL AS principal_organization_id, '/' AS directory_scope_id
        FROM (SELECT i, k, md5('c' || i) AS c, md5('u' || i || '-' || k) AS u
              FROM generate_series(1, $n) t(i), generate_series(1, 8) s(k)
              WHERE k <= 3 + i % 5 AND i % 50 <> 0)
        ORDER BY i, k""",
    "azure_subscriptions.csv": f"""
        SELECT {GUID.replace("h", "s")} AS subscription_id, {GUID.replace("h", "c")} AS tenant_id,
               'Production ' || i AS display_name, 'Enabled' AS state
        FROM (SELECT i, md5('c' || i) AS c, md5('s' || i) AS s FROM generate_series(1, $n) t(i))
        ORDER BY i""",
    "azure_role_assignments.csv": f"""
        SELECT {GUID.replace("h", "c")} AS tenant_id,
               '/subscriptions/' || {GUID.replace("h", "s")} AS scope,
               '8e3af657-a8ff-443c-a75c-2fe8c4bcb635' AS role_definition_id,
               'Owner' AS role_definition_name, {GUID.replace("h", "g")} AS principal_id,
               'foreignGroup' AS principal_type,
               'Foreign Principal for ''Partner ' || (i % {PARTNERS} + 1)
                   || ''' in role ''TenantAdmins'' (Customer ' || i || ')'
                   AS principal_display_name,
               {GUID.replace("h", "a")} AS assignment_id
        FROM (SELECT i, md5('c' || i) AS c, md5('s' || i) AS s,
                     md5('g-admin-' || (i % {PARTNERS} + 1)) AS g, md5('a' || i) AS a
              FROM generate_series(1, $n) t(i)
              WHERE i % 50 <> 0)
        ORDER BY i""",
    "partner_agent_groups.csv": f"""
        SELECT {GUID.replace("h", "p")} AS partner_tenant_id, {GUID.replace("h", "g")} AS group_id,
               name AS display_name, role AS agent_role
        FROM (SELECT i, md5('p' || i) AS p, md5('g-' || r.key || '-' || i) AS g, r.name, r.role
              FROM generate_series(1, {PARTNERS}) t(i),
                   (VALUES ('admin', 'AdminAgents', 'admin_agents'),
                           ('helpdesk', 'HelpdeskAgents', 'helpdesk_agents')) r(key, name, role))
        ORDER BY i, role""",
    "partner_group_members.csv": f"""
        SELECT {GUID.replace("h", "p")} AS partner_tenant_id, {GUID.replace("h", "g")} AS group_id,
               {GUID.replace("h", "m")} AS member_id, 'user' AS member_type,
               'Agent ' || i || '-' || k AS member_display_name,
               'agent' || k || '@partner' || i || '.example' AS member_upn
        FROM (SELECT i, k, md5('p' || i) AS p, md5('g-admin-' || i) AS g,
                     md5('m' || i || '-' || k) AS m
              FROM generate_series(1, {PARTNERS}) t(i), generate_series(1, 5) s(k))
        ORDER BY i, k""",
}


def write_estate(folder: Path, customers: int) -> None:
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for name, sql in ESTATE.items():
        query = sql.replace("$n", str(int(customers)))  # an int of our own, not user input
        target = str(folder / name).replace("'", "''")
        con.execute(f"COPY ({query}) TO '{target}' (HEADER, DELIMITER ',')")
    con.close()


def phase(name: str, work: Path, customers: int) -> dict:
    """Run one phase in this process; return its time and what it produced."""
    from dapaudit import db
    from dapaudit.config import Config

    started = time.perf_counter()
    info: dict = {}
    if name == "prepare":
        from dapaudit.analyze import analyze
        from dapaudit.ingest import ingest

        write_estate(work / "estate", customers)
        con = db.connect(work / "bench.duckdb")
        ingest(con, [work / "estate"], snapshot=SNAPSHOT, as_of=AS_OF)
        analyze(con, SNAPSHOT, Config())
        info["findings"] = con.execute("SELECT count(*) FROM findings").fetchone()[0]
        info["duckdb_memory_mb"] = round(
            con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0] / 1e6,
            1,
        )
        con.close()
    else:
        from dapaudit.report.service import write_monthly

        con = db.connect(work / "bench.duckdb", read_only=True)
        written = write_monthly(con, SNAPSHOT, work / "out", [name], Config())
        info["duckdb_memory_mb"] = round(
            con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0] / 1e6,
            1,
        )
        con.close()
        info["size_mb"] = round(written[0].stat().st_size / 1e6, 2)
        if name == "pdf":
            import pypdf

            info["pages"] = len(pypdf.PdfReader(written[0]).pages)
    info["seconds"] = round(time.perf_counter() - started, 2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    info["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)  # honest on a busy machine
    info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return info


def main(sizes: list[int]) -> None:
    print(
        f"{'tenants':>8} {'phase':>8} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} "
        f"{'DuckDB MB':>10}  output"
    )
    for customers in sizes:
        with tempfile.TemporaryDirectory(prefix="dapaudit-bench-") as tmp:
            for name in ("prepare", "html", "pdf"):
                child = subprocess.run(
                    [sys.executable, __file__, "--phase", name, tmp, str(customers)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                info = json.loads(child.stdout.strip().splitlines()[-1])
                extra = {
                    k: v
                    for k, v in info.items()
                    if k not in ("seconds", "cpu_seconds", "peak_rss_mb", "duckdb_memory_mb")
                }
                print(
                    f"{customers:>8} {name:>8} {info['seconds']:>8} {info['cpu_seconds']:>8} "
                    f"{info['peak_rss_mb']:>12} "
                    f"{info['duckdb_memory_mb']:>10}  {extra}",
                    flush=True,
                )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        print(json.dumps(phase(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))))
    else:
        main([int(a) for a in sys.argv[1:]] or [1000, 10000])
