"""Write reports and findings files into an output folder."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..config import Config
from ..findings import load_findings, to_csv, to_json
from .model import build_monthly
from .render import render_html, write_pdf


def write_monthly(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    out: Path,
    formats: list[str],
    config: Config,
    *,
    findings_files: bool = False,
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    branding = config.report
    model = build_monthly(
        con,
        snapshot,
        title=branding.get("title", "Partner access compliance report"),
        organisation=branding.get("organisation", ""),
    )
    written: list[Path] = []
    html = render_html("monthly.html", r=model)
    if "html" in formats:
        target = out / "report.html"
        target.write_text(html, encoding="utf-8")
        written.append(target)
    if "pdf" in formats:
        target = out / "report.pdf"
        write_pdf(html, target)
        written.append(target)
    if findings_files:
        items = load_findings(con, snapshot)
        (out / "findings.json").write_text(to_json(items), encoding="utf-8")
        (out / "findings.csv").write_text(to_csv(items), encoding="utf-8")
        written += [out / "findings.json", out / "findings.csv"]
    return written
