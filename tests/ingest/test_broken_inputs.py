"""Broken real exports: each fails with exit code 2, a message naming the file, the line or
record and (where there is one) the field, and leaves the database exactly as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FIXTURES, SAMPLE, db_dump
from dapaudit.cli import cli

C = "3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01"


def _fixture(name: str) -> str:
    raw = (FIXTURES / name).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def _role_assignments(**changes) -> str:
    doc = json.loads(_fixture("graph_role_assignments_expand_gdap_group.json"))
    doc["value"][1].update(changes)
    return json.dumps(doc, indent=1)


GA_ROLE = "62e90394-69f5-4237-9190-012177145e10"


def _json_changed(name: str, change, record: int = 0) -> str:
    """A JSON fixture (a Graph page or a bare array) with one record changed in place."""
    doc = json.loads(_fixture(name))
    change((doc["value"] if isinstance(doc, dict) else doc)[record])
    return json.dumps(doc, indent=1)


AZ_CSV = _fixture("get_azroleassignment_semicolon_utf8bom.csv")
AZ_HEADER, AZ_ROW = AZ_CSV.splitlines()[0], AZ_CSV.splitlines()[1]
CONTRACTS = _fixture("msol_partner_contract.csv")


def _large_az_listing_cut_short() -> str:
    """An `az role assignment list` array past the detection head (read from disk by DuckDB),
    its last record cut off."""
    records = json.loads(_fixture("az_role_assignments_foreign_owner.json"))
    text = json.dumps(records * (200_000 // len(json.dumps(records)) + 1), indent=1)
    return text[: len(text) - 40]


# name -> (file name, content (str, or bytes written as is), extra CLI args, expected message)
CASES = {
    "truncated_json_first_record": (
        "roles.json",
        _fixture("graph_role_assignments_expand_gdap_group.json")[:300],
        [],
        "roles.json, line 8: malformed JSON",
    ),
    "truncated_json_later_record": (
        "roles.json",
        _fixture("graph_role_assignments_expand_gdap_group.json")[:1200],
        [],
        "roles.json: malformed JSON",
    ),
    # Alone (--kind), so read inside ingest's transaction, which the failed read aborts: the
    # message is still DuckDB's about the file, not about the transaction.
    "truncated_large_json_read_from_disk": (
        "az.json",
        _large_az_listing_cut_short(),
        ["--kind", "azure.role_assignments"],
        "az.json: malformed JSON: Invalid Input Error: Malformed JSON in file",
    ),
    "azure_role_known_by_a_name_dapaudit_does_not_know": (
        "azure.csv",
        '"Scope","DisplayName","RoleDefinitionName","ObjectId","ObjectType"\r\n'
        '"/subscriptions/8f2c0000-0000-4000-8000-000000000001","Ann",'
        '"Virtual Machine Contributor","a1b2c3d4-0000-4000-8000-0000000000aa","User"\r\n',
        [],
        "azure.csv, line 2, field 'RoleDefinitionName': unknown Azure role name (known by name: "
        "Contributor, Managed Services Registration assignment Delete Role, Monitoring "
        "Contributor, Owner, Reader",
    ),
    "classic_administrators": (
        "azure.csv",
        # Get-AzRoleAssignment -IncludeClassicAdministrators: a row for the service admin.
        AZ_CSV + '"";"";"/subscriptions/8f2c0000-0000-4000-8000-000000000001";'
        '"admin@fabrikam.com";"admin@fabrikam.com";"ServiceAdministrator;AccountAdministrator";'
        '"";"";"User";"False";"";"";""\r\n',
        [],
        "azure.csv, line 3, field 'RoleDefinitionName': a classic administrator (no object id",
    ),
    "empty_file": ("roles.json", "", [], "roles.json: empty file"),
    "header_only": (
        "assignments.csv",
        AZ_HEADER + "\r\n",
        [],
        "assignments.csv, line 2: header only, no records",
    ),
    "missing_required_column": (
        "assignments.csv",
        AZ_CSV.replace('"ObjectId";', '"PrincipalId";'),
        ["--kind", "azure.ps_role_assignments"],
        "assignments.csv, line 1, field 'ObjectId': required column is missing",
    ),
    # A column every record needs, left out of a file read with --kind: it was "line 2,
    # required value is missing", as if one record had left the value out.
    "missing_role_column": (
        "assignments.csv",
        AZ_CSV.replace('"RoleDefinitionName";', '"Role";').replace(
            '"RoleDefinitionId";', '"RoleGuid";'
        ),
        ["--kind", "azure.ps_role_assignments"],
        "assignments.csv, line 1, field 'RoleDefinitionId': required column is missing",
    ),
    "gdap_csv_missing_customer_column": (
        "gdap.csv",
        _fixture("gdap_export_community.csv").replace("CustomerTenantId,", "TenantGuid,", 1),
        ["--kind", "community.gdap_export"],
        "gdap.csv, line 1, field 'CustomerTenantId': required column is missing",
    ),
    "crt_missing_principal_columns": (
        "admins.csv",
        _fixture("crt_admins_cp1252.csv")
        .replace('"Display Name"', '"Name"', 1)
        .replace('"User Principal Name"', '"Login"', 1),
        ["--kind", "crt.admin_group_members"],
        "admins.csv, line 1, field 'User Principal Name': required column is missing",
    ),
    "missing_required_value": (
        "roles.json",
        _role_assignments(principalId=None),
        [],
        "roles.json, record 2, field 'principalId': required value is missing",
    ),
    "invalid_guid": (
        "roles.json",
        _role_assignments(principalId="not-a-guid"),
        [],
        "roles.json, record 2, field 'principalId': not a GUID",
    ),
    "invalid_guid_csv": (
        "assignments.csv",
        AZ_CSV.replace("a1b2c3d4-0000-4000-8000-0000000000aa", "a1b2c3d4"),
        [],
        "assignments.csv, line 2, field 'ObjectId': not a GUID",
    ),
    "duplicate_rows": (
        "contracts.csv",
        CONTRACTS + CONTRACTS.splitlines()[-1] + "\n",
        [],
        "contracts.csv, line 4: duplicate record (same as line 3)",
    ),
    "unknown_role_guid": (
        "roles.json",
        _role_assignments(roleDefinitionId="00000000-1111-4222-8333-444444444444"),
        [],
        "roles.json, record 2, field 'roleDefinitionId': unknown directory role template id",
    ),
    "unknown_role_name": (
        "crt.csv",
        _fixture("crt_admins_cp1252.csv").replace("Company Administrator", "Wizard"),
        [],
        "crt.csv, line 2, field 'Role': unknown directory role name",
    ),
    "mixed_delimiters": (
        "assignments.csv",
        AZ_CSV + AZ_ROW.replace(";", ",") + "\r\n",
        [],
        "assignments.csv, line 3: malformed CSV: value with unterminated quote found",
    ),
    "binary_file": ("roles.json", bytes(range(256)) * 8, [], "roles.json: binary file"),
    "no_tenant_context": (
        "roles.json",
        _fixture("graph_role_assignments_expand_gdap_group.json"),
        ["--no-tenant"],
        "roles.json, record 1, field 'tenant': no tenant id",
    ),
    "tenant_domain_no_tenant_has": (
        "roles.json",
        _fixture("graph_role_assignments_expand_gdap_group.json"),
        ["--no-tenant", "--tenant", "contoso.example"],
        "roles.json, record 1, field 'tenant': no tenant id: the record has none, and the "
        "file's tenant context (--tenant, or its folder's name) is a domain no tenant of the "
        "snapshot has",
    ),
    "members_of_unknown_owner": (
        "members.json",
        _fixture("graph_directory_role_members_zero_trust.json").replace(
            '"roleDefinitionId"', '"somethingElse"'
        ),
        [],
        "members.json, record 1, field '@odata.context': cannot tell whose members these are",
    ),
    "bad_gdap_status": (
        "rels.json",
        _fixture("gdap_paged/graph_gdap_relationships_page1.json").replace('"active"', '"happy"'),
        [],
        "rels.json, record 1, field 'status': unexpected value",
    ),
    "gdap_csv_role_not_a_guid": (
        "gdap.csv",
        _fixture("gdap_export_community.csv").replace(
            "88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"
        ),
        [],
        "gdap.csv, line 2, field 'RoleId': not a GUID",
    ),
    "gdap_csv_group_without_assignment": (
        "gdap.csv",
        _fixture("gdap_export_community.csv").replace(
            ",84c586df-0943-416e-b95f-7289cb8d3bd5,", ",,", 1
        ),
        [],
        "gdap.csv, line 2, field 'AssignmentId': required value is missing",
    ),
    # A misspelt status was taken, read as "not active", and the rules on it went quiet.
    "gdap_csv_status_misspelt": (
        "gdap.csv",
        _fixture("gdap_export_community.csv").replace(",active,", ",actve,", 1),
        [],
        "gdap.csv, line 2, field 'Status': unexpected value (expected one of: activating, "
        "active, approvalPending, approved, created, deleted, deleting, error, expired, "
        "expiring, pending, terminated, terminating, terminationRequested, unknownFutureValue; "
        "in any case)",
    ),
    "access_assignment_status_misspelt": (
        "assignments.json",
        _fixture("graph_gdap_access_assignments.json").replace('"active"', '"actve"'),
        [],
        "assignments.json, record 1, field 'status': unexpected value (expected one of: active, "
        "deleted, deleting, error, pending, unknownFutureValue; in any case)",
    ),
    "dap_monitoring_flag_not_boolean": (
        "dap.json",
        _fixture("pc_delegated_admin_customers.json").replace(
            '"dapEnabled": true', '"dapEnabled": "maybe"'
        ),
        [],
        "dap.json, record 1, field 'dapEnabled': unexpected value",
    ),
    "aobo_checker_row_of_five_fields": (
        "aobo.txt",
        "GroupName\tObjectID\tPartnerTenantName\tPartnerTenantID\n"
        "AdminAgents\ta1b2c3d4-0000-4000-8000-0000000000aa\tNorthwind\t" + C + "\n"
        "contoso.onmicrosoft.com\t" + C + "\tnot-a-sub\tX\tOwner\n",
        [],
        "aobo.txt, line 3, field 'line': expected 4 fields",
    ),
    "bad_duration": (
        "rels.json",
        _fixture("gdap_paged/graph_gdap_relationships_page1.json").replace('"P730D"', '"730 days"'),
        [],
        "rels.json, record 1, field 'duration': not an ISO-8601 duration",
    ),
    "bad_timestamp": (
        "dap.json",
        _fixture("pc_delegated_admin_customers.json").replace(
            '"2019-03-01T00:00:00Z"', '"last spring"'
        ),
        [],
        "dap.json, record 2, field 'startDateTime': not a valid ISO-8601 date-time",
    ),
    # Silent losses before: an assignment without a list of roles was dropped (the rows come
    # from the list), a relationship's roles given as a string vanished, a group's members
    # cut short by the exporting script read as none, a scope that is no scope was stored.
    "access_assignment_without_roles": (
        "assignments.json",
        _json_changed("graph_gdap_access_assignments.json", lambda r: r.pop("accessDetails")),
        [],
        "assignments.json, record 1, field 'accessDetails.unifiedRoles': missing, or not a list",
    ),
    "access_assignment_roles_an_object": (
        "assignments.json",
        _json_changed(
            "graph_gdap_access_assignments.json",
            lambda r: r["accessDetails"].update(unifiedRoles=r["accessDetails"]["unifiedRoles"][0]),
        ),
        [],
        "assignments.json, record 1, field 'accessDetails.unifiedRoles': missing, or not a list",
    ),
    "relationship_roles_a_string": (
        "rels.json",
        _json_changed(
            "gdap_paged/graph_gdap_relationships_page1.json",
            lambda r: r["accessDetails"].update(
                unifiedRoles="62e90394-69f5-4237-9190-012177145e10"
            ),
        ),
        [],
        "rels.json, record 1, field 'accessDetails.unifiedRoles': not a list of roles",
    ),
    "relationship_lists_a_role_twice": (
        "rels.json",
        _json_changed(
            "gdap_paged/graph_gdap_relationships_page1.json",
            lambda r: r["accessDetails"]["unifiedRoles"].append(
                dict(r["accessDetails"]["unifiedRoles"][0])
            ),
        ),
        [],
        "rels.json, record 1: the record lists the same thing twice",
    ),
    "group_members_cut_short": (
        "groups.json",
        _json_changed(
            "graph_groups_agents_expand_members.json", lambda r: r.update(members="System.Object[]")
        ),
        [],
        "groups.json, record 1, field 'members': not a list of members",
    ),
    "az_scope_a_list": (
        "az.json",
        _json_changed(
            "az_role_assignments_foreign_owner.json", lambda r: r.update(scope=[r["scope"]])
        ),
        [],
        "az.json, record 1, field 'scope': not an Azure scope",
    ),
    "az_scope_without_its_slash": (
        "az.json",
        _json_changed(
            "az_role_assignments_foreign_owner.json", lambda r: r.update(scope=r["scope"][1:])
        ),
        [],
        "az.json, record 1, field 'scope': not an Azure scope",
    ),
    # DuckDB's cast took +25:00 as 25 hours: the time would be a day off, and no error.
    "timestamp_offset_out_of_range": (
        "dap.json",
        _fixture("pc_delegated_admin_customers.json").replace(
            '"2019-03-01T00:00:00Z"', '"2019-03-01T00:00:00+25:00"'
        ),
        [],
        "dap.json, record 2, field 'startDateTime': UTC offset out of range",
    ),
}


@pytest.fixture(scope="module")
def loaded_db(tmp_path_factory):
    """A database holding the canonical sample estate, and its contents: built once."""
    dbfile = tmp_path_factory.mktemp("loaded") / "x.duckdb"
    ok = CliRunner().invoke(
        cli, ["ingest", str(SAMPLE), "--db", str(dbfile), "--as-of", "2026-11-30"]
    )
    assert ok.exit_code == 0, ok.output
    return dbfile, db_dump(dbfile)


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_input_exits_2_names_the_place_and_changes_nothing(
    runner, tmp_path, loaded_db, case
):
    name, content, extra, message = CASES[case]
    dbfile = tmp_path / "x.duckdb"
    shutil.copyfile(loaded_db[0], dbfile)
    bad = tmp_path / "in" / name
    bad.parent.mkdir()
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content, encoding="utf-8")
    tenant = [] if "--no-tenant" in extra else ["--tenant", C]
    args = [a for a in extra if a != "--no-tenant"]
    # A good file goes in with the bad one, so the rollback has something to undo (a forced
    # --kind applies to every input: then the broken file goes alone).
    good = FIXTURES / "pc_delegated_admin_customers.json"
    inputs = [str(bad)] if "--kind" in extra else [str(good), str(bad)]
    result = runner.invoke(
        cli,
        [
            "ingest",
            *inputs,
            "--db",
            str(dbfile),
            "--as-of",
            "2026-11-30",
            "--snapshot",
            "2026-12",
            *tenant,
            *args,
        ],
    )
    assert result.exit_code == 2, result.output
    assert str(Path("in") / name) in result.output
    assert message in result.output
    assert db_dump(dbfile) == loaded_db[1]
