"""App-specific signing keys (``…/discovery/v2.0/keys?appid=``) and per-issuer key facts for the rules."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from shared.cli.main import main
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.discovery import JwksFetcher, app_keys_url
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.keys.jwks import parse_jwks, read_jwks_file

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP = "6d1a0f5e-3c1b-4e7a-9b2d-8f0c4a5e7b21"
V2 = "https://login.microsoftonline.com/{tenantid}/v2.0"


class _AppKeysHandler(BaseHTTPRequestHandler):
    """Serves /<tenant>/discovery/v2.0/keys?appid=<app>: that app's own key, as Entra does for claims mapping."""

    def do_GET(self) -> None:
        url = urlparse(self.path)
        app = parse_qs(url.query).get("appid", [""])[0]
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        status, body = (200, {"keys": [{"kty": "RSA", "kid": f"own-key-of-{app}", "x5t": f"own-key-of-{app}",
                                        "n": "AQAB", "e": "AQAB", "issuer": V2}]}) \
            if url.path == f"/{TENANT}/discovery/v2.0/keys" and app else (404, {"error": "not found"})
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def authority() -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AppKeysHandler)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_app_keys_url_is_the_tenants_v2_keys_with_the_app_id() -> None:
    assert app_keys_url(APP, TENANT) == f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys?appid={APP}"
    assert app_keys_url(APP, None).startswith("https://login.microsoftonline.com/common/discovery/v2.0/keys?appid=")


def test_each_catalogue_app_has_its_own_key_set_fetched_and_tagged(authority: tuple[str, list[str]]) -> None:
    origin, requests = authority
    outcome = JwksFetcher(timeout=5).fetch_apps([APP], TENANT, authority=origin)
    assert outcome.complete
    assert [(key.kid, key.app_id, key.issuer) for key in outcome.keys] == [(f"own-key-of-{APP}", APP, V2)]
    assert requests == [f"/{TENANT}/discovery/v2.0/keys?appid={APP}"]


def test_a_failed_app_key_set_is_reported_not_taken_as_empty(authority: tuple[str, list[str]]) -> None:
    origin, _ = authority
    outcome = JwksFetcher(timeout=5).fetch_apps([APP], "another-tenant", authority=origin)
    assert outcome.keys == () and len(outcome.failures) == 1 and "404" in outcome.failures[0]


def test_published_keys_pair_each_key_with_the_issuer_that_publishes_it() -> None:
    v1 = parse_jwks({"keys": [{"kty": "RSA", "kid": "k1", "x5t": "k1", "n": "AQAB", "e": "AQAB"}]}, source="v1")
    v2 = parse_jwks({"keys": [{"kty": "RSA", "kid": "k2", "n": "AQAB", "e": "AQAB", "issuer": V2}]}, source="v2")
    app = parse_jwks({"keys": [{"kty": "RSA", "kid": "k3", "n": "AQAB", "e": "AQAB", "issuer": V2}]}, source="a",
                     app_id=APP)
    intel = KeyIntelligence(published=(*v1, *v2, *app), compromised=load_compromised_keys())
    assert intel.published_keys() == sorted([
        f"appid={APP}|k3",
        "https://login.microsoftonline.com/{tenantid}/v2.0|k1",
        "https://login.microsoftonline.com/{tenantid}/v2.0|k2",
        "https://sts.windows.net/{tenantid}/|k1",
    ])
    assert intel.published_kids() == ["k1", "k2", "k3"]


def _validation_rows(folder: Path) -> None:
    rows = [{"TimeGenerated": "2026-03-01T10:00:00Z", "AppId": APP, "Audience": APP, "Outcome": "Accepted",
             "Issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0", "TokenTenantId": TENANT, "KeyId": key,
             "TokenId": f"token-{key}", "ObjectId": "0f8fad5b-d9cb-469f-a165-70867728950e", "Upn": "a@contoso.example",
             "Algorithm": "RS256"} for key in ("app-own-key", "entra-key", "rogue-key")]
    (folder / "TokenValidation_CL.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def _unpublished(argv: list[str]) -> list[str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    assert code in (0, 1), err.getvalue()
    return sorted(finding["key_id"] for finding in json.loads(out.getvalue()))


def test_app_keys_given_offline_as_appid_file_are_published_for_the_rule(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    _validation_rows(logs)
    entra = tmp_path / "entra.json"
    entra.write_text(json.dumps({"keys": [{"kty": "RSA", "kid": "entra-key", "issuer": V2}]}), encoding="utf-8")
    own = tmp_path / "app.json"
    own.write_text(json.dumps({"keys": [{"kty": "RSA", "kid": "app-own-key", "issuer": V2}]}), encoding="utf-8")
    base = ["hunt", "--logs", str(logs), "--since", "2026-03-01T00:00:00Z", "--until", "2026-03-02T00:00:00Z",
            "--rules", "unpublished-signing-key", "--format", "json", "--jwks", str(entra)]
    assert _unpublished(base) == ["app-own-key", "rogue-key"]
    assert _unpublished([*base, "--jwks", f"{APP.upper()}={own}"]) == ["rogue-key"]
    assert [key.app_id for key in read_jwks_file(own, app_id=APP)] == [APP]
