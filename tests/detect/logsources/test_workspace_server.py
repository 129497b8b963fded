"""The local Log Analytics query API, spoken to over raw HTTP(S)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from test_local_workspace import write_sample

from shared.core.errors import ConfigurationError
from shared.detect.logsources.local import LocalWorkspace
from shared.devkit.workspace_server.server import LogAnalyticsServer, build_server
from tests.detect.logsources.conftest import TOKEN, WORKSPACE_ID, Exports, ServerFactory, TlsFiles

QUERY_PATH = f"/v1/workspaces/{WORKSPACE_ID}/query"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def workspace(exports: Exports) -> Iterator[LocalWorkspace]:
    write_sample(exports)
    source = LocalWorkspace.from_exports(exports.folder)
    yield source
    source.close()


@pytest.fixture
def server(workspace: LocalWorkspace, serve: ServerFactory) -> LogAnalyticsServer:
    return serve(workspace, token=TOKEN)


def request(
    server: LogAnalyticsServer,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port)
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {"Content-Type": "application/json", **(headers if headers is not None else AUTH)}
    connection.request(method, path, body=payload, headers=sent)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data), response


def post(server: LogAnalyticsServer, body: object, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    status, document, _ = request(server, "POST", kwargs.pop("path", QUERY_PATH), body, **kwargs)
    return status, document


def test_success_shape_and_cell_encodings(server: LogAnalyticsServer) -> None:
    status, document, response = request(
        server,
        "POST",
        QUERY_PATH,
        {
            "query": "TokenValidation_CL | where KeyId == 'k1' | project TimeGenerated, Claims, KeyId, "
            "d = 90m, n = 5, b = true, r = 1.5, g = guid(12345678-1234-1234-1234-123456789abc), z = long(null)",
            "timespan": None,
            "workspaces": None,
        },
    )
    assert status == 200
    assert response.getheader("Content-Type") == "application/json; charset=utf-8"
    assert document == {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [
                    {"name": "TimeGenerated", "type": "datetime"},
                    {"name": "Claims", "type": "dynamic"},
                    {"name": "KeyId", "type": "string"},
                    {"name": "d", "type": "timespan"},
                    {"name": "n", "type": "long"},
                    {"name": "b", "type": "bool"},
                    {"name": "r", "type": "real"},
                    {"name": "g", "type": "guid"},
                    {"name": "z", "type": "long"},
                ],
                "rows": [
                    [
                        "2026-11-19T01:36:00Z",
                        '{"aud":"a","n":[1,2]}',
                        "k1",
                        "01:30:00",
                        5,
                        True,
                        1.5,
                        "12345678-1234-1234-1234-123456789abc",
                        None,
                    ]
                ],
            }
        ]
    }


def test_get_with_query_string(server: LogAnalyticsServer) -> None:
    query = urlencode({"query": "SigninLogs | count", "timespan": "2026-11-19T01:00:00Z/2026-11-19T02:00:00Z"})
    status, document, _ = request(server, "GET", f"{QUERY_PATH}?{query}")
    assert status == 200
    assert document["tables"][0]["rows"] == [[2]]


def test_body_timespan_filters_and_query_string_timespan_intersects(server: LogAnalyticsServer) -> None:
    body = {"query": "SigninLogs | count", "timespan": "2026-11-19T00:00:00Z/2026-11-19T02:00:00Z"}
    assert post(server, body)[1]["tables"][0]["rows"] == [[3]]
    narrowed = f"{QUERY_PATH}?{urlencode({'timespan': '2026-11-19T01:00:00Z/PT1H'})}"
    assert post(server, body, path=narrowed)[1]["tables"][0]["rows"] == [[2]]


def test_bare_duration_means_ending_now(workspace: LocalWorkspace, serve: ServerFactory) -> None:
    from datetime import UTC, datetime

    fixed = serve(workspace, token=TOKEN, clock=lambda: datetime(2026, 11, 19, 2, 0, tzinfo=UTC))
    assert post(fixed, {"query": "SigninLogs | count", "timespan": "PT1H"})[1]["tables"][0]["rows"] == [[2]]


def test_partial_result_shape(exports: Exports, serve: ServerFactory) -> None:
    write_sample(exports)
    small = LocalWorkspace.from_exports(exports.folder, max_rows=1)
    try:
        status, document = post(serve(small, token=TOKEN), {"query": "SigninLogs | project UserPrincipalName"})
    finally:
        small.close()
    assert status == 200
    assert len(document["tables"][0]["rows"]) == 1
    error = document["error"]
    assert error["code"] == "PartialError"
    assert error["details"][0]["innererror"]["code"] == "E_QUERY_RESULT_SET_TOO_LARGE"
    assert "record count limit 1" in error["details"][0]["innererror"]["message"]


@pytest.mark.parametrize(
    ("query", "inner_code", "fragment"),
    [
        ("SigninLogs | where", "SyntaxError", "could not parse"),
        ("NoSuchTable | count", "SemanticError", "NoSuchTable"),
        ('database("memory").SigninLogs', "SemanticError", "database() references"),
        # Kusto refuses a default on a dynamic query parameter (query-parameters-statement.md).
        ('declare query_parameters(k:dynamic = dynamic(["a"]));\nprint k', "SemanticError",
         "dynamic cannot have default values"),
    ],
)
def test_query_errors_are_bad_argument_errors(
    server: LogAnalyticsServer, query: str, inner_code: str, fragment: str
) -> None:
    status, document = post(server, {"query": query})
    assert status == 400
    error = document["error"]
    assert error["code"] == "BadArgumentError"
    assert error["message"] == "The request had some invalid properties"
    assert error["correlationId"]
    assert error["innererror"]["code"] == inner_code
    assert fragment in error["innererror"]["message"]


@pytest.mark.parametrize(
    ("raw", "inner_code"),
    [
        (b"{not json", "InvalidRequestBody"),
        (b"[1, 2]", "InvalidRequestBody"),
        (b'{"timespan": "PT1H"}', "MissingQuery"),
        (b'{"query": "print 1", "timespan": 5}', "InvalidTimespan"),
        (b'{"query": "print 1", "timespan": "P1M"}', "InvalidTimespan"),
        (b'{"query": "print 1", "workspaces": ["other-workspace"]}', "InvalidWorkspaces"),
        (b"\xff\xfe", "InvalidRequestBody"),
    ],
)
def test_bad_requests(server: LogAnalyticsServer, raw: bytes, inner_code: str) -> None:
    status, document, _ = request(server, "POST", QUERY_PATH, raw=raw)
    assert status == 400
    assert document["error"]["innererror"]["code"] == inner_code


def test_own_workspace_in_workspaces_is_fine(server: LogAnalyticsServer) -> None:
    status, _ = post(server, {"query": "print 1", "workspaces": [WORKSPACE_ID.upper()]})
    assert status == 200


def test_missing_authorization_is_401(server: LogAnalyticsServer) -> None:
    status, document, response = request(server, "POST", QUERY_PATH, {"query": "print 1"}, headers={})
    assert status == 401
    assert document["error"]["code"] == "AuthenticationFailed"
    assert response.getheader("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize("header", ["Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer"])
def test_unaccepted_tokens_are_403(server: LogAnalyticsServer, header: str) -> None:
    status, document = post(server, {"query": "print 1"}, headers={"Authorization": header})
    assert status == 403
    assert document["error"]["code"] == "InvalidAuthenticationToken"


def test_any_bearer_token_without_a_configured_one(workspace: LocalWorkspace, serve: ServerFactory) -> None:
    open_server = serve(workspace)
    assert post(open_server, {"query": "print 1"}, headers={"Authorization": "Bearer anything"})[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/workspaces/00000000-0000-0000-0000-000000000000/query",
        f"/v1/workspaces/{WORKSPACE_ID}/other",
        f"/v2/workspaces/{WORKSPACE_ID}/query",
        "/",
    ],
)
def test_unknown_paths_and_workspaces_are_404(server: LogAnalyticsServer, path: str) -> None:
    status, document = post(server, {"query": "print 1"}, path=path)
    assert status == 404
    assert document["error"]["code"] == "PathNotFoundError"


def test_workspace_id_is_case_insensitive(server: LogAnalyticsServer) -> None:
    assert post(server, {"query": "print 1"}, path=QUERY_PATH.upper().replace("/V1/WORKSPACES", "/v1/workspaces")
                .replace("/QUERY", "/query"))[0] == 200  # fmt: skip


def test_other_methods_are_405(server: LogAnalyticsServer) -> None:
    status, document, _ = request(server, "PUT", QUERY_PATH, {"query": "print 1"})
    assert status == 405
    assert document["error"]["code"] == "MethodNotAllowed"


def test_oversized_bodies_are_refused_unread(workspace: LocalWorkspace, serve: ServerFactory) -> None:
    small = serve(workspace, token=TOKEN, max_body_bytes=64)
    status, document, response = request(small, "POST", QUERY_PATH, {"query": "print x = '" + "a" * 100 + "'"})
    assert status == 413
    assert document["error"]["code"] == "PayloadTooLarge"
    assert response.getheader("Connection") == "close"


def test_post_without_content_length_is_411(server: LogAnalyticsServer) -> None:
    host, port = server.server_address[:2]
    with socket.create_connection((host, port)) as raw:
        raw.sendall(
            f"POST {QUERY_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        reply = b""
        while chunk := raw.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411")
    assert json.loads(body)["error"]["code"] == "LengthRequired"


def test_connection_is_kept_alive_between_requests(server: LogAnalyticsServer) -> None:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port)
    try:
        for expected in (1, 2):
            connection.request("POST", QUERY_PATH, body=json.dumps({"query": f"print {expected}"}), headers=AUTH)
            response = connection.getresponse()
            assert json.loads(response.read())["tables"][0]["rows"] == [[expected]]
    finally:
        connection.close()


def test_https_with_the_given_certificate(workspace: LocalWorkspace, serve: ServerFactory, tls_files: TlsFiles) -> None:
    secure = serve(workspace, token=TOKEN, certfile=tls_files.certfile)
    assert secure.url.startswith("https://127.0.0.1:")
    host, port = secure.server_address[:2]
    context = ssl.create_default_context(cafile=str(tls_files.cafile))
    connection = http.client.HTTPSConnection(host, port, context=context)
    try:
        connection.request("POST", QUERY_PATH, body=json.dumps({"query": "print 1"}), headers=AUTH)
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["tables"][0]["rows"] == [[1]]
    finally:
        connection.close()


def test_plain_http_client_cannot_break_the_tls_server(
    workspace: LocalWorkspace, serve: ServerFactory, tls_files: TlsFiles
) -> None:
    secure = serve(workspace, token=TOKEN, certfile=tls_files.certfile)
    host, port = secure.server_address[:2]
    with socket.create_connection((host, port)) as raw, contextlib.suppress(ConnectionResetError):
        raw.sendall(b"GET / HTTP/1.1\r\n\r\n")
        raw.recv(1024)
    context = ssl.create_default_context(cafile=str(tls_files.cafile))
    connection = http.client.HTTPSConnection(host, port, context=context)
    connection.request("POST", QUERY_PATH, body=json.dumps({"query": "print 1"}), headers=AUTH)
    assert connection.getresponse().status == 200
    connection.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_only_loopback_addresses_are_served(workspace: LocalWorkspace, host: str) -> None:
    with pytest.raises(ConfigurationError, match="loopback only"):
        build_server(workspace, workspace_id=WORKSPACE_ID, host=host)


def test_keyfile_needs_a_certificate(workspace: LocalWorkspace, tls_files: TlsFiles) -> None:
    with pytest.raises(ConfigurationError, match="keyfile given without certfile"):
        build_server(workspace, workspace_id=WORKSPACE_ID, keyfile=tls_files.certfile)
    with pytest.raises(ConfigurationError, match="cannot load TLS certificate"):
        build_server(workspace, workspace_id=WORKSPACE_ID, certfile=tls_files.cafile)
