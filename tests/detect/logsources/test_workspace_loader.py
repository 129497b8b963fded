"""Loading Log Analytics exports into DuckDB: every format, every failure named by file and line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb_kql
import pytest

from shared.core.errors import DataError
from shared.detect.logsources.duckdb.loader import INGESTION_TIME_COLUMN, LoadProgress, LoadReport, load_exports
from shared.detect.logsources.duckdb.sql import DUCKDB_TYPES
from shared.detect.tables import load_table_schemas
from tests.detect.logsources.conftest import Exports


@pytest.fixture
def con() -> Iterator[Any]:
    connection = duckdb_kql.connect()
    yield connection
    connection.close()


def _rows(con: Any, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def _column_types(con: Any, table: str) -> dict[str, str]:
    return {str(row[0]): str(row[1]) for row in con.execute(f'DESCRIBE "{table}"').fetchall()}


def test_json_lines_round_trip_with_types(exports: Exports, con: Any) -> None:
    exports.jsonl(
        "TokenValidation_CL.jsonl",
        [
            {
                "TimeGenerated": "2026-11-19T00:10:00.1234567Z",
                "KeyId": "kid-1",
                "Claims": {"aud": "api://x", "roles": ["a", "b"]},
                "IssuedAt": "2026-11-19T02:10:00+02:00",
            },
            {"TimeGenerated": "2026-11-19 00:20:00", "KeyId": "kid-2", "Claims": '{"aud":"api://y"}'},
        ],
    )
    report = load_exports(exports.folder, con)
    assert report.tables["TokenValidation_CL"] == 2
    rows = _rows(con, "SELECT TimeGenerated, KeyId, Claims, IssuedAt, Upn FROM TokenValidation_CL ORDER BY KeyId")
    assert rows == [
        (datetime(2026, 11, 19, 0, 10, 0, 123456), "kid-1", '{"aud":"api://x","roles":["a","b"]}',
         datetime(2026, 11, 19, 0, 10), ""),
        (datetime(2026, 11, 19, 0, 20), "kid-2", '{"aud":"api://y"}', None, ""),
    ]  # fmt: skip
    assert _column_types(con, "TokenValidation_CL")["Claims"] == "JSON"


def test_json_array_with_stringly_typed_values(exports: Exports, con: Any) -> None:
    """``az monitor log-analytics query`` writes every value as a string; types still come out right."""
    exports.json(
        "SigninLogs.json",
        [
            {
                "TimeGenerated": "2026-11-19T00:00:00Z",
                "UserPrincipalName": "a@contoso.example",
                "DurationMs": "42",
                "IsInteractive": "True",
                "LocationDetails": '{"city":"Paris"}',
                "AutonomousSystemNumber": 8075,
            }
        ],
    )
    load_exports(exports.folder, con)
    assert _rows(con, "SELECT DurationMs, IsInteractive, LocationDetails ->> 'city' FROM SigninLogs") == [
        (42, True, "Paris")
    ]


def test_portal_csv_with_utc_headers_and_portal_datetimes(exports: Exports, con: Any) -> None:
    exports.csv(
        "SigninLogs.csv",
        ["TimeGenerated [UTC]", "UserPrincipalName", "DurationMs", "LocationDetails", "IsInteractive"],
        [
            ["2/25/2025, 9:19:25.391 AM", "a@contoso.example", "42", '{"city":"Paris","n":[1,2]}', "True"],
            ["12/5/2025, 10:00:00.000 PM", "", "", "", ""],
            ["2025-12-06T01:02:03.5Z", "c@contoso.example", "7", "plain text", "false"],
        ],
    )
    report = load_exports(exports.folder, con)
    assert report.unknown_columns.get("SigninLogs", ()) == ()
    rows = _rows(
        con,
        "SELECT TimeGenerated, UserPrincipalName, DurationMs, CAST(LocationDetails AS VARCHAR), IsInteractive "
        "FROM SigninLogs ORDER BY TimeGenerated",
    )
    assert rows == [
        (datetime(2025, 2, 25, 9, 19, 25, 391000), "a@contoso.example", 42, '{"city":"Paris","n":[1,2]}', True),
        (datetime(2025, 12, 5, 22, 0), "", None, None, None),
        (datetime(2025, 12, 6, 1, 2, 3, 500000), "c@contoso.example", 7, '"plain text"', False),
    ]


def test_csv_in_local_time_is_refused(exports: Exports, con: Any) -> None:
    path = exports.csv("SigninLogs.csv", ["TimeGenerated [Local Time]", "UserPrincipalName"], [["1/1/2026", "a"]])
    with pytest.raises(DataError, match="is in local time; pass --timezone") as caught:
        load_exports(exports.folder, con)
    assert caught.value.location == str(path)


def test_csv_in_local_time_is_placed_with_the_given_timezone(exports: Exports, con: Any) -> None:
    exports.csv("SigninLogs.csv", ["TimeGenerated [Local Time]", "UserPrincipalName"],
                [["7/1/2026, 2:30:00 PM", "a"], ["1/15/2026, 9:00:00 AM", "b"]])
    load_exports(exports.folder, con, timezone="Europe/Paris")
    assert _rows(con, "SELECT TimeGenerated FROM SigninLogs ORDER BY UserPrincipalName") == [
        (datetime(2026, 7, 1, 12, 30),), (datetime(2026, 1, 15, 8, 0),)]  # CEST is UTC+2, CET UTC+1


def test_an_unknown_timezone_is_refused(exports: Exports, con: Any) -> None:
    from shared.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="not an IANA time zone"):
        load_exports(exports.folder, con, timezone="Mars/Olympus")


def test_parquet_round_trip(exports: Exports, con: Any) -> None:
    import pyarrow as pa

    exports.parquet(
        "TokenValidation_CL.parquet",
        {
            "TimeGenerated": pa.array([datetime(2026, 11, 19, 1, 0, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            "KeyId": ["kid-p"],
            "Claims": pa.array([{"aud": "x"}]),
            "Score": pa.array([3], pa.int32()),
        },
    )
    report = load_exports(exports.folder, con)
    assert report.unknown_columns == {"TokenValidation_CL": ("Score",)}
    assert _rows(con, "SELECT TimeGenerated, KeyId, CAST(Claims AS VARCHAR), Score FROM TokenValidation_CL") == [
        (datetime(2026, 11, 19, 1, 0), "kid-p", '{"aud":"x"}', 3)
    ]


def test_chunked_and_compressed_files_fill_one_table(exports: Exports, con: Any) -> None:
    exports.jsonl("SigninLogs.0001.jsonl", [{"TimeGenerated": "2026-11-19T00:00:00Z", "UserPrincipalName": "a"}])
    exports.csv("SigninLogs.0002.csv", ["TimeGenerated [UTC]", "UserPrincipalName"], [["1/1/2026, 1:00:00 AM", "b"]])
    with gzip.open(exports.folder / "signinlogs.0003.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"TimeGenerated": "2026-11-19T02:00:00Z", "UserPrincipalName": "c"}) + "\n")
    report = load_exports(exports.folder, con)
    assert report.tables["SigninLogs"] == 3
    assert len(report.files) == 3
    assert [row[0] for row in _rows(con, "SELECT UserPrincipalName FROM SigninLogs ORDER BY 1")] == ["a", "b", "c"]


def test_missing_tables_exist_empty_with_every_column_typed(exports: Exports, con: Any) -> None:
    report = load_exports(exports.folder, con)
    for name, schema in load_table_schemas().items():
        assert report.tables[name] == 0
        assert _column_types(con, name) == {c.name: DUCKDB_TYPES[c.kusto_type] for c in schema.columns} | {
            INGESTION_TIME_COLUMN: "TIMESTAMP"}


def test_missing_columns_are_typed_nulls_and_strings_are_empty(exports: Exports, con: Any) -> None:
    exports.jsonl("TokenValidation_CL.jsonl", [{"TimeGenerated": "2026-11-19T00:00:00Z"}])
    load_exports(exports.folder, con)
    assert _rows(con, "SELECT Upn, IssuedAt, Claims, TenantId, Type FROM TokenValidation_CL") == [
        ("", None, None, "", "TokenValidation_CL")
    ]


def test_unknown_tables_and_columns_are_loaded_and_reported(exports: Exports, con: Any) -> None:
    exports.jsonl(
        "Custom_CL.jsonl",
        [{"TimeGenerated": "2026-11-19T00:00:00Z", "Count": 3, "Nested": {"a": [1]}, "Name": "x"}],
    )
    exports.jsonl("SigninLogs.jsonl", [{"TimeGenerated": "2026-11-19T00:00:00Z", "Surprise": "yes"}])
    report = load_exports(exports.folder, con)
    assert report.unknown_tables == ("Custom_CL",)
    assert report.unknown_columns == {"SigninLogs": ("Surprise",)}
    assert _column_types(con, "Custom_CL") == {
        "TimeGenerated": "TIMESTAMP",
        "Count": "BIGINT",
        "Nested": "JSON",
        "Name": "VARCHAR",
        INGESTION_TIME_COLUMN: "TIMESTAMP",
    }
    assert _rows(con, "SELECT Surprise FROM SigninLogs") == [("yes",)]


def test_ingestion_time_is_time_received_else_time_generated_and_never_reported(exports: Exports, con: Any) -> None:
    exports.jsonl("SigninLogs.jsonl", [
        {"TimeGenerated": "2026-11-19T00:00:00Z", "_TimeReceived": "2026-11-19T01:30:00.1234567Z", "Id": "late"},
        {"TimeGenerated": "2026-11-19T00:05:00Z", "Id": "no-receipt"},
    ])
    exports.jsonl("Custom_CL.jsonl", [{"TimeGenerated": "2026-11-19T02:00:00Z"}])
    report = load_exports(exports.folder, con)
    assert _rows(con, f'SELECT Id, "{INGESTION_TIME_COLUMN}" FROM SigninLogs ORDER BY Id') == [
        ("late", datetime(2026, 11, 19, 1, 30, 0, 123456)), ("no-receipt", datetime(2026, 11, 19, 0, 5))]
    assert _rows(con, f'SELECT "{INGESTION_TIME_COLUMN}" FROM Custom_CL') == [(datetime(2026, 11, 19, 2, 0),)]
    assert all(INGESTION_TIME_COLUMN not in columns and "_TimeReceived" not in columns
               for columns in report.unknown_columns.values())
    assert all(INGESTION_TIME_COLUMN not in load.unknown_columns for load in report.loads)


def test_malformed_json_lines_name_file_and_line(exports: Exports, con: Any) -> None:
    path = exports.text(
        "TokenValidation_CL.jsonl",
        '{"TimeGenerated": "2026-11-19T00:00:00Z"}\n\n{"TimeGenerated": "2026-11-19T00:00:00Z", "KeyId": \n{"a": 1}\n',
    )
    with pytest.raises(DataError) as caught:
        load_exports(exports.folder, con)
    assert caught.value.location == f"{path}:3"
    assert "malformed JSON" in str(caught.value)
    assert str(caught.value).startswith(f"{path}:3: ")


def test_json_lines_that_are_not_objects_are_refused(exports: Exports, con: Any) -> None:
    path = exports.text("SigninLogs.jsonl", '{"UserPrincipalName": "a"}\n[1, 2]\n')
    with pytest.raises(DataError, match="expected a JSON object, found list") as caught:
        load_exports(exports.folder, con)
    assert caught.value.location == f"{path}:2"


def test_malformed_json_array_names_the_line(exports: Exports, con: Any) -> None:
    path = exports.text("SigninLogs.json", '[\n  {"UserPrincipalName": "a"},\n  {"UserPrincipalName": }\n]\n')
    with pytest.raises(DataError, match="malformed JSON") as caught:
        load_exports(exports.folder, con)
    assert caught.value.location == f"{path}:3"


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("UserPrincipalName,DurationMs\na,1\nb,2,3\n", 3, "expected 2 fields as in the header, found 3"),
        ('UserPrincipalName,DurationMs\na,1\n"b,2\nc,3\n', 3, "malformed CSV"),
    ],
)
def test_malformed_csv_names_the_line(exports: Exports, con: Any, content: str, line: int, message: str) -> None:
    path = exports.text("SigninLogs.csv", content)
    with pytest.raises(DataError, match=message) as caught:
        load_exports(exports.folder, con)
    assert caught.value.location == f"{path}:{line}"


def test_value_of_the_wrong_type_names_column_and_line(exports: Exports, con: Any) -> None:
    path = exports.text(
        "SigninLogs.jsonl",
        '{"DurationMs": 1}\n\n{"DurationMs": "12"}\n{"DurationMs": "twelve"}\n',
    )
    with pytest.raises(DataError, match="column DurationMs: cannot read 'twelve' as long") as caught:
        load_exports(exports.folder, con)
    assert caught.value.location == f"{path}:4"


def test_unreadable_datetime_in_csv_names_the_line(exports: Exports, con: Any) -> None:
    path = exports.csv(
        "SigninLogs.csv",
        ["TimeGenerated [UTC]", "UserPrincipalName"],
        [["1/1/2026, 1:00:00 AM", "a"], ["yesterday-ish", "b"]],
    )
    with pytest.raises(DataError, match="column TimeGenerated: cannot read 'yesterday-ish' as datetime") as caught:
        load_exports(exports.folder, con)
    assert caught.value.location == f"{path}:3"


def test_progress_skipped_and_empty_files(exports: Exports, con: Any) -> None:
    exports.jsonl("SigninLogs.jsonl", [{"UserPrincipalName": "a"}, {"UserPrincipalName": "b"}])
    exports.text("AuditLogs.jsonl", "")
    exports.text("IdentityInfo.json", "[]")
    readme = exports.text("README.md", "not data")
    hidden = exports.text(".hidden.jsonl", "{}")
    seen: list[LoadProgress] = []
    report = load_exports(exports.folder, con, on_progress=seen.append)
    assert [(p.file.name, p.index, p.total, p.rows) for p in seen] == [
        ("AuditLogs.jsonl", 1, 3, 0),
        ("IdentityInfo.json", 2, 3, 0),
        ("SigninLogs.jsonl", 3, 3, 2),
    ]
    assert str(seen[2]) == "SigninLogs.jsonl (3/3): 2 rows into SigninLogs"
    assert report.skipped_files == (hidden, readme)
    assert [item.reason for item in report.skipped] == [
        "hidden file",
        "not a log export: only .json, .jsonl, .ndjson, .csv (these optionally .gz) and .parquet are read"]
    assert isinstance(report, LoadReport)
    assert report.total_rows == 2


def test_missing_folder_is_a_data_error(tmp_path: Path, con: Any) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_exports(tmp_path / "nope", con)


def test_csv_rows_are_never_taken_for_comments_or_a_later_header(exports: Exports, con: Any) -> None:
    exports.text("SigninLogs.csv", "UserPrincipalName,DurationMs\n#hash@contoso.example,1\nb,2\n")
    load_exports(exports.folder, con)
    assert _rows(con, "SELECT UserPrincipalName, DurationMs FROM SigninLogs ORDER BY DurationMs") == [
        ("#hash@contoso.example", 1),
        ("b", 2),
    ]


def test_a_query_api_response_is_recognised(exports: Exports, con: Any) -> None:
    path = exports.text(
        "SigninLogs.json", json.dumps({"tables": [{"name": "PrimaryResult", "columns": [], "rows": []}]})
    )
    with pytest.raises(DataError, match="query API response") as caught:
        load_exports(exports.folder, con)
    assert caught.value.location == str(path)
