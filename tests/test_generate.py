"""The estate generator: deterministic, its planted findings are exactly what analyze finds,
and findings do not depend on how the same estate is cut into files, ordered or cased."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import date
from pathlib import Path

import pytest

from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.cli import cli
from dapaudit.config import Config
from dapaudit.generate import check_findings, generate
from dapaudit.ingest import REGISTRY, ingest
from dapaudit.rules import all_rules

AS_OF = date(2026, 11, 30)
CUSTOMERS = 50


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _analysed(tmp_path: Path, name: str, inputs: list[Path]):
    con = db.connect(tmp_path / f"{name}.duckdb")
    ingest(con, inputs, snapshot="2026-11", as_of=AS_OF)
    analyze(con, "2026-11", Config())
    return con


def _findings(con) -> list[tuple]:
    return con.execute(
        """SELECT rule_id, severity, customer_tenant_id, partner_tenant_id, subject, title,
                  fingerprint, status, position
           FROM findings WHERE snapshot = '2026-11' ORDER BY position"""
    ).fetchall()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen") / "estate"
    generate(root, CUSTOMERS, seed=3)
    con = _analysed(root.parent, "baseline", [root / "exports"])
    yield root, _findings(con), con
    con.close()


def test_same_seed_same_bytes_other_seed_other_estate(tmp_path):
    generate(tmp_path / "a", 30, seed=5)
    generate(tmp_path / "b", 30, seed=5)
    generate(tmp_path / "c", 30, seed=6)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_estate_mixes_layouts_and_encodings(baseline):
    root, _, con = baseline
    exports = root / "exports"
    folders = sorted(p for p in (exports / "customers").iterdir())
    assert any(p.name.endswith(".onmicrosoft.com") for p in folders)  # named by domain
    heads = [p.read_bytes()[:64] for p in (exports / "customers").rglob("*.csv")]
    assert any(h.startswith(b"\xff\xfe") for h in heads)  # UTF-16LE with BOM (Out-File)
    assert any(h.startswith(b"\xef\xbb\xbf") for h in heads)  # UTF-8 with BOM
    assert any(h.startswith(b"#TYPE") for h in heads)  # Windows PowerShell Export-Csv
    encodings = {r[0] for r in con.execute("SELECT DISTINCT encoding FROM source_files").fetchall()}
    assert {"utf-8", "utf-8-sig", "utf-16-le", "cp1252"} <= encodings
    # Folder-context tenants were resolved: every listing row has a tenant that exists.
    orphans = con.execute(
        """SELECT count(*) FROM directory_role_members m
           WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.tenant_id = m.tenant_id)"""
    ).fetchone()[0]
    assert orphans == 0


def test_findings_are_exactly_the_planted_ones(baseline):
    root, findings, con = baseline
    check = check_findings(con, "2026-11", root / "expected_findings.json")
    assert check.missing == []
    assert check.unexpected == []
    # Every rule that exists was planted and checked, with at least one finding each.
    assert set(check.rules_checked) == {r.id for r in all_rules()}
    assert all(check.matched.get(rule, 0) > 0 for rule in check.rules_checked)
    assert sum(check.matched.values()) == len(findings)
    # The planted lingering roles take both of the rule's paths and severities: an agent
    # group's object id and a foreign principal's name, a privileged role and a reader.
    lingering = "FROM findings WHERE rule_id = 'AZURE-LINGERING-PARTNER-ROLE'"
    assert con.execute(f"SELECT list(DISTINCT severity ORDER BY severity) {lingering}").fetchone()[
        0
    ] == ["high", "medium"]
    matched = con.execute(
        "SELECT list(DISTINCT m ORDER BY m) FROM (SELECT unnest(json_extract_string(evidence, "
        f"'$.assignments[*].matched_by')) AS m {lingering})"
    ).fetchone()[0]
    assert matched == ["agent_group_object_id", "foreign_principal_name"]


def test_check_notices_a_missing_and_an_unexpected_finding(baseline, tmp_path):
    root, _, con = baseline
    planted = json.loads((root / "expected_findings.json").read_text(encoding="utf-8"))
    checked = {r.id for r in all_rules()}
    kept = [f for f in planted if f["rule_id"] in checked]
    dropped = kept.pop(0)
    invented = dict(dropped, customer_tenant_id="00000000-0000-4000-8000-000000000000")
    changed = tmp_path / "expected.json"
    changed.write_text(json.dumps(kept + [invented]), encoding="utf-8")
    check = check_findings(con, "2026-11", changed)
    assert [m[1] for m in check.missing] == ["00000000-0000-4000-8000-000000000000"]
    assert [u[1] for u in check.unexpected] == [dropped["customer_tenant_id"]]


@pytest.mark.parametrize(
    "variant",
    [
        {"files_per_table": 4},
        {"shuffle": True},
        {"upper_guids": True},
        {"reverse_inputs": True},
        {"files_per_table": 3, "shuffle": True, "upper_guids": True, "reverse_inputs": True},
    ],
    ids=["split", "shuffled", "upper-guids", "other-order", "all-at-once"],
)
def test_findings_do_not_depend_on_files_order_or_case(baseline, tmp_path, variant):
    base_root, expected, _ = baseline
    options = dict(variant)
    reverse = options.pop("reverse_inputs", False)
    root = tmp_path / "estate"
    generate(root, CUSTOMERS, seed=3, **options)
    _assert_varied(base_root / "exports", root / "exports", options)
    inputs = sorted(p for p in (root / "exports").rglob("*") if p.is_file())
    if reverse:
        inputs.reverse()
    con = _analysed(tmp_path, "variant", inputs)
    try:
        assert _findings(con) == expected
    finally:
        con.close()


_UPPER_GUID = re.compile(rb"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


def _partner_rows(exports: Path, table: str) -> list[bytes]:
    """The data rows of a partner-side table, over its files, in file order."""
    rows = []
    for path in sorted((exports / "partner").glob(f"{table}*.csv")):
        rows += path.read_bytes().splitlines()[1:]
    return rows


def _partner_column(exports: Path, table: str, column: str) -> list[str]:
    values = []
    for path in sorted((exports / "partner").glob(f"{table}*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            values += [row[column] for row in csv.DictReader(fh)]
    return values


def _assert_varied(base: Path, exports: Path, options: dict) -> None:
    """The variant is what it says, so that findings equal to the baseline's mean something:
    made a no-op, each of split, shuffle and upper-case passed with findings unchanged."""
    if "files_per_table" in options:
        assert len(list((exports / "partner").glob("tenants-*.csv"))) > 1
    rows, base_rows = (_partner_rows(x, "azure_role_assignments") for x in (exports, base))
    if options.get("shuffle") and not options.get("upper_guids"):
        assert sorted(rows) == sorted(base_rows) and rows != base_rows
    if options.get("upper_guids"):
        assert all(_UPPER_GUID.search(r) for r in rows[:20])
        # GUIDs inside text columns too: a relationship id is two, a scope holds one.
        for table, column in (
            ("gdap_relationships", "relationship_id"),
            ("azure_role_assignments", "scope"),
        ):
            values = _partner_column(exports, table, column)
            assert values and all(_UPPER_GUID.search(v.encode()) for v in values), column


def test_cli_generate_writes_and_refuses_a_non_empty_folder(runner, tmp_path):
    out = tmp_path / "estate"
    result = runner.invoke(cli, ["generate", "--customers", "12", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote 12 customers" in result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["customers"] == 12
    again = runner.invoke(cli, ["generate", "--customers", "12", "--out", str(out)])
    assert again.exit_code == 2
    assert "is not empty; choose a new folder" in again.output


REAL_READERS = {"graph.role_assignments", "azure.role_assignments", "partner_center.customers"}


@pytest.mark.skipif(
    not REAL_READERS <= set(REGISTRY.kinds), reason="the real-format readers are not here yet"
)
@pytest.mark.parametrize(
    "options", [{}, {"shuffle": True, "upper_guids": True}], ids=["real", "real-shuffled-upper"]
)
def test_real_format_estate_gives_exactly_the_planted_findings(tmp_path, options):
    root = tmp_path / "estate"
    generate(root, CUSTOMERS, seed=3, fmt="real", **options)
    exports = root / "exports"
    assert (exports / "azure" / "az-role-assignment-list.json").exists()
    listing = (exports / "azure" / "az-role-assignment-list.json").read_bytes()
    assert bool(_UPPER_GUID.search(listing)) == bool(options.get("upper_guids"))
    assert any(p.read_bytes()[:2] == b"\xff\xfe" for p in exports.rglob("roleAssignments.json"))
    con = _analysed(tmp_path, "real", [exports])
    try:
        check = check_findings(con, "2026-11", root / "expected_findings.json")
        assert check.missing == [] and check.unexpected == []
        assert set(check.rules_checked) == {r.id for r in all_rules()}
    finally:
        con.close()


def test_check_counts_duplicates_and_compares_the_partner_exactly(baseline, tmp_path):
    """A finding reported twice, or with a partner where none was planted (or none where one
    was), is not the planted finding: the check said all was well for each."""
    root, _, con = baseline
    planted = json.loads((root / "expected_findings.json").read_text(encoding="utf-8"))
    with_partner = next(f for f in planted if f["partner_tenant_id"])
    without = next(f for f in planted if not f["partner_tenant_id"])
    changed = [f for f in planted if f not in (with_partner, without)]
    changed += [dict(with_partner, partner_tenant_id=None)]
    changed += [dict(without, partner_tenant_id=with_partner["partner_tenant_id"])]
    twice = next(f for f in planted if f not in (with_partner, without))
    changed += [twice]  # planted twice, found once
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(changed), encoding="utf-8")
    check = check_findings(con, "2026-11", path)

    def key(f):
        p = f["partner_tenant_id"]
        return (
            f["rule_id"],
            f["customer_tenant_id"].lower(),
            p and p.lower(),
            f["subject"].lower(),
        )

    assert sorted(check.missing, key=repr) == sorted(
        [key(changed[-3]), key(changed[-2]), key(twice)], key=repr
    )
    assert sorted(check.unexpected, key=repr) == sorted([key(with_partner), key(without)], key=repr)


def test_cli_generate_refuses_what_it_cannot_do(runner, tmp_path):
    out = tmp_path / "estate"
    for args, said in [
        (["--files-per-table", "4"], "shape a canonical estate only"),
        (["--customer-folders", "3"], "shape a canonical estate only"),
        (["--customers", "9223372036854775808"], "--customers"),
    ]:
        argv = ["generate", "--customers", "5", "--out", str(out), *args]
        result = runner.invoke(cli, argv)
        assert result.exit_code == 2, result.output
        assert said in result.output and "Traceback" not in result.output
        assert not out.exists()
    ok = runner.invoke(
        cli,
        [
            "generate",
            "--customers",
            "5",
            "--out",
            str(out),
            "--format",
            "canonical",
            "--files-per-table",
            "2",
        ],
    )
    assert ok.exit_code == 0, ok.output


def test_a_failed_generate_leaves_its_folder_empty(tmp_path, monkeypatch):
    import dapaudit.generate as gen

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gen, "_write_real", broken)
    out = tmp_path / "estate"
    with pytest.raises(OSError):
        generate(out, 5, fmt="real")
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    generate(out, 5, fmt="real")  # a retry into it is not refused as not empty


def test_real_graph_files_are_the_collections_graph_returns(tmp_path):
    root = tmp_path / "estate"
    generate(root, 5, seed=2, fmt="real")
    contexts = {}
    for name in ("organization", "groups", "roleAssignments"):
        for path in (root / "exports").rglob(f"{name}.json"):
            raw = path.read_bytes()
            text = raw.decode("utf-16") if raw[:2] == b"\xff\xfe" else raw.decode("utf-8")
            doc = json.loads(text.lstrip("\ufeff"))
            assert list(doc) == ["@odata.context", "value"] and doc["value"], path
            contexts[name] = doc["@odata.context"]
    assert contexts["roleAssignments"] == (
        "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/"
        "roleAssignments(principal())"
    )
    assert set(contexts) == {"organization", "groups", "roleAssignments"}
    # Thousands of relationships per partner: collected page by page into one array.
    relationships = next((root / "exports").rglob("delegatedAdminRelationships.json"))
    assert isinstance(json.loads(relationships.read_text(encoding="utf-8")), list)
