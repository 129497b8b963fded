"""The token analyzer: each verdict, and the inputs an attacker would try (garbage, alg=none, HS256
key confusion, oversize tokens, self-vouching headers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.core.errors import ConfigurationError, DataError
from shared.detect.apps import parse_apps
from shared.detect.tokens import MAX_TOKEN_CHARS, VERDICT_ORDER, analyze_token

MSA = "9188040d-6c67-4c5b-b112-36a304b66dad"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
ORG_APP = "00000002-0000-0ff1-ce00-000000000000"
PERSONAL_APP = "5c7a1e2b-0d64-4b4f-9b38-7d6a9b0c1f00"
STORM_KID = "1LTMzakihiRla_8z2BEJVXeWMqo"
COMMON = "https://login.microsoftonline.com/{tenantid}/v2.0"
CONSUMERS = f"https://login.microsoftonline.com/{MSA}/v2.0"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


ORG_KEY = _rsa()
CONSUMER_KEY = _rsa()
ROGUE_KEY = _rsa()


def _jwk(key: rsa.RSAPrivateKey, kid: str, issuer: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    entry.update({"kid": kid, "use": "sig", "x5t": kid})
    if issuer:
        entry["issuer"] = issuer
    return entry


KEYS = {
    COMMON: {"keys": [_jwk(ORG_KEY, "org-key-1", COMMON)]},
    CONSUMERS: {"keys": [_jwk(CONSUMER_KEY, "msa-key-1", CONSUMERS)]},
}
APPS = parse_apps([
    {"appId": ORG_APP, "displayName": "Office 365 Exchange Online", "signInAudience": "AzureADMultipleOrgs",
     "servicePrincipalNames": ["https://outlook.office365.com"]},
    {"appId": PERSONAL_APP, "displayName": "Consumer notes", "signInAudience": "AzureADandPersonalMicrosoftAccount"},
], source="test")


def _claims(**overrides: Any) -> dict[str, Any]:
    issued = int((NOW - timedelta(minutes=10)).timestamp())
    claims: dict[str, Any] = {
        "aud": ORG_APP, "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0", "tid": TENANT,
        "ver": "2.0", "iat": issued, "nbf": issued, "exp": issued + 3600,
        "oid": "0f8fad5b-d9cb-469f-a165-70867728950e", "uti": "AAAAAAAAAAAAAAAAAAAAAA",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _sign(claims: dict[str, Any], key: rsa.RSAPrivateKey = ORG_KEY, kid: str = "org-key-1",
          **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, **header})


def _analyze(token: object, **kwargs: Any) -> Any:
    kwargs.setdefault("keys", KEYS)
    kwargs.setdefault("apps", APPS)
    return analyze_token(token, now=NOW, **kwargs)


def _codes(verdict: Any) -> list[str]:
    return [reason.code for reason in verdict.reasons]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_genuine_org_token_is_valid() -> None:
    verdict = _analyze(_sign(_claims()))
    assert verdict.verdict == "valid"
    assert verdict.reasons == ()
    assert verdict.signature_verified
    assert verdict.published_by == (COMMON,)
    assert verdict.kid == "org-key-1"
    assert verdict.audience_app == "Office 365 Exchange Online"
    assert verdict.header["kid"] == "org-key-1"
    assert verdict.claims["tid"] == TENANT


def test_v1_token_with_sts_issuer_is_valid_against_a_v1_issuer_key() -> None:
    v1 = f"https://sts.windows.net/{TENANT}/"
    keys = {v1: {"keys": [_jwk(ORG_KEY, "org-key-1")]}}
    verdict = _analyze(_sign(_claims(iss=v1, ver="1.0")), keys=keys)
    assert verdict.verdict == "valid", verdict.reasons


def test_storm_kid_is_compromised_even_though_nobody_can_sign_with_it() -> None:
    verdict = _analyze(_sign(_claims(), key=ROGUE_KEY, kid=STORM_KID))
    assert verdict.verdict == "compromised_key"
    assert "Storm-0558" in verdict.reasons[0].message
    assert "unpublished_key" in _codes(verdict)
    assert verdict.compromised_key is not None


def test_storm_key_as_hex_thumbprint_in_x5t_is_compromised() -> None:
    token = jwt.encode(_claims(), ROGUE_KEY, algorithm="RS256",
                       headers={"x5t": "D4B4CCCDA9228624656BFF33D8110955779632AA"})
    assert _analyze(token).verdict == "compromised_key"


def test_token_signed_with_an_unpublished_key() -> None:
    verdict = _analyze(_sign(_claims(), key=ROGUE_KEY, kid="attacker-key"))
    assert verdict.verdict == "unpublished_key"
    assert not verdict.signature_verified
    assert verdict.published_by == ()


def test_consumer_key_token_to_an_org_only_app_is_the_storm_pattern() -> None:
    verdict = _analyze(_sign(_claims(), key=CONSUMER_KEY, kid="msa-key-1"))
    assert verdict.verdict == "consumer_key_for_org_app"
    assert verdict.signature_verified
    assert verdict.key_issuers == (CONSUMERS,)
    # The consumer issuer may not sign for an organizational iss either.
    assert "issuer_tenant_mismatch" in _codes(verdict)
    assert "AzureADMultipleOrgs" in verdict.reasons[0].message


def test_consumer_key_token_to_an_app_tokenwarden_knows_nothing_about_is_reported() -> None:
    token = _sign(_claims(aud="api://unknown-app"), key=CONSUMER_KEY, kid="msa-key-1")
    verdict = _analyze(token)
    assert verdict.verdict == "consumer_key_for_org_app"
    assert "no metadata" in verdict.reasons[0].message


def test_msa_token_to_an_app_that_admits_personal_accounts_is_valid() -> None:
    claims = _claims(aud=PERSONAL_APP, tid=MSA, iss=CONSUMERS)
    verdict = _analyze(_sign(claims, key=CONSUMER_KEY, kid="msa-key-1"))
    assert verdict.verdict == "valid", verdict.reasons


def test_consumer_key_in_the_common_document_still_counts_as_consumer() -> None:
    # In 2023 the Storm key sat in the common JWKS too, with the consumer issuer on the key itself.
    keys = {COMMON: {"keys": [_jwk(ORG_KEY, "org-key-1", COMMON), _jwk(CONSUMER_KEY, "msa-key-1", CONSUMERS)]}}
    verdict = _analyze(_sign(_claims(), key=CONSUMER_KEY, kid="msa-key-1"), keys=keys)
    assert verdict.verdict == "consumer_key_for_org_app"
    assert verdict.published_by == (COMMON,)


def test_issuer_naming_another_tenant_than_tid() -> None:
    token = _sign(_claims(iss=f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"))
    verdict = _analyze(token)
    assert verdict.verdict == "issuer_tenant_mismatch"
    assert TENANT in verdict.reasons[0].message


def test_v1_issuer_on_a_v2_token_is_a_mismatch() -> None:
    verdict = _analyze(_sign(_claims(iss=f"https://sts.windows.net/{TENANT}/")))
    assert verdict.verdict == "issuer_tenant_mismatch"


def test_tid_in_upper_case_still_matches() -> None:
    verdict = _analyze(_sign(_claims(tid=TENANT.upper())))
    assert verdict.verdict == "valid", verdict.reasons


def test_missing_tid_is_a_mismatch() -> None:
    assert _analyze(_sign(_claims(tid=None))).verdict == "issuer_tenant_mismatch"


def test_look_alike_issuer_host_is_a_mismatch() -> None:
    token = _sign(_claims(iss=f"https://login.microsoftonline.com.evil.example/{TENANT}/v2.0"))
    assert _analyze(token).verdict == "issuer_tenant_mismatch"


def test_expired_token() -> None:
    issued = int((NOW - timedelta(hours=3)).timestamp())
    verdict = _analyze(_sign(_claims(iat=issued, nbf=issued, exp=issued + 3600)))
    assert verdict.verdict == "expired"
    assert verdict.signature_verified


def test_expiry_within_clock_skew_is_tolerated() -> None:
    exp = int((NOW - timedelta(minutes=2)).timestamp())
    assert _analyze(_sign(_claims(exp=exp))).verdict == "valid"


def test_token_without_exp_is_refused() -> None:
    assert _analyze(_sign(_claims(exp=None))).verdict == "expired"


def test_not_yet_valid_token() -> None:
    start = int((NOW + timedelta(hours=1)).timestamp())
    verdict = _analyze(_sign(_claims(nbf=start, exp=start + 3600)))
    assert verdict.verdict == "not_yet_valid"


def test_tampered_claims_fail_the_signature() -> None:
    header, payload, signature = _sign(_claims()).split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["oid"] = "ffffffff-ffff-ffff-ffff-ffffffffffff"
    token = ".".join([header, _b64(json.dumps(forged).encode()), signature])
    verdict = _analyze(token)
    assert verdict.verdict == "bad_signature"
    assert verdict.claims["oid"] == "ffffffff-ffff-ffff-ffff-ffffffffffff"  # shown as given


def test_signature_by_another_key_under_a_published_kid_is_bad() -> None:
    verdict = _analyze(_sign(_claims(), key=ROGUE_KEY, kid="org-key-1"))
    assert verdict.verdict == "bad_signature"


def test_alg_none_is_unsupported_and_never_valid() -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "org-key-1"}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}."
    verdict = _analyze(token)
    assert verdict.verdict == "unsupported_algorithm"
    assert not verdict.signature_verified


def test_hs256_with_the_public_key_as_hmac_secret_is_refused() -> None:
    # Key confusion: an HS256 "signature" made with the published RSA public key as the shared secret.
    public_pem = ORG_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "org-key-1"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    signature = _b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    verdict = _analyze(f"{header}.{payload}.{signature}")
    assert verdict.verdict in {"unsupported_algorithm", "bad_signature"}
    assert verdict.verdict == "unsupported_algorithm"
    assert not verdict.signature_verified


def test_header_jwk_and_jku_are_never_trusted() -> None:
    embedded = _jwk(ROGUE_KEY, "attacker-key")
    token = _sign(_claims(), key=ROGUE_KEY, kid="attacker-key", jwk=embedded,
                  jku="https://attacker.example/keys")
    verdict = _analyze(token)
    assert verdict.verdict == "unpublished_key"
    assert verdict.header["jku"] == "https://attacker.example/keys"


def test_expected_audience_mismatch() -> None:
    verdict = _analyze(_sign(_claims()), expected_audiences=["api://tokenwarden"])
    assert verdict.verdict == "audience_mismatch"
    assert _analyze(_sign(_claims()), expected_audiences=[ORG_APP.upper()]).verdict == "valid"


def test_reasons_are_most_severe_first() -> None:
    issued = int((NOW - timedelta(days=2)).timestamp())
    claims = _claims(iss=f"https://sts.windows.net/{OTHER_TENANT}/", iat=issued, nbf=issued, exp=issued + 60)
    verdict = _analyze(_sign(claims, key=ROGUE_KEY, kid=STORM_KID))
    codes = _codes(verdict)
    assert codes == sorted(codes, key=VERDICT_ORDER.index)
    assert codes[0] == "compromised_key"
    assert {"unpublished_key", "issuer_tenant_mismatch", "expired"} <= set(codes)


def test_to_json_is_serialisable() -> None:
    document = _analyze(_sign(_claims(), key=CONSUMER_KEY, kid="msa-key-1")).to_json()
    json.dumps(document)
    assert document["reasons"][0]["code"] == "consumer_key_for_org_app"


RS256_HEADER = _b64(b'{"alg": "RS256"}')


@pytest.mark.parametrize(("token", "message"), [
    (None, "must be a string"),
    (b"abc.def.ghi", "must be a string"),
    ("", "empty"),
    ("   ", "empty"),
    ("hello", "3 dot-separated segments, found 1"),
    ("a.b", "found 2"),
    ("a.b.c.d.e", "JWE"),
    ("!!!.@@@.###", "not a JWT"),
    (f"{_b64(b'[1, 2]')}.{_b64(b'{}')}.", "not a JWT"),
    (f"{RS256_HEADER}.{_b64(b'[1]')}.", "not a JWT"),
    (f"{RS256_HEADER}.{_b64(b'not json')}.", "not a JWT"),
])
def test_garbage_is_a_one_line_data_error(token: object, message: str) -> None:
    with pytest.raises(DataError, match=message) as caught:
        _analyze(token)
    assert "\n" not in str(caught.value)


def test_oversize_token_is_refused_before_decoding() -> None:
    token = _sign(_claims(padding="x" * MAX_TOKEN_CHARS))
    with pytest.raises(DataError, match="limit is 16384"):
        _analyze(token)


def test_no_configured_keys_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no issuer keys"):
        _analyze(_sign(_claims()), keys={})


def test_malformed_jwks_names_the_issuer() -> None:
    with pytest.raises(DataError, match=r"keys\[https://bad\]"):
        _analyze(_sign(_claims()), keys={"https://bad": {"nope": []}})


def test_published_entry_without_key_material_is_a_data_error() -> None:
    keys = {COMMON: {"keys": [{"kid": "org-key-1", "kty": "RSA", "issuer": COMMON}]}}
    with pytest.raises(DataError, match="not a usable RSA key"):
        _analyze(_sign(_claims()), keys=keys)
