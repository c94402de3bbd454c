"""The machine's time zone changes nothing: a time without an offset is UTC, and dates taken
from times (GDAP end dates, the day a relationship expires) are UTC dates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conftest import SAMPLE

RELATIONSHIP = "cd2c0953-bda3-5256-a3fd-59a159639201-0e6249f8-cf40-5b6e-9138-82b4a7337e4f"


def _run(estate, out, zone):
    db = out / "x.duckdb"
    env = dict(os.environ, TZ=zone)
    args = ["run", str(estate), "--as-of", "2026-12-01", "--db", str(db), "--out", str(out)]
    args += ["--format", "html"]
    subprocess.run([sys.executable, "-m", "dapaudit.cli", *args], env=env, check=True)
    query = "SELECT end_at::VARCHAR FROM gdap_relationships WHERE relationship_id = ?"
    end = subprocess.run(
        [
            sys.executable,
            "-m",
            "dapaudit.cli",
            "query",
            "--db",
            str(db),
            "--format",
            "csv",
            query.replace("?", f"'{RELATIONSHIP}'"),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return (out / "findings.csv").read_text(encoding="utf-8"), end


def test_findings_and_times_are_the_same_in_any_time_zone(tmp_path):
    estate = tmp_path / "in"
    shutil.copytree(SAMPLE, estate)
    rels = estate / "gdap_relationships.csv"
    # 23:30 on the last day of the month, no offset: in Los Angeles it would be the 1 January.
    text = rels.read_text(encoding="utf-8").replace("2026-12-20T09:00:00Z", "2026-12-31T23:30:00")
    assert "2026-12-31T23:30:00\n" in text
    rels.write_text(text, encoding="utf-8")
    utc = _run(estate, tmp_path / "utc", "UTC")
    west = _run(estate, tmp_path / "west", "America/Los_Angeles")
    east = _run(estate, tmp_path / "east", "Asia/Tokyo")
    assert utc[1] == "CAST(end_at AS VARCHAR)\n2026-12-31 23:30:00+00\n"
    assert "GDAP-EXPIRING,low,0e6249f8-cf40-5b6e-9138-82b4a7337e4f" in utc[0]
    assert RELATIONSHIP in utc[0]
    assert west == utc and east == utc
