"""Partner relationship readers: Partner Center DAP monitoring and Customers.csv, the
customer-side partner list, the community GDAP export CSV."""

from __future__ import annotations

from datetime import UTC, datetime

from loading import AS_OF, DR, FIXTURES, GA, REL1, C, P, load, rows

from dapaudit import db
from dapaudit.ingest import ingest

X = "5b7c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4"


def test_dap_monitoring_with_sign_in_fields(tmp_path):
    con, _ = load(tmp_path, "pc_delegated_admin_customers.json", tenant=P)
    utc = UTC
    assert rows(
        con,
        "dap_monitoring",
        "partner_tenant_id, customer_tenant_id, dap_enabled, "
        "partner_agent_count, partner_sign_in_count, global_admin_sign_in_count, "
        "start_at, end_at, last_sign_in_at",
    ) == [
        (
            P,
            C,
            False,
            2,
            14,
            3,
            datetime(2019, 3, 1, tzinfo=utc),
            datetime(2025, 6, 1, tzinfo=utc),
            None,
        ),
        (
            P,
            "6fc468f5-b399-4e05-a6f1-da8a33da9a6c",
            True,
            0,
            0,
            0,
            datetime(2022, 4, 20, 6, 11, 11, 722795, tzinfo=utc),
            None,
            datetime(2022, 4, 20, 6, 11, 11, 722795, tzinfo=utc),
        ),
    ]


def test_dap_monitoring_times_with_offsets_in_range(tmp_path):
    # The near miss of broken input's out-of-range offset: the edges of RFC 3339's range load
    # as the instants they name, in both the extended and the basic form.
    text = (FIXTURES / "pc_delegated_admin_customers.json").read_text(encoding="utf-8")
    assert text.count('"2019-03-01T00:00:00Z"') == 1
    text = text.replace('"2019-03-01T00:00:00Z"', '"2019-03-01T00:00:00+23:59"')
    text = text.replace('"2025-06-01T00:00:00Z"', '"2025-06-01T00:00:00-0530"')
    (tmp_path / "dap.json").write_text(text, encoding="utf-8")
    con = db.connect(tmp_path / "t.duckdb")
    ingest(con, [tmp_path / "dap.json"], snapshot="s", as_of=AS_OF, tenant=P)
    assert rows(con, "dap_monitoring", "start_at, end_at")[0] == (
        datetime(2019, 2, 28, 0, 1, tzinfo=UTC),
        datetime(2025, 6, 1, 5, 30, tzinfo=UTC),
    )


def test_partner_center_customers_csv(tmp_path):
    con, _ = load(tmp_path, "pc_customers.csv", tenant=P)
    assert rows(
        con,
        "partner_relationships",
        "customer_tenant_id, partner_tenant_id, relationship_type, dap_enabled",
    ) == [
        (C, P, "reseller", None),
        ("6fc468f5-b399-4e05-a6f1-da8a33da9a6c", P, "indirect_reseller", None),
    ]
    assert rows(con, "tenants", "tenant_id, default_domain") == [
        (C, "contoso.onmicrosoft.com"),
        ("6fc468f5-b399-4e05-a6f1-da8a33da9a6c", "tailspintoys.onmicrosoft.com"),
    ]


def test_customer_side_partner_list_utf16_can_remove_dap(tmp_path):
    con, _ = load(tmp_path, "aadint_ms_partners_utf16.csv", tenant=C)
    assert rows(
        con,
        "partner_relationships",
        "customer_tenant_id, partner_tenant_id, partner_name, relationship_type, dap_enabled",
    ) == [
        (C, X, "Fabrikam Advisory", "advisor", False),
        (C, P, "Northwind Partners", "indirect_reseller", True),
    ]


def test_community_gdap_export_csv(tmp_path):
    con, _ = load(tmp_path, "gdap_export_community.csv", tenant=P)
    assert rows(
        con,
        "gdap_relationships",
        "relationship_id, partner_tenant_id, customer_tenant_id, display_name, status",
    ) == [
        (REL1, P, C, "Contoso admin relationship", "active"),
    ]
    assert rows(con, "gdap_relationship_roles", "relationship_id, role_template_id") == [
        (REL1, GA),
        (REL1, DR),
    ]
    assert rows(
        con, "gdap_access_assignments", "assignment_id, security_group_id, status, role_template_id"
    ) == [
        (
            "84c586df-0943-416e-b95f-7289cb8d3bd5",
            "227a2f44-2682-4831-a021-f8d69a34bcba",
            "active",
            GA,
        ),
        (
            "84c586df-0943-416e-b95f-7289cb8d3bd5",
            "227a2f44-2682-4831-a021-f8d69a34bcba",
            "active",
            DR,
        ),
    ]


def test_community_gdap_export_status_of_either_list_in_any_case(tmp_path):
    """`Status` holds the relationship's status or the assignment's, as the script wrote it:
    either of Graph's lists, in any case (`Active`, `Approved`), stored as Graph spells it."""
    text = (FIXTURES / "gdap_export_community.csv").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    pending = lines[1].replace("5d027261", "7d027261").replace(",active,", ",ApprovalPending,")
    pending = pending.replace(
        ",227a2f44-2682-4831-a021-f8d69a34bcba,84c586df-0943-416e-b95f-7289cb8d3bd5,", ",,,"
    )
    path = tmp_path / "in" / "gdap.csv"
    path.parent.mkdir()
    path.write_text(
        lines[0] + lines[1].replace(",active,", ",Active,") + lines[2] + pending, encoding="utf-8"
    )
    con = db.connect(tmp_path / "x.duckdb")
    ingest(con, [path], snapshot="s", as_of=AS_OF, tenant=P)
    assert rows(con, "gdap_relationships", "left(relationship_id, 8), status") == [
        ("5d027261", "active"),
        ("7d027261", "approvalPending"),
    ]
    assert rows(con, "gdap_access_assignments", "DISTINCT status") == [("active",)]
    con.close()


def test_an_empty_dap_monitoring_page_is_told_by_its_context(tmp_path):
    """No DAP customer left: a page with no record is still DAP monitoring (no rows), not
    a file of unknown kind; Graph's tenantRelationships/delegatedAdminCustomers is not it."""
    from dapaudit.ingest.base import REGISTRY, Sniff

    def kinds(context: str) -> list[str]:
        sniff = Sniff("json", frozenset(), "", record=None, odata_context=context)
        return [k.name for k in REGISTRY.detect(sniff)]

    base = "https://api.partnercenter.microsoft.com/v1/$metadata"
    assert kinds(f"{base}#delegatedAdminCustomers") == ["partner_center.dap_monitoring"]
    graph = "https://graph.microsoft.com/v1.0/$metadata#tenantRelationships/delegatedAdminCustomers"
    assert "partner_center.dap_monitoring" not in kinds(graph)
    path = tmp_path / "dap.json"
    path.write_text(f'{{"@odata.context": "{base}#delegatedAdminCustomers", "value": []}}')
    con, report = load(tmp_path, str(path), tenant=P)
    assert [(f.kind, f.rows) for f in report.files] == [("partner_center.dap_monitoring", 0)]
    con.close()
    # The context after `value` (key order is the writer's): the same page.
    last = tmp_path / "last"
    last.mkdir()
    path = last / "dap.json"
    path.write_text(f'{{"value": [], "@odata.context": "{base}#delegatedAdminCustomers"}}')
    con, report = load(last, str(path), tenant=P)
    assert [(f.kind, f.rows) for f in report.files] == [("partner_center.dap_monitoring", 0)]
    con.close()
