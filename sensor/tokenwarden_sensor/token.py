"""What the sensor reads from a bearer token, and the ``TokenValidation_CL`` row it becomes.

The token is decoded *without* verifying it: the app has already validated it (or is about to), and the
sensor only reports what the app saw. Only the header fields and claims the rules read are kept; the token
itself and its signature are never stored, logged or sent. ``fingerprint`` (a SHA-256 of the whole token)
exists only in memory, to recognise the same token again within an interval.

The columns are Tokenwarden's ``TokenValidation_CL`` contract (``shared/schemas/TokenValidation_CL.json`` in
the Tokenwarden repository; a test holds :data:`COLUMNS` equal to it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["CLAIMS_KEPT", "COLUMNS", "Outcome", "TokenFacts", "read_token", "validation_row"]

Outcome = Literal["Accepted", "Rejected"]

COLUMNS = ("TimeGenerated", "AppId", "AppName", "Audience", "Issuer", "TokenTenantId", "IdentityProvider",
           "TokenVersion", "KeyId", "X5t", "Algorithm", "TokenId", "ObjectId", "Subject", "Upn", "ClientAppId",
           "IssuedAt", "NotBefore", "ExpiresAt", "ClientIp", "UserAgent", "Outcome", "FailureReason", "Claims")
"""The columns of ``TokenValidation_CL``, in the contract's order."""

CLAIMS_KEPT = ("aud", "iss", "tid", "oid", "sub", "upn", "preferred_username", "unique_name", "appid", "azp",
               "idp", "ver", "uti", "sid", "iat", "nbf", "exp", "scp", "roles", "amr", "acr", "appidacr",
               "azpacr")
"""The claims copied into the ``Claims`` column: identifiers and validity, never names, e-mail or signatures."""

_MAX_TOKEN_CHARS = 64 * 1024
"""Longer is not an Entra access token (and HTTP servers cap headers well below it)."""
_MAX_TEXT = 512
"""Longest claim text kept; a forged token may carry anything, and one row must stay small."""


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:_MAX_TEXT] or None


def _seconds(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not -62_135_596_800 <= value <= 253_402_300_799:  # what datetime can represent
        return None
    return int(value)


def _iso(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _kept(value: object) -> object:
    if isinstance(value, list):
        return [_text(v) for v in value[:20]]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return _text(value)


@dataclass(frozen=True, kw_only=True)
class TokenFacts:
    """The header fields and claims of one token that the rules and the red flags read."""

    fingerprint: str
    key_id: str | None
    x5t: str | None
    algorithm: str | None
    issuer: str | None
    tenant_id: str | None
    audience: str | None
    version: str | None
    identity_provider: str | None
    token_id: str | None
    object_id: str | None
    subject: str | None
    upn: str | None
    client_app_id: str | None
    issued_at: int | None
    not_before: int | None
    expires_at: int | None
    claims: Mapping[str, object]
    """:data:`CLAIMS_KEPT` only."""


def _segment(part: str) -> object:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def read_token(token: str) -> TokenFacts | None:
    """The facts of *token*, decoded without verification; None when it is not a JWS in compact form.

    The two segments are decoded here (RFC 7515 section 7.1: base64url JSON) rather than by PyJWT's unverified
    decode, which measured over 100 us a token against about 10 us here: this runs on the app's request path.
    """
    text = token.strip()
    parts = text.split(".")
    if len(parts) != 3 or len(text) > _MAX_TOKEN_CHARS:
        return None
    try:
        header, payload = _segment(parts[0]), _segment(parts[1])
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    audience = payload.get("aud")
    if isinstance(audience, list):
        audience = audience[0] if audience else None
    return TokenFacts(
        fingerprint=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        key_id=_text(header.get("kid")),
        x5t=_text(header.get("x5t")),
        algorithm=_text(header.get("alg")),
        issuer=_text(payload.get("iss")),
        tenant_id=_text(payload.get("tid")),
        audience=_text(audience),
        version=_text(payload.get("ver")),
        identity_provider=_text(payload.get("idp")),
        token_id=_text(payload.get("uti")),
        object_id=_text(payload.get("oid")),
        subject=_text(payload.get("sub")),
        upn=_text(payload.get("upn") or payload.get("preferred_username") or payload.get("unique_name")),
        client_app_id=_text(payload.get("appid") or payload.get("azp")),
        issued_at=_seconds(payload.get("iat")),
        not_before=_seconds(payload.get("nbf")),
        expires_at=_seconds(payload.get("exp")),
        claims={name: _kept(payload[name]) for name in CLAIMS_KEPT if name in payload},
    )


def validation_row(facts: TokenFacts, *, app_id: str, app_name: str, outcome: Outcome,
                   failure_reason: str | None, client_ip: str | None, user_agent: str | None,
                   now: datetime) -> dict[str, Any]:
    """One ``TokenValidation_CL`` row, with exactly :data:`COLUMNS`."""
    return {
        "TimeGenerated": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "AppId": app_id,
        "AppName": app_name,
        "Audience": facts.audience,
        "Issuer": facts.issuer,
        "TokenTenantId": facts.tenant_id,
        "IdentityProvider": facts.identity_provider,
        "TokenVersion": facts.version,
        "KeyId": facts.key_id,
        "X5t": facts.x5t,
        "Algorithm": facts.algorithm,
        "TokenId": facts.token_id,
        "ObjectId": facts.object_id,
        "Subject": facts.subject,
        "Upn": facts.upn,
        "ClientAppId": facts.client_app_id,
        "IssuedAt": _iso(facts.issued_at),
        "NotBefore": _iso(facts.not_before),
        "ExpiresAt": _iso(facts.expires_at),
        "ClientIp": _text(client_ip),
        "UserAgent": _text(user_agent),
        "Outcome": outcome,
        "FailureReason": _text(failure_reason),
        "Claims": dict(facts.claims),
    }
