"""A local HTTP(S) server speaking the Log Analytics query API over a local workspace.

It lets the production code path, ``azure-monitor-query``'s ``LogsQueryClient``
included, run against exported data: ``POST /v1/workspaces/{id}/query`` with a
JSON body ``{"query", "timespan", "workspaces"}``, or ``GET`` with ``query`` and
``timespan`` in the query string, as the service accepts both. Like the
service it requires ``Authorization: Bearer <token>`` (401 without it, 403 for
a token it does not accept) and answers in the service's JSON shapes
(:mod:`shared.devkit.workspace_server.api`).

It binds to a loopback address only and bounds every request: the body by
``max_body_bytes`` (413 beyond, 411 without a length), and each connection by a
socket timeout so an idle client cannot pin a worker thread.
"""

from __future__ import annotations

import hmac
import logging
import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from shared.core.errors import ConfigurationError
from shared.core.local_http import LocalHTTPServer, serve_until_interrupted
from shared.core.loopback import is_loopback
from shared.devkit.workspace_server.api import ApiResponse, QueryRequest, error_response, parse_body, run_query

if TYPE_CHECKING:
    from shared.detect.logsources.local import LocalWorkspace

__all__ = ["DEFAULT_MAX_BODY_BYTES", "LogAnalyticsServer", "build_server", "serve"]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class LogAnalyticsServer(LocalHTTPServer):
    """The server; ``url`` is the endpoint to give ``LogsQueryClient`` (``https://127.0.0.1:PORT``)."""

    def __init__(
        self,
        workspace: LocalWorkspace,
        *,
        workspace_id: str,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        token: str | None,
        max_body_bytes: int,
        socket_timeout: float,
        clock: Clock,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.workspace = workspace
        self.workspace_id = workspace_id
        self.ssl_context = ssl_context
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.socket_timeout = socket_timeout
        self.clock = clock
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.ssl_context else 'http'}://{shown}:{port}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.socket_timeout)
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            _log.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


def build_server(
    workspace: LocalWorkspace,
    *,
    workspace_id: str,
    host: str = "127.0.0.1",
    port: int = 0,
    certfile: Path | str | None = None,
    keyfile: Path | str | None = None,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    socket_timeout: float = 60.0,
    clock: Clock | None = None,
) -> LogAnalyticsServer:
    """A bound (not yet serving) server; call ``serve_forever()`` on it, from a thread if need be.

    HTTPS is served when ``certfile`` (and ``keyfile``, unless the key is in the
    certificate file) is given. ``token``, if set, is the only bearer token
    accepted; otherwise any non-empty bearer token is.
    """
    if not is_loopback(host):
        raise ConfigurationError(f"the local Log Analytics server binds to loopback only, not {host!r}")
    if not workspace_id.strip():
        raise ConfigurationError("workspace_id must not be empty")
    context = None
    if certfile is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(certfile), str(keyfile) if keyfile is not None else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load TLS certificate {certfile}: {exc}") from None
    elif keyfile is not None:
        raise ConfigurationError("keyfile given without certfile")
    return LogAnalyticsServer(
        workspace,
        workspace_id=workspace_id,
        host=host,
        port=port,
        ssl_context=context,
        token=token,
        max_body_bytes=max_body_bytes,
        socket_timeout=socket_timeout,
        clock=clock or (lambda: datetime.now(UTC)),
    )


def serve(
    workspace: LocalWorkspace,
    *,
    workspace_id: str,
    host: str = "127.0.0.1",
    port: int = 0,
    certfile: Path | str | None = None,
    keyfile: Path | str | None = None,
    token: str | None = None,
    ready: Callable[[LogAnalyticsServer], None] | None = None,
) -> None:
    """Build the server and serve until interrupted; ``ready`` is told the bound server first."""
    server = build_server(
        workspace, workspace_id=workspace_id, host=host, port=port, certfile=certfile, keyfile=keyfile, token=token
    )
    serve_until_interrupted(server, ready)


class _Handler(BaseHTTPRequestHandler):
    server: LogAnalyticsServer
    protocol_version = "HTTP/1.1"
    server_version = "TokenwardenLocalLogAnalytics/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._not_allowed()

    def do_DELETE(self) -> None:
        self._not_allowed()

    def do_PATCH(self) -> None:
        self._not_allowed()

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send(error_response(405, "MethodNotAllowed", f"The method {self.command} is not allowed here"))

    def _handle(self) -> None:
        try:
            self._send(self._respond())
        except Exception:
            _log.exception("unexpected failure answering %s %s", self.command, self.path)
            self.close_connection = True
            self._send(error_response(500, "InternalServerError", "An unexpected error occurred"))

    def _respond(self) -> ApiResponse:
        parts = urlsplit(self.path)
        segments = [unquote(segment) for segment in parts.path.split("/")]
        if len(segments) != 5 or segments[:3] != ["", "v1", "workspaces"] or segments[4] != "query":
            self._discard_body()
            return error_response(404, "PathNotFoundError", "The requested path does not exist")
        denied = self._authenticate()
        if denied is not None:
            self._discard_body()
            return denied
        if segments[3].lower() != self.server.workspace_id.lower():
            self._discard_body()
            return error_response(404, "PathNotFoundError", "The requested path does not exist")
        arguments = parse_qs(parts.query, keep_blank_values=True)
        query_string_timespan = _single(arguments, "timespan")
        if self.command == "GET":
            text = _single(arguments, "query")
            if not text:
                return error_response(
                    400, "BadArgumentError", "The request had some invalid properties",
                    inner=("MissingQuery", "The 'query' parameter is required"),
                )  # fmt: skip
            request: QueryRequest | ApiResponse = QueryRequest(
                query=text, timespan=query_string_timespan, workspaces=()
            )
            query_string_timespan = None
        else:
            body = self._read_body()
            if isinstance(body, ApiResponse):
                return body
            request = parse_body(body)
        if isinstance(request, ApiResponse):
            return request
        return run_query(
            self.server.workspace,
            request,
            workspace_id=self.server.workspace_id,
            extra_timespan=query_string_timespan,
            now=self.server.clock(),
        )

    def _authenticate(self) -> ApiResponse | None:
        header = self.headers.get("Authorization")
        if header is None:
            return error_response(
                401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        expected = self.server.token
        if (
            scheme.lower() != "bearer"
            or not token
            or (expected is not None and not hmac.compare_digest(token.encode(), expected.encode()))
        ):
            return error_response(403, "InvalidAuthenticationToken", "The access token is invalid.")
        return None

    def _read_body(self) -> bytes | ApiResponse:
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            return error_response(411, "LengthRequired", "A Content-Length header is required")
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return error_response(411, "LengthRequired", "A Content-Length header is required")
        if length > self.server.max_body_bytes:
            self.close_connection = True
            return error_response(
                413, "PayloadTooLarge", f"The request body exceeds {self.server.max_body_bytes} bytes"
            )
        return self.rfile.read(length)

    def _discard_body(self) -> None:
        """Consume a small body we will not use so the connection stays usable; drop it otherwise."""
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if 0 <= length <= self.server.max_body_bytes:
            self.rfile.read(length)
        else:
            self.close_connection = True

    def _send(self, response: ApiResponse) -> None:
        payload = response.encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        if response.status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _single(arguments: dict[str, list[str]], name: str) -> str | None:
    values = arguments.get(name)
    return values[-1] if values else None
