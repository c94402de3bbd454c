"""`dapaudit check`: a sound database passes; each kind of damage a crash or a hand edit could
cause is named; a database that cannot be checked is exit code 2."""

from __future__ import annotations

import pytest

from conftest import AS_OF, SAMPLE
from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.cli import cli
from dapaudit.config import Config
from dapaudit.ingest import ingest


@pytest.fixture
def db_file(tmp_path):
    path = tmp_path / "audit.duckdb"
    with db.opened(path) as con:
        ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
        analyze(con, "2026-11", Config())
    return path


def _check(runner, path):
    return runner.invoke(cli, ["check", "--db", str(path)])


def test_sound_database_passes(runner, db_file):
    with db.opened(db_file, read_only=True) as con:
        files, rows = con.execute("SELECT count(*), sum(row_count) FROM source_files").fetchone()
        findings = con.execute("SELECT count(*) FROM findings").fetchone()[0]
    assert files >= 10 and rows > 0 and findings > 0
    result = _check(runner, db_file)
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"OK: schema version {db.SCHEMA_VERSION}; 1 snapshot(s), {files} source file(s), "
        f"{rows} row(s), {findings} finding(s)\n"
    )


OLDER_PARTNER_ACCESS = (
    "CREATE OR REPLACE VIEW partner_access AS SELECT snapshot, customer_tenant_id, "
    "partner_tenant_id, partner_name FROM partner_relationships"
)
DAMAGE = [
    (
        "DELETE FROM directory_role_members WHERE rowid IN "
        "(SELECT min(rowid) FROM directory_role_members)",
        "directory_role_members.csv recorded {drm} row(s), the database holds {drm_less}",
    ),
    (
        "INSERT INTO tenants SELECT snapshot, tenant_id, display_name, default_domain, "
        "tenant_type, 999, 1 FROM tenants LIMIT 1",
        "1 row(s) in tenants come from source file 999, which is not in the manifest",
    ),
    (
        "INSERT INTO export_coverage VALUES ('2026-11', 'x', 'tenants', 4242)",
        "export coverage of tenants names source file 4242",
    ),
    (
        "UPDATE findings SET position = 1",
        "finding positions are not 1..{n}",
    ),
    (
        "UPDATE findings SET fingerprint = 'f' WHERE position <= 2",
        "fingerprint f... appears 2 times",
    ),
    (
        "UPDATE snapshots SET analyzed_at = NULL",
        "snapshot '2026-11' holds {n} finding(s) but was never analysed",
    ),
    (
        "INSERT INTO findings SELECT * REPLACE ('2025-01' AS snapshot) FROM findings",
        "{n} finding(s) belong to unknown snapshot '2025-01'",
    ),
    (
        "UPDATE source_files SET kind = 'made.up' WHERE path LIKE '%tenants.csv'",
        "has kind 'made.up', unknown to this dapaudit",
    ),
    # Objects dropped or emptied by hand: check crashed on some, passed the others.
    ("DROP TABLE findings", "table findings is missing"),
    ("DROP TABLE source_files", "table source_files is missing"),
    (
        "ALTER TABLE tenants DROP COLUMN default_domain",
        "table tenants lacks column(s) default_domain",
    ),
    ("DROP VIEW snapshot_deltas", "view(s) missing: snapshot_deltas"),
    # A view of an earlier build, without a column this one's reports read.
    (OLDER_PARTNER_ACCESS, "view partner_access lacks column(s) active_gdap_relationships, "),
    ("DROP TABLE ref_severities", "table ref_severities is missing"),
    ("DELETE FROM ref_directory_roles", "reference table ref_directory_roles holds 0 row(s)"),
]


@pytest.mark.parametrize(("damage", "problem"), DAMAGE, ids=[d[1][:30] for d in DAMAGE])
def test_damage_is_named_and_exit_code_is_1(runner, db_file, damage, problem):
    with db.opened(db_file) as con:
        n = con.execute("SELECT count(*) FROM findings").fetchone()[0]
        drm = con.execute(
            "SELECT row_count FROM source_files WHERE path LIKE '%directory_role_members.csv'"
        ).fetchone()[0]
        con.execute(damage)
    problem = problem.format(n=n, drm=drm, drm_less=drm - 1)
    result = _check(runner, db_file)
    assert result.exit_code == 1, result.output
    problems = [ln for ln in result.output.splitlines() if ln.startswith("Problem: ")]
    assert any(problem in ln for ln in problems), result.output
    assert "OK:" not in result.output


@pytest.mark.parametrize(
    "damage",
    [
        "DROP VIEW snapshot_deltas",
        "DROP VIEW finding_details",  # of surface.sql
        # an earlier build's view, told by its digest of the view files
        OLDER_PARTNER_ACCESS + "; UPDATE dapaudit_meta SET value = 'older' "
        "WHERE key = 'views_digest'",
        "DROP TABLE ref_severities",
        "DELETE FROM ref_directory_roles",
    ],
)
def test_analyze_makes_derived_objects_again(runner, db_file, damage):
    """Views and reference tables are dapaudit's own: analyze makes them again (a view
    dropped failed later commands; reference rows deleted gave fewer findings in silence)."""
    with db.opened(db_file) as con:
        findings = con.execute("SELECT count(*) FROM findings").fetchone()[0]
        con.execute(damage)
    result = runner.invoke(cli, ["analyze", "--db", str(db_file)])
    assert result.exit_code == 0, result.output
    assert f"{findings} finding(s)" in result.output
    assert _check(runner, db_file).exit_code == 0


def test_analyze_without_a_fact_table_is_exit_2(runner, db_file):
    with db.opened(db_file) as con:
        con.execute("DROP TABLE gdap_access_assignments")
    result = runner.invoke(cli, ["analyze", "--db", str(db_file)])
    assert result.exit_code == 2, result.output
    assert "gdap_access_assignments does not exist" in result.output
    assert "`dapaudit check` lists what is missing" in result.output


def test_missing_database_is_exit_2(runner, tmp_path):
    result = _check(runner, tmp_path / "nope.duckdb")
    assert result.exit_code == 2
    assert "no such database" in result.output


def test_the_views_dapaudit_looks_for_are_the_views_it_makes(tmp_path):
    """views_current() looks for views by the names in views.sql and surface.sql: a name
    taken from a comment made every database look out of date (views rebuilt at each analyze,
    templates thrown away)."""
    with db.opened(tmp_path / "new.duckdb") as con:
        made = {
            r[0]
            for r in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'"
            ).fetchall()
        }
        assert db._view_names() == made
        assert db.views_current(con)


def test_a_damaged_block_is_a_problem_or_exit_2_never_a_traceback(runner, db_file, tmp_path):
    """A flipped byte in a data block (a disk error, a bad copy) crashed check and every other
    command with a traceback. Each 256 KiB block past the file header in turn."""
    raw = db_file.read_bytes()
    outcomes = set()
    for offset in range(3 * 4096 + 100_000, len(raw), 262_144):
        damaged = tmp_path / f"damaged-{offset}.duckdb"
        data = bytearray(raw)
        data[offset] ^= 0xFF
        damaged.write_bytes(bytes(data))
        for args in (["check"], ["findings"], ["analyze"]):
            result = runner.invoke(cli, [*args, "--db", str(damaged)])
            assert result.exit_code in (0, 1, 2), (offset, args, result.output)
            assert not isinstance(result.exception, Exception | KeyboardInterrupt) or isinstance(
                result.exception, SystemExit
            ), (offset, args, repr(result.exception))
            outcomes.add((args[0], result.exit_code))
    assert any(code != 0 for command, code in outcomes if command == "check")  # damage seen


def test_a_column_dropped_by_hand_is_exit_2_naming_check(runner, db_file):
    with db.opened(db_file) as con:
        con.execute("DROP VIEW IF EXISTS tenant_directory CASCADE")
        con.execute("ALTER TABLE tenants DROP COLUMN display_name")
    for args in (["analyze"], ["report", "monthly", "--out", str(db_file.parent / "r")]):
        result = runner.invoke(cli, [*args, "--db", str(db_file)])
        assert result.exit_code == 2, (args, result.output)
        assert "`dapaudit check`" in result.output and "Traceback" not in result.output
    checked = _check(runner, db_file)
    assert checked.exit_code == 1 and "table tenants lacks column(s) display_name" in checked.output
