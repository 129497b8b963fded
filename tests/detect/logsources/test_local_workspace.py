"""LocalWorkspace: bound parameters, Log Analytics timespan semantics, typed results, errors."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.core.errors import ConfigurationError, DataError, QueryError
from shared.detect.logsources.base import CompleteResult, LogSource, PartialResult, QueryOutcome, ResultTable, TimeRange
from shared.detect.logsources.local import LocalQueryError, LocalWorkspace
from tests.detect.logsources.conftest import Exports

T0 = datetime(2026, 11, 19, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def iso(hours: float) -> str:
    return at(hours).isoformat().replace("+00:00", "Z")


def span(start: float, end: float) -> TimeRange:
    return TimeRange(start=at(start), end=at(end))


def write_sample(exports: Exports) -> None:
    exports.jsonl(
        "SigninLogs.jsonl",
        [
            {"TimeGenerated": iso(0.5), "UserPrincipalName": "u1", "IPAddress": "10.0.0.1"},
            {"TimeGenerated": iso(1.5), "UserPrincipalName": "u2", "IPAddress": "10.0.0.2"},
            {"TimeGenerated": iso(1.0), "UserPrincipalName": "at-start"},
            {"TimeGenerated": iso(2.0), "UserPrincipalName": "at-end"},
        ],
    )
    exports.jsonl(
        "TokenValidation_CL.jsonl",
        [
            {"TimeGenerated": iso(1.6), "Upn": "u1", "KeyId": "k1", "Claims": {"aud": "a", "n": [1, 2]}},
            {"TimeGenerated": iso(1.7), "Upn": "u2", "KeyId": "k2", "Claims": {"aud": "b"}},
            {"TimeGenerated": iso(5.0), "Upn": "u2", "KeyId": "k3", "Claims": {}},
        ],
    )
    exports.jsonl("NoTime_CL.jsonl", [{"Name": "timeless"}])


@pytest.fixture
def workspace(exports: Exports) -> Iterator[LocalWorkspace]:
    write_sample(exports)
    source = LocalWorkspace.from_exports(exports.folder)
    yield source
    source.close()


def run(
    source: LogSource,
    text: str,
    timespan: TimeRange | None = None,
    parameters: dict[str, object] | None = None,
) -> ResultTable:
    outcome = source.query(text, parameters=parameters or {}, timespan=timespan, label="test-rule")
    assert isinstance(outcome, CompleteResult), outcome
    return outcome.table


def count(source: LogSource, text: str, timespan: TimeRange | None = None) -> int:
    value = run(source, f"{text} | count", timespan).rows[0][0]
    assert isinstance(value, int)
    return value


def test_is_a_log_source(workspace: LocalWorkspace) -> None:
    source: LogSource = workspace
    assert "local workspace" in source.description
    assert workspace.report is not None
    assert workspace.report.unknown_tables == ("NoTime_CL",)


# -- timespan --------------------------------------------------------------------------------------


def test_timespan_is_half_open_on_time_generated(workspace: LocalWorkspace) -> None:
    names = run(workspace, "SigninLogs | project UserPrincipalName | order by UserPrincipalName asc", span(1, 2))
    assert [row[0] for row in names.rows] == ["at-start", "u2"]


def test_no_timespan_reads_everything(workspace: LocalWorkspace) -> None:
    assert count(workspace, "SigninLogs") == 4


def test_timespan_restricts_every_table_of_a_union(workspace: LocalWorkspace) -> None:
    assert count(workspace, "union SigninLogs, TokenValidation_CL", span(1.5, 1.65)) == 2
    assert count(workspace, "union SigninLogs, TokenValidation_CL") == 7


def test_timespan_restricts_wildcard_unions(workspace: LocalWorkspace) -> None:
    assert count(workspace, "union Signin*, TokenValidation*", span(1.5, 1.65)) == 2
    assert count(workspace, "union Signin*, TokenValidation*") == 7


def test_timespan_restricts_both_sides_of_a_join(workspace: LocalWorkspace) -> None:
    query = (
        "SigninLogs | join kind=inner (TokenValidation_CL | project UserPrincipalName = Upn, KeyId) "
        "on UserPrincipalName | project UserPrincipalName, KeyId | order by KeyId asc"
    )
    assert run(workspace, query).rows == (("u1", "k1"), ("u2", "k2"), ("u2", "k3"))
    # u1's sign-in (00:30) and u2's late token (05:00) are outside the window, on either side.
    assert run(workspace, query, span(1, 2)).rows == (("u2", "k2"),)


def test_timespan_restricts_lookup_and_let_bound_tables(workspace: LocalWorkspace) -> None:
    query = (
        "let tokens = TokenValidation_CL | project UserPrincipalName = Upn, KeyId;\n"
        "SigninLogs | lookup kind=inner tokens on UserPrincipalName | summarize n = count()"
    )
    assert run(workspace, query).rows == ((3,),)
    assert run(workspace, query, span(1, 2)).rows == ((1,),)


def test_rows_without_time_generated_are_outside_any_timespan(workspace: LocalWorkspace) -> None:
    assert count(workspace, "NoTime_CL") == 1
    assert count(workspace, "NoTime_CL", span(-1000, 1000)) == 0


@pytest.mark.parametrize(("row", "message"), [
    ({"TimeGenerated": None, "UserPrincipalName": "u9"}, "column TimeGenerated is missing or null"),
    ({"UserPrincipalName": "u9"}, "column TimeGenerated is missing or null"),
    ({"TimeGenerated": "2026-01-01T00:00:00Z", "UserPrincipalName": ["a@x", "b@y"]},
     "cannot convert column UserPrincipalName to string: it holds a list"),
])
def test_a_record_of_the_wrong_shape_is_refused_not_read(exports: Exports, row: dict[str, object],
                                                         message: str) -> None:
    """A Log Analytics record always has its TimeGenerated, and a UPN is text: a null time or a list where a string
    belongs fails the load with one line naming the column, instead of a row no window reads or a wrong UPN."""
    exports.jsonl("SigninLogs.jsonl", [{"TimeGenerated": "2026-01-01T00:00:00Z", "UserPrincipalName": "u1"}, row])
    with pytest.raises(DataError, match=message) as caught:
        LocalWorkspace.from_exports(exports.folder).close()
    assert "\n" not in str(caught.value)


def test_concurrent_queries_keep_their_own_timespans(workspace: LocalWorkspace) -> None:
    cases = [(span(1, 2), 2), (span(0, 3), 4), (None, 4), (span(10, 11), 0)] * 25

    def one(case: tuple[TimeRange | None, int]) -> bool:
        timespan, expected = case
        return count(workspace, "SigninLogs", timespan) == expected

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(one, cases))


# -- parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ['"); SigninLogs | take 1 //', "a'b\"c\\d", "é😀", ""])
def test_string_parameters_are_bound_not_spliced(workspace: LocalWorkspace, value: str) -> None:
    table = run(workspace, 'declare query_parameters(s:string = "x");\nprint v = s', parameters={"s": value})
    assert table.rows == ((value,),)


def test_a_string_no_literal_can_hold_is_refused_as_log_analytics_would(workspace: LocalWorkspace) -> None:
    # Both backends bind through the same literal renderer: a line break cannot sit in a verbatim string.
    with pytest.raises(LocalQueryError, match="parameter s") as caught:
        run(workspace, 'declare query_parameters(s:string = "x");\nprint v = s', parameters={"s": "line\nbreak"})
    assert caught.value.kind == "parameter"


def test_a_dynamic_default_is_refused_as_kusto_refuses_it(workspace: LocalWorkspace) -> None:
    # query-parameters-statement.md: "query parameters of type dynamic cannot have default values". Text received
    # as it is (the local endpoint's path) is run as Kusto runs it.
    text = "declare query_parameters(k:dynamic = dynamic([]), s:string = 'x');\nprint n = array_length(k), s"
    with pytest.raises(LocalQueryError, match="dynamic cannot have default values \\(k\\)") as caught:
        workspace.run_received(text, timespan=None, label="test-rule")
    assert caught.value.kind == "semantic"
    scalar_default = "declare query_parameters(s:string = 'x');\nprint s"
    assert workspace.run_received(scalar_default, timespan=None, label="r").table.rows == (("x",),)  # type: ignore[union-attr]
    # What a source sends binds every parameter as a let, so the same declaration runs with its value.
    assert run(workspace, text, parameters={"k": ["a", "b"]}).rows == ((2, "x"),)


def test_typed_parameters_reach_the_query(workspace: LocalWorkspace) -> None:
    query = (
        "declare query_parameters(since:datetime, window:timespan, users:dynamic, n:long = 1);\n"
        "SigninLogs | where TimeGenerated >= since and TimeGenerated < since + window "
        "and UserPrincipalName in (users) | project UserPrincipalName, n"
    )
    table = run(
        workspace,
        query,
        parameters={"since": at(1), "window": timedelta(hours=1), "users": ["u2", "at-end"], "n": 7},
    )
    assert table.rows == (("u2", 7),)


def test_null_defaults_and_none_values(workspace: LocalWorkspace) -> None:
    query = (
        "declare query_parameters(start:datetime = datetime(null), s:string = 'x', k:dynamic);\n"
        "print a = isnull(start), b = s, c = isnull(k)"
    )
    assert run(workspace, query, parameters={"k": None}).rows == ((True, "x", True),)
    assert run(workspace, query, parameters={"s": None, "start": None, "k": None}).rows == ((True, "", True),)


@pytest.mark.parametrize(
    ("parameters", "pattern"),
    [
        ({"nope": 1}, r"unknown parameter\(s\) \['nope'\]"),
        ({"n": "5"}, "parameter n: declared long, got str"),
        ({"since": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_bad_parameters_are_refused(workspace: LocalWorkspace, parameters: dict[str, object], pattern: str) -> None:
    query = "declare query_parameters(n:long = 1, since:datetime = datetime(null));\nprint n"
    with pytest.raises(LocalQueryError, match=pattern) as caught:
        run(workspace, query, parameters=parameters)
    assert caught.value.kind == "parameter"
    assert caught.value.rule_id == "test-rule"
    assert str(caught.value).startswith("test-rule: ")


def test_values_for_a_query_without_parameters_are_refused(workspace: LocalWorkspace) -> None:
    with pytest.raises(QueryError, match="declares no parameters"):
        run(workspace, "print 1", parameters={"x": 1})


# -- results ---------------------------------------------------------------------------------------


def test_result_types_and_values(workspace: LocalWorkspace) -> None:
    table = run(
        workspace,
        "TokenValidation_CL | where KeyId == 'k1' | project TimeGenerated, Claims, KeyId, "
        "span = 90m, id = guid(12345678-1234-1234-1234-123456789abc), r = 1.5, b = true, i = int(3), "
        "bag = bag_pack('when', TimeGenerated), all = pack_array(1, 'x')",
    )
    assert table.column_types == (
        "datetime", "dynamic", "string", "timespan", "guid", "real", "bool", "int", "dynamic", "dynamic",
    )  # fmt: skip
    assert table.records() == [
        {
            "TimeGenerated": at(1.6),
            "Claims": {"aud": "a", "n": [1, 2]},
            "KeyId": "k1",
            "span": timedelta(minutes=90),
            "id": "12345678-1234-1234-1234-123456789abc",
            "r": 1.5,
            "b": True,
            "i": 3,
            "bag": {"when": "2026-11-19T01:36:00.0000000Z"},
            "all": [1, "x"],
        }
    ]
    when = table.rows[0][0]
    assert isinstance(when, datetime)
    assert when.tzinfo is UTC


def test_aggregated_lists_are_dynamic_python_lists(workspace: LocalWorkspace) -> None:
    table = run(workspace, "TokenValidation_CL | summarize keys = make_list(KeyId), set = make_set(Upn)")
    assert table.column_types == ("dynamic", "dynamic")
    keys, users = table.rows[0]
    assert sorted(keys) == ["k1", "k2", "k3"]  # type: ignore[arg-type]
    assert sorted(users) == ["u1", "u2"]  # type: ignore[arg-type]


def test_results_beyond_max_rows_are_partial(exports: Exports) -> None:
    write_sample(exports)
    source = LocalWorkspace.from_exports(exports.folder, max_rows=2)
    try:
        outcome: QueryOutcome = source.query(
            "SigninLogs | order by UserPrincipalName asc | project UserPrincipalName",
            parameters={},
            timespan=None,
            label="r",
        )
        assert isinstance(outcome, PartialResult)
        assert outcome.partial_table.rows == (("at-end",), ("at-start",))
        assert "exceeded the internal record count limit 2" in outcome.error
        assert isinstance(source.query("SigninLogs | take 2", parameters={}, timespan=None, label="r"), CompleteResult)
    finally:
        source.close()


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "kind", "pattern"),
    [
        ("SigninLogs | where", "syntax", "could not parse"),
        ('print "open', "syntax", "not closed"),
        ("NoSuchTable | take 1", "semantic", "NoSuchTable"),
        ("SigninLogs | project NoSuchColumn", "semantic", "NoSuchColumn"),
        ('database("memory").SigninLogs | count', "refused", "database"),
        ("cluster('x').database('y').T", "refused", "cluster"),
        (".show tables", "refused", "control commands"),
        (".set-or-replace Evil <| print 1", "refused", "control commands"),
    ],
)
def test_errors_are_query_errors_naming_the_label(
    workspace: LocalWorkspace, query: str, kind: str, pattern: str
) -> None:
    with pytest.raises(LocalQueryError, match=pattern) as caught:
        run(workspace, query)
    assert isinstance(caught.value, QueryError)
    assert caught.value.kind == kind
    assert caught.value.rule_id == "test-rule"
    assert str(caught.value).startswith("test-rule: ")
    assert "\n" not in str(caught.value)


def test_queries_cannot_write(workspace: LocalWorkspace) -> None:
    with pytest.raises(QueryError):
        run(workspace, ".drop table SigninLogs")
    assert count(workspace, "SigninLogs") == 4


def test_queries_cannot_reach_the_file_system(workspace: LocalWorkspace, exports: Exports) -> None:
    """Defence in depth under duckdb-kql's own refusals: DuckDB's external access is off after loading."""
    cursor = workspace._connection.cursor()  # a raw cursor, as if the translator let SQL through
    try:
        with pytest.raises(Exception, match="disabled by configuration"):
            cursor.execute(f"SELECT * FROM read_json('{exports.folder / 'SigninLogs.jsonl'}')")
    finally:
        cursor.close()


def test_closed_workspace_refuses_queries(workspace: LocalWorkspace) -> None:
    workspace.close()
    workspace.close()  # idempotent
    with pytest.raises(QueryError, match="closed"):
        run(workspace, "print 1")


# -- database files --------------------------------------------------------------------------------


def test_database_file_written_then_reopened_read_only(exports: Exports, tmp_path: Path) -> None:
    write_sample(exports)
    database = tmp_path / "workspace.duckdb"
    first = LocalWorkspace.from_exports(exports.folder, database=database)
    first.close()
    with pytest.raises(ConfigurationError, match="already exists"):
        LocalWorkspace.from_exports(exports.folder, database=database)
    reopened = LocalWorkspace.open(database)
    try:
        assert reopened.report is None
        assert count(reopened, "SigninLogs", span(1, 2)) == 2
        assert count(reopened, "union SigninLogs, TokenValidation_CL", span(1.5, 1.65)) == 2
    finally:
        reopened.close()


def test_failed_load_leaves_no_database_file(exports: Exports, tmp_path: Path) -> None:
    exports.text("SigninLogs.jsonl", "{broken\n")
    database = tmp_path / "workspace.duckdb"
    with pytest.raises(Exception, match="malformed JSON"):
        LocalWorkspace.from_exports(exports.folder, database=database)
    assert not database.exists()


def test_opening_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        LocalWorkspace.open(tmp_path / "missing.duckdb")
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("not a database")
    with pytest.raises(Exception, match="cannot open as a DuckDB database"):
        LocalWorkspace.open(bogus)


def test_the_hidden_ingestion_time_column_is_readable_but_never_shown(exports: Exports) -> None:
    from shared.detect.logsources.duckdb.loader import INGESTION_TIME_COLUMN

    exports.jsonl("SigninLogs.jsonl", [{"TimeGenerated": "2026-11-19T00:00:00Z",
                                        "_TimeReceived": "2026-11-19T00:40:00Z", "Id": "a"}])
    workspace = LocalWorkspace.from_exports(exports.folder)
    try:
        shown = workspace.query("SigninLogs | take 1", parameters={}, timespan=None, label="t")
        read = workspace.query(f"SigninLogs | project Arrived = {INGESTION_TIME_COLUMN}", parameters={},
                               timespan=None, label="t")
    finally:
        workspace.close()
    assert isinstance(shown, CompleteResult) and isinstance(read, CompleteResult)
    assert INGESTION_TIME_COLUMN not in shown.table.columns and "Id" in shown.table.columns
    assert read.table.rows == ((datetime(2026, 11, 19, 0, 40, tzinfo=UTC),),)
