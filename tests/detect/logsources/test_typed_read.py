"""The typed read (field names surveyed, types from the schemas, many blobs per read) loads what the careful
path loads, and every refusal still names the file and the line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from shared.core.errors import DataError
from shared.detect.logsources.duckdb.loader import LoadReport, load_exports
from shared.detect.logsources.duckdb.sql import ident
from shared.devkit.demo_data.generate import generate_demo_data
from tests.detect.logsources.conftest import Exports

END = datetime(2026, 11, 20, tzinfo=UTC)
_BLOB = "WorkspaceResourceId=/subscriptions/s/resourcegroups/r/providers/microsoft.operationalinsights/workspaces/w"


def _load(folder: Path, **options: object) -> tuple[duckdb.DuckDBPyConnection, LoadReport]:
    con = duckdb.connect()
    report = load_exports(folder, con, **options)  # type: ignore[arg-type]
    return con, report


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[object, ...]]:
    columns = [row[0] for row in con.execute(f"DESCRIBE {ident(table)}").fetchall()]
    order = ", ".join(ident(column) for column in columns)
    return con.execute(f"SELECT {order} FROM {ident(table)} ORDER BY ALL").fetchall()


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    generate_demo_data(folder, users=12, days=2, end=END)
    return folder


def test_the_typed_read_loads_exactly_what_the_careful_path_loads(demo_folder: Path) -> None:
    typed, typed_report = _load(demo_folder)
    careful, careful_report = _load(demo_folder, typed_read=False)
    assert typed_report.tables == careful_report.tables
    assert typed_report.total_rows > 1_000
    for table in typed_report.tables:
        assert _rows(typed, table) == _rows(careful, table), table
    assert [load.notes for load in typed_report.loads] == [load.notes for load in careful_report.loads]


def test_a_column_first_seen_on_the_last_line_is_loaded_and_an_unknown_one_reported(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"TimeGenerated": f"2026-11-19T{i % 24:02d}:00:00Z", "UserId": f"u{i}"}
                                     for i in range(30_000)]
    rows[-1] = {**rows[-1], "AppId": "late-app", "LateField": "x"}
    Exports(tmp_path).jsonl("SigninLogs.jsonl", rows)
    con, report = _load(tmp_path)
    assert con.execute('SELECT count(*) FROM "SigninLogs" WHERE "AppId" = \'late-app\'').fetchone() == (1,)
    assert report.unknown_columns["SigninLogs"] == ("LateField",)


def test_only_the_named_columns_are_loaded_and_the_time_columns_always(tmp_path: Path) -> None:
    Exports(tmp_path).jsonl("SigninLogs.jsonl", [
        {"TimeGenerated": "2026-11-19T01:00:00Z", "UserId": "u1", "AppId": "a1", "Typo_Column": "t"}])
    con, report = _load(tmp_path, columns={"userid"})
    assert con.execute('SELECT "UserId", "AppId", "TimeGenerated" FROM "SigninLogs"').fetchall() == [
        ("u1", "", datetime(2026, 11, 19, 1, 0))]
    assert report.unknown_columns["SigninLogs"] == ("Typo_Column",)  # not loaded, still reported


def test_a_list_in_a_string_column_is_still_refused_by_line(tmp_path: Path) -> None:
    Exports(tmp_path).jsonl("SigninLogs.jsonl", [
        {"TimeGenerated": "2026-11-19T01:00:00Z", "UserPrincipalName": "a@contoso.example"},
        {"TimeGenerated": "2026-11-19T02:00:00Z", "UserPrincipalName": ["a@contoso.example"]}])
    with pytest.raises(DataError, match=r"UserPrincipalName.*list or an object") as caught:
        _load(tmp_path)
    assert caught.value.location is not None and "SigninLogs.jsonl" in caught.value.location


def test_json_text_in_a_string_column_is_kept_as_text(tmp_path: Path) -> None:
    details = json.dumps([{"authenticationMethod": "Password"}])
    Exports(tmp_path).jsonl("SigninLogs.jsonl", [
        {"TimeGenerated": "2026-11-19T01:00:00Z", "UserPrincipalName": "[not a list]", "UserId": details}])
    con, _ = _load(tmp_path)
    assert con.execute('SELECT "UserPrincipalName", "UserId" FROM "SigninLogs"').fetchall() == [
        ("[not a list]", details)]


def test_json_text_first_seen_late_in_the_file_is_read_as_text_and_a_late_object_refused(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"TimeGenerated": "2026-11-19T01:00:00Z", "UserId": f"u{i}",
                                      "LocationDetails": "Paris"} for i in range(5_000)]
    rows[-1]["LocationDetails"] = json.dumps({"city": "Lyon"})
    Exports(tmp_path).jsonl("AADNonInteractiveUserSignInLogs.jsonl", rows)
    con, _ = _load(tmp_path)
    assert con.execute('SELECT "LocationDetails" FROM "AADNonInteractiveUserSignInLogs" '
                       'WHERE "UserId" = \'u4999\'').fetchone() == ('{"city": "Lyon"}',)
    rows[-1]["LocationDetails"] = {"city": "Lyon"}  # a real object where the schema says string: refused
    Exports(tmp_path).jsonl("AADNonInteractiveUserSignInLogs.jsonl", rows)
    with pytest.raises(DataError, match=r"LocationDetails.*list or an object") as caught:
        _load(tmp_path)
    assert caught.value.location is not None and "AADNonInteractiveUserSignInLogs.jsonl" in caught.value.location


def _outcome(folder: Path, *, typed_read: bool) -> object:
    try:
        con, _ = _load(folder, typed_read=typed_read)
    except DataError as exc:
        return f"refused: {exc}"
    return con.execute('SELECT "ResponseStatusCode" FROM "MicrosoftGraphActivityLogs"').fetchall()


@pytest.mark.parametrize("value", ["1.5", 1.5, True, "200", " 7 ", 3_000_000_000, "yes", None])
def test_a_number_reads_as_the_careful_path_reads_it(tmp_path: Path, value: object) -> None:
    # DuckDB's JSON reader would round 1.5 into an int and read true as 1; the typed read leaves numbers to
    # the careful conversion, so both paths agree on every spelling
    Exports(tmp_path).jsonl("MicrosoftGraphActivityLogs.jsonl", [
        {"TimeGenerated": "2026-11-19T01:00:00Z", "ResponseStatusCode": 200},
        {"TimeGenerated": "2026-11-19T01:00:01Z", "ResponseStatusCode": value}])
    assert _outcome(tmp_path, typed_read=True) == _outcome(tmp_path, typed_read=False)
    if value is True:
        assert str(_outcome(tmp_path, typed_read=True)).startswith("refused: ")


def test_many_blobs_load_together_and_a_bad_one_is_named(tmp_path: Path) -> None:
    exports = Exports(tmp_path)
    for hour in range(24):
        rows = [{"Type": "SigninLogs", "TimeGenerated": f"2026-11-19T{hour:02d}:{minute:02d}:00Z",
                 "UserId": f"u{hour}", **({"AppId": "a"} if minute % 2 else {})} for minute in range(0, 60, 5)]
        blob = f"am-signinlogs/{_BLOB}/y=2026/m=11/d=19/h={hour:02d}/m=00/PT05M.json"
        (tmp_path / blob).parent.mkdir(parents=True)
        exports.jsonl(blob, rows)
    progress: list[int] = []
    con = duckdb.connect()
    report = load_exports(tmp_path, con, on_progress=lambda step: progress.append(step.rows))
    assert report.tables["SigninLogs"] == 24 * 12 and progress == [12] * 24
    assert con.execute('SELECT count(*) FROM "SigninLogs" WHERE "AppId" = \'a\'').fetchone() == (24 * 6,)
    bad = tmp_path / f"am-signinlogs/{_BLOB}/y=2026/m=11/d=19/h=07/m=00/PT05M.json"
    lines = bad.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("2026-11-19T07:15:00Z", "not a time")
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"TimeGenerated.*not a time") as caught:
        _load(tmp_path)
    assert caught.value.location is not None and caught.value.location.endswith("h=07/m=00/PT05M.json:4")
