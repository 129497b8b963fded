"""ASGI middleware (FastAPI, Starlette, any ASGI app)::

    app.add_middleware(TokenwardenMiddleware, sensor=sensor)            # Starlette / FastAPI
    app = TokenwardenMiddleware(app, sensor=sensor)                     # any ASGI app

The app's own validation runs unchanged. The middleware reads the bearer token, refuses it first when the
sensor says so (untrusted key; red flags if the app opted in), and records the outcome, as the response starts,
from its status, or from ``scope["state"]["tokenwarden_outcome"]`` / ``["tokenwarden_failure_reason"]`` when the app
sets them (``request.state.tokenwarden_outcome = "Rejected"`` in Starlette). With ``webhook`` set, POST and
OPTIONS on ``webhook_path`` are the untrusted-key event route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from tokenwarden_sensor.http import DEFAULT_WEBHOOK_PATH, RefusalHook, bearer_token, default_refusal, outcome_of_status
from tokenwarden_sensor.sensor import Sensor
from tokenwarden_sensor.token import Outcome
from tokenwarden_sensor.webhook import MAX_BODY_BYTES, UntrustedKeyWebhook

__all__ = ["TokenwardenMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _respond(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class TokenwardenMiddleware:
    def __init__(self, app: ASGIApp, *, sensor: Sensor, on_refuse: RefusalHook = default_refusal,
                 webhook: UntrustedKeyWebhook | None = None, webhook_path: str = DEFAULT_WEBHOOK_PATH,
                 client_ip_header: str | None = None) -> None:
        self.app = app
        self.sensor = sensor
        self.on_refuse = on_refuse
        self.webhook = webhook
        self.webhook_path = webhook_path
        self._client_ip_header = client_ip_header.lower().encode("latin-1") if client_ip_header else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        if self.webhook is not None and scope.get("path") == self.webhook_path:
            await self._webhook(scope, receive, send)
            return
        authorization = user_agent = forwarded = None
        for key, value in scope.get("headers") or ():  # one pass: this runs on every request
            name = key.lower()
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == self._client_ip_header:
                forwarded = value.decode("latin-1")
        token = bearer_token(authorization)
        if token is None:
            await self.app(scope, receive, send)
            return
        inspection = self.sensor.inspect(token)
        client_ip = self._client_ip(scope, forwarded)
        if inspection.verdict.refuse:
            self.sensor.record(inspection, "Rejected", inspection.verdict.reason, client_ip=client_ip,
                               user_agent=user_agent)
            status, headers, body = self.on_refuse(inspection.verdict)
            await _respond(send, status, headers, body)
            return
        async def watch(message: Message) -> None:
            # Recorded as the response starts: the outcome is known then, and the row is queued before the
            # client can have the answer (and whatever the body does next).
            if message.get("type") == "http.response.start":
                outcome, reason = outcome_of_status(int(message.get("status", 0)))
                state = scope.get("state")
                if isinstance(state, dict):  # Starlette keeps request.state's values in scope["state"]
                    chosen = state.get("tokenwarden_outcome")
                    if chosen in ("Accepted", "Rejected"):
                        outcome = cast(Outcome, chosen)
                        reason = state.get("tokenwarden_failure_reason") or (reason if outcome == "Rejected"
                                                                             else None)
                self.sensor.record(inspection, outcome, reason, client_ip=client_ip, user_agent=user_agent)
            await send(message)

        # An app that fails before it starts a response reached no outcome: nothing is recorded.
        await self.app(scope, receive, watch)

    def _client_ip(self, scope: Scope, forwarded: str | None) -> str | None:
        if forwarded:
            return forwarded.split(",")[0].strip() or None
        client = scope.get("client")
        return str(client[0]) if client else None

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.webhook is not None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message.get("type") != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= MAX_BODY_BYTES:
                chunks.append(chunk)
            if not message.get("more_body"):
                break
        if size > MAX_BODY_BYTES:
            await _respond(send, 413, {}, b"")
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or ()}
        body = b"".join(chunks)
        answer = self.webhook.handle(str(scope.get("method", "")), headers, body)
        await _respond(send, answer.status, answer.headers, answer.body)
