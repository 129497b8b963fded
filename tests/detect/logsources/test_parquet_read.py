"""Parquet as customers write it loads exactly as the same rows do from JSON lines, and a value Parquet holds in a
type that cannot become the schema's is refused naming the file, column and row.

Writers covered: pyarrow (what pandas ``to_parquet`` calls; timestamps in nanoseconds with a zone, dynamic
columns as JSON text or as nested structs, GUIDs as strings, 32-bit integers) and DuckDB's ``COPY … (FORMAT
parquet)`` (zoned microsecond timestamps, UUIDs, structs and lists; what ``bench/file_data.py`` writes).
Azure Data Explorer's own conversions from Parquet types to Kusto types (strings to dynamic, nested types to
dynamic, timestamps to datetime) are the table in MicrosoftDocs/dataexplorer-docs,
``data-explorer/kusto/management/parquet-mapping.md`` ("Parquet type conversions").
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.core.errors import DataError
from shared.detect.logsources.duckdb.loader import load_exports
from shared.detect.logsources.duckdb.sql import ident
from tests.detect.logsources.conftest import Exports

_ROWS: list[dict[str, object]] = [
    {"TimeGenerated": "2026-11-19T01:00:00.123456Z", "CreatedDateTime": "2026-11-19T00:59:59Z",
     "UserId": "5f1c2d4e-0000-4000-8000-000000000001", "AppId": "00000003-0000-0000-c000-000000000000",
     "UserPrincipalName": "ada@contoso.example", "DurationMs": 12, "IsInteractive": True,
     "LocationDetails": {"city": "Paris", "countryOrRegion": "FR"},
     "ConditionalAccessPolicies": [{"id": "p1", "result": "success"}]},
    {"TimeGenerated": "2026-11-19T02:30:00Z", "CreatedDateTime": None,
     "UserId": "5f1c2d4e-0000-4000-8000-000000000002", "AppId": "", "UserPrincipalName": "bob@contoso.example",
     "DurationMs": None, "IsInteractive": False, "LocationDetails": None, "ConditionalAccessPolicies": []},
]


def _times(key: str) -> list[datetime | None]:
    return [None if row[key] is None else datetime.fromisoformat(str(row[key])) for row in _ROWS]


def _loaded(folder: Path, columns: set[str] | None = None) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    load_exports(folder, con, columns=columns)
    names = ["TimeGenerated", "CreatedDateTime", "UserId", "AppId", "UserPrincipalName", "DurationMs",
             "IsInteractive", "LocationDetails", "ConditionalAccessPolicies", "Type"]
    order = ", ".join(ident(name) for name in names)
    rows = con.execute(f'SELECT {order} FROM "SigninLogs" ORDER BY "TimeGenerated"').fetchall()
    # dynamic values compare as JSON values: JSON text keeps its writer's spacing, as it does from JSON lines
    return [(*row[:7], *(None if value is None else json.loads(str(value)) for value in row[7:9]), row[9])
            for row in rows]


@pytest.fixture
def from_json_lines(tmp_path: Path) -> list[tuple[object, ...]]:
    Exports(tmp_path / "jsonl").jsonl("SigninLogs.jsonl", _ROWS)
    rows = _loaded(tmp_path / "jsonl")
    assert len(rows) == 2 and rows[0][7] is not None  # the reference itself loaded what the rows hold
    return rows


def test_pyarrow_parquet_with_zoned_nanoseconds_and_json_text_loads_as_json_lines_do(
    tmp_path: Path, from_json_lines: list[tuple[object, ...]]
) -> None:
    table = pa.table({
        "TimeGenerated": pa.array(_times("TimeGenerated"), pa.timestamp("ns", tz="UTC")),
        "CreatedDateTime": pa.array(_times("CreatedDateTime"), pa.timestamp("ns", tz="UTC")),
        "UserId": [row["UserId"] for row in _ROWS],
        "AppId": [row["AppId"] for row in _ROWS],
        "UserPrincipalName": [row["UserPrincipalName"] for row in _ROWS],
        "DurationMs": pa.array([row["DurationMs"] for row in _ROWS], pa.int32()),
        "IsInteractive": [row["IsInteractive"] for row in _ROWS],
        # dynamic columns as pandas leaves them: JSON text
        "LocationDetails": [None if row["LocationDetails"] is None else json.dumps(row["LocationDetails"])
                            for row in _ROWS],
        "ConditionalAccessPolicies": [json.dumps(row["ConditionalAccessPolicies"]) for row in _ROWS],
    })
    (tmp_path / "pq").mkdir()
    pq.write_table(table, tmp_path / "pq" / "SigninLogs.parquet")
    assert _loaded(tmp_path / "pq") == from_json_lines


def test_duckdb_parquet_with_uuids_and_nested_structs_loads_as_json_lines_do(
    tmp_path: Path, from_json_lines: list[tuple[object, ...]]
) -> None:
    (tmp_path / "pq").mkdir()
    source = str(tmp_path / "rows.jsonl").replace("'", "''")
    Exports(tmp_path).jsonl("rows.jsonl", _ROWS)
    target = str(tmp_path / "pq" / "SigninLogs.parquet").replace("'", "''")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(  # zoned timestamps, UUIDs, a struct and a list of structs, as DuckDB's reader infers them
        f"COPY (SELECT CAST(TimeGenerated AS TIMESTAMPTZ) AS TimeGenerated, "
        f"CAST(CreatedDateTime AS TIMESTAMPTZ) AS CreatedDateTime, CAST(UserId AS UUID) AS UserId, * "
        f"EXCLUDE (TimeGenerated, CreatedDateTime, UserId) FROM read_json('{source}', sample_size = -1)) "
        f"TO '{target}' (FORMAT parquet)")
    kinds = dict(con.execute(f"SELECT name, type FROM parquet_schema('{target}')").fetchall())
    assert kinds["LocationDetails"] is None  # a group: the struct is nested in the file, not text
    assert _loaded(tmp_path / "pq") == from_json_lines


def test_only_the_wanted_columns_are_read_and_the_rest_hold_their_empty_values(tmp_path: Path) -> None:
    Exports(tmp_path).parquet("SigninLogs.parquet", {
        "TimeGenerated": pa.array(_times("TimeGenerated"), pa.timestamp("us", tz="UTC")),
        "UserId": [row["UserId"] for row in _ROWS],
        "UserPrincipalName": [row["UserPrincipalName"] for row in _ROWS],
    })
    rows = _loaded(tmp_path, columns={"userid"})
    assert [(row[2], row[4], row[9]) for row in rows] == [
        ("5f1c2d4e-0000-4000-8000-000000000001", "", "SigninLogs"),
        ("5f1c2d4e-0000-4000-8000-000000000002", "", "SigninLogs")]


def test_a_string_that_is_no_datetime_is_refused_naming_file_column_and_row(tmp_path: Path) -> None:
    Exports(tmp_path).parquet("SigninLogs.parquet", {
        "TimeGenerated": ["2026-11-19T01:00:00Z", "2026-11-19T02:00:00Z", "yesterday"],
        "UserId": ["u1", "u2", "u3"],
    })
    with pytest.raises(DataError, match=r"column TimeGenerated: cannot read 'yesterday' as datetime") as caught:
        _loaded(tmp_path)
    assert caught.value.location is not None and caught.value.location.endswith("SigninLogs.parquet (record 3)")


def test_a_nested_value_in_a_string_column_is_refused_naming_the_column(tmp_path: Path) -> None:
    Exports(tmp_path).parquet("SigninLogs.parquet", {
        "TimeGenerated": pa.array(_times("TimeGenerated"), pa.timestamp("us", tz="UTC")),
        "UserPrincipalName": pa.array([{"upn": "a"}, {"upn": "b"}]),
    })
    with pytest.raises(DataError, match=r"UserPrincipalName.*list or an object") as caught:
        _loaded(tmp_path)
    assert caught.value.location is not None and "SigninLogs.parquet" in caught.value.location
