"""Calling the HTTP functions as the host would: indexed from the Function App, given HttpRequest objects."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import azure.functions as func

HttpFunction = Callable[..., func.HttpResponse]


@dataclass(frozen=True)
class FakeContext:
    invocation_id: str = "test-invocation"


@dataclass(frozen=True)
class Registered:
    name: str
    method: str
    route: str
    auth_level: str
    function: HttpFunction


@functools.cache
def registered_http_functions() -> dict[tuple[str, str], Registered]:
    """Every HTTP function of the Function App, by (method, route).

    azure-functions 1.26 indexes a FunctionApp once, so this reloads function_app for a fresh app (as
    tests/infra does). Until function_app.py registers the http_api blueprint, its functions are indexed
    from a second, fresh FunctionApp built the same way.
    """
    import function_app
    from functions.http_api import bp

    module = importlib.reload(function_app)
    indexed = list(module.app.get_functions())
    names = {f.get_function_name() for f in indexed}
    if "list_cases" not in names:
        extra = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
        extra.register_functions(bp)
        indexed += extra.get_functions()
    found: dict[tuple[str, str], Registered] = {}
    for function in indexed:
        definition = json.loads(function.get_function_json())
        trigger = next((b for b in definition["bindings"] if b["type"] == "httpTrigger"), None)
        if trigger is None:
            continue
        for method in trigger.get("methods") or ["GET", "POST"]:
            key = (method.upper(), trigger.get("route") or function.get_function_name())
            assert key not in found, f"{key} is registered twice"
            found[key] = Registered(name=function.get_function_name(), method=method.upper(), route=key[1],
                                    auth_level=str(trigger.get("authLevel", "")).upper(),
                                    function=function.get_user_function())
    return found


def http_function(method: str, route: str) -> Registered | None:
    return registered_http_functions().get((method, route))


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    text: str
    queued: tuple[str, ...] = ()
    """Respond messages the function handed to its queue output binding (routes that queue work)."""

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def call(method: str, route: str, *, body: bytes | str | Any = b"", content_type: str | None = "application/json",
         params: Mapping[str, str] | None = None, route_params: Mapping[str, str] | None = None,
         headers: Mapping[str, str] | None = None, invocation_id: str = "test-invocation") -> Answer:
    """Call the function registered for *method* *route*; a non-bytes, non-str body is sent as JSON."""
    registered = http_function(method, route)
    assert registered is not None, f"no function is registered for {method} {route}"
    return call_function(registered, body=body, content_type=content_type, params=params, route_params=route_params,
                         headers=headers, invocation_id=invocation_id)


def call_function(registered: Registered, *, body: bytes | str | Any = b"", content_type: str | None = None,
                  params: Mapping[str, str] | None = None, route_params: Mapping[str, str] | None = None,
                  headers: Mapping[str, str] | None = None, invocation_id: str = "test-invocation") -> Answer:
    if isinstance(body, str):
        raw = body.encode("utf-8")
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode("utf-8")
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["content-type"] = content_type
    path = registered.route
    for name, value in (route_params or {}).items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    request = func.HttpRequest(registered.method, f"http://localhost:7071/api/{path}", headers=all_headers,
                               params=dict(params or {}), route_params=dict(route_params or {}), body=raw)
    if "work" in inspect.signature(registered.function).parameters:
        from tests.support.function_env import QueueOutput

        out = QueueOutput()
        response = registered.function(req=request, work=out, context=FakeContext(invocation_id))
        queued = tuple(out.get())
    else:
        response = registered.function(request, FakeContext(invocation_id))
        queued = ()
    return Answer(status=response.status_code, headers=dict(response.headers),
                  text=response.get_body().decode("utf-8"), queued=queued)


@functools.cache
def _respond_worker() -> Callable[..., None]:
    """The respond queue function, from a fresh FunctionApp (one app indexes its functions once)."""
    import function_app

    app = importlib.reload(function_app).app
    return next(f.get_user_function() for f in app.get_functions() if f.get_function_name() == "respond")


def deliver(messages: tuple[str, ...] | list[str], *, invocation_id: str = "test-worker") -> None:
    """Run the respond queue worker on each message, as the host would deliver them."""
    from azure.functions.queue import QueueMessage

    worker = _respond_worker()
    for index, body in enumerate(messages):
        worker(message=QueueMessage(id=f"msg-{index}", body=body.encode("utf-8"), dequeue_count=1),
               context=FakeContext(f"{invocation_id}-{index}"))


def worked(answer: Answer) -> list[dict[str, Any]]:
    """A 202's cases after the respond worker ran their queued messages: state, latest reason, actions."""
    assert answer.status == 202, answer.text
    assert len(answer.queued) == len(answer.json["cases"])
    deliver(answer.queued)
    results = []
    for accepted in answer.json["cases"]:
        assert accepted["state"] == "queued" and accepted["status_url"] == f"/api/cases/{accepted['case_id']}"
        detail = call("GET", "cases/{id}", route_params={"id": accepted["case_id"]})
        assert detail.status == 200, detail.text
        case = detail.json
        results.append({"case_id": case["case_id"], "state": case["state"],
                        "reason": case["transitions"][-1]["reason"] if case["transitions"] else "",
                        "outcomes": case["actions"]})
    return results


def assert_error_envelope(answer: Answer, invocation_id: str = "test-invocation") -> dict[str, Any]:
    """The answer is a JSON error envelope carrying the invocation id; returns its ``error``."""
    body = answer.json
    assert set(body) == {"error", "invocation_id"}, body
    assert body["invocation_id"] == invocation_id
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and "\n" not in body["error"]["message"]
    return dict(body["error"])
