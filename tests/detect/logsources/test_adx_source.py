"""AdxSource through the real ``azure-kusto-data`` client to duckdb-kql's Kusto REST server: same answers as local.

The cluster is duckdb-kql's own server over the same exports the local workspace loads
(:mod:`shared.devkit.workspace_server.kusto_server`); the client, its request, its v2 frame parsing and its
errors are the SDK's. What Azure Data Explorer does and duckdb-kql's server does not (a throttle, a
partial failure reported inside the data) comes from a small endpoint that answers as
MicrosoftDocs/dataexplorer-docs ``data-explorer/kusto/api/rest/response-v2.md`` describes.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_local_workspace import at, span, write_sample

from shared.core.credentials import LocalCredential
from shared.core.errors import ConfigurationError, QueryError, ThrottledError, UpstreamError
from shared.detect.kql.window import bound_to_timespan, tables_named
from shared.detect.logsources.adx import AdxSource
from shared.detect.logsources.base import CompleteResult, LogSource, PartialResult, TimeRange
from shared.detect.logsources.local import LocalWorkspace
from shared.devkit.workspace_server.kusto_server import build_kusto_server, load_database
from tests.detect.logsources.conftest import Exports
from tests.support.servers import running

DATABASE = "Tokenwarden"


@pytest.fixture
def local(exports: Exports) -> Iterator[LocalWorkspace]:
    write_sample(exports)
    source = LocalWorkspace.from_exports(exports.folder)
    yield source
    source.close()


@pytest.fixture
def adx(local: LocalWorkspace, exports: Exports, tmp_path: Path) -> Iterator[AdxSource]:
    database = load_database(exports.folder, tmp_path / f"{DATABASE}.duckdb")
    with running(build_kusto_server(database)) as server:
        source = AdxSource(server.url, DATABASE, credential=LocalCredential())
        yield source
        source.close()


def rows(source: LogSource, text: str, timespan: TimeRange | None = None) -> list[dict[str, object]]:
    outcome = source.query(text, parameters={}, timespan=timespan, label="test")
    assert isinstance(outcome, CompleteResult), outcome
    return outcome.table.records()


def test_the_timespan_limits_every_table_a_union_reads(adx: AdxSource, local: LocalWorkspace) -> None:
    text = ('union (SigninLogs | extend T = "SigninLogs"), (TokenValidation_CL | extend T = "TokenValidation_CL") '
            "| summarize n = count() by T | order by T asc")
    bounded = rows(adx, text, span(1, 2))
    assert bounded == rows(local, text, span(1, 2))
    assert bounded == [{"T": "SigninLogs", "n": 2}, {"T": "TokenValidation_CL", "n": 2}]  # start in, end out
    assert rows(adx, text) == [{"T": "SigninLogs", "n": 4}, {"T": "TokenValidation_CL", "n": 3}]


def test_cells_decode_to_the_local_workspace_types(adx: AdxSource, local: LocalWorkspace) -> None:
    text = "TokenValidation_CL | project TimeGenerated, Upn, KeyId, Claims | order by TimeGenerated asc"
    remote = rows(adx, text, span(0, 6))
    assert remote == rows(local, text, span(0, 6))
    assert remote[0]["TimeGenerated"] == at(1.6) and remote[0]["Claims"] == {"aud": "a", "n": [1, 2]}


def test_ingestion_time_is_read_and_its_column_stays_hidden(adx: AdxSource) -> None:
    assert "_TW_IngestionTime" not in rows(adx, "SigninLogs | take 1")[0]
    arrived = rows(adx, "SigninLogs | where isnotnull(ingestion_time()) | count")
    assert arrived == [{"Count": 4}]


def test_a_missing_table_is_a_query_error_naming_the_rule(adx: AdxSource) -> None:
    with pytest.raises(QueryError, match=r"^rule-x: Azure Data Explorer answered 400"):
        adx.query("NoSuchTable | count", parameters={}, timespan=span(0, 6), label="rule-x")


@pytest.mark.parametrize("text", ['table("SigninLogs") | count', 'database("Other").SigninLogs | count'])
def test_a_query_that_would_read_past_the_timespan_is_refused(adx: AdxSource, text: str) -> None:
    with pytest.raises(QueryError, match=r"rule-x: .*(table|database)\(\) references"):
        adx.query(text, parameters={}, timespan=span(0, 6), label="rule-x")


def test_a_database_the_cluster_does_not_hold_is_a_configuration_error(adx: AdxSource, exports: Exports,
                                                                     tmp_path: Path) -> None:
    database = load_database(exports.folder, tmp_path / "Other.duckdb")
    with running(build_kusto_server(database)) as server:
        source = AdxSource(server.url, "Missing", credential=LocalCredential())
        with pytest.raises(ConfigurationError, match="answered 404 General_DatabaseNotFound"):
            source.query("SigninLogs | count", parameters={}, timespan=None, label="rule-x")
        source.close()


def test_an_unreachable_cluster_is_an_upstream_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = AdxSource(f"http://127.0.0.1:{port}", DATABASE, credential=LocalCredential())
    with pytest.raises(UpstreamError, match="rule-x: cannot reach Azure Data Explorer"):
        source.query("SigninLogs | count", parameters={}, timespan=None, label="rule-x")


@pytest.mark.parametrize(("cluster", "database", "message"), [
    ("http://adx.westeurope.kusto.windows.net", DATABASE, "must be https"),
    ("", DATABASE, "cluster URI is empty"),
    ("https://adx.westeurope.kusto.windows.net", "", "is not one"),
    ("https://adx.westeurope.kusto.windows.net", "db;drop", "is not one"),
])
def test_a_bad_cluster_or_database_is_refused_at_construction(cluster: str, database: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AdxSource(cluster, database)


class _AdxLike(BaseHTTPRequestHandler):
    """Answers as ADX does where duckdb-kql's server cannot: a throttle, or a partial failure inside the data."""

    mode = "throttle"

    def log_message(self, *args: Any) -> None:
        return

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # /v1/rest/auth/metadata: ADX proxies without it answer 404, the SDK then uses defaults
        self._send(404, {})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.mode == "throttle":
            self._send(429, {"error": {"code": "TooManyRequests", "message": "throttled"}}, {"Retry-After": "7"})
        elif self.path.startswith("/v1/rest/mgmt"):
            columns = [{"ColumnName": "TableName", "DataType": "String", "ColumnType": "string"}]
            self._send(200, {"Tables": [{"TableName": "Table_0", "Columns": columns, "Rows": [["SigninLogs"]]}]})
        else:
            self._send(200, _partial_frames())


def _partial_frames() -> list[dict[str, object]]:
    """A v2 response whose primary table ends with the in-data error of a result past 500,000 records
    (``data-explorer/kusto/concepts/query-limits.md``)."""
    error = {"code": "LimitsExceeded", "message": "Request is invalid and cannot be executed.",
             "@type": "Kusto.Data.Exceptions.KustoServicePartialQueryFailureLimitsExceededException",
             "@message": "Query execution has exceeded the allowed limits (80DA0003): 'Query result set has exceeded "
                         "the internal record count limit 500000 (E_QUERY_RESULT_SET_TOO_LARGE).'",
             "@permanent": False}
    return [
        {"FrameType": "DataSetHeader", "IsProgressive": False, "Version": "v2.0"},
        {"FrameType": "DataTable", "TableId": 0, "TableKind": "PrimaryResult", "TableName": "PrimaryResult",
         "Columns": [{"ColumnName": "UserPrincipalName", "ColumnType": "string"}],
         "Rows": [["u1"], {"OneApiErrors": [{"error": error}]}]},
        {"FrameType": "DataSetCompletion", "HasErrors": True, "Cancelled": False,
         "OneApiErrors": [{"error": error}]},
    ]


@pytest.fixture
def adx_like() -> type[_AdxLike]:
    """A handler class of the test's own, so setting its mode touches no other test."""
    return type("Handler", (_AdxLike,), {})


def _serve(handler: type[_AdxLike]) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", 0), handler)


def test_a_throttle_is_a_throttled_error_with_the_services_retry_after(adx_like: type[_AdxLike]) -> None:
    with running(_serve(adx_like)) as server:
        source = AdxSource(f"http://127.0.0.1:{server.server_address[1]}", DATABASE, credential=LocalCredential())
        with pytest.raises(ThrottledError, match="rule-x: Azure Data Explorer answered 429") as caught:
            source.query("SigninLogs | count", parameters={}, timespan=None, label="rule-x")
    assert caught.value.retry_after == 7.0


def test_a_partial_failure_is_reported_with_the_rows_sent_before_it(adx_like: type[_AdxLike]) -> None:
    adx_like.mode = "partial"
    with running(_serve(adx_like)) as server:
        source = AdxSource(f"http://127.0.0.1:{server.server_address[1]}", DATABASE, credential=LocalCredential())
        outcome = source.query("SigninLogs | project UserPrincipalName", parameters={}, timespan=span(0, 6),
                               label="rule-x")
    assert isinstance(outcome, PartialResult)
    assert outcome.error.startswith("LimitsExceeded: ") and "E_QUERY_RESULT_SET_TOO_LARGE" in outcome.error
    assert outcome.partial_table.columns == ("UserPrincipalName",)
    assert outcome.partial_table.rows == (("u1",),)  # the rows sent before the error are kept


def test_the_window_shadows_only_the_databases_tables_it_names() -> None:
    text = '// SigninLogs in a comment\nSigninLogs | where UserId != "AuditLogs" | project UserId'
    assert tables_named(text, ["AuditLogs", "SigninLogs", "UserId_CL"]) == ["SigninLogs"]
    bounded = bound_to_timespan(text, ["AuditLogs", "SigninLogs"], span(1, 2), database="Tokenwarden", label="r")
    first, rest = bounded.split("\n", 1)
    assert first == ('let SigninLogs = database(@"Tokenwarden").SigninLogs | where TimeGenerated >= '
                     "datetime(2026-11-19T01:00:00.0000000Z) and TimeGenerated < "
                     "datetime(2026-11-19T02:00:00.0000000Z);")
    assert rest == text
    assert bound_to_timespan(text, ["SigninLogs"], None, database="Tokenwarden", label="r") == text


def test_a_table_ingested_without_ingestion_time_stops_the_rule_instead_of_finding_nothing(
        local: LocalWorkspace, exports: Exports, tmp_path: Path) -> None:
    import duckdb

    database = load_database(exports.folder, tmp_path / f"{DATABASE}.duckdb")
    with duckdb.connect(str(database)) as connection:  # as rows ingested before the IngestionTime policy was on
        connection.execute('UPDATE "SigninLogs" SET "_TW_IngestionTime" = NULL')
    with running(build_kusto_server(database)) as server:
        source = AdxSource(server.url, DATABASE, credential=LocalCredential())
        arrival = "{} | where ingestion_time() >= datetime(2026-01-01) | count"
        with pytest.raises(ConfigurationError, match="rule-x: SigninLogs in Tokenwarden has rows without an "
                                                     "ingestion time"):
            source.query(arrival.format("SigninLogs"), parameters={}, timespan=span(0, 6), label="rule-x")
        assert rows(source, arrival.format("TokenValidation_CL"), span(0, 6)) == [{"Count": 3}]
        assert rows(source, "SigninLogs | count", span(0, 6)) == [{"Count": 4}]  # no arrival read: no check
        source.close()
