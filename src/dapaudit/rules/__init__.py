"""The rule set: each rule is NAME.sql (the query) beside NAME.toml (its metadata).

Adding a rule means adding those two files and its test cases, nothing else. A rule's SQL
returns one row per finding with the columns in FINDING_COLUMNS and reads its parameters as
$snapshot, $as_of and the names in its [params] table.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..paths import RULES_DIR

SEVERITIES = ("critical", "high", "medium", "low", "info")
FINDING_COLUMNS = (
    "customer_tenant_id",
    "partner_tenant_id",
    "subject",
    "discriminator",
    "title",
    "evidence",
    "severity",
)
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str
    rationale: str
    remediation: tuple[str, ...]
    controls: tuple[str, ...]
    needs: tuple[str, ...]
    collect: str
    aliases: tuple[str, ...]
    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    file: str = ""

    def parameters(self) -> set[str]:
        return set(_PARAM.findall(self.sql))


@dataclass(frozen=True)
class Framework:
    id: str
    name: str
    url: str
    controls: dict[str, str]  # control id -> title


def _load_rule(toml_path: Path) -> Rule:
    meta = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    sql_path = toml_path.with_suffix(".sql")
    return Rule(
        id=meta["id"],
        name=meta["name"],
        severity=meta["severity"],
        rationale=meta["rationale"].strip(),
        remediation=tuple(s.strip() for s in meta["remediation"]),
        controls=tuple(meta.get("controls", ())),
        needs=tuple(meta.get("needs", ())),
        collect=meta.get("collect", "").strip(),
        aliases=tuple(meta.get("aliases", ())),
        sql=sql_path.read_text(encoding="utf-8") if sql_path.exists() else "",
        params=dict(meta.get("params", {})),
        file=toml_path.stem,
    )


@cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule that has both its metadata and its SQL, ordered by id."""
    rules = [_load_rule(p) for p in sorted(RULES_DIR.glob("*.toml")) if p.stem != "frameworks"]
    return tuple(sorted((r for r in rules if r.sql), key=lambda r: r.id))


def rules_by_id() -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for rule in all_rules():
        out[rule.id] = rule
        for alias in rule.aliases:
            out.setdefault(alias, rule)
    return out


@cache
def frameworks() -> dict[str, Framework]:
    data = tomllib.loads((RULES_DIR / "frameworks.toml").read_text(encoding="utf-8"))
    return {
        fid: Framework(
            id=fid,
            name=f["name"],
            url=f.get("url", ""),
            controls={cid: c["title"] for cid, c in f.get("controls", {}).items()},
        )
        for fid, f in sorted(data["frameworks"].items())
    }
