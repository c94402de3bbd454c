"""Run the rules on a snapshot and store its findings, with fingerprints, first_seen,
suppressions and a stable order. Re-running replaces the snapshot's findings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import duckdb

from . import faults, jobs
from .config import Config
from .db import checkpoint_small, ensure_current_views, threads_kept, transaction, views_current
from .errors import DapauditError
from .faults import checkpoint
from .machine import usable_cpus
from .rules import SEVERITIES, Rule, all_rules


@dataclass
class AnalyzeReport:
    snapshot: str
    counts: dict[str, int] = field(default_factory=dict)  # by severity, open only
    total: int = 0
    suppressed: int = 0
    stale_suppressions: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)  # expired suppressions, as messages
    # [[offboarded_customers]] naming no known tenant, or a customer with findings after it left.
    offboarded_notes: list[str] = field(default_factory=list)

    def worst_open(self) -> str | None:
        for sev in SEVERITIES:
            if self.counts.get(sev):
                return sev
        return None


def latest_snapshot(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute(
        "SELECT snapshot FROM snapshots ORDER BY as_of DESC, snapshot DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def resolve_analysed(con: duckdb.DuckDBPyConnection, snapshot: str | None) -> str:
    """resolve_snapshot(), for commands that read findings: the snapshot must be analysed since
    its files and date last changed, else its findings (none, or out of date) would pass for
    the audit's result."""
    snapshot = resolve_snapshot(con, snapshot)
    if con.execute(
        "SELECT analyzed_at IS NULL FROM snapshots WHERE snapshot = ?", [snapshot]
    ).fetchone()[0]:
        raise DapauditError(
            f"snapshot {snapshot} has not been analysed since its files or reference date last "
            f"changed: run `dapaudit analyze --snapshot {snapshot}` first"
        )
    return snapshot


def resolve_snapshot(con: duckdb.DuckDBPyConnection, snapshot: str | None) -> str:
    """The named snapshot (which must exist), or the latest one."""
    if snapshot is None:
        snapshot = latest_snapshot(con)
        if snapshot is None:
            raise DapauditError("the database holds no snapshot yet; run `dapaudit ingest` first")
        return snapshot
    if not con.execute("SELECT 1 FROM snapshots WHERE snapshot = ?", [snapshot]).fetchone():
        known = [r[0] for r in con.execute("SELECT snapshot FROM snapshots ORDER BY 1").fetchall()]
        raise DapauditError(
            f"no snapshot {snapshot!r} in the database (known: {', '.join(known) or 'none'})"
        )
    return snapshot


# Views that several rules read, in dependency order. analyze computes each once, for the
# snapshot being analysed, as a TEMP table: it shadows the view of the same name (inside
# other views too) while the rules run, instead of each rule recomputing it for every
# snapshot in the database. At 100,000 customers this halves the time of analyze.
SHARED_VIEWS = ("gdap_relationship_state", "partner_access", "tenant_directory")


def _materialise_shared_views(con: duckdb.DuckDBPyConnection, snapshot: str) -> list[str]:
    present = {
        r[0]
        for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'main'"
        ).fetchall()
    }
    done = []
    for name in SHARED_VIEWS:
        if name in present:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {name} AS "
                f"SELECT * FROM main.{name} WHERE snapshot = ?",
                [snapshot],
            )
            done.append(name)
    return done


RULE_OUTPUT_COLUMNS = """rule_id VARCHAR, customer_tenant_id VARCHAR, partner_tenant_id VARCHAR,
    subject VARCHAR, discriminator VARCHAR, title VARCHAR, evidence JSON, severity VARCHAR"""

# DuckDB splits a table scan between its threads by row group, of 122,880 rows: a rule whose
# tables each fit in one runs on one core whatever `threads` says. On a snapshot that small,
# analyze runs the rules on a connection per core instead, each taking the next rule as it
# finishes one. (Above it DuckDB already uses every core within each rule, and two rules at
# once would only hold twice the memory.)
ROW_GROUP_ROWS = 122_880
# The rules' output when they run alongside: an in-memory database attached for the command,
# which every connection of this process sees (a TEMP table is its own connection's).
RULES_WORK_DB = "dapaudit_rules_work"


def rule_workers(con: duckdb.DuckDBPyConnection, snapshot: str, rules: int) -> int:
    """How many connections run the rules: one (in the analyze transaction) unless the snapshot
    is small, there are cores to spare and the database holds this build's views (the rules
    run alongside before that transaction, on what is committed)."""
    cpus = usable_cpus()
    if rules < 2 or cpus < 2 or faults.active() or not views_current(con):
        return 1
    # The rows of the snapshot's largest export kind: a table filled by one kind holds no more.
    largest = con.execute(
        "SELECT coalesce(max(n), 0) FROM (SELECT sum(row_count) AS n FROM source_files "
        "WHERE snapshot = ? GROUP BY kind)",
        [snapshot],
    ).fetchone()[0]
    return min(cpus, rules) if largest <= ROW_GROUP_ROWS else 1


# Whether suppression `s` (a row of suppressions_cfg) matches `r`, a rule's output or a
# finding: one definition for the findings insert and for telling stale suppressions.
SUPPRESSION_MATCH = """s.rule_id = r.rule_id
    AND (s.tenant IS NULL OR s.tenant = r.customer_tenant_id)
    AND (s.partner IS NULL OR s.partner = r.partner_tenant_id)
    AND (s.subject IS NULL OR lower(s.subject) = lower(r.subject))"""


def _run_rule(
    con: duckdb.DuckDBPyConnection, table: str, rule: Rule, params: dict[str, object]
) -> None:
    try:
        con.execute(
            f"INSERT INTO {table} SELECT $rule_id::VARCHAR AS rule_id, "
            "customer_tenant_id, partner_tenant_id, subject, discriminator, title, "
            "evidence, severity "
            f"FROM ({rule.sql})",
            {**params, "rule_id": rule.id},
        )
    except duckdb.InterruptException:
        raise
    except duckdb.CatalogException as exc:  # a table or view dropped from the database by hand
        first = str(exc).strip().splitlines()[0]
        raise DapauditError(
            f"rule {rule.id} cannot run: {first}. The database lacks a table or view dapaudit "
            "made; `dapaudit check` lists what is missing"
        ) from None
    except duckdb.Error as exc:  # a rule that does not run is a bug, name it
        raise RuntimeError(f"rule {rule.id} ({rule.file}.sql) failed: {exc}") from exc


def _run_rules_alongside(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    rule_jobs: list[tuple[Rule, dict[str, object]]],
    workers: int,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """Every rule into RULES_WORK_DB.rule_output, on `workers` connections in threads (DuckDB
    releases the GIL while it plans and runs); each connection materialises the shared views
    first. A failing rule stops the rules not started yet."""
    con.execute(f"CREATE TABLE {RULES_WORK_DB}.rule_output ({RULE_OUTPUT_COLUMNS})")
    table = f"{RULES_WORK_DB}.rule_output"

    def done(n: int) -> None:
        if progress:
            progress("rules", n, len(rule_jobs))

    jobs.run(
        con,
        [frozenset()] * len(rule_jobs),
        lambda cur, i: _run_rule(cur, table, *rule_jobs[i]),
        workers=workers,
        setup=lambda cur: _materialise_shared_views(cur, snapshot),
        before=lambda i, finished: None,
        done=done,
    )


def analyze(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    config: Config,
    progress: Callable[[str, int, int], None] | None = None,
    workers: int | None = None,
) -> AnalyzeReport:
    """Run the enabled rules on `snapshot` and replace its findings, in one transaction.
    `workers`: connections that run the rules (default: rule_workers())."""
    as_of = con.execute("SELECT as_of FROM snapshots WHERE snapshot = ?", [snapshot]).fetchone()[0]
    rules = [r for r in all_rules() if config.enabled(r.id)]
    jobs = []
    for rule in rules:
        values = {"snapshot": snapshot, "as_of": as_of, **config.params(rule.id, rule.params)}
        jobs.append((rule, {k: v for k, v in values.items() if k in rule.parameters()}))
    if workers is None:
        workers = rule_workers(con, snapshot, len(jobs))
    if workers <= 1:
        report = _analyze_in_transaction(con, snapshot, config, as_of, jobs, progress)
    else:
        # One an earlier analyze on this connection could not detach is replaced, not an error.
        con.execute(f"DETACH DATABASE IF EXISTS {RULES_WORK_DB}")
        con.execute(f"ATTACH ':memory:' AS {RULES_WORK_DB}")
        try:
            with threads_kept(con) as threads:
                # Each rule runs on one core anyway (see ROW_GROUP_ROWS): each connection runs
                # its rule on its own thread, and DuckDB's threads would only hand work over.
                if threads > 1:
                    con.execute("SET threads = 1")
                _run_rules_alongside(con, snapshot, jobs, workers, progress)
                report = _analyze_in_transaction(
                    con, snapshot, config, as_of, jobs, progress, alongside=True
                )
        finally:
            with contextlib.suppress(duckdb.Error):  # never in the way of an error going out
                con.execute(f"DETACH {RULES_WORK_DB}")
    checkpoint_small(con)  # small findings: into the file now, without FSST
    return report


def _analyze_in_transaction(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    config: Config,
    as_of: date,
    jobs: list[tuple[Rule, dict[str, object]]],
    progress: Callable[[str, int, int], None] | None,
    *,
    alongside: bool = False,
) -> AnalyzeReport:
    """The transaction of analyze: the rules' output (run here, or `alongside` already) becomes
    the snapshot's findings."""
    rules = [rule for rule, _ in jobs]
    with transaction(con):
        # The rules are written against the views of this version: a database created by an
        # earlier build (same schema version) may hold older ones. (When the rules ran
        # alongside, rule_workers() found them current, and this process holds the file.)
        if not alongside:
            ensure_current_views(con)
        con.execute(f"CREATE OR REPLACE TEMP TABLE rule_output ({RULE_OUTPUT_COLUMNS})")
        con.execute(
            """CREATE OR REPLACE TEMP TABLE rule_meta (
                rule_id VARCHAR, default_severity VARCHAR, controls VARCHAR[])"""
        )
        if alongside:  # the rules ran before this transaction
            con.execute(f"INSERT INTO rule_output SELECT * FROM {RULES_WORK_DB}.rule_output")
        else:
            shared = _materialise_shared_views(con, snapshot)
            for n, (rule, params) in enumerate(jobs, 1):
                _run_rule(con, "rule_output", rule, params)
                if n == 1:
                    checkpoint("analyze.first-rule")
                if progress:
                    progress("rules", n, len(jobs))
            for name in shared:
                con.execute(f"DROP TABLE temp.{name}")
        # One statement for every rule's metadata (a statement each cost 2 ms to plan).
        con.execute(
            "INSERT INTO rule_meta SELECT unnest($ids::VARCHAR[]), unnest($severities::VARCHAR[]), "
            "unnest($controls::VARCHAR[][])",
            {
                "ids": [r.id for r in rules],
                "severities": [config.severity(r.id) or r.severity for r in rules],
                "controls": [list(r.controls) for r in rules],
            },
        )
        # Which rules this analysis ran, and from which tables: finding_changes tells a finding
        # of a rule turned off, or one whose export is missing now, from a resolved one.
        # Every rule, run or not: with every rule turned off there is still a record that this
        # analysis knew which ran (none), not a snapshot that looks analysed before it.
        ran = {r.id for r in rules}
        every = all_rules()
        con.execute("DELETE FROM analysis_rules WHERE snapshot = ?", [snapshot])
        con.execute(
            "INSERT INTO analysis_rules SELECT $snapshot, unnest($ids::VARCHAR[]), "
            "unnest($ran::BOOLEAN[]), unnest($needs::VARCHAR[][])",
            {
                "snapshot": snapshot,
                "ids": [r.id for r in every],
                "ran": [r.id in ran for r in every],
                "needs": [sorted(r.needs) for r in every],
            },
        )
        overrides = {r.id: config.severity(r.id) for r in rules if config.severity(r.id)}
        _load_suppressions(con, config, as_of, snapshot)
        con.execute("DELETE FROM findings WHERE snapshot = ?", [snapshot])
        checkpoint("analyze.deleted-findings")
        con.execute(
            f"""INSERT INTO findings
            WITH cur AS (SELECT as_of FROM snapshots WHERE snapshot = $snapshot),
            raw AS (
                SELECT o.*,
                       CASE WHEN m.rule_id IN (SELECT unnest($overridden::VARCHAR[]))
                            THEN m.default_severity
                            ELSE coalesce(o.severity, m.default_severity) END AS final_severity,
                       m.controls,
                       sha256(concat_ws('|', o.rule_id, coalesce(o.customer_tenant_id, ''),
                              coalesce(o.partner_tenant_id, ''), lower(o.subject),
                              coalesce(lower(o.discriminator), ''))) AS fingerprint
                FROM rule_output o JOIN rule_meta m USING (rule_id)
            ),
            earlier AS (
                SELECT f.fingerprint, min_by(f.first_seen, (s.as_of, s.snapshot)) AS first_seen
                FROM findings f JOIN snapshots s USING (snapshot), cur
                WHERE (s.as_of, s.snapshot) < (cur.as_of, $snapshot)
                GROUP BY f.fingerprint
            ),
            matched AS (
                SELECT r.fingerprint,
                       min_by(s, (s.expired, s.idx)) AS sup
                FROM raw r JOIN suppressions_cfg s ON {SUPPRESSION_MATCH}
                GROUP BY r.fingerprint
            )
            SELECT $snapshot, r.rule_id, r.final_severity, r.customer_tenant_id,
                   r.partner_tenant_id, r.subject, r.title, r.evidence,
                   CASE WHEN m.sup IS NOT NULL AND NOT m.sup.expired THEN 'suppressed'
                        ELSE 'open' END,
                   CASE WHEN m.sup IS NULL THEN NULL
                        ELSE json_object('reason', m.sup.reason, 'owner', m.sup.owner,
                                         'expires', m.sup.expires, 'expired', m.sup.expired,
                                         'index', m.sup.idx) END,
                   coalesce(e.first_seen, $snapshot),
                   r.fingerprint,
                   r.controls,
                   row_number() OVER (ORDER BY sv.rank DESC, r.rule_id, r.customer_tenant_id,
                                      r.partner_tenant_id NULLS FIRST, r.subject,
                                      r.discriminator NULLS FIRST, r.fingerprint)
            FROM raw r
            JOIN ref_severities sv ON sv.severity = r.final_severity
            LEFT JOIN earlier e USING (fingerprint)
            LEFT JOIN matched m USING (fingerprint)""",
            {"snapshot": snapshot, "overridden": sorted(overrides)},
        )
        checkpoint("analyze.inserted-findings")
        dupes = con.execute(
            "SELECT rule_id, min(subject) FROM findings WHERE snapshot = ? "
            "GROUP BY rule_id, fingerprint HAVING count(*) > 1 LIMIT 1",
            [snapshot],
        ).fetchone()
        if dupes:
            raise RuntimeError(
                f"rule {dupes[0]} gave two findings with one fingerprint ({dupes[1]})"
            )
        _first_seen_after(con, snapshot)
        offboarded_notes = _record_offboarded(con, config, as_of, snapshot)
        con.execute(
            "UPDATE snapshots SET analyzed_at = ? WHERE snapshot = ?",
            [datetime.now(UTC).replace(tzinfo=None), snapshot],
        )
        report = _report(con, snapshot, config)
        report.offboarded_notes = offboarded_notes
    return report


def _first_seen_after(con: duckdb.DuckDBPyConnection, snapshot: str) -> None:
    """first_seen of the findings of snapshots after `snapshot` (by reference date, then
    label), which its analysis may have changed: the earliest snapshot up to theirs holding
    the same fingerprint. Analysed out of order (a later month first, or an earlier one again),
    the same data gives the same first_seen as analysed in order. Nothing to do, and no join,
    when no snapshot comes after."""
    if not con.execute(
        "SELECT 1 FROM snapshots s, snapshots cur WHERE cur.snapshot = ? "
        "AND (s.as_of, s.snapshot) > (cur.as_of, cur.snapshot) LIMIT 1",
        [snapshot],
    ).fetchone():
        return
    con.execute(
        """UPDATE findings SET first_seen = e.first_seen
        FROM (
            SELECT f2.snapshot, f2.fingerprint,
                   min_by(f1.snapshot, (s1.as_of, s1.snapshot)) AS first_seen
            FROM snapshots cur, snapshots s2
            JOIN findings f2 ON f2.snapshot = s2.snapshot
            JOIN findings f1 ON f1.fingerprint = f2.fingerprint
            JOIN snapshots s1 ON s1.snapshot = f1.snapshot
            WHERE cur.snapshot = $snapshot
              AND (s2.as_of, s2.snapshot) > (cur.as_of, cur.snapshot)
              AND (s1.as_of, s1.snapshot) <= (s2.as_of, s2.snapshot)
            GROUP BY ALL
        ) e
        WHERE findings.snapshot = e.snapshot AND findings.fingerprint = e.fingerprint
          AND findings.first_seen IS DISTINCT FROM e.first_seen""",
        {"snapshot": snapshot},
    )


_GUID_PATTERN = "^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"


def _record_offboarded(
    con: duckdb.DuckDBPyConnection, config: Config, as_of: date, snapshot: str
) -> list[str]:
    """analysis_offboarded for `snapshot`: the configured customers offboarded on or before its
    reference date. A domain names the tenant that the latest snapshot up to this one (by
    reference date, then label) gives it: an offboarded customer's exports, its domain with
    them, are usually gone from the snapshot itself. After the findings are in: returns
    warnings on the entries, one naming no tenant of this snapshot or an earlier one (it ends
    nothing: a typo would leave the customer's findings listed as not assessed, unexplained),
    and an offboarded customer with findings in this snapshot (its exports were collected
    after it left: they stand)."""
    con.execute("DELETE FROM analysis_offboarded WHERE snapshot = ?", [snapshot])
    due = [o for o in config.offboarded if o.since <= as_of]
    if not due:
        return []
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE offboarded_cfg AS
        WITH entry AS (
            SELECT unnest($tenants::VARCHAR[]) AS tenant, unnest($since::DATE[]) AS since,
                   unnest($reasons::VARCHAR[]) AS reason, unnest($owners::VARCHAR[]) AS owner,
                   unnest($entries::INTEGER[]) AS entry
        ),
        named AS (  -- the tenants of this snapshot and the ones before it, latest first
            SELECT lower(d.tenant_id) AS tenant_id, lower(d.default_domain) AS domain,
                   s.as_of, s.snapshot
            FROM main.tenant_directory d
            JOIN snapshots s USING (snapshot)
            JOIN snapshots cur ON cur.snapshot = $snapshot
            WHERE (s.as_of, s.snapshot) <= (cur.as_of, cur.snapshot)
        )
        SELECT e.*,
               CASE WHEN regexp_full_match(e.tenant, '{_GUID_PATTERN}')
                    THEN (SELECT any_value(tenant_id) FROM named WHERE tenant_id = e.tenant)
                    ELSE (SELECT arg_max(tenant_id, (as_of, snapshot)) FROM named
                          WHERE domain = e.tenant) END AS tenant_id
        FROM entry e""",
        {
            "snapshot": snapshot,
            "tenants": [o.tenant for o in due],
            "since": [o.since for o in due],
            "reasons": [o.reason for o in due],
            "owners": [o.owner for o in due],
            "entries": [o.index for o in due],
        },
    )
    con.execute(
        "INSERT INTO analysis_offboarded SELECT ?, tenant_id, since, reason, owner, entry "
        "FROM offboarded_cfg WHERE tenant_id IS NOT NULL",
        [snapshot],
    )
    notes = []
    for entry, tenant, tenant_id, since, findings in con.execute(
        """SELECT entry, tenant, tenant_id, since,
                  (SELECT count(*) FROM findings f
                   WHERE f.snapshot = $snapshot AND f.customer_tenant_id = o.tenant_id)
        FROM offboarded_cfg o ORDER BY entry""",
        {"snapshot": snapshot},
    ).fetchall():
        where = f"offboarded_customers[{entry}] (tenant {tenant})"
        if tenant_id is None:
            notes.append(
                f"{where} names no tenant of snapshot {snapshot} or an earlier one: it ends "
                "no finding; check the tenant id or domain"
            )
        elif findings:
            notes.append(
                f"{where}, offboarded since {since}, has {findings} finding(s) in "
                f"snapshot {snapshot}: its exports were collected after it left, and its "
                "findings stand. Leave its exports out of the collection, or remove the entry "
                "if it is a customer again"
            )
    con.execute("DROP TABLE offboarded_cfg")
    return notes


def _load_suppressions(
    con: duckdb.DuckDBPyConnection, config: Config, as_of, snapshot: str
) -> None:
    con.execute(
        """CREATE OR REPLACE TEMP TABLE suppressions_cfg (
            idx INTEGER, rule_id VARCHAR, tenant VARCHAR, partner VARCHAR, subject VARCHAR,
            reason VARCHAR, owner VARCHAR, expires DATE, expired BOOLEAN)"""
    )
    if not config.suppressions:
        return
    # Expiry is judged against the snapshot's reference date, never the clock.
    con.executemany(
        "INSERT INTO suppressions_cfg VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                s.index,
                s.rule,
                s.tenant,
                s.partner,
                s.subject,
                s.reason,
                s.owner,
                s.expires,
                s.expires is not None and s.expires < as_of,
            )
            for s in config.suppressions
        ],
    )
    if any(s.tenant and "." in s.tenant for s in config.suppressions):
        # A customer named by its domain, as `report tenant` and `findings --tenant` take it,
        # never matched (findings carry the id) and was reported stale: "remove it".
        con.execute(
            """UPDATE suppressions_cfg SET tenant = d.tenant_id
            FROM (SELECT lower(default_domain) AS domain, min(tenant_id) AS tenant_id
                  FROM tenant_directory WHERE snapshot = ? AND default_domain IS NOT NULL
                  GROUP BY ALL) d
            WHERE suppressions_cfg.tenant = d.domain""",
            [snapshot],
        )


def _report(con: duckdb.DuckDBPyConnection, snapshot: str, config: Config) -> AnalyzeReport:
    report = AnalyzeReport(snapshot)
    for sev, status, n in con.execute(
        "SELECT severity, status, count(*) FROM findings WHERE snapshot = ? GROUP BY ALL",
        [snapshot],
    ).fetchall():
        report.total += n
        if status == "open":
            report.counts[sev] = report.counts.get(sev, 0) + n
        else:
            report.suppressed += n
    # Every suppression that matches a finding, not only the one applied to it (the first
    # unexpired one): a narrower suppression behind a broader one is not stale, it takes over
    # when the broader one expires.
    used = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT s.idx FROM findings r JOIN suppressions_cfg s ON {SUPPRESSION_MATCH} "
            "WHERE r.snapshot = ?",
            [snapshot],
        ).fetchall()
    }
    for s in config.suppressions:
        if s.index not in used:
            report.stale_suppressions.append(
                f"suppression #{s.index} ({s.rule}{', tenant ' + s.tenant if s.tenant else ''}"
                f"{', subject ' + s.subject if s.subject else ''}) matches no finding: remove it"
            )
    for rule_id, subject, expires in con.execute(
        "SELECT rule_id, subject, suppression->>'expires' FROM findings WHERE snapshot = ? "
        "AND (suppression->>'expired')::BOOLEAN ORDER BY position",
        [snapshot],
    ).fetchall():
        report.reopened.append(f"{rule_id} {subject}: suppression expired on {expires}; reopened")
    return report
