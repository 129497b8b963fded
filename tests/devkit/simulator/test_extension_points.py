"""How later areas plug in: a new route on the Graph router, a router mounted under another root, the CLI entry."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import httpx
import pytest

from shared.devkit.simulator import SimulatorServer, TenantState, serve_simulator
from shared.devkit.simulator.responses import GraphResponse, json_response
from shared.devkit.simulator.routing import RequestContext, Route, Router, SimulatorApp
from tests.devkit.simulator.conftest import ServeFactory

AUTH = {"Authorization": "Bearer t"}


def test_a_write_route_added_by_a_new_module(demo_state: TenantState, serve: ServeFactory) -> None:
    moment = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)

    def revoke(context: RequestContext, app: SimulatorApp) -> GraphResponse:
        user = app.state.find_user(context.params["id"])
        assert user is not None
        with app.state.lock:
            user.sign_in_sessions_valid_from = moment
        return json_response({"@odata.context": f"{context.service_root}/$metadata#Edm.Boolean", "value": True})

    server = serve(demo_state, limits={})
    server.simulator.router.add(Route(method="POST", template="/users/{id}/revokeSignInSessions", handler=revoke,
                                      family="identity"))
    user = demo_state.users()[0]
    answer = httpx.post(f"{server.graph_url}/users/{user.id}/revokeSignInSessions", headers=AUTH, content=b"")
    assert answer.json()["value"] is True
    revoked = demo_state.find_user(user.id)
    assert revoked is not None
    assert revoked.sign_in_sessions_valid_from == moment
    selected = httpx.get(f"{server.graph_url}/users/{user.id}?$select=signInSessionsValidFromDateTime", headers=AUTH)
    assert selected.json()["signInSessionsValidFromDateTime"] == "2026-11-21T08:00:00Z"
    assert server.stats.count(route="POST /users/{id}/revokeSignInSessions") == 1


def test_a_router_mounted_under_another_root(demo_state: TenantState, serve: ServeFactory) -> None:
    def incident(context: RequestContext, _: SimulatorApp) -> GraphResponse:
        return json_response({"name": context.params["incident"], "properties": {"status": "New"}})

    arm = Router()
    arm.add(Route(method="GET", template="/{sub}/resourceGroups/{rg}/providers/Microsoft.SecurityInsights/"
                                        "incidents/{incident}", handler=incident))
    server = serve(demo_state, limits={})
    server.simulator.mount("subscriptions", arm)
    url = f"{server.url}/subscriptions/s1/resourceGroups/rg/providers/Microsoft.SecurityInsights/incidents/i9"
    assert httpx.get(url, headers=AUTH).json()["name"] == "i9"
    assert httpx.get(url).status_code == 401
    with pytest.raises(ValueError, match="cannot mount"):
        server.simulator.mount("v1.0", arm)


def test_serve_simulator_reports_the_bound_server(demo_state: TenantState) -> None:
    bound: list[SimulatorServer] = []
    ready = threading.Event()

    def on_ready(server: SimulatorServer) -> None:
        bound.append(server)
        ready.set()

    thread = threading.Thread(target=serve_simulator, args=(demo_state,), kwargs={"ready": on_ready, "limits": {}},
                              daemon=True)
    thread.start()
    assert ready.wait(30), "deadlock guard: the server never reported it was bound"
    [server] = bound
    assert server.url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{server.graph_url}/directoryRoles", headers=AUTH).status_code == 200
    server.shutdown()
    thread.join(30)
    assert not thread.is_alive()
