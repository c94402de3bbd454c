"""dapaudit.toml: severity overrides, rule parameters, disabled rules, suppressions.

[rules.EXCESS-GLOBAL-ADMINS]
severity = "high"
threshold = 6            # any key of the rule's [params]
enabled = false

[[suppressions]]
rule = "AZURE-LINGERING-PARTNER-ROLE"
tenant = "3f1c8a52-..."   # optional: customer tenant id, or its domain
partner = "9d2e7b10-..."  # optional: partner tenant id
subject = "/subscriptions/..."  # optional
reason = "Partner manages this subscription under contract C-123"
owner = "secops@contoso.com"
expires = 2027-03-31

[[offboarded_customers]]
tenant = "3f1c8a52-..."   # customer tenant id, or its domain
since = 2026-04-01        # snapshots dated on or after it end its carried findings
reason = "Contract ended; partner access removed (change 4711)"
owner = "secops@contoso.com"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .errors import DapauditError
from .rules import SEVERITIES, rules_by_id

DEFAULT_CONFIG = "dapaudit.toml"
SUPPRESSION_KEYS = ("rule", "tenant", "partner", "subject", "reason", "owner", "expires")
OFFBOARDED_KEYS = ("tenant", "since", "reason", "owner")
TOP_LEVEL_KEYS = ("rules", "suppressions", "offboarded_customers", "report")
REPORT_KEYS = ("title", "review_title", "organisation", "logo", "pdf_max_findings")


@dataclass(frozen=True)
class Suppression:
    rule: str
    tenant: str | None
    partner: str | None
    subject: str | None
    reason: str
    owner: str
    expires: date | None
    index: int  # position in the file, for messages


@dataclass(frozen=True)
class Offboarded:
    """A customer tenant the partners no longer manage, from `since`: its findings carried as
    not assessed (no export of it any more) end, as offboarded, instead of being listed every
    month (finding_changes)."""

    tenant: str  # lower-case tenant id or domain
    since: date
    reason: str
    owner: str
    index: int  # position in the file, for messages


@dataclass
class Config:
    path: str | None = None
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    suppressions: list[Suppression] = field(default_factory=list)
    offboarded: list[Offboarded] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    def enabled(self, rule_id: str) -> bool:
        return bool(self.rules.get(rule_id, {}).get("enabled", True))

    def severity(self, rule_id: str) -> str | None:
        return self.rules.get(rule_id, {}).get("severity")

    def params(self, rule_id: str, defaults: dict[str, Any]) -> dict[str, Any]:
        mine = self.rules.get(rule_id, {})
        return {k: mine.get(k, v) for k, v in defaults.items()}


def load_config(path: str | None) -> Config:
    """Read `path`, or ./dapaudit.toml when present; no file gives the defaults."""
    if path is None:
        if not Path(DEFAULT_CONFIG).exists():
            return Config()
        path = DEFAULT_CONFIG
    try:
        # utf-8-sig: Notepad and PowerShell 5.1 write a byte order mark, which TOML refuses.
        data = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise DapauditError("no such configuration file", file=path) from None
    except UnicodeDecodeError as exc:
        raise DapauditError(
            "not UTF-8 text", file=path, record=exc.start + 1, record_label="byte"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise DapauditError(f"not valid TOML: {exc}", file=path) from None
    # A misspelt table ([rule.X], [[suppression]]) would otherwise be ignored in silence: its
    # settings unused, every suppression in it dropped.
    _only(data, TOP_LEVEL_KEYS, path, "")
    known = rules_by_id()
    rules: dict[str, dict[str, Any]] = {}
    for rule_id, settings in _table(data, "rules", path).items():
        if rule_id not in known:
            raise DapauditError(f"unknown rule id {rule_id!r}", file=path, field=f"rules.{rule_id}")
        if not isinstance(settings, dict):
            raise DapauditError(
                "must be a table of settings ([rules.ID])", file=path, field=f"rules.{rule_id}"
            )
        rule = known[rule_id]
        sev = settings.get("severity")
        if sev is not None and sev not in SEVERITIES:
            raise DapauditError(
                f"severity must be one of {', '.join(SEVERITIES)}",
                file=path,
                field=f"rules.{rule_id}.severity",
            )
        for key, value in settings.items():
            where = f"rules.{rule_id}.{key}"
            if key not in ("severity", "enabled") and key not in rule.params:
                allowed = ", ".join(["severity", "enabled", *sorted(rule.params)])
                raise DapauditError(f"unknown setting (allowed: {allowed})", file=path, field=where)
            if key == "enabled" and not isinstance(value, bool):
                raise DapauditError("enabled must be true or false", file=path, field=where)
            if key in rule.params and not _same_kind(value, rule.params[key]):
                raise DapauditError(
                    f"must be a {_kind(rule.params[key])} (default {rule.params[key]!r})",
                    file=path,
                    field=where,
                )
        rules[rule.id] = dict(settings)
    suppressions = []
    listed = data.get("suppressions", [])
    if not isinstance(listed, list):
        raise DapauditError(
            "must be a list of tables ([[suppressions]])", file=path, field="suppressions"
        )
    for n, item in enumerate(listed, 1):
        where = f"suppressions[{n}]"
        if not isinstance(item, dict):
            raise DapauditError("must be a table ([[suppressions]])", file=path, field=where)
        # A misspelt matcher ("tennant") would otherwise widen the suppression to every tenant.
        _only(item, SUPPRESSION_KEYS, path, f"{where}.")
        for required in ("rule", "reason", "owner"):
            if not item.get(required):
                raise DapauditError(
                    "required value is missing", file=path, field=f"{where}.{required}"
                )
        for key in ("rule", "tenant", "partner", "subject", "reason", "owner"):
            if key in item and not isinstance(item[key], str):
                raise DapauditError("must be text", file=path, field=f"{where}.{key}")
        if item["rule"] not in known:
            raise DapauditError(
                f"unknown rule id {item['rule']!r}", file=path, field=f"{where}.rule"
            )
        expires = item.get("expires")
        # A TOML date-time is a datetime, which is a date too, but not comparable with one.
        if expires is not None and (not isinstance(expires, date) or isinstance(expires, datetime)):
            raise DapauditError(
                "expires must be a date (YYYY-MM-DD, unquoted)", file=path, field=f"{where}.expires"
            )
        suppressions.append(
            Suppression(
                rule=known[item["rule"]].id,
                tenant=_lower(item.get("tenant")),
                partner=_lower(item.get("partner")),
                subject=item.get("subject"),
                reason=item["reason"],
                owner=item["owner"],
                expires=expires,
                index=n,
            )
        )
    offboarded = _offboarded(data, path)
    report = _table(data, "report", path)
    _only(report, REPORT_KEYS, path, "report.")
    for key in ("title", "review_title", "organisation", "logo"):
        if key in report and not isinstance(report[key], str):
            raise DapauditError("must be text", file=path, field=f"report.{key}")
    return Config(
        path=path, rules=rules, suppressions=suppressions, offboarded=offboarded, report=report
    )


def _offboarded(data: dict[str, Any], path: str) -> list[Offboarded]:
    listed = data.get("offboarded_customers", [])
    if not isinstance(listed, list):
        raise DapauditError(
            "must be a list of tables ([[offboarded_customers]])",
            file=path,
            field="offboarded_customers",
        )
    entries: list[Offboarded] = []
    named: dict[str, int] = {}
    for n, item in enumerate(listed, 1):
        where = f"offboarded_customers[{n}]"
        if not isinstance(item, dict):
            raise DapauditError(
                "must be a table ([[offboarded_customers]])", file=path, field=where
            )
        _only(item, OFFBOARDED_KEYS, path, f"{where}.")
        for key in OFFBOARDED_KEYS:
            if key not in item or item[key] in ("", None):
                raise DapauditError("required value is missing", file=path, field=f"{where}.{key}")
        for key in ("tenant", "reason", "owner"):
            if not isinstance(item[key], str):
                raise DapauditError("must be text", file=path, field=f"{where}.{key}")
        since = item["since"]
        if not isinstance(since, date) or isinstance(since, datetime):
            raise DapauditError(
                "since must be a date (YYYY-MM-DD, unquoted)", file=path, field=f"{where}.since"
            )
        tenant = item["tenant"].strip().lower()
        if tenant in named:
            # Two dates for one customer: which ends its findings would be a guess.
            raise DapauditError(
                f"tenant {tenant!r} is already offboarded by offboarded_customers[{named[tenant]}]",
                file=path,
                field=f"{where}.tenant",
            )
        named[tenant] = n
        entries.append(Offboarded(tenant, since, item["reason"], item["owner"], n))
    return entries


def _only(table: dict[str, Any], allowed: tuple[str, ...], path: str, prefix: str) -> None:
    """Each key of `table` is one of `allowed`: a misspelt one is an error, not ignored."""
    for key in table:
        if key not in allowed:
            raise DapauditError(
                f"unknown setting (allowed: {', '.join(allowed)})", file=path, field=prefix + key
            )


def _table(data: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise DapauditError(f"must be a table ([{key}])", file=path, field=key)
    return value


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _same_kind(value: Any, default: Any) -> bool:
    """A rule parameter keeps the type of its default: counts and days are whole numbers >= 0."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, int):
        return isinstance(value, int) and 0 <= value <= MAX_RULE_INT
    return isinstance(value, type(default))


# The rules cast counts and days to INTEGER (32 bits): a larger setting failed inside a rule,
# after `run` had committed its ingest.
MAX_RULE_INT = 2**31 - 1


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return f"whole number from 0 to {MAX_RULE_INT:,}"
    return type(default).__name__
