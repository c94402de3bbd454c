"""Progress bars: drawn on a terminal for work longer than a second, never otherwise."""

from __future__ import annotations

import io
import time
from datetime import date

from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.config import Config
from dapaudit.generate import generate
from dapaudit.ingest import ingest
from dapaudit.progress import Ticking, progress_printer

AS_OF = date(2026, 11, 30)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """A clock the test moves by hand: no sleeping, no timing flakiness."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_when_not_a_terminal():
    assert progress_printer("Reading exports", io.StringIO()) is None


def test_quick_work_draws_nothing_even_on_a_terminal():
    stream, clock = FakeTTY(), Clock()
    bar = progress_printer("Reading exports", stream, clock=clock)
    for n in range(1, 11):
        clock.now += 0.05
        bar("files", n, 10)
    assert stream.getvalue() == ""


def test_slow_work_draws_a_bar_that_ends_with_a_newline():
    stream, clock = FakeTTY(), Clock()
    bar = progress_printer("Reading exports", stream, clock=clock)
    clock.now += 1.5
    bar("files", 5, 20)
    clock.now += 0.5
    bar("files", 20, 20)
    out = stream.getvalue()
    first, last = out.split("\r")[1:]
    assert first.startswith("Reading exports (files) [#######.......")
    assert "5/20" in first and "25%" in first and "eta 0:04" in first
    assert last.startswith("Reading exports (files) [" + "#" * 30 + "] 20/20 100% 0:02")
    assert out.endswith("\n") and out.count("\n") == 1


def test_redraws_are_throttled():
    stream, clock = FakeTTY(), Clock()
    bar = progress_printer("Rendering", stream, clock=clock)
    clock.now += 2
    for n in range(1, 1000):
        clock.now += 0.001  # a thousand updates within one second
        bar("tenants", n, 100_000)
    assert 1 <= stream.getvalue().count("\r") <= 11


def test_ingest_and_analyze_report_progress(tmp_path):
    """The library calls the callback with growing counts up to the total."""
    generate(tmp_path / "estate", 12, seed=2)
    calls: list[tuple[str, int, int]] = []
    con = db.connect(tmp_path / "p.duckdb")
    try:
        ingest(
            con,
            [tmp_path / "estate" / "exports"],
            snapshot="2026-11",
            as_of=AS_OF,
            progress=lambda *a: calls.append(a),
        )
        analyze(con, "2026-11", Config(), progress=lambda *a: calls.append(a))
    finally:
        con.close()
    stages = {stage for stage, _, _ in calls}
    assert {"detect", "load", "rules"} <= stages
    for stage in stages:
        mine = [(d, t) for s, d, t in calls if s == stage]
        assert [d for d, _ in mine] == sorted(d for d, _ in mine)
        assert mine[-1][0] == mine[-1][1]  # ends complete


def test_cli_prints_no_bar_when_output_is_not_a_terminal(runner, tmp_path, monkeypatch):
    """`run` (ingest, analyze, the monthly report) with every bar due at once: only the terminal
    check keeps them out of the output."""
    from dapaudit import cli as cli_mod

    real = progress_printer

    def at_once(label, *args, **kwargs):
        return real(label, *args, **{**kwargs, "delay": 0})

    monkeypatch.setattr(cli_mod, "progress_printer", at_once)
    drawn = FakeTTY()
    cli_mod.progress_printer("Check", drawn)("step", 1, 2)
    assert "[###" in drawn.getvalue()  # on a terminal it draws at once

    generate(tmp_path / "estate", 12, seed=2)
    result = runner.invoke(
        cli_mod.cli,
        [
            "run",
            str(tmp_path / "estate" / "exports"),
            "--db",
            str(tmp_path / "x.duckdb"),
            "--as-of",
            "2026-11-30",
            "--out",
            str(tmp_path / "out"),
            "--format",
            "html",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "\r" not in result.output and "[###" not in result.output


def test_monthly_report_tells_its_steps_in_order(tmp_path):
    from dapaudit.report.service import write_monthly

    generate(tmp_path / "estate", 12, seed=2)
    calls: list[tuple[str, int, int]] = []
    con = db.connect(tmp_path / "p.duckdb")
    try:
        ingest(con, [tmp_path / "estate" / "exports"], snapshot="2026-11", as_of=AS_OF)
        analyze(con, "2026-11", Config())
        write_monthly(
            con,
            "2026-11",
            tmp_path / "out",
            ["html"],
            Config(),
            findings_files=True,
            progress=lambda *a: calls.append(a),
        )
    finally:
        con.close()
    assert calls == [("model", 0, 3), ("html", 1, 3), ("findings files", 2, 3), ("done", 3, 3)]


def test_ticking_redraws_a_long_step_and_stops_once_done():
    calls: list[tuple[str, int, int]] = []
    with Ticking(lambda *a: calls.append(a), interval=0.01) as ticking:
        ticking("pdf", 1, 2)
        deadline = time.monotonic() + 10
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls[:4] == [("pdf", 1, 2)] * 4  # called again with nothing new to tell
        ticking("done", 2, 2)
        time.sleep(0.1)
    assert calls[-1] == ("done", 2, 2) and calls.count(("done", 2, 2)) == 1


def test_a_bar_without_eta():
    stream, clock = FakeTTY(), Clock()
    bar = progress_printer("Writing report", stream, clock=clock, eta=False)
    clock.now += 1.5
    bar("pdf", 2, 4)
    assert "2/4" in stream.getvalue() and "eta" not in stream.getvalue()
