"""The canonical sample estate with hostile text in every free-text column a report shows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from conftest import SAMPLE

MEGABYTE = "A" * 400_000 + "\u202e" + "B<b>" * 150_000  # ~1 MB, one word, markup inside

# Each string tries one way to escape from being text: markup, script, style, URL fetch,
# spreadsheet formula, terminal escape, bidi spoofing, path traversal, sheer size.
HOSTILE = [
    "<script>alert('dapaudit')</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg onload=alert(1)>",
    "</td></tr></table><h1>Injected heading</h1>",
    "</style><style>body{background:url(http://evil.example/css)}</style>",
    '<link rel="stylesheet" href="http://evil.example/x.css">',
    '<img src="http://evil.example/pixel.png">',
    '<img src="file:///etc/passwd">',
    '<iframe src="file:///etc/hostname"></iframe>',
    "@import url(http://evil.example/a.css);",
    "javascript:alert(1)",
    '<a href="javascript:alert(1)">click me</a>',
    "{{ 7*7 }} {% raw %}",
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\x1b[31mRED\x1b[0m\x1b]0;pwned\x07",
    "bell\x07 backspace\x08 formfeed\x0c vtab\x0b",
    "\u202eexe.tnemucod",
    "\u2066isolate\u2069 \u200bzero\u200dwidth",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/tmp/dapaudit-escape",
    "C:\\Windows\\System32",
    "line\nbreak",
    MEGABYTE,
]

CONTROLS = [h for h in HOSTILE if h.startswith(("\x1b", "bell", "\u202e", "\u2066"))]

# Column -> the hostile strings it receives, file by file (row i gets HOSTILE[(i + k) % n]).
COLUMNS = {
    "tenants.csv": ("display_name",),
    "partner_relationships.csv": ("partner_name",),
    "azure_subscriptions.csv": ("display_name",),
    "azure_role_assignments.csv": ("role_definition_name",),
    "directory_role_members.csv": ("principal_display_name", "principal_upn"),
    "partner_agent_groups.csv": ("display_name",),
    "partner_group_members.csv": ("member_display_name", "member_upn"),
    "gdap_relationships.csv": ("display_name",),
}


def write_hostile_estate(target: Path) -> int:
    """Write the estate to `target`; return how many hostile values were placed."""
    target.mkdir(parents=True, exist_ok=True)
    placed = 0
    for path in sorted(SAMPLE.iterdir()):
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
        header, body = rows[0], rows[1:]
        for k, column in enumerate(COLUMNS.get(path.name, ())):
            idx = header.index(column)
            for i, row in enumerate(body):
                # The megabyte string goes to Contoso (it appears in finding titles).
                if path.name == "tenants.csv" and row[2].startswith("contoso."):
                    row[idx] = MEGABYTE
                elif path.name == "partner_relationships.csv":
                    # Partner names open finding titles: terminal and bidi controls go here.
                    row[idx] = CONTROLS[i % len(CONTROLS)]
                else:
                    row[idx] = HOSTILE[(i * 3 + k + len(path.name)) % (len(HOSTILE) - 1)]
                placed += 1
        buf = io.StringIO(newline="")
        csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows([header, *body])
        (target / path.name).write_text(buf.getvalue(), encoding="utf-8", newline="")
    return placed
