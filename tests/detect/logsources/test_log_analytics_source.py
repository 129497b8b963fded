"""LogAnalyticsSource through the real ``LogsQueryClient`` to the local HTTPS API: same answers as local.

These tests drive the production path end to end: parameters rendered into the
declare block, the SDK's request (URL, bearer token, timespan, Prefer header),
the service-shaped JSON, the SDK's parsing, and the decoding back into the
local workspace's types. Agreement with :class:`LocalWorkspace` (which binds
parameters instead) is the property under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult, LogsQueryResult
from test_local_workspace import at, iso, span, write_sample

import shared
from shared.core.errors import ConfigurationError, QueryError, UpstreamError
from shared.detect.logsources.base import CompleteResult, PartialResult, TimeRange
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.logsources.log_analytics import LogAnalyticsSource
from shared.detect.rule_forms import render_rule
from shared.detect.ruleset import load_rules
from shared.devkit.workspace_server.server import LogAnalyticsServer
from tests.detect.logsources.conftest import TOKEN, WORKSPACE_ID, Exports, ServerFactory, StaticCredential, TlsFiles

RULE = Path(shared.__file__).parent / "rules" / "compromised-signing-key" / "rule.kql"


@pytest.fixture
def workspace(exports: Exports) -> Iterator[LocalWorkspace]:
    write_sample(exports)
    exports.jsonl(
        "AuditLogs.jsonl",
        [{"TimeGenerated": iso(1.2), "OperationName": "Add app", "TargetResources": [{"id": "x"}], "Result": "ok"}],
    )
    exports.jsonl(
        "TokenValidation_CL.0002.jsonl",
        [
            {
                "TimeGenerated": iso(1.25),
                "Outcome": "Accepted",
                "KeyId": "1LTMzakihiRla_8z2BEJVXeWMqo",
                "TokenId": "forged-1",
                "Upn": "victim@contoso.example",
                "ObjectId": "oid-1",
                "AppId": "app-1",
                "ClientIp": "203.0.113.7",
                "Issuer": "https://sts.windows.net/t/",
                "TokenTenantId": "t",
                "Audience": "https://graph.microsoft.com",
                "UserAgent": 'agent "quoted"',
            }
        ],
    )
    source = LocalWorkspace.from_exports(exports.folder)
    yield source
    source.close()


@pytest.fixture
def server(workspace: LocalWorkspace, serve: ServerFactory, tls_files: TlsFiles) -> LogAnalyticsServer:
    return serve(workspace, token=TOKEN, certfile=tls_files.certfile)


@pytest.fixture
def credential() -> StaticCredential:
    return StaticCredential()


@pytest.fixture
def remote(
    server: LogAnalyticsServer, tls_files: TlsFiles, credential: StaticCredential
) -> Iterator[LogAnalyticsSource]:
    source = LogAnalyticsSource(
        WORKSPACE_ID,
        credential=credential,
        endpoint=server.url,
        client_options={"connection_verify": str(tls_files.cafile)},
    )
    yield source
    source.close()


CASES: list[tuple[str, str, dict[str, object], TimeRange | None]] = [
    (
        "plain",
        "SigninLogs | project TimeGenerated, UserPrincipalName, IPAddress, Type, TenantId "
        "| order by UserPrincipalName asc",
        {},
        None,
    ),
    ("timespan", "SigninLogs | project TimeGenerated, UserPrincipalName | order by TimeGenerated asc", {}, span(1, 2)),
    (
        "union",
        "union SigninLogs, TokenValidation_CL, AuditLogs | summarize n = count() by Type | order by Type asc",
        {},
        span(1, 2),
    ),
    (
        "join",
        "SigninLogs | join kind=inner (TokenValidation_CL | project UserPrincipalName = Upn, KeyId) "
        "on UserPrincipalName | project UserPrincipalName, KeyId | order by KeyId asc",
        {},
        span(1, 2),
    ),
    (
        "types",
        "TokenValidation_CL | project TimeGenerated, Claims, KeyId, IssuedAt, d = 90m, b = true, r = 2.5, "
        "g = guid(12345678-1234-1234-1234-123456789abc), l = long(null), i = int(4), s = pack_array(KeyId, 1) "
        "| order by KeyId asc",
        {},
        None,
    ),
    ("dynamic", "AuditLogs | project TargetResources, bag = bag_pack('k', OperationName)", {}, None),
    (
        "parameters",
        'declare query_parameters(user:string = "", since:datetime = datetime(null), window:timespan = 1h, '
        "keys:dynamic, lim:long = 10, flag:bool = false);\n"
        "TokenValidation_CL | where TimeGenerated >= since and TimeGenerated < since + window "
        "| where Upn == user or KeyId in (keys) | project KeyId, Upn, flag, user, lim | order by KeyId asc",
        {
            "user": 'u2"); SigninLogs | take 1 //',
            "since": at(1),
            "window": timedelta(minutes=45),
            "keys": ["k1", "1LTMzakihiRla_8z2BEJVXeWMqo"],
            "lim": 5,
            "flag": True,
        },
        None,
    ),
    ("empty", "SigninLogs | where UserPrincipalName == 'nobody'", {}, None),
    ("print", "print s = 'é😀 \"q\"', t = datetime(2026-11-19T01:02:03.1234567Z), n = 1.0", {}, None),
]


@pytest.mark.parametrize(("name", "query", "parameters", "timespan"), CASES, ids=[case[0] for case in CASES])
def test_remote_answers_equal_local_answers(
    workspace: LocalWorkspace,
    remote: LogAnalyticsSource,
    name: str,
    query: str,
    parameters: dict[str, object],
    timespan: TimeRange | None,
) -> None:
    local = workspace.query(query, parameters=parameters, timespan=timespan, label=name)
    via_api = remote.query(query, parameters=parameters, timespan=timespan, label=name)
    assert isinstance(local, CompleteResult)
    assert isinstance(via_api, CompleteResult)
    assert via_api.table == local.table
    assert via_api.table.rows or name == "empty"


def test_a_real_rule_finds_the_same_forged_token(workspace: LocalWorkspace, remote: LogAnalyticsSource) -> None:
    # What production sends: the rule's log-analytics form, every parameter bound as a let.
    rule = load_rules().get("compromised-signing-key")
    text = render_rule(rule, "log-analytics", {"window_start": at(0), "window_end": at(2)})
    local = workspace.query(text, parameters={}, timespan=span(0, 2), label="compromised-signing-key")
    via_api = remote.query(text, parameters={}, timespan=span(0, 2), label="compromised-signing-key")
    assert isinstance(via_api, CompleteResult)
    assert via_api == local
    assert [record["TokenId"] for record in via_api.table.records()] == ["forged-1"]
    record = via_api.table.records()[0]
    assert record["FirstSeen"] == at(1.25)
    assert record["Evidence"] == {"audiences": ["https://graph.microsoft.com"], "user_agents": ['agent "quoted"']}


def test_client_is_built_lazily_and_asks_for_the_endpoint_scope(
    server: LogAnalyticsServer, tls_files: TlsFiles, credential: StaticCredential
) -> None:
    source = LogAnalyticsSource(
        WORKSPACE_ID,
        credential=credential,
        endpoint=server.url,
        client_options={"connection_verify": str(tls_files.cafile)},
    )
    try:
        assert credential.scopes == []
        assert source.description == f"Log Analytics workspace {WORKSPACE_ID}"
        source.query("print 1", parameters={}, timespan=None, label="r")
        assert credential.scopes == [(f"{server.url}/.default",)]
    finally:
        source.close()


def test_query_errors_name_the_rule(remote: LogAnalyticsSource) -> None:
    with pytest.raises(QueryError) as caught:
        remote.query("NoSuchTable | take 1", parameters={}, timespan=None, label="rule-x")
    assert caught.value.rule_id == "rule-x"
    message = str(caught.value)
    assert message.startswith("rule-x: Log Analytics answered 400 BadArgumentError: ")
    assert "NoSuchTable" in message


def test_the_sdk_itself_sees_service_shaped_errors(
    server: LogAnalyticsServer, tls_files: TlsFiles, credential: StaticCredential
) -> None:
    client = LogsQueryClient(credential, endpoint=server.url, connection_verify=str(tls_files.cafile))
    try:
        with pytest.raises(HttpResponseError) as caught:
            client.query_workspace(WORKSPACE_ID, "SigninLogs | where", timespan=None)
        assert caught.value.status_code == 400
        assert caught.value.model.code == "BadArgumentError"  # type: ignore[union-attr]
        assert "could not parse" in caught.value.model.message  # type: ignore[union-attr]
        result = client.query_workspace(WORKSPACE_ID, "SigninLogs | count", timespan=(at(1), at(2)))
        assert isinstance(result, LogsQueryResult)
        assert result.tables[0].rows[0][0] == 2
    finally:
        client.close()


def test_partial_results_stay_partial(exports: Exports, serve: ServerFactory, tls_files: TlsFiles) -> None:
    write_sample(exports)
    small = LocalWorkspace.from_exports(exports.folder, max_rows=2)
    server = serve(small, token=TOKEN, certfile=tls_files.certfile)
    credential = StaticCredential()
    remote = LogAnalyticsSource(
        WORKSPACE_ID,
        credential=credential,
        endpoint=server.url,
        client_options={"connection_verify": str(tls_files.cafile)},
    )
    client = LogsQueryClient(credential, endpoint=server.url, connection_verify=str(tls_files.cafile))
    query = "SigninLogs | order by UserPrincipalName asc | project UserPrincipalName, TimeGenerated"
    try:
        local = small.query(query, parameters={}, timespan=None, label="r")
        via_api = remote.query(query, parameters={}, timespan=None, label="r")
        raw = client.query_workspace(WORKSPACE_ID, query, timespan=None)
    finally:
        client.close()
        remote.close()
        small.close()
    assert isinstance(raw, LogsQueryPartialResult)
    assert raw.partial_error is not None
    assert raw.partial_error.code == "PartialError"
    assert isinstance(local, PartialResult)
    assert isinstance(via_api, PartialResult)
    assert via_api.partial_table == local.partial_table
    assert len(via_api.partial_table.rows) == 2
    assert via_api.error == local.error
    assert via_api.details == (f"E_QUERY_RESULT_SET_TOO_LARGE: {local.error}",)


def test_refused_values_never_leave_the_process(remote: LogAnalyticsSource, credential: StaticCredential) -> None:
    with pytest.raises(QueryError, match=r"^r: parameter s: character U\+000A") as caught:
        remote.query(
            "declare query_parameters(s:string = '');\nprint s", parameters={"s": "a\nb"}, timespan=None, label="r"
        )
    assert caught.value.rule_id == "r"
    assert credential.scopes == []
    with pytest.raises(QueryError, match="unknown parameter"):
        remote.query(
            "declare query_parameters(s:string = '');\nprint s", parameters={"t": "x"}, timespan=None, label="r"
        )


def test_rejected_token_is_a_configuration_error(server: LogAnalyticsServer, tls_files: TlsFiles) -> None:
    source = LogAnalyticsSource(
        WORKSPACE_ID,
        credential=StaticCredential("not-the-token"),
        endpoint=server.url,
        client_options={"connection_verify": str(tls_files.cafile)},
    )
    try:
        with pytest.raises(ConfigurationError, match=r"^r: Log Analytics answered 403"):
            source.query("print 1", parameters={}, timespan=None, label="r")
    finally:
        source.close()


def test_unknown_workspace_is_a_configuration_error(server: LogAnalyticsServer, tls_files: TlsFiles) -> None:
    source = LogAnalyticsSource(
        "00000000-0000-0000-0000-000000000000",
        credential=StaticCredential(),
        endpoint=server.url,
        client_options={"connection_verify": str(tls_files.cafile)},
    )
    try:
        with pytest.raises(ConfigurationError, match="404 PathNotFoundError"):
            source.query("print 1", parameters={}, timespan=None, label="r")
    finally:
        source.close()


def test_unreachable_endpoint_is_an_upstream_error(tls_files: TlsFiles) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = LogAnalyticsSource(
        WORKSPACE_ID,
        credential=StaticCredential(),
        endpoint=f"https://127.0.0.1:{port}",
        client_options={"connection_verify": str(tls_files.cafile), "retry_total": 0},
    )
    try:
        with pytest.raises(UpstreamError, match=r"^r: cannot reach Log Analytics"):
            source.query("print 1", parameters={}, timespan=None, label="r")
    finally:
        source.close()


def test_untrusted_certificate_is_refused(server: LogAnalyticsServer) -> None:
    source = LogAnalyticsSource(
        WORKSPACE_ID, credential=StaticCredential(), endpoint=server.url, client_options={"retry_total": 0}
    )
    try:
        with pytest.raises(UpstreamError, match=r"^r: "):
            source.query("print 1", parameters={}, timespan=None, label="r")
    finally:
        source.close()


def test_configuration_is_checked_up_front() -> None:
    with pytest.raises(ConfigurationError, match="workspace id is empty"):
        LogAnalyticsSource(" ")
    with pytest.raises(ConfigurationError, match="server_timeout"):
        LogAnalyticsSource(WORKSPACE_ID, server_timeout=601)


def test_timespan_reaches_the_service_as_an_interval(remote: LogAnalyticsSource) -> None:
    everything = remote.query("SigninLogs | count", parameters={}, timespan=None, label="r")
    windowed = remote.query(
        "SigninLogs | count",
        parameters={},
        timespan=TimeRange(start=datetime(2026, 11, 19, 1, tzinfo=UTC), end=datetime(2026, 11, 19, 2, tzinfo=UTC)),
        label="r",
    )
    assert isinstance(everything, CompleteResult)
    assert isinstance(windowed, CompleteResult)
    assert (everything.table.rows, windowed.table.rows) == (((4,),), ((2,),))
