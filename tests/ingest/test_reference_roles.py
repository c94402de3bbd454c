"""The role reference the readers map names and GUIDs through: one row per built-in role, and
every legacy alias points at one of them."""

from __future__ import annotations

import csv
import re

from dapaudit.paths import REFERENCE_DIR

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _rows(name: str) -> list[dict[str, str]]:
    with open(REFERENCE_DIR / name, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_directory_roles_are_unique_lower_case_guids():
    roles = _rows("directory_roles.csv")
    ids = [r["role_template_id"] for r in roles]
    assert all(GUID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert len({r["role_key"] for r in roles}) == len(roles)
    assert len({r["display_name"].lower() for r in roles}) == len(roles)


def test_every_alias_names_a_known_role():
    known = {r["role_template_id"] for r in _rows("directory_roles.csv")}
    aliases = _rows("directory_role_aliases.csv")
    assert aliases and all(a["role_template_id"] in known for a in aliases)


# Built-in roles Microsoft lists under "Roles not shown in the portal": a role listing may
# name them, and one unknown GUID refuses the whole file.
NOT_IN_THE_PORTAL = {
    "9c094953-4995-41c8-84c8-3ebb9b32c93f": "Device Join",
    "2b499bcd-da44-4968-8aec-78e1674fa64d": "Device Managers",
    "d405c6df-0af8-4e3b-95e4-4d06e542189e": "Device Users",
    "c34f683f-4d5a-4403-affd-6615e00e3a7f": "Workplace Device Join",
    "10dae51f-b6af-4016-8d66-8c2a99b929b3": "Guest User",
    "2af84b1e-32c8-42b7-82bc-daa82404023b": "Restricted Guest User",
    "a0b1b346-4d3e-4e8b-98f8-753987be4970": "User",
}


def test_roles_not_shown_in_the_portal_are_known():
    names = {r["role_template_id"]: r["display_name"] for r in _rows("directory_roles.csv")}
    assert {k: names.get(k) for k in NOT_IN_THE_PORTAL} == NOT_IN_THE_PORTAL


def test_a_listing_naming_device_join_loads(tmp_path):
    import json

    from conftest import AS_OF, FIXTURES
    from dapaudit import db
    from dapaudit.ingest import ingest

    page = json.loads((FIXTURES / "graph_role_assignments_no_expand.json").read_text("utf-8"))
    page["value"][0]["roleDefinitionId"] = "9c094953-4995-41c8-84c8-3ebb9b32c93f"
    path = tmp_path / "roles.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    con = db.connect(tmp_path / "x.duckdb")
    try:
        ingest(
            con, [path], snapshot="s", as_of=AS_OF, tenant="3f1c8a52-7d0e-4c1b-9a4e-2b6f0d9e1a01"
        )
        assert ("9c094953-4995-41c8-84c8-3ebb9b32c93f",) in con.execute(
            "SELECT role_template_id FROM directory_role_members"
        ).fetchall()
    finally:
        con.close()


def test_a_database_made_before_a_role_was_known_learns_it_when_analysed(tmp_path):
    """The reference tables are refreshed with the views: a database from an earlier build
    gets the roles this build knows at its next analyze."""
    from conftest import AS_OF, SAMPLE
    from dapaudit import db
    from dapaudit.analyze import analyze
    from dapaudit.config import Config
    from dapaudit.ingest import ingest

    con = db.connect(tmp_path / "x.duckdb")
    try:
        ingest(con, [SAMPLE], snapshot="s", as_of=AS_OF)
        con.execute("DELETE FROM ref_directory_roles WHERE display_name = 'Device Join'")
        con.execute("UPDATE dapaudit_meta SET value = 'older' WHERE key = 'views_digest'")
        analyze(con, "s", Config())
        assert con.execute(
            "SELECT count(*) FROM ref_directory_roles WHERE display_name = 'Device Join'"
        ).fetchone() == (1,)
    finally:
        con.close()
