"""README sections generated from the rule metadata and the sample estate's expected findings.

`python -m dapaudit.docs README.md` rewrites every generated section in place; a test fails when
the README drifts from what this module renders. A section sits between the markers
`<!-- NAME:start -->` and `<!-- NAME:end -->`.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from .paths import SAMPLE_DATA_DIR
from .rules import all_rules, frameworks

EXPECTED_FINDINGS = SAMPLE_DATA_DIR / "expected_findings.csv"


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


SECTIONS = {
    "rules-reference": rules_reference,
    "controls-matrix": controls_matrix,
    "sample-findings": sample_findings,
}


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def section(text: str, name: str) -> str | None:
    """The current body of section `name` in `text`, or None when its markers are missing."""
    start, end = markers(name)
    if start not in text or end not in text:
        return None
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def regenerate(text: str) -> str:
    for name, render in SECTIONS.items():
        start, end = markers(name)
        if start not in text or end not in text:
            raise ValueError(f"the README has no {start} ... {end} markers")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{render()}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    path.write_text(regenerate(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
