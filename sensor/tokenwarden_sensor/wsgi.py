"""WSGI middleware (Flask, Django, any WSGI app)::

    app.wsgi_app = TokenwardenWSGIMiddleware(app.wsgi_app, sensor=sensor)        # Flask
    application = TokenwardenWSGIMiddleware(get_wsgi_application(), sensor=sensor)  # Django wsgi.py

Same behaviour as the ASGI middleware: the token is refused first when the sensor says so, and the outcome
is the response status (401: rejected) unless the app sets ``environ["tokenwarden.outcome"]`` (and
``environ["tokenwarden.failure_reason"]``) before it starts the response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from tokenwarden_sensor.http import DEFAULT_WEBHOOK_PATH, RefusalHook, bearer_token, default_refusal, outcome_of_status
from tokenwarden_sensor.sensor import Sensor
from tokenwarden_sensor.token import Outcome
from tokenwarden_sensor.webhook import MAX_BODY_BYTES, UntrustedKeyWebhook

__all__ = ["TokenwardenWSGIMiddleware"]

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 400: "Bad Request", 405: "Method Not Allowed",
            413: "Content Too Large"}


def _status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Status')}"


class TokenwardenWSGIMiddleware:
    def __init__(self, app: WSGIApp, *, sensor: Sensor, on_refuse: RefusalHook = default_refusal,
                 webhook: UntrustedKeyWebhook | None = None, webhook_path: str = DEFAULT_WEBHOOK_PATH,
                 client_ip_header: str | None = None) -> None:
        self.app = app
        self.sensor = sensor
        self.on_refuse = on_refuse
        self.webhook = webhook
        self.webhook_path = webhook_path
        self._client_ip_key = ("HTTP_" + client_ip_header.upper().replace("-", "_")) if client_ip_header else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.webhook is not None and environ.get("PATH_INFO") == self.webhook_path:
            return self._webhook(environ, start_response)
        token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
        if token is None:
            return self.app(environ, start_response)
        inspection = self.sensor.inspect(token)
        client_ip = self._client_ip(environ)
        user_agent = environ.get("HTTP_USER_AGENT")
        if inspection.verdict.refuse:
            self.sensor.record(inspection, "Rejected", inspection.verdict.reason, client_ip=client_ip,
                               user_agent=user_agent)
            status, headers, body = self.on_refuse(inspection.verdict)
            start_response(_status_line(status), [*headers.items(), ("Content-Length", str(len(body)))])
            return [body]

        def watch(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                code = int(status.split(" ", 1)[0])
            except ValueError:
                code = 0
            outcome, reason = outcome_of_status(code)
            chosen = environ.get("tokenwarden.outcome")
            if chosen in ("Accepted", "Rejected"):
                outcome = cast(Outcome, chosen)
                reason = environ.get("tokenwarden.failure_reason") or (reason if outcome == "Rejected" else None)
            self.sensor.record(inspection, outcome, reason, client_ip=client_ip, user_agent=user_agent)
            return start_response(status, headers, exc_info) if exc_info is not None else start_response(status,
                                                                                                         headers)

        return self.app(environ, watch)

    def _client_ip(self, environ: dict[str, Any]) -> str | None:
        if self._client_ip_key is not None:
            forwarded = environ.get(self._client_ip_key)
            if forwarded:
                return str(forwarded).split(",")[0].strip() or None
        remote = environ.get("REMOTE_ADDR")
        return str(remote) if remote else None

    def _webhook(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        assert self.webhook is not None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            start_response(_status_line(413), [("Content-Length", "0")])
            return [b""]
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = {k[5:].replace("_", "-"): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        answer = self.webhook.handle(str(environ.get("REQUEST_METHOD", "")), headers, body)
        start_response(_status_line(answer.status),
                       [*answer.headers.items(), ("Content-Length", str(len(answer.body)))])
        return [answer.body]
