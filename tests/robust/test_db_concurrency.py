"""Two processes on one database: the second waits (bounded, saying so on stderr) or fails
with a clear message and exit code 2 - never a traceback, never a half-written snapshot.
And schema versions: an older database is migrated forward or refused, a newer one refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from robust_support import child_env, dapaudit_argv, raw_dump, run_cli

from conftest import AS_OF, SAMPLE, db_dump
from dapaudit import db
from dapaudit.check import check_database
from dapaudit.cli import cli
from dapaudit.ingest import ingest
from dapaudit.rules import all_rules

# A process that holds the database's write lock until told to let go (a line on stdin).
HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print("locked", flush=True)
sys.stdin.readline()
con.close()
"""


class Holder:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), "ro" if read_only else "rw"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
        self.proc.wait()


@pytest.fixture
def db_file(tmp_path) -> Path:
    path = tmp_path / "audit.duckdb"
    with db.opened(path) as con:
        ingest(con, [SAMPLE], snapshot="2026-10", as_of=AS_OF)
    return path


def _assert_clean_failure(result: subprocess.CompletedProcess, path: Path) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"Waiting for the database {path}" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == (
        f"Error: {path}: the database is in use by another process (waited 0.3 s); try again "
        "when it has finished, or set $DAPAUDIT_LOCK_WAIT to wait longer"
    )


# Every command that opens the database; `query` once the query surface provides it.
BUSY_COMMANDS = [
    ("ingest", str(SAMPLE), "--snapshot", "2026-11", "--as-of", "2026-11-30"),
    ("analyze",),
    ("findings", "--format", "json"),
    ("snapshots",),
    ("check",),
] + ([("query", "select count(*) from snapshots")] if "query" in cli.commands else [])


@pytest.mark.parametrize("command", BUSY_COMMANDS, ids=lambda c: c[0])
def test_busy_database_fails_cleanly_after_the_wait(tmp_path, db_file, command):
    before = db_dump(db_file)
    holder = Holder(db_file)
    try:
        result = run_cli(*command, "--db", str(db_file), cwd=tmp_path, DAPAUDIT_LOCK_WAIT="0.3")
    finally:
        holder.release()
    _assert_clean_failure(result, db_file)
    assert db_dump(db_file) == before


def test_reader_waits_while_a_writer_holds_the_file_and_then_runs(tmp_path, db_file):
    holder = Holder(db_file)
    proc = subprocess.Popen(
        dapaudit_argv("snapshots", "--db", str(db_file)),
        cwd=tmp_path,
        env=child_env(DAPAUDIT_LOCK_WAIT="120"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stderr.readline()  # blocks until the child says it waits
        assert first.startswith(f"Waiting for the database {db_file}: another process")
    finally:
        holder.release()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "2026-10" in out


def test_two_ingests_at_once_both_complete_one_after_the_other(tmp_path):
    path = tmp_path / "audit.duckdb"
    procs = [
        subprocess.Popen(
            dapaudit_argv(
                "ingest",
                str(SAMPLE),
                "--db",
                str(path),
                "--snapshot",
                label,
                "--as-of",
                "2026-11-30",
            ),
            cwd=tmp_path,
            env=child_env(DAPAUDIT_LOCK_WAIT="120"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in ("a", "b")
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for code, err in results:
        assert code == 0, err
        assert "Traceback" not in err
    with db.opened(path, read_only=True) as con:
        assert check_database(con).problems == []
        counts = con.execute(
            "SELECT snapshot, sum(row_count) FROM source_files GROUP BY ALL ORDER BY 1"
        ).fetchall()
    reference = _sample_rows(tmp_path / "reference.duckdb")
    assert counts == [("a", reference), ("b", reference)]


def _sample_rows(path: Path) -> int:
    with db.opened(path) as con:
        return ingest(con, [SAMPLE], snapshot="r", as_of=AS_OF).rows


def test_lock_wait_setting_must_be_a_number(runner, db_file, monkeypatch):
    monkeypatch.setenv("DAPAUDIT_LOCK_WAIT", "soon")
    result = runner.invoke(cli, ["snapshots", "--db", str(db_file)])
    assert result.exit_code == 2
    assert result.output == "Error: $DAPAUDIT_LOCK_WAIT must be a number of seconds, not 'soon'\n"


# ------------------------------------------------------------------ schema versions


def _set_version(path: Path, value: str) -> None:
    with db.opened(path) as con:
        con.execute("UPDATE dapaudit_meta SET value = ? WHERE key = 'schema_version'", [value])


def _version_1(path: Path, *more: str) -> None:
    """The database as schema version 1 made it (no analysis_rules), changed by `more` too;
    in one connection (the next one opened to write migrates it)."""
    with db.opened(path) as con:
        con.execute("DROP TABLE analysis_rules")
        con.execute("DROP TABLE analysis_offboarded")
        for sql in more:
            con.execute(sql)
        if not more:
            con.execute("UPDATE dapaudit_meta SET value = '1' WHERE key = 'schema_version'")


def _older_database(path: Path) -> None:
    """A hand-made 'version 0' database: a version 1 one whose source_files lacks its
    ingested_at column."""
    _version_1(
        path,
        "ALTER TABLE source_files DROP COLUMN ingested_at",
        "UPDATE dapaudit_meta SET value = '0' WHERE key = 'schema_version'",
    )


def test_a_version_1_database_is_migrated_by_the_first_writing_command(runner, db_file):
    """Schema version 2 added analysis_rules (the rules each analysis ran): the first writing
    command adds it; a reader before that says to run one."""
    _version_1(db_file)
    result = runner.invoke(cli, ["findings", "--db", str(db_file)])
    assert result.exit_code == 2 and "has schema version 1; run any writing command" in (
        result.output
    )
    result = runner.invoke(cli, ["analyze", "--db", str(db_file), "--snapshot", "2026-10"])
    assert result.exit_code == 0, result.output
    with db.opened(db_file, read_only=True) as con:
        assert db.schema_version(con) == db.SCHEMA_VERSION == 4
        assert check_database(con).problems == []
        assert con.execute(
            "SELECT count(*) FROM analysis_rules WHERE snapshot = '2026-10' AND ran"
        ).fetchone()[0] == len(all_rules())


def test_a_version_2_database_without_ran_is_migrated(runner, db_file):
    """Version 2 as first released had analysis_rules without `ran`: analyze on such a
    database said it lacked a column dapaudit made. Version 3 makes the table again."""
    with db.opened(db_file) as con:
        con.execute("DROP TABLE analysis_rules")
        con.execute("DROP TABLE analysis_offboarded")
        con.execute(
            "CREATE TABLE analysis_rules (snapshot VARCHAR NOT NULL, rule_id VARCHAR NOT NULL, "
            "datasets VARCHAR[] NOT NULL)"
        )
        con.execute("UPDATE dapaudit_meta SET value = '2' WHERE key = 'schema_version'")
    result = runner.invoke(cli, ["analyze", "--db", str(db_file), "--snapshot", "2026-10"])
    assert result.exit_code == 0, result.output
    with db.opened(db_file, read_only=True) as con:
        assert db.schema_version(con) == 4
        assert check_database(con).problems == []
        assert con.execute("SELECT count(*) FILTER (WHERE ran) FROM analysis_rules").fetchone()[
            0
        ] == len(all_rules())


def test_a_version_3_database_gets_analysis_offboarded(runner, db_file, tmp_path):
    """Version 4 added analysis_offboarded (the customers each analysis took as offboarded):
    on a version 3 database, finding_changes and analyze named a table it lacked. The first
    writing command adds it, keeping what version 3 recorded."""
    with db.opened(db_file) as con:
        con.execute("DROP TABLE analysis_offboarded")
        con.execute("UPDATE dapaudit_meta SET value = '3' WHERE key = 'schema_version'")
    result = runner.invoke(cli, ["findings", "--db", str(db_file)])
    assert result.exit_code == 2 and "has schema version 3; run any writing command" in (
        result.output
    )
    config = tmp_path / "dapaudit.toml"
    config.write_text(
        '[[offboarded_customers]]\ntenant = "contoso.onmicrosoft.com"\nsince = 2026-10-01\n'
        'reason = "r"\nowner = "o"\n',
        encoding="utf-8",
    )
    result = runner.invoke(
        cli, ["analyze", "--db", str(db_file), "--snapshot", "2026-10", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    with db.opened(db_file, read_only=True) as con:
        assert db.schema_version(con) == 4
        assert check_database(con).problems == []
        assert con.execute("SELECT count(*) FROM analysis_offboarded").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM analysis_rules WHERE ran").fetchone()[0] == len(
            all_rules()
        )


def test_views_of_another_build_are_said_by_the_commands_that_read_them(runner, db_file, tmp_path):
    """A database last written by another build of the same schema version holds that
    build's views: `snapshots` failed on a column it lacked, and `report tenant` named a
    macro it lacked and said to run `dapaudit check`. Both say what to run instead, write
    nothing, and run after `analyze` renewed the views."""
    assert runner.invoke(cli, ["analyze", "--db", str(db_file)]).exit_code == 0
    with db.opened(db_file) as con:
        con.execute(
            "CREATE OR REPLACE VIEW snapshot_deltas AS "
            "SELECT snapshot, NULL AS previous_snapshot, 0 AS new, 0 AS resolved, "
            "0 AS not_assessed FROM snapshots"
        )
        con.execute("DROP MACRO role_assignment_id")
        con.execute("UPDATE dapaudit_meta SET value = 'another' WHERE key = 'views_digest'")
    out = tmp_path / "out"
    commands = (
        ["snapshots"],
        ["report", "tenant", "contoso.onmicrosoft.com", "--format", "html", "--out", str(out)],
        ["report", "tenant", "--all-tenants", "--format", "html", "--out", str(out)],
        ["report", "monthly", "--format", "html", "--out", str(out)],
    )
    for command in commands:
        result = runner.invoke(cli, [*command, "--db", str(db_file)])
        assert result.exit_code == 2, result.output
        assert result.output == (
            f"Error: {db_file}: the database's views and reference tables are those of another "
            "dapaudit build: run `dapaudit analyze` (it renews them, and analyses the latest "
            "snapshot again with this build's rules), then this command\n"
        )
        assert not any(out.glob("**/*.html"))
    assert runner.invoke(cli, ["analyze", "--db", str(db_file)]).exit_code == 0
    for command in commands:
        result = runner.invoke(cli, [*command, "--db", str(db_file)])
        assert result.exit_code == 0, result.output


def test_older_database_is_migrated_forward_on_open(runner, tmp_path, db_file, monkeypatch):
    _older_database(db_file)
    monkeypatch.setattr(
        db,
        "MIGRATIONS",
        {
            **db.MIGRATIONS,
            0: "ALTER TABLE source_files ADD COLUMN ingested_at TIMESTAMP; "
            "UPDATE source_files SET ingested_at = TIMESTAMP '1970-01-01'",
        },
    )
    result = runner.invoke(cli, ["analyze", "--db", str(db_file), "--snapshot", "2026-10"])
    assert result.exit_code == 0, result.output
    with db.opened(db_file, read_only=True) as con:
        assert db.schema_version(con) == db.SCHEMA_VERSION
        assert check_database(con).problems == []
        # every migrated row, as the step set it
        assert con.execute(
            "SELECT count(*) = count(*) FILTER (WHERE year(ingested_at) = 1970) AND count(*) > 0 "
            "FROM source_files"
        ).fetchone()[0]
    # and the migrated database takes new data
    result = runner.invoke(
        cli,
        [
            "ingest",
            str(SAMPLE),
            "--db",
            str(db_file),
            "--snapshot",
            "2026-11",
            "--as-of",
            "2026-11-30",
        ],
    )
    assert result.exit_code == 0, result.output


def test_older_database_is_not_migrated_by_a_reader(runner, db_file, monkeypatch):
    _older_database(db_file)
    monkeypatch.setattr(db, "MIGRATIONS", {**db.MIGRATIONS, 0: "SELECT 1"})
    before = raw_dump(db_file)
    result = runner.invoke(cli, ["findings", "--db", str(db_file)])
    assert result.exit_code == 2
    assert (
        "has schema version 0; run any writing command (e.g. `dapaudit analyze`)" in result.output
    )
    assert raw_dump(db_file) == before


@pytest.mark.parametrize("command", [["analyze"], ["findings"], ["snapshots"]])
def test_older_database_without_a_migration_path_is_refused(runner, db_file, command):
    """Every command says the same: a reader must not send the user to analyze, which cannot
    migrate it either."""
    _older_database(db_file)
    before = raw_dump(db_file)
    result = runner.invoke(cli, [*command, "--db", str(db_file)])
    assert result.exit_code == 2
    assert "schema version 0, which this dapaudit cannot migrate" in result.output
    assert raw_dump(db_file) == before


@pytest.mark.parametrize("command", [["analyze"], ["findings"], ["check"]])
def test_newer_database_is_refused_not_misread(runner, db_file, command):
    _set_version(db_file, "99")
    before = raw_dump(db_file)
    result = runner.invoke(cli, [*command, "--db", str(db_file)])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {db_file}: the database has schema version 99, newer than this dapaudit "
        f"(version {db.SCHEMA_VERSION}); upgrade dapaudit to read it\n"
    )
    assert raw_dump(db_file) == before


def test_ingest_says_the_database_error_before_an_input_error(runner, db_file, tmp_path):
    # ingest opens the database in a thread while it reads the inputs: when both fail, the
    # database's error is the one said, as when it opened the database first.
    _set_version(db_file, "99")
    before = raw_dump(db_file)
    missing = tmp_path / "no-such-folder"
    result = runner.invoke(cli, ["ingest", str(missing), "--db", str(db_file)])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {db_file}: the database has schema version 99")
    assert raw_dump(db_file) == before


def test_opening_hands_over_the_connection_or_the_error(tmp_path):
    path = tmp_path / "new.duckdb"
    with db.opening(path) as pending:
        assert db.schema_version(pending.get()) == db.SCHEMA_VERSION
    with db.duckdb.connect(str(path)) as con:  # closed again: the file lock was released
        con.execute("SELECT 1")
    (tmp_path / "not-a-db.duckdb").write_text("hello", encoding="utf-8")
    with db.opening(tmp_path / "not-a-db.duckdb") as pending:
        with pytest.raises(db.DapauditError, match="cannot open the database"):
            pending.get()


def test_unreadable_version_is_refused(runner, db_file):
    _set_version(db_file, "one")
    result = runner.invoke(cli, ["analyze", "--db", str(db_file)])
    assert result.exit_code == 2
    assert "schema version is unreadable ('one')" in result.output


def test_another_duckdb_database_is_not_written_to(runner, tmp_path):
    path = tmp_path / "other.duckdb"
    with db.duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE tenants (x INTEGER)")
    result = runner.invoke(cli, ["ingest", str(SAMPLE), "--db", str(path)])
    assert result.exit_code == 2
    assert "not a dapaudit database (no schema version)" in result.output
    with db.duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert tables == [("tenants",)]


def test_a_file_that_is_not_a_database_is_a_clean_error(runner, tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes\n" * 100)
    result = runner.invoke(cli, ["ingest", str(SAMPLE), "--db", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {path}: cannot open the database:")
    assert path.read_text() == "these are my notes\n" * 100
