"""The main job end to end through the CLI: files written, findings exact and repeatable."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from conftest import SAMPLE, db_dump
from dapaudit.cli import cli
from dapaudit.docs import expected_findings
from dapaudit.rules import all_rules

# What the README promises the canonical sample estate produces: one table, shown in the README
# (generated from it by dapaudit.docs) and compared here, finding by finding and in order.
EXPECTED = [
    (e["rule_id"], e["severity"], e["customer"], e["partner"], e["subject"])
    for e in expected_findings()
]
TENANT_NAMES = {
    row["tenant_id"]: row["display_name"]
    for row in csv.DictReader((SAMPLE / "tenants.csv").open(encoding="utf-8"))
}


def _run(runner, tmp_path, out="out", formats="html,pdf"):
    return runner.invoke(
        cli,
        [
            "run",
            str(SAMPLE),
            "--db",
            str(tmp_path / "a.duckdb"),
            "--as-of",
            "2026-11-30",
            "--out",
            str(tmp_path / out),
            "--format",
            formats,
        ],
    )


def test_run_writes_report_and_findings(runner, tmp_path):
    result = _run(runner, tmp_path)
    assert result.exit_code == 0, result.output
    for name in ("report.html", "report.pdf", "findings.json", "findings.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    got = [
        (
            f["rule_id"],
            f["severity"],
            TENANT_NAMES[f["customer_tenant_id"]],
            TENANT_NAMES.get(f["partner_tenant_id"], f["partner_tenant_id"] or ""),
            f["subject"],
        )
        for f in findings
    ]
    assert got == EXPECTED


def test_every_rule_fires_on_the_sample_estate():
    assert {e[0] for e in EXPECTED} == {r.id for r in all_rules()}


def test_run_twice_gives_identical_findings(runner, tmp_path):
    # The PDF adds nothing to this comparison and is the slow part: HTML only.
    assert _run(runner, tmp_path, "one", "html").exit_code == 0
    assert _run(runner, tmp_path, "two", "html").exit_code == 0
    one = (tmp_path / "one" / "findings.json").read_bytes()
    two = (tmp_path / "two" / "findings.json").read_bytes()
    assert one == two


def test_findings_json_has_contract_fields(runner, tmp_path):
    assert _run(runner, tmp_path, formats="html").exit_code == 0
    result = runner.invoke(
        cli, ["findings", "--db", str(tmp_path / "a.duckdb"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    for f in items:
        for field in (
            "rule_id",
            "severity",
            "customer_tenant_id",
            "partner_tenant_id",
            "subject",
            "title",
            "evidence",
            "status",
            "first_seen",
            "fingerprint",
            "controls",
        ):
            assert field in f
        assert f["customer_tenant_id"] == f["customer_tenant_id"].lower()
        assert f["status"] == "open" and f["first_seen"] == "2026-11"
        assert isinstance(f["evidence"], dict)


def test_fail_on_sets_exit_code(runner, tmp_path):
    result = runner.invoke(
        cli,
        [
            "run",
            str(SAMPLE),
            "--db",
            str(tmp_path / "a.duckdb"),
            "--as-of",
            "2026-11-30",
            "--out",
            str(tmp_path / "o"),
            "--format",
            "html",
            "--fail-on",
            "high",
        ],
    )
    assert result.exit_code == 1
    result = runner.invoke(
        cli, ["analyze", "--db", str(tmp_path / "a.duckdb"), "--fail-on", "critical"]
    )
    assert result.exit_code == 0, result.output


def test_version_is_the_installed_one(runner):
    from importlib.metadata import version

    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"dapaudit, version {version('dapaudit')}\n"


def test_commands_do_not_look_up_the_version_unless_asked():
    """Reading the installed metadata cost every command several ms; only --version, reports
    and exports print the version, so it is looked up when first asked for."""
    import subprocess
    import sys

    code = (
        "import dapaudit, dapaudit.cli, dapaudit.ingest, dapaudit.analyze\n"
        "print(dapaudit._installed_version.cache_info().currsize)\n"
        "dapaudit.__version__\n"
        "print(dapaudit._installed_version.cache_info().currsize)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "1"]


CONTOSO = "0e6249f8-cf40-5b6e-9138-82b4a7337e4f"


def test_findings_of_one_tenant_by_id_or_domain_and_a_typo_is_an_error(runner, tmp_path):
    assert _run(runner, tmp_path, formats="html").exit_code == 0
    path = str(tmp_path / "a.duckdb")

    def listed(tenant: str):
        result = runner.invoke(
            cli, ["findings", "--db", path, "--tenant", tenant, "--format", "json"]
        )
        return result.exit_code, result.output

    code, out = listed("contoso.onmicrosoft.com")
    assert code == 0, out
    by_domain = json.loads(out)
    assert by_domain and {f["customer_tenant_id"] for f in by_domain} == {CONTOSO}
    assert listed(CONTOSO.upper()) == (0, out)
    code, out = listed("contoso.onmicrosoft.co")  # a typo lists nothing silently no more
    assert code == 2
    assert "no customer tenant 'contoso.onmicrosoft.co' in snapshot 2026-11" in out


def _commands(group, prefix=()):
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_every_command_takes_db():
    """contract.md: every command takes --db FILE (a script may pass it to each)."""
    missing = [
        " ".join(path)
        for path, command in _commands(cli)
        if not any("--db" in p.opts for p in command.params)
    ]
    assert missing == []


def test_demo_keeps_its_database_where_asked(runner, tmp_path):
    path = tmp_path / "demo.duckdb"
    result = runner.invoke(
        cli, ["demo", "--out", str(tmp_path / "out"), "--format", "html", "--db", str(path)]
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["snapshots", "--db", str(path)])
    assert listed.exit_code == 0 and "2026-11" in listed.output


def test_demo_never_writes_into_an_existing_database(runner, tmp_path):
    """`demo --db audit.duckdb` added the fictional sample estate to the audit's snapshot of
    that month and re-analysed it, with exit code 0."""
    audit = tmp_path / "audit.duckdb"
    result = runner.invoke(cli, ["ingest", str(SAMPLE / "tenants.csv"), "--db", str(audit)])
    assert result.exit_code == 0, result.output
    before = db_dump(audit)
    result = runner.invoke(
        cli, ["demo", "--out", str(tmp_path / "out"), "--format", "html", "--db", str(audit)]
    )
    assert result.exit_code == 2
    assert f"Error: {audit}: the file exists; the demo keeps its database only in a new" in (
        result.output
    )
    assert db_dump(audit) == before and not (tmp_path / "out").exists()


def test_a_failed_command_leaves_no_new_database_or_report_folder(runner, tmp_path):
    """Bad input ends with exit code 2 and everything as it was: no empty database made for
    the command, no report folder made for it."""
    lone = tmp_path / "lone"
    lone.mkdir()
    # A role listing that names no tenant, in a folder that does not either: refused.
    (lone / "members.csv").write_text(
        "tenant_id,role_template_id,principal_id,principal_type,principal_display_name,"
        "principal_upn,principal_organization_id,directory_scope_id\n"
        ",62e90394-69f5-4237-9190-012177145e10,0b6c2a7e-1f0d-4c7e-9a51-8d3f2e1b0c41,user,A,"
        "a@b.example,,/\n",
        encoding="utf-8",
    )
    db_file = tmp_path / "new.duckdb"
    out = tmp_path / "reports" / "nov"
    commands = [
        ["ingest", str(lone), "--db", str(db_file)],
        ["run", str(lone), "--db", str(db_file), "--out", str(out), "--format", "html"],
        ["analyze", "--db", str(db_file)],
    ]
    for args in commands:
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert not db_file.exists() and not (tmp_path / "new.duckdb.wal").exists(), args
        assert not (tmp_path / "reports").exists(), args

    # A report of a snapshot not analysed: refused, and its new folder not left behind.
    assert runner.invoke(cli, ["ingest", str(SAMPLE), "--db", str(db_file)]).exit_code == 0
    for args in (["report", "monthly"], ["report", "tenant", "--all-tenants"]):
        result = runner.invoke(cli, [*args, "--db", str(db_file), "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert not (tmp_path / "reports").exists(), args
    # A database that holds a snapshot stays, whatever fails afterwards.
    assert runner.invoke(cli, ["ingest", str(lone), "--db", str(db_file)]).exit_code == 2
    assert db_file.exists()


def test_without_the_checkout_the_report_says_how_to_install(runner, tmp_path, monkeypatch):
    """A plain `pip install .` leaves report_templates/ and sample_data/ behind: the commands
    that need them say so (exit 2) rather than fail with Jinja's TemplateNotFound."""
    from dapaudit import paths
    from dapaudit.report import render

    missing = tmp_path / "site-packages" / "report_templates"
    monkeypatch.setattr(render, "TEMPLATES_DIR", missing)
    render.environment.cache_clear()
    try:
        result = _run(runner, tmp_path, formats="html")
    finally:
        render.environment.cache_clear()
    assert result.exit_code == 2, result.output
    assert "report_templates/ is not where dapaudit runs from" in result.output
    assert "pip install -e ." in result.output
    monkeypatch.setattr("dapaudit.cli.SAMPLE_DATA_DIR", tmp_path / "sample_data")
    demo = runner.invoke(cli, ["demo", "--out", str(tmp_path / "demo")])
    assert demo.exit_code == 2 and "sample_data/ is not where dapaudit runs from" in demo.output
    assert paths.checkout_folder(paths.TEMPLATES_DIR) == paths.TEMPLATES_DIR


def test_an_interrupted_report_leaves_the_previous_one_whole(runner, tmp_path, monkeypatch):
    """Reports were written in place: Ctrl-C mid-write left report.html at 0 bytes or cut off
    at <tbody>, and the previous month's good report was gone."""
    from dapaudit.report import render

    assert _run(runner, tmp_path, formats="html").exit_code == 0
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    class Template:
        def generate(self, **context):
            yield "<html><body><table><tbody>"
            raise KeyboardInterrupt

    class Environment:
        def get_template(self, name):
            return Template()

    monkeypatch.setattr(render, "environment", Environment)
    result = _run(runner, tmp_path, formats="html")
    assert result.exit_code != 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no scratch file either


def test_run_with_its_report_folder_as_the_input_says_so(runner, tmp_path):
    """`run exports --out exports` said 'no input files found' of a folder of twelve exports:
    the report folder is never read as exports, so every file was left out."""
    estate = tmp_path / "exports"
    shutil.copytree(SAMPLE, estate)
    db_file = tmp_path / "x.duckdb"
    for out in (estate, tmp_path):
        result = runner.invoke(
            cli, ["run", str(estate), "--out", str(out), "--db", str(db_file), "--format", "html"]
        )
        assert result.exit_code == 2
        assert result.output == (
            f"Error: {estate}: the input is inside the report folder (--out), whose files are "
            "never read as exports: name another --out\n"
        )
    assert not db_file.exists()


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("dapaudit.toml", "not an export: dapaudit's configuration"),
        ("findings.csv", "not an export: findings dapaudit wrote (a report folder)"),
        ("old.duckdb", "not an export: a DuckDB database"),
        (
            "review-contoso-ltd-0e6249f8cf405b6e913882b4a7337e4f.html",
            "not an export: a customer security review dapaudit wrote",
        ),
        ("expected_findings.json", "not an export: the findings `dapaudit generate` planted"),
    ],
)
def test_dapaudits_own_files_among_the_inputs_are_named_as_such(runner, tmp_path, name, says):
    """A configuration beside the exports failed as 'malformed JSON'; an earlier run's findings,
    a database or a generated estate's answer key as 'cannot tell the kind of this file'."""
    estate = tmp_path / "exports"
    shutil.copytree(SAMPLE, estate)
    (estate / name).write_text("[rules.DAP-INACTIVE]\nenabled = false\n", encoding="utf-8")
    result = runner.invoke(cli, ["ingest", str(estate), "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {estate / name}: {says}"), result.output
    assert result.output.endswith("; leave it out of the inputs\n")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--as-of", "2026-11-31"],
            "Invalid value for '--as-of': '2026-11-31' is not a date (YYYY-MM-DD): day is out of "
            "range for month",
        ),
        (
            ["--as-of", "26-11-30"],
            "Invalid value for '--as-of': '26-11-30' is not a date (YYYY-MM-DD): expected "
            "YYYY-MM-DD",
        ),
        (
            ["--snapshot", " 2026-11"],
            "Invalid value for '--snapshot': ' 2026-11': a snapshot label may not be empty nor "
            "start or end with a space",
        ),
        (["--snapshot", ""], "a snapshot label may not be empty"),
    ],
)
def test_a_bad_date_or_label_says_what_is_wrong(runner, tmp_path, args, says):
    """2026-11-31 'did not match the format %Y-%m-%d'; ' 2026-11' made a second snapshot."""
    db_file = tmp_path / "x.duckdb"
    result = runner.invoke(
        cli, ["ingest", str(SAMPLE / "tenants.csv"), "--db", str(db_file), *args]
    )
    assert result.exit_code == 2 and says in result.output, result.output
    assert not db_file.exists()


def test_an_empty_db_name_or_a_bad_memory_limit_is_said_as_such(runner, tmp_path, monkeypatch):
    """--db '' reached DuckDB as its in-memory database ('Cannot launch in-memory database in
    read-only mode'); $DAPAUDIT_MEMORY_LIMIT=lots as a parser error naming no variable."""
    for command in (["findings"], ["ingest", str(SAMPLE / "tenants.csv")]):
        result = runner.invoke(cli, [*command, "--db", ""])
        assert result.exit_code == 2
        assert "Invalid value for '--db': no file name: name the audit database file" in (
            result.output
        )
    monkeypatch.setenv("DAPAUDIT_MEMORY_LIMIT", "lots")
    result = runner.invoke(
        cli, ["ingest", str(SAMPLE / "tenants.csv"), "--db", str(tmp_path / "x.duckdb")]
    )
    assert result.exit_code == 2
    assert result.output.startswith(
        "Error: $DAPAUDIT_MEMORY_LIMIT is 'lots', which DuckDB does not read as a memory size ("
    )


def test_a_report_file_of_an_earlier_run_is_named_not_left_in_silence(runner, tmp_path):
    """`--format html` into a folder where an earlier run wrote the PDF too: the PDF stays
    (it may be the copy that was signed off) and stderr names it, as `run` and `report
    monthly` both write the monthly report. A folder holding only this run's files: no word."""
    out = tmp_path / "out"
    (out / "notes").mkdir(parents=True)
    (out / "report.pdf").write_bytes(b"%PDF- last month")
    (out / "README.txt").write_text("not a report file", encoding="utf-8")
    result = _run(runner, tmp_path, formats="html")
    assert result.exit_code == 0, result.output
    warning = "Warning: not written by this run: report.pdf (from an earlier run)"
    # (run also tells on stderr what it ingested and found)
    assert [ln for ln in result.stderr.splitlines() if ln.startswith("Warning")] == [warning]
    assert (out / "report.pdf").read_bytes() == b"%PDF- last month"  # left, not removed
    assert warning not in result.stdout
    monthly = ["report", "monthly", "--db", str(tmp_path / "a.duckdb"), "--out", str(out)]
    result = runner.invoke(cli, [*monthly, "--format", "html"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [warning]
    # Once every file is this run's, nothing is said.
    (out / "report.pdf").unlink()
    result = runner.invoke(cli, [*monthly, "--format", "html"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
