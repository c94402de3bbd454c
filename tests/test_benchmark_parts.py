"""The benchmark's parts: the split of each size's time into a fixed and a growing part, its
ratio cells, and the one-process step doing the same work as the two commands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmark import (
    AS_OF,
    ONE_PROCESS,
    STARTUP,
    Result,
    Step,
    fixed_and_growing,
    print_tables,
    ratio_cell,
)
from conftest import SAMPLE
from dapaudit import db
from dapaudit.cli import cli


def _result(customers: int, ingest: float, analyze: float, read: float) -> Result:
    steps = {"ingest": Step(ingest, 0), "analyze": Step(analyze, 0), "duckdb_read": Step(read, 0)}
    return Result(customers=customers, steps=steps)


def test_the_tiny_estate_is_the_fixed_part_of_every_larger_one():
    results = [
        _result(10_000, 6.0, 1.5, 4.5),
        _result(1, 0.8, 0.6, 0.4),
        _result(1000, 1.5, 0.8, 0.8),
    ]
    splits = fixed_and_growing(results)
    assert [x.customers for x in splits] == [1000, 10_000]  # by size, the tiny estate left out
    assert {x.baseline for x in splits} == {1}
    first, second = splits
    assert (first.fixed, first.fixed_read, first.read) == pytest.approx((1.4, 0.4, 0.8))
    assert (first.growing, first.growing_read) == pytest.approx((0.9, 0.4))
    assert (second.growing, second.growing_read, second.read) == pytest.approx((6.1, 4.1, 4.5))


@pytest.mark.parametrize(
    "sizes",
    [
        [],
        [1],  # nothing larger to split
        [1000, 10_000],  # no estate small enough to stand for the fixed part
    ],
)
def test_no_split_without_a_tiny_estate_and_a_larger_one(sizes):
    assert fixed_and_growing([_result(n, 1.0, 1.0, 1.0) for n in sizes]) == []


def test_ratio_cell_gives_the_median_round_and_every_round_in_order():
    assert ratio_cell([2.5, 1.9, 2.1], 9.9) == "2.10x (3 rounds: 2.50, 1.90, 2.10)"
    assert ratio_cell([2.0, 3.0], 9.9) == "2.50x (2 rounds: 2.00, 3.00)"
    assert ratio_cell([2.5], 2.25) == "2.25x"  # one round: the ratio of the step times


def _findings_and_rows(path) -> tuple[list[tuple], list[tuple]]:
    con = db.connect(path, read_only=True)
    try:
        findings = con.execute(
            "SELECT rule_id, customer_tenant_id, partner_tenant_id, subject, severity, status "
            "FROM findings ORDER BY ALL"
        ).fetchall()
        rows = con.execute(
            "SELECT snapshot, path, kind, row_count, sha256 FROM source_files ORDER BY path"
        ).fetchall()
        return findings, rows
    finally:
        con.close()


def test_the_one_process_step_does_what_the_two_commands_do(runner, tmp_path):
    """What the benchmark times in one process is the same work: the same snapshot, files,
    rows and findings as `dapaudit ingest` followed by `dapaudit analyze`."""
    two = tmp_path / "two.duckdb"
    for args in (
        ["ingest", str(SAMPLE), "--db", str(two), "--as-of", AS_OF],
        ["analyze", "--db", str(two)],
    ):
        assert runner.invoke(cli, args).exit_code == 0
    one = tmp_path / "one.duckdb"
    subprocess.run(
        [sys.executable, "-c", ONE_PROCESS, str(SAMPLE), str(one), AS_OF],
        check=True,
        capture_output=True,
    )
    findings, rows = _findings_and_rows(one)
    assert findings and rows
    assert (findings, rows) == _findings_and_rows(two)


def test_the_startup_step_opens_the_database_and_changes_nothing(runner, tmp_path):
    """The start-up floor imports the command line and opens the database ingest wrote, and
    does no work: the database's files are the same bytes afterwards."""
    path = tmp_path / "d.duckdb"
    args = ["ingest", str(SAMPLE), "--db", str(path), "--as-of", AS_OF]
    assert runner.invoke(cli, args).exit_code == 0
    before = {f.name: f.read_bytes() for f in tmp_path.iterdir()}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            STARTUP + "print(sorted(m for m in sys.modules if m.startswith('dapaudit')))",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "'dapaudit.cli'" in done.stdout and "'dapaudit.db'" in done.stdout
    assert {f.name: f.read_bytes() for f in tmp_path.iterdir()} == before


def test_the_startup_table_is_printed_against_the_plain_read(capsys):
    with_startup, older = _result(1000, 1.0, 0.5, 0.8), _result(10_000, 5.0, 1.0, 4.0)
    with_startup.steps["startup"] = Step(0.6, 90)
    with_startup.rows, older.rows = {"tenants": 1001}, {"tenants": 10_001}
    print_tables([with_startup, older])  # older: a result from before the start-up step
    out = capsys.readouterr().out
    assert "| 1,000 | 0.60 s / 90 MB | 0.75x |" in out
    assert "| 10,000 | " not in out.split("Start-up of the two commands")[1].split("Rows per")[0]
