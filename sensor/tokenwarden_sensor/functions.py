"""A decorator for Azure Functions HTTP triggers (Python v2 programming model)::

    @app.route(route="orders")
    @observe_http(sensor)
    def orders(req: func.HttpRequest) -> func.HttpResponse: ...

The decorator keeps the function's signature (``functools.wraps``), which the worker reads to bind
parameters. The token is refused first when the sensor says so; otherwise the outcome is the returned
response's status (401: rejected). ``webhook_http`` answers the untrusted-key event route from a trigger.
``azure.functions`` is imported only when a request arrives, so the sensor does not need it otherwise.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from tokenwarden_sensor.http import RefusalHook, bearer_token, default_refusal, outcome_of_status
from tokenwarden_sensor.sensor import Inspection, Sensor
from tokenwarden_sensor.webhook import UntrustedKeyWebhook

__all__ = ["observe_http", "webhook_http"]

F = TypeVar("F", bound=Callable[..., Any])


def _request_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    import azure.functions as func

    for value in (*args, *kwargs.values()):
        if isinstance(value, func.HttpRequest):
            return value
    return None


def _response(status: int, headers: dict[str, str], body: bytes) -> Any:
    import azure.functions as func

    return func.HttpResponse(body=body, status_code=status, headers=headers)


def observe_http(sensor: Sensor, *, on_refuse: RefusalHook = default_refusal,
                 client_ip_header: str = "x-forwarded-for") -> Callable[[F], F]:
    """Wrap an HTTP-triggered function (sync or async) so the sensor sees its tokens and outcomes.

    In Azure the front end puts the caller's address in ``X-Forwarded-For`` (first hop)."""

    def before(request: Any) -> tuple[Inspection, str | None, str | None, Any]:
        headers = request.headers
        inspection = sensor.inspect(bearer_token(headers.get("authorization")))
        forwarded = headers.get(client_ip_header) or ""
        client_ip = forwarded.split(",")[0].strip() or None
        # X-Forwarded-For may carry "ip:port" from the Functions front end.
        if client_ip and client_ip.count(":") == 1:
            client_ip = client_ip.split(":")[0]
        user_agent = headers.get("user-agent")
        refusal = None
        if inspection.verdict.refuse:
            sensor.record(inspection, "Rejected", inspection.verdict.reason, client_ip=client_ip,
                          user_agent=user_agent)
            refusal = _response(*on_refuse(inspection.verdict))
        return inspection, client_ip, user_agent, refusal

    def after(inspection: Inspection, client_ip: str | None, user_agent: str | None, response: Any) -> None:
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            outcome, reason = outcome_of_status(status)
            sensor.record(inspection, outcome, reason, client_ip=client_ip, user_agent=user_agent)

    def decorate(function: F) -> F:
        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                request = _request_of(args, kwargs)
                if request is None:
                    return await function(*args, **kwargs)
                inspection, client_ip, user_agent, refusal = before(request)
                if refusal is not None:
                    return refusal
                response = await function(*args, **kwargs)
                after(inspection, client_ip, user_agent, response)
                return response

            return cast(F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            request = _request_of(args, kwargs)
            if request is None:
                return function(*args, **kwargs)
            inspection, client_ip, user_agent, refusal = before(request)
            if refusal is not None:
                return refusal
            response = function(*args, **kwargs)
            after(inspection, client_ip, user_agent, response)
            return response

        return cast(F, run)

    return decorate


def webhook_http(webhook: UntrustedKeyWebhook, request: Any) -> Any:
    """The untrusted-key event route's answer to an ``azure.functions.HttpRequest`` (POST and OPTIONS)."""
    answer = webhook.handle(request.method, dict(request.headers), request.get_body() or b"")
    return _response(answer.status, answer.headers, answer.body)
