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
