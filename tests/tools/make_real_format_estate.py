"""Write the canonical sample estate as the real exports a user receives.

    python3 tests/tools/make_real_format_estate.py [CANONICAL_DIR] [OUT_DIR]

Reads every canonical table (sample_data/canonical/*.csv) and writes one folder per tenant,
named by its default domain (else its tenant id): a partner's folder holds what the partner
exports (Graph organization, groups with members, GDAP relationships and access assignments,
Partner Center DAP monitoring); a customer's folder holds what the customer exports (Graph
organization, its partner list, its directory role listing, az account list, its Azure role
assignments, Autopilot devices). Formats and encodings rotate over the tenants (UTF-8, UTF-8
with BOM, UTF-16LE with BOM, Windows-1252 with a #TYPE line, semicolon CSV, Graph pages split
over files), always choosing one that can carry the tenant's rows without loss of what the
rules read. The output is deterministic: tests/ingest/test_real_format_estate.py regenerates
it and fails when the committed folder differs.

Every canonical table is handled by rows, not by name of customer: new rows or tenants in the
canonical estate flow through. Facts no real export carries are dropped (DAP grant/removal
dates, relationship end dates, Autopilot added_by); they change titles, never fingerprints.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CANONICAL = ROOT / "sample_data" / "canonical"
OUT = ROOT / "sample_data" / "real-format"
GRAPH = "https://graph.microsoft.com/v1.0/"
FOREIGN = re.compile(r"(?i)^Foreign Principal for '(.+)' in role '.+' \(.+\)$")

HANDLED = (
    "tenants",
    "partner_relationships",
    "directory_role_members",
    "partner_agent_groups",
    "partner_group_members",
    "azure_subscriptions",
    "azure_role_assignments",
    "gdap_relationships",
    "gdap_relationship_roles",
    "gdap_access_assignments",
    "dap_monitoring",
    "autopilot_devices",
)
# Legacy names MSOnline gives roles: a folder of Get-MsolRoleMember exports is named by them.
REFERENCE = ROOT / "src" / "dapaudit" / "reference"
GRAPH_TYPE = {
    "user": "#microsoft.graph.user",
    "group": "#microsoft.graph.group",
    "servicePrincipal": "#microsoft.graph.servicePrincipal",
}
ARM_TYPE = {
    "user": "User",
    "group": "Group",
    "servicePrincipal": "ServicePrincipal",
    "foreignGroup": "ForeignGroup",
    "unknown": "Unknown",
}
RELATIONSHIP_TEXT = {
    "reseller": "Reseller",
    "indirect_reseller": "Indirect Reseller",
    "advisor": "Advisor",
    "delegated_admin": "Delegated administrator",
    "partner": "Partner",
    "other": "Other",
}
CONTRACT_TYPE = {"reseller": "ResellerPartner", "indirect_reseller": "BreadthPartner"}


def read_table(folder: Path, table: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted(folder.rglob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames and _table_of(reader.fieldnames) == table:
                rows.extend({k: (v or "").strip() for k, v in r.items()} for r in reader)
    return rows


def _table_of(header: list[str]) -> str | None:
    """Which canonical table a header is (by its required columns, as the reader decides)."""
    cols = {h.strip().lower() for h in header}
    for layout in _layouts():
        allowed = {c.name for c in layout.columns}
        if set(layout.required()) <= cols <= allowed:
            return layout.table
    return None


def role_names() -> tuple[dict[str, str], dict[str, str]]:
    with open(REFERENCE / "directory_roles.csv", encoding="utf-8") as fh:
        names = {r["role_template_id"]: r["display_name"] for r in csv.DictReader(fh)}
    legacy: dict[str, str] = {}
    with open(REFERENCE / "directory_role_aliases.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["alias"] != names.get(r["role_template_id"]):
                legacy.setdefault(r["role_template_id"], r["alias"])
    return names, legacy


# ---------------------------------------------------------------- writers


def write_json(path: Path, doc, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if encoding == "utf-16-le":
        path.write_bytes(b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le"))
    elif encoding == "utf-8-sig":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    else:
        path.write_bytes(text.encode("utf-8"))


def write_ps_csv(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    type_line: str | None = None,
) -> None:
    """As PowerShell's Export-Csv writes: every field quoted, CRLF, optional #TYPE line."""
    buf = io.StringIO()
    if type_line:
        buf.write(f"#TYPE {type_line}\r\n")
    writer = csv.writer(buf, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    if encoding == "cp1252":
        try:
            path.write_bytes(text.encode("cp1252"))
            return
        except UnicodeEncodeError:
            encoding = "utf-8-sig"  # a name Windows-1252 cannot hold: Export-Csv -Encoding UTF8
    if encoding == "utf-16-le":
        path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    elif encoding == "utf-8-sig":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    else:
        path.write_bytes(text.encode("utf-8"))


def graph_pages(
    folder: Path,
    stem: str,
    context: str,
    records: list[dict],
    *,
    encoding: str = "utf-8",
    url: str = "",
) -> None:
    """A Graph collection; more than one record is split over two page files, as a paging
    export loop writes them (the first page carries @odata.nextLink)."""
    if len(records) < 2:
        write_json(folder / f"{stem}.json", {"@odata.context": context, "value": records}, encoding)
        return
    half = (len(records) + 1) // 2
    write_json(
        folder / f"{stem}-page1.json",
        {
            "@odata.context": context,
            "@odata.nextLink": f"{url}?$skiptoken=page2",
            "value": records[:half],
        },
        encoding,
    )
    write_json(
        folder / f"{stem}-page2.json",
        {"@odata.context": context, "value": records[half:]},
        encoding,
    )


# ---------------------------------------------------------------- the estate


def _layouts():
    sys.path.insert(0, str(ROOT / "src"))
    from dapaudit.ingest.canonical import CANONICAL as LAYOUTS

    return LAYOUTS


def build(canonical: Path, out: Path) -> None:
    tables = [layout.table for layout in _layouts()]
    unhandled = sorted(set(tables) - set(HANDLED))
    if unhandled:
        raise SystemExit(f"no real export written for canonical table(s): {', '.join(unhandled)}")
    for path in sorted(canonical.rglob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as fh:
            if _table_of(next(csv.reader(fh), [])) is None:
                raise SystemExit(f"{path}: not a canonical CSV")
    t = {name: read_table(canonical, name) for name in tables}
    _refuse_orphans(t)
    names, legacy = role_names()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tenants = {r["tenant_id"].lower(): r for r in t["tenants"]}

    partner_ids = {r["tenant_id"].lower() for r in t["tenants"] if r["tenant_type"] == "partner"}
    for table, column in (
        ("partner_agent_groups", "partner_tenant_id"),
        ("partner_group_members", "partner_tenant_id"),
        ("gdap_relationships", "partner_tenant_id"),
        ("dap_monitoring", "partner_tenant_id"),
    ):
        partner_ids |= {r[column].lower() for r in t[table]}
    customer_ids = {r["tenant_id"].lower() for r in t["tenants"] if r["tenant_type"] != "partner"}
    for table, column in (
        ("partner_relationships", "customer_tenant_id"),
        ("directory_role_members", "tenant_id"),
        ("azure_subscriptions", "tenant_id"),
        ("azure_role_assignments", "tenant_id"),
        ("autopilot_devices", "tenant_id"),
    ):
        customer_ids |= {r[column].lower() for r in t[table] if r[column]}

    def folder(tenant_id: str) -> Path:
        row = tenants.get(tenant_id)
        return out / ((row or {}).get("default_domain") or tenant_id).lower()

    for tenant_id, row in sorted(tenants.items()):
        org = {
            "id": tenant_id,
            "displayName": row.get("display_name") or None,
            "partnerTenantType": "resellerPartnerDelegatedAdmin"
            if row["tenant_type"] == "partner"
            else None,
            "tenantType": "AAD",
            "verifiedDomains": (
                [
                    {
                        "capabilities": "Email, OfficeCommunicationsOnline",
                        "isDefault": True,
                        "isInitial": True,
                        "name": row["default_domain"],
                        "type": "Managed",
                    }
                ]
                if row.get("default_domain")
                else []
            ),
        }
        write_json(
            folder(tenant_id) / "organization.json",
            {"@odata.context": GRAPH + "$metadata#organization", "value": [org]},
        )

    for n, partner in enumerate(sorted(partner_ids)):
        write_partner(folder(partner), partner, t, n)
    for n, customer in enumerate(sorted(customer_ids)):
        write_customer(folder(customer), customer, t, n, names, legacy)


def _refuse_orphans(t: dict) -> None:
    """Rows no real export could carry without their parent: stop rather than drop them."""
    rels = {r["relationship_id"].lower() for r in t["gdap_relationships"]}
    for table in ("gdap_relationship_roles", "gdap_access_assignments"):
        orphans = sorted({r["relationship_id"] for r in t[table]} - rels, key=str.lower)
        orphans = [o for o in orphans if o.lower() not in rels]
        if orphans:
            raise SystemExit(f"{table}: relationship(s) not in gdap_relationships: {orphans}")


def by(rows: list[dict[str, str]], column: str, value: str) -> list[dict[str, str]]:
    return [r for r in rows if r[column].lower() == value]


def write_partner(home: Path, partner: str, t: dict, n: int) -> None:
    groups = by(t["partner_agent_groups"], "partner_tenant_id", partner)
    members = by(t["partner_group_members"], "partner_tenant_id", partner)
    if groups:
        records = []
        for g in groups:
            rec = {
                "id": g["group_id"],
                "displayName": g["display_name"] or None,
                "groupTypes": [],
                "mailEnabled": False,
                "securityEnabled": True,
            }
            mine = [m for m in members if m["group_id"].lower() == g["group_id"].lower()]
            if mine:
                rec["members"] = [_member(m) for m in mine]
            records.append(rec)
        write_json(
            home / "groups.json",
            {"@odata.context": GRAPH + "$metadata#groups(members())", "value": records},
            "utf-8-sig",
        )

    known = {g["group_id"].lower() for g in groups}
    loose: dict[str, list[dict[str, str]]] = defaultdict(list)
    for m in members:
        if m["group_id"].lower() not in known:
            loose[m["group_id"].lower()].append(m)
    for group_id, mine in sorted(loose.items()):
        # A group the export did not list: its members page names it in @odata.nextLink. (Not
        # in a folder named by the group id: the nearest GUID folder names the tenant.)
        write_json(
            home / "groups" / f"{group_id}-members.json",
            {
                "@odata.context": GRAPH + "$metadata#directoryObjects",
                "@odata.nextLink": f"{GRAPH}groups/{group_id}/members?$skiptoken=page2",
                "value": [_member(m) for m in mine],
            },
        )

    rels = by(t["gdap_relationships"], "partner_tenant_id", partner)
    if rels:
        records = []
        for r in rels:
            roles = [
                x["role_template_id"]
                for x in t["gdap_relationship_roles"]
                if x["relationship_id"].lower() == r["relationship_id"].lower()
            ]
            records.append(
                {
                    "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
                    "id": r["relationship_id"],
                    "displayName": r["display_name"] or None,
                    "duration": r["duration"] or None,
                    "customer": {"tenantId": r["customer_tenant_id"], "displayName": None},
                    "accessDetails": {"unifiedRoles": [{"roleDefinitionId": x} for x in roles]},
                    "status": r["status"],
                    "autoExtendDuration": r["auto_extend_duration"] or None,
                    "createdDateTime": _graph_time(r["created_at"]),
                    "lastModifiedDateTime": _graph_time(r["activated_at"] or r["created_at"]),
                    "activatedDateTime": _graph_time(r["activated_at"]),
                    "endDateTime": _graph_time(r["end_at"]),
                }
            )
        url = GRAPH + "tenantRelationships/delegatedAdminRelationships"
        graph_pages(
            home / "gdap",
            "delegatedAdminRelationships",
            GRAPH + "$metadata#tenantRelationships/delegatedAdminRelationships",
            records,
            url=url,
        )
        for r in rels:
            rel = r["relationship_id"]
            rows = [
                a
                for a in t["gdap_access_assignments"]
                if a["relationship_id"].lower() == rel.lower()
            ]
            if not rows:
                continue
            grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
            for a in rows:
                grouped[(a["assignment_id"], a["security_group_id"], a["status"])].append(
                    a["role_template_id"]
                )
            records = [
                {
                    "@odata.type": "#microsoft.graph.delegatedAdminAccessAssignment",
                    "id": aid,
                    "status": status,
                    "accessContainer": {
                        "accessContainerId": gid,
                        "accessContainerType": "securityGroup",
                    },
                    "accessDetails": {"unifiedRoles": [{"roleDefinitionId": x} for x in role_ids]},
                }
                for (aid, gid, status), role_ids in grouped.items()
            ]
            write_json(
                home / "gdap" / rel / "accessAssignments.json",
                {
                    "@odata.context": GRAPH + "$metadata#tenantRelationships/"
                    f"delegatedAdminRelationships('{rel}')/accessAssignments",
                    "value": records,
                },
            )

    monitoring = by(t["dap_monitoring"], "partner_tenant_id", partner)
    if monitoring:
        records = [
            {
                "id": m["customer_tenant_id"],
                "customerTenantId": m["customer_tenant_id"],
                "organizationDisplayName": None,
                "partnerAgentCount": _int(m["partner_agent_count"]),
                "partnerSignInCount": _int(m["partner_sign_in_count"]),
                "globalAdminSignInCount": _int(m["global_admin_sign_in_count"]),
                "dapEnabled": _bool(m["dap_enabled"]),
                "startDateTime": _graph_time(m["start_at"]),
                "endDateTime": _graph_time(m["end_at"]),
                "lastSignInDateTime": _graph_time(m["last_sign_in_at"]),
            }
            for m in monitoring
        ]
        # The Partner Center API answers a bare JSON array.
        write_json(home / "delegatedAdminCustomers.json", records)


def _member(m: dict[str, str]) -> dict:
    rec = {
        "@odata.type": GRAPH_TYPE.get(m["member_type"], "#microsoft.graph.directoryObject"),
        "id": m["member_id"],
        "displayName": m["member_display_name"] or None,
    }
    if m["member_type"] == "user":
        rec["userPrincipalName"] = m["member_upn"] or None
    return rec


def write_customer(home: Path, customer: str, t: dict, n: int, names: dict, legacy: dict) -> None:
    partners = by(t["partner_relationships"], "customer_tenant_id", customer)
    if partners:
        header = [
            "Identity",
            "DisplayName",
            "Email",
            "Website",
            "Phone",
            "Relationship",
            "TypeDetail",
            "CanDelete",
            "CanRemoveDap",
            "AllDataRetrieved",
        ]
        rows = [
            [
                p["partner_tenant_id"],
                p["partner_name"],
                "",
                "",
                "",
                RELATIONSHIP_TEXT.get(p["relationship_type"], "Other")
                + (" and Admin" if p["dap_enabled"] == "true" else ""),
                "PartnerAdmin" if p["dap_enabled"] == "true" else "Partner",
                "True",
                {"true": "True", "false": "False"}.get(p["dap_enabled"], ""),
                "True",
            ]
            for p in partners
        ]
        encoding, delimiter, type_line = (
            ("utf-16-le", ",", "System.Management.Automation.PSCustomObject"),
            ("utf-8-sig", ";", None),
            ("cp1252", ",", "System.Management.Automation.PSCustomObject"),
        )[n % 3]
        write_ps_csv(
            home / "partners.csv",
            header,
            rows,
            encoding=encoding,
            delimiter=delimiter,
            type_line=type_line,
        )

    write_role_listing(home, customer, t, n, names, legacy)

    subs = by(t["azure_subscriptions"], "tenant_id", customer)
    if subs:
        write_json(
            home / "az-account-list.json",
            [
                {
                    "cloudName": "AzureCloud",
                    "homeTenantId": s["tenant_id"],
                    "id": s["subscription_id"],
                    "isDefault": i == 0,
                    "managedByTenants": [],
                    "name": s["display_name"] or None,
                    "state": s["state"] or None,
                    "tenantId": s["tenant_id"],
                    "user": {"name": "auditor@example.com", "type": "user"},
                }
                for i, s in enumerate(subs)
            ],
        )

    assignments = by(t["azure_role_assignments"], "tenant_id", customer)
    if assignments:
        write_azure_assignments(home, assignments, n)

    devices = by(t["autopilot_devices"], "tenant_id", customer)
    if devices:
        write_json(
            home / "windowsAutopilotDeviceIdentities.json",
            {
                "@odata.context": GRAPH
                + "$metadata#deviceManagement/windowsAutopilotDeviceIdentities",
                "value": [
                    {
                        "id": d["device_id"] or None,
                        "groupTag": d["group_tag"] or None,
                        "purchaseOrderIdentifier": d["purchase_order_identifier"] or None,
                        "serialNumber": d["serial_number"],
                        "manufacturer": d["manufacturer"] or None,
                        "model": d["model"] or None,
                        "enrollmentState": d["enrollment_state"] or None,
                    }
                    for d in devices
                ],
            },
        )


def write_role_listing(
    home: Path, customer: str, t: dict, n: int, names: dict, legacy: dict
) -> None:
    rows = by(t["directory_role_members"], "tenant_id", customer)
    if not rows:
        return
    # Only Graph roleAssignments?$expand=principal carries organizationId and scopes.
    lossless_elsewhere = all(
        not r["principal_organization_id"]
        and r["directory_scope_id"] in ("", "/")
        and r["principal_type"] in ("user", "group", "servicePrincipal")
        for r in rows
    )
    variant = n % 3 if lossless_elsewhere else 0
    if variant == 0:
        records = []
        for r in rows:
            principal = {
                "id": r["principal_id"],
                "displayName": r["principal_display_name"] or None,
            }
            if r["principal_type"] in GRAPH_TYPE:
                principal = {"@odata.type": GRAPH_TYPE[r["principal_type"]], **principal}
            if r["principal_type"] == "user":
                principal["userPrincipalName"] = r["principal_upn"] or None
            if r["principal_organization_id"]:
                principal["organizationId"] = r["principal_organization_id"]
            records.append(
                {
                    "id": f"{r['principal_id'][:8]}-{r['role_template_id'][:8]}-1",
                    "principalId": r["principal_id"],
                    "resourceScope": "/",
                    "directoryScopeId": r["directory_scope_id"] or "/",
                    "roleDefinitionId": r["role_template_id"],
                    "principal": principal,
                }
            )
        graph_pages(
            home,
            "roleAssignments",
            GRAPH + "$metadata#roleManagement/directory/roleAssignments(principal())",
            records,
            url=GRAPH + "roleManagement/directory/roleAssignments",
        )
        return
    by_role: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_role[r["role_template_id"].lower()].append(r)
    for role, members in sorted(by_role.items()):
        if variant == 1:
            # Graph directoryRoles/{id}/members saved by Windows PowerShell's Out-File: UTF-16LE.
            write_json(
                home / "directoryRoles" / names.get(role, role) / "members.json",
                {
                    "@odata.context": GRAPH + "$metadata#directoryObjects",
                    "value": [
                        _member(
                            {
                                "member_type": m["principal_type"],
                                "member_id": m["principal_id"],
                                "member_display_name": m["principal_display_name"],
                                "member_upn": m["principal_upn"],
                            }
                        )
                        for m in members
                    ],
                },
                "utf-16-le",
            )
        else:
            # MSOnline, Windows PowerShell 5.1 Export-Csv -Encoding Default: ANSI with #TYPE.
            header = [
                "ExtensionData",
                "DisplayName",
                "EmailAddress",
                "IsLicensed",
                "LastDirSyncTime",
                "ObjectId",
                "OverallProvisioningStatus",
                "RoleMemberType",
                "ValidationStatus",
            ]
            write_ps_csv(
                home / "msol" / legacy.get(role, names.get(role, role)) / "rolemembers.csv",
                header,
                [
                    [
                        "System.Runtime.Serialization.ExtensionDataObject",
                        m["principal_display_name"],
                        m["principal_upn"],
                        "True",
                        "",
                        m["principal_id"],
                        "PendingInput",
                        {"user": "User", "group": "Group", "servicePrincipal": "ServicePrincipal"}[
                            m["principal_type"]
                        ],
                        "Healthy",
                    ]
                    for m in members
                ],
                encoding="cp1252",
                type_line="Microsoft.Online.Administration.RoleMember",
            )


def write_azure_assignments(home: Path, rows: list[dict[str, str]], n: int) -> None:
    # ARM REST omits principal names: use it only where no name matters (no foreign principal).
    named = any(FOREIGN.match(r["principal_display_name"] or "") for r in rows)
    variant = n % 3
    if variant == 2 and named:
        variant = 0

    def arm_id(r: dict[str, str]) -> str:
        return (
            f"{r['scope']}/providers/Microsoft.Authorization/roleAssignments/{r['assignment_id']}"
        )

    def role_path(r: dict[str, str]) -> str:
        return (
            f"{r['scope']}/providers/Microsoft.Authorization/roleDefinitions/"
            f"{r['role_definition_id']}"
        )

    if variant == 0:
        write_json(
            home / "az-role-assignment-list.json",
            [
                {
                    "condition": None,
                    "conditionVersion": None,
                    "createdBy": None,
                    "createdOn": "2024-03-14T10:02:11.487311+00:00",
                    "delegatedManagedIdentityResourceId": None,
                    "description": None,
                    "id": arm_id(r),
                    "name": r["assignment_id"] or None,
                    "principalId": r["principal_id"],
                    "principalName": r["principal_display_name"],
                    "principalType": ARM_TYPE[r["principal_type"]],
                    "roleDefinitionId": role_path(r),
                    "roleDefinitionName": r["role_definition_name"] or None,
                    "scope": r["scope"],
                    "type": "Microsoft.Authorization/roleAssignments",
                    "updatedBy": None,
                    "updatedOn": "2024-03-14T10:02:11.487311+00:00",
                }
                for r in rows
            ],
        )
    elif variant == 1:
        header = [
            "RoleAssignmentName",
            "RoleAssignmentId",
            "Scope",
            "DisplayName",
            "SignInName",
            "RoleDefinitionName",
            "RoleDefinitionId",
            "ObjectId",
            "ObjectType",
            "CanDelegate",
            "Description",
            "ConditionVersion",
            "Condition",
        ]
        write_ps_csv(
            home / "Get-AzRoleAssignment.csv",
            header,
            [
                [
                    r["assignment_id"],
                    arm_id(r),
                    r["scope"],
                    r["principal_display_name"],
                    "",
                    r["role_definition_name"],
                    r["role_definition_id"],
                    r["principal_id"],
                    ARM_TYPE[r["principal_type"]],
                    "False",
                    "",
                    "",
                    "",
                ]
                for r in rows
            ],
            encoding="utf-8-sig",
            delimiter=";",
        )
    else:
        write_json(
            home / "arm-roleAssignments.json",
            {
                "value": [
                    {
                        "id": arm_id(r),
                        "name": r["assignment_id"] or None,
                        "type": "Microsoft.Authorization/roleAssignments",
                        "properties": {
                            "roleDefinitionId": role_path(r),
                            "principalId": r["principal_id"],
                            "principalType": ARM_TYPE[r["principal_type"]],
                            "scope": r["scope"],
                            "condition": None,
                            "conditionVersion": None,
                            "createdOn": "2024-03-14T10:02:11.4873110Z",
                            "updatedOn": "2024-03-14T10:02:11.4873110Z",
                            "createdBy": None,
                            "updatedBy": None,
                            "delegatedManagedIdentityResourceId": None,
                            "description": None,
                        },
                    }
                    for r in rows
                ]
            },
        )


def _graph_time(value: str) -> str | None:
    """Graph writes 7 fractional digits and Z."""
    if not value:
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]00:00)?$", value)
    if not m:
        return value
    return f"{m.group(1)}.{(m.group(2) or '').ljust(7, '0')[:7]}Z"


def _int(value: str) -> int | None:
    return int(value) if value else None


def _bool(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value.lower()) if value else None


def main(argv: list[str]) -> int:
    canonical = Path(argv[1]) if len(argv) > 1 else CANONICAL
    out = Path(argv[2]) if len(argv) > 2 else OUT
    build(canonical, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
