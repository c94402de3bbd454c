"""SQL fragments and lookups the real-export readers share: role names, folder names,
the checks every directory-role and partner-group reader makes."""

from __future__ import annotations

import duckdb

from ..errors import DapauditError
from ..paths import REFERENCE_DIR
from .base import GUID_RE, Batch, StagedTable, require_header_columns, stage_csv

GUID_PATTERN = GUID_RE[1:-1]
# A GDAP relationship id: two GUIDs joined by a hyphen.
RELATIONSHIP_ID_PATTERN = f"{GUID_PATTERN}-{GUID_PATTERN}"

AGENT_ROLE = (
    "CASE lower(trim({0})) WHEN 'adminagents' THEN 'admin_agents' "
    "WHEN 'helpdeskagents' THEN 'helpdesk_agents' WHEN 'salesagents' THEN 'sales_agents' END"
)


def agent_role(display_name_expr: str) -> str:
    """SQL: the agent role a partner group's display name says (case-insensitive), else NULL."""
    return AGENT_ROLE.format(display_name_expr)


def role_names(con: duckdb.DuckDBPyConnection) -> str:
    """TEMP table `ingest_role_names` (name_key, role_template_id): every built-in role by
    template id, display name and legacy alias (reference/directory_role_aliases.csv), so an
    export that names roles ("Company Administrator") maps to the template GUID."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE ingest_role_names AS
        SELECT DISTINCT lower(trim(name_key)) AS name_key, role_template_id FROM (
            SELECT role_template_id AS name_key, role_template_id FROM ref_directory_roles
            UNION ALL
            SELECT display_name, role_template_id FROM ref_directory_roles
            UNION ALL
            SELECT alias, lower(role_template_id)
            FROM read_csv(?, header = true, auto_detect = false,
                          columns = {'alias': 'VARCHAR', 'role_template_id': 'VARCHAR'})
        )""",
        [str(REFERENCE_DIR / "directory_role_aliases.csv")],
    )
    return "ingest_role_names"


def role_by_name(expr: str) -> str:
    """SQL: the template id of the role named (or GUID-ed) by `expr`, else NULL."""
    return (
        f"(SELECT n.role_template_id FROM ingest_role_names n "
        f"WHERE n.name_key = lower(trim({expr})) LIMIT 1)"
    )


def file_folders(batch: Batch) -> str:
    """TEMP table `ingest_file_folders` (source_file_id, depth, name): each file's parent
    folders below the input, nearest first (depth 1)."""
    batch.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE ingest_file_folders AS
        SELECT source_file_id, generate_subscripts(folders, 1) AS depth, unnest(folders) AS name
        FROM {batch.file_table}"""
    )
    return "ingest_file_folders"


def folder_role(batch: Batch) -> str:
    """TEMP table `ingest_folder_role` (source_file_id, role_template_id): the role named by
    the nearest parent folder (template id, display name or legacy alias)."""
    role_names(batch.con)
    file_folders(batch)
    batch.con.execute(
        """CREATE OR REPLACE TEMP TABLE ingest_folder_role AS
        SELECT source_file_id, arg_min(n.role_template_id, d.depth) AS role_template_id
        FROM ingest_file_folders d JOIN ingest_role_names n ON n.name_key = lower(trim(d.name))
        GROUP BY source_file_id"""
    )
    return "ingest_folder_role"


def folder_group(batch: Batch) -> str:
    """TEMP table `ingest_folder_group` (source_file_id, group_id): the partner group named by
    the nearest parent folder (display name such as AdminAgents, or object id), among the
    groups of the file's tenant loaded in this ingest or earlier into the snapshot."""
    file_folders(batch)
    batch.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE ingest_folder_group AS
        SELECT d.source_file_id, arg_min(g.group_id, d.depth) AS group_id
        FROM ingest_file_folders d
        JOIN {batch.file_table} f USING (source_file_id)
        JOIN partner_agent_groups g
          ON g.snapshot = ? AND g.partner_tenant_id = f.context_tenant_id
         AND (lower(trim(g.display_name)) = lower(trim(d.name)) OR g.group_id = lower(d.name))
        GROUP BY d.source_file_id""",
        [batch.snapshot],
    )
    return "ingest_folder_group"


UNKNOWN_OWNER = (
    "cannot tell whose members these are: {how}, and no parent folder named by a directory "
    "role (e.g. 'Global Administrator') or by one of the partner's groups (e.g. 'AdminAgents')"
)


def check_directory_role_rows(
    stage: StagedTable, exprs: dict[str, str], fields: dict[str, str]
) -> None:
    """The checks every directory_role_members reader makes, naming the export's own fields."""
    stage.require_tenant(exprs["tenant_id"], fields["tenant_id"])
    stage.require_guid(exprs["tenant_id"], fields["tenant_id"])
    stage.require(exprs["role_template_id"], fields["role_template_id"])
    stage.require_guid(exprs["role_template_id"], fields["role_template_id"])
    stage.require_known_directory_role(exprs["role_template_id"], fields["role_template_id"])
    stage.require_guid(exprs["principal_id"], fields["principal_id"])
    if "principal_organization_id" in exprs:
        stage.require_guid(
            exprs["principal_organization_id"], fields["principal_organization_id"], optional=True
        )
    stage.reject_duplicates(
        [
            exprs["tenant_id"],
            exprs["role_template_id"],
            f"lower({exprs['principal_id']})",
            f"coalesce({exprs['directory_scope_id']}, '/')",
        ]
    )


def directory_role_projection(exprs: dict[str, str]) -> str:
    """SELECT list for directory_role_members from the reader's expressions."""
    return (
        f"lower({exprs['tenant_id']}) AS tenant_id, "
        f"lower({exprs['role_template_id']}) AS role_template_id, "
        f"lower({exprs['principal_id']}) AS principal_id, "
        f"{exprs['principal_type']} AS principal_type, "
        f"{exprs['principal_display_name']} AS principal_display_name, "
        f"{exprs['principal_upn']} AS principal_upn, "
        # A principal of the listing tenant itself is not foreign: keep only other tenants.
        f"nullif(lower({exprs.get('principal_organization_id', 'NULL')}), "
        f"lower({exprs['tenant_id']})) AS principal_organization_id, "
        f"coalesce({exprs['directory_scope_id']}, '/') AS directory_scope_id"
    )


def stage_export_csv(batch: Batch, name: str, required: dict[str, tuple[str, ...]]) -> StagedTable:
    """stage_csv for a tool's Export-Csv output, refusing what such a tool never writes: a file
    lacking a required column (`required`: field shown -> accepted spellings), or a header with
    no records (Export-Csv of nothing writes no file at all, so a bare header is a cut file)."""
    require_header_columns(batch, required)
    stage = stage_csv(batch, name)
    row = batch.con.execute(
        f"""SELECT f.display_path, 2 + f.type_line_offset FROM {batch.file_table} f
        WHERE f.source_file_id NOT IN (SELECT source_file_id FROM {name})
        ORDER BY f.source_file_id LIMIT 1"""
    ).fetchone()
    if row:
        raise DapauditError(
            "header only, no records (an export of nothing has no file at all)",
            file=row[0],
            record=row[1],
        )
    return stage
