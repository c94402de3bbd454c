"""dapaudit query: every output format, read-only refusal, SQL errors, input sources, snapshots."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from conftest import SAMPLE, db_dump
from dapaudit import db
from dapaudit import query as query_mod
from dapaudit.analyze import analyze
from dapaudit.cli import cli
from dapaudit.config import Config
from dapaudit.docs import build_sample_database
from dapaudit.ingest import ingest
from dapaudit.query import FORMATS

FINDINGS_SQL = "SELECT rule_id, severity, customer_tenant_id FROM findings ORDER BY position"


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory):
    """The sample estate, analysed, in a file (queries only read it: built once)."""
    path = tmp_path_factory.mktemp("query") / "sample.duckdb"
    build_sample_database(path)
    return path


def q(runner, path, *args, input=None):
    return runner.invoke(
        cli, ["query", "--db", str(path), *args], input=input, env={"COLUMNS": "100"}
    )


def test_json_is_one_array_with_nested_json_and_iso_dates(runner, sample_file):
    result = q(
        runner,
        sample_file,
        "--format",
        "json",
        "SELECT snapshot, as_of, evidence, controls, 1.50::DECIMAL(5,2) AS amount "
        "FROM findings JOIN snapshots USING (snapshot) "
        "WHERE rule_id = 'AZURE-LINGERING-PARTNER-ROLE' ORDER BY position LIMIT 1",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 1
    row = rows[0]
    assert row["as_of"] == "2026-11-30"
    assert row["amount"] == "1.50"  # decimals exact, as text
    assert isinstance(row["evidence"], dict) and row["evidence"]["role_name"] == "Owner"
    assert isinstance(row["controls"], list)


def test_csv_neutralises_formula_cells(runner, sample_file):
    result = q(
        runner,
        sample_file,
        "--format",
        "csv",
        "SELECT '=HYPERLINK(\"x\")' AS a, '+1' AS b, 'plain' AS c, NULL AS d, "
        "'  =1+1' AS e, ' plain' AS f, '   @x' AS \"  -h\"",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    # After leading spaces too: an import that trims cells would run ' =1+1'.
    assert rows == [
        ["a", "b", "c", "d", "e", "f", "'  -h"],
        ['\'=HYPERLINK("x")', "'+1", "plain", "", "'  =1+1", " plain", "'   @x"],
    ]


def test_csv_rows_read_back_whole_and_numbers_stay_numbers(runner, sample_file):
    """A carriage return inside a value is quoted, so no row splits there into a new row
    starting with an unneutralised formula; negative numbers are not prefixed with '."""
    sql = (
        "SELECT 'a' || chr(13) || '=1+1' AS x, -1 AS n, -1.5::DECIMAL(4, 2) AS d, "
        "-2.5::DOUBLE AS f, '-1' AS s, NULL AS z"
    )
    result = q(runner, sample_file, "--format", "csv", sql)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output, newline="")))
    assert rows == [["x", "n", "d", "f", "s", "z"], ["a\r=1+1", "-1", "-1.50", "-2.5", "'-1", ""]]


def test_csv_of_one_empty_column_keeps_its_rows(runner, sample_file):
    result = q(runner, sample_file, "--format", "csv", "SELECT '' AS e FROM range(2)")
    assert list(csv.reader(io.StringIO(result.output, newline=""))) == [["e"], [""], [""]]


def test_csv_of_findings_matches_the_table(runner, sample_file):
    result = q(runner, sample_file, "--format", "csv", FINDINGS_SQL)
    rows = list(csv.DictReader(io.StringIO(result.output)))
    with db.opened(sample_file, read_only=True) as con:
        expected = con.execute(FINDINGS_SQL).fetchall()
    assert [(r["rule_id"], r["severity"], r["customer_tenant_id"]) for r in rows] == expected
    assert len(rows) == len(
        json.loads(q(runner, sample_file, "--format", "json", FINDINGS_SQL).output)
    )


def test_table_is_aligned_cut_to_the_terminal_and_inert(runner, sample_file):
    long = "x" * 300
    result = q(
        runner,
        sample_file,
        f"SELECT 'a' AS short, '{long}' AS wide, 'bell' || chr(7) || chr(27) || '[31m' AS ctl",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["short", "wide", "ctl"]
    assert all(len(line) <= 100 for line in lines)
    assert "…" in lines[2]
    assert "\x07" not in result.output and "\x1b" not in result.output
    assert "\\u0007" in result.output
    assert lines[-1] == "(1 row)"


def test_markdown_escapes_pipes(runner, sample_file):
    result = q(runner, sample_file, "--format", "markdown", "SELECT 'a|b' AS x, 2 AS y")
    assert result.exit_code == 0, result.output
    assert result.output == "| x | y |\n| --- | --- |\n| a\\|b | 2 |\n"


def test_sql_from_file_and_stdin(runner, sample_file, tmp_path):
    sql = tmp_path / "q.sql"
    sql.write_text("SELECT count(*) > 0 AS n FROM tenants", encoding="utf-8")
    by_file = q(runner, sample_file, "--file", str(sql), "--format", "csv")
    by_dash = q(runner, sample_file, "-", "--format", "csv", input=sql.read_text())
    by_pipe = q(runner, sample_file, "--format", "csv", input=sql.read_text())
    assert by_file.exit_code == by_dash.exit_code == by_pipe.exit_code == 0, by_file.output
    assert by_file.output == by_dash.output == by_pipe.output == "n\ntrue\n"


def test_writes_are_refused_and_the_database_is_unchanged(runner, sample_file):
    before = db_dump(sample_file)
    for sql in (
        "DELETE FROM findings",
        "INSERT INTO tenants SELECT * FROM tenants",
        "UPDATE snapshots SET as_of = DATE '2000-01-01'",
        "DROP TABLE findings",
        "CREATE TABLE scratch AS SELECT 1",
        "SELECT 1; DELETE FROM findings",
    ):
        result = q(runner, sample_file, sql)
        assert result.exit_code == 2, (sql, result.output)
        assert result.output.startswith(
            "Error: query is read-only; the database was not changed."
        ), result.output
        assert "Traceback" not in result.output
    assert db_dump(sample_file) == before


def test_writes_are_refused_under_snapshot_too(runner, sample_file):
    before = db_dump(sample_file)
    result = q(runner, sample_file, "--snapshot", "2026-11", "CREATE TABLE scratch AS SELECT 1")
    assert result.exit_code == 2
    assert "read-only" in result.output
    assert db_dump(sample_file) == before


def test_no_files_are_written_or_read(runner, sample_file, tmp_path):
    target = tmp_path / "out.csv"
    result = q(runner, sample_file, f"COPY findings TO '{target}'")
    assert result.exit_code == 2
    assert result.output.startswith("Error: query reads only the audit database")
    assert not target.exists()
    assert q(runner, sample_file, "SELECT * FROM read_csv('/etc/hostname')").exit_code == 2


def test_sql_errors_give_duckdbs_message_without_traceback(runner, sample_file):
    result = q(runner, sample_file, "SELEC 1")
    assert result.exit_code == 2
    assert result.output.startswith("Error: Parser Error: syntax error")
    result = q(runner, sample_file, "SELECT * FROM no_such_table")
    assert result.exit_code == 2
    assert "no_such_table does not exist" in result.output
    assert "Traceback" not in result.output


def test_usage_errors(runner, sample_file, tmp_path):
    result = q(runner, sample_file, "SELECT 1", "--saved", "new_findings")
    assert result.exit_code == 2 and "one way only" in result.output
    result = q(runner, sample_file, "SELECT 1", "--param", "a=1")
    assert result.exit_code == 2 and "--param goes with --saved" in result.output
    result = q(runner, sample_file, input="   ")
    assert result.output == "Error: no SQL given\n" and result.exit_code == 2
    result = q(runner, tmp_path / "missing.duckdb", "SELECT 1")
    assert result.exit_code == 2 and "no such database" in result.output
    result = q(runner, sample_file, "--snapshot", "1999-01", "SELECT 1")
    assert result.exit_code == 2 and "no snapshot '1999-01'" in result.output


def test_snapshot_narrows_tables_and_views_but_deltas_still_compare(runner, tmp_path):
    path = tmp_path / "two.duckdb"
    con = db.connect(path)
    ingest(con, [SAMPLE], snapshot="2026-10", as_of=date(2026, 10, 31))
    analyze(con, "2026-10", Config())
    ingest(con, [SAMPLE], snapshot="2026-11", as_of=date(2026, 11, 30))
    analyze(con, "2026-11", Config())
    per_snapshot = con.execute(
        "SELECT count(*) FROM findings WHERE snapshot = '2026-11'"
    ).fetchall()[0][0]
    con.close()

    everything = q(
        runner, path, "--format", "csv", "SELECT count(DISTINCT snapshot) AS n FROM partner_access"
    )
    assert everything.output == "n\n2\n"
    one = q(
        runner,
        path,
        "--snapshot",
        "2026-11",
        "--format",
        "json",
        "SELECT (SELECT list(DISTINCT snapshot) FROM findings) AS f, "
        "(SELECT list(DISTINCT snapshot) FROM partner_access) AS p, "
        "(SELECT count(*) FROM findings) AS n, "
        "(SELECT list(change ORDER BY fingerprint, change) FROM finding_changes) AS changes, "
        "(SELECT previous_snapshot FROM snapshot_deltas) AS previous",
    )
    assert one.exit_code == 0, one.output
    row = json.loads(one.output)[0]
    assert row["f"] == ["2026-11"] and row["p"] == ["2026-11"]
    assert row["n"] == per_snapshot
    # finding_changes still sees the previous snapshot: the same data gives findings still open,
    # exactly as the unnarrowed view says for 2026-11.
    unnarrowed = q(
        runner,
        path,
        "--format",
        "json",
        "SELECT list(change ORDER BY fingerprint, change) AS changes FROM finding_changes "
        "WHERE snapshot = '2026-11'",
    )
    assert row["changes"] == json.loads(unnarrowed.output)[0]["changes"]
    assert "still_open" in row["changes"] and row["previous"] == "2026-10"


def test_empty_statement_result(runner, sample_file):
    result = q(runner, sample_file, "SELECT * FROM findings WHERE false")
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "(0 rows)"


def test_large_results_stream_in_batches_with_the_same_text(runner, sample_file, monkeypatch):
    sql = "SELECT range AS n, 'row ' || range AS label FROM range(25) ORDER BY n"
    whole = {fmt: q(runner, sample_file, "--format", fmt, sql).output for fmt in FORMATS}
    monkeypatch.setattr(query_mod, "BATCH_ROWS", 4)
    for fmt in FORMATS:
        assert q(runner, sample_file, "--format", fmt, sql).output == whole[fmt], fmt
    rows = json.loads(whole["json"])
    assert rows == json.loads(json.dumps([{"n": i, "label": f"row {i}"} for i in range(25)]))
    assert whole["csv"].count("\n") == 26


def test_show_a_saved_query(runner):
    result = runner.invoke(cli, ["query", "--show", "gdap_expiring"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("gdap_expiring: GDAP relationships ending within N days\n")
    assert "days (integer, default 30)" in result.output
    assert "dapaudit query --saved gdap_expiring --param days=30" in result.output
    assert "FROM gdap_relationship_state" in result.output


def test_snapshot_views_keep_the_column_comments(runner, sample_file):
    result = q(
        runner,
        sample_file,
        "--snapshot",
        "2026-11",
        "--format",
        "csv",
        "SELECT count(*) FILTER (WHERE comment IS NULL) AS missing, count(*) > 100 AS many "
        "FROM duckdb_columns() WHERE database_name = current_database()",
    )
    assert result.exit_code == 0, result.output
    assert result.output == "missing,many\n0,true\n"


@pytest.mark.parametrize(
    "raw",
    [
        "SELECT 41 + 1 AS n".encode("utf-16"),  # Notepad, PowerShell: UTF-16 with a BOM
        b"\xef\xbb\xbfSELECT 41 + 1 AS n",  # UTF-8 with a BOM
        b"SELECT 41 + 1 AS n",
    ],
    ids=["utf-16", "utf-8-bom", "utf-8"],
)
def test_sql_file_in_the_encodings_editors_save(runner, sample_file, tmp_path, raw):
    path = tmp_path / "q.sql"
    path.write_bytes(raw)
    result = q(runner, sample_file, "--format", "csv", "--file", str(path))
    assert result.exit_code == 0, result.output
    assert result.output == "n\n42\n"


def test_sql_file_that_is_no_text_is_a_clean_error(runner, sample_file, tmp_path):
    path = tmp_path / "q.sql"
    path.write_bytes(b"SELECT '\xe9'")  # Windows-1252
    result = q(runner, sample_file, "--file", str(path))
    assert result.exit_code == 2
    assert result.output == f"Error: {path}, byte 9: not UTF-8 text\n"


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 'pwned' AS a) TO '.tmp/y.csv'",
        "ATTACH '.tmp/e.duckdb' AS e",
        "SELECT * FROM read_csv('.tmp/x.csv')",
    ],
)
def test_the_working_folders_dot_tmp_is_no_way_out(runner, sample_file, tmp_path, monkeypatch, sql):
    """DuckDB lets a query use its temp_directory even with external access off, and an
    in-memory database's is ./.tmp: the session spills into a folder of its own instead."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "x.csv").write_text("a\n1\n", encoding="utf-8")
    result = q(runner, sample_file, sql)
    assert result.exit_code == 2, result.output
    assert "query reads only the audit database" in result.output
    assert sorted(p.name for p in (tmp_path / ".tmp").iterdir()) == ["x.csv"]


def test_the_session_keeps_the_memory_limit_of_every_command(runner, sample_file, monkeypatch):
    monkeypatch.setenv("DAPAUDIT_MEMORY_LIMIT", "200MB")
    result = q(runner, sample_file, "--format", "csv", "SELECT current_setting('memory_limit') m")
    assert result.output == "m\n190.7 MiB\n"


@pytest.mark.parametrize("sql", [";", ";;", "-- only a comment"])
def test_sql_without_a_statement_is_a_clean_error(runner, sample_file, sql):
    result = q(runner, sample_file, "-", input=sql)  # as from a file: "--" is no option
    assert result.exit_code == 2
    assert result.output == "Error: no SQL statement given (only comments or ';')\n"


def test_json_keeps_line_separators_and_every_column(runner, sample_file):
    """U+2028, U+2029 and U+0085 in text come back as they went in (textwrap.indent broke
    lines there), and columns of one name are all kept (a, a_1), as in the notebook API."""
    sql = "SELECT 'a' || chr(8232) || 'b' || chr(8233) || chr(133) AS s, 1 AS a, 2 AS a"
    result = q(runner, sample_file, "--format", "json", sql)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"s": "a\u2028b\u2029\u0085", "a": 1, "a_1": 2}]


def test_intervals_print_as_duckdb_spells_them(runner, sample_file):
    """Python's timedelta makes a month 30 days and spells -1.5 days "-2 days, 12:00:00":
    intervals, alone or inside a list or struct, come out in DuckDB's own spelling. The
    statement's closing ';' and a comment after it do not get in the way."""
    sql = (
        "SELECT 1; SELECT age(TIMESTAMP '2026-03-04', TIMESTAMP '2026-01-01') AS a, "
        "TIMESTAMP '2026-01-01' - TIMESTAMP '2026-01-02 12:00' AS neg, "
        "[INTERVAL 1 MONTH] AS l, {'i': INTERVAL 36 HOUR} AS st, 2 AS a "
        "FROM range(2) ORDER BY range DESC; -- the end; of it"
    )
    result = q(runner, sample_file, "--format", "json", sql)
    assert result.exit_code == 0, result.output
    row = {"a": "2 months 3 days", "neg": "-1 day -12:00:00", "l": ["1 month"]}
    row |= {"st": {"i": "36:00:00"}, "a_1": 2}
    assert json.loads(result.output) == [row, row]
    csv_out = q(runner, sample_file, "--format", "csv", "SELECT INTERVAL 1 MONTH AS m")
    assert csv_out.output == "m\n1 month\n"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'Señor Café' AS name, INTERVAL 2 MONTH AS i",  # the ';' looked for past the end
        "SELECT 'Café' AS name, INTERVAL 2 MONTH AS i; -- Résumé",
        "SELECT 'Café' AS name, INTERVAL 2 MONTH AS i; -- ;",  # a character short of the ';'
    ],
)
def test_intervals_after_text_beyond_ascii(runner, sample_file, sql):
    """DuckDB's tokenizer counts in UTF-8 bytes: the closing ';' was looked for so many
    characters too far on (a traceback, or the interval printed as Python's timedelta)."""
    result = q(runner, sample_file, "--format", "csv", sql)
    assert result.exit_code == 0, result.output
    assert (
        result.output == "name,i\n" + ("Señor Café" if "Señor" in sql else "Café") + ",2 months\n"
    )


def test_json_inside_lists_and_structs_comes_out_as_json(runner, sample_file):
    """The client hands JSON inside a list or struct over as text: `[evidence]` printed a list
    of strings holding JSON, where the README promises JSON columns nested."""
    sql = (
        "SELECT ['{\"a\": 1}'::JSON, NULL] AS l, {'e': '[1, \"x\"]'::JSON} AS st, "
        "'{\"b\": true}'::JSON AS j"
    )
    result = q(runner, sample_file, "--format", "json", sql)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"l": [{"a": 1}, None], "st": {"e": [1, "x"]}, "j": {"b": True}}
    ]
    csv_out = q(runner, sample_file, "--format", "csv", sql)
    assert (
        csv_out.output.splitlines()[1]
        == '"[{""a"": 1}, null]","{""e"": [1, ""x""]}","{""b"": true}"'
    )


def test_interval_of_a_statement_that_is_no_subquery_still_prints(runner, sample_file):
    # CALL cannot be wrapped to cast its columns: it prints as before, as Python's timedelta.
    result = q(runner, sample_file, "--format", "csv", "CALL unnest([INTERVAL 1 DAY])")
    assert result.exit_code == 0, result.output
    assert result.output == 'unnest\n"1 day, 0:00:00"\n'


def test_decimals_print_in_plain_notation(runner, sample_file):
    sql = "SELECT 0::DECIMAL(18,10) AS z, 1e-7::DECIMAL(18,10) AS small, 12.5::DECIMAL(5,2) AS n"
    result = q(runner, sample_file, "--format", "csv", sql)
    assert result.output == "z,small,n\n0.0000000000,0.0000001000,12.50\n"


@pytest.mark.parametrize("comment", ["-- the answer\n", "--\tthe answer\r\n", "-- "])
def test_sql_that_starts_with_a_comment_is_sql_not_an_option(runner, sample_file, comment):
    """A saved query's text pasted in as the argument starts with '-- title: ...', which the
    command line took for an option ('No such option'), echoing the whole SQL."""
    sql = comment + ("SELECT 42 AS x" if comment != "-- " else "x\nSELECT 42 AS x")
    result = q(runner, sample_file, sql, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.output == "x\n42\n"


def test_an_unknown_option_is_still_one(runner, sample_file):
    result = q(runner, sample_file, "--nope", "SELECT 1")
    assert result.exit_code == 2 and "No such option '--nope'" in result.output


def test_table_aligns_wide_and_combining_characters(runner, sample_file):
    """Columns line up on a terminal: a wide East Asian character takes two columns and a
    combining mark none (len() put the next column of a 日本語 row seven columns off)."""
    from dapaudit.textout import display_width

    sql = (
        "SELECT * FROM (VALUES ('日本語テキスト', 'x'), ('abc', 'y'), ('e' || chr(769), 'z'), "
        "(repeat('日本', 40), 'w')) t(a, b)"
    )
    result = q(runner, sample_file, sql)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()[2:6]
    ends = {display_width(line) for line in lines}
    assert len(ends) == 1, lines  # every row's last column (one character) ends where the others'
    assert lines[3].endswith("…  w")
