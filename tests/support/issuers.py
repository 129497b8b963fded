"""A local OpenID issuer for key-drift tests: discovery documents and JWKS over real HTTP, changeable live."""

from __future__ import annotations

import base64
import hashlib
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def kid(name: str) -> str:
    """A kid shaped like Entra's: the base64url SHA-1 thumbprint of a certificate."""
    return base64.urlsafe_b64encode(hashlib.sha1(name.encode()).digest()).decode().rstrip("=")


class IssuerServer(ThreadingHTTPServer):
    """Serves /<issuer>/v2.0/.well-known/openid-configuration and /<issuer>/keys from ``keys`` (kid lists);
    an issuer in ``broken`` answers 503, and one in ``empty`` publishes ``{"keys": []}``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.keys: dict[str, list[str]] = {}
        self.broken: set[str] = set()
        self.empty: set[str] = set()
        self.requests: list[str] = []

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def discovery_url(self, issuer: str) -> str:
        return f"{self.origin}/{issuer}/v2.0/.well-known/openid-configuration"


class _Handler(BaseHTTPRequestHandler):
    server: IssuerServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        issuer, _, rest = self.path.strip("/").partition("/")
        if issuer in self.server.broken or issuer not in self.server.keys:
            self._send(503 if issuer in self.server.broken else 404, {"error": "unavailable"})
        elif rest == "v2.0/.well-known/openid-configuration":
            self._send(200, {"issuer": f"https://login.example/{issuer}/v2.0",
                             "jwks_uri": f"{self.server.origin}/{issuer}/keys"})
        elif rest == "keys":
            kids = [] if issuer in self.server.empty else self.server.keys[issuer]
            self._send(200, {"keys": [{"kty": "RSA", "use": "sig", "kid": k, "x5t": k} for k in kids]})
        else:
            self._send(404, {"error": "no such document"})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass
