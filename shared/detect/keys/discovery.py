"""Fetching issuers' OpenID metadata and JWKS, with timeouts and a per-instance cache.

Entra asks relying parties to re-read the keys document at least every 24
hours; the cache keeps a document for ``ttl`` (default one hour) so a timer
firing every five minutes does not hammer the endpoints. A failed issuer is
reported, never silently treated as "publishes nothing": that would make every
token look unpublished.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from shared.core.clouds import AZURE_PUBLIC
from shared.core.errors import DataError, UpstreamError
from shared.detect.keys.jwks import PublishedKey, parse_jwks

__all__ = ["DEFAULT_AUTHORITY", "FetchOutcome", "JwksFetcher", "app_keys_url", "default_discovery_urls"]

DEFAULT_AUTHORITY = AZURE_PUBLIC.authority_host
_MAX_DOCUMENT_BYTES = 1 << 20

Fetch = Callable[[str, float], bytes]


def _urllib_fetch(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - https URLs from config
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read(_MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise UpstreamError(f"GET {url} answered {exc.code}", status=exc.code) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UpstreamError(f"GET {url} failed: {reason}") from None
    if len(body) > _MAX_DOCUMENT_BYTES:
        raise UpstreamError(f"GET {url} returned more than {_MAX_DOCUMENT_BYTES} bytes")
    return body


def default_discovery_urls(tenant_id: str | None, authority: str = DEFAULT_AUTHORITY) -> list[str]:
    """common, organizations and consumers v2.0, plus the tenant's own v1 and v2 metadata."""
    base = authority.rstrip("/")
    urls = [f"{base}/{segment}/v2.0/.well-known/openid-configuration"
            for segment in ("common", "organizations", "consumers")]
    if tenant_id:
        urls.append(f"{base}/{tenant_id}/.well-known/openid-configuration")
        urls.append(f"{base}/{tenant_id}/v2.0/.well-known/openid-configuration")
    return urls


def app_keys_url(app_id: str, tenant_id: str | None, authority: str = DEFAULT_AUTHORITY) -> str:
    """Where an app with claims mapping has its own signing keys published: ``…/discovery/v2.0/keys?appid=``.

    Source: Microsoft identity platform, "Signing key rollover" (MicrosoftDocs/entra-docs,
    docs/identity-platform/signing-key-rollover.md) and "Access tokens", section on validating the
    signature of apps with custom signing keys (claims mapping).
    """
    from urllib.parse import quote

    return f"{authority.rstrip('/')}/{quote(tenant_id or 'common', safe='')}/discovery/v2.0/keys?appid={quote(app_id)}"


@dataclass(frozen=True, kw_only=True)
class FetchOutcome:
    keys: tuple[PublishedKey, ...]
    failures: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.failures


@dataclass
class JwksFetcher:
    """Reads discovery documents and their JWKS; one instance per process keeps the cache."""

    timeout: float = 10.0
    ttl: timedelta = timedelta(hours=1)
    fetch: Fetch = _urllib_fetch
    clock: Callable[[], float] = time.monotonic
    _cache: dict[str, tuple[float, tuple[PublishedKey, ...]]] = field(default_factory=dict, repr=False)

    def _json(self, url: str) -> object:
        body = self.fetch(url, self.timeout)
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UpstreamError(f"GET {url} did not return JSON: {exc}") from None

    def keys_for(self, discovery_url: str) -> tuple[PublishedKey, ...]:
        cached = self._cache.get(discovery_url)
        now = self.clock()
        if cached and now - cached[0] < self.ttl.total_seconds():
            return cached[1]
        metadata = self._json(discovery_url)
        jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise UpstreamError(f"{discovery_url} names no usable jwks_uri")
        issuer = metadata.get("issuer") if isinstance(metadata, dict) else None
        keys = parse_jwks(self._json(jwks_uri), source=jwks_uri)
        if isinstance(issuer, str):
            keys = tuple(
                key if key.issuer else PublishedKey(
                    kid=key.kid, x5t=key.x5t, issuer=issuer, not_before=key.not_before,
                    not_after=key.not_after, source=key.source)
                for key in keys
            )
        self._cache[discovery_url] = (now, keys)
        return keys

    def app_keys(self, app_id: str, tenant_id: str | None,
                 authority: str = DEFAULT_AUTHORITY) -> tuple[PublishedKey, ...]:
        """The app-specific key set of ``app_id`` (a JWKS URL, no discovery document), cached like the others."""
        url = app_keys_url(app_id, tenant_id, authority)
        cached = self._cache.get(url)
        now = self.clock()
        if cached and now - cached[0] < self.ttl.total_seconds():
            return cached[1]
        keys = parse_jwks(self._json(url), source=url, app_id=app_id)
        self._cache[url] = (now, keys)
        return keys

    def fetch_apps(self, app_ids: Sequence[str], tenant_id: str | None,
                   authority: str = DEFAULT_AUTHORITY) -> FetchOutcome:
        """Every app's own key set; a failure is reported, as for the issuers."""
        keys: list[PublishedKey] = []
        failures: list[str] = []
        for app_id in app_ids:
            try:
                keys.extend(self.app_keys(app_id, tenant_id, authority))
            except UpstreamError as exc:
                failures.append(str(exc))
            except DataError as exc:
                failures.append(str(exc))
        return FetchOutcome(keys=tuple(keys), failures=tuple(failures))

    def fetch_all(self, discovery_urls: Sequence[str]) -> FetchOutcome:
        keys: list[PublishedKey] = []
        failures: list[str] = []
        for url in discovery_urls:
            try:
                keys.extend(self.keys_for(url))
            except UpstreamError as exc:
                failures.append(str(exc))
            except Exception as exc:
                failures.append(f"{url}: {exc}")
        return FetchOutcome(keys=tuple(keys), failures=tuple(failures))
