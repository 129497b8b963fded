"""Genuine Microsoft token shapes the analyzer must not call forged, signed here with our own RSA keys:
nonce-header tokens (Graph, Teams), the v1 key set without issuers, v1 tokens, app-specific keys, and
tokens cut short when they were copied."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.core.errors import DataError
from shared.detect.tokens import analyze_token

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
GRAPH = "00000003-0000-0000-c000-000000000000"
CLAIMS_APP = "6d1a0f5e-3c1b-4e7a-9b2d-8f0c4a5e7b21"  # an app with claims mapping: its own signing key
V2_TEMPLATE = "https://login.microsoftonline.com/{tenantid}/v2.0"
V1_KEYS = "https://login.microsoftonline.com/common/discovery/keys"
V2_KEYS = "https://login.microsoftonline.com/common/discovery/v2.0/keys"
APP_KEYS = f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys?appid={CLAIMS_APP}"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

ENTRA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
APP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: rsa.RSAPrivateKey, kid: str, issuer: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    entry.update({"kid": kid, "use": "sig", "x5t": kid})
    if issuer is not None:
        entry["issuer"] = issuer
    return entry


# As Entra serves them: the v2.0 set names its templated issuer, the v1 set names none.
V2_SET = {V2_KEYS: {"keys": [_jwk(ENTRA_KEY, "entra-1", V2_TEMPLATE)]}}
V1_SET = {V1_KEYS: {"keys": [_jwk(ENTRA_KEY, "entra-1", None)]}}
APP_SET = {APP_KEYS: {"keys": [_jwk(APP_KEY, "app-1", V2_TEMPLATE)]}}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _claims(version: str = "2.0", aud: str = GRAPH, **extra: Any) -> dict[str, Any]:
    issued = int((NOW - timedelta(minutes=5)).timestamp())
    iss = f"https://sts.windows.net/{TENANT}/" if version == "1.0" else f"https://login.microsoftonline.com/{TENANT}/v2.0"
    return {"aud": aud, "iss": iss, "tid": TENANT, "ver": version, "iat": issued, "nbf": issued,
            "exp": issued + 3600, "uti": "Zm9yZ2VkLW9yLW5vdA", **extra}


def _sign(header: dict[str, Any], claims: dict[str, Any], key: rsa.RSAPrivateKey = ENTRA_KEY) -> str:
    """RS256 over exactly this header, serialised compactly in its own key order, as Entra writes it."""
    signing_input = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}." \
                    f"{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    signature = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(signing_input.encode(), key)
    return f"{signing_input}.{_b64(signature)}"


def _nonce_token(nonce: str, claims: dict[str, Any], *, hash_it: bool = True) -> str:
    """A Graph-style token: signed over the header holding SHA-256(nonce), shipped with the nonce itself."""
    signed_nonce = _b64(hashlib.sha256(nonce.encode()).digest()) if hash_it else nonce
    signed = _sign({"typ": "JWT", "nonce": signed_nonce, "alg": "RS256", "x5t": "entra-1", "kid": "entra-1"}, claims)
    shipped_header = {"typ": "JWT", "nonce": nonce, "alg": "RS256", "x5t": "entra-1", "kid": "entra-1"}
    _, payload, signature = signed.split(".")
    return f"{_b64(json.dumps(shipped_header, separators=(',', ':')).encode())}.{payload}.{signature}"


def _analyze(token: str, keys: dict[str, Any]) -> Any:
    return analyze_token(token, keys=keys, now=NOW)


def test_graph_token_with_a_nonce_verifies_over_the_hashed_nonce_and_says_it_is_graphs_own() -> None:
    verdict = _analyze(_nonce_token("AQABAAAAAABnfiG-mA6NTae7CdWW7Qfd", _claims()), V2_SET)
    assert verdict.verdict == "valid", verdict.reasons
    assert verdict.signature_verified
    assert len(verdict.notes) == 1
    assert verdict.notes[0].startswith("the header carries a nonce") and f"({GRAPH})" in verdict.notes[0]
    assert verdict.to_json()["notes"] == list(verdict.notes)


def test_a_nonce_token_signed_over_the_raw_nonce_is_a_bad_signature() -> None:
    verdict = _analyze(_nonce_token("AQABAAAAAABnfiG-mA6NTae7CdWW7Qfd", _claims(), hash_it=False), V2_SET)
    assert verdict.verdict == "bad_signature"


def test_a_token_without_a_nonce_has_no_notes() -> None:
    token = _sign({"typ": "JWT", "alg": "RS256", "kid": "entra-1"}, _claims(aud="api://contoso"))
    verdict = _analyze(token, V2_SET)
    assert (verdict.verdict, verdict.notes) == ("valid", ())


def test_v1_token_is_judged_against_the_v1_key_set_without_issuers() -> None:
    token = _sign({"typ": "JWT", "alg": "RS256", "x5t": "entra-1", "kid": "entra-1"}, _claims("1.0"))
    verdict = _analyze(token, V1_SET)
    assert verdict.verdict == "valid", verdict.reasons
    assert verdict.key_issuers == (f"https://sts.windows.net/{TENANT}/",)
    assert verdict.published_by == (V1_KEYS,)


def test_v2_token_matches_the_v1_key_set_by_tenant_and_version() -> None:
    token = _sign({"typ": "JWT", "alg": "RS256", "kid": "entra-1"}, _claims("2.0"))
    verdict = _analyze(token, V1_SET)
    assert verdict.verdict == "valid", verdict.reasons
    assert verdict.key_issuers == (f"https://login.microsoftonline.com/{TENANT}/v2.0",)


def test_v1_token_with_only_the_v2_key_set_names_the_key_set_it_needs() -> None:
    token = _sign({"typ": "JWT", "alg": "RS256", "x5t": "entra-1", "kid": "entra-1"}, _claims("1.0"))
    verdict = _analyze(token, V2_SET)
    assert verdict.verdict == "unpublished_key"
    assert "judged against the v1 key set (/common/discovery/keys)" in verdict.reasons[0].message
    assert "issuer_tenant_mismatch" not in [reason.code for reason in verdict.reasons]


def test_v1_token_with_both_key_sets_counts_only_the_v1_one() -> None:
    token = _sign({"typ": "JWT", "alg": "RS256", "x5t": "entra-1", "kid": "entra-1"}, _claims("1.0"))
    verdict = _analyze(token, {**V2_SET, **V1_SET})
    assert verdict.verdict == "valid", verdict.reasons
    assert verdict.published_by == (V1_KEYS,)


def test_v1_key_set_still_catches_a_token_whose_issuer_is_another_tenant() -> None:
    claims = _claims("1.0", iss="https://sts.windows.net/11111111-2222-3333-4444-555555555555/")
    token = _sign({"typ": "JWT", "alg": "RS256", "kid": "entra-1"}, claims)
    assert _analyze(token, V1_SET).verdict == "issuer_tenant_mismatch"


def test_app_specific_key_signs_only_for_its_own_app() -> None:
    header = {"typ": "JWT", "alg": "RS256", "kid": "app-1"}
    own = _analyze(_sign(header, _claims(aud=CLAIMS_APP), APP_KEY), {**V2_SET, **APP_SET})
    assert own.verdict == "valid", own.reasons
    assert own.published_by == (APP_KEYS,)
    other = _analyze(_sign(header, _claims(aud="api://another-app"), APP_KEY), {**V2_SET, **APP_SET})
    assert other.verdict == "unpublished_key"
    assert f"app-specific key set of {CLAIMS_APP}" in other.reasons[0].message


def test_app_specific_key_is_unpublished_without_its_key_set() -> None:
    token = _sign({"typ": "JWT", "alg": "RS256", "kid": "app-1"}, _claims(aud=CLAIMS_APP), APP_KEY)
    assert _analyze(token, V2_SET).verdict == "unpublished_key"


def _truncate(token: str, keep: int) -> str:
    return token[:keep]


def test_a_token_cut_inside_its_claims_shows_the_header_and_names_the_claims() -> None:
    token = _sign({"typ": "JWT", "alg": "RS256", "kid": "entra-1"}, _claims())
    header_segment, payload, _ = token.split(".")
    with pytest.raises(DataError) as caught:
        analyze_token(f"{header_segment}.{payload[:41]}.sig", keys=V2_SET, now=NOW)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("not a JWT: the claims segment")
    assert 'header decodes to {"typ":"JWT","alg":"RS256","kid":"entra-1"}' in message


def test_a_token_cut_inside_its_signature_is_judged_and_says_so() -> None:
    token = _sign({"typ": "JWT", "alg": "RS256", "kid": "entra-1"}, _claims())
    verdict = _analyze(token[:-5], V2_SET)  # a length no base64url text can have
    assert verdict.verdict == "bad_signature"
    assert "the signature segment does not decode" in verdict.reasons[0].message
    assert verdict.claims["tid"] == TENANT


def test_a_token_with_two_segments_shows_what_decodes() -> None:
    token = _sign({"typ": "JWT", "alg": "RS256", "kid": "entra-1"}, _claims())
    with pytest.raises(DataError, match=r"found 2; header decodes to \{\"typ\":\"JWT\""):
        analyze_token(".".join(token.split(".")[:2]), keys=V2_SET, now=NOW)


def test_a_header_that_is_not_base64url_is_named() -> None:
    with pytest.raises(DataError, match="the header segment is not base64url: it holds characters outside"):
        analyze_token("e30*.e30.sig", keys=V2_SET, now=NOW)
