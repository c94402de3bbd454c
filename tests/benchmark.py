"""Benchmark dapaudit on generated estates against DuckDB's own read of the same files.

    python tests/benchmark.py --customers 1000 10000 100000 [--work /tmp/dapaudit-bench]
        [--reviews html pdf] [--repeat 3]

For each size: generate an estate (kept in --work and reused for the same size and seed),
then time, each as its own subprocess with its peak memory (ru_maxrss from wait4), the
estate's files read once untimed before the plain read and before ingest (page cache):
`dapaudit ingest`, `dapaudit analyze`, `report monthly --format html`, `report monthly
--format pdf`, and a plain DuckDB load of the same files (read_csv into tables, no checks,
no processing). Ingest and analyze are timed twice: as the two commands, and in one process
as `dapaudit run` does them (one interpreter and one database open, like the plain read).
Each round also times the two commands' start-up alone (STARTUP: Python, imports, opening the
database), the floor under their ratio.
With --repeat N, the plain read, ingest, analyze and the one-process run take N rounds and the
table shows medians and every round's ratio. With --reviews it also times `report tenant
--all-tenants` (customer reviews per minute and wall seconds per review). It checks the
findings against the planted ones and prints markdown tables.
Not a test: pytest does not collect it (no test_ prefix) and it asserts nothing on time.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
AS_OF = "2026-11-30"

# DuckDB alone: every file of a table in one read_csv, into a table in a database file.
PLAIN_READ = r"""
import sys, json, duckdb
db, plan = sys.argv[1], json.loads(open(sys.argv[2], encoding="utf-8").read())
con = duckdb.connect(db)
for n, (reader, files, options) in enumerate(plan):
    opts = "".join(f", {k} = {v!r}" for k, v in options.items())
    con.execute(f"CREATE TABLE t{n} AS SELECT * FROM {reader}(?{opts})", [files])
con.close()
"""

# dapaudit's ingest and analyze in one process, as `dapaudit run` does them before it writes
# the report: like the plain read, one interpreter, one import, one open of the database.
ONE_PROCESS = r"""
import sys
from datetime import date
from dapaudit import db
from dapaudit.analyze import analyze
from dapaudit.config import load_config
from dapaudit.ingest import ingest
exports, path, as_of = sys.argv[1], sys.argv[2], date.fromisoformat(sys.argv[3])
snapshot = as_of.strftime("%Y-%m")
with db.opening(path) as pending:
    ingest(pending, [exports], snapshot=snapshot, as_of=as_of)
    analyze(pending.get(), snapshot, load_config(None))
"""


@dataclass
class Step:
    seconds: float
    peak_mb: float
    timed_out: bool = False


@dataclass
class Result:
    customers: int
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    steps: dict[str, Step] = field(default_factory=dict)
    findings: int = 0
    check: str = ""
    pdf_pages: int | None = None
    plain_skipped: int = 0
    reviews: dict[str, int] = field(default_factory=dict)  # format -> reviews written
    # With --repeat: (ingest + analyze) / plain read of each round, measured side by side.
    ratios: list[float] = field(default_factory=list)
    # The same for ingest + analyze in one process (ONE_PROCESS), in the same rounds.
    ratios_one_process: list[float] = field(default_factory=list)


# What each of the two commands pays before any work: start Python, import dapaudit's command
# line (and DuckDB with it) and open the database. Timed twice a round, on the database ingest
# wrote, and printed against the plain read: the part of the ratio no work of ingest or analyze
# can take off while they are two commands.
STARTUP = r"""
import sys
import dapaudit.cli
from dapaudit import db
db.connect(sys.argv[1]).close()
"""


def compile_dapaudit() -> None:
    """Byte-compile dapaudit's modules into their __pycache__ before anything is timed.

    `pip install .` does this, and so does Python on a package's first import unless
    PYTHONDONTWRITEBYTECODE is set (some sandboxes and containers set it). Without the
    bytecode every dapaudit command would compile its modules from source (0.06 s more per
    command on the README's machine), while DuckDB's modules, compiled when it was installed,
    load from bytecode: the plain read would be timed as installed, dapaudit as never run.
    Python checks each bytecode file against its source, so an edited module never runs stale.
    """
    if not compileall.compile_dir(str(SRC / "dapaudit"), quiet=1):
        print(
            f"warning: could not byte-compile {SRC / 'dapaudit'} (read-only?): dapaudit's "
            "times include compiling its modules wherever Python cannot write bytecode",
            file=sys.stderr,
        )


def measure(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 3600) -> Step:
    """Run `cmd`; its wall time and its own peak RSS (wait4 gives this child's rusage).
    A step still running after `timeout` seconds is stopped and reported as such."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            elapsed = time.perf_counter() - started
            if pid:
                break
            if elapsed > timeout:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                return Step(elapsed, usage.ru_maxrss / 1024, timed_out=True)
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out.read().decode()}")
    return Step(elapsed, usage.ru_maxrss / 1024)


def plain_read_plan(exports: Path) -> tuple[list[tuple[str, list[str], dict]], int]:
    """Group the files as dapaudit would (by export and encoding), with DuckDB's own reader
    options. UTF-16 JSON has no native DuckDB reader: those files are left out (counted)."""
    groups: dict[tuple, list[str]] = {}
    skipped = 0
    for path in sorted(p for p in exports.rglob("*") if p.is_file()):
        head = path.read_bytes()[:4096]
        if path.suffix == ".json":
            if head.startswith(b"\xff\xfe"):
                skipped += 1
                continue
            reader, options = "read_json", {"format": "auto"}
        else:
            reader, options = "read_csv", {"header": True}
            if head.startswith(b"\xff\xfe"):
                options |= {"encoding": "utf-16", "delim": "\t"}
            elif head.startswith(b"#TYPE"):
                options |= {"encoding": "latin-1", "skip": 1}
            elif head.startswith(b"\xef\xbb\xbf") and path.parent.parent.name == "customers":
                options |= {"delim": ";"}
        export = path.stem.split("-")[0] if path.parent.name == "partner" else path.name
        key = (reader, export, tuple(sorted(options.items())))
        groups.setdefault(key, []).append(str(path))
    plan = [(key[0], files, dict(key[2])) for key, files in sorted(groups.items())]
    return plan, skipped


def _warm(exports: Path) -> None:
    """Read every file once, untimed, so that the plain read and ingest both start with the
    estate in the page cache: on a machine that reclaims cache, whichever ran first after the
    estate was written read it from disk (the same 100,000-customer plain read took 30 s in
    one run and 44 s in the next)."""
    for folder, _, names in os.walk(exports):
        for name in names:
            with open(os.path.join(folder, name), "rb") as fh:
                while fh.read(1 << 20):
                    pass


def _loaded_rows(db: Path, tables: list[str]) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def run_size(
    n: int,
    work: Path,
    seed: int,
    env: dict[str, str],
    pdf: bool,
    timeout: float,
    fmt: str,
    review_formats: tuple[str, ...] = (),
    repeat: int = 1,
) -> Result:
    estate = work / f"estate-{n}-seed{seed}-{fmt}"
    dapaudit = [sys.executable, "-m", "dapaudit.cli"]
    result = Result(n)
    if not (estate / "manifest.json").exists():
        shutil.rmtree(estate, ignore_errors=True)
        result.steps["generate"] = measure(
            dapaudit
            + [
                "generate",
                "--customers",
                str(n),
                "--out",
                str(estate),
                "--seed",
                str(seed),
                "--format",
                fmt,
            ],
            env,
            work,
        )
    manifest = json.loads((estate / "manifest.json").read_text(encoding="utf-8"))
    result.files = manifest["files"]
    exports = estate / "exports"

    plain_db = work / f"plain-{n}.duckdb"
    plan, result.plain_skipped = plain_read_plan(exports)
    plan_file = work / f"plain-{n}.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")  # too long for a command line
    db = work / f"dapaudit-{n}.duckdb"
    # Rounds of plain read, ingest and analyze, one after the other, so that each ratio
    # compares runs made under the same conditions; the table shows each step's median.
    rounds: dict[str, list[Step]] = {
        "duckdb_read": [],
        "ingest": [],
        "analyze": [],
        "one_process": [],
        "startup": [],
    }
    one_db = work / f"one-process-{n}.duckdb"
    for _ in range(repeat):
        plain_db.unlink(missing_ok=True)
        _warm(exports)
        rounds["duckdb_read"].append(
            measure([sys.executable, "-c", PLAIN_READ, str(plain_db), str(plan_file)], env, work)
        )
        plain_db.unlink(missing_ok=True)
        db.unlink(missing_ok=True)
        _warm(exports)
        ingest_cmd = ["ingest", str(exports), "--db", str(db), "--as-of", AS_OF]
        rounds["ingest"].append(measure(dapaudit + ingest_cmd, env, work))
        rounds["analyze"].append(measure(dapaudit + ["analyze", "--db", str(db)], env, work))
        starts = [measure([sys.executable, "-c", STARTUP, str(db)], env, work) for _ in range(2)]
        rounds["startup"].append(
            Step(sum(s.seconds for s in starts), max(s.peak_mb for s in starts))
        )
        one_db.unlink(missing_ok=True)
        _warm(exports)
        one_cmd = [sys.executable, "-c", ONE_PROCESS, str(exports), str(one_db), AS_OF]
        rounds["one_process"].append(measure(one_cmd, env, work))
        one_db.unlink(missing_ok=True)
        read = rounds["duckdb_read"][-1].seconds
        result.ratios.append((rounds["ingest"][-1].seconds + rounds["analyze"][-1].seconds) / read)
        result.ratios_one_process.append(rounds["one_process"][-1].seconds / read)
    for step, runs in rounds.items():
        result.steps[step] = _median_step(runs)
    # The rows dapaudit loaded, not the generator's count: partner tenants named by GDAP and
    # Azure records, for one, become tenants too.
    result.rows = _loaded_rows(db, sorted(manifest["rows"]))
    out = work / f"report-{n}"
    shutil.rmtree(out, ignore_errors=True)
    result.steps["report_html"] = measure(
        dapaudit + ["report", "monthly", "--db", str(db), "--format", "html", "--out", str(out)],
        env,
        work,
        timeout,
    )
    if pdf:
        result.steps["report_pdf"] = measure(
            dapaudit + ["report", "monthly", "--db", str(db), "--format", "pdf", "--out", str(out)],
            env,
            work,
            timeout,
        )
        result.pdf_pages = _pdf_pages(next(out.glob("*.pdf"), None))

    # Customer security reviews for every customer (`report tenant --all-tenants`, one
    # process per core by default), timed as one step: wall time / reviews is what one more
    # customer costs the run.
    for review_format in review_formats:
        reviews_out = work / f"reviews-{n}-{review_format}"
        shutil.rmtree(reviews_out, ignore_errors=True)
        result.steps[f"reviews_{review_format}"] = measure(
            dapaudit
            + ["report", "tenant", "--all-tenants", "--db", str(db), "--format", review_format]
            + ["--out", str(reviews_out)],
            env,
            work,
            timeout,
        )
        result.reviews[review_format] = sum(1 for _ in reviews_out.glob(f"*.{review_format}"))
        shutil.rmtree(reviews_out, ignore_errors=True)

    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, json, duckdb\n"
            "from dapaudit.generate import check_findings\n"
            "con = duckdb.connect(sys.argv[1], read_only=True)\n"
            "snap = con.execute('SELECT max(snapshot) FROM snapshots').fetchone()[0]\n"
            "c = check_findings(con, snap, sys.argv[2])\n"
            "n = con.execute('SELECT count(*) FROM findings').fetchone()[0]\n"
            "print(json.dumps([n, len(c.rules_checked), len(c.missing), len(c.unexpected)]))",
            str(db),
            str(estate / "expected_findings.json"),
        ],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    total, rules, missing, unexpected = json.loads(check.stdout)
    result.findings = total
    result.check = (
        f"{rules} rules: all planted found, nothing else"
        if not (missing or unexpected)
        else f"{rules} rules: {missing} missing, {unexpected} unexpected"
    )
    return result


def _median_step(runs: list[Step]) -> Step:
    """The median wall time of the runs, with the largest peak memory any of them had."""
    seconds = statistics.median(r.seconds for r in runs)
    return Step(seconds, max(r.peak_mb for r in runs), any(r.timed_out for r in runs))


def _pdf_pages(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        from pypdf import PdfReader
    except ImportError:
        return None
    return len(PdfReader(str(path)).pages)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    mem = next(
        (
            int(line.split()[1]) // 1024 // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    import duckdb

    return (
        f"{os.cpu_count()} cores ({cpu}), {mem} GB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}"
    )


# An estate of at most this many customers, run beside larger ones, measures the fixed part.
FIXED_COST_CUSTOMERS = 10


class Split(NamedTuple):
    """One size's time against the tiny estate's: `fixed` is the tiny estate's ingest +
    analyze (`fixed_read` its plain read), `growing` what the size takes beyond it."""

    customers: int
    baseline: int  # customers of the tiny estate
    fixed: float
    fixed_read: float
    growing: float
    growing_read: float
    read: float  # the size's whole plain read


def fixed_and_growing(results: list[Result]) -> list[Split]:
    """A Split for each size larger than the tiny estate among `results`, by size; none when
    there is no tiny estate or nothing larger."""
    base = min(results, key=lambda r: r.customers, default=None)
    if base is None or base.customers > FIXED_COST_CUSTOMERS:
        return []

    def both(r: Result) -> tuple[float, float]:
        ia = r.steps["ingest"].seconds + r.steps["analyze"].seconds
        return ia, r.steps["duckdb_read"].seconds

    fixed, fixed_read = both(base)
    splits = []
    for r in sorted(results, key=lambda r: r.customers):
        if r is not base:
            ia, read = both(r)
            splits.append(
                Split(
                    r.customers,
                    base.customers,
                    fixed,
                    fixed_read,
                    ia - fixed,
                    read - fixed_read,
                    read,
                )
            )
    return splits


def ratio_cell(ratios: list[float], single: float) -> str:
    """The median round's ratio and every round's, in the order run; `single` (the ratio of
    the median times) when there was one round."""
    if len(ratios) <= 1:
        return f"{single:.2f}x"
    rounds = ", ".join(f"{x:.2f}" for x in ratios)
    return f"{statistics.median(ratios):.2f}x ({len(ratios)} rounds: {rounds})"


def print_tables(results: list[Result]) -> None:
    def cell(r: Result, step: str) -> str:
        s = r.steps.get(step)
        if s is None:
            return "-"
        if s.timed_out:
            return f"stopped after {s.seconds:.0f} s"
        return f"{s.seconds:.1f} s / {s.peak_mb:.0f} MB"

    print(f"Machine: {machine()}\n")
    skipped = {r.customers: r.plain_skipped for r in results if r.plain_skipped}
    if skipped:
        print(
            "DuckDB's plain read leaves out the UTF-16 JSON files it has no reader for: "
            + ", ".join(f"{n} of the {c:,}-customer estate" for c, n in skipped.items())
            + ".\n"
        )
    print(
        "| customers | rows | files | ingest | analyze | DuckDB plain read | ratio "
        "(ingest+analyze)/read | ingest+analyze in one process | ratio in one process | "
        "µs per row (ingest+analyze) | HTML monthly | PDF monthly (pages) | findings |"
    )
    print("|" + "---|" * 13)
    for r in results:
        rows = sum(r.rows.values())
        ia = r.steps["ingest"].seconds + r.steps["analyze"].seconds
        read = r.steps["duckdb_read"].seconds
        pages = f" ({r.pdf_pages} p.)" if r.pdf_pages else ""
        one = r.steps.get("one_process")
        print(
            f"| {r.customers:,} | {rows:,} | {r.files} | {cell(r, 'ingest')} | "
            f"{cell(r, 'analyze')} | {cell(r, 'duckdb_read')} | "
            f"{ratio_cell(r.ratios, ia / read)} | {cell(r, 'one_process')} | "
            f"{ratio_cell(r.ratios_one_process, one.seconds / read) if one else '-'} | "
            f"{ia / rows * 1e6:.1f} | {cell(r, 'report_html')} | "
            f"{cell(r, 'report_pdf')}{pages} | {r.findings:,} ({r.check}) |"
        )
    started = [r for r in results if "startup" in r.steps]  # not in results of stop 20 or earlier
    if started:
        print(
            "\nStart-up of the two commands: each starts Python, imports dapaudit's command line "
            "and DuckDB, opens the database and closes it, and does nothing else (DuckDB's plain "
            "read starts once).\n\n| customers | start-up of two commands | "
            "start-up / whole plain read |"
        )
        print("|" + "---|" * 3)
        for r in started:
            s = r.steps["startup"]
            print(
                f"| {r.customers:,} | {s.seconds:.2f} s / {s.peak_mb:.0f} MB | "
                f"{s.seconds / r.steps['duckdb_read'].seconds:.2f}x |"
            )
    splits = fixed_and_growing(results)
    if splits:
        print(
            f"\nFixed and growing parts: the {splits[0].baseline:,}-customer estate stands for "
            "what does not grow with the data (starting the processes, imports, opening the "
            "database, planning statements and rules, committing).\n\n"
            "| customers | fixed: ingest+analyze / plain read | growing: ingest+analyze / "
            "plain read | ratio of the growing parts | fixed part / whole plain read |"
        )
        print("|" + "---|" * 5)
        for x in splits:
            print(
                f"| {x.customers:,} | {x.fixed:.2f} s / {x.fixed_read:.2f} s | {x.growing:.2f} s"
                f" / {x.growing_read:.2f} s | {x.growing / x.growing_read:.2f}x | "
                f"{x.fixed / x.read:.2f}x |"
            )
    reviewed = [r for r in results if r.reviews]
    if reviewed:
        print(
            "\n`report tenant --all-tenants` (one process per core):\n\n"
            "| customers | format | reviews | wall time / peak memory | reviews per minute "
            "| s per review |"
        )
        print("|" + "---|" * 6)
        for r in reviewed:
            for review_format, count in r.reviews.items():
                s = r.steps[f"reviews_{review_format}"]
                print(
                    f"| {r.customers:,} | {review_format} | {count:,} | "
                    f"{cell(r, 'reviews_' + review_format)} | "
                    f"{count / s.seconds * 60:.0f} | {s.seconds / max(count, 1):.3f} |"
                )
    tables = sorted({t for r in results for t in r.rows})
    print("\nRows per table:\n")
    print("| table | " + " | ".join(f"{r.customers:,}" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for t in tables:
        print(f"| {t} | " + " | ".join(f"{r.rows.get(t, 0):,}" for r in results) + " |")


def _load_result(path: Path) -> Result:
    data = json.loads(path.read_text(encoding="utf-8"))
    data["steps"] = {k: Step(**v) for k, v in data["steps"].items()}
    return Result(**data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/dapaudit-bench"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--format",
        choices=["canonical", "real"],
        default="real",
        help="Export format of the generated estates.",
    )
    parser.add_argument(
        "--print",
        nargs="+",
        type=Path,
        metavar="RESULT_JSON",
        help="Only print the tables of earlier runs' result-*.json files.",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="Rounds of plain read, ingest and analyze per size: the table shows each step's "
        "median and the ratio of every round (times on a shared machine vary by 20%%).",
    )
    parser.add_argument("--no-pdf", action="store_true", help="Skip the PDF monthly report.")
    parser.add_argument(
        "--reviews",
        nargs="+",
        choices=["html", "pdf"],
        default=[],
        help="Also time `report tenant --all-tenants` in these formats.",
    )
    parser.add_argument(
        "--reviews-max",
        type=int,
        default=10000,
        help="Time the reviews only for estates of at most this many customers "
        "(PDF reviews of 10,000 customers take many minutes).",
    )
    parser.add_argument(
        "--review-pdf-max",
        type=int,
        default=1000,
        help="Time PDF reviews only for estates of at most this many customers.",
    )
    parser.add_argument(
        "--report-timeout",
        type=float,
        default=600,
        help="Stop a report step after this many seconds (and say so).",
    )
    args = parser.parse_args()
    if args.print:
        print_tables([_load_result(p) for p in args.print])
        return
    args.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    compile_dapaudit()
    results = []
    for n in args.customers:
        print(f"... {n:,} customers", file=sys.stderr, flush=True)
        result = run_size(
            n,
            args.work.resolve(),
            args.seed,
            env,
            not args.no_pdf,
            args.report_timeout,
            args.format,
            tuple(
                f
                for f in args.reviews
                if n <= args.reviews_max and (f != "pdf" or n <= args.review_pdf_max)
            ),
            max(1, args.repeat),
        )
        results.append(result)
        # Each size's figures are kept as they come: a long 100,000 run may be stopped.
        (args.work / f"result-{n}-{args.format}.json").write_text(
            json.dumps(asdict(result), indent=2), encoding="utf-8"
        )
    print_tables(results)


if __name__ == "__main__":
    main()
