"""report tenant --all-tenants over several processes writes what one process writes."""

from __future__ import annotations

import re
from pathlib import Path

from dapaudit.config import Config
from dapaudit.report.parallel import write_all_reviews


def _texts(folder: Path) -> dict[str, str]:
    # The generation time is the only thing allowed to differ between two runs.
    return {
        p.name: re.sub(r"generated [0-9-]+ [0-9:]+ UTC", "generated", p.read_text("utf-8"))
        for p in sorted(folder.glob("*.html"))
    }


def test_two_processes_write_the_same_reviews_as_one(sample_db, tmp_path):
    db_path = sample_db.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]
    sample_db.close()  # the workers open it read-only themselves
    calls: list[tuple[str, int, int]] = []
    one = write_all_reviews(db_path, "2026-11", tmp_path / "one", ["html"], Config(), jobs=1)
    two = write_all_reviews(
        db_path,
        "2026-11",
        tmp_path / "two",
        ["html"],
        Config(),
        jobs=2,
        progress=lambda *a: calls.append(a),
    )
    assert one.reviews == two.reviews > 1
    assert two.jobs == 2 and calls[-1] == ("reviews", two.reviews, two.reviews)
    assert _texts(tmp_path / "one") == _texts(tmp_path / "two")
    assert two.per_minute > 0 and two.seconds_per_review > 0
