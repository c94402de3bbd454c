"""Documentation generated from the code, so it cannot drift: the README's rule reference and
controls matrix (from the rule metadata), the sample estate's expected findings, the command
reference (from the click commands' --help), the "Ask your own questions" examples (run on the
sample estate), and docs/schema.md (from a new database).

`python -m dapaudit.docs [README.md]` rewrites every generated section in place; tests fail when
the README drifts from what this module renders. A section sits between the markers
`<!-- NAME:start -->` and `<!-- NAME:end -->`.
"""

from __future__ import annotations

import csv
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
from click.testing import CliRunner

from .paths import PROJECT_DIR, SAMPLE_DATA_DIR
from .rules import all_rules, frameworks

README = PROJECT_DIR / "README.md"
SCHEMA_DOC = PROJECT_DIR / "docs" / "schema.md"
HELP_WIDTH = 100
SAMPLE_AS_OF = date(2026, 11, 30)
EXPECTED_FINDINGS = SAMPLE_DATA_DIR / "expected_findings.csv"


@dataclass(frozen=True)
class Example:
    question: str
    args: tuple[str, ...]  # after `dapaudit query`


EXAMPLES = (
    Example(
        "Which partner users are implicitly Global Administrator, and where? (a saved query; "
        "raise `more_than` to find the users with standing admin rights in many customers)",
        (
            "--saved",
            "implicit_global_admin_users",
            "--param",
            "more_than=0",
            "--format",
            "markdown",
        ),
    ),
    Example(
        "Which partners can reach each customer, by DAP or by an active GDAP relationship?",
        (
            "SELECT c.display_name AS customer, p.partner_name, p.dap_enabled AS dap, "
            "p.active_gdap_relationships AS gdap FROM partner_access p "
            "JOIN tenant_directory c ON c.snapshot = p.snapshot "
            "AND c.tenant_id = p.customer_tenant_id "
            "WHERE p.dap_enabled OR p.active_gdap_relationships > 0 ORDER BY customer",
        ),
    ),
    Example(
        "Which Azure roles does each lingering-partner finding prove, read from its evidence?",
        (
            "--format",
            "csv",
            "SELECT customer_name, evidence->>'role_name' AS role, "
            "evidence->>'dap_removed_on' AS dap_removed_on, subject AS scope "
            "FROM finding_details WHERE rule_id = 'AZURE-LINGERING-PARTNER-ROLE' ORDER BY position",
        ),
    ),
)


# ------------------------------------------------------------------ rules and findings


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def rules_reference() -> str:
    """The rule table (what each finds, the exports it needs) and, per rule, what to collect."""
    lines = [
        "| rule | severity | what it finds | exports it reads |",
        "| --- | --- | --- | --- |",
    ]
    for r in all_rules():
        params = ", ".join(f"`{k}` = {v}" for k, v in sorted(r.params.items()))
        what = r.name + (f" (settings: {params})" if params else "")
        lines.append(
            f"| `{r.id}` | {r.severity} | {_cell(what)} | {', '.join(f'`{n}`' for n in r.needs)} |"
        )
    for r in all_rules():
        lines += ["", f"**{r.id}**: what to collect, and with which account.", ""]
        for paragraph in r.collect.split("\n"):
            if paragraph.strip():
                lines.append(f"- {_cell(paragraph)}")
    return "\n".join(lines)


def controls_matrix() -> str:
    """Rule × framework: the controls each rule supports."""
    fws = frameworks()
    lines = [
        "| rule | " + " | ".join(f"`{fid}`" for fid in fws) + " |",
        "| --- | " + " | ".join("---" for _ in fws) + " |",
    ]
    for r in all_rules():
        cells = []
        for fid in fws:
            ids = [c.partition(":")[2] for c in r.controls if c.partition(":")[0] == fid]
            cells.append(", ".join(ids) or "")
        lines.append(f"| `{r.id}` | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| framework | name |")
    lines.append("| --- | --- |")
    for fid, fw in fws.items():
        lines.append(f"| `{fid}` | {_cell(fw.name)} |")
    return "\n".join(lines)


def expected_findings(path: Path = EXPECTED_FINDINGS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def sample_findings() -> str:
    """The findings the sample estate produces with --as-of 2026-11-30, in output order."""
    lines = ["| rule | severity | customer | partner | why |", "| --- | --- | --- | --- | --- |"]
    for f in expected_findings():
        lines.append(
            f"| `{f['rule_id']}` | {f['severity']} | {_cell(f['customer'])} | "
            f"{_cell(f['partner']) or '–'} | {_cell(f['why'])} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ sections of the README


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def section(text: str, name: str) -> str | None:
    """The current body of section `name` in `text`, or None when its markers are missing."""
    start, end = markers(name)
    if start not in text or end not in text:
        return None
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def replace_block(text: str, name: str, content: str) -> str:
    start, end = markers(name)
    if start not in text or end not in text:
        raise ValueError(f"the README has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content.strip(chr(10))}\n{end}{tail}"


def _commands(group: click.Group, ctx: click.Context, prefix: str):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        sub = click.Context(cmd, info_name=name, parent=ctx, **cmd.context_settings)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, sub, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", cmd, sub


def cli_reference() -> str:
    from .cli import cli

    # As `dapaudit ... --help` builds them: the group's context settings (-h) are inherited.
    root = click.Context(
        cli,
        info_name="dapaudit",
        terminal_width=HELP_WIDTH,
        max_content_width=HELP_WIDTH,
        **cli.context_settings,
    )
    commands = list(_commands(cli, root, "dapaudit"))
    out = [
        "<!-- Generated from the commands' --help by `python -m dapaudit.docs`; do not edit. -->",
        "",
        "| command | what it does |",
        "| --- | --- |",
    ]
    out += [
        f"| [`{name}`](#{name.replace(' ', '-')}) | {cmd.get_short_help_str(limit=300)} |"
        for name, cmd, _ in commands
    ]
    for name, cmd, ctx in commands:
        out += ["", f"#### {name}", "", "```text", cmd.get_help(ctx).rstrip(), "```"]
    return "\n".join(out)


# ------------------------------------------------------------------ worked query examples


def build_sample_database(path: Path) -> None:
    """The sample estate as snapshot 2026-11, analysed: what the Quick start leaves behind."""
    from . import db
    from .analyze import analyze
    from .config import Config
    from .ingest import ingest

    con = db.connect(path)
    try:
        ingest(con, [SAMPLE_DATA_DIR / "canonical"], snapshot="2026-11", as_of=SAMPLE_AS_OF)
        analyze(con, "2026-11", Config())
    finally:
        con.close()


def _shell_quote(arg: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./=:-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def run_example(example: Example, db_path: Path) -> str:
    from .cli import cli

    result = CliRunner().invoke(
        cli, ["query", "--db", str(db_path), *example.args], env={"COLUMNS": str(HELP_WIDTH)}
    )
    if result.exit_code != 0:
        raise RuntimeError(f"example {example.args} failed: {result.output}")
    return result.output


def query_examples(db_path: Path | None = None) -> str:
    """The worked examples, run on `db_path` (default: the sample estate, built afresh)."""
    if db_path is None:
        with tempfile.TemporaryDirectory(prefix="dapaudit-docs-") as tmp:
            build_sample_database(Path(tmp) / "sample.duckdb")
            return query_examples(Path(tmp) / "sample.duckdb")
    out = [
        "<!-- Generated by `python -m dapaudit.docs` on the sample estate; a test reruns "
        "each example and compares. -->"
    ]
    for n, example in enumerate(EXAMPLES, 1):
        command = "dapaudit query " + " ".join(_shell_quote(a) for a in example.args)
        out += [
            "",
            f"**{n}. {example.question}**",
            "",
            "```text",
            f"$ {command}",
            run_example(example, db_path).rstrip(),
            "```",
        ]
    return "\n".join(out)


# ------------------------------------------------------------------ the files


def schema_markdown() -> str:
    from .catalog import as_markdown, new_database_objects

    return as_markdown(new_database_objects())


SECTIONS = {
    "rules-reference": rules_reference,
    "controls-matrix": controls_matrix,
    "sample-findings": sample_findings,
    "cli-reference": cli_reference,
    "query-examples": query_examples,
}


def regenerate(text: str) -> str:
    for name, render in SECTIONS.items():
        text = replace_block(text, name, render())
    return text


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated sections of the README (default README.md) and docs/schema.md."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]) or len(argv) > 1:
        print("usage: python -m dapaudit.docs [README.md]\n\n" + (main.__doc__ or ""))
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    readme = Path(argv[0]) if argv else README
    if not readme.is_file():
        print(f"Error: {readme}: no such file", file=sys.stderr)
        return 2
    for path, text in (
        (readme, regenerate(readme.read_text(encoding="utf-8"))),
        (SCHEMA_DOC, schema_markdown()),
    ):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
