"""The README's generated reference: the export kinds (from the Kind registry) and the
canonical CSV layouts (from canonical.CANONICAL). tests/test_readme_reference.py fails when
the README differs; `python3 -m dapaudit.ingest.reference_docs README.md` rewrites it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from . import REGISTRY
from .canonical import CANONICAL, TYPES

BLOCKS = ("export-kinds", "canonical-reference")


def _cell(text: str) -> str:
    # Markdown would read <id> as an HTML tag.
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def export_kinds_markdown() -> str:
    lines = [
        "| kind | produced by | what dapaudit reads | fills |",
        "| --- | --- | --- | --- |",
    ]
    for kind in sorted(REGISTRY.kinds.values(), key=lambda k: k.name):
        if kind.name.startswith("canonical."):
            continue
        lines.append(
            f"| `{kind.name}` | {_cell(kind.produces)} | {_cell(kind.description)} "
            f"({kind.format.upper()}) | {', '.join(f'`{d}`' for d in kind.datasets) or '-'} |"
        )
    lines.append(
        "| `canonical.<table>` | written by hand or by your own scripts | the dapaudit canonical "
        "CSV, one layout per table (below) | that table |"
    )
    return "\n".join(lines)


def canonical_reference_markdown() -> str:
    out: list[str] = []
    out.append("Value types: " + "; ".join(f"`{k}` = {v}" for k, v in TYPES.items()) + ".")
    for layout in CANONICAL:
        out.append("")
        out.append(f"### `{layout.table}` (kind `{layout.kind}`)")
        out.append("")
        out.append(layout.description)
        out.append("")
        out.append("| column | type | required | description |")
        out.append("| --- | --- | --- | --- |")
        for c in layout.columns:
            allowed = f" One of: {', '.join(c.allowed)}." if c.allowed else ""
            out.append(
                f"| `{c.name}` | {c.type} | {'yes' if c.required else 'no'} | "
                f"{_cell(c.description)}{_cell(allowed)} |"
            )
        out.append("")
        out.append("```")
        out.append(",".join(c.name for c in layout.columns))
        out.append(layout.example)
        out.append("```")
    return "\n".join(out)


def render(block: str) -> str:
    return {
        "export-kinds": export_kinds_markdown,
        "canonical-reference": canonical_reference_markdown,
    }[block]()


def block_pattern(block: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {block}:start -->\n)(.*?)(<!-- {block}:end -->)", re.DOTALL)


def current_block(readme: str, block: str) -> str | None:
    match = block_pattern(block).search(readme)
    return match.group(2) if match else None


def rewrite(readme: str) -> str:
    for block in BLOCKS:
        readme = block_pattern(block).sub(
            lambda m, b=block: m.group(1) + render(b) + "\n" + m.group(3), readme
        )
    return readme


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
