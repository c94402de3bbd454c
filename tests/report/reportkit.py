"""Estates for the report tests: the sample estate, changed in small visible ways."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

from conftest import SAMPLE
from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.config import Config, load_config
from dapaudit.ingest import ingest

Edit = Callable[[str], str]


def estate(target: Path, edits: dict[str, Edit] | None = None) -> Path:
    """A copy of the canonical sample estate with `edits` applied to named files."""
    shutil.copytree(SAMPLE, target)
    for name, edit in (edits or {}).items():
        path = target / name
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return target


def real_estate_cut_short(target: Path) -> Path:
    """A copy of the real-format sample estate whose export script saved Trey Research's role
    assignments up to page 1 only: page 2 (with a foreign Global Administrator group) is
    missing, and page 1 carries @odata.nextLink."""
    shutil.copytree(SAMPLE.parent / "real-format", target)
    (target / TREY_DOMAIN / "roleAssignments-page2.json").unlink()
    return target


TREY = "8199bd56-ce9a-526c-a511-9eead2a051cb"
TREY_DOMAIN = "treyresearch.onmicrosoft.com"


def replace(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        assert old in text, f"sample estate changed: {old!r} not found"
        return text.replace(old, new)

    return edit


def chain(*edits: Edit) -> Edit:
    """Several edits of one file, applied in order."""

    def edit(text: str) -> str:
        for e in edits:
            text = e(text)
        return text

    return edit


def append(lines: str) -> Edit:
    return lambda text: text.rstrip("\n") + "\n" + lines.strip("\n") + "\n"


def database(path: Path, snapshots: list[tuple[str, date, Path]], config: Config | None = None):
    """A database holding each (label, as_of, estate folder) snapshot, analysed in order."""
    con = db.connect(path)
    for label, as_of, folder in snapshots:
        ingest(con, [folder], snapshot=label, as_of=as_of)
        analyze(con, label, config or Config())
    return con


def write_config(path: Path, text: str) -> Config:
    path.write_text(text, encoding="utf-8")
    return load_config(str(path))


def open_findings(con, snapshot: str) -> list[tuple]:
    """(rule_id, severity, customer_tenant_id, title) of the open findings, in stored order."""
    return con.execute(
        "SELECT rule_id, severity, customer_tenant_id, title FROM findings "
        "WHERE snapshot = ? AND status = 'open' ORDER BY position",
        [snapshot],
    ).fetchall()


def customers(con, snapshot: str) -> list[tuple[str, str, str]]:
    """(tenant id, display name, domain) of the customer tenants named in the snapshot."""
    return con.execute(
        """SELECT tenant_id, display_name, default_domain FROM tenants
           WHERE snapshot = ? AND tenant_type = 'customer' ORDER BY tenant_id""",
        [snapshot],
    ).fetchall()
