"""The effective access model on the sample estate: who can administer a customer, and how."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT

NORTHWIND = "d6f7fc44-c24f-50b5-803c-2a06b9253355"


def _tenant(con, name):
    return con.execute("SELECT tenant_id FROM tenants WHERE display_name = ?", [name]).fetchone()[0]


def _global_admins(con, name):
    return con.execute(
        """SELECT path, access, partner_tenant_id, relationship_id IS NOT NULL, via_group_name,
                  principal_display_name, members_known
           FROM effective_directory_access
           WHERE customer_tenant_id = ? AND role_name = 'Global Administrator'
           ORDER BY ALL""",
        [_tenant(con, name)],
    ).fetchall()


def test_a_known_partners_listed_gdap_group_is_expanded_to_its_members(sample_db):
    rows = _global_admins(sample_db, "Fourth Coffee")
    tier3 = ("Northwind Tier3 Admins",)
    assert rows == [
        ("gdap_assignment", "assigned", NORTHWIND, True, *tier3, "Ana Novak", True),
        ("gdap_assignment", "assigned", NORTHWIND, True, *tier3, "Chen Wei", True),
        ("gdap_assignment", "assigned", NORTHWIND, True, *tier3, "Farah Haddad", True),
        ("listed_own", "listed", None, False, None, "Global Admin One", None),
        ("listed_own", "listed", None, False, None, "Global Admin Two", None),
        ("listed_partner", "listed", NORTHWIND, True, *tier3, "Ana Novak", True),
        ("listed_partner", "listed", NORTHWIND, True, *tier3, "Chen Wei", True),
        ("listed_partner", "listed", NORTHWIND, True, *tier3, "Farah Haddad", True),
    ]


def test_dap_is_implicit_and_expanded_only_where_members_are_known(sample_db):
    contoso = _global_admins(sample_db, "Contoso Ltd")
    implicit = [r for r in contoso if r[0] == "implicit_dap"]
    assert [r[5] for r in implicit] == [
        "Ana Novak",
        "Ben Okafor",
        "Chen Wei",
        "Northwind Azure Managers",
    ]
    assert all(r[1] == "implicit" and r[4] == "AdminAgents" and r[6] for r in implicit)
    woodgrove = [r for r in _global_admins(sample_db, "Woodgrove Bank") if r[0] == "implicit_dap"]
    # Fabrikam's members were not exported: one row stands for the group.
    assert woodgrove == [
        (
            "implicit_dap",
            "implicit",
            "daa14757-f34a-5b49-af24-e0343071f261",
            False,
            "AdminAgents",
            "AdminAgents",
            False,
        )
    ]


def test_an_unknown_tenants_group_is_listed_foreign(sample_db):
    rows = _global_admins(sample_db, "Trey Research")
    assert [r[0] for r in rows] == ["listed_foreign", "listed_own", "listed_own", "listed_own"]
    assert rows[0][5] == "Helpdesk Outsourcing Admins" and rows[0][6] is False


def test_azure_access_paths(sample_db):
    paths = dict(
        sample_db.execute(
            """SELECT t.display_name, list(a.path ORDER BY a.path)
               FROM effective_azure_access a JOIN tenants t ON t.tenant_id = a.customer_tenant_id
               GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
    )
    assert paths["Tailspin Toys"] == ["partner_agent_group"]
    assert paths["Alpine Ski House"] == ["partner_foreign_principal"]
    assert paths["Coho Winery"] == ["unknown_foreign"]
    assert paths["Litware Inc"] == ["own"]
    assert paths["Contoso Ltd"] == ["own", "partner_agent_group"]


def test_every_view_has_a_comment():
    sql = (ROOT / "src" / "dapaudit" / "views.sql").read_text(encoding="utf-8")
    views = re.findall(r"CREATE OR REPLACE VIEW (\w+)", sql)
    commented = set(re.findall(r"COMMENT ON VIEW (\w+)", sql))
    assert views and set(views) <= commented


@pytest.mark.parametrize(
    "earlier_digest",
    [None, "0" * 64],
    ids=["build-before-view-digests", "build-with-other-views"],
)
def test_analyze_recreates_views_an_earlier_build_did_not_have(tmp_path, earlier_digest):
    from conftest import AS_OF, SAMPLE
    from dapaudit import db
    from dapaudit.analyze import analyze
    from dapaudit.config import Config
    from dapaudit.ingest import ingest

    con = db.connect(tmp_path / "old.duckdb")
    ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
    # An earlier build: a view this one has is missing, and the digest of the view
    # definitions is absent (builds before digests) or another build's.
    con.execute("DROP VIEW effective_azure_access")
    con.execute("DELETE FROM dapaudit_meta WHERE key = 'views_digest'")
    if earlier_digest:
        con.execute("INSERT INTO dapaudit_meta VALUES ('views_digest', ?)", [earlier_digest])
    assert analyze(con, "2026-11", Config()).total > 0
    assert con.execute("SELECT value FROM dapaudit_meta WHERE key = 'views_digest'").fetchone() == (
        db.views_digest(),
    )
    con.close()
