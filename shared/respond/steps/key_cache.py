"""The ``refresh_app_key_cache`` step's mechanisms: make apps drop cached signing keys and reload the issuer's JWKS.

Which app is told how comes from ``CACHE_REFRESH_APPS``, a JSON list of entries::

    [{"app_id": "<appId GUID or *>", "mechanism": "restart",
      "target": "/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Web/sites/<name>"},
     {"app_id": "<appId>", "mechanism": "endpoint", "target": "https://app.example/.well-known/refresh-keys",
      "scope": "api://<appId>/.default"},
     {"app_id": "*", "mechanism": "event_grid"}]

Three mechanisms, each one retry layer deep (:class:`~shared.respond.transport.retry.RetryPolicy`; the SDKs' own
retries are off) and with a connect and a read timeout on every request:

* ``restart``: ``POST {site}/restart`` through ARM (:class:`~shared.respond.transport.arm_client.ArmClient`), a full
  restart (not ``softRestart``, which may leave the process, and its key cache, running);
* ``endpoint``: ``POST`` to the app's own HTTPS refresh endpoint with the untrusted key ids, carrying a bearer
  token for ``scope`` (default ``api://{app_id}/.default``) from the managed identity;
* ``event_grid``: one ``Tokenwarden.SigningKeys.Untrusted`` event (EventGridEvent schema) on the topic in
  ``EVENT_GRID_TOPIC_ENDPOINT``, published with ``azure-eventgrid`` for the apps that subscribe.

Targets are deduplicated: several apps on one site get one restart, one endpoint gets one call, and the topic
gets one event. ``RefreshTarget.key`` is stable, so the engine can use it as the action target. The event id
(and the endpoint body's ``event_id``) is the engine's deterministic id, so a republished event is one that
subscribers have already seen. SDKs are imported where they are used, never on the cold-start path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast, get_args
from urllib.parse import urlsplit

from shared.core.errors import ConfigurationError, ThrottledError, UpstreamError
from shared.core.loopback import require_tls, uses_tls
from shared.core.resource_names import EVENT_TYPE_UNTRUSTED_KEYS
from shared.respond.transport.arm_client import ARM_ENDPOINT, ARM_SCOPE, ArmClient, bearer_pipeline
from shared.respond.transport.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from azure.core import AsyncPipelineClient
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.eventgrid.aio import EventGridPublisherClient

    from shared.core.settings import Settings

__all__ = [
    "EVENT_DATA_VERSION",
    "EVENT_SUBJECT",
    "SITE_RESTART_API_VERSION",
    "CacheRefreshApp",
    "KeyCacheRefresher",
    "Mechanism",
    "RefreshTarget",
    "parse_cache_refresh_apps",
]

Mechanism = Literal["restart", "endpoint", "event_grid"]
_MECHANISMS: tuple[str, ...] = get_args(Mechanism)

SITE_RESTART_API_VERSION = "2025-05-01"
"""``WebApps_Restart`` (Microsoft.Web); the default api-version of the current App Service management SDKs."""
EVENT_SUBJECT = "/tokenwarden/signing-keys"
EVENT_DATA_VERSION = "1.0"
_SETTING = "CACHE_REFRESH_APPS"
_FIELDS = frozenset({"app_id", "mechanism", "target", "scope"})
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SITE_ID = re.compile(
    r"/subscriptions/(?P<sub>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"/resourceGroups/(?P<rg>[-\w.()]{0,89}[-\w()])"
    r"/providers/Microsoft\.Web/sites/(?P<site>[A-Za-z0-9](?:[A-Za-z0-9-]{0,58}[A-Za-z0-9])?)",
    re.IGNORECASE,
)


@dataclass(frozen=True, kw_only=True)
class CacheRefreshApp:
    """One entry of ``CACHE_REFRESH_APPS``, validated; ``app_id`` is lower-cased (or ``*``)."""

    app_id: str
    mechanism: Mechanism
    target: str
    """The site's ARM resource id (restart), the refresh URL (endpoint), or empty (event_grid)."""
    scope: str | None = None
    """The token scope for ``endpoint``; always set for that mechanism, None otherwise."""


@dataclass(frozen=True, kw_only=True)
class RefreshTarget:
    """One thing to do, possibly on behalf of several apps."""

    mechanism: Mechanism
    target: str
    scope: str | None = None
    app_ids: tuple[str, ...] = ()
    """The apps this target serves (``*`` for a wildcard entry asked for all apps)."""

    @property
    def key(self) -> str:
        """Stable across runs and unique per target: ``restart:{site id, lower-cased}``, ``endpoint:{url}``,
        ``event_grid``."""
        if self.mechanism == "restart":
            return f"restart:{self.target.lower()}"
        if self.mechanism == "endpoint":
            return f"endpoint:{self.target}"
        return "event_grid"


# --- configuration ------------------------------------------------------------------------------------------
def _problem(index: int, field: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"{_SETTING} entry {index}, field {field!r}: {message}")


def _text(entry: Mapping[str, Any], index: int, field: str, *, required: bool) -> str | None:
    value = entry.get(field)
    if value is None:
        if required:
            raise _problem(index, field, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _problem(index, field, "must be a non-empty string")
    return value.strip()


def _endpoint_url(index: int, url: str) -> str:
    parts = urlsplit(url)
    if uses_tls(url) is None:
        raise _problem(index, "target", f"{url!r} must be an https URL (plain http only on loopback)")
    if parts.username or parts.password or parts.fragment:
        raise _problem(index, "target", "the URL must not carry credentials or a fragment")
    return url


def _parse_entry(index: int, entry: Any) -> CacheRefreshApp:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{_SETTING} entry {index}: must be a JSON object")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise _problem(index, unknown[0], f"is not a known field (expected {', '.join(sorted(_FIELDS))})")
    app_id = cast(str, _text(entry, index, "app_id", required=True))
    if app_id != "*" and not _GUID.fullmatch(app_id):
        raise _problem(index, "app_id", f"{app_id!r} is neither an appId GUID nor '*'")
    mechanism = cast(str, _text(entry, index, "mechanism", required=True))
    if mechanism not in _MECHANISMS:
        raise _problem(index, "mechanism", f"{mechanism!r} is not one of {', '.join(_MECHANISMS)}")
    target = _text(entry, index, "target", required=mechanism != "event_grid")
    scope = _text(entry, index, "scope", required=False)
    if mechanism != "endpoint" and scope is not None:
        raise _problem(index, "scope", f"applies only to the endpoint mechanism, not {mechanism}")
    if mechanism == "event_grid":
        if target is not None:
            raise _problem(index, "target", "must be omitted for event_grid (the topic is EVENT_GRID_TOPIC_ENDPOINT)")
        return CacheRefreshApp(app_id=app_id.lower(), mechanism="event_grid", target="")
    assert target is not None
    if mechanism == "restart":
        match = _SITE_ID.fullmatch(target)
        if match is None:
            raise _problem(index, "target", f"{target!r} is not a site resource id (/subscriptions/<guid>/"
                                            "resourceGroups/<name>/providers/Microsoft.Web/sites/<name>)")
        return CacheRefreshApp(app_id=app_id.lower(), mechanism="restart", target=target)
    url = _endpoint_url(index, target)
    if scope is None and app_id == "*":
        raise _problem(index, "scope", "is required when app_id is '*' (the default is api://{app_id}/.default)")
    return CacheRefreshApp(app_id=app_id.lower(), mechanism="endpoint", target=url,
                           scope=scope or f"api://{app_id.lower()}/.default")


def parse_cache_refresh_apps(text: str) -> tuple[CacheRefreshApp, ...]:
    """The entries of a ``CACHE_REFRESH_APPS`` value; empty text means none. Raises :class:`ConfigurationError`
    with one line naming the entry index and field."""
    if not text.strip():
        return ()
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"{_SETTING} is not valid JSON ({exc})") from None
    if not isinstance(document, list):
        raise ConfigurationError(f"{_SETTING} must be a JSON list of objects")
    entries = tuple(_parse_entry(index, entry) for index, entry in enumerate(document))
    scopes: dict[str, tuple[int, str | None]] = {}
    for index, entry in enumerate(entries):
        if entry.mechanism != "endpoint":
            continue
        seen = scopes.setdefault(entry.target, (index, entry.scope))
        if seen[1] != entry.scope:
            raise _problem(index, "scope", f"{entry.scope!r} differs from entry {seen[0]}'s {seen[1]!r} for the "
                                           "same endpoint; one endpoint gets one token audience")
    return entries


# --- the refresher ------------------------------------------------------------------------------------------
def _detail_of(error: Any) -> str:
    message = getattr(error, "message", None) or str(error)
    return " ".join(str(message).split())[:300]


class KeyCacheRefresher:
    """Chooses refresh targets for the apps that accepted a token and runs one target at a time.

    Build it with :meth:`from_settings`, or directly with the parsed entries. It owns the HTTP clients it
    creates (an :class:`ArmClient` passed in stays the caller's); close it with :meth:`close` or ``async with``.
    """

    def __init__(self, apps: Sequence[CacheRefreshApp], *, credential: TokenCredential | AsyncTokenCredential,
                 arm: ArmClient | None = None, arm_endpoint: str = ARM_ENDPOINT, event_grid_endpoint: str = "",
                 retry: RetryPolicy | None = None, timeout: float = 30.0, arm_scope: str = ARM_SCOPE,
                 now: Callable[[], datetime] | None = None) -> None:
        self.apps = tuple(apps)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._credential = credential
        self._owns_arm = arm is None
        self._arm = arm
        self._arm_endpoint = arm_endpoint
        self._arm_scope = arm_scope
        self._event_grid_endpoint = event_grid_endpoint.rstrip("/")
        self._now = now or (lambda: datetime.now(UTC))
        self._endpoint_clients: dict[str, AsyncPipelineClient[Any, Any]] = {}
        self._event_grid: EventGridPublisherClient | None = None
        if any(app.mechanism == "event_grid" for app in self.apps):
            if not self._event_grid_endpoint:
                index = next(i for i, app in enumerate(self.apps) if app.mechanism == "event_grid")
                raise _problem(index, "mechanism", "event_grid needs EVENT_GRID_TOPIC_ENDPOINT to be set")
            self._event_grid_https = require_tls(self._event_grid_endpoint, "EVENT_GRID_TOPIC_ENDPOINT")

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential | AsyncTokenCredential, *,
                      arm: ArmClient | None = None, retry: RetryPolicy | None = None,
                      timeout: float = 30.0) -> KeyCacheRefresher:
        """``CACHE_REFRESH_APPS``, ``ARM_ENDPOINT`` and ``EVENT_GRID_TOPIC_ENDPOINT`` from *settings*; *credential*
        is the app's managed identity (it signs ARM, endpoint and Event Grid requests)."""
        return cls(parse_cache_refresh_apps(settings.cache_refresh_apps), credential=credential, arm=arm,
                   arm_endpoint=settings.arm_endpoint, event_grid_endpoint=settings.event_grid_topic_endpoint,
                   retry=retry, timeout=timeout, arm_scope=settings.cloud.arm_scope)

    # --- selection -------------------------------------------------------------------------------------------
    def targets_for(self, app_ids: Sequence[str] | None) -> list[RefreshTarget]:
        """The deduplicated targets for *app_ids* (the apps that accepted the token), in configuration order;
        ``None`` means every registered app. ``*`` entries apply to every app."""
        wanted = None if app_ids is None else {a.strip().lower() for a in app_ids if a and a.strip()}
        found: dict[str, RefreshTarget] = {}
        for app in self.apps:
            if wanted is None:
                served: tuple[str, ...] = (app.app_id,)
            elif app.app_id == "*":
                served = tuple(sorted(wanted))
            elif app.app_id in wanted:
                served = (app.app_id,)
            else:
                continue
            if not served:
                continue
            target = RefreshTarget(mechanism=app.mechanism, target=app.target, scope=app.scope, app_ids=served)
            previous = found.get(target.key)
            if previous is not None:
                merged = tuple(dict.fromkeys((*previous.app_ids, *served)))
                target = RefreshTarget(mechanism=previous.mechanism, target=previous.target, scope=previous.scope,
                                       app_ids=merged)
            found[target.key] = target
        return list(found.values())

    def unconfigured(self, app_ids: Sequence[str]) -> list[str]:
        """The apps in *app_ids* that no entry (and no ``*`` entry) covers, so the caller can say so."""
        if any(app.app_id == "*" for app in self.apps):
            return []
        known = {app.app_id for app in self.apps}
        return [a for a in dict.fromkeys(a.strip().lower() for a in app_ids if a.strip()) if a not in known]

    # --- actions ---------------------------------------------------------------------------------------------
    async def refresh(self, target: RefreshTarget, *, untrusted_kids: Sequence[str], event_id: str,
                      reason: str) -> dict[str, Any]:
        """Run one target; returns a JSON-able detail. Raises :class:`UpstreamError` (retries exhausted or a
        status that retrying cannot fix) or :class:`ConfigurationError`."""
        kids = sorted(dict.fromkeys(k.strip() for k in untrusted_kids if k and k.strip()))
        if target.mechanism == "restart":
            return await self._restart(target)
        if target.mechanism == "endpoint":
            return await self._call_endpoint(target, kids=kids, event_id=event_id, reason=reason)
        if target.mechanism == "event_grid":
            return await self._publish(target, kids=kids, event_id=event_id, reason=reason)
        raise ConfigurationError(f"unknown refresh mechanism {target.mechanism!r}")

    async def _restart(self, target: RefreshTarget) -> dict[str, Any]:
        match = _SITE_ID.fullmatch(target.target)
        if match is None:
            raise ConfigurationError(f"{target.target!r} is not a site resource id")
        if self._arm is None:
            self._arm = ArmClient(self._credential, endpoint=self._arm_endpoint, retry=self.retry,
                                  timeout=self.timeout, scope=self._arm_scope)
        response = await self._arm.request("POST", f"{target.target}/restart", api_version=SITE_RESTART_API_VERSION,
                                           what=f"restart site {match['site']}")
        return {"mechanism": "restart", "site": target.target, "status": response.status,
                "api_version": SITE_RESTART_API_VERSION, "apps": list(target.app_ids)}

    def _endpoint_client(self, scope: str) -> AsyncPipelineClient[Any, Any]:
        client = self._endpoint_clients.get(scope)
        if client is None:
            # base_url is required but unused: every request carries its absolute URL.
            client = bearer_pipeline(self._credential, scope, base_url="https://localhost")
            self._endpoint_clients[scope] = client
        return client

    async def _call_endpoint(self, target: RefreshTarget, *, kids: list[str], event_id: str,
                             reason: str) -> dict[str, Any]:
        if target.scope is None:
            raise ConfigurationError(f"endpoint {target.target} has no token scope")
        enforce_https = require_tls(target.target, "the refresh endpoint")
        body = {"event_id": event_id, "event_type": EVENT_TYPE_UNTRUSTED_KEYS, "untrusted_kids": kids,
                "reason": reason, "published_at": _iso(self._now())}
        attempts = 0
        async for attempt in self.retry.retrying():
            with attempt:
                attempts += 1
                status = await self._post_once(target, body, enforce_https=enforce_https)
        return {"mechanism": "endpoint", "url": target.target, "scope": target.scope, "status": status,
                "event_id": event_id, "kids": kids, "attempts": attempts, "apps": list(target.app_ids)}

    async def _post_once(self, target: RefreshTarget, body: Mapping[str, Any], *, enforce_https: bool) -> int:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        assert target.scope is not None
        request = HttpRequest("POST", target.target, headers={"Accept": "application/json"}, json=dict(body))
        what = f"refresh endpoint {urlsplit(target.target).hostname}"
        try:
            response = await self._endpoint_client(target.scope).send_request(
                request, enforce_https=enforce_https, connection_timeout=min(10.0, self.timeout),
                read_timeout=self.timeout)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise UpstreamError(f"{what}: {type(exc).__name__}: {_detail_of(exc)}") from None
        status = int(response.status_code)
        if 200 <= status < 300:
            return status
        hint = parse_retry_after(response.headers.get("Retry-After"))
        message = f"{what}: answered {status}"
        if status == 429:
            raise ThrottledError(message, status=429, retry_after=hint)
        raise UpstreamError(message, status=status, retry_after=hint)

    def _publisher(self) -> EventGridPublisherClient:
        if self._event_grid is None:
            from azure.eventgrid.aio import EventGridPublisherClient

            # retry_total=0: the RetryPolicy around each send is the one retry layer.
            self._event_grid = EventGridPublisherClient(self._event_grid_endpoint, self._credential,  # type: ignore[arg-type]
                                                        retry_total=0)
        return self._event_grid

    async def _publish(self, target: RefreshTarget, *, kids: list[str], event_id: str,
                       reason: str) -> dict[str, Any]:
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
        from azure.eventgrid import EventGridEvent

        if not self._event_grid_endpoint:
            raise ConfigurationError("the event_grid mechanism needs EVENT_GRID_TOPIC_ENDPOINT to be set")
        now = self._now()
        event = EventGridEvent(subject=EVENT_SUBJECT, event_type=EVENT_TYPE_UNTRUSTED_KEYS,
                               data={"untrusted_kids": kids, "reason": reason, "published_at": _iso(now)},
                               data_version=EVENT_DATA_VERSION, id=event_id, event_time=now)
        what = f"publish {EVENT_TYPE_UNTRUSTED_KEYS} to {urlsplit(self._event_grid_endpoint).hostname}"
        attempts = 0
        async for attempt in self.retry.retrying():
            with attempt:
                attempts += 1
                try:
                    # enforce_https=False reaches the bearer policy only for the loopback simulator (plain http).
                    await self._publisher().send([event], enforce_https=self._event_grid_https,
                                                 connection_timeout=min(10.0, self.timeout), read_timeout=self.timeout)
                except HttpResponseError as exc:
                    status = exc.status_code
                    hint = _retry_after_of(exc)
                    message = f"{what}: answered {status}"
                    if status == 429:
                        raise ThrottledError(message, status=429, retry_after=hint) from None
                    raise UpstreamError(message, status=status, retry_after=hint) from None
                except (ServiceRequestError, ServiceResponseError) as exc:
                    raise UpstreamError(f"{what}: {type(exc).__name__}: {_detail_of(exc)}") from None
        return {"mechanism": "event_grid", "topic": self._event_grid_endpoint, "event_id": event_id,
                "event_type": EVENT_TYPE_UNTRUSTED_KEYS, "kids": kids, "attempts": attempts,
                "apps": list(target.app_ids)}

    # --- lifecycle -------------------------------------------------------------------------------------------
    async def close(self) -> None:
        clients, self._endpoint_clients = list(self._endpoint_clients.values()), {}
        for client in clients:
            await client.close()
        if self._event_grid is not None:
            publisher, self._event_grid = self._event_grid, None
            await publisher.close()
        if self._owns_arm and self._arm is not None:
            arm, self._arm = self._arm, None
            await arm.close()

    async def __aenter__(self) -> KeyCacheRefresher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _retry_after_of(error: Any) -> float | None:
    """The Retry-After hint on an azure-core ``HttpResponseError``'s response, if any."""
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    return parse_retry_after(headers.get("Retry-After"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
