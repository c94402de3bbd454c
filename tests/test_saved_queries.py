"""Each saved query on the sample estate: the rows the sample data implies, and its parameters."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import AS_OF, SAMPLE
from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.cli import cli
from dapaudit.config import load_config
from dapaudit.docs import build_sample_database
from dapaudit.ingest import ingest
from dapaudit.query import saved_queries

NORTHWIND = "Northwind Partners Ltd"


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "sample.duckdb"
    build_sample_database(path)
    return path


def saved(runner, path, name, *params):
    args = ["query", "--db", str(path), "--saved", name, "--format", "json"]
    for p in params:
        args += ["--param", p]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_every_saved_query_has_a_header_and_runs(runner, sample_file):
    queries = saved_queries()
    assert {q.name for q in queries} >= {
        "implicit_global_admin_users",
        "lingering_foreign_owners",
        "customers_per_partner",
        "gdap_expiring",
        "new_findings",
    }
    for q in queries:
        assert q.title and q.description, q.name
        assert "ORDER BY" in q.sql.upper(), q.name
        saved(runner, sample_file, q.name)


def test_list_shows_names_titles_and_defaults(runner):
    result = runner.invoke(cli, ["query", "--list", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "gdap_expiring,GDAP relationships ending within N days,days=30" in result.output


def test_implicit_global_admin_users(runner, sample_file):
    rows = saved(runner, sample_file, "implicit_global_admin_users")
    # Northwind holds DAP in Contoso; its AdminAgents has three users, Ben also through the
    # nested group (listed once). Fabrikam's members were not exported, so it lists nobody.
    northwind = {r["partner_user"]: r for r in rows if r["partner_name"] == NORTHWIND}
    assert {"Ana Novak", "Ben Okafor", "Chen Wei"} <= set(northwind)
    assert len(rows) == len({(r["partner_name"], r["partner_user_upn"]) for r in rows})
    assert all("Contoso Ltd" in northwind[u]["customer_names"] for u in ("Ana Novak", "Chen Wei"))
    assert not any(r["partner_name"] == "Fabrikam Cloud Services" for r in rows)
    assert all(r["customers"] == len(r["customer_names"]) for r in rows)
    # more_than is strict: the busiest users disappear at their own count
    most = max(r["customers"] for r in rows)
    fewer = saved(runner, sample_file, "implicit_global_admin_users", f"more_than={most - 1}")
    assert fewer and all(r["customers"] == most for r in fewer)
    assert saved(runner, sample_file, "implicit_global_admin_users", f"more_than={most}") == []


def test_lingering_foreign_owners(runner, sample_file):
    rows = saved(runner, sample_file, "lingering_foreign_owners")
    found = {r["customer"]: r for r in rows}
    # Tailspin: DAP removed 2025-06-01 (17 months); Alpine: relationship ended 2025-12-31 (11).
    assert found["Tailspin Toys"]["dap_ended_on"] == "2025-06-01"
    assert found["Tailspin Toys"]["months_since"] == 17
    assert found["Alpine Ski House"]["months_since"] == 11
    assert all(r["months_since"] >= 6 for r in rows)
    # Contoso's partner Owner is not lingering: the partner still holds DAP there.
    assert "Contoso Ltd" not in found
    later = {
        r["customer"] for r in saved(runner, sample_file, "lingering_foreign_owners", "months=12")
    }
    assert "Tailspin Toys" in later and "Alpine Ski House" not in later


@pytest.fixture(scope="module")
def real_shaped_file(tmp_path_factory):
    """The sample as real exports give it: no date for a DAP removal (Partner Center and Graph
    carry none), and a zero auto-extension written PT0H rather than Graph's PT0S."""
    folder = tmp_path_factory.mktemp("real-shaped")
    exports = folder / "exports"
    shutil.copytree(SAMPLE, exports)
    relationships = exports / "partner_relationships.csv"
    text = relationships.read_text(encoding="utf-8")
    assert text.count(",2025-06-01,") == 1  # Tailspin Toys' DAP removal
    relationships.write_text(text.replace(",2025-06-01,", ",,"), encoding="utf-8")
    gdap = exports / "gdap_relationships.csv"
    text = gdap.read_text(encoding="utf-8")
    assert text.count("Contoso modern workplace,active,P730D,PT0S,") == 1
    gdap.write_text(
        text.replace(
            "Contoso modern workplace,active,P730D,PT0S,",
            "Contoso modern workplace,active,P730D,PT0H,",
        ),
        encoding="utf-8",
    )
    path = folder / "real.duckdb"
    with db.opened(path) as con:
        ingest(con, [exports], snapshot="2026-11", as_of=AS_OF)
        analyze(con, "2026-11", load_config(None))
    return path


def test_lingering_owner_with_no_date_for_the_dap_removal_is_listed(runner, real_shaped_file):
    """Real exports do not date a DAP removal: the Owner that lingers is listed (last, its
    dates empty) at any --param months, as AZURE-LINGERING-PARTNER-ROLE reports it, where the
    query gave no row at all."""
    for months in ("6", "120"):
        rows = saved(runner, real_shaped_file, "lingering_foreign_owners", f"months={months}")
        tailspin = [r for r in rows if r["customer"] == "Tailspin Toys"]
        assert tailspin and all(
            r["dap_ended_on"] is None and r["months_since"] is None for r in tailspin
        )
        assert rows[-len(tailspin) :] == tailspin
    # A dated removal still answers to the window: Alpine's ended 11 months before.
    assert "Alpine Ski House" not in {
        r["customer"]
        for r in saved(runner, real_shaped_file, "lingering_foreign_owners", "months=12")
    }


def test_gdap_expiring_agrees_with_the_rule_on_a_zero_auto_extension(runner, real_shaped_file):
    rows = saved(runner, real_shaped_file, "gdap_expiring")
    (contoso,) = [r for r in rows if r["relationship"] == "Contoso modern workplace"]
    assert contoso["auto_extends"] is False
    result = runner.invoke(
        cli,
        ["findings", "--db", str(real_shaped_file), "--rule", "GDAP-EXPIRING", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    assert [f["subject"] for f in json.loads(result.output)] == [contoso["relationship_id"]]


def test_customers_per_partner(runner, sample_file):
    rows = {r["partner_name"]: r for r in saved(runner, sample_file, "customers_per_partner")}
    assert rows[NORTHWIND]["with_dap"] >= 1 and rows[NORTHWIND]["with_active_gdap"] >= 1
    assert rows["Fabrikam Cloud Services"]["with_dap"] == 1
    assert all(r["customers"] >= max(r["with_dap"], r["with_active_gdap"]) for r in rows.values())


def test_gdap_expiring(runner, sample_file):
    # Proseware's relationship ends 2027-05-02: 153 days after the reference date, auto-extending.
    def proseware(days):
        rows = saved(runner, sample_file, "gdap_expiring", f"days={days}")
        assert all(r["days_left"] <= days for r in rows)
        assert [r["ends_on"] for r in rows] == sorted(r["ends_on"] for r in rows)
        return [r for r in rows if r["customer"] == "Proseware Inc"]

    assert [(r["ends_on"], r["days_left"], r["auto_extends"]) for r in proseware(153)] == [
        ("2027-05-02", 153, True)
    ]
    assert proseware(152) == []
    assert all(r["days_left"] <= 30 for r in saved(runner, sample_file, "gdap_expiring"))


def test_new_findings_on_the_first_snapshot_are_all_findings(runner, sample_file):
    rows = saved(runner, sample_file, "new_findings")
    all_findings = json.loads(
        runner.invoke(cli, ["findings", "--db", str(sample_file), "--format", "json"]).output
    )
    assert sorted(r["fingerprint"] for r in rows) == sorted(f["fingerprint"] for f in all_findings)
    ranks = ["critical", "high", "medium", "low", "info"]
    assert [ranks.index(r["severity"]) for r in rows] == sorted(
        ranks.index(r["severity"]) for r in rows
    )


def test_bad_parameters_are_usage_errors(runner, sample_file):
    base = ["query", "--db", str(sample_file), "--saved"]
    result = runner.invoke(cli, [*base, "gdap_expiring", "--param", "days=soon"])
    assert result.exit_code == 2
    assert result.output == "Error: --param days: expected integer, got 'soon'\n"
    result = runner.invoke(cli, [*base, "gdap_expiring", "--param", "weeks=2"])
    assert result.exit_code == 2 and "has no parameter 'weeks' (parameters: days)" in result.output
    result = runner.invoke(cli, [*base, "gdap_expiring", "--param", "days"])
    assert result.exit_code == 2 and "expected key=value" in result.output
    result = runner.invoke(cli, [*base, "no_such_query"])
    assert result.exit_code == 2 and "no saved query 'no_such_query'" in result.output
    # Past DuckDB's INTEGER: said of the parameter, not as a cast error quoting the SQL.
    result = runner.invoke(cli, [*base, "gdap_expiring", "--param", "days=3000000000"])
    assert result.exit_code == 2
    assert result.output == (
        "Error: --param days: 3000000000 is out of range for an integer "
        "(-2147483648 to 2147483647)\n"
    )


def test_new_findings_say_which_are_suppressed(runner, tmp_path):
    """A new finding suppressed in the configuration was listed as if open, while the monthly
    report's 'new' counts open findings only: the query now gives each one's status."""
    path = tmp_path / "sample.duckdb"
    build_sample_database(path)
    config = tmp_path / "dapaudit.toml"
    config.write_text(
        '[[suppressions]]\nrule = "GDAP-MLT-ONLY"\nreason = "Migration booked"\n'
        'owner = "csp@northwind.example"\n',
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["analyze", "--db", str(path), "--config", str(config)])
    assert result.exit_code in (0, 1), result.output
    statuses = {(r["rule_id"], r["status"]) for r in saved(runner, path, "new_findings")}
    assert ("GDAP-MLT-ONLY", "suppressed") in statuses
    assert all(status == "open" for rule, status in statuses if rule != "GDAP-MLT-ONLY")
