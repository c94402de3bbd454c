"""PowerShell Export-Csv readers: MSOnline role members and partner contracts, CrowdStrike CRT."""

from __future__ import annotations

from loading import AS_OF, GA, HD, C, P, load, rows

from dapaudit import db
from dapaudit.ingest import ingest


def test_msol_role_members_cp1252_with_type_line_role_from_legacy_folder_name(tmp_path):
    con, report = load(tmp_path, "role_folders/Company Administrator", tenant=C)
    assert rows(
        con,
        "directory_role_members",
        "tenant_id, role_template_id, principal_id, "
        "principal_type, principal_display_name, principal_upn, directory_scope_id",
    ) == [
        (
            C,
            GA,
            "5b6d0000-0000-4000-8000-000000000001",
            "user",
            "Zoë Müller",
            "zoe@contoso.com",
            "/",
        ),
        (
            C,
            GA,
            "5b6d0000-0000-4000-8000-000000000002",
            "servicePrincipal",
            "Sync account",
            None,
            "/",
        ),
    ]
    # The unserialised ExtensionData column is named in a warning.
    assert any("'ExtensionData'" in w and "System.Runtime" in w for w in report.warnings)
    assert con.execute("SELECT encoding FROM source_files").fetchone()[0] == "cp1252"


def test_crt_admins_cp1252_roles_by_legacy_name(tmp_path):
    con, _ = load(tmp_path, "crt_admins_cp1252.csv", tenant=C)
    assert rows(
        con,
        "directory_role_members",
        "role_template_id, principal_id, principal_type, principal_display_name, principal_upn",
    ) == [
        (
            "29232cdf-9323-42fd-ade2-1d097af3e4de",
            "mail@contoso.onmicrosoft.com",
            "user",
            "Mail Admin",
            "mail@contoso.onmicrosoft.com",
        ),
        (
            GA,
            "alice@contoso.onmicrosoft.com",
            "user",
            "Alice Admin",
            "Alice@Contoso.onmicrosoft.com",
        ),
        (HD, "jose@contoso.onmicrosoft.com", "user", "José Núñez", "jose@contoso.onmicrosoft.com"),
    ]


def test_crt_roles_by_their_azuread_era_names(tmp_path):
    # Get-AzureADDirectoryRole still returns these names; one unknown name refused the file.
    crt = tmp_path / "crt.csv"
    crt.write_bytes(
        (
            '"Role","Display Name","Object Type","Account Enabled","User Principal Name"\r\n'
            '"Power BI Service Administrator","Bob Bi","User","True","bob@contoso.example"\r\n'
            '"CRM Service Administrator","Cy Crm","User","True","cy@contoso.example"\r\n'
            '"Device Administrators","Di Dev","User","True","di@contoso.example"\r\n'
        ).encode("cp1252")
    )
    con = db.connect(tmp_path / "t.duckdb")
    ingest(con, [crt], snapshot="s", as_of=AS_OF, tenant=C)
    assert rows(con, "directory_role_members", "principal_upn, role_template_id") == [
        ("bob@contoso.example", "a9ea8996-122f-4c74-9520-8edcd192826c"),  # Fabric Administrator
        ("cy@contoso.example", "44367163-eba1-44c3-98af-f5787879f96a"),  # Dynamics 365 Admin.
        ("di@contoso.example", "9f06204d-73c1-4d4c-880a-6edb90606fd8"),  # Entra Joined Device
    ]


def test_msol_partner_contract_is_read_as_dap(tmp_path):
    con, _ = load(tmp_path, "msol_partner_contract.csv", tenant=P)
    assert rows(
        con,
        "partner_relationships",
        "customer_tenant_id, partner_tenant_id, relationship_type, dap_enabled",
    ) == [(C, P, "other", True)]
    assert rows(con, "tenants", "tenant_id, display_name, default_domain, tenant_type") == [
        (C, "Contoso Ltd", "contoso.onmicrosoft.com", "customer"),
    ]


def test_unserialised_object_in_a_one_row_export_warns_naming_the_column(runner, tmp_path):
    from dapaudit.cli import cli

    folder = tmp_path / "Company Administrator"
    folder.mkdir()
    (folder / "members.csv").write_text(
        '"ObjectId","DisplayName","RoleMemberType","StrongAuthenticationMethods"\n'
        '"5b6d0000-0000-4000-8000-000000000001","Zoe","User","System.Object[]"\n',
        encoding="utf-8",
    )
    result = runner.invoke(
        cli, ["ingest", str(folder), "--tenant", C, "--db", str(tmp_path / "x.duckdb")]
    )
    assert result.exit_code == 0, result.output
    assert "Warning: " in result.output
    assert "column 'StrongAuthenticationMethods'" in result.output
    assert "System.Object[]" in result.output


def test_azuread_role_members_with_a_role_name_column(tmp_path):
    con, _ = load(tmp_path, "azuread_role_members_with_role_name.csv", tenant=C)
    got = rows(
        con,
        "directory_role_members",
        "role_template_id, principal_id, principal_type, principal_upn",
    )
    assert got == [
        (
            "5d6b6bb7-de71-4623-b4af-96380a352509",
            "5b6d0000-0000-4000-8000-000000000003",
            "servicePrincipal",
            None,
        ),
        (GA, "5b6d0000-0000-4000-8000-000000000001", "user", "zoe@contoso.com"),
    ]


def test_azuread_group_members_group_from_the_folder_named_by_the_partner_group(tmp_path):
    # The groups listing in the same ingest tells which group 'AdminAgents' is.
    con, _ = load(tmp_path, "graph_groups_agents_expand_members.json", "partner_groups", tenant=P)
    assert rows(
        con, "partner_group_members", "group_id, member_id, member_upn, source_file_id"
    ) == [
        (
            "b0000001-0000-4000-8000-000000000001",
            "3f9a0000-0000-4000-8000-000000000001",
            "tech1@northwindpartners.example",
            1,
        ),
        (
            "b0000001-0000-4000-8000-000000000001",
            "3f9a0000-0000-4000-8000-000000000001",
            "tech1@northwindpartners.example",
            2,
        ),
        (
            "b0000001-0000-4000-8000-000000000001",
            "4f9a0000-0000-4000-8000-000000000004",
            "tech4@northwindpartners.example",
            2,
        ),
        ("b0000001-0000-4000-8000-000000000001", "5c000000-0000-4000-8000-000000000003", None, 1),
        ("b0000001-0000-4000-8000-000000000001", "9b1e0000-0000-4000-8000-000000000002", None, 1),
    ]


def test_raw_get_mgdirectoryrolemember_export_keeps_the_id_and_warns(tmp_path):
    con, report = load(tmp_path, "role_folders/Helpdesk Administrator", tenant=C)
    assert rows(
        con, "directory_role_members", "role_template_id, principal_id, principal_type"
    ) == [
        (HD, "6a1f0000-0000-4000-8000-000000000001", "unknown"),
    ]
    assert any("'AdditionalProperties'" in w for w in report.warnings)


def test_role_member_exports_of_different_headers_in_one_ingest_keep_every_value(tmp_path):
    """Get-MsolRoleMember (EmailAddress, RoleMemberType), Get-AzureADDirectoryRoleMember
    (UserPrincipalName, ObjectType) and a raw Get-MgDirectoryRoleMember (Id) in one ingest:
    each file's values as when it is ingested alone (one staging table holds all their
    columns, and a field was read from the first alias the batch had)."""
    together, _ = load(
        tmp_path,
        "role_folders/Company Administrator",
        "role_folders/Helpdesk Administrator",
        "azuread_role_members_with_role_name.csv",
        tenant=C,
    )
    columns = "role_template_id, principal_id, principal_type, principal_upn"
    got = rows(together, "directory_role_members", columns)
    together.close()
    alone = []
    for n, name in enumerate(
        (
            "role_folders/Company Administrator",
            "role_folders/Helpdesk Administrator",
            "azuread_role_members_with_role_name.csv",
        )
    ):
        (tmp_path / str(n)).mkdir()
        con, _ = load(tmp_path / str(n), name, tenant=C)
        alone += rows(con, "directory_role_members", columns)
        con.close()
    assert got == sorted(alone)
    assert (GA, "5b6d0000-0000-4000-8000-000000000001", "user", "zoe@contoso.com") in got


def test_windows_1252_first_seen_past_the_detection_head(tmp_path):
    """A CRT export of 1,200 ASCII rows and then José Núñez in Windows-1252: the head (64 KiB)
    is plain ASCII, so only the rest says the file is not UTF-8."""
    from conftest import FIXTURES

    lines = (FIXTURES / "crt_admins_cp1252.csv").read_bytes().splitlines(keepends=True)
    header, alice, jose = lines[0], lines[1], lines[2]
    filler = [
        alice.replace(b"Alice Admin", b"Admin %d" % n).replace(b"Alice@", b"a%d@" % n)
        for n in range(1200)
    ]
    path = tmp_path / "crt.csv"
    path.write_bytes(header + b"".join(filler) + jose)
    assert len(header + b"".join(filler)) > 64 * 1024 and b"".join(filler).isascii()
    (tmp_path / "db").mkdir()
    con, _ = load(tmp_path / "db", str(path), tenant=C)
    assert con.execute(
        "SELECT principal_display_name FROM directory_role_members WHERE role_template_id = ?",
        [HD],
    ).fetchall() == [("José Núñez",)]
    assert con.execute("SELECT DISTINCT encoding FROM source_files").fetchall() == [("cp1252",)]
    con.close()


def test_msol_members_from_a_partners_loop_go_to_the_tenant_each_row_names(tmp_path):
    # formats.md 2.3: Get-MsolPartnerContract, then Get-MsolRoleMember -TenantId per customer,
    # the script adding TenantId. It was taken for another kind, and with --kind and --tenant
    # every row went to the one --tenant named: Fabrikam's user became Contoso's admin.
    other = "6fc468f5-b399-4e05-a6f1-da8a33da9a6c"
    loop = tmp_path / "loop.csv"
    loop.write_text(
        '"TenantId","RoleName","DisplayName","EmailAddress","ObjectId","RoleMemberType"\n'
        f'"{C.upper()}","Company Administrator","Alice","alice@contoso.com",'
        '"5b6d0000-0000-4000-8000-000000000001","User"\n'
        f'"{other}","Company Administrator","Bob","bob@fabrikam.com",'
        '"5b6d0000-0000-4000-8000-000000000002","User"\n',
        encoding="utf-8",
    )
    con = db.connect(tmp_path / "t.duckdb")
    ingest(con, [loop], snapshot="s", as_of=AS_OF, tenant=C)  # the rows' own tenants win
    assert rows(con, "directory_role_members", "tenant_id, role_template_id, principal_upn") == [
        (C, GA, "alice@contoso.com"),
        (other, GA, "bob@fabrikam.com"),
    ]
    assert con.execute("SELECT kind FROM source_files").fetchone()[0] == "powershell.members"
