"""Property-based tests (hypothesis) over the readers and the rules.

1. Any bytes fed to any reader - every registered kind, forced with --kind, and detection -
   give rows or a clean DapauditError naming the file, never another exception; a failed
   ingest leaves the database exactly as it was, a successful one passes `check`.
2. Findings do not depend on how the same data is laid out: row order, file order and
   names, splitting a file into several, GUID case, and text encoding.

Example counts are kept modest so the suite stays fast; DAPAUDIT_FUZZ_SCALE=10 multiplies
them for a longer run by hand. EXAMPLES counts what ran; the last test prints it (pytest -s).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, SAMPLE, table_dump
from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.check import check_database
from dapaudit.config import Config
from dapaudit.errors import DapauditError
from dapaudit.findings import load_findings
from dapaudit.ingest import detect, ingest
from dapaudit.ingest.base import REGISTRY
from dapaudit.ingest.text import sniff_text

AS_OF = date(2026, 11, 30)
EXAMPLES: Counter[str] = Counter()
SCALE = int(os.environ.get("DAPAUDIT_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=6 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _seeds() -> dict[str, list[bytes]]:
    """Real-shaped files we ship (sample estate, test fixtures), by detected kind: the
    starting points for mutation, so fuzzing reaches past detection into the readers."""
    found: dict[str, list[bytes]] = {}
    candidates = [
        *sorted((ROOT / "sample_data").rglob("*")),
        *sorted((ROOT / "tests" / "fixtures").rglob("*")),
    ]
    for path in candidates:
        if not path.is_file() or path.stat().st_size > 200_000:
            continue
        info = sniff_text(path)
        if info.is_binary or not info.head.strip():
            continue
        kinds = REGISTRY.detect(detect.sniff(info))
        if len(kinds) == 1:
            found.setdefault(kinds[0].name, []).append(path.read_bytes())
    return found


SEEDS = _seeds()
ALL_SEEDS = [s for kind in sorted(SEEDS) for s in SEEDS[kind]]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A seed file with a few random edits: bytes deleted, inserted, replaced, cut short."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["delete", "insert", "replace", "cut", "line"]))
        if edit == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif edit == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif edit == "cut":
            del data[at:]
        elif edit == "line":
            junk = draw(st.text(max_size=60)).encode("utf-8", "surrogatepass")
            data[at:at] = b"\n" + junk + b"\n"
    return bytes(data)


def _any_bytes(seeds: list[bytes]):
    text = st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
    options = [st.binary(max_size=600), text]
    if seeds:
        options += [mutated(seeds), mutated(seeds)]  # weighted towards real shapes
    return st.one_of(*options)


@pytest.fixture(scope="module")
def fuzz_db():
    con = db.connect(":memory:")
    yield con
    con.close()


def _feed(con, data: bytes, kind: str | None, label: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.txt"
        path.write_bytes(data)
        before = table_dump(con)
        EXAMPLES[label] += 1
        try:
            ingest(con, [path], snapshot="fuzz", as_of=AS_OF, kind=kind)
        except DapauditError as exc:
            assert "export.txt" in str(exc), str(exc)
            assert table_dump(con) == before
            EXAMPLES[label + " (clean error)"] += 1
        else:
            assert check_database(con).problems == []


@pytest.mark.parametrize("kind", sorted(REGISTRY.kinds))
def test_any_bytes_to_a_forced_kind_give_rows_or_a_clean_error(fuzz_db, kind):
    @FUZZ
    @given(data=_any_bytes(SEEDS.get(kind, [])))
    def run(data: bytes) -> None:
        _feed(fuzz_db, data, kind, "forced kind")

    run()


@settings(FUZZ, max_examples=40 * SCALE)
@given(data=_any_bytes(ALL_SEEDS))
def test_any_bytes_with_detection_give_rows_or_a_clean_error(fuzz_db, data):
    _feed(fuzz_db, data, None, "detected kind")


# ------------------------------------------------------------------ invariance of findings

_GUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1252")


def _findings_of(folder: Path) -> list[tuple]:
    """Findings without evidence (evidence names files and records, which layout changes)."""
    con = db.connect(":memory:")
    try:
        ingest(con, [folder], snapshot="2026-11", as_of=AS_OF)
        analyze(con, "2026-11", Config())
        return [
            tuple(
                f[k]
                for k in (
                    "rule_id",
                    "severity",
                    "customer_tenant_id",
                    "partner_tenant_id",
                    "subject",
                    "title",
                    "status",
                    "fingerprint",
                    "first_seen",
                )
            )
            for f in load_findings(con, "2026-11")
        ]
    finally:
        con.close()


BASELINE = None


def _baseline() -> list[tuple]:
    global BASELINE
    if BASELINE is None:
        BASELINE = _findings_of(SAMPLE)
        assert BASELINE  # the sample estate has findings, so the property can fail
    return BASELINE


def _relayout(folder: Path, rnd: random.Random, encode: bool, upper: bool) -> None:
    """Write the sample estate into `folder`: rows shuffled, files split, renamed and
    nested in random order, GUIDs partly upper-cased, each part in a random encoding."""
    names = sorted(p.name for p in SAMPLE.iterdir())
    order = list(range(1000))
    rnd.shuffle(order)
    n = 0
    for name in names:
        raw = (SAMPLE / name).read_bytes()
        header, *rows = raw.decode("utf-8").splitlines(keepends=True)
        rnd.shuffle(rows)
        parts = rnd.randint(1, min(3, max(1, len(rows))))
        cuts = sorted(rnd.sample(range(1, len(rows)), parts - 1)) if len(rows) > 1 else []
        for chunk in [rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]:
            body = (header + "".join(chunk)).encode("utf-8")
            if upper:
                body = _GUID.sub(
                    lambda m: m.group(0).upper() if rnd.random() < 0.5 else m.group(0), body
                )
            text = body.decode("utf-8")
            encoding = rnd.choice(ENCODINGS) if encode else "utf-8"
            sub = folder / f"d{order[n] % 3}"
            sub.mkdir(exist_ok=True)
            (sub / f"{order[n]:04d}-{name}").write_bytes(text.encode(encoding))
            n += 1


@settings(FUZZ, max_examples=5 * SCALE)
@given(seed=st.integers(0, 2**32 - 1), encode=st.booleans(), upper=st.booleans())
def test_findings_do_not_depend_on_layout_case_or_encoding(seed, encode, upper):
    EXAMPLES["layout invariance"] += 1
    folder = Path(tempfile.mkdtemp(prefix="dapaudit-layout-"))
    try:
        _relayout(folder, random.Random(seed), encode, upper)
        assert _findings_of(folder) == _baseline()
    finally:
        shutil.rmtree(folder)


def test_zz_report_example_counts():
    print(f"\nhypothesis examples run: {dict(sorted(EXAMPLES.items()))}")
    assert EXAMPLES["layout invariance"] >= 1 or not EXAMPLES
