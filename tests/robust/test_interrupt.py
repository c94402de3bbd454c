"""Ctrl-C while DuckDB runs a statement ends the command as Ctrl-C anywhere else does: click's
`Aborted!`, no traceback (the DuckDB client raises RuntimeError('Query interrupted') there, not
KeyboardInterrupt), whichever thread runs the statement (see dapaudit.interrupt). SIGTERM does
the same. Either way the process then ends by that signal (never exit code 1, which means
findings at or above --fail-on), after its cleanup: no temporary folder is left."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from robust_support import SRC, child_env, dapaudit_argv

from conftest import AS_OF, SAMPLE, db_dump, table_dump
from dapaudit import db
from dapaudit.ingest import ingest

# Runs for hours unless stopped: nothing folds it away, and hash() cannot overflow.
ENDLESS = "SELECT max(hash(i)) FROM range(1000000000000) t(i)"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ctrl_c_once_running(
    argv: list[str], cwd: Path, signum: int = signal.SIGINT, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run `argv`, press Ctrl-C (or send `signum`) once its statement runs; (exit code,
    stdout, stderr)."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env or child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job (`cmd &`, as CI may run the suite) ignores SIGINT, and its
        # children inherit that: give the child the default back, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # Starting up costs well under a second of CPU; past two, the statement is running.
        deadline = time.monotonic() + 60
        while _cpu_seconds(proc.pid) < 2.0 and proc.poll() is None:
            assert time.monotonic() < deadline, "the query never got going"
            time.sleep(0.05)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err


# `dapaudit analyze` with one more rule that runs for hours: on the small sample the rules run
# on a connection per core, in threads, while the main thread waits for them.
ENDLESS_RULE = f"""
import dataclasses, sys
from dapaudit import analyze, cli
from dapaudit.rules import all_rules
endless = dataclasses.replace(all_rules()[0], id="ZZ-ENDLESS", file="zz_endless", sql=(
    "SELECT NULL AS customer_tenant_id, NULL AS partner_tenant_id, subject, "
    "NULL AS discriminator, NULL AS title, NULL::JSON AS evidence, NULL AS severity "
    "FROM ({ENDLESS}) t(subject)"))
analyze.all_rules = lambda: (*all_rules(), endless)
sys.argv = ["dapaudit", "analyze", "--db", sys.argv[1]]
cli.main()
"""


# `dapaudit ingest` of the sample, whose kinds load on a connection per core, with one kind
# that runs for hours in its thread.
ENDLESS_KIND = f"""
import sys
import dapaudit.ingest as ingest
from dapaudit import cli
real = ingest._load_kind
def endless(con, kind, *args, **kwargs):
    if kind.name == "canonical.dap_monitoring":
        con.execute({ENDLESS!r})
    return real(con, kind, *args, **kwargs)
ingest._load_kind = endless
ingest.kind_workers = lambda files: 2
sys.argv = ["dapaudit", "ingest", sys.argv[2], "--db", sys.argv[1], "--snapshot", "2026-12"]
cli.main()
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to know when")
@pytest.mark.parametrize("command", ["query", "analyze", "ingest"])
def test_ctrl_c_during_a_statement_aborts_cleanly(tmp_path, command):
    path = tmp_path / "audit.duckdb"
    with db.opened(path) as con:
        ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
        before = table_dump(con)
    if command == "query":
        argv = dapaudit_argv("query", "--db", str(path), ENDLESS)
    elif command == "analyze":
        argv = [sys.executable, "-c", ENDLESS_RULE, str(path)]
    else:
        argv = [sys.executable, "-c", ENDLESS_KIND, str(path), str(SAMPLE)]
    returncode, _, err = _ctrl_c_once_running(argv, tmp_path)
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "Aborted!"
    assert returncode == -signal.SIGINT  # a shell's $? is 130
    assert db_dump(path) == before


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to know when")
@pytest.mark.parametrize("command", ["query", "ingest"])
def test_sigterm_cleans_up_and_ends_by_the_signal(tmp_path, command):
    """`timeout`, a service manager or `kill` stops the command: by default Python dies on the
    spot, leaving `query --snapshot`'s folder of views in the temp folder."""
    path = tmp_path / "audit.duckdb"
    with db.opened(path) as con:
        ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
        before = table_dump(con)
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**child_env(), "TMPDIR": str(temp)}
    if command == "query":
        argv = dapaudit_argv("query", "--db", str(path), "--snapshot", "2026-11", ENDLESS)
    else:
        argv = [sys.executable, "-c", ENDLESS_KIND, str(path), str(SAMPLE)]
    returncode, _, err = _ctrl_c_once_running(argv, tmp_path, signal.SIGTERM, env)
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "Aborted!"
    assert returncode == -signal.SIGTERM  # a shell's $? is 143
    assert list(temp.iterdir()) == []
    assert db_dump(path) == before


# The statement runs in a thread of its own, as a statement does whose only task one of
# DuckDB's threads took: Ctrl-C reaches the main thread alone, and only the watcher of
# dapaudit.interrupt can stop the statement. Without it the child reports it still running.
WATCHED = f"""
import threading, time
import duckdb
from dapaudit import interrupt
interrupt.install()
con = interrupt.track(duckdb.connect())
con.execute("SET enable_progress_bar = false")
outcome = []
def run():
    try:
        con.execute({ENDLESS!r})
        outcome.append("finished")
    except BaseException as exc:
        outcome.append(type(exc).__name__)
thread = threading.Thread(target=run, daemon=True)
thread.start()
try:
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    pass
thread.join(30)
print(outcome[0] if outcome else "still running")
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to know when")
def test_ctrl_c_interrupts_a_statement_the_main_thread_is_not_running(tmp_path):
    _, out, err = _ctrl_c_once_running([sys.executable, "-c", WATCHED], tmp_path)
    assert out.strip() == "InterruptException", err


def test_every_connection_dapaudit_opens_is_one_ctrl_c_interrupts():
    """A connection the watcher does not know runs on after Ctrl-C whenever one of DuckDB's
    threads took its statement (`query`'s did, until it was tracked too)."""
    untracked = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for opened in re.finditer(r"duckdb\.connect\(|[\w.]+\.cursor\(\)", text):
            if not re.search(r"track\(\s*$", text[: opened.start()]):
                line = text.count("\n", 0, opened.start()) + 1
                untracked.append(f"{path.relative_to(SRC)}:{line}")
    assert untracked == []


# Ctrl-C while the command line is still being imported, stood in for by an import hook that
# raises KeyboardInterrupt where the signal would land: inside `import dapaudit.cli`.
CTRL_C_WHILE_LOADING = r"""
import sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "dapaudit.cli":
            raise KeyboardInterrupt

sys.meta_path.insert(0, CtrlC())
from dapaudit.__main__ import main
main()
"""


def test_ctrl_c_while_the_command_line_loads_ends_by_the_signal_without_a_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", CTRL_C_WHILE_LOADING, "snapshots"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "Aborted!"
    assert proc.returncode == -signal.SIGINT


def test_the_installed_command_starts_from_the_entry_that_guards_the_import():
    import tomllib

    project = tomllib.loads((SRC.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["dapaudit"] == "dapaudit.__main__:main"


def test_ctrl_c_while_the_database_opens_is_an_interrupt_not_a_bad_database(
    runner, tmp_path, monkeypatch
):
    # The window between connecting and the first statement: the interrupt lands on the
    # connection's set-up, which was reported as "cannot open the database" with exit 2.
    from dapaudit.cli import cli

    def interrupted(*args, **kwargs):
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    path = tmp_path / "x.duckdb"
    db.connect(path).close()
    monkeypatch.setattr(db, "open_duckdb", interrupted)
    result = runner.invoke(cli, ["snapshots", "--db", str(path)])
    assert "cannot open the database" not in result.output
    assert result.output.strip().splitlines()[-1] == "Aborted!"
    assert result.exit_code == 1  # click's for Abort; the real command ends by the signal


def test_ctrl_c_to_the_process_group_stops_the_review_workers_without_tracebacks(tmp_path):
    # A terminal sends Ctrl-C to every process of the command: the review workers too, which
    # each printed a KeyboardInterrupt traceback before the parent stopped them.
    estate, dbfile = tmp_path / "estate", tmp_path / "x.duckdb"
    for args in (
        ["generate", "--customers", "60", "--out", str(estate), "--format", "canonical"],
        ["run", str(estate / "exports"), "--db", str(dbfile), "--out", str(tmp_path / "m")]
        + ["--as-of", AS_OF.isoformat(), "--format", "html"],
    ):
        assert subprocess.run(dapaudit_argv(*args), env=child_env(), cwd=tmp_path).returncode == 0
    out = tmp_path / "reviews"
    reviews = ["report", "tenant", "--all-tenants", "--db", str(dbfile), "--format", "pdf"]
    proc = subprocess.Popen(
        dapaudit_argv(*reviews, "--jobs", "2", "--out", str(out)),
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not any(out.glob("*.pdf")) and proc.poll() is None:  # the workers are rendering
            assert time.monotonic() < deadline, "no review was written"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "Aborted!"
    assert proc.returncode == -signal.SIGINT


def test_a_reader_that_goes_away_ends_the_command_by_sigpipe(tmp_path):
    """`dapaudit query ... | head -1`: the command ends as `cat` does when its reader goes
    away, by SIGPIPE (shell status 141), without a word on standard error; never exit code 1,
    which says findings at or above --fail-on."""
    path = tmp_path / "x.duckdb"
    con = db.connect(path)
    ingest(con, [SAMPLE], snapshot="2026-11", as_of=AS_OF)
    con.close()
    proc = subprocess.Popen(
        dapaudit_argv(
            "query", "--db", str(path), "--format", "csv", "SELECT i FROM range(10000000) t(i)"
        ),
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline() == b"i\n"
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait() == -signal.SIGPIPE, stderr
    assert stderr == ""
