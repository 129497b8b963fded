"""Each integration point over real HTTP (FastAPI on uvicorn, Flask on werkzeug) or the real Functions types:
the app's own validation decides, the sensor records what it decided, and refuses untrusted keys first."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request  # at module level: FastAPI resolves the handler's annotations here
from fastapi.responses import JSONResponse

from sensor_support import APP_ID, RULE, STREAM, StaticCredential, sensor_tenant, token
from shared.devkit.simulator import SimulatorServer, build_simulator
from shared.devkit.simulator.ingestion import ingestion_key
from tests.support.servers import running
from tokenwarden_sensor import IngestionTarget, Sensor, SensorConfig
from tokenwarden_sensor.webhook import header_secret
from tools.uvicorn_thread import serving_asgi

UNTRUSTED = "t3stC0mpr0m1sedKeyForTheSensor"
REJECTED_BY_APP = "bad-signature-kid"


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with running(build_simulator(sensor_tenant())) as server:
        yield server


@pytest.fixture
def sensor(simulator: SimulatorServer) -> Iterator[Sensor]:
    made = Sensor(SensorConfig(app_id=APP_ID, ingestion=IngestionTarget(endpoint=simulator.url, rule_id=RULE)),
                  credential=StaticCredential())
    made.untrust([UNTRUSTED])
    yield made
    made.close()


def _outcomes(simulator: SimulatorServer, sensor: Sensor) -> dict[str, tuple[str, str | None]]:
    assert sensor.flush()
    with simulator.state.lock:
        rows = list(simulator.state.ingested.get(ingestion_key(RULE, STREAM), []))
    return {r["KeyId"]: (r["Outcome"], r["FailureReason"]) for r in rows}


def _app_validates(authorization: str | None) -> bool:
    """The app's own validation, standing in for a JWT library: one kid fails it."""
    return bool(authorization) and REJECTED_BY_APP not in _kid_of(authorization or "")


def _kid_of(authorization: str) -> str:
    import base64
    import json

    header = authorization.split(" ", 1)[-1].split(".", maxsplit=1)[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "==")).get("kid"))


def _drive(url: str) -> dict[str, int]:
    statuses = {}
    for kid in ("ZtGrLtIomVfvajJa0XNpd7CPbfY", REJECTED_BY_APP, UNTRUSTED):
        answer = httpx.get(f"{url}/orders", headers={"Authorization": f"Bearer {token(kid=kid)}",
                                                     "User-Agent": "adapter-test/1"})
        statuses[kid] = answer.status_code
        if kid == UNTRUSTED:
            assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert httpx.get(f"{url}/orders").status_code == 401  # no token: nothing to record
    return statuses


EXPECTED_STATUS = {"ZtGrLtIomVfvajJa0XNpd7CPbfY": 200, REJECTED_BY_APP: 401, UNTRUSTED: 401}


def _expected_rows(outcomes: dict[str, tuple[str, str | None]]) -> None:
    assert outcomes["ZtGrLtIomVfvajJa0XNpd7CPbfY"] == ("Accepted", None)
    assert outcomes[REJECTED_BY_APP] == ("Rejected", "the app answered 401")
    assert outcomes[UNTRUSTED][0] == "Rejected" and UNTRUSTED in (outcomes[UNTRUSTED][1] or "")
    assert len(outcomes) == 3


def test_fastapi_middleware_over_uvicorn(simulator: SimulatorServer, sensor: Sensor) -> None:
    from tokenwarden_sensor.asgi import TokenwardenMiddleware

    app = FastAPI()

    @app.get("/orders")
    def orders(request: Request) -> Any:
        if not _app_validates(request.headers.get("authorization")):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return {"orders": []}

    app.add_middleware(TokenwardenMiddleware, sensor=sensor,
                       webhook=sensor.webhook(authorize=header_secret("x-secret", "s")))
    with serving_asgi(app) as url:
        assert _drive(url) == EXPECTED_STATUS
        handshake = httpx.request("OPTIONS", f"{url}/.tokenwarden/untrusted-keys",
                                  headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
        assert handshake.headers["webhook-allowed-origin"] == "eventgrid.azure.net"
    _expected_rows(_outcomes(simulator, sensor))


def test_the_app_can_state_its_outcome_itself(simulator: SimulatorServer, sensor: Sensor) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from tokenwarden_sensor.asgi import TokenwardenMiddleware

    def orders(request: Request) -> PlainTextResponse:
        request.state.tokenwarden_outcome = "Rejected"
        request.state.tokenwarden_failure_reason = "audience not accepted"
        return PlainTextResponse("anonymous view", status_code=200)

    app = TokenwardenMiddleware(Starlette(routes=[Route("/orders", orders)]), sensor=sensor)
    with serving_asgi(app) as url:
        assert httpx.get(f"{url}/orders", headers={"Authorization": f"Bearer {token()}"}).status_code == 200
        # Queued before the client had its answer: flushing now, with the server still up, finds the row.
        assert sensor.counters().recorded == 1
        assert _outcomes(simulator, sensor) == {"ZtGrLtIomVfvajJa0XNpd7CPbfY": ("Rejected", "audience not accepted")}


@contextmanager
def _serving_wsgi(app: Any) -> Iterator[str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_flask_middleware_over_werkzeug(simulator: SimulatorServer, sensor: Sensor) -> None:
    from flask import Flask, request

    from tokenwarden_sensor.wsgi import TokenwardenWSGIMiddleware

    app = Flask("orders")

    @app.get("/orders")
    def orders() -> Any:
        if not _app_validates(request.headers.get("Authorization")):
            return {"error": "invalid_token"}, 401
        return {"orders": []}

    app.wsgi_app = TokenwardenWSGIMiddleware(app.wsgi_app, sensor=sensor,  # type: ignore[method-assign]
                                             webhook=sensor.webhook(authorize=header_secret("x-secret", "s")))
    with _serving_wsgi(app) as url:
        assert _drive(url) == EXPECTED_STATUS
        event = [{"id": "e", "subject": "s", "eventType": "Tokenwarden.SigningKeys.Untrusted", "dataVersion": "1",
                  "eventTime": "2026-12-03T09:00:00Z", "data": {"untrusted_kids": ["another-kid"]}}]
        delivered = httpx.post(f"{url}/.tokenwarden/untrusted-keys", json=event, headers={"x-secret": "s"})
        assert delivered.status_code == 200
    assert "another-kid" in sensor.untrusted.ids
    _expected_rows(_outcomes(simulator, sensor))


@pytest.mark.parametrize("asynchronous", [False, True])
def test_azure_functions_decorator(simulator: SimulatorServer, sensor: Sensor, asynchronous: bool) -> None:
    import asyncio
    import inspect

    import azure.functions as func

    from tokenwarden_sensor.functions import observe_http

    def handle(req: func.HttpRequest) -> func.HttpResponse:
        if not _app_validates(req.headers.get("authorization")):
            return func.HttpResponse("invalid token", status_code=401)
        return func.HttpResponse("[]", status_code=200)

    async def handle_async(req: func.HttpRequest) -> func.HttpResponse:
        return handle(req)

    wrapped: Any = observe_http(sensor)(handle_async if asynchronous else handle)
    assert list(inspect.signature(wrapped).parameters) == ["req"]  # the worker binds by these names
    statuses = {}
    for kid in EXPECTED_STATUS:
        req = func.HttpRequest("GET", "/api/orders", body=b"", headers={
            "Authorization": f"Bearer {token(kid=kid)}", "X-Forwarded-For": "203.0.113.9:50312"})
        response = asyncio.run(wrapped(req=req)) if asynchronous else wrapped(req=req)
        statuses[kid] = response.status_code
    assert statuses == EXPECTED_STATUS
    outcomes = _outcomes(simulator, sensor)
    _expected_rows(outcomes)


def test_a_trusted_proxy_header_gives_the_client_address(simulator: SimulatorServer, sensor: Sensor) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from tokenwarden_sensor.asgi import TokenwardenMiddleware

    app = TokenwardenMiddleware(Starlette(routes=[Route("/orders", lambda request: PlainTextResponse("[]"))]),
                                sensor=sensor, client_ip_header="X-Forwarded-For")
    with serving_asgi(app) as url:
        httpx.get(f"{url}/orders", headers={"Authorization": f"Bearer {token()}",
                                            "X-Forwarded-For": "198.51.100.7, 10.0.0.1"})
    assert sensor.flush()
    with simulator.state.lock:
        rows = list(simulator.state.ingested.get(ingestion_key(RULE, STREAM), []))
    assert [r["ClientIp"] for r in rows] == ["198.51.100.7"]
