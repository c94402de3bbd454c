"""The fast paths of the monthly report give exactly what the plain code gives: the streamed
findings files, the CSV quoting, the rows of the long tables."""

from __future__ import annotations

import csv
import io
import json
import random

import pytest

from dapaudit import findings as fmod
from dapaudit.findings import (
    CSV_FIELDS,
    load_findings,
    neutralise,
    to_csv,
    write_findings_files,
    write_json,
)


def reference_csv(items: list[dict]) -> str:
    """findings.csv as csv.writer writes it: the definition _csv_lines must match (but for a
    carriage return, which csv.writer leaves bare)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(reference_rows(items))
    return buf.getvalue()


def reference_rows(items: list[dict]) -> list[list[str]]:
    """The header and each finding's cells, neutralised: what findings.csv must read back as."""
    rows = [list(CSV_FIELDS)]
    for f in items:
        row = []
        for name in CSV_FIELDS:
            value = f[name]
            if name == "controls":
                value = " ".join(value)
            elif name in ("evidence", "suppression"):
                value = (
                    "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
                )
            row.append(neutralise("" if value is None else str(value)))
        rows.append(row)
    return rows


ALPHABET = [
    "a",
    ",",
    '"',
    "\n",
    "\r",
    "\0",
    " ",
    "é",
    "\t",
    "'",
    "\\",
    "=",
    "-",
    "@",
    "+",
    "\u2028",
]


def test_csv_cells_quoted_as_csv_writer_quotes_them():
    rng = random.Random(8)

    def text() -> str:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))

    items = []
    for _ in range(3000):
        item = {name: text() for name in CSV_FIELDS}
        item["controls"] = [text() for _ in range(rng.randint(0, 2))]
        item["suppression"] = rng.choice([None, {"reason": text(), "owner": text()}])
        item["evidence"] = {text(): [text(), {"file": text(), "record": rng.randint(-3, 9)}]}
        item["first_seen"] = rng.choice([None, text()])
        items.append(item)
    # Byte for byte as csv.writer writes them, where no cell holds a carriage return ...
    plain = [f for f in items if "\r" not in reference_csv([f])]
    assert 0 < len(plain) < len(items)
    assert to_csv(plain) == reference_csv(plain)
    assert to_csv([]) == reference_csv([])
    # ... and every row reads back whole, a carriage return included (quoted, where csv.writer
    # with lineterminator "\n" left it bare and a reader started a new row there).
    assert list(csv.reader(io.StringIO(to_csv(items), newline=""))) == reference_rows(items)


@pytest.mark.parametrize("framework", [None, "nist-800-53"])
def test_streamed_files_equal_plain_files(sample_db, tmp_path, monkeypatch, framework):
    monkeypatch.setattr(fmod, "BATCH", 2)  # several batches even on the small sample
    items = load_findings(sample_db, "2026-11", framework=framework)
    assert len(items) > 2 * fmod.BATCH
    write_json(items, tmp_path / "plain.json")
    write_findings_files(
        sample_db, "2026-11", tmp_path / "f.json", tmp_path / "f.csv", framework=framework
    )
    assert (tmp_path / "f.json").read_bytes() == (tmp_path / "plain.json").read_bytes()
    assert (tmp_path / "f.csv").read_text(encoding="utf-8") == reference_csv(items)


def test_streamed_files_of_a_snapshot_without_findings(sample_db, tmp_path):
    write_findings_files(sample_db, "no-such-snapshot", tmp_path / "f.json", tmp_path / "f.csv")
    assert (tmp_path / "f.json").read_text(encoding="utf-8") == "[]\n"
    assert (tmp_path / "f.csv").read_text(encoding="utf-8") == reference_csv([])


def test_row_cells_print_as_the_template_prints():
    """cell() (the long tables' rows, written in Python) gives what {{ value }} gives."""
    from markupsafe import Markup, escape

    from dapaudit.report.render import bounded, cell, environment, rcell

    rng = random.Random(3)
    values = [None, 0, 1, 7, -12, True, False, 1.5, "", Markup("<b>x</b>"), "a" * 250, "b " * 900]
    values += [
        "".join(rng.choice(ALPHABET + ["<", ">", "&"]) for _ in range(9)) for _ in range(500)
    ]
    printed = environment().from_string("{{ v }}")
    for value in values + values:  # twice: rcell() answers the second time from its cache
        assert cell(value) == str(escape(bounded(value))) == printed.render(v=value), repr(value)
        assert rcell(value) == cell(value), repr(value)


def test_findings_files_from_a_second_process_equal_inline(sample_db, tmp_path, monkeypatch):
    """Large estates write findings.json/.csv in a second process reading the database
    read-only; the files are the same as those written in this process."""
    from dapaudit import db
    from dapaudit.config import Config
    from dapaudit.report import service

    path = tmp_path / "sample.duckdb"
    sample_db.close()
    for threshold, out in ((10**9, tmp_path / "inline"), (1, tmp_path / "beside")):
        monkeypatch.setattr(service, "PARALLEL_FINDINGS_FILES", threshold)
        with db.opened(path, read_only=True) as con:
            beside = service._findings_files_beside(con, "2026-11", tmp_path, None)
            assert (beside is not None) == (threshold == 1)
            if beside is not None:
                beside.kill()
                beside.wait()
            service.write_monthly(con, "2026-11", out, ["html"], Config(), findings_files=True)
    for name in ("findings.json", "findings.csv"):
        assert (tmp_path / "beside" / name).read_bytes() == (
            tmp_path / "inline" / name
        ).read_bytes()
    with db.opened(path) as con:  # read-write: a second process could not open it
        assert service._findings_files_beside(con, "2026-11", tmp_path, None) is None
