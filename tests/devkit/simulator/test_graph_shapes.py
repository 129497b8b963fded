"""Exact wire shapes over raw HTTP: errors, auth, routing, paging, JSON batching, throttling, control endpoints."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

import httpx
import pytest

from shared.core.errors import ConfigurationError
from shared.devkit.simulator import (
    IDENTITY,
    IDENTITY_PROTECTION,
    SimulatorServer,
    TenantState,
    ThrottleLimit,
    build_simulator,
    default_limits,
    roles,
)
from tests.devkit.simulator.conftest import ServeFactory

AUTH = {"Authorization": "Bearer anything"}
GRAPH_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def get(server: SimulatorServer, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(server.graph_url + path, headers=AUTH if headers is None else headers)


def batch(server: SimulatorServer, requests: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(server.graph_url + "/$batch", json={"requests": requests}, headers=AUTH)


def assert_graph_error(body: dict[str, Any], code: str, message: str | None = None) -> None:
    error = body["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert error["code"] == code
    if message is not None:
        assert error["message"] == message
    inner = error["innerError"]
    assert GRAPH_DATE.match(inner["date"])
    assert inner["request-id"]
    assert inner["client-request-id"]


def test_missing_or_empty_bearer_is_401(simulator: SimulatorServer) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = get(simulator, "/directoryRoles", headers)
        assert response.status_code == 401
        assert_graph_error(response.json(), "InvalidAuthenticationToken", "Access token is empty.")
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm=""')
    assert simulator.stats.count(status=401) == 3
    assert simulator.stats.count(route="GET /directoryRoles", status=200) == 0


def test_request_ids_are_echoed(simulator: SimulatorServer) -> None:
    response = get(simulator, "/users/nobody", {**AUTH, "client-request-id": "my-correlation"})
    inner = response.json()["error"]["innerError"]
    assert inner["client-request-id"] == "my-correlation" == response.headers["client-request-id"]
    assert inner["request-id"] == response.headers["request-id"] != "my-correlation"


def test_unknown_segments_and_versions(simulator: SimulatorServer, demo_state: TenantState) -> None:
    user = demo_state.users()[0]
    response = get(simulator, "/nothingHere")
    assert response.status_code == 400
    assert_graph_error(response.json(), "BadRequest", "Resource not found for the segment 'nothingHere'.")
    response = get(simulator, f"/users/{user.id}/mailFolderz")
    assert_graph_error(response.json(), "BadRequest", "Resource not found for the segment 'mailFolderz'.")
    response = httpx.get(simulator.url + "/v2.0/users", headers=AUTH)
    assert response.status_code == 400
    assert_graph_error(response.json(), "BadRequest", "Invalid version.")
    response = httpx.delete(simulator.graph_url + "/directoryRoles", headers=AUTH)
    assert response.status_code == 405
    assert_graph_error(response.json(), "Request_BadRequest",
                       "Specified HTTP method is not allowed for the request target.")


def test_user_default_properties_and_lookup_by_upn(simulator: SimulatorServer, demo_state: TenantState) -> None:
    user = demo_state.users()[0]
    body = get(simulator, f"/users/{user.user_principal_name.upper()}").json()
    assert body["@odata.context"] == f"{simulator.graph_url}/$metadata#users/$entity"
    assert set(body) - {"@odata.context"} == {
        "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
        "preferredLanguage", "surname", "userPrincipalName", "id"}
    assert body["id"] == user.id


def test_query_option_errors(simulator: SimulatorServer, demo_state: TenantState) -> None:
    user = demo_state.users()[0]
    response = get(simulator, f"/users/{user.id}?$select=id,favouriteColour")
    assert_graph_error(response.json(), "BadRequest",
                       "Could not find a property named 'favouriteColour' on type 'microsoft.graph.user'.")
    response = get(simulator, f"/users/{user.id}/memberOf?$top=1000")
    assert_graph_error(response.json(), "Request_BadRequest",
                       "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.")
    response = get(simulator, "/servicePrincipals?$filter=appId ne 'x'")
    assert_graph_error(response.json(), "Request_UnsupportedQuery",
                       "Unsupported property filter clause operator 'NotEqualsMatch'.")
    response = get(simulator, "/servicePrincipals?$filter=appId eq")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    response = get(simulator, "/servicePrincipals?$orderby=displayName")
    assert response.status_code == 400
    response = get(simulator, f"/users/{user.id}/memberOf?$skiptoken=bogus")
    assert_graph_error(response.json(), "Request_BadRequest", "Invalid paging token specified.")


def test_member_of_shapes_and_transitive_roles(simulator: SimulatorServer, demo_state: TenantState) -> None:
    tier0 = next(group for group in demo_state.groups() if group.display_name == "Tier 0 Security Operations")
    member = next(user for user in demo_state.users()
                  if any(c.id == tier0.id for c in demo_state.member_of(user.id)))
    direct = get(simulator, f"/users/{member.id}/memberOf").json()
    transitive = get(simulator, f"/users/{member.id}/transitiveMemberOf").json()
    assert direct["@odata.context"] == f"{simulator.graph_url}/$metadata#directoryObjects"
    direct_roles = [o for o in direct["value"] if o["@odata.type"] == "#microsoft.graph.directoryRole"]
    transitive_roles = [o for o in transitive["value"] if o["@odata.type"] == "#microsoft.graph.directoryRole"]
    assert roles.SECURITY_ADMINISTRATOR.template_id not in {o["roleTemplateId"] for o in direct_roles}
    assert roles.SECURITY_ADMINISTRATOR.template_id in {o["roleTemplateId"] for o in transitive_roles}
    group = next(o for o in direct["value"] if o["id"] == tier0.id)
    assert group["@odata.type"] == "#microsoft.graph.group"
    assert group["isAssignableToRole"] is True
    assert group["securityEnabled"] is True
    role = transitive_roles[0]
    assert set(role) == {"@odata.type", "id", "deletedDateTime", "description", "displayName", "roleTemplateId"}


def test_paging_links_repeat_the_query(simulator: SimulatorServer) -> None:
    first = get(simulator, "/users?$top=7&$select=id,userPrincipalName").json()
    assert first["@odata.context"] == f"{simulator.graph_url}/$metadata#users(id,userPrincipalName)"
    link = first["@odata.nextLink"]
    assert link.startswith(f"{simulator.graph_url}/users?$top=7&$select=id,userPrincipalName&$skiptoken=")
    seen = [item["id"] for item in first["value"]]
    while link:
        page = httpx.get(link, headers=AUTH).json()
        assert all(set(item) == {"id", "userPrincipalName"} for item in page["value"])
        seen.extend(item["id"] for item in page["value"])
        link = page.get("@odata.nextLink")
    assert len(seen) == len(set(seen)) == 30


def test_directory_roles_and_filter_by_template(simulator: SimulatorServer) -> None:
    everything = get(simulator, "/directoryRoles").json()
    assert everything["@odata.context"] == f"{simulator.graph_url}/$metadata#directoryRoles"
    templates = {role["roleTemplateId"] for role in everything["value"]}
    assert {roles.GLOBAL_ADMINISTRATOR.template_id, roles.PRIVILEGED_ROLE_ADMINISTRATOR.template_id,
            roles.SECURITY_ADMINISTRATOR.template_id, roles.REPORTS_READER.template_id} <= templates
    one = get(simulator, f"/directoryRoles?$filter=roleTemplateId eq '{roles.GLOBAL_ADMINISTRATOR.template_id}'")
    [role] = one.json()["value"]
    assert role["displayName"] == "Global Administrator"
    assert role["id"] != role["roleTemplateId"]
    assert get(simulator, f"/directoryRoles/{role['id']}").json()["roleTemplateId"] == role["roleTemplateId"]


def test_service_principal_shape(simulator: SimulatorServer, demo_state: TenantState) -> None:
    payroll = next(p for p in demo_state.service_principals() if p.display_name == "Contoso Payroll API")
    body = get(simulator, f"/servicePrincipals?$filter=appId in ('{payroll.app_id}', 'nope')").json()
    [principal] = body["value"]
    assert principal["appOwnerOrganizationId"] == demo_state.tenant_id
    assert principal["servicePrincipalNames"] == [payroll.app_id, "api://contoso-payroll"]
    assert principal["verifiedPublisher"] == {"displayName": None, "verifiedPublisherId": None,
                                              "addedDateTime": None}
    by_name = get(simulator, "/servicePrincipals?$filter=servicePrincipalNames/any(x:x eq 'api://contoso-payroll')")
    assert [p["appId"] for p in by_name.json()["value"]] == [payroll.app_id]


def test_risky_user_shapes(simulator: SimulatorServer, demo_state: TenantState) -> None:
    risky = demo_state.risky_users()[0]
    body = get(simulator, f"/identityProtection/riskyUsers/{risky.id}").json()
    assert body["@odata.context"] == f"{simulator.graph_url}/$metadata#identityProtection/riskyUsers/$entity"
    assert set(body) - {"@odata.context"} == {
        "id", "isDeleted", "isProcessing", "riskLastUpdatedDateTime", "riskLevel", "riskState", "riskDetail",
        "userDisplayName", "userPrincipalName"}
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$", body["riskLastUpdatedDateTime"])
    listed = get(simulator, f"/identityProtection/riskyUsers?$filter=id eq '{risky.id}'").json()
    assert [item["id"] for item in listed["value"]] == [risky.id]
    enum = get(simulator, "/identityProtection/riskyUsers?$filter=riskLevel eq microsoft.graph.riskLevel'high'")
    assert {item["riskLevel"] for item in enum.json()["value"]} == {"high"}
    recent = get(simulator, "/identityProtection/riskyUsers?$filter=riskLastUpdatedDateTime ge 2026-11-19T00:00:00Z")
    assert {item["riskState"] for item in recent.json()["value"]} == {"atRisk"}
    assert get(simulator, "/identityProtection/riskyUsers/00000000-0000-0000-0000-000000000000").status_code == 404


def test_identity_protection_is_throttled_without_retry_after(demo_state: TenantState, serve: ServeFactory) -> None:
    server = serve(demo_state, limits={IDENTITY_PROTECTION: default_limits(30)[IDENTITY_PROTECTION]})
    answers = [get(server, "/identityProtection/riskyUsers") for _ in range(3)]
    assert answers[0].status_code == 200
    throttled = [a for a in answers if a.status_code == 429]
    assert throttled
    for answer in throttled:
        assert "Retry-After" not in answer.headers
        assert_graph_error(answer.json(), "TooManyRequests", "Too many requests.")
    assert server.stats.throttled == len(throttled)


def test_identity_throttle_body_and_headers(demo_state: TenantState, serve: ServeFactory) -> None:
    server = serve(demo_state, limits={IDENTITY: ThrottleLimit(capacity=1, per_seconds=3)})
    assert get(server, "/directoryRoles").status_code == 200
    answer = get(server, "/directoryRoles")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] in {"2", "3"}
    assert answer.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    error = answer.json()["error"]
    assert error["code"] == "TooManyRequests"
    assert error["message"] == "Please retry again later."
    assert {"code": "429", "message": "Please retry after", "status": "429"}.items() <= error["innerError"].items()


def test_batch_answers_each_request(simulator: SimulatorServer, demo_state: TenantState) -> None:
    user = demo_state.users()[0]
    response = batch(simulator, [
        {"id": "1", "method": "GET", "url": f"/users/{user.id}?$select=id,displayName"},
        {"id": "2", "method": "GET", "url": "users/nobody"},
        {"id": "3", "method": "GET", "url": "/directoryRoles", "dependsOn": ["2"]},
        {"id": "4", "method": "GET", "url": f"{simulator.graph_url}/users/{user.id}"},
        {"id": "5", "method": "GET", "url": "/$batch"},
    ])
    assert response.status_code == 200
    answers = {item["id"]: item for item in response.json()["responses"]}
    assert [item["id"] for item in response.json()["responses"]] == ["1", "2", "3", "4", "5"]
    assert answers["1"]["status"] == 200
    assert answers["1"]["body"] == {
        "@odata.context": f"{simulator.graph_url}/$metadata#users(id,displayName)/$entity",
        "id": user.id, "displayName": user.display_name}
    assert answers["1"]["headers"]["Content-Type"].startswith("application/json;odata.metadata=minimal")
    assert answers["2"]["status"] == 404
    assert_graph_error(answers["2"]["body"], "Request_ResourceNotFound")
    assert answers["3"]["status"] == 424
    assert answers["4"]["status"] == 400
    assert_graph_error(answers["4"]["body"], "BadRequest", "Resource not found for the segment 'http:'.")
    assert answers["5"]["status"] == 400
    assert simulator.stats.count(route="GET /directoryRoles") == 0, "a request whose dependency failed never runs"
    assert simulator.stats.count(in_batch=True) == 2, "refused urls (absolute, nested batch) are never dispatched"


def test_batch_limits_and_malformed_batches(simulator: SimulatorServer) -> None:
    too_many = [{"id": str(i), "method": "GET", "url": "/directoryRoles"} for i in range(21)]
    response = batch(simulator, too_many)
    assert response.status_code == 400
    assert_graph_error(response.json(), "BadRequest", "Number of requests inside batch exceeds the limit.")
    assert simulator.stats.count(route="GET /directoryRoles") == 0
    assert batch(simulator, too_many[:20]).status_code == 200
    assert simulator.stats.count(route="GET /directoryRoles", in_batch=True) == 20
    duplicate = batch(simulator, [{"id": "a", "method": "GET", "url": "/directoryRoles"},
                                  {"id": "A", "method": "GET", "url": "/directoryRoles"}])
    assert duplicate.status_code == 400
    forward = batch(simulator, [{"id": "1", "method": "GET", "url": "/directoryRoles", "dependsOn": ["2"]},
                                {"id": "2", "method": "GET", "url": "/directoryRoles"}])
    assert forward.status_code == 400
    write = batch(simulator, [{"id": "1", "method": "POST", "url": "/users/x/revokeSignInSessions"}])
    assert_graph_error(write.json(), "BadRequest", "Write request id : 1 does not contain Content-Type header or body.")
    for payload in (b"not json", b"[]", b'{"requests": {}}', b'{"requests": [{"id": "1"}]}'):
        response = httpx.post(simulator.graph_url + "/$batch", content=payload,
                              headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code == 400, payload
        assert response.json()["error"]["code"] == "BadRequest"


def test_batch_without_bearer_is_401(simulator: SimulatorServer) -> None:
    response = httpx.post(simulator.graph_url + "/$batch",
                          json={"requests": [{"id": "1", "method": "GET", "url": "/directoryRoles"}]})
    assert response.status_code == 401
    assert simulator.stats.count(in_batch=True) == 0


def test_batched_requests_are_throttled_one_by_one(demo_state: TenantState, serve: ServeFactory) -> None:
    server = serve(demo_state, limits={IDENTITY: ThrottleLimit(capacity=3, per_seconds=30)})
    users = demo_state.users()[:5]
    response = batch(server, [{"id": str(i), "method": "GET", "url": f"/users/{u.id}"} for i, u in enumerate(users)])
    assert response.status_code == 200
    statuses = [item["status"] for item in response.json()["responses"]]
    assert statuses == [200, 200, 200, 429, 429]
    throttled = response.json()["responses"][3]
    assert int(throttled["headers"]["Retry-After"]) >= 1
    assert throttled["body"]["error"]["code"] == "TooManyRequests"
    assert server.stats.throttled == 2
    assert server.stats.count(route="GET /users/{id}", status=429, in_batch=True) == 2


def test_faults_apply_inside_batches(simulator: SimulatorServer) -> None:
    simulator.faults.fail("/directoryRoles", status=500, times=1)
    response = batch(simulator, [{"id": "1", "method": "GET", "url": "/directoryRoles"},
                                 {"id": "2", "method": "GET", "url": "/directoryRoles"}])
    first, second = response.json()["responses"]
    assert first["status"] == 500
    assert_graph_error(first["body"], "generalException")
    assert second["status"] == 200


def test_fault_retry_after_and_method_filter(simulator: SimulatorServer) -> None:
    simulator.faults.fail("/directoryroles*", status=503, times=None, retry_after=7, method="GET")
    answer = get(simulator, "/directoryRoles")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "7"
    assert_graph_error(answer.json(), "serviceNotAvailable")
    assert httpx.post(simulator.graph_url + "/directoryRoles", headers=AUTH, content=b"{}").status_code == 405
    simulator.faults.clear()
    assert get(simulator, "/directoryRoles").status_code == 200


def test_request_body_bounds(demo_state: TenantState, serve: ServeFactory) -> None:
    server = serve(demo_state, limits={}, max_body_bytes=64)
    host, port = server.server_address[:2]
    too_big = httpx.post(server.graph_url + "/$batch", headers=AUTH, content=b"x" * 65)
    assert too_big.status_code == 413
    with socket.create_connection((host, port)) as raw:
        raw.sendall(b"POST /v1.0/$batch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 411 ")


def test_binds_to_loopback_only(demo_state: TenantState) -> None:
    with pytest.raises(ConfigurationError):
        build_simulator(demo_state, host="0.0.0.0")


def test_control_endpoints(simulator: SimulatorServer) -> None:
    control = simulator.url + "/_simulator"
    armed = httpx.post(control + "/faults", json={"pattern": "/directoryRoles", "status": 503, "times": 1,
                                                  "retryAfter": 2})
    assert armed.status_code == 201
    assert armed.json()["retryAfter"] == 2
    assert get(simulator, "/directoryRoles").status_code == 503
    assert get(simulator, "/directoryRoles").status_code == 200
    limited = httpx.put(control + "/limits/identity", json={"capacity": 1, "perSeconds": 60})
    assert limited.status_code == 200
    assert get(simulator, "/directoryRoles").status_code == 200
    assert get(simulator, "/directoryRoles").status_code == 429
    stats = httpx.get(control + "/stats").json()
    assert stats["byRoute"]["GET /directoryRoles"] == 4
    assert stats["byStatus"] == {"503": 1, "200": 2, "429": 1}
    assert stats["throttled"] == 1
    assert httpx.delete(control + "/limits/identity").status_code == 204
    assert get(simulator, "/directoryRoles").status_code == 200
    assert httpx.put(control + "/latency", json={"seconds": 0}).json() == {"seconds": 0.0}
    assert httpx.get(control + "/state").json()["users"] == 30
    assert httpx.post(control + "/reset").status_code == 204
    assert httpx.get(control + "/stats").json()["requests"] == 0
    assert httpx.get(control + "/nothing").status_code == 404
    assert httpx.post(control + "/faults", json={"status": 503}).status_code == 400


def test_control_endpoint_can_be_disabled(demo_state: TenantState, serve: ServeFactory) -> None:
    server = serve(demo_state, control_endpoint=False)
    response = httpx.get(server.url + "/_simulator/stats")
    assert response.status_code == 400
    assert json.loads(response.text)["error"]["message"] == "Invalid version."
