"""Kinds loaded alongside (ingest.alongside): several connections give the database that
loading kind after kind gives, in the same row order, and fail with the same error. The
runner itself: tests/test_jobs.py."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from loading import GA, C, P

import dapaudit.ingest as ingest_module
from conftest import AS_OF, FIXTURES, SAMPLE, table_dump
from dapaudit import db, jobs
from dapaudit.errors import DapauditError
from dapaudit.generate import generate
from dapaudit.ingest import REGISTRY, alongside, ingest, kind_workers
from dapaudit.ingest.base import Kind

REAL = SAMPLE.parent / "real-format"
ORG_DOMAIN = "northwindpartners.example"  # graph_organization_partner.json's domain


def _dependent_kinds(root: Path) -> Path:
    """Kinds that read what others load: role members named by object id (the directory role
    listing), a partner group named by its folder (the groups listing), Azure role assignments
    (the subscription list), all in folders whose tenant comes from a domain or a GUID."""
    partner = root / ORG_DOMAIN
    customer = root / C
    partner.mkdir(parents=True)
    customer.mkdir()
    for name in ("graph_organization_partner.json", "graph_groups_agents_expand_members.json"):
        shutil.copy(FIXTURES / name, partner / name)
    shutil.copytree(FIXTURES / "partner_groups", partner / "partner_groups")
    for name in (
        "graph_directory_roles_listing.json",
        "graph_directory_role_members_paged_by_object_id.json",
        "az_account_list.json",
        "az_role_assignments_foreign_owner.json",
    ):
        shutil.copy(FIXTURES / name, customer / name)
    return root


def _load(path: Path, inputs: Path, workers: int, monkeypatch) -> dict:
    """The database and report after ingesting `inputs` with `workers` connections, rows in
    the order they were written (not sorted, unlike table_dump)."""
    calls = []
    real_run = jobs.run
    monkeypatch.setattr(ingest_module, "kind_workers", lambda files: workers)
    monkeypatch.setattr(jobs, "run", lambda *a, **k: calls.append(1) or real_run(*a, **k))
    con = db.connect(path)
    try:
        report = ingest(con, [inputs], snapshot="2026-11", as_of=AS_OF)
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND NOT internal ORDER BY 1"
            ).fetchall()
        ]
        dump = {t: con.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
        dump["source_files"] = con.execute(
            "SELECT * EXCLUDE (ingested_at) FROM source_files"
        ).fetchall()
        dump["snapshots"] = con.execute("SELECT snapshot, as_of FROM snapshots").fetchall()
        dump["report"] = [(f.path, f.kind, f.rows, f.skipped) for f in report.files]
        dump["warnings"] = report.warnings
        assert (
            con.execute("SELECT count(*) FROM duckdb_databases() WHERE NOT internal").fetchone()[0]
            == 1
        ), "the work database is detached"
    finally:
        con.close()
    assert bool(calls) == (workers > 1)
    return dump


@pytest.fixture(params=["canonical", "real-format", "dependent-kinds", "generated"])
def estate(request, tmp_path) -> Path:
    if request.param == "canonical":
        return SAMPLE
    if request.param == "real-format":
        return REAL
    if request.param == "dependent-kinds":
        return _dependent_kinds(tmp_path / "dependent")
    # Customer folders named by domains, resolved from the partners' customer lists.
    generate(tmp_path / "gen", 40, seed=4, fmt="real", customer_folders=40)
    return tmp_path / "gen" / "exports"


def test_kinds_alongside_give_the_database_kind_after_kind_gives(estate, tmp_path, monkeypatch):
    one = _load(tmp_path / "one.duckdb", estate, 1, monkeypatch)
    two = _load(tmp_path / "two.duckdb", estate, 2, monkeypatch)
    assert two == one
    assert len({kind for _, kind, _, _ in one["report"]}) > 3


def test_what_later_kinds_read_of_earlier_ones_is_there(tmp_path, monkeypatch):
    dump = _load(tmp_path / "d.duckdb", _dependent_kinds(tmp_path / "in"), 2, monkeypatch)
    members = [(r[1], r[2]) for r in dump["directory_role_members"]]  # tenant, role
    assert (C, GA) in members  # the role named by object id, from the listing
    groups = {r[2] for r in dump["partner_group_members"]}  # group_id
    assert "b0000001-0000-4000-8000-000000000001" in groups  # AdminAgents, from its folder
    subscriptions = {(r[1], r[2]) for r in dump["azure_role_assignments"]}  # tenant, subscription
    assert (C, "8f2c0000-0000-4000-8000-000000000001") in subscriptions
    contexts = {(r[4], r[5]) for r in dump["source_files"] if r[3] == "graph.groups"}
    assert contexts == {(ORG_DOMAIN, P)}  # the folder named by a domain, resolved to the partner


def _broken(root: Path) -> Path:
    """Two kinds with an error each: the groups listing (load order 30) and the Azure
    subscription list (40)."""
    _dependent_kinds(root)
    groups = root / ORG_DOMAIN / "graph_groups_agents_expand_members.json"
    text = groups.read_text(encoding="utf-8-sig")
    groups.write_text(text.replace("b0000001-0000-4000-8000-000000000001", "not-a-guid", 1))
    accounts = root / C / "az_account_list.json"
    text = accounts.read_text(encoding="utf-8")
    accounts.write_text(text.replace('"tenantId": "3f1c', '"tenantId": "zz1c', 1))
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_the_first_kind_in_load_order_to_fail_is_said_and_nothing_is_written(
    workers, tmp_path, monkeypatch
):
    inputs = _broken(tmp_path / "in")
    monkeypatch.setattr(ingest_module, "kind_workers", lambda files: workers)
    # The later kind fails first in time: the groups kind waits before it starts.
    real_load_kind = ingest_module._load_kind

    def slow_groups(con, kind, *args, **kwargs):
        if kind.name == "graph.groups":
            time.sleep(0.3)
        return real_load_kind(con, kind, *args, **kwargs)

    monkeypatch.setattr(ingest_module, "_load_kind", slow_groups)
    con = db.connect(tmp_path / "t.duckdb")
    try:
        before = table_dump(con)
        with pytest.raises(DapauditError) as err:
            ingest(con, [inputs], snapshot="2026-11", as_of=AS_OF)
        assert err.value.file.endswith("graph_groups_agents_expand_members.json")
        assert table_dump(con) == before
        names = [
            r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        ]
        assert alongside.WORK_DB not in names
    finally:
        con.close()


def test_a_later_kind_failing_alone_is_said(tmp_path, monkeypatch):
    inputs = _broken(tmp_path / "in")
    shutil.copy(  # the groups listing mended: only the subscription list is wrong
        FIXTURES / "graph_groups_agents_expand_members.json",
        inputs / ORG_DOMAIN / "graph_groups_agents_expand_members.json",
    )
    monkeypatch.setattr(ingest_module, "kind_workers", lambda files: 2)
    con = db.connect(tmp_path / "t.duckdb")
    try:
        with pytest.raises(DapauditError) as err:
            ingest(con, [inputs], snapshot="2026-11", as_of=AS_OF)
        assert err.value.file.endswith("az_account_list.json")
    finally:
        con.close()


# ------------------------------------------------------------------ dependencies


def _kind(name: str, datasets=(), reads=(), shares=()) -> Kind:
    return Kind(name, "", "json", tuple(datasets), bool, print, reads=reads, shares=shares)


def test_independent_kinds_wait_for_nothing():
    kinds = [_kind("a", ["gdap_relationships"]), _kind("b", ["dap_monitoring"]), _kind("c")]
    assert alongside.dependencies(kinds) == [frozenset(), frozenset(), frozenset()]


def test_a_kind_waits_for_what_it_reads_and_for_the_same_table():
    kinds = [
        _kind("subs", ["azure_subscriptions"]),
        _kind("other", ["dap_monitoring"]),
        _kind("assignments", ["azure_role_assignments"], reads=["azure_subscriptions"]),
        _kind("more", ["dap_monitoring"]),
    ]
    assert alongside.dependencies(kinds) == [frozenset(), frozenset(), {0}, {1}]


def test_a_kind_that_fills_what_an_earlier_one_reads_waits_for_it():
    kinds = [
        _kind("members", ["directory_role_members"], reads=["partner_agent_groups"]),
        _kind("aobo", ["partner_agent_groups"]),
    ]
    assert alongside.dependencies(kinds) == [frozenset(), {0}]


def test_tenants_are_read_by_every_kind():
    kinds = [
        _kind("a", ["dap_monitoring"]),
        _kind("tenants", ["tenants"]),
        _kind("b", ["gdap_relationships"]),
    ]
    assert alongside.dependencies(kinds) == [frozenset(), {0}, {1}]


def test_a_kind_that_does_not_say_what_it_reads_waits_for_every_earlier_one():
    kinds = [
        _kind("a", ["dap_monitoring"]),
        _kind("b", ["gdap_relationships"]),
        _kind("anything", ["autopilot_devices"], reads=None),
        _kind("c", ["azure_subscriptions"]),
    ]
    assert alongside.dependencies(kinds) == [frozenset(), frozenset(), {0, 1}, {2}]


def test_the_built_in_kinds_say_what_they_read():
    def deps(*names):
        return alongside.dependencies([REGISTRY.kinds[n] for n in names])

    assert deps("graph.directory_roles", "graph.members") == [frozenset(), {0}]
    assert deps("graph.groups", "powershell.members") == [frozenset(), {0}]
    assert deps("azure.accounts", "azure.role_assignments") == [frozenset(), {0}]
    assert deps("azure.accounts", "azure.ps_role_assignments") == [frozenset(), {0}]
    assert (
        deps("graph.gdap_relationships", "graph.role_assignments", "azure.accounts")
        == [frozenset()] * 3
    )


# ------------------------------------------------------------------ when


def _files(tmp_path: Path, monkeypatch) -> list:
    monkeypatch.setattr(ingest_module, "usable_cpus", lambda: 2)
    return ingest_module._prepare(
        ingest_module._discover([SAMPLE]),
        [SAMPLE],
        tmp_path,
        None,
        None,
        ingest_module.IngestReport("s"),
        None,
    )


def test_a_small_ingest_of_several_kinds_loads_them_alongside(tmp_path, monkeypatch):
    assert kind_workers(_files(tmp_path, monkeypatch)) == 2


def test_one_kind_or_a_large_kind_loads_kind_after_kind(tmp_path, monkeypatch):
    files = _files(tmp_path, monkeypatch)
    assert kind_workers([f for f in files if f.kind == files[0].kind]) == 1
    monkeypatch.setattr(ingest_module, "ONE_THREAD_BYTES", max(f.size for f in files) - 1)
    assert kind_workers(files) == 1


def test_counted_fault_checkpoints_load_kind_after_kind(tmp_path, monkeypatch):
    files = _files(tmp_path, monkeypatch)
    monkeypatch.setenv("DAPAUDIT_FAULT_TRACE", str(tmp_path / "trace"))
    assert kind_workers(files) == 1
