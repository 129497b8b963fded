"""Tokens, servers and sensors for the sensor's tests."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from azure.core.credentials import AccessToken

TENANT = "6513270e-269e-4d37-b2a7-4de452e6b438"
APP_ID = "e2015522-40cb-4cd0-a49a-45845dbe3023"
RULE = "dcr-00000000000000000000000000000016"
STREAM = "Custom-TokenValidation_CL"
STORM_KID = "1LTMzakihiRla_8z2BEJVXeWMqo"


class StaticCredential:
    """Entra stand-in: a token for the audience the scope names, which the local servers check as Azure does."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        from shared.core.credentials import local_token

        return AccessToken(local_token(scopes[0] if scopes else ""), int(time.time()) + 3600)


def sensor_tenant() -> Any:
    """A simulator tenant whose Logs Ingestion endpoint accepts the deployment's DCR (``RULE``) and its streams."""
    from shared.devkit.simulator import TenantState
    from shared.devkit.simulator.ingestion import deployment_streams

    state = TenantState(tenant_id="aaaaaaaa-0000-0000-0000-000000000016")
    state.declare_data_collection_rule(RULE, deployment_streams())
    return state


def _b64(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


NOW = int(time.time())
"""One instant for every token a test makes, so the same arguments give the same token."""


def claims(**overrides: Any) -> dict[str, Any]:
    now = NOW
    base: dict[str, Any] = {
        "aud": APP_ID, "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0", "tid": TENANT,
        "oid": "5d9dc9f8-1818-4811-892f-902bd23f0824", "sub": "sub-1", "preferred_username": "uma@contoso.example",
        "azp": "edf4dd9e-d8ea-4470-8ab6-cbf692ae3ff5", "ver": "2.0", "uti": "uti-1", "iat": now - 60,
        "nbf": now - 60, "exp": now + 3600, "name": "Uma Berg", "email": "uma@contoso.example",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(kid: str = "ZtGrLtIomVfvajJa0XNpd7CPbfY", signature: str = "c2lnbmF0dXJlLWJ5dGVz",
          **overrides: Any) -> str:
    """An RS256-shaped JWS; the sensor never verifies, so the signature is opaque bytes."""
    return f"{_b64({'alg': 'RS256', 'typ': 'JWT', 'kid': kid, 'x5t': kid})}.{_b64(claims(**overrides))}.{signature}"


@dataclass
class HangingServer:
    """An endpoint that takes requests and never answers until released (then 204): an ingestion endpoint gone dark."""

    url: str
    arrived: threading.Event
    release: threading.Event
    requests: list[str] = field(default_factory=list)


@contextmanager
def hanging_server() -> Iterator[HangingServer]:
    arrived, release = threading.Event(), threading.Event()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            arrived.set()
            release.wait()
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)  # released: the endpoint is back
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield HangingServer(url=f"http://127.0.0.1:{server.server_port}", arrived=arrived, release=release,
                            requests=seen)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
