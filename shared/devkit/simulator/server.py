"""The simulator's HTTP server: Microsoft Graph v1.0 on a loopback port, plain HTTP.

Like ``shared.devkit.workspace_server.server`` it binds to loopback only, bounds every request
body (``max_body_bytes``; 413 beyond, 411 for a body without a length) and
every idle connection (``socket_timeout``), and serves each connection on its
own thread. msgraph-sdk sends tokens over plain HTTP only to localhost-style
hosts (``kiota_authentication_azure`` refuses other ``http://`` URLs), which is
all this server listens on.

``build_simulator`` returns a bound server; run ``serve_forever()`` on a thread
and stop it with ``shutdown()`` and ``server_close()``. ``shutdown()`` also ends
latency waits and held (timeout-fault) connections at once.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from shared.core.errors import ConfigurationError
from shared.core.local_http import LocalHTTPServer, serve_until_interrupted
from shared.core.loopback import is_loopback
from shared.devkit.simulator.engine import Simulator
from shared.devkit.simulator.faults import FaultInjector
from shared.devkit.simulator.responses import GraphResponse, graph_error
from shared.devkit.simulator.routing import NoResponse
from shared.devkit.simulator.state import TenantState
from shared.devkit.simulator.stats import Stats
from shared.devkit.simulator.throttling import ThrottleLimit, Throttler

__all__ = ["DEFAULT_MAX_BODY_BYTES", "SimulatorServer", "build_simulator", "serve_simulator"]

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""Graph's own request-size limit is 4 MB."""
_log = logging.getLogger(__name__)


class SimulatorServer(LocalHTTPServer):
    """A bound simulator; ``url`` is the origin (``http://127.0.0.1:PORT``), ``graph_url`` adds ``/v1.0``."""

    def __init__(self, simulator: Simulator, *, host: str, port: int, max_body_bytes: int,
                 socket_timeout: float) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.simulator = simulator
        self.max_body_bytes = max_body_bytes
        self.socket_timeout = socket_timeout
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @property
    def graph_url(self) -> str:
        """The base URL to give msgraph-sdk's request adapter."""
        return f"{self.url}/v1.0"

    @property
    def state(self) -> TenantState:
        return self.simulator.state

    @property
    def faults(self) -> FaultInjector:
        return self.simulator.faults

    @property
    def stats(self) -> Stats:
        return self.simulator.stats

    @property
    def throttle(self) -> Throttler:
        return self.simulator.throttle

    @property
    def latency(self) -> float:
        return self.simulator.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self.simulator.latency = seconds

    def shutdown(self) -> None:
        self.simulator.stop()
        super().shutdown()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.socket_timeout)
        super().finish_request(request, client_address)


def build_simulator(
    state: TenantState,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: Mapping[str, ThrottleLimit | None] | None = None,
    latency: float = 0.0,
    control_endpoint: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    socket_timeout: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] | None = None,
) -> SimulatorServer:
    """A bound (not yet serving) simulator for ``state``.

    ``limits`` maps throttling families (``"identity"``, ``"identityProtection"``)
    to limits, ``None`` values disabling one; omitted, Graph's documented limits
    for the tenant's size apply (:func:`shared.devkit.simulator.throttling.default_limits`).
    """
    if not is_loopback(host):
        raise ConfigurationError(f"the Graph simulator binds to loopback only, not {host!r}")
    if latency < 0:
        raise ConfigurationError("latency must not be negative")
    simulator = Simulator(state, limits=limits, latency=latency, control_endpoint=control_endpoint, clock=clock,
                          now=now)
    try:
        return SimulatorServer(simulator, host=host, port=port, max_body_bytes=max_body_bytes,
                               socket_timeout=socket_timeout)
    except OSError as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve_simulator(
    state: TenantState,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: Mapping[str, ThrottleLimit | None] | None = None,
    latency: float = 0.0,
    control_endpoint: bool = True,
    ready: Callable[[SimulatorServer], None] | None = None,
) -> None:
    """Build the simulator and serve until interrupted; ``ready`` is told the bound server first."""
    server = build_simulator(state, host=host, port=port, limits=limits, latency=latency,
                             control_endpoint=control_endpoint)
    serve_until_interrupted(server, ready)


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "TokenwardenGraphSimulator/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)

    def _handle(self) -> None:
        simulator = self.server.simulator
        try:
            body = self._read_body()
            if isinstance(body, GraphResponse):
                self._send(body)
                return
            outcome = simulator.handle(self.command, self.path, dict(self.headers.items()), body,
                                       server_root=self.server.url)
        except Exception:
            _log.exception("unexpected failure answering %s %s", self.command, self.path)
            self.close_connection = True
            outcome = graph_error(500, "generalException", "An unspecified error has occurred.", simulator.new_ids())
        if isinstance(outcome, NoResponse):
            self.close_connection = True
            return
        self._send(outcome)

    def _read_body(self) -> bytes | GraphResponse | None:
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") is not None or (
                length_header is None and self.command in {"POST", "PUT", "PATCH"}):
            self.close_connection = True
            return graph_error(411, "LengthRequired", "A Content-Length header is required.",
                               self.server.simulator.new_ids(self.headers.get("client-request-id")))
        if length_header is None:
            return None
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0 or length > self.server.max_body_bytes:
            self.close_connection = True
            return graph_error(413, "RequestEntityTooLarge",
                               f"The request body must be at most {self.server.max_body_bytes} bytes.",
                               self.server.simulator.new_ids(self.headers.get("client-request-id")))
        return self.rfile.read(length) if length else b""

    def _send(self, response: GraphResponse) -> None:
        try:
            self._write(response)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout was shorter than our latency); nothing is left to tell it.
            self.close_connection = True

    def _write(self, response: GraphResponse) -> None:
        payload = response.encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

