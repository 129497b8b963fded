"""The optional webhook route for ``Tokenwarden.SigningKeys.Untrusted`` events, with Event Grid's handshakes.

Framework-free: :meth:`UntrustedKeyWebhook.handle` takes the method, headers and body and returns a
:class:`WebhookResponse`; the ASGI, WSGI and Functions adapters mount it on a path.

Handshakes, as Microsoft documents them (MicrosoftDocs/azure-docs):

* Event Grid schema (``articles/event-grid/end-point-validation-event-grid-events-schema.md``): the
  subscription's first POST carries ``aeg-event-type: SubscriptionValidation`` and an array holding one
  ``Microsoft.EventGrid.SubscriptionValidationEvent`` whose ``data.validationCode`` must be echoed as
  ``{"validationResponse": "<code>"}`` with 200 (202 is not accepted). The doc recommends checking the
  ``aeg-subscription-name`` header against the subscriptions you expect: ``subscriptions`` does that.
* CloudEvents v1.0 (``articles/event-grid/end-point-validation-cloud-events-schema.md``): an ``OPTIONS``
  request with ``WebHook-Request-Origin``; consent is a response carrying ``WebHook-Allowed-Origin`` (that
  origin, or ``*``) and ``WebHook-Allowed-Rate``, with ``Allow: POST``.

Deliveries are an Event Grid schema array, or CloudEvents (one object, or an array in batch mode). Only
``Tokenwarden.SigningKeys.Untrusted`` is acted on; its ``data.untrusted_kids`` go to ``on_keys``. Other types
are acknowledged and ignored, so Event Grid does not retry them for a day.

Anyone who can reach the route could otherwise make the app distrust keys, so a route without an
``authorize`` check cannot be built: pass :func:`header_secret` (a secret sent as an Event Grid delivery
header, ``deliveryAttributeMappings``) or your own check of the Entra token Event Grid can attach.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["UNTRUSTED_EVENT_TYPE", "UntrustedKeyWebhook", "WebhookResponse", "header_secret"]

UNTRUSTED_EVENT_TYPE = "Tokenwarden.SigningKeys.Untrusted"
VALIDATION_EVENT_TYPE = "Microsoft.EventGrid.SubscriptionValidationEvent"
MAX_BODY_BYTES = 1024 * 1024
"""Event Grid delivers at most 1 MB per request (64 KB per event for most SKUs); anything larger is not it."""


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _json(status: int, document: object) -> WebhookResponse:
    return WebhookResponse(status, {"Content-Type": "application/json"}, json.dumps(document).encode("utf-8"))


def header_secret(name: str, secret: str) -> Callable[[Mapping[str, str]], bool]:
    """An ``authorize`` check: the request carries header *name* equal to *secret* (compared in constant time)."""
    if not secret:
        raise ValueError("the webhook secret must not be empty")
    wanted = secret.encode("utf-8")
    lowered = name.lower()

    def check(headers: Mapping[str, str]) -> bool:
        return hmac.compare_digest(headers.get(lowered, "").encode("utf-8"), wanted)

    return check


class UntrustedKeyWebhook:
    """Receives untrusted-key events; ``on_keys`` gets the kids of each one."""

    def __init__(self, on_keys: Callable[[Iterable[str]], None], *,
                 authorize: Callable[[Mapping[str, str]], bool], subscriptions: Iterable[str] | None = None,
                 allowed_origins: Iterable[str] = ("eventgrid.azure.net",)) -> None:
        self._on_keys = on_keys
        self._authorize = authorize
        self._subscriptions = None if subscriptions is None else {s.lower() for s in subscriptions}
        self._origins = {o.lower() for o in allowed_origins}
        self.received = 0
        self.validated = 0

    def handle(self, method: str, headers: Mapping[str, str], body: bytes) -> WebhookResponse:
        """Answer one request; *headers* may use any case. Never raises."""
        lowered = {k.lower(): v for k, v in headers.items()}
        verb = method.upper()
        if verb == "OPTIONS":
            return self._abuse_protection(lowered)
        if verb != "POST":
            return WebhookResponse(405, {"Allow": "POST, OPTIONS"})
        if len(body) > MAX_BODY_BYTES:
            return _json(413, {"error": "body too large"})
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _json(400, {"error": "the body is not JSON"})
        events = document if isinstance(document, list) else [document]
        if not events or not all(isinstance(e, dict) for e in events):
            return _json(400, {"error": "expected an event or an array of events"})
        if lowered.get("aeg-event-type", "").lower() == "subscriptionvalidation" or any(
                e.get("eventType") == VALIDATION_EVENT_TYPE for e in events):
            return self._validation(lowered, events)  # harmless: it only echoes a code
        if not self._authorize(lowered):
            return _json(401, {"error": "unauthorized"})
        kids: list[str] = []
        for event in events:
            kind = event.get("eventType", event.get("type"))
            data = event.get("data")
            if kind != UNTRUSTED_EVENT_TYPE or not isinstance(data, dict):
                continue
            values = data.get("untrusted_kids")
            if isinstance(values, list):
                kids += [v for v in values if isinstance(v, str) and v.strip()]
        self.received += 1
        if kids:
            try:
                self._on_keys(kids)
            except Exception:  # acknowledged anyway: a redelivery would fail the same way
                return _json(200, {"received": len(events), "error": "the key callback failed"})
        return _json(200, {"received": len(events), "untrusted_kids": len(kids)})

    def _validation(self, headers: Mapping[str, str], events: list[dict[str, object]]) -> WebhookResponse:
        if self._subscriptions is not None and headers.get("aeg-subscription-name", "").lower() \
                not in self._subscriptions:
            return _json(403, {"error": "not a subscription this app expects"})
        event = events[0]
        data = event.get("data")
        code = data.get("validationCode") if isinstance(data, dict) else None
        if len(events) != 1 or event.get("eventType") != VALIDATION_EVENT_TYPE or not isinstance(code, str):
            return _json(400, {"error": "malformed subscription validation event"})
        self.validated += 1
        return _json(200, {"validationResponse": code})

    def _abuse_protection(self, headers: Mapping[str, str]) -> WebhookResponse:
        origin = headers.get("webhook-request-origin", "").strip()
        if not origin:
            return WebhookResponse(405, {"Allow": "POST"})  # not a validation request: OPTIONS is not served
        if "*" not in self._origins and origin.lower() not in self._origins:
            return WebhookResponse(403, {"Allow": "POST"})  # no consent headers: no consent
        return WebhookResponse(200, {"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*",
                                     "Allow": "POST, OPTIONS"})
