"""The demo tenant signs like Entra: RSA 2048 keys, RS256, kid and x5t the certificate's SHA-1 thumbprint, so
/tokens/analyze verifies a demo token against the demo JWKS instead of answering 503."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.devkit.demo_data.tenant import DemoKey
from shared.ledger.connection import LedgerTableNames
from tests.api.api_support import call
from tests.support.demo import DemoLogs
from tests.support.function_env import set_offline_environment

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
            ledger_names: LedgerTableNames, ledger: object) -> None:
    set_offline_environment(monkeypatch, demo_logs.environment(**storage_environment), ledger_names)


def _claims(issuer: str, tenant_id: str, audience: str) -> dict[str, Any]:
    issued = int(datetime.now(UTC).timestamp()) - 60
    return {"iss": issuer, "tid": tenant_id, "aud": audience, "ver": "2.0", "iat": issued, "nbf": issued,
            "exp": issued + 3600, "uti": "demo-uti", "oid": "00000000-0000-4000-8000-000000000001"}


def test_demo_jwks_publish_rsa_keys_shaped_like_entras(demo_logs: DemoLogs) -> None:
    document = json.loads((demo_logs.folder / "jwks" / "organizations.json").read_text())
    for entry in document["keys"]:
        assert {"kty", "use", "kid", "x5t", "n", "e", "x5c", "issuer"} <= set(entry)
        assert entry["kty"] == "RSA" and entry["use"] == "sig" and entry["e"] == "AQAB"
        certificate = x509.load_der_x509_certificate(base64.b64decode(entry["x5c"][0]))
        public = certificate.public_key()
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
        thumbprint = base64.urlsafe_b64encode(hashlib.sha1(base64.b64decode(entry["x5c"][0])).digest())
        assert entry["kid"] == entry["x5t"] == thumbprint.decode().rstrip("=")
        n = int.from_bytes(base64.urlsafe_b64decode(entry["n"] + "=" * (-len(entry["n"]) % 4)), "big")
        assert n == public.public_numbers().n


def test_a_demo_tenant_token_is_verified_not_a_503(api_env: None, demo_logs: DemoLogs) -> None:
    tenant = demo_logs.summary.tenant
    key: DemoKey = tenant.tenant_keys[0]
    audience = tenant.resource_apps[0].app_id
    token = key.sign(_claims(f"https://login.microsoftonline.com/{tenant.tenant_id}/v2.0", tenant.tenant_id, audience))
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": key.kid, "x5t": key.kid}
    answer = call("POST", "tokens/analyze", body={"token": token, "audience": audience})
    assert answer.status == 200, answer.text
    verdict = answer.json
    assert verdict["verdict"] == "valid" and verdict["signature_verified"] is True
    assert verdict["algorithm"] == "RS256" and verdict["kid"] == key.kid


def test_a_demo_consumer_key_token_for_an_org_only_app_is_flagged(api_env: None, demo_logs: DemoLogs) -> None:
    tenant = demo_logs.summary.tenant
    consumer = "9188040d-6c67-4c5b-b112-36a304b66dad"
    org_app = next(app for app in tenant.resource_apps if app.sign_in_audience == "AzureADMyOrg")
    token = tenant.consumer_keys[0].sign(_claims(f"https://login.microsoftonline.com/{consumer}/v2.0", consumer,
                                                 org_app.app_id))
    answer = call("POST", "tokens/analyze", body={"token": token, "audience": org_app.app_id})
    assert answer.status == 200, answer.text
    assert answer.json["verdict"] == "consumer_key_for_org_app" and answer.json["signature_verified"] is True
