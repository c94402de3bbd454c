"""The rule metadata is consistent: ids, controls, frameworks, parameters, README tables."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from dapaudit import docs
from dapaudit.ingest.canonical import CANONICAL
from dapaudit.paths import RULES_DIR
from dapaudit.rules import SEVERITIES, all_rules, frameworks, rules_by_id

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_RULES = {
    "DAP-IMPLICIT-GLOBAL-ADMIN",
    "DAP-IMPLICIT-HELPDESK-ADMIN",
    "AZURE-LINGERING-PARTNER-ROLE",
    "AZURE-UNKNOWN-FOREIGN-PRINCIPAL",
    "GDAP-GLOBAL-ADMIN",
    "GDAP-DAP-COEXIST",
    "GDAP-EXPIRING",
    "EXCESS-GLOBAL-ADMINS",
    "COVERAGE-GAP",
    "GDAP-FOREIGN-ROLE-HOLDER",
    "DAP-INACTIVE",
    "GDAP-MLT-ONLY",
    "GDAP-ROLES-UNASSIGNED",
}
RULE_ID = re.compile(r"\b[A-Z]{2,}(?:-[A-Z]{2,})+\b")
KNOWN_DATASETS = {layout.table for layout in CANONICAL}


def test_the_contract_rules_are_exactly_the_rule_set():
    assert {r.id for r in all_rules()} == CONTRACT_RULES
    # Every metadata file has its SQL: a rule without SQL would silently never run.
    tomls = {p.stem for p in RULES_DIR.glob("*.toml")} - {"frameworks"}
    assert tomls == {p.stem for p in RULES_DIR.glob("*.sql")}


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_rule_metadata_is_complete(rule):
    assert rule.file == rule.id.lower().replace("-", "_")
    assert rule.severity in SEVERITIES
    assert rule.name and rule.rationale and rule.collect
    assert len(rule.remediation) >= 2 and all(rule.remediation)
    assert set(rule.needs) <= KNOWN_DATASETS
    # The SQL reads exactly the parameters it is given: $snapshot, $as_of and its [params].
    assert rule.parameters() <= {"snapshot", "as_of"} | set(rule.params)
    assert set(rule.params) <= rule.parameters(), "a [params] entry the SQL never reads"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_every_control_a_rule_maps_exists_in_frameworks_toml(rule):
    fws = frameworks()
    assert rule.controls, f"{rule.id} maps no control"
    for control in rule.controls:
        fid, _, cid = control.partition(":")
        assert fid in fws, f"{rule.id}: unknown framework {fid!r}"
        assert cid in fws[fid].controls, f"{rule.id}: {control} is not in frameworks.toml"


def test_frameworks_toml_names_only_existing_rules():
    text = (RULES_DIR / "frameworks.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    known = rules_by_id()
    named = set(RULE_ID.findall(text))
    for fw in data["frameworks"].values():
        for control in fw.get("controls", {}).values():
            named |= set(control.get("rules", []))
    assert named <= set(known), f"frameworks.toml names unknown rules: {named - set(known)}"


def test_the_contract_frameworks_are_there():
    fws = frameworks()
    for control in (
        "cisa-scuba:MS.AAD.7.1v1",
        "cisa-scuba:MS.AAD.7.2v1",
        "cisa-scuba:MS.AAD.7.4v1",
        "cis-m365:1.1.3",
        "mitre-attack:T1199",
        "nist-800-53:AC-2",
        "nist-800-53:AC-6",
        "iso-27001-2022:A.5.19",
        "iso-27001-2022:A.5.20",
        "iso-27001-2022:A.8.2",
    ):
        fid, _, cid = control.partition(":")
        assert cid in fws[fid].controls


@pytest.mark.parametrize("name", sorted(docs.SECTIONS))
def test_readme_generated_sections_match_the_metadata(name):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert docs.section(readme, name) == docs.SECTIONS[name](), (
        f"README section {name} is out of date: run `python -m dapaudit.docs README.md`"
    )
