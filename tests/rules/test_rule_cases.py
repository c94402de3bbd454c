"""Every rule's test cases (tests/rule_cases/*.toml), run by one parametrised test."""

from __future__ import annotations

import pytest
from rule_case_runner import load_case_files, merged_rows, run_case, snake

from dapaudit import db
from dapaudit.rules import all_rules

CASE_FILES = load_case_files()


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "empty.duckdb"
    db.connect(path).close()
    return path


def _params():
    for stem, spec in CASE_FILES.items():
        for case in spec.get("cases", []):
            yield pytest.param(spec, case, id=f"{stem}: {case['name']}")


@pytest.mark.parametrize(("spec", "case"), list(_params()))
def test_rule_case(tmp_path, empty_db, spec, case):
    findings = run_case(tmp_path, spec["rule"], case, merged_rows(spec, case), empty_db)
    got = [
        (f["customer_tenant_id"], f["partner_tenant_id"], f["subject"], f["severity"])
        for f in findings
    ]
    want = [
        (e["customer"], e.get("partner"), e["subject"], e["severity"])
        for e in case.get("expect", [])
    ]
    assert sorted(got, key=repr) == sorted(want, key=repr)
    for e in case.get("expect", []):
        if "title" in e:
            match = next(
                f
                for f in findings
                if (f["customer_tenant_id"], f["partner_tenant_id"], f["subject"])
                == (e["customer"], e.get("partner"), e["subject"])
            )
            assert e["title"] in match["title"], match["title"]
        for f in findings:
            assert isinstance(f["evidence"], dict) and f["evidence"]


def test_every_rule_has_cases_that_fire_and_that_must_not():
    by_rule = {spec["rule"]: (stem, spec) for stem, spec in CASE_FILES.items()}
    for rule in all_rules():
        assert rule.id in by_rule, f"no tests/rule_cases/{snake(rule.id)}.toml"
        stem, spec = by_rule[rule.id]
        assert stem == snake(rule.id)
        cases = spec.get("cases", [])
        assert any(c.get("expect") for c in cases), f"{rule.id}: no case that fires"
        assert any(not c.get("expect") for c in cases), f"{rule.id}: no near-miss"
