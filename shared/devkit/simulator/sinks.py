"""Receivers for what responders send out: a webhook sink (Teams-style notifications), an app's key-refresh
endpoint and an Event Grid topic.

* ``POST /_sinks/webhook/{name}`` stores the JSON body under ``name`` in
  ``state.webhooks`` and answers 200 with an empty body; a body that is not
  JSON is a 400. Like an incoming webhook URL, it takes no bearer token.
* ``POST /_sinks/refresh/{name}`` is an app's signing-key refresh endpoint: it
  needs ``Authorization: Bearer <token>`` (401 without one) and a JSON body
  (400 otherwise); it appends ``{"body", "audience", "scope"}`` to
  ``state.refresh_calls[name]`` and answers 200 with an empty body. The token
  is not validated; when it is JWT-shaped, its unverified ``aud`` and ``scp``
  (or ``roles``) claims are recorded, so tests can see which scope a token was
  asked for. Injected faults (``faults.fail("/refresh/*")``) apply as anywhere.
* ``POST /api/events?api-version=2018-01-01`` is an Event Grid topic endpoint:
  a JSON array of EventGridEvent-schema events, each with ``id``, ``subject``,
  ``eventType``, ``eventTime`` (ISO 8601), ``data`` and ``dataVersion``. All or
  nothing: one invalid event makes the whole request a 400; otherwise 200 with
  an empty body and the events appended to ``state.events``. It takes only an
  ``Authorization: Bearer`` token whose audience is Event Grid's
  (shared/core/clouds.py): Tokenwarden's topics disable
  local auth (``disableLocalAuth`` in infra/app/events.bicep), so an ``aeg-sas-key``
  or ``aeg-sas-token`` is refused, as is a token for another service (401).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from shared.core.clouds import AZURE_PUBLIC
from shared.devkit.simulator.arm import arm_error
from shared.devkit.simulator.responses import GraphResponse
from shared.devkit.simulator.routing import RequestContext, Route, Router, SimulatorApp

__all__ = ["EVENT_GRID_ROOT", "SINK_ROOT", "bearer_audience", "event_grid_router", "sink_router"]

SINK_ROOT = "_sinks"
EVENT_GRID_ROOT = "api"
_REQUIRED_EVENT_FIELDS = ("id", "subject", "eventType", "eventTime", "data", "dataVersion")


def sink_router() -> Router:
    router = Router()
    router.add(Route(method="POST", template="/webhook/{name}", handler=receive_webhook))
    router.add(Route(method="POST", template="/refresh/{name}", handler=receive_refresh))
    return router


def event_grid_router() -> Router:
    router = Router()
    router.add(Route(method="POST", template="/events", handler=publish_events))
    return router


def receive_webhook(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    try:
        body = json.loads(context.body or b"")
    except (ValueError, UnicodeDecodeError):
        return arm_error(400, "BadRequest", "The webhook body must be JSON.")
    name = context.params["name"]
    with app.state.lock:
        app.state.webhooks.setdefault(name, []).append(body)
        key = context.header("idempotency-key")
        app.state.record_write("webhook", name, context.ids.date, **({"idempotency_key": key} if key else {}))
    return GraphResponse(200)


def receive_refresh(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    scheme, _, token = (context.header("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return arm_error(401, "Unauthorized", "A bearer token is required.",
                         headers={"WWW-Authenticate": 'Bearer realm="tokenwarden-refresh"'})
    try:
        body = json.loads(context.body or b"")
    except (ValueError, UnicodeDecodeError):
        return arm_error(400, "BadRequest", "The refresh body must be JSON.")
    claims = _unverified_claims(token.strip())
    scope = claims.get("scp", claims.get("roles"))
    call: dict[str, object] = {"body": body, "audience": claims.get("aud"), "scope": scope}
    name = context.params["name"]
    with app.state.lock:
        app.state.refresh_calls.setdefault(name, []).append(call)
        app.state.record_write("refreshKeys", name, context.ids.date)
    return GraphResponse(200)


def _unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified (the simulator checks presence, not validity); {} for any other token."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def bearer_audience(context: RequestContext) -> str | None:
    """The (unverified) ``aud`` of the request's bearer token; None without a bearer token or an ``aud``."""
    scheme, _, token = (context.header("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    audience = _unverified_claims(token.strip()).get("aud")
    return audience.rstrip("/") if isinstance(audience, str) else None


def publish_events(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    if any(context.header(name) for name in ("aeg-sas-key", "aeg-sas-token")):
        return arm_error(401, "Unauthorized", "Local authentication (access keys and SAS tokens) is disabled on "
                                              "this topic; use a Microsoft Entra token.")
    if bearer_audience(context) != AZURE_PUBLIC.event_grid_audience:
        return arm_error(401, "Unauthorized", "The request needs a Microsoft Entra bearer token for "
                                              f"{AZURE_PUBLIC.event_grid_audience}.")
    versions = parse_qs(context.query).get("api-version")
    if not versions or not versions[0]:
        return arm_error(400, "BadRequest", "The api-version query parameter is required.")
    try:
        body = json.loads(context.body or b"")
    except (ValueError, UnicodeDecodeError):
        return arm_error(400, "BadRequest", "The request body is not valid JSON.")
    if not isinstance(body, list) or not body:
        return arm_error(400, "BadRequest", "The request body must be a non-empty JSON array of events.")
    for index, event in enumerate(body):
        problem = _invalid_event(event)
        if problem is not None:
            return arm_error(400, "BadRequest", f"Event {index}: {problem}")
    with app.state.lock:
        app.state.events.extend(body)
        app.state.record_write("publishEvents", context.path, context.ids.date, count=len(body),
                               ids=[event["id"] for event in body])
    return GraphResponse(200)


def _invalid_event(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "an event must be a JSON object."
    for name in _REQUIRED_EVENT_FIELDS:
        if name not in event or event[name] is None:
            return f"the required property '{name}' is missing."
        if name != "data" and (not isinstance(event[name], str) or not event[name]):
            return f"the property '{name}' must be a non-empty string."
    try:
        datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
    except ValueError:
        return f"the eventTime '{event['eventTime']}' is not an ISO 8601 date and time."
    if event.get("metadataVersion") not in (None, "1"):
        return "the metadataVersion must be '1' when given."
    return None
