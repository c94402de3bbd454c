"""report tenant --all-tenants over several processes writes what one process writes."""

from __future__ import annotations

import re
import signal
from datetime import date
from pathlib import Path

from dapaudit.config import Config
from dapaudit.report import parallel
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


def test_default_processes_are_the_cpus_this_process_may_use(sample_db, tmp_path, monkeypatch):
    # One per CPU of the process's affinity (taskset, a container's cpuset), not the machine's
    # count: here the process may use one CPU of however many the machine has.
    db_path = sample_db.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]
    sample_db.close()
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 1)
    run = write_all_reviews(db_path, "2026-11", tmp_path / "out", ["html"], Config())
    assert run.jobs == 1 and run.reviews > 1


def test_a_review_worker_leaves_ctrl_c_to_the_parent(tmp_path):
    # Ctrl-C reaches every process of the group; the parent stops the pool. A worker that
    # took it too printed a KeyboardInterrupt traceback from wherever it was rendering.
    before = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        parallel._init(
            "2026-11", date(2026, 11, 30), "now", str(tmp_path), ["html"], Config(), "a4", 25
        )
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
        parallel._state.clear()
