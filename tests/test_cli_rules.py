"""`dapaudit rules` and compliance mappings on findings (`findings --framework`)."""

from __future__ import annotations

import json

import pytest

from conftest import SAMPLE
from dapaudit.cli import cli
from dapaudit.rules import all_rules, frameworks


def test_rules_lists_every_rule_with_its_controls(runner):
    result = runner.invoke(cli, ["rules"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for rule in all_rules():
        (line,) = [x for x in lines if x.startswith(rule.id + " ")]
        assert line.split()[1] == rule.severity
        assert line.split()[-1] == str(len(rule.controls))
        assert line.split()[-2] == ",".join(sorted({c.split(":")[0] for c in rule.controls}))


def test_rules_framework_lists_each_rules_controls_in_it(runner):
    result = runner.invoke(cli, ["rules", "--framework", "cis-m365"])
    assert result.exit_code == 0, result.output
    rows = {x.split()[0]: x.split()[2:] for x in result.output.splitlines()[2:]}
    assert rows["EXCESS-GLOBAL-ADMINS"] == ["1.1.3"]
    assert rows["GDAP-MLT-ONLY"] == []
    bad = runner.invoke(cli, ["rules", "--framework", "sox"])
    assert bad.exit_code == 2 and "Error: unknown framework 'sox'" in bad.output


def test_rules_id_shows_rationale_remediation_controls_settings(runner):
    result = runner.invoke(cli, ["rules", "GDAP-EXPIRING"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("GDAP-EXPIRING  (low)\n")
    assert "Why it matters:" in out and "Remediation:\n  1. " in out
    title = frameworks()["nist-800-53"].controls["AC-2"]
    assert f"  nist-800-53:AC-2  {title}" in out
    assert "Settings ([rules.GDAP-EXPIRING] in dapaudit.toml):\n  days = 30" in out
    assert "What to collect:" in out


def test_rules_unknown_id_is_a_user_error(runner):
    result = runner.invoke(cli, ["rules", "NO-SUCH-RULE"])
    assert result.exit_code == 2
    assert "Error: unknown rule id 'NO-SUCH-RULE'; see `dapaudit rules`" in result.output


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    from click.testing import CliRunner

    path = tmp_path_factory.mktemp("fw") / "a.duckdb"
    for args in (["ingest", str(SAMPLE), "--as-of", "2026-11-30"], ["analyze"]):
        result = CliRunner().invoke(cli, [*args, "--db", str(path)])
        assert result.exit_code == 0, result.output
    return str(path)


def test_findings_carry_their_rules_controls(runner, analysed):
    result = runner.invoke(cli, ["findings", "--db", analysed, "--format", "json"])
    by_id = {r.id: r for r in all_rules()}
    for f in json.loads(result.output):
        assert f["controls"] == list(by_id[f["rule_id"]].controls)


def test_findings_framework_keeps_only_mapped_findings(runner, analysed):
    everything = json.loads(
        runner.invoke(cli, ["findings", "--db", analysed, "--format", "json"]).output
    )
    result = runner.invoke(
        cli, ["findings", "--db", analysed, "--framework", "mitre-attack", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    mapped = {r.id for r in all_rules() if any(c.startswith("mitre-attack:") for c in r.controls)}
    assert [f["fingerprint"] for f in items] == [
        f["fingerprint"] for f in everything if f["rule_id"] in mapped
    ]
    assert "COVERAGE-GAP" not in {f["rule_id"] for f in items}  # mapped to no ATT&CK technique
    assert items and all(
        f["controls"] and all(c.startswith("mitre-attack:") for c in f["controls"]) for f in items
    )


def test_findings_unknown_framework_is_a_user_error(runner, analysed):
    result = runner.invoke(cli, ["findings", "--db", analysed, "--framework", "sox"])
    assert result.exit_code == 2
    assert "Error: unknown framework 'sox'" in result.output


def test_coverage_gap_evidence_names_the_missing_export_and_how_to_collect_it(runner, analysed):
    result = runner.invoke(
        cli, ["findings", "--db", analysed, "--rule", "COVERAGE-GAP", "--format", "json"]
    )
    gaps = {f["title"].split(" lacks ")[0]: f["evidence"] for f in json.loads(result.output)}
    assert [m["dataset"] for m in gaps["VanArsdel Ltd"]["missing"]] == [
        "directory_role_members",
        "azure_role_assignments",
    ]
    assert [m["dataset"] for m in gaps["Relecloud"]["missing"]] == ["azure_role_assignments"]
    for m in gaps["VanArsdel Ltd"]["missing"]:
        assert m["collect"] and m["account"]
    assert "Reader on every subscription" in gaps["Relecloud"]["missing"][0]["account"]
