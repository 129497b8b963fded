"""``POST /tokens/analyze``: judge a raw JWT against the configured issuers' keys (:mod:`shared.detect.tokens`).

The keys are the configured issuers' (``KEY_SOURCES``: JWKS files or OpenID discovery URLs; by default
Entra's, as a scan reads them), fetched for this request. Nothing the token names is ever fetched: its
``iss``, ``jku``, ``x5u`` or embedded ``jwk`` are the attacker's. Every configured source must be read: a
source that fails would make its keys look unpublished, so the answer is then 503, not a wrong verdict.

The token is neither stored nor logged; error messages never quote it (and :func:`shared.api.errors.redact`
removes anything JWT-shaped in case one does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.api.http import ApiCall, parse_body
from shared.api.models import AnalyzeTokenRequest, AnalyzeTokenResponse
from shared.core.errors import ConfigurationError, DataError, UpstreamError

if TYPE_CHECKING:
    from shared.core.settings import Settings
    from shared.detect.apps import AppCatalog
    from shared.detect.keys.discovery import JwksFetcher

__all__ = ["analyze", "issuer_keys"]

KEY_FETCH_TIMEOUT = 10.0
"""Seconds per discovery or JWKS document; a source has two, and the defaults are three to five sources."""
_MAX_DOCUMENT_BYTES = 1 << 20


def _is_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def _document(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise UpstreamError(f"{where} did not return JSON: {type(exc).__name__}") from None


def _discovered(source: str, fetcher: JwksFetcher) -> tuple[str, Mapping[str, Any]]:
    """(issuer, JWKS document) from an OpenID discovery URL; keys without an ``issuer`` get the metadata's."""
    from shared.detect.keys.jwks import parse_jwks

    metadata = _document(fetcher.fetch(source, fetcher.timeout), source)
    jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://127.0.0.1",
                                                                 "http://localhost")):
        raise UpstreamError(f"{source} names no usable jwks_uri")
    issuer = metadata.get("issuer")
    document = _document(fetcher.fetch(jwks_uri, fetcher.timeout), jwks_uri)
    try:
        parse_jwks(document, source=jwks_uri)
    except DataError as exc:
        raise UpstreamError(f"{jwks_uri} is not a usable JWKS document: {exc}") from None
    keys = [dict(entry) for entry in document["keys"]]
    if isinstance(issuer, str) and issuer:
        for entry in keys:
            entry.setdefault("issuer", issuer)
    return (issuer if isinstance(issuer, str) and issuer else source), {"keys": keys}


def _from_file(source: str) -> tuple[str, Mapping[str, Any]]:
    """(issuer, JWKS document) from a JWKS file: its keys' single ``issuer`` if they share one, else the path."""
    from shared.core.jsonfile import read_json_file
    from shared.detect.keys.jwks import parse_jwks

    try:
        document = read_json_file(Path(source), "JWKS file")
        published = parse_jwks(document, source=source)
    except DataError as exc:
        raise ConfigurationError(f"not a usable JWKS file: {exc}", location=source) from None
    issuers = {key.issuer for key in published if key.issuer}
    return (issuers.pop() if len(issuers) == 1 else source), document


def issuer_keys(settings: Settings, *, fetcher: JwksFetcher | None = None) -> dict[str, Mapping[str, Any]]:
    """Configured issuer -> its JWKS document, for every configured key source.

    :raises UpstreamError: a discovery URL or its JWKS could not be read (503: a partial key set would
        make a published key look unpublished).
    :raises ConfigurationError: a JWKS file is missing or malformed.
    """
    from shared.detect.keys.discovery import JwksFetcher
    from shared.detect.keys.drift import configured_key_sources

    fetcher = fetcher or JwksFetcher(timeout=KEY_FETCH_TIMEOUT)
    lookup: dict[str, Mapping[str, Any]] = {}
    for source in configured_key_sources(settings):
        issuer, document = _discovered(source, fetcher) if _is_url(source) else _from_file(source)
        if issuer in lookup:  # two sources for one issuer (common and organizations share keys): merge them
            merged = [*lookup[issuer]["keys"], *document["keys"]]
            document = {"keys": merged}
        lookup[issuer] = document
    if not lookup:
        raise ConfigurationError("no key sources are configured (KEY_SOURCES)")
    return lookup


def _apps(settings: Settings) -> AppCatalog | None:
    if not settings.app_catalog_file:
        return None
    from shared.detect.apps import read_apps_file

    try:
        return read_apps_file(Path(settings.app_catalog_file))
    except DataError as exc:
        raise ConfigurationError(f"APP_CATALOG_FILE: {exc}") from None


def analyze(call: ApiCall, settings: Settings) -> AnalyzeTokenResponse:
    """``POST /tokens/analyze``: 422 for a token that does not decode, 503 when the keys cannot be read."""
    from shared.detect.keys.compromised import load_compromised_keys
    from shared.detect.tokens import analyze_token, decode_unverified

    request = parse_body(call.request, AnalyzeTokenRequest)
    decode_unverified(request.token)  # DataError (422) before any key is fetched
    keys = issuer_keys(settings)
    try:
        verdict = analyze_token(request.token, keys=keys, apps=_apps(settings),
                                expected_audiences=[request.audience] if request.audience else None,
                                compromised=load_compromised_keys(settings.extra_compromised_keys))
    except DataError as exc:  # the token decoded above, so this is a published key that is not usable
        raise UpstreamError(f"a configured issuer publishes an unusable key: {exc}") from None
    return AnalyzeTokenResponse.model_validate(verdict.to_json())
