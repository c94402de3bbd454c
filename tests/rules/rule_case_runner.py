"""Run one rule test case: write its rows as canonical CSV, ingest, analyse, return findings.

A case file is tests/rule_cases/<rule_id_snake>.toml:

    rule = "GDAP-MLT-ONLY"
    [base.rows]                 # rows every case of the file starts with (optional)
    tenants = [{tenant_id = "...", tenant_type = "customer", display_name = "..."}]

    [[cases]]
    name = "an MLT_ relationship alone fires"
    as_of = "2026-11-30"        # optional, the snapshot's reference date
    params = {days = 30}        # optional, the rule's [params] for this case
    [cases.rows]                # canonical table name -> list of rows (column -> value);
                                # "table.2" is a second file of that table
    gdap_relationships = [...]
    [[cases.expect]]            # the EXACT findings of this rule; none = it must not fire
    customer = "..."
    partner = "..."             # omitted = null
    subject = "..."
    severity = "low"
    title = "substring the title must contain"   # optional
"""

from __future__ import annotations

import csv
import json
import shutil
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.config import Config
from dapaudit.findings import load_findings
from dapaudit.ingest import ingest
from dapaudit.ingest.canonical import CANONICAL
from dapaudit.rules import all_rules, rules_by_id

CASES_DIR = Path(__file__).resolve().parent.parent / "rule_cases"
LAYOUTS = {layout.table: layout for layout in CANONICAL}


def snake(rule_id: str) -> str:
    return rule_id.lower().replace("-", "_")


def load_case_files() -> dict[str, dict[str, Any]]:
    return {
        p.stem: tomllib.loads(p.read_text(encoding="utf-8"))
        for p in sorted(CASES_DIR.glob("*.toml"))
    }


def write_rows(folder: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Each table's rows as one canonical CSV, columns in the layout's documented order."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, items in rows.items():
        # "table.2" writes a second file of the same table: the same fact in two exports.
        table = name.partition(".")[0]
        if table not in LAYOUTS:
            raise ValueError(f"unknown canonical table {table!r}")
        columns = [c.name for c in LAYOUTS[table].columns]
        if name != table:  # column order is free; it also keeps the bytes (and SHA-256) apart
            columns.reverse()
        unknown = {k for item in items for k in item} - set(columns)
        if unknown:
            raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            for item in items:
                writer.writerow(
                    ["" if item.get(c) is None else _text(item.get(c)) for c in columns]
                )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merged_rows(spec: dict[str, Any], case: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for source in (spec.get("base", {}).get("rows", {}), case.get("rows", {})):
        for table, items in source.items():
            rows.setdefault(table, []).extend(items)
    return rows


def run_case(
    tmp_path: Path, rule_id: str, case: dict[str, Any], rows, empty_db: Path | None = None
) -> list[dict[str, Any]]:
    """Findings of `rule_id` only, with every other rule disabled to keep the test fast.

    `empty_db` is a freshly created database file to copy (creating the schema is the slow part).
    """
    write_rows(tmp_path / "estate", rows)
    rule = rules_by_id()[rule_id]
    settings: dict[str, dict[str, Any]] = {
        r.id: {"enabled": False} for r in all_rules() if r.id != rule.id
    }
    settings[rule.id] = dict(case.get("params", {}))
    as_of = date.fromisoformat(case.get("as_of", "2026-11-30"))
    if empty_db is not None:
        shutil.copyfile(empty_db, tmp_path / "case.duckdb")
    con = db.connect(tmp_path / "case.duckdb")
    try:
        ingest(con, [tmp_path / "estate"], snapshot="case", as_of=as_of)
        analyze(con, "case", Config(rules=settings))
        findings = [f for f in load_findings(con, "case") if f["rule_id"] == rule.id]
        paths = {r[0] for r in con.execute("SELECT path FROM source_files").fetchall()}
    finally:
        con.close()
    for f in findings:
        for file in evidence_files(f["evidence"]):
            assert file in paths, f"{rule_id}: evidence names {file!r}, no ingested file"
        for items in evidence_lists(f["evidence"]):
            shown = [json.dumps(i, sort_keys=True) for i in items]
            assert len(set(shown)) == len(shown), f"{rule_id}: evidence repeats itself: {items}"
    return findings


def evidence_lists(value: Any) -> list[list[Any]]:
    """Every list anywhere in a finding's evidence."""
    if isinstance(value, dict):
        return [found for v in value.values() for found in evidence_lists(v)]
    if isinstance(value, list):
        return [value] + [found for v in value for found in evidence_lists(v)]
    return []


def evidence_files(value: Any) -> list[Any]:
    """Every value of a "file" key anywhere in a finding's evidence."""
    if isinstance(value, dict):
        found = [value["file"]] if "file" in value else []
        return found + [f for v in value.values() for f in evidence_files(v)]
    if isinstance(value, list):
        return [f for v in value for f in evidence_files(v)]
    return []
