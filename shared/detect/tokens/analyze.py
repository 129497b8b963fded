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

Genuine Microsoft tokens need three allowances, each from Microsoft's own behaviour:

- A ``nonce`` in the header (Microsoft Graph and Teams tokens) is signed in hashed form: the token's
  signature covers the header with ``nonce`` replaced by the base64url SHA-256 of its value, so the
  signature is checked over that header. Such tokens are meant only for their own resource; the
  verdict's ``notes`` say so. Sources: AzureAD/azure-activedirectory-identitymodel-extensions-for-dotnet
  issues #609 ("Cannot validate signature") and #853 ("Validation of token issued for MSGraph failed"),
  where the maintainers explain that Graph tokens are not for other apps to validate; MicrosoftDocs/
  azure-docs issue #80018 ("the signature is over the transformed nonce"); and the workaround in
  justinlettau/azure-ad-verify-token issue #5 (base64url of the SHA-256 digest).
- A key set without ``issuer`` fields is the v1 endpoint's (``/common/discovery/keys``): its keys
  may sign a token for the Entra issuer of the token's own ``tid`` and ``ver``. A key whose
  ``issuer`` is a v2.0 issuer is judged only against v2.0 tokens, and a v1 token
  (``https://sts.windows.net/{tid}/``) only against v1 keys: the verdict names the key set it needs.
- App-specific keys (apps with claims mapping, ``…/discovery/v2.0/keys?appid=<appId>``): a key set
  configured under a name holding ``appid=<appId>`` counts only for tokens whose ``aud`` is that app.

Keys come from the caller as a mapping of *configured* issuer to its JWKS document: the analyzer
never fetches anything, and in particular never follows ``iss``, ``jku``, ``x5u`` or an embedded
``jwk`` from the token itself. Those are attacker-controlled; fetching them would be an SSRF and
trusting them would let any token vouch for itself.

Source: Microsoft identity platform, "Access tokens" (validate the signature, issuer, tid and aud)
https://learn.microsoft.com/entra/identity-platform/access-tokens
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from shared.core.errors import ConfigurationError, DataError
from shared.detect.apps import AppCatalog, AppInfo
from shared.detect.keys.compromised import CompromisedKey, CompromisedKeyList, load_compromised_keys
from shared.detect.keys.jwks import PublishedKey, parse_jwks

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
_APP_KEYS = re.compile(r"appid=([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_V1_PREFIX = "https://sts.windows.net/"
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
    notes: tuple[str, ...] = ()
    """Facts that are not faults: a nonce token is meant only for its own resource, say."""

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
            "notes": list(self.notes),
            "header": dict(self.header),
            "claims": dict(self.claims),
        }


@dataclass(frozen=True)
class _KeyMatch:
    configured_issuer: str
    key_issuer: str | None
    """The key's own ``issuer``; None for a v1 key set, which names none."""
    entry: Mapping[str, object]
    where: str
    app_id: str | None = None
    """Set for an app-specific key set (``?appid=``): the only audience its keys sign for."""

    def issuer_for(self, tid: str | None, version: str | None) -> str | None:
        """The issuer this key may sign for, filled for a token of tenant ``tid`` and version ``version``."""
        if self.key_issuer is not None:
            return self.key_issuer
        if tid is None:
            return None
        return _V1_PREFIX + tid + "/" if version == "1.0" else f"https://login.microsoftonline.com/{tid}/v2.0"


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

    version = _text(claims.get("ver"))
    audiences = {value.strip().lower().rstrip("/") for value in _audiences(claims.get("aud"))}
    found = _matching_keys(keys, kid, x5t)
    matches = [match for match in found if _serves(match, version, audiences)]
    published_by = tuple(dict.fromkeys(match.configured_issuer for match in matches))
    key_issuers = tuple(dict.fromkeys(
        issuer for issuer in (match.issuer_for(tid, version) for match in matches) if issuer is not None))
    if key_id is None:
        findings.add("unpublished_key", "header names no signing key (neither kid nor x5t)")
    elif not found:
        findings.add("unpublished_key", f"signing key {key_id} is published by none of the configured issuers")
    elif not matches:
        findings.add("unpublished_key", f"signing key {key_id} is published only in {_unserved(found, version)}")

    notes: list[str] = []
    nonce = header.get("nonce")
    if isinstance(nonce, str):
        notes.append("the header carries a nonce: Microsoft signs such tokens (Microsoft Graph, Teams) over the "
                     "SHA-256 of the nonce, and they are meant only for their own resource "
                     f"({_audience_text(claims.get('aud'))}); an app that accepts one for itself is being handed "
                     "a token for another resource")
    signature_verified = False
    if algorithm != _ACCEPTED_ALGORITHM:
        findings.add("unsupported_algorithm",
                     f"header alg {algorithm!r} is not {_ACCEPTED_ALGORITHM}; the signature was not checked")
    elif matches:
        signature_verified = _verify_signature(_signed_form(compact, header), matches)
        if not signature_verified:
            findings.add("bad_signature", f"RS256 signature does not verify with published key {key_id}"
                         + ("" if _signature_decodes(compact) else " (the signature segment does not decode: "
                            "is the token truncated?)"))

    app = _audience_app(apps, claims.get("aud"))
    if matches and key_issuers and all(_is_consumer_issuer(issuer) for issuer in key_issuers):
        if app is None:
            aud_text = _audience_text(claims.get("aud"))
            findings.add("consumer_key_for_org_app",
                         f"key {key_id} is published only for the Microsoft-account issuer, and audience "
                         f"{aud_text} is an app Tokenwarden has no metadata for (treated as organizations-only)")
        elif not app.admits_personal_accounts:
            findings.add("consumer_key_for_org_app",
                         f"key {key_id} is published only for the Microsoft-account issuer, but app "
                         f"{app.display_name} ({app.app_id}) has signInAudience {app.sign_in_audience}")

    _check_issuer(findings, iss=iss, tid=tid, version=version, key_issuers=key_issuers, key_id=key_id)
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
        notes=tuple(notes),
    )


def decode_unverified(token: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS, read without verifying anything. Raises DataError.

    A token that does not fully decode (one cut short when it was copied, as tokens in docs often
    are) is refused with a message that shows every part that did decode and names the part that
    failed. The signature segment is not decoded here: a truncated signature still lets the token be
    judged (it will not verify).
    """
    if not isinstance(token, str):
        raise DataError(f"token must be a string, not {type(token).__name__}")
    compact = token.strip()
    if not compact:
        raise DataError("token is empty")
    if len(compact) > MAX_TOKEN_CHARS:
        raise DataError(f"token is {len(compact)} characters; the limit is {MAX_TOKEN_CHARS}")
    segments = compact.split(".")
    if len(segments) != 3:
        kind = " (an encrypted JWE is not an access token Tokenwarden can read)" if len(segments) == 5 else ""
        shown = _decoded_prefix(segments)
        raise DataError(f"not a signed JWT: expected 3 dot-separated segments, found {len(segments)}{kind}"
                        + (f"; {shown}" if shown else ""))
    header = _segment_object(segments[0], "header", "")
    claims = _segment_object(segments[1], "claims", f"header decodes to {_compact_json(header)}")
    return header, claims


def _b64url(segment: str) -> bytes:
    """Strict base64url (padding optional); ValueError naming what is wrong."""
    if not _BASE64URL.match(segment):
        raise ValueError("holds characters outside base64url")
    if len(segment) % 4 == 1:
        raise ValueError("has a length no base64url text can have (cut short?)")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(str(exc)) from None


def _segment_object(segment: str, name: str, decoded_so_far: str) -> dict[str, Any]:
    """One JSON-object segment, or a DataError saying which part failed and what decoded before it."""
    before = f"; {decoded_so_far}" if decoded_so_far else ""
    try:
        raw = _b64url(segment)
    except ValueError as exc:
        raise DataError(f"not a JWT: the {name} segment is not base64url: it {exc}{before}") from None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        partial = raw.decode("utf-8", errors="replace")
        shown = partial if len(partial) <= 200 else partial[:197] + "..."
        raise DataError(f"not a JWT: the {name} segment is not complete JSON (is the token truncated?): "
                        f"it decodes to {shown!r}{before}") from None
    if not isinstance(value, dict):
        raise DataError(f"not a JWT: the {name} is not a JSON object{before}")
    return value


def _decoded_prefix(segments: Sequence[str]) -> str:
    """What the first segments of a malformed token decode to, for the error message."""
    parts: list[str] = []
    for name, segment in zip(("header", "claims"), segments, strict=False):
        try:
            value = json.loads(_b64url(segment).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            break
        parts.append(f"{name} decodes to {_compact_json(value)}")
    return "; ".join(parts)


def _compact_json(value: object) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=False)
    return text if len(text) <= 300 else text[:297] + "..."


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
        app = _APP_KEYS.search(configured)
        for index, (key, entry) in enumerate(zip(published, entries, strict=True)):
            if wanted & {key.kid, key.x5t}:
                matches.append(_KeyMatch(
                    configured_issuer=configured, key_issuer=key.issuer or _named_issuer(configured), entry=entry,
                    where=f"{source}: keys[{index}]", app_id=app.group(1).lower() if app else None))
    return matches


def _named_issuer(configured: str) -> str | None:
    """A key without ``issuer`` takes the configured name when that is an issuer URL; else it is a v1 key set."""
    if configured.startswith("https://") and "/discovery/" not in configured and "appid=" not in configured:
        return configured
    return None


def _key_version(match: _KeyMatch) -> str | None:
    """``1.0`` or ``2.0`` for a key whose issuer says which; None for a v1 key set (it serves both)."""
    if match.key_issuer is None:
        return None
    return "1.0" if match.key_issuer.lower().startswith(_V1_PREFIX) else "2.0"


def _serves(match: _KeyMatch, version: str | None, audiences: set[str]) -> bool:
    """Whether ``match`` may sign a token of ``version`` for ``audiences``: its issuer's version, its app."""
    if match.app_id is not None and not audiences & {match.app_id, f"api://{match.app_id}"}:
        return False
    key_version = _key_version(match)
    return key_version is None or version is None or key_version == version


def _unserved(found: Sequence[_KeyMatch], version: str | None) -> str:
    """Why the key sets that hold the key do not count for this token, in words naming the set it needs."""
    apps = sorted({match.app_id for match in found if match.app_id})
    if apps and all(match.app_id for match in found):
        return f"the app-specific key set of {', '.join(apps)}, and the token's aud is not that app"
    if version == "1.0":
        return ("v2.0 key sets; a v1 token (iss https://sts.windows.net/{tid}/) is judged against the v1 key set "
                "(/common/discovery/keys): add it")
    return "v1 key sets for another version; a v2.0 token is judged against the v2.0 key set (/discovery/v2.0/keys)"


def _signed_form(compact: str, header: Mapping[str, Any]) -> str:
    """The token as Microsoft signed it: a header ``nonce`` replaced by the base64url SHA-256 of its value.

    The header is re-serialised compactly in its own key order, as Entra writes it.
    """
    nonce = header.get("nonce")
    if not isinstance(nonce, str):
        return compact
    digest = hashlib.sha256(nonce.encode("utf-8")).digest()
    hashed = dict(header)
    hashed["nonce"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    encoded = base64.urlsafe_b64encode(json.dumps(hashed, separators=(",", ":")).encode("utf-8"))
    _, payload, signature = compact.split(".")
    return f"{encoded.rstrip(b'=').decode('ascii')}.{payload}.{signature}"


def _signature_decodes(compact: str) -> bool:
    try:
        _b64url(compact.rsplit(".", 1)[-1])
    except ValueError:
        return False
    return True


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
