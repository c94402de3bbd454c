"""Resource limits on untrusted input: an over-long CSV line, a JSON document nested 10,000
levels deep, a single JSON document over the size limit: each is a clean error (exit code 2,
the file named), never a hang, a crash or an unbounded allocation. The limits are lowered
through their environment variables so the files stay small; the full-size cases (a 100 MB
field, a 1.5 GB CSV, a 265 MB Graph document) were measured by hand: see SECURITY.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import db_dump
from dapaudit import db
from dapaudit.cli import cli
from dapaudit.ingest.base import REGISTRY, Batch, Kind, stage_json

TENANT = "0e6249f8-cf40-5b6e-9138-82b4a7337e4f"


def _load_test_records(batch: Batch) -> None:
    staged = stage_json(batch, "stg_test_records")
    staged.require("json_extract_string(rec, '$.id')", "id")
    staged.insert(
        "tenants",
        f"""SELECT lower(json_extract_string(rec, '$.id')) AS tenant_id,
                   json_extract_string(rec, '$.displayName') AS display_name,
                   NULL AS default_domain, 'customer' AS tenant_type,
                   source_file_id, source_record FROM {staged.name}""",
    )


TEST_KIND = Kind(
    name="test.json_records",
    description="A Graph-shaped JSON kind used only by these tests.",
    format="json",
    datasets=("tenants",),
    detect=lambda s: s.has_keys("testRecordId"),
    load=_load_test_records,
)


@pytest.fixture
def json_kinds(monkeypatch) -> list[str]:
    """The test kind plus every real JSON kind registered (the readers add them)."""
    monkeypatch.setitem(REGISTRY.kinds, TEST_KIND.name, TEST_KIND)
    return sorted(k.name for k in REGISTRY.kinds.values() if k.format == "json")


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # messages name files relative to the working folder


@pytest.fixture
def db_file(tmp_path) -> Path:
    path = tmp_path / "audit.duckdb"
    db.connect(path).close()
    return path


def _ingest(runner, db_file, path, *extra):
    return runner.invoke(
        cli, ["ingest", str(path), "--db", str(db_file), "--as-of", "2026-11-30", *extra]
    )


@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "unquoted"])
def test_csv_line_over_the_limit_is_a_clean_error(runner, tmp_path, db_file, monkeypatch, quoted):
    monkeypatch.setenv("DAPAUDIT_MAX_LINE_BYTES", "65536")
    value = "x" * 1_000_000
    cell = f'"{value}"' if quoted else value
    path = tmp_path / "tenants.csv"
    path.write_text(
        "tenant_id,display_name,default_domain,tenant_type\n"
        f"{TENANT},{cell},contoso.onmicrosoft.com,customer\n",
        encoding="utf-8",
    )
    before = db_dump(db_file)
    result = _ingest(runner, db_file, path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {path.name}, line 2: malformed CSV: the line is ")
    assert "over the limit of 65,536 bytes ($DAPAUDIT_MAX_LINE_BYTES)" in result.output
    assert len(result.output) < 500  # the line itself is not echoed
    assert db_dump(db_file) == before


def test_a_long_value_below_the_limit_loads(runner, tmp_path, db_file):
    path = tmp_path / "tenants.csv"
    path.write_text(
        "tenant_id,display_name,default_domain,tenant_type\n"
        f'{TENANT},"{"y" * 500_000}",contoso.onmicrosoft.com,customer\n',
        encoding="utf-8",
    )
    result = _ingest(runner, db_file, path)
    assert result.exit_code == 0, result.output


def _deep_document(depth: int) -> str:
    return '{"value": [' + '{"a":' * depth + "1" + "}" * depth + "]}"


def test_json_nested_10000_levels_is_a_clean_error(runner, tmp_path, db_file, json_kinds):
    path = tmp_path / "deep.json"
    path.write_text(_deep_document(10_000), encoding="utf-8")
    for kind in json_kinds:
        before = db_dump(db_file)
        result = _ingest(runner, db_file, path, "--kind", kind, "--tenant", TENANT)
        assert result.exit_code in (0, 2), (kind, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), kind
        if result.exit_code == 2:
            assert result.output.startswith("Error: deep.json"), (kind, result.output)
            assert db_dump(db_file) == before
    result = _ingest(runner, db_file, path, "--kind", TEST_KIND.name)
    assert result.output == ("Error: deep.json, record 1, field 'id': required value is missing\n")


def _graph_page(n: int) -> dict:
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#organization",
        "value": [
            {"testRecordId": i, "id": f"00000000-0000-4000-8000-{i:012d}", "displayName": f"T{i}"}
            for i in range(n)
        ],
    }


def test_json_document_over_the_limit_is_refused(
    runner, tmp_path, db_file, monkeypatch, json_kinds
):
    monkeypatch.setenv("DAPAUDIT_MAX_JSON_BYTES", "4096")
    path = tmp_path / "organization.json"
    path.write_text(json.dumps(_graph_page(200), indent=2), encoding="utf-8")
    assert path.stat().st_size > 4096
    before = db_dump(db_file)
    result = _ingest(runner, db_file, path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: organization.json: a single JSON document of ")
    assert "bytes is larger than the limit of 4,096 bytes" in result.output
    assert "export it in pages or as NDJSON, or raise $DAPAUDIT_MAX_JSON_BYTES" in result.output
    assert db_dump(db_file) == before


def test_ndjson_over_the_document_limit_still_loads(
    runner, tmp_path, db_file, monkeypatch, json_kinds
):
    monkeypatch.setenv("DAPAUDIT_MAX_JSON_BYTES", "4096")
    path = tmp_path / "organization.ndjson"
    path.write_text(
        "".join(json.dumps(r) + "\n" for r in _graph_page(200)["value"]), encoding="utf-8"
    )
    assert path.stat().st_size > 4096
    result = _ingest(runner, db_file, path)
    assert result.exit_code == 0, result.output
    assert "200 rows" in result.output


def test_limit_settings_must_be_numbers(runner, tmp_path, db_file, monkeypatch, json_kinds):
    monkeypatch.setenv("DAPAUDIT_MAX_JSON_BYTES", "lots")
    path = tmp_path / "organization.json"
    path.write_text(json.dumps(_graph_page(2)), encoding="utf-8")
    result = _ingest(runner, db_file, path)
    assert result.exit_code == 2
    assert "$DAPAUDIT_MAX_JSON_BYTES must be a number of bytes" in result.output


def _records(n: int) -> list[dict]:
    return [
        {"testRecordId": i, "id": f"00000000-0000-4000-8000-{i:012d}", "displayName": f"T{i}"}
        for i in range(n)
    ]


def test_a_large_top_level_array_is_read_element_by_element(
    runner, tmp_path, db_file, monkeypatch, json_kinds
):
    """`az ... -o json` writes one array: past STREAM_ARRAY_BYTES it is streamed, so the
    document limit does not apply to it and it loads exactly as a small array does."""
    records = _records(300)
    records[5] = {**records[5], "value": [{"not": "a record"}]}  # must stay one record
    small = tmp_path / "small" / "tenants.json"
    small.parent.mkdir()
    small.write_text(json.dumps(records), encoding="utf-8")
    result = _ingest(runner, db_file, small)
    assert result.exit_code == 0, result.output
    loaded_whole = db_dump(db_file)["tenants"]

    monkeypatch.setattr("dapaudit.ingest.base.STREAM_ARRAY_BYTES", 1024)
    monkeypatch.setenv("DAPAUDIT_MAX_JSON_BYTES", "4096")  # the whole file is far larger
    streamed_db = tmp_path / "streamed.duckdb"
    db.connect(streamed_db).close()
    big = tmp_path / "big" / "tenants.json"
    big.parent.mkdir()
    big.write_text(json.dumps(records, indent=2), encoding="utf-8")
    assert big.stat().st_size > 4096
    result = _ingest(runner, streamed_db, big)
    assert result.exit_code == 0, result.output
    assert "300 rows" in result.output
    assert db_dump(streamed_db)["tenants"] == loaded_whole


def test_a_malformed_streamed_array_is_a_clean_error(
    runner, tmp_path, db_file, monkeypatch, json_kinds
):
    monkeypatch.setattr("dapaudit.ingest.base.STREAM_ARRAY_BYTES", 1024)
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(_records(100))[:-200], encoding="utf-8")  # cut off
    before = db_dump(db_file)
    result = _ingest(runner, db_file, path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: tenants.json: malformed JSON"), result.output
    assert db_dump(db_file) == before


def test_running_out_of_memory_is_a_clean_error_that_changes_nothing(
    runner, tmp_path, db_file, monkeypatch, json_kinds
):
    """A single document parsed whole under a tiny DuckDB ceiling: DuckDB cannot spill it.
    The message says so and how to raise the ceiling; the transaction is rolled back."""
    path = tmp_path / "organization.json"
    page = {"@odata.context": "x", "value": _records(60_000)}
    path.write_text(json.dumps(page), encoding="utf-8")
    before = db_dump(db_file)
    monkeypatch.setenv("DAPAUDIT_MEMORY_LIMIT", "8MB")
    result = _ingest(runner, db_file, path)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "DuckDB ran out of memory" in result.output
    assert "nothing was changed" in result.output
    assert "$DAPAUDIT_MEMORY_LIMIT (now 8MB)" in result.output
    monkeypatch.delenv("DAPAUDIT_MEMORY_LIMIT")
    assert db_dump(db_file) == before
