"""Azure readers: az CLI (flat, properties-nested), ARM REST, Get-AzRoleAssignment CSV, and
az account list (subscription to tenant)."""

from __future__ import annotations

import json

import pytest
from loading import AS_OF, FIXTURES, S1, C, P, load, rows

from dapaudit import db
from dapaudit.errors import DapauditError
from dapaudit.ingest import ingest

COLS = (
    "tenant_id, subscription_id, scope, role_definition_id, role_definition_name, principal_id, "
    "principal_type, principal_display_name, foreign_partner_name, assignment_id"
)
SCOPE = f"/subscriptions/{S1}"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"


def test_az_cli_foreign_owner_tenant_from_the_account_list(tmp_path):
    # No --tenant, no tenant folder: the subscription's tenant comes from az account list.
    con, _ = load(tmp_path, "az_account_list.json", "az_role_assignments_foreign_owner.json")
    assert rows(con, "azure_subscriptions", "subscription_id, tenant_id, display_name, state") == [
        (S1, C, "Contoso Production", "Enabled"),
    ]
    assert rows(con, "azure_role_assignments", COLS) == [
        (
            C,
            S1,
            SCOPE,
            OWNER,
            "Owner",
            "a1b2c3d4-0000-4000-8000-0000000000aa",
            "foreignGroup",
            None,
            None,
            "2b7e0000-0000-4000-8000-000000000001",
        ),
        # A group named as a foreign principal is the partner's foreign group, whatever its type.
        (
            C,
            S1,
            f"{SCOPE}/resourcegroups/rg1",
            "acdd72a7-3385-48ef-bd42-f606fba81ae7",
            "Reader",
            "c1000000-0000-4000-8000-000000000001",
            "foreignGroup",
            "Foreign Principal for 'Northwind Partners' in Role 'TenantAdmins' (Contoso Ltd)",
            "Northwind Partners",
            "2b7e0000-0000-4000-8000-000000000002",
        ),
    ]


def _assignment(subscription: str, n: int) -> dict:
    return {
        "id": f"/subscriptions/{subscription}/providers/Microsoft.Authorization/"
        f"roleAssignments/2b7e0000-0000-4000-8000-00000000010{n}",
        "name": f"2b7e0000-0000-4000-8000-00000000010{n}",
        "principalId": f"d1000000-0000-4000-8000-00000000010{n}",
        "principalName": "alice@contoso.com",
        "principalType": "User",
        "roleDefinitionId": f"/subscriptions/{subscription}/providers/Microsoft.Authorization/"
        "roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c",
        "roleDefinitionName": "Contributor",
        "scope": f"/subscriptions/{subscription}",
    }


S2 = "8f2c0000-0000-4000-8000-000000000002"  # not in az_account_list.json


def test_tenant_is_the_account_lists_then_the_context_else_an_error(tmp_path):
    """The subscription's owner from az account list wins over the file's context; a
    subscription the list does not name takes the context; with neither, the record is
    refused."""
    listing = tmp_path / "assignments.json"
    listing.write_text(json.dumps([_assignment(S1, 1), _assignment(S2, 2)]), encoding="utf-8")
    con, _ = load(tmp_path, "az_account_list.json", str(listing), tenant=P)
    assert rows(con, "azure_role_assignments", "subscription_id, tenant_id") == [(S1, C), (S2, P)]

    (tmp_path / "no-context").mkdir()
    with pytest.raises(DapauditError) as refused:
        load(tmp_path / "no-context", "az_account_list.json", str(listing))
    assert "assignments.json, record 2, field 'tenant': no tenant id" in str(refused.value)


def test_a_subscription_two_account_lists_give_to_two_tenants(tmp_path):
    """A subscription that az account list gives to C in C's folder and to P in P's (moved
    between tenants, or an edited file): P's role assignments on it are P's, whichever order
    the folders are ingested in. The least tenant id of the two used to win: one customer's
    Owners went into another customer's findings and review, by the order of ingest."""
    account = json.loads((FIXTURES / "az_account_list.json").read_text(encoding="utf-8"))
    estate = tmp_path / "estate"
    for tenant in (C, P):
        folder = estate / tenant
        folder.mkdir(parents=True)
        listed = [dict(account[0], tenantId=tenant, homeTenantId=tenant)]
        (folder / "az-account-list.json").write_text(json.dumps(listed), encoding="utf-8")
    (estate / P / "az-role-assignment-list.json").write_text(
        json.dumps([_assignment(S1, 1)]), encoding="utf-8"
    )
    for n, order in enumerate(([C, P], [P, C], [None])):
        con = db.connect(tmp_path / f"{n}.duckdb")
        for tenant in order:
            ingest(con, [estate / tenant if tenant else estate], snapshot="s", as_of=AS_OF)
        assert rows(con, "azure_role_assignments", "subscription_id, tenant_id") == [(S1, P)]
        con.close()

    # No folder or --tenant to pick one of the two: refused, never guessed.
    (estate / P / "az-role-assignment-list.json").rename(estate / "assignments.json")
    con = db.connect(tmp_path / "refused.duckdb")
    with pytest.raises(DapauditError) as refused:
        ingest(con, [estate], snapshot="s", as_of=AS_OF)
    assert "assignments.json, record 1, field 'scope': az account list gives this " in str(
        refused.value
    )


def test_a_subscription_belongs_to_its_home_tenant_not_the_signed_in_one(tmp_path):
    """A partner's own `az account list` shows a customer subscription it manages through
    Azure Lighthouse with tenantId the partner's (the tenant signed in to) and homeTenantId
    the customer's: the subscription, its role assignments and their findings are the
    customer's. Read by tenantId they all moved onto the partner."""
    account = json.loads((FIXTURES / "az_account_list.json").read_text(encoding="utf-8"))
    lighthouse = tmp_path / "az-account-list.json"
    lighthouse.write_text(
        json.dumps([dict(account[0], tenantId=P, homeTenantId=C)]), encoding="utf-8"
    )
    listing = tmp_path / "assignments.json"
    listing.write_text(json.dumps([_assignment(S1, 1)]), encoding="utf-8")
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [lighthouse, listing], snapshot="s", as_of=AS_OF)
    assert rows(con, "azure_subscriptions", "subscription_id, tenant_id") == [(S1, C)]
    assert rows(con, "azure_role_assignments", "subscription_id, tenant_id") == [(S1, C)]


def test_az_cli_properties_nested_with_tenant_from_context(tmp_path):
    con, _ = load(tmp_path, "az_role_assignments_nested_old_cli.json", tenant=C)
    assert rows(con, "azure_role_assignments", COLS) == [
        (
            C,
            S1,
            SCOPE,
            "b24988ac-6180-42a0-ab88-20f7382dd24c",
            "Contributor",
            "d1000000-0000-4000-8000-000000000001",
            "unknown",
            "alice@contoso.com",
            None,
            "2b7e0000-0000-4000-8000-000000000003",
        ),
    ]


def test_arm_rest_role_assignments(tmp_path):
    con, _ = load(tmp_path, "arm_role_assignments_rest.json", tenant=C)
    assert rows(con, "azure_role_assignments", COLS) == [
        (
            C,
            S1,
            SCOPE,
            "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
            None,
            "e1000000-0000-4000-8000-000000000001",
            "servicePrincipal",
            None,
            None,
            "2b7e0000-0000-4000-8000-000000000004",
        ),
    ]


def test_get_azroleassignment_csv_semicolon_utf8_bom(tmp_path):
    con, _ = load(tmp_path, "get_azroleassignment_semicolon_utf8bom.csv", tenant=C)
    assert rows(con, "azure_role_assignments", COLS) == [
        (
            C,
            S1,
            SCOPE,
            OWNER,
            "Owner",
            "a1b2c3d4-0000-4000-8000-0000000000aa",
            "foreignGroup",
            "Foreign Principal for 'Northwind Partners' in Role 'TenantAdmins' (Contoso Ltd)",
            "Northwind Partners",
            "2b7e0000-0000-4000-8000-000000000005",
        ),
    ]


def test_foreign_owner_is_tied_to_the_partner_by_name_and_group_id(tmp_path):
    """The foreign principal's partner is resolved from whichever is present."""
    con, _ = load(
        tmp_path,
        "az_account_list.json",
        "az_role_assignments_foreign_owner.json",
        "aadint_ms_partners_utf16.csv",
        tenant=C,
    )
    got = con.execute(
        "SELECT principal_id, partner_tenant_id, matched_by FROM azure_assignment_partners "
        "ORDER BY ALL"
    ).fetchall()
    assert got == [
        ("a1b2c3d4-0000-4000-8000-0000000000aa", None, None),
        ("c1000000-0000-4000-8000-000000000001", P, "foreign_principal_name"),
    ]


def test_aobo_checker_tab_utf16_groups_then_headerless_role_rows(tmp_path):
    con, _ = load(tmp_path, "aobo_checker_utf16_tab.csv")
    assert rows(con, "partner_agent_groups", "partner_tenant_id, group_id, agent_role") == [
        (P, "a1b2c3d4-0000-4000-8000-0000000000aa", "admin_agents"),
        (P, "a1b2c3d4-0000-4000-8000-0000000000bb", "helpdesk_agents"),
    ]
    assert rows(con, "azure_role_assignments", COLS) == [
        (
            C,
            S1,
            SCOPE,
            OWNER,
            "Owner",
            "a1b2c3d4-0000-4000-8000-0000000000aa",
            "foreignGroup",
            "Foreign Principal for 'Northwind Partners' in role 'TenantAdmins' (Contoso Ltd)",
            "Northwind Partners",
            None,
        ),
    ]
    # Both ways of tying it to the partner hold: the agent group's object id wins.
    assert con.execute(
        "SELECT partner_tenant_id, agent_role, matched_by FROM azure_assignment_partners"
    ).fetchall() == [(P, "admin_agents", "agent_group_object_id")]


def test_inherited_scopes_the_root_kept_and_a_trailing_slash_no_second_assignment(tmp_path):
    """--include-inherited gives assignments at management groups and at the root scope '/':
    the root stays '/', not '' (trailing slashes are dropped); and one assignment written with
    and without a trailing slash is the same assignment, refused as a repeat."""
    from conftest import FIXTURES

    records = json.loads((FIXTURES / "az_role_assignments_foreign_owner.json").read_text())
    first = records[0]
    uaa = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
    inherited = [
        {
            **first,
            "scope": "/",
            "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{uaa}",
        },
        {**first, "scope": "/providers/Microsoft.Management/managementGroups/Contoso/"},
    ]
    path = tmp_path / "inherited.json"
    path.write_text(json.dumps(inherited), encoding="utf-8")
    con, _ = load(tmp_path, str(path), tenant=C)
    assert rows(con, "azure_role_assignments", "scope, subscription_id") == [
        ("/", None),
        ("/providers/microsoft.management/managementgroups/contoso", None),
    ]
    con.close()
    again = tmp_path / "again.json"
    again.write_text(
        json.dumps([first, {**first, "scope": first["scope"] + "/"}]), encoding="utf-8"
    )
    (tmp_path / "2").mkdir()
    with pytest.raises(DapauditError, match="duplicate record"):
        load(tmp_path / "2", str(again), tenant=C)


def test_aobo_checker_names_a_support_role_a_partner_is_often_given(tmp_path):
    # The checker names roles only; a row naming any role but five refused the whole file as
    # 'not a built-in role'. Support Request Contributor is the one AOBO partners are given.
    text = (FIXTURES / "aobo_checker_utf16_tab.csv").read_text(encoding="utf-16")
    assert text.rstrip().endswith("\tOwner")
    path = tmp_path / "aobo.csv"
    path.write_text(text.rstrip()[: -len("Owner")] + "Support Request Contributor\n", "utf-16")
    con = db.connect(tmp_path / "t.duckdb")
    ingest(con, [path], snapshot="s", as_of=AS_OF)
    assert rows(con, "azure_role_assignments", "role_definition_id, role_definition_name") == [
        ("cfd33db0-3dd1-45e3-aa9d-cdbdf3b6f24e", "Support Request Contributor")
    ]
