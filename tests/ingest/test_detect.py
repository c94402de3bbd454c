"""Detection by content: every fixture, canonical sample file and real-format estate file is
detected as exactly one kind, the one it is."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, SAMPLE
from dapaudit.ingest import detect
from dapaudit.ingest.base import REGISTRY
from dapaudit.ingest.text import sniff_text

GA_FOLDER = "role_folders/Company Administrator"
GLOBAL_FOLDER = "role_folders/Global Administrator"
HD_FOLDER = "role_folders/Helpdesk Administrator"
EXPECTED = {
    "aadint_ms_partners_utf16.csv": "aadinternals.ms_partners",
    "aobo_checker_utf16_tab.csv": "azure.aobo_checker",
    "azuread_role_members_with_role_name.csv": "powershell.members",
    "partner_groups/AdminAgents/azuread_group_members_utf16.csv": "powershell.members",
    f"{HD_FOLDER}/mg_directory_role_member_raw_export.csv": "powershell.members",
    "arm_role_assignments_rest.json": "azure.role_assignments",
    "az_account_list.json": "azure.accounts",
    "az_role_assignments_foreign_owner.json": "azure.role_assignments",
    "az_role_assignments_nested_old_cli.json": "azure.role_assignments",
    "crt_admins_cp1252.csv": "crt.admin_group_members",
    "gdap_export_community.csv": "community.gdap_export",
    "gdap_paged/graph_gdap_relationships_page1.json": "graph.gdap_relationships",
    "gdap_paged/graph_gdap_relationships_page2.json": "graph.gdap_relationships",
    "get_azroleassignment_semicolon_utf8bom.csv": "azure.ps_role_assignments",
    "graph_autopilot_devices_utf16be.json": "graph.autopilot_devices",
    "graph_contracts.json": "graph.contracts",
    "graph_directory_role_members_paged_by_object_id.json": "graph.members",
    "graph_directory_role_members_zero_trust.json": "graph.members",
    "graph_directory_roles_listing.json": "graph.directory_roles",
    "graph_gdap_access_assignments.json": "graph.gdap_access_assignments",
    "graph_group_transitive_members_nextlink.json": "graph.members",
    "graph_groups_agents_expand_members.json": "graph.groups",
    "graph_organization_partner.json": "graph.organization",
    "graph_role_assignments_expand_gdap_group.json": "graph.role_assignments",
    "graph_role_assignments_no_expand.json": "graph.role_assignments",
    "graph_role_assignments_paged/roleAssignments-page1.json": "graph.role_assignments",
    "graph_role_assignments_paged/roleAssignments-page2.json": "graph.role_assignments",
    "group_member_pages/AdminAgents/members-page2.json": "graph.members",
    "group_member_pages/helpdeskagents-members-page1.json": "graph.members",
    "msol_partner_contract.csv": "powershell.msol_partner_contract",
    "pc_customers.csv": "partner_center.customers",
    "pc_delegated_admin_customers.json": "partner_center.dap_monitoring",
    f"{GA_FOLDER}/msol_role_member_cp1252_type_line.csv": "powershell.members",
    f"{GLOBAL_FOLDER}/graph_directory_role_members_role_from_folder.json": "graph.members",
}


def kinds_of(path: Path) -> list[str]:
    return [k.name for k in REGISTRY.detect(detect.sniff(sniff_text(path)))]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_detected_as_exactly_its_kind(name):
    assert kinds_of(FIXTURES / name) == [EXPECTED[name]]


def test_every_fixture_is_listed_and_every_real_kind_has_a_fixture():
    on_disk = {
        p.relative_to(FIXTURES).as_posix()
        for p in FIXTURES.rglob("*")
        if p.is_file() and not p.relative_to(FIXTURES).as_posix().startswith("broken/")
    }
    assert on_disk == set(EXPECTED)
    real = {k for k in REGISTRY.kinds if not k.startswith("canonical.")}
    assert real == set(EXPECTED.values())


@pytest.mark.parametrize("folder", [SAMPLE, ROOT / "sample_data" / "real-format"])
def test_sample_estate_files_are_each_one_kind(folder):
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        assert len(kinds_of(path)) == 1, path


@pytest.mark.parametrize(
    ("tail", "not_utf8"),
    [
        ("Zoë Müller,€\n".encode(), False),  # UTF-8 past the head stays UTF-8
        ("Zoë Müller,€\n".encode("cp1252"), True),
        (b"plain,ascii\n", False),
        ("é".encode()[:1], True),  # cut inside a character at the very end
    ],
)
def test_bytes_past_an_ascii_head_decide_whether_it_is_utf8(tmp_path, tail, not_utf8):
    from dapaudit.ingest.text import HEAD_BYTES, read_head_and_hash

    path = tmp_path / "f.csv"
    body = b"a,b\n" + b"x,y\n" * (HEAD_BYTES // 4 + 300_000)  # past the head and a 1 MiB chunk
    path.write_bytes(body + tail)
    head, digest, size, flagged = read_head_and_hash(path)
    assert (len(head), size, flagged) == (HEAD_BYTES, len(body + tail), not_utf8)
    assert digest == hashlib.sha256(body + tail).hexdigest()
