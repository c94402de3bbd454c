"""The benchmark's split of each size's time into a fixed and a growing part."""

from __future__ import annotations

import pytest

from benchmark import Result, Step, fixed_and_growing


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
