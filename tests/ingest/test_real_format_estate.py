"""sample_data/real-format: written from the canonical estate by the converter, it never
drifts from it, and it gives exactly the canonical estate's findings (same fingerprints)."""

from __future__ import annotations

import filecmp
import importlib.util
from pathlib import Path

from conftest import AS_OF, ROOT, SAMPLE
from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.config import Config
from dapaudit.ingest import ingest

REAL = ROOT / "sample_data" / "real-format"
TOOL = ROOT / "tests" / "tools" / "make_real_format_estate.py"


def _converter():
    spec = importlib.util.spec_from_file_location("make_real_format_estate", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_committed_estate_is_what_the_converter_writes(tmp_path):
    out = tmp_path / "real-format"
    _converter().build(SAMPLE, out)
    assert _files(out) == _files(REAL), "re-run tests/tools/make_real_format_estate.py"
    _, mismatch, errors = filecmp.cmpfiles(out, REAL, _files(out), shallow=False)
    assert (mismatch, errors) == ([], []), "re-run tests/tools/make_real_format_estate.py"


def _findings(tmp_path: Path, folder: Path) -> list[tuple]:
    con = db.connect(tmp_path / f"{folder.name}.duckdb")
    try:
        ingest(con, [folder], snapshot="2026-11", as_of=AS_OF)
        analyze(con, "2026-11", Config())
        return con.execute(
            "SELECT rule_id, severity, customer_tenant_id, partner_tenant_id, subject, fingerprint "
            "FROM findings ORDER BY fingerprint"
        ).fetchall()
    finally:
        con.close()


def test_real_format_estate_gives_the_canonical_findings(tmp_path):
    canonical = _findings(tmp_path, SAMPLE)
    assert canonical, "the canonical estate has findings to compare"
    assert _findings(tmp_path, REAL) == canonical


def test_real_format_estate_uses_several_encodings_and_formats():
    heads = {p: p.read_bytes()[:4] for p in REAL.rglob("*") if p.is_file()}
    assert any(h.startswith(b"\xff\xfe") for h in heads.values())  # UTF-16LE with BOM
    assert any(h.startswith(b"\xef\xbb\xbf") for h in heads.values())  # UTF-8 with BOM
    assert any(p.read_bytes().startswith(b"#TYPE") for p in heads)  # Windows PowerShell 5.1
    assert any(b";" in p.read_bytes().split(b"\n")[0] for p in heads if p.suffix == ".csv")
