"""Write endpoints: Graph writes through the real msgraph-sdk, Sentinel/App Service ARM calls, Event Grid, webhooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from azure.core import PipelineClient
from azure.core.rest import HttpRequest, HttpResponse
from graph_sim_helpers import graph_client

from shared.core.clouds import AZURE_PUBLIC
from shared.core.credentials import local_token
from shared.devkit.simulator import IDENTITY, IDENTITY_PROTECTION, SimulatorServer, TenantState, ThrottleLimit
from shared.devkit.simulator.arm import SENTINEL_API_VERSION, site_key
from tests.devkit.simulator.conftest import ServeFactory

T = TypeVar("T")
AUTH = {"Authorization": "Bearer t"}
MOMENT = datetime(2026, 11, 22, 7, 45, 30, tzinfo=UTC)
WORKSPACE = ("/subscriptions/s1/resourceGroups/rg-sec/providers/Microsoft.OperationalInsights/workspaces/ws1"
             "/providers/Microsoft.SecurityInsights")
INCIDENT_PROPERTIES = {"title": "Impossible travel", "description": "Two countries in ten minutes",
                       "severity": "High", "status": "New",
                       "labels": [{"labelName": "tokenwarden", "labelType": "User"}],
                       "firstActivityTimeUtc": "2026-11-22T07:00:00Z", "lastActivityTimeUtc": "2026-11-22T07:10:00Z"}


def run(server: SimulatorServer, body: Callable[[Any], Awaitable[T]], **client_options: Any) -> T:
    async def main() -> T:
        return await body(graph_client(server, **client_options))

    return asyncio.run(main())


@pytest.fixture
def fixed(demo_state: TenantState, serve: ServeFactory) -> SimulatorServer:
    """No throttling, and every request dated ``MOMENT``."""
    return serve(demo_state, limits={}, now=lambda: MOMENT)


# --- Graph writes ---------------------------------------------------------------------------------
def test_revoke_sign_in_sessions_with_the_sdk(fixed: SimulatorServer, demo_state: TenantState) -> None:
    user = demo_state.users()[0]

    async def body(client: Any) -> Any:
        return await client.users.by_user_id(user.id).revoke_sign_in_sessions.post()

    answer = run(fixed, body)
    assert answer.value is True
    assert user.sign_in_sessions_valid_from == MOMENT
    [write] = demo_state.writes
    assert (write.action, write.target, write.at) == ("revokeSignInSessions", user.id, MOMENT)
    raw = httpx.post(f"{fixed.graph_url}/users/{user.user_principal_name}/revokeSignInSessions", headers=AUTH,
                     content=b"")
    assert raw.status_code == 200
    assert raw.json() == {"@odata.context": f"{fixed.graph_url}/$metadata#Edm.Boolean", "value": True}
    selected = httpx.get(f"{fixed.graph_url}/users/{user.id}?$select=signInSessionsValidFromDateTime", headers=AUTH)
    assert selected.json()["signInSessionsValidFromDateTime"] == "2026-11-22T07:45:30Z"
    assert len(demo_state.writes_of("revokeSignInSessions", user.id)) == 2
    assert fixed.stats.count(route="POST /users/{id}/revokeSignInSessions") == 2


def test_revoke_for_an_unknown_user_is_404(fixed: SimulatorServer, demo_state: TenantState) -> None:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    async def body(client: Any) -> Any:
        return await client.users.by_user_id("00000000-0000-0000-0000-000000000404").revoke_sign_in_sessions.post()

    with pytest.raises(ODataError) as raised:
        run(fixed, body)
    assert raised.value.response_status_code == 404
    assert raised.value.error is not None and raised.value.error.code == "Request_ResourceNotFound"
    assert demo_state.writes == []


def test_disable_and_enable_an_account_with_the_sdk(fixed: SimulatorServer, demo_state: TenantState) -> None:
    from msgraph.generated.models.user import User

    user = demo_state.users()[1]
    assert user.account_enabled is True

    async def disable(client: Any) -> Any:
        return await client.users.by_user_id(user.id).patch(User(account_enabled=False))

    run(fixed, disable)
    assert user.account_enabled is False
    listed = httpx.get(f"{fixed.graph_url}/users/{user.id}?$select=accountEnabled", headers=AUTH).json()
    assert listed["accountEnabled"] is False

    async def enable(client: Any) -> Any:
        return await client.users.by_user_id(user.id).patch(User(account_enabled=True))

    run(fixed, enable)
    assert user.account_enabled is True
    assert [(w.action, w.target, dict(w.details)) for w in demo_state.writes] == [
        ("updateUser", user.id, {"accountEnabled": False}), ("updateUser", user.id, {"accountEnabled": True})]
    raw = httpx.patch(f"{fixed.graph_url}/users/{user.id}", headers=AUTH, json={"accountEnabled": False})
    assert raw.status_code == 204 and raw.content == b""


def test_patch_rejects_unsupported_properties_and_unknown_users(fixed: SimulatorServer,
                                                                demo_state: TenantState) -> None:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.user import User

    user = demo_state.users()[2]
    unsupported = httpx.patch(f"{fixed.graph_url}/users/{user.id}", headers=AUTH,
                              json={"accountEnabled": False, "jobTitle": "x"})
    assert unsupported.status_code == 400
    assert unsupported.json()["error"]["code"] == "Request_BadRequest"
    wrong_type = httpx.patch(f"{fixed.graph_url}/users/{user.id}", headers=AUTH, json={"accountEnabled": "no"})
    assert wrong_type.status_code == 400
    not_json = httpx.patch(f"{fixed.graph_url}/users/{user.id}", headers=AUTH, content=b"{nope")
    assert not_json.status_code == 400
    assert user.account_enabled is True

    async def body(client: Any) -> Any:
        return await client.users.by_user_id("nobody@contoso.example").patch(User(account_enabled=False))

    with pytest.raises(ODataError) as raised:
        run(fixed, body)
    assert raised.value.response_status_code == 404
    assert demo_state.writes == []


def test_writes_inside_a_batch(fixed: SimulatorServer, demo_state: TenantState) -> None:
    first, second = [user for user in demo_state.users() if not user.privileged][:2]
    requests = [
        {"id": "1", "method": "PATCH", "url": f"/users/{first.id}", "headers": {"Content-Type": "application/json"},
         "body": {"accountEnabled": False}},
        {"id": "2", "method": "POST", "url": f"/users/{second.id}/revokeSignInSessions",
         "headers": {"Content-Type": "application/json"}, "body": {}},
    ]
    answer = httpx.post(f"{fixed.graph_url}/$batch", headers=AUTH, json={"requests": requests})
    statuses = {item["id"]: item["status"] for item in answer.json()["responses"]}
    assert statuses == {"1": 204, "2": 200}
    assert first.account_enabled is False
    assert second.sign_in_sessions_valid_from == MOMENT
    assert sorted(w.action for w in demo_state.writes) == ["revokeSignInSessions", "updateUser"]


def test_user_writes_are_charged_to_the_identity_family(demo_state: TenantState, serve: ServeFactory) -> None:
    server = serve(demo_state, limits={IDENTITY: ThrottleLimit(capacity=1, per_seconds=1000)}, clock=lambda: 0.0)
    user = next(user for user in demo_state.users() if not user.privileged)
    first = httpx.patch(f"{server.graph_url}/users/{user.id}", headers=AUTH, json={"accountEnabled": False})
    assert first.status_code == 204
    assert first.headers["x-ms-resource-unit"] == "1"
    second = httpx.post(f"{server.graph_url}/users/{user.id}/revokeSignInSessions", headers=AUTH, content=b"")
    assert second.status_code == 429
    assert second.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    assert [w.action for w in demo_state.writes] == ["updateUser"]


def test_confirm_compromised_with_the_sdk(fixed: SimulatorServer, demo_state: TenantState) -> None:
    from msgraph.generated.identity_protection.risky_users.confirm_compromised.confirm_compromised_post_request_body import (  # noqa: E501
        ConfirmCompromisedPostRequestBody,
    )

    already = demo_state.risky_users()[0]
    fresh = next(u for u in demo_state.users() if demo_state.risky_user(u.id) is None)

    async def body(client: Any) -> Any:
        request = ConfirmCompromisedPostRequestBody(user_ids=[already.id, fresh.id])
        return await client.identity_protection.risky_users.confirm_compromised.post(request)

    assert run(fixed, body) is None
    for user_id in (already.id, fresh.id):
        risky = demo_state.risky_user(user_id)
        assert risky is not None
        assert (risky.risk_level, risky.risk_state, risky.risk_detail) == (
            "high", "confirmedCompromised", "adminConfirmedUserCompromised")
        assert risky.risk_last_updated == MOMENT
    created = demo_state.risky_user(fresh.id)
    assert created is not None and created.user_principal_name == fresh.user_principal_name
    assert [(w.action, w.target) for w in demo_state.writes] == [
        ("confirmCompromised", already.id), ("confirmCompromised", fresh.id)]
    listed = httpx.get(f"{fixed.graph_url}/identityProtection/riskyUsers/{fresh.id}", headers=AUTH).json()
    assert listed["riskState"] == "confirmedCompromised"
    raw = httpx.post(f"{fixed.graph_url}/identityProtection/riskyUsers/confirmCompromised", headers=AUTH,
                     json={"userIds": [fresh.id]})
    assert raw.status_code == 204 and raw.content == b""


def test_confirm_compromised_validates_its_body(fixed: SimulatorServer, demo_state: TenantState) -> None:
    url = f"{fixed.graph_url}/identityProtection/riskyUsers/confirmCompromised"
    assert httpx.post(url, headers=AUTH, json={"userIds": []}).status_code == 400
    assert httpx.post(url, headers=AUTH, json={}).status_code == 400
    known = demo_state.users()[0].id
    unknown = httpx.post(url, headers=AUTH, json={"userIds": [known, "00000000-0000-0000-0000-000000000404"]})
    assert unknown.status_code == 404
    assert demo_state.writes == [], "nothing changes when one id is unknown"


def test_confirm_compromised_is_throttled_at_one_request_per_second(demo_state: TenantState,
                                                                     serve: ServeFactory) -> None:
    from msgraph.generated.identity_protection.risky_users.confirm_compromised.confirm_compromised_post_request_body import (  # noqa: E501
        ConfirmCompromisedPostRequestBody,
    )
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    server = serve(demo_state, clock=lambda: 0.0)  # the default limits; the bucket never refills
    assert server.throttle.limits()[IDENTITY_PROTECTION].rate == 1.0
    user = demo_state.users()[0]
    url = f"{server.graph_url}/identityProtection/riskyUsers/confirmCompromised"
    assert httpx.post(url, headers=AUTH, json={"userIds": [user.id]}).status_code == 204
    throttled = httpx.post(url, headers=AUTH, json={"userIds": [user.id]})
    assert throttled.status_code == 429
    assert "Retry-After" not in throttled.headers
    assert throttled.json()["error"]["code"] == "TooManyRequests"

    async def body(client: Any) -> Any:
        request = ConfirmCompromisedPostRequestBody(user_ids=[user.id])
        return await client.identity_protection.risky_users.confirm_compromised.post(request)

    with pytest.raises(ODataError) as raised:
        run(server, body, max_retries=0)
    assert raised.value.response_status_code == 429
    assert len(demo_state.writes_of("confirmCompromised")) == 1
    assert server.stats.count(route="POST /identityProtection/riskyUsers/confirmCompromised") == 3


# --- ARM: Sentinel incidents and comments ---------------------------------------------------------
def arm_client(server: SimulatorServer) -> PipelineClient[HttpRequest, HttpResponse]:
    return PipelineClient(base_url=server.url)


def arm_send(server: SimulatorServer, method: str, path: str, body: object | None = None, *,
             api_version: str | None = SENTINEL_API_VERSION, headers: dict[str, str] | None = None,
             raw: bytes | None = None) -> HttpResponse:
    """One ARM call through azure-core's pipeline, with a bearer token as ARM requires."""
    query = f"?api-version={api_version}" if api_version else ""
    content = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    request = HttpRequest(method, f"{server.url}{path}{query}", content=content,
                          headers={**AUTH, "Content-Type": "application/json", **(headers or {})})
    with arm_client(server) as client:
        response = client.send_request(request)
        response.read()
        return response


def test_incident_put_creates_then_updates_with_new_etags(fixed: SimulatorServer, demo_state: TenantState) -> None:
    path = f"{WORKSPACE}/incidents/inc-1"
    created = arm_send(fixed, "PUT", path, {"properties": INCIDENT_PROPERTIES})
    assert created.status_code == 201
    resource = created.json()
    assert resource["id"] == path.replace("/incidents/", "/Incidents/")
    assert (resource["name"], resource["type"]) == ("inc-1", "Microsoft.SecurityInsights/Incidents")
    properties = resource["properties"]
    for name, value in INCIDENT_PROPERTIES.items():
        assert properties[name] == value
    assert properties["incidentNumber"] == 1
    assert properties["createdTimeUtc"] == properties["lastModifiedTimeUtc"] == "2026-11-22T07:45:30.0000000Z"
    first_etag = resource["etag"]
    assert created.headers["ETag"] == first_etag

    got = arm_send(fixed, "GET", path)
    assert got.status_code == 200 and got.json() == resource

    closed = {**INCIDENT_PROPERTIES, "status": "Closed", "classification": "TruePositive",
              "classificationReason": "SuspiciousActivity"}
    updated = arm_send(fixed, "PUT", path, {"properties": closed}, headers={"If-Match": first_etag})
    assert updated.status_code == 200
    assert updated.json()["properties"]["status"] == "Closed"
    assert updated.json()["properties"]["incidentNumber"] == 1
    assert updated.json()["etag"] != first_etag

    # If-Match is the simulator's extension (not in the 2025-09-01 spec): a stale one is a 412.
    stale = arm_send(fixed, "PUT", path, {"properties": INCIDENT_PROPERTIES}, headers={"If-Match": first_etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "PreconditionFailed"
    assert set(stale.json()["error"]) == {"code", "message"}
    assert arm_send(fixed, "GET", path).json()["properties"]["status"] == "Closed"

    second = arm_send(fixed, "PUT", f"{WORKSPACE}/incidents/inc-2", {"properties": INCIDENT_PROPERTIES})
    assert second.json()["properties"]["incidentNumber"] == 2
    assert [(w.target.rsplit("/", 1)[-1], w.details["created"]) for w in demo_state.writes_of("putIncident")] == [
        ("inc-1", True), ("inc-1", False), ("inc-2", True)]


def test_incident_errors(fixed: SimulatorServer, demo_state: TenantState) -> None:
    path = f"{WORKSPACE}/incidents/inc-9"
    missing = arm_send(fixed, "GET", path)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NotFound"
    assert arm_send(fixed, "PUT", path, raw=b"{not json").status_code == 400
    no_title = {key: value for key, value in INCIDENT_PROPERTIES.items() if key != "title"}
    assert arm_send(fixed, "PUT", path, {"properties": no_title}).status_code == 400
    assert arm_send(fixed, "PUT", path, {"properties": {**INCIDENT_PROPERTIES, "severity": "Huge"}}).status_code == 400
    wrong_version = arm_send(fixed, "PUT", path, {"properties": INCIDENT_PROPERTIES}, api_version="2023-02-01")
    assert wrong_version.status_code == 400
    assert wrong_version.json()["error"]["code"] == "InvalidApiVersionParameter"
    no_version = arm_send(fixed, "GET", path, api_version=None)
    assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    if_match_on_absent = arm_send(fixed, "PUT", path, {"properties": INCIDENT_PROPERTIES}, headers={"If-Match": "*"})
    assert if_match_on_absent.status_code == 412
    unauthenticated = httpx.get(f"{fixed.url}{path}?api-version={SENTINEL_API_VERSION}")
    assert unauthenticated.status_code == 401
    assert demo_state.writes == []


def test_incident_comments(fixed: SimulatorServer, demo_state: TenantState) -> None:
    incident = f"{WORKSPACE}/incidents/inc-3"
    orphan = arm_send(fixed, "PUT", f"{incident}/comments/c1", {"properties": {"message": "hello"}})
    assert orphan.status_code == 404
    arm_send(fixed, "PUT", incident, {"properties": INCIDENT_PROPERTIES})
    created = arm_send(fixed, "PUT", f"{incident}/comments/c1", {"properties": {"message": "Session revoked."}})
    assert created.status_code == 201
    comment = created.json()
    assert comment["type"] == "Microsoft.SecurityInsights/Incidents/Comments"
    assert comment["name"] == "c1"
    assert comment["properties"]["message"] == "Session revoked."
    assert comment["properties"]["createdTimeUtc"] == "2026-11-22T07:45:30.0000000Z"
    assert arm_send(fixed, "GET", f"{incident}/comments/c1").json() == comment
    again = arm_send(fixed, "PUT", f"{incident}/comments/c1", {"properties": {"message": "Edited."}},
                     headers={"If-Match": comment["etag"]})
    assert again.status_code == 200 and again.json()["etag"] != comment["etag"]
    stale = arm_send(fixed, "PUT", f"{incident}/comments/c1", {"properties": {"message": "x"}},
                     headers={"If-Match": comment["etag"]})
    assert stale.status_code == 412
    arm_send(fixed, "PUT", f"{incident}/comments/c2", {"properties": {"message": "Second."}})
    assert arm_send(fixed, "PUT", f"{incident}/comments/c3", {"properties": {}}).status_code == 400
    listed = arm_send(fixed, "GET", f"{incident}/comments").json()["value"]
    assert [(c["name"], c["properties"]["message"]) for c in listed] == [("c1", "Edited."), ("c2", "Second.")]
    assert arm_send(fixed, "GET", incident).json()["properties"]["additionalData"]["commentsCount"] == 2
    assert arm_send(fixed, "GET", f"{incident}/comments/c9").status_code == 404
    assert [w.details["message"] for w in demo_state.writes_of("putIncidentComment")] == [
        "Session revoked.", "Edited.", "Second."]


def test_a_stale_body_etag_is_a_409_conflict(fixed: SimulatorServer, demo_state: TenantState) -> None:
    # Sentinel 2025-09-01 has no If-Match parameter: the body's etag is the precondition, and a stale one is
    # answered 409 Conflict (Azure/Azure-Sentinel #883, #909), with nothing written.
    path = f"{WORKSPACE}/incidents/inc-4"
    first = arm_send(fixed, "PUT", path, {"properties": INCIDENT_PROPERTIES}).json()["etag"]
    active = {**INCIDENT_PROPERTIES, "status": "Active"}
    updated = arm_send(fixed, "PUT", path, {"etag": first, "properties": active})
    assert updated.status_code == 200 and updated.json()["etag"] != first

    stale = arm_send(fixed, "PUT", path, {"etag": first, "properties": {**INCIDENT_PROPERTIES, "status": "Closed"}})
    assert stale.status_code == 409
    assert stale.json() == {"error": {"code": "Conflict",
                                      "message": "Newer version of resource 'inc-4' exists. Data was not saved"}}
    assert arm_send(fixed, "GET", path).json()["properties"]["status"] == "Active"
    # Checked before the If-Match extension: a client sending both stale values gets the service's 409.
    both = arm_send(fixed, "PUT", path, {"etag": first, "properties": active}, headers={"If-Match": first})
    assert both.status_code == 409
    # Without an etag the PUT replaces unconditionally, as the portal's last writer does.
    blind = arm_send(fixed, "PUT", path, {"properties": {**INCIDENT_PROPERTIES, "status": "Closed"}})
    assert blind.status_code == 200
    # An etag for an incident that does not exist is a conflict too, never a create.
    absent = arm_send(fixed, "PUT", f"{WORKSPACE}/incidents/inc-5", {"etag": first, "properties": active})
    assert absent.status_code == 409 and absent.json()["error"]["code"] == "Conflict"
    assert arm_send(fixed, "GET", f"{WORKSPACE}/incidents/inc-5").status_code == 404
    not_text = arm_send(fixed, "PUT", path, {"etag": 7, "properties": active})
    assert not_text.status_code == 400

    comment_path = f"{path}/comments/c1"
    comment = arm_send(fixed, "PUT", comment_path, {"properties": {"message": "One."}}).json()
    edited = arm_send(fixed, "PUT", comment_path, {"etag": comment["etag"], "properties": {"message": "Two."}})
    assert edited.status_code == 200
    stale_comment = arm_send(fixed, "PUT", comment_path, {"etag": comment["etag"], "properties": {"message": "x"}})
    assert stale_comment.status_code == 409
    assert stale_comment.json()["error"]["message"] == "Newer version of resource 'c1' exists. Data was not saved"
    assert arm_send(fixed, "GET", comment_path).json()["properties"]["message"] == "Two."
    assert [w.details["created"] for w in demo_state.writes_of("putIncident")] == [True, False, False]
    assert [w.details["message"] for w in demo_state.writes_of("putIncidentComment")] == ["One.", "Two."]


# --- ARM: App Service restart ----------------------------------------------------------------------
def test_site_restart_is_counted_per_site(fixed: SimulatorServer, demo_state: TenantState) -> None:
    path = "/subscriptions/s1/resourceGroups/rg-web/providers/Microsoft.Web/sites/{}/restart"
    for site in ("app-a", "app-a", "app-b"):
        answer = arm_send(fixed, "POST", path.format(site), api_version="2024-04-01")
        assert answer.status_code == 200
        assert answer.content == b""
    assert fixed.state.site_restarts == {site_key("rg-web", "app-a"): 2, site_key("rg-web", "app-b"): 1}
    assert arm_send(fixed, "POST", path.format("app-a"), api_version=None).status_code == 400
    assert httpx.post(f"{fixed.url}{path.format('app-a')}?api-version=2024-04-01", content=b"").status_code == 401
    assert len(demo_state.writes_of("restartSite", "rg-web/app-a")) == 2


def test_builtin_roots_can_be_replaced_once(fixed: SimulatorServer) -> None:
    from shared.devkit.simulator.routing import Router

    fixed.simulator.mount("api", Router(), bearer=True)
    assert httpx.post(f"{fixed.url}/api/events?api-version=2018-01-01", json=[event("e1")]).status_code == 401
    with pytest.raises(ValueError, match="cannot mount"):
        fixed.simulator.mount("api", Router())


# --- Event Grid and webhook sinks --------------------------------------------------------------------
def event(event_id: str, **overrides: object) -> dict[str, object]:
    return {"id": event_id, "subject": "tokenwarden/findings/1", "eventType": "Tokenwarden.Finding",
            "eventTime": "2026-11-22T07:45:30Z", "data": {"severity": "High"}, "dataVersion": "1.0", **overrides}


def test_event_grid_publish_stores_valid_batches(fixed: SimulatorServer, demo_state: TenantState) -> None:
    url = f"{fixed.url}/api/events?api-version=2018-01-01"
    key = {"Authorization": f"Bearer {local_token(AZURE_PUBLIC.event_grid_scope)}"}
    answer = httpx.post(url, headers=key, json=[event("e1"), event("e2")])
    assert answer.status_code == 200 and answer.content == b""
    assert [e["id"] for e in demo_state.events] == ["e1", "e2"]
    assert demo_state.events[0]["data"] == {"severity": "High"}
    without_data = {k: v for k, v in event("e3").items() if k != "data"}
    bad = httpx.post(url, headers=key, json=[event("e4"), without_data])
    assert bad.status_code == 400
    assert "data" in bad.json()["error"]["message"]
    assert httpx.post(url, headers=key, json=[event("e5", eventTime="yesterday")]).status_code == 400
    assert httpx.post(url, headers=key, json=event("e6")).status_code == 400, "must be an array"
    assert httpx.post(url, headers=key, content=b"[").status_code == 400
    assert httpx.post(url, json=[event("e7")]).status_code == 401
    # The topics disable local auth, and a token must be for Event Grid.
    assert httpx.post(url, headers={"aeg-sas-key": "k"}, json=[event("e9")]).status_code == 401
    other = {"Authorization": f"Bearer {local_token(AZURE_PUBLIC.arm_scope)}"}
    assert httpx.post(url, headers=other, json=[event("e10")]).status_code == 401
    assert httpx.post(url, headers={"Authorization": "Bearer opaque"}, json=[event("e11")]).status_code == 401
    assert httpx.post(f"{fixed.url}/api/events", headers=key, json=[event("e8")]).status_code == 400
    assert [e["id"] for e in demo_state.events] == ["e1", "e2"]
    [write] = demo_state.writes_of("publishEvents")
    assert write.details["ids"] == ["e1", "e2"]


def test_webhook_sink_stores_json_bodies(fixed: SimulatorServer, demo_state: TenantState) -> None:
    card = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                "content": {"type": "AdaptiveCard", "version": "1.4"}}]}
    url = f"{fixed.url}/_sinks/webhook/teams-soc"
    assert httpx.post(url, json=card).status_code == 200
    assert httpx.post(url, content=json.dumps({"text": "second"}).encode()).status_code == 200
    assert httpx.post(url, content=b"not json").status_code == 400
    assert demo_state.webhooks == {"teams-soc": [card, {"text": "second"}]}
    assert len(demo_state.writes_of("webhook", "teams-soc")) == 2


def test_a_lost_answer_fault_is_spent_only_by_a_request_that_was_applied(demo_state: TenantState,
                                                                        serve: ServeFactory) -> None:
    """A 429 (or 400) whose answer the client saw did not apply the write: the armed "lose the answer after
    apply" fault waits for the request that does apply, whose connection is then dropped unanswered."""
    server = serve(demo_state, clock=lambda: 0.0)  # Identity Protection's bucket holds one request and never refills
    user = demo_state.users()[0]
    url = f"{server.graph_url}/identityProtection/riskyUsers/confirmCompromised"
    assert httpx.post(url, headers=AUTH, json={"userIds": [user.id]}).status_code == 204
    rule = server.faults.drop_after_apply("/identityProtection/riskyUsers/confirmCompromised", method="POST")
    assert httpx.post(url, headers=AUTH, json={"userIds": [user.id]}).status_code == 429
    assert httpx.post(url, headers=AUTH, json={"userIds": ["not-a-guid"]}).status_code in (400, 429)
    assert rule.hits == 0 and not rule.spent
    server.throttle.refill()
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, headers=AUTH, json={"userIds": [user.id]})
    assert rule.spent
    assert [w.action for w in demo_state.writes] == ["confirmCompromised", "confirmCompromised"]
