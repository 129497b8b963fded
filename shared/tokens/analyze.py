"""The core of ``POST /tokens/analyze``: decode a raw access token, then judge it by Microsoft's rules.

An analyst pastes a token an app logged (or a responder pulls one from a request) and needs to know
*why* it should not have been accepted. The token is first decoded without trusting anything in it,
so even a forged or truncated one can be shown; then it is checked, and every broken rule is listed,
most severe first:

- ``compromised_key``: the header names a key on the compromised list (Storm-0558's kid, say). This
  needs no signature check, which matters: nobody but the attacker can sign with that key.
- ``consumer_key_for_org_app``: the signing key is published only for the Microsoft-account
  (consumer) issuer, yet the audience is an app that admits only work or school accounts. This is the
  Storm-0558 root cause (the mail system accepted a consumer key for enterprise tokens).
- ``unpublished_key``: no configured issuer publishes the key id today.
- ``unsupported_algorithm``: the header asks for anything but RS256 (``none``, or HS256 with the
  public key as HMAC secret: the classic key-confusion forgery). The signature is never checked with
  the header's algorithm.
- ``bad_signature``: a published key, but the RS256 signature does not verify (a tampered token).
- ``issuer_tenant_mismatch``: ``iss`` is not the Entra issuer for the token's ``tid`` and ``ver``
  (v1 ``https://sts.windows.net/{tid}/``, v2 ``https://login.microsoftonline.com/{tid}/v2.0``), or the
  key's own ``issuer`` (a GUID issuer exactly, a ``{tenantid}`` template filled with ``tid``) does
  not allow this ``iss``.
- ``audience_mismatch``: ``aud`` is not one of the expected audiences the caller named.
- ``expired`` / ``not_yet_valid``: ``exp`` / ``nbf`` against ``now`` with a clock-skew leeway.

Keys come from the caller as a mapping of *configured* issuer to its JWKS document: the analyzer
never fetches anything, and in particular never follows ``iss``, ``jku``, ``x5u`` or an embedded
``jwk`` from the token itself. Those are attacker-controlled; fetching them would be an SSRF and
trusting them would let any token vouch for itself.

Source: Microsoft identity platform, "Access tokens" (validate the signature, issuer, tid and aud)
https://learn.microsoft.com/entra/identity-platform/access-tokens
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from shared.apps import AppCatalog, AppInfo
from shared.errors import ConfigurationError, DataError
from shared.keys.compromised import CompromisedKey, CompromisedKeyList, load_compromised_keys
from shared.keys.jwks import PublishedKey, parse_jwks

__all__ = [
    "MAX_TOKEN_CHARS",
    "MSA_TENANT_ID",
    "VERDICT_ORDER",
    "KeyLookup",
    "Reason",
    "TokenVerdict",
    "VerdictCode",
    "analyze_token",
    "decode_unverified",
]

MSA_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
"""The Microsoft-account (consumer) tenant: tokens and keys of personal accounts carry it."""

MAX_TOKEN_CHARS = 16 * 1024
"""Entra access tokens are a few KB; anything larger is refused before any base64 or JSON work."""

DEFAULT_LEEWAY = timedelta(minutes=5)

VerdictCode = Literal[
    "valid",
    "compromised_key",
    "consumer_key_for_org_app",
    "unpublished_key",
    "unsupported_algorithm",
    "bad_signature",
    "issuer_tenant_mismatch",
    "audience_mismatch",
    "expired",
    "not_yet_valid",
]

VERDICT_ORDER: tuple[VerdictCode, ...] = tuple(code for code in get_args(VerdictCode) if code != "valid")
"""Reason codes, most severe first; a verdict is its most severe reason."""

KeyLookup = Mapping[str, Mapping[str, object]]
"""Configured issuer (e.g. ``https://login.microsoftonline.com/{tenantid}/v2.0``) -> its JWKS document
(``{"keys": [...]}``, as the issuer's ``jwks_uri`` serves it). A key's own ``issuer`` field, when
present, takes precedence over the configured issuer, as Entra's common endpoint requires."""

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_GUID_IN_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TENANT_TEMPLATE = re.compile(r"\{tenantid\}", re.IGNORECASE)
_ACCEPTED_ALGORITHM = "RS256"


@dataclass(frozen=True, kw_only=True)
class Reason:
    code: VerdictCode
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, kw_only=True)
class TokenVerdict:
    """What the token says and what is wrong with it. ``reasons`` is empty exactly when it is valid."""

    verdict: VerdictCode
    reasons: tuple[Reason, ...]
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    kid: str | None
    algorithm: str | None
    issuer: str | None
    published_by: tuple[str, ...]
    """Configured issuers whose JWKS holds the key id."""
    key_issuers: tuple[str, ...]
    """The issuers those keys are for (their own ``issuer`` field, else the configured issuer)."""
    signature_verified: bool
    compromised_key: str | None = None
    """The compromised-list entry's name, when the key is on it."""
    audience_app: str | None = None
    """Display name of the audience app in the catalog, when known."""

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": [reason.to_json() for reason in self.reasons],
            "kid": self.kid,
            "algorithm": self.algorithm,
            "issuer": self.issuer,
            "published_by": list(self.published_by),
            "key_issuers": list(self.key_issuers),
            "signature_verified": self.signature_verified,
            "compromised_key": self.compromised_key,
            "audience_app": self.audience_app,
            "header": dict(self.header),
            "claims": dict(self.claims),
        }


@dataclass(frozen=True)
class _KeyMatch:
    configured_issuer: str
    key_issuer: str
    entry: Mapping[str, object]
    where: str


@dataclass
class _Findings:
    reasons: list[Reason] = field(default_factory=list)

    def add(self, code: VerdictCode, message: str) -> None:
        self.reasons.append(Reason(code=code, message=" ".join(message.split())))

    def ordered(self) -> tuple[Reason, ...]:
        rank = {code: index for index, code in enumerate(VERDICT_ORDER)}
        return tuple(sorted(self.reasons, key=lambda reason: rank[reason.code]))


def analyze_token(
    token: object,
    *,
    keys: KeyLookup,
    apps: AppCatalog | None = None,
    expected_audiences: Collection[str] | None = None,
    compromised: CompromisedKeyList | None = None,
    now: datetime | None = None,
    leeway: timedelta = DEFAULT_LEEWAY,
) -> TokenVerdict:
    """Decode *token* without trusting it, then check it against *keys* and Microsoft's rules.

    :param keys: configured issuer -> JWKS document, fetched by the caller (see :data:`KeyLookup`).
    :param apps: the app catalog, to know whether the audience admits personal accounts.
    :param expected_audiences: when given, ``aud`` must be one of these (case-insensitive).
    :param compromised: the compromised-key list (default: the shipped one).
    :raises DataError: the input is not a signed JWT (one line naming the problem), or a JWKS is malformed.
    :raises ConfigurationError: *keys* is empty, so no signature could ever be judged.
    """
    header, claims = decode_unverified(token)
    assert isinstance(token, str)  # decode_unverified refuses anything else
    compact = token.strip()
    if not keys:
        raise ConfigurationError("no issuer keys configured: a token's signing key cannot be judged")
    compromised_list = compromised if compromised is not None else load_compromised_keys()
    instant = now or datetime.now(UTC)

    kid = _text(header.get("kid"))
    x5t = _text(header.get("x5t"))
    key_id = kid or x5t
    algorithm = _text(header.get("alg"))
    iss = _text(claims.get("iss"))
    tid = _text(claims.get("tid"))
    findings = _Findings()

    hit = _compromised(compromised_list, kid, x5t)
    if hit is not None:
        findings.add("compromised_key", f"signing key {key_id} is on the compromised list ({hit.name})")

    matches = _matching_keys(keys, kid, x5t)
    published_by = tuple(dict.fromkeys(match.configured_issuer for match in matches))
    key_issuers = tuple(dict.fromkeys(match.key_issuer for match in matches))
    if key_id is None:
        findings.add("unpublished_key", "header names no signing key (neither kid nor x5t)")
    elif not matches:
        findings.add("unpublished_key", f"signing key {key_id} is published by none of the configured issuers")

    signature_verified = False
    if algorithm != _ACCEPTED_ALGORITHM:
        findings.add("unsupported_algorithm",
                     f"header alg {algorithm!r} is not {_ACCEPTED_ALGORITHM}; the signature was not checked")
    elif matches:
        signature_verified = _verify_signature(compact, matches)
        if not signature_verified:
            findings.add("bad_signature", f"RS256 signature does not verify with published key {key_id}")

    app = _audience_app(apps, claims.get("aud"))
    if matches and all(_is_consumer_issuer(issuer) for issuer in key_issuers):
        if app is None:
            aud_text = _audience_text(claims.get("aud"))
            findings.add("consumer_key_for_org_app",
                         f"key {key_id} is published only for the Microsoft-account issuer, and audience "
                         f"{aud_text} is an app Tokenwarden has no metadata for (treated as organizations-only)")
        elif not app.admits_personal_accounts:
            findings.add("consumer_key_for_org_app",
                         f"key {key_id} is published only for the Microsoft-account issuer, but app "
                         f"{app.display_name} ({app.app_id}) has signInAudience {app.sign_in_audience}")

    _check_issuer(findings, iss=iss, tid=tid, version=_text(claims.get("ver")), key_issuers=key_issuers,
                  key_id=key_id)
    _check_audience(findings, claims.get("aud"), expected_audiences)
    _check_times(findings, claims, instant, leeway)

    reasons = findings.ordered()
    return TokenVerdict(
        verdict=reasons[0].code if reasons else "valid",
        reasons=reasons,
        header=header,
        claims=claims,
        kid=key_id,
        algorithm=algorithm,
        issuer=iss,
        published_by=published_by,
        key_issuers=key_issuers,
        signature_verified=signature_verified,
        compromised_key=hit.name if hit else None,
        audience_app=app.display_name if app else None,
    )


def decode_unverified(token: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS, read without verifying anything. Raises DataError."""
    if not isinstance(token, str):
        raise DataError(f"token must be a string, not {type(token).__name__}")
    compact = token.strip()
    if not compact:
        raise DataError("token is empty")
    if len(compact) > MAX_TOKEN_CHARS:
        raise DataError(f"token is {len(compact)} characters; the limit is {MAX_TOKEN_CHARS}")
    segments = compact.count(".") + 1
    if segments != 3:
        kind = " (an encrypted JWE is not an access token Tokenwarden can read)" if segments == 5 else ""
        raise DataError(f"not a signed JWT: expected 3 dot-separated segments, found {segments}{kind}")
    import jwt

    try:
        header = jwt.get_unverified_header(compact)
        claims = jwt.decode(compact, options={
            "verify_signature": False, "verify_exp": False, "verify_nbf": False,
            "verify_iat": False, "verify_aud": False, "verify_iss": False,
        })
    except jwt.PyJWTError as exc:
        raise DataError(f"not a JWT: {exc}") from None
    except (ValueError, TypeError, UnicodeDecodeError) as exc:  # defensive: odd base64 or JSON
        raise DataError(f"not a JWT: {exc}") from None
    if not isinstance(header, dict):
        raise DataError("not a JWT: header is not a JSON object")
    return dict(header), dict(claims)


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _compromised(keys: CompromisedKeyList, kid: str | None, x5t: str | None) -> CompromisedKey | None:
    for value in (kid, x5t):
        if value:
            hit = keys.find(value)
            if hit is not None:
                return hit
    return None


def _matching_keys(lookup: KeyLookup, kid: str | None, x5t: str | None) -> list[_KeyMatch]:
    wanted = {value for value in (kid, x5t) if value}
    matches: list[_KeyMatch] = []
    for configured, document in lookup.items():
        source = f"keys[{configured}]"
        published: Sequence[PublishedKey] = parse_jwks(document, source=source)
        entries = document["keys"]
        assert isinstance(entries, list)  # parse_jwks checked it
        for index, (key, entry) in enumerate(zip(published, entries, strict=True)):
            if wanted & {key.kid, key.x5t}:
                matches.append(_KeyMatch(configured_issuer=configured, key_issuer=key.issuer or configured,
                                         entry=entry, where=f"{source}: keys[{index}]"))
    return matches


def _verify_signature(compact: str, matches: Sequence[_KeyMatch]) -> bool:
    """True when any published key with this id verifies the RS256 signature (keys rotate, ids repeat)."""
    import jwt

    for match in matches:
        try:
            jwk = jwt.PyJWK(dict(match.entry), algorithm=_ACCEPTED_ALGORITHM)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise DataError(f"published key is not a usable RSA key: {exc}", location=match.where) from None
        try:
            jwt.decode(compact, key=jwk.key, algorithms=[_ACCEPTED_ALGORITHM], options={
                "verify_signature": True, "verify_exp": False, "verify_nbf": False,
                "verify_iat": False, "verify_aud": False, "verify_iss": False, "require": [],
            })
        except jwt.PyJWTError:
            continue
        return True
    return False


def _tenant_of(issuer: str) -> str | None:
    found = _GUID_IN_TEXT.search(issuer)
    return found.group(0).lower() if found else None


def _is_consumer_issuer(issuer: str) -> bool:
    return _tenant_of(issuer) == MSA_TENANT_ID


def _audiences(aud: object) -> list[str]:
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [value for value in aud if isinstance(value, str)]
    return []


def _audience_text(aud: object) -> str:
    values = _audiences(aud)
    return ", ".join(values) if values else "(none)"


def _audience_app(apps: AppCatalog | None, aud: object) -> AppInfo | None:
    if apps is None:
        return None
    wanted = {value.strip().lower().rstrip("/") for value in _audiences(aud)}
    for app in apps.apps:
        if wanted & {identifier.lower().rstrip("/") for identifier in app.identifiers}:
            return app
    return None


def _issuer_allows(key_issuer: str, iss: str, tid: str | None) -> bool:
    """Microsoft's rule: a GUID issuer must equal ``iss``; a ``{tenantid}`` template is filled with ``tid``."""
    if _TENANT_TEMPLATE.search(key_issuer):
        if tid is None or not _GUID.match(tid):
            return False
        key_issuer = _TENANT_TEMPLATE.sub(tid, key_issuer)
    return key_issuer.lower() == iss.lower()


def _check_issuer(findings: _Findings, *, iss: str | None, tid: str | None, version: str | None,
                  key_issuers: Sequence[str], key_id: str | None) -> None:
    if iss is None:
        findings.add("issuer_tenant_mismatch", "token has no iss claim")
        return
    if tid is None or not _GUID.match(tid):
        findings.add("issuer_tenant_mismatch", f"tid claim {tid!r} is missing or not a GUID")
        return
    v1 = f"https://sts.windows.net/{tid}/"
    v2 = f"https://login.microsoftonline.com/{tid}/v2.0"
    expected = {"1.0": [v1], "2.0": [v2]}.get(version or "", [v1, v2])
    if iss.lower() not in {value.lower() for value in expected}:
        shown = " or ".join(expected)
        findings.add("issuer_tenant_mismatch",
                     f"iss {iss} is not the issuer for tid {tid} and ver {version or '(none)'}: expected {shown}")
    if key_issuers and not any(_issuer_allows(key_issuer, iss, tid) for key_issuer in key_issuers):
        findings.add("issuer_tenant_mismatch",
                     f"key {key_id} is published for issuer {', '.join(key_issuers)} and may not sign "
                     f"tokens for iss {iss}")


def _check_audience(findings: _Findings, aud: object, expected: Collection[str] | None) -> None:
    if expected is None:
        return
    wanted = {value.strip().lower().rstrip("/") for value in expected}
    if not {value.strip().lower().rstrip("/") for value in _audiences(aud)} & wanted:
        findings.add("audience_mismatch",
                     f"aud {_audience_text(aud)} is not an expected audience ({', '.join(sorted(expected))})")


def _epoch(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _check_times(findings: _Findings, claims: Mapping[str, Any], now: datetime, leeway: timedelta) -> None:
    expires = _epoch(claims.get("exp"))
    if expires is None:
        findings.add("expired", f"exp claim {claims.get('exp')!r} is missing or not a number; "
                                "a token that never expires is refused")
    elif now > expires + leeway:
        findings.add("expired", f"token expired at {_iso(expires)}")
    not_before = claims.get("nbf")
    if not_before is not None:
        starts = _epoch(not_before)
        if starts is None:
            findings.add("not_yet_valid", f"nbf claim {not_before!r} is not a number")
        elif now + leeway < starts:
            findings.add("not_yet_valid", f"token is not valid before {_iso(starts)}")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
