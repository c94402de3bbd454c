"""dapaudit.toml: parameters, severity overrides, disabled rules and suppressions, via the CLI."""

from __future__ import annotations

import json

import pytest

from conftest import SAMPLE
from dapaudit.cli import cli

TAILSPIN = "7cab6131-e8ab-5981-ac0c-2ddbaa338a84"
TAILSPIN_SCOPE = "/subscriptions/33348949-2b3d-51b5-a379-7d87c658d6b7"
CONTOSO = "0e6249f8-cf40-5b6e-9138-82b4a7337e4f"


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory):
    """The sample estate ingested once; each test analyses a copy."""
    from click.testing import CliRunner

    path = tmp_path_factory.mktemp("cfg") / "sample.duckdb"
    result = CliRunner().invoke(
        cli, ["ingest", str(SAMPLE), "--db", str(path), "--as-of", "2026-11-30"]
    )
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def dbfile(tmp_path, sample_file):
    target = tmp_path / "a.duckdb"
    target.write_bytes(sample_file.read_bytes())
    return target


OFFBOARDED = (
    '[[offboarded_customers]]\ntenant = "contoso.onmicrosoft.com"\nsince = 2026-11-01\n'
    'reason = "r"\nowner = "o"\n'
)


def _analyze(runner, dbfile, tmp_path, config_text, *extra):
    cfg = tmp_path / "dapaudit.toml"
    cfg.write_text(config_text, encoding="utf-8")
    return runner.invoke(cli, ["analyze", "--db", str(dbfile), "--config", str(cfg), *extra])


def _findings(runner, dbfile, *extra):
    result = runner.invoke(cli, ["findings", "--db", str(dbfile), "--format", "json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_rule_parameters_and_severity_from_config(runner, dbfile, tmp_path):
    result = _analyze(
        runner,
        dbfile,
        tmp_path,
        "[rules.EXCESS-GLOBAL-ADMINS]\nthreshold = 5\n\n"
        "[rules.GDAP-EXPIRING]\ndays = 10\n\n"
        "[rules.DAP-INACTIVE]\ndays = 200\n\n"
        '[rules.GDAP-MLT-ONLY]\nseverity = "high"\n',
    )
    assert result.exit_code == 0, result.output
    rules = [f["rule_id"] for f in _findings(runner, dbfile)]
    assert "EXCESS-GLOBAL-ADMINS" not in rules  # 5 is not above 5
    assert "GDAP-EXPIRING" not in rules  # 20 days away, window 10
    assert "DAP-INACTIVE" not in rules  # 139 days inactive, threshold 200
    mlt = [f for f in _findings(runner, dbfile) if f["rule_id"] == "GDAP-MLT-ONLY"]
    assert [f["severity"] for f in mlt] == ["high"]


def test_disabled_rule_gives_no_findings(runner, dbfile, tmp_path):
    result = _analyze(runner, dbfile, tmp_path, "[rules.COVERAGE-GAP]\nenabled = false\n")
    assert result.exit_code == 0, result.output
    assert not [f for f in _findings(runner, dbfile) if f["rule_id"] == "COVERAGE-GAP"]


def _suppression(expires: str, rule="AZURE-LINGERING-PARTNER-ROLE", tenant=TAILSPIN) -> str:
    return (
        f'[[suppressions]]\nrule = "{rule}"\ntenant = "{tenant}"\n'
        f'subject = "{TAILSPIN_SCOPE}"\nreason = "Managed under contract C-1234"\n'
        f'owner = "secops@tailspintoys.example"\nexpires = {expires}\n'
    )


def test_active_suppression_keeps_the_finding_as_suppressed(runner, dbfile, tmp_path):
    result = _analyze(runner, dbfile, tmp_path, _suppression("2027-03-31"))
    assert result.exit_code == 0, result.output
    assert "suppressed: 1" in result.output
    items = _findings(runner, dbfile, "--rule", "AZURE-LINGERING-PARTNER-ROLE")
    (sup,) = [f for f in items if f["customer_tenant_id"] == TAILSPIN]
    assert sup["status"] == "suppressed"
    assert sup["suppression"]["reason"] == "Managed under contract C-1234"
    assert sup["suppression"]["owner"] == "secops@tailspintoys.example"
    assert sup["suppression"]["expires"] == "2027-03-31"
    assert all(f["status"] == "open" for f in items if f is not sup)


def test_a_suppression_may_name_the_customer_by_its_domain(runner, dbfile, tmp_path):
    """`report tenant` and `findings --tenant` take a domain; a suppression naming Tailspin as
    tailspintoys.onmicrosoft.com matched nothing and was reported stale ('remove it')."""
    result = _analyze(
        runner, dbfile, tmp_path, _suppression("2027-03-31", tenant="TailspinToys.onmicrosoft.com")
    )
    assert result.exit_code == 0, result.output
    assert "suppressed: 1" in result.output and "matches no finding" not in result.output
    # A domain no tenant of the snapshot has still matches nothing, and is reported.
    result = _analyze(
        runner, dbfile, tmp_path, _suppression("2027-03-31", tenant="nobody.onmicrosoft.com")
    )
    assert "suppressed: 0" in result.output and "matches no finding" in result.output


def test_suppressed_findings_do_not_count_for_fail_on(runner, dbfile, tmp_path):
    # Only the low and info rules stay enabled; the one low finding of GDAP-MLT-ONLY suppressed.
    off = "".join(
        f"[rules.{r}]\nenabled = false\n"
        for r in (
            "AZURE-LINGERING-PARTNER-ROLE",
            "AZURE-UNKNOWN-FOREIGN-PRINCIPAL",
            "DAP-IMPLICIT-GLOBAL-ADMIN",
            "DAP-IMPLICIT-HELPDESK-ADMIN",
            "DAP-INACTIVE",
            "EXCESS-GLOBAL-ADMINS",
            "GDAP-DAP-COEXIST",
            "GDAP-FOREIGN-ROLE-HOLDER",
            "GDAP-GLOBAL-ADMIN",
            "GDAP-EXPIRING",
            "GDAP-ROLES-UNASSIGNED",
        )
    )
    sup = (
        '[[suppressions]]\nrule = "GDAP-MLT-ONLY"\nreason = "Migration booked"\n'
        'owner = "csp@northwind.example"\n'
    )
    assert _analyze(runner, dbfile, tmp_path, off, "--fail-on", "low").exit_code == 1
    result = _analyze(runner, dbfile, tmp_path, off + sup, "--fail-on", "low")
    assert result.exit_code == 0, result.output
    assert _analyze(runner, dbfile, tmp_path, off + sup, "--fail-on", "info").exit_code == 1


def test_expired_suppression_reopens_the_finding_and_says_so(runner, dbfile, tmp_path):
    result = _analyze(runner, dbfile, tmp_path, _suppression("2026-11-01"))
    assert result.exit_code == 0, result.output
    assert (
        f"Warning: AZURE-LINGERING-PARTNER-ROLE {TAILSPIN_SCOPE}: suppression expired on "
        "2026-11-01; reopened" in result.output
    )
    (f,) = [
        f
        for f in _findings(runner, dbfile, "--rule", "AZURE-LINGERING-PARTNER-ROLE")
        if f["customer_tenant_id"] == TAILSPIN
    ]
    assert f["status"] == "open"
    assert f["suppression"]["expired"] is True


def test_stale_suppression_is_reported(runner, dbfile, tmp_path):
    result = _analyze(runner, dbfile, tmp_path, _suppression("2027-03-31", tenant=CONTOSO))
    assert result.exit_code == 0, result.output
    assert "Warning: suppression #1 (AZURE-LINGERING-PARTNER-ROLE, tenant " + CONTOSO in (
        result.output
    )
    assert "matches no finding: remove it" in result.output
    assert all(f["status"] == "open" for f in _findings(runner, dbfile))


def test_a_suppression_behind_a_broader_one_is_not_stale(runner, dbfile, tmp_path):
    """#1 (the rule, everywhere) is applied to the finding; #2 (the rule, one tenant) matches
    it too and takes over when #1 expires: only #3, which matches nothing, is stale."""
    broad = (
        '[[suppressions]]\nrule = "AZURE-LINGERING-PARTNER-ROLE"\nreason = "all of them"\n'
        'owner = "secops@tailspintoys.example"\nexpires = 2026-12-31\n'
    )
    nothing = _suppression("2027-03-31", tenant=CONTOSO)
    result = _analyze(runner, dbfile, tmp_path, broad + _suppression("2027-03-31") + nothing)
    assert result.exit_code == 0, result.output
    stale = [line for line in result.output.splitlines() if "matches no finding" in line]
    assert stale == [
        f"Warning: suppression #3 (AZURE-LINGERING-PARTNER-ROLE, tenant {CONTOSO}, subject "
        f"{TAILSPIN_SCOPE}) matches no finding: remove it"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rules.NO-SUCH-RULE]\nenabled = false\n", "field 'rules.NO-SUCH-RULE'"),
        (
            "[rules.GDAP-EXPIRING]\nthreshold = 3\n",
            "unknown setting (allowed: severity, enabled, days)",
        ),
        (
            '[rules.GDAP-EXPIRING]\ndays = "30"\n',
            "must be a whole number from 0 to 2,147,483,647 (default 30)",
        ),
        # Past INTEGER: the rule failed with a traceback, after run had committed its ingest.
        (
            "[rules.EXCESS-GLOBAL-ADMINS]\nthreshold = 2147483648\n",
            "must be a whole number from 0 to 2,147,483,647 (default 4)",
        ),
        ('[rules.GDAP-EXPIRING]\nseverity = "urgent"\n', "severity must be one of"),
        (
            '[[suppressions]]\nrule = "COVERAGE-GAP"\ntennant = "x"\nreason = "r"\nowner = "o"\n',
            "field 'suppressions[1].tennant'",
        ),
        ('[[suppressions]]\nrule = "COVERAGE-GAP"\nreason = "r"\n', "required value is missing"),
        (
            '[[suppressions]]\nrule = "COVERAGE-GAP"\nreason = "r"\nowner = "o"\n'
            'expires = "soon"\n',
            "expires must be a date",
        ),
        ("[rules\n", "not valid TOML"),
        # Values of the wrong shape: each ended in a Python traceback.
        ("rules = 5\n", "field 'rules': must be a table"),
        ("[rules]\nEXCESS-GLOBAL-ADMINS = 5\n", "field 'rules.EXCESS-GLOBAL-ADMINS': must be a"),
        ("suppressions = [1]\n", "field 'suppressions[1]': must be a table"),
        (
            '[[suppressions]]\nrule = "COVERAGE-GAP"\nreason = "r"\nowner = "o"\ntenant = 5\n',
            "field 'suppressions[1].tenant': must be text",
        ),
        (
            '[[suppressions]]\nrule = "COVERAGE-GAP"\nreason = "r"\nowner = "o"\n'
            "expires = 2027-01-01T00:00:00\n",
            "field 'suppressions[1].expires': expires must be a date",
        ),
        ("report = 5\n", "field 'report': must be a table"),
        ("[report]\ntitle = 5\n", "field 'report.title': must be text"),
        # Misspelt tables and report settings: ignored in silence, with every suppression.
        ("[rule.GDAP-EXPIRING]\ndays = 1\n", "field 'rule': unknown setting"),
        ('[[suppression]]\nrule = "COVERAGE-GAP"\n', "field 'suppression': unknown setting"),
        ('[report]\norganization = "X"\n', "field 'report.organization': unknown setting"),
        # [[offboarded_customers]]: every value required, a date, no second date for a tenant.
        ("offboarded_customers = 5\n", "field 'offboarded_customers': must be a list"),
        ("offboarded_customers = [1]\n", "field 'offboarded_customers[1]': must be a table"),
        (
            OFFBOARDED.replace("since = 2026-11-01\n", ""),
            "field 'offboarded_customers[1].since': required value is missing",
        ),
        (
            OFFBOARDED.replace("since = 2026-11-01", 'since = "2026-11-01"'),
            "field 'offboarded_customers[1].since': since must be a date",
        ),
        (
            OFFBOARDED.replace("reason", "reson"),
            "field 'offboarded_customers[1].reson': unknown setting",
        ),
        (
            OFFBOARDED.replace('owner = "o"', "owner = 5"),
            "field 'offboarded_customers[1].owner': must be text",
        ),
        (
            OFFBOARDED + OFFBOARDED.replace("contoso.onmicrosoft.com", "Contoso.onmicrosoft.com"),
            "field 'offboarded_customers[2].tenant': tenant 'contoso.onmicrosoft.com' is already "
            "offboarded by offboarded_customers[1]",
        ),
    ],
)
def test_bad_config_is_a_user_error(runner, dbfile, tmp_path, text, message):
    result = _analyze(runner, dbfile, tmp_path, text)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ")
    assert message in result.output
    assert "dapaudit.toml" in result.output


def test_dapaudit_toml_in_the_working_directory_is_read_by_default(runner, dbfile):
    with runner.isolated_filesystem():
        with open("dapaudit.toml", "w", encoding="utf-8") as fh:
            fh.write("[rules.COVERAGE-GAP]\nenabled = false\n")
        result = runner.invoke(cli, ["analyze", "--db", str(dbfile)])
    assert result.exit_code == 0, result.output
    assert not [f for f in _findings(runner, dbfile) if f["rule_id"] == "COVERAGE-GAP"]


def test_a_config_saved_with_a_byte_order_mark_is_read(runner, dbfile, tmp_path):
    """Notepad and Windows PowerShell write UTF-8 with a BOM, which TOML itself refuses."""
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[rules.COVERAGE-GAP]\nenabled = false\n")
    result = runner.invoke(cli, ["analyze", "--db", str(dbfile), "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert not [f for f in _findings(runner, dbfile) if f["rule_id"] == "COVERAGE-GAP"]


def test_run_with_a_bad_config_changes_no_database(runner, tmp_path):
    """The configuration is read whole before ingest: run used to fail in analyze, after the
    snapshot was committed."""
    config = tmp_path / "c.toml"
    config.write_text(
        '[[suppressions]]\nrule = "COVERAGE-GAP"\nreason = "r"\nowner = "o"\n'
        "expires = 2027-01-01T00:00:00\n",
        encoding="utf-8",
    )
    path = tmp_path / "new.duckdb"
    args = ["run", str(SAMPLE), "--db", str(path), "--config", str(config), "--out"]
    result = runner.invoke(cli, [*args, str(tmp_path / "out"), "--format", "html"])
    assert result.exit_code == 2, result.output
    assert not path.exists()
